"""A trained network: parameters + config; prediction, evaluation and .npz persistence."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ._config import TrainConfig
from ._conv_net import eval_chunk, initialize_conv_parameters
from ._conv_shapes import ImageShape, check_image_shape, conv_blocks, flat_size
from ._errors import TrainerInputError
from ._init import initialize_parameters, is_trainable
from ._losses import output_labels, output_loss, output_proba
from ._propagation import NetSpec, predict_logits

FORMAT = "hpsearch.network/1"
EVAL_CHUNK = 512  # samples per forward pass at evaluation: activations stay in the caches


class Network:
    """Parameters and their config: conv filters "Wc1", "bc1", ... (conv block k: Wc{k}
    (f, f, n_C_prev, n_C), bc{k} (1, 1, 1, n_C)), then the dense "W1", "b1", ..., "gamma1",
    "beta1", running "mu1", "var1".

    ``image_shape`` (n_H, n_W, n_C) says how a column of X (n_x, m) is an image (C order);
    a network with conv blocks needs it. Prediction and evaluation never use dropout and use
    batch norm's running statistics.
    """

    def __init__(
        self,
        config: TrainConfig,
        params: dict[str, np.ndarray],
        n_x: int,
        n_classes: int,
        image_shape: ImageShape | None = None,
    ) -> None:
        self.config = config
        self.params = params
        self.n_x = n_x
        self.n_classes = n_classes
        self.image_shape = None if image_shape is None else check_image_shape(image_shape, n_x)
        self.spec = NetSpec.from_config(config, self.image_shape)
        self.dtype = np.dtype(config.dtype)
        self.eval_chunk = eval_chunk(self.spec.conv, self.dtype.itemsize, EVAL_CHUNK)

    @classmethod
    def initialize(
        cls,
        config: TrainConfig,
        n_x: int,
        n_classes: int,
        rng: np.random.Generator,
        *,
        image_shape: ImageShape | None = None,
    ) -> Network:
        """A fresh network with randomly initialised weights (see ``_init``, ``_conv_net``).

        Raises TrainerInputError (field conv_blocks) when config has conv blocks and there is
        no image shape, or the blocks do not fit the image.
        """
        if image_shape is not None:
            image_shape = check_image_shape(image_shape, n_x)
        params = _initial_params(config, n_x, n_classes, rng, image_shape)
        return cls(config, params, n_x, n_classes, image_shape)

    @property
    def n_params(self) -> int:
        """Number of trained values (running batch-norm statistics not counted)."""
        return sum(v.size for k, v in self.params.items() if is_trainable(k))

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Z_L (C, m) for X (n_x, m), computed in chunks of EVAL_CHUNK samples (fewer for a
        convolutional network whose im2col buffers would be large, see ``eval_chunk``)."""
        X = self._check_X(X)
        m, chunk = X.shape[1], self.eval_chunk
        if m <= chunk:
            return predict_logits(X, self.params, self.spec)
        parts = [
            predict_logits(X[:, i : i + chunk], self.params, self.spec) for i in range(0, m, chunk)
        ]
        return np.concatenate(parts, axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(C, m) class probabilities; for 2 classes one row, P(class 1)."""
        with np.errstate(over="ignore"):
            return output_proba(self.logits(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(m,) int64 class indices."""
        return output_labels(self.logits(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on X (n_x, m), y (m,); no L2 term in the loss."""
        ZL = self.logits(X)
        with np.errstate(over="ignore", invalid="ignore"):
            loss = output_loss(ZL, y)
        accuracy = float(np.mean(output_labels(ZL) == y)) if y.size else float("nan")
        return loss, accuracy

    def copy(self) -> Network:
        params = {k: v.copy() for k, v in self.params.items()}
        return Network(self.config, params, self.n_x, self.n_classes, self.image_shape)

    # --- persistence: .npz with the arrays and a JSON string (never pickle) ---

    def to_npz_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "n_x": self.n_x,
            "n_classes": self.n_classes,
        }
        if self.image_shape is not None:
            meta["image_shape"] = list(self.image_shape)
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.array([json.dumps(meta)]), **self.params)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes, *, source: str = "network bytes") -> Network:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise TrainerInputError(f"{source}: not a saved hpsearch network (.npz): {e}") from e
        return cls._from_arrays(arrays, source)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self.to_npz_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Network:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise TrainerInputError(f"{path}: cannot read the network file ({e.strerror})") from e
        return cls.from_npz_bytes(data, source=str(path))

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> Network:
        raw = arrays.pop("__meta__", None)
        try:
            meta = json.loads(str(raw[0]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            config = TrainConfig.from_dict(meta["config"])
            n_x, n_classes = int(meta["n_x"]), int(meta["n_classes"])
            image_shape = meta.get("image_shape")  # absent in files of dense networks
            if image_shape is not None:
                image_shape = check_image_shape(image_shape, n_x)
            conv_blocks(config, image_shape)  # conv blocks need an image shape that fits
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise TrainerInputError(
                f"{source}: expected an hpsearch network .npz with a {FORMAT} header ({e})"
            ) from e
        expected = _initial_params(config, n_x, n_classes, np.random.default_rng(0), image_shape)
        for name, like in expected.items():
            got = arrays.get(name)
            if got is None or got.shape != like.shape:
                shape = None if got is None else got.shape
                raise TrainerInputError(
                    f"{source}: parameter {name} expected shape {like.shape}, got {shape}"
                )
        params = {k: arrays[k].astype(config.dtype, copy=False) for k in expected}
        return cls(config, params, n_x, n_classes, image_shape)

    def _check_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.n_x:
            raise TrainerInputError(
                f"X: expected shape ({self.n_x}, m) (features x samples), got {X.shape}"
            )
        return X if X.dtype == self.dtype else X.astype(self.dtype)


def _initial_params(
    config: TrainConfig,
    n_x: int,
    n_classes: int,
    rng: np.random.Generator,
    image_shape: ImageShape | None,
) -> dict[str, np.ndarray]:
    """Conv filters (if any) first, then the dense layers on the flattened conv output."""
    dtype = np.dtype(config.dtype)
    common = {"activation": config.activation, "init": config.init, "init_scale": config.init_scale}
    params = {}
    blocks = conv_blocks(config, image_shape)
    if blocks:
        params.update(
            initialize_conv_parameters(
                blocks, **common, batch_norm=config.batch_norm, rng=rng, dtype=dtype
            )
        )
    dims = config.layer_dims(flat_size(config, n_x, image_shape), n_classes)
    params.update(
        initialize_parameters(dims, **common, batch_norm=config.batch_norm, rng=rng, dtype=dtype)
    )
    return params
