"""One contiguous buffer for all trainable parameters (and one for their gradients).

The trainer keeps every trainable array (``W1``, ``b1``, ``gamma1``, ...) as a view into one
flat float buffer, and the gradients likewise, in the same order. An optimizer step is then a
handful of ufunc passes over one long array instead of the same passes once per parameter, and
its state (Adam's v and s) is one array per kind too. Views keep their shapes, so the forward
and backward code reads and writes ``params["W1"]`` / ``grads["W1"]`` as before.
"""

from __future__ import annotations

import numpy as np


class FlatLayout:
    """Where each named array lives in a flat buffer: name -> (offset, shape), in order."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.slots: dict[str, tuple[int, tuple[int, ...]]] = {}
        offset = 0
        for name, shape in shapes.items():
            self.slots[name] = (offset, tuple(shape))
            offset += int(np.prod(shape, dtype=np.int64))
        self.size = offset

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray]) -> FlatLayout:
        return cls({k: v.shape for k, v in arrays.items()})

    def matches(self, arrays: dict[str, np.ndarray]) -> bool:
        return list(self.slots) == list(arrays) and all(
            arrays[k].shape == shape for k, (_, shape) in self.slots.items()
        )

    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Name -> view of ``flat`` with that array's shape (writing a view writes ``flat``)."""
        return {
            k: flat[o : o + int(np.prod(s, dtype=np.int64))].reshape(s)
            for k, (o, s) in self.slots.items()
        }

    def pack(self, arrays: dict[str, np.ndarray], out: np.ndarray) -> np.ndarray:
        """Copy ``arrays`` into ``out`` (flat); returns ``out``."""
        for k, view in self.views(out).items():
            view[...] = arrays[k]
        return out

    def unpack(self, flat: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Copy ``flat`` back into the arrays of ``arrays``, in place."""
        for k, view in self.views(flat).items():
            arrays[k][...] = view


def flatten_into_views(
    params: dict[str, np.ndarray], names: list[str]
) -> tuple[FlatLayout, np.ndarray]:
    """Move ``params[name]`` for each name into one new flat buffer; the dict then holds views.

    Values are copied exactly; returns the layout and the buffer.
    """
    layout = FlatLayout({k: params[k].shape for k in names})
    dtype = np.result_type(*(params[k] for k in names)) if names else np.float32
    flat = np.empty(layout.size, dtype=dtype)
    layout.pack(params, flat)
    params.update(layout.views(flat))
    return layout, flat
