"""The shapes of a convolutional front: each block's padding, output size and pooling.

Output size of a convolution (course 4): floor((n + 2p - f) / s) + 1, written here with the
padding of each side, floor((n + p_lo + p_hi - f) / s) + 1.

Padding "valid" is p = 0. Padding "same" pads f - 1 in total, (f - 1) // 2 before and the rest
after: for odd f that is the course's p = (f - 1) / 2 on both sides; for even f the extra
row/column goes after (as PyTorch's ``padding="same"``). The output is then ceil(n / s): n at
stride 1 (the course's "same"), and for odd f at any stride it equals PyTorch's
``Conv2d(padding=(f - 1) // 2, stride=s)``.

Pooling uses a pool_size x pool_size window with stride pool_size and no padding: the output
is floor(n / pool_size), the last rows/columns that do not fill a window are dropped (PyTorch's
default ``floor`` mode).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from ._config import TrainConfig
from ._errors import TrainerInputError

ImageShape = tuple[int, int, int]  # (n_H, n_W, n_C)


@dataclass(frozen=True)
class ConvBlock:
    """One block: conv (f, s, padding) -> activation -> pool; shapes are (n_H, n_W, n_C)."""

    index: int  # 1-based: the block's parameters are Wc{index}, bc{index}
    f: int  # filter size
    stride: int  # conv stride
    pad: tuple[int, int]  # padding before (top/left) and after (bottom/right)
    pool: str  # max | avg | none
    pool_size: int  # pooling window and stride
    in_shape: ImageShape  # (n_H_prev, n_W_prev, n_C_prev)
    conv_shape: ImageShape  # (n_H, n_W, n_C) after the convolution
    out_shape: ImageShape  # after pooling (conv_shape when pool == "none")


def same_padding(f: int) -> tuple[int, int]:
    """(before, after) for "same": f - 1 in total, the odd one after."""
    return (f - 1) // 2, f - 1 - (f - 1) // 2


def conv_output_size(n: int, f: int, stride: int, pad: tuple[int, int]) -> int:
    """floor((n + p_lo + p_hi - f) / s) + 1 (may be < 1: the filter does not fit)."""
    return (n + pad[0] + pad[1] - f) // stride + 1


def check_image_shape(image_shape: object, n_x: int | None = None) -> ImageShape:
    """(n_H, n_W, n_C) as plain positive ints (with n_H * n_W * n_C == n_x when n_x is given),
    else TrainerInputError(field="image_shape")."""
    try:
        shape = tuple(operator.index(n) for n in image_shape)  # type: ignore[attr-defined]
    except TypeError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise TrainerInputError(
            f"image_shape: expected (height, width, channels) of positive integers, "
            f"got {image_shape!r}",
            field="image_shape",
        )
    if n_x is not None and shape[0] * shape[1] * shape[2] != n_x:
        raise TrainerInputError(
            f"image_shape: {_size(shape)} images have {shape[0] * shape[1] * shape[2]} values, "
            f"but the inputs have n_x = {n_x} features",
            field="image_shape",
        )
    return shape  # type: ignore[return-value]


def conv_blocks(config: TrainConfig, image_shape: ImageShape | None) -> tuple[ConvBlock, ...]:
    """The blocks of ``config`` on images of ``image_shape``; raises TrainerInputError (field
    conv_blocks) naming the block and the sizes when a block's output would be below 1 pixel."""
    if config.conv_blocks == 0:
        return ()
    if image_shape is None:
        raise TrainerInputError(
            f"conv_blocks = {config.conv_blocks} needs an image dataset (one with an image "
            "shape such as digits, mnist, fashion_mnist or an .npz of (m, h, w, c) images); "
            "use conv_blocks = 0 for this data",
            field="conv_blocks",
        )
    shape = check_image_shape(image_shape)
    f, s = config.kernel, config.stride
    pad = same_padding(f) if config.padding == "same" else (0, 0)
    blocks = []
    for k, n_C in enumerate(config.conv_filters, start=1):
        n_H_prev, n_W_prev, _ = shape
        n_H = conv_output_size(n_H_prev, f, s, pad)
        n_W = conv_output_size(n_W_prev, f, s, pad)
        if n_H < 1 or n_W < 1:
            raise TrainerInputError(
                f"conv block {k}: a {f}x{f} filter with stride {s} and {config.padding} "
                f"padding does not fit a {_size(shape)} input (output below 1 pixel)",
                field="conv_blocks",
            )
        conv_shape = (n_H, n_W, n_C)
        out_shape = conv_shape
        if config.pool != "none":
            ps = config.pool_size
            out_shape = (n_H // ps, n_W // ps, n_C)
            if out_shape[0] < 1 or out_shape[1] < 1:
                raise TrainerInputError(
                    f"conv block {k}: {config.pool} pool {ps}x{ps} of a {_size(conv_shape)} "
                    "input leaves less than 1 pixel",
                    field="conv_blocks",
                )
        blocks.append(
            ConvBlock(k, f, s, pad, config.pool, config.pool_size, shape, conv_shape, out_shape)
        )
        shape = out_shape
    return tuple(blocks)


def conv_output_shapes(config: TrainConfig, image_shape: ImageShape | None) -> list[ImageShape]:
    """(n_H, n_W, n_C) after each conv block (after its pooling); [] for a dense network.

    Raises TrainerInputError (field conv_blocks) with one line naming the block and the sizes
    when the shapes do not fit, e.g. "conv block 2: max pool 2x2 of a 1x1x16 input leaves less
    than 1 pixel", or when conv_blocks > 0 and there is no image shape.
    """
    return [b.out_shape for b in conv_blocks(config, image_shape)]


def flat_size(config: TrainConfig, n_x: int, image_shape: ImageShape | None) -> int:
    """Inputs of the first dense layer: n_x for a dense network, else the flattened output of
    the last conv block."""
    blocks = conv_blocks(config, image_shape)
    if not blocks:
        return n_x
    n_H, n_W, n_C = blocks[-1].out_shape
    return n_H * n_W * n_C


def _size(shape: ImageShape) -> str:
    return "x".join(str(n) for n in shape)
