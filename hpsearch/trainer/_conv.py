"""Convolution forward and backward (course 4), by im2col and one matrix product per layer.

Images are in the course's layout: A_prev (m, n_H_prev, n_W_prev, n_C_prev); filters
W (f, f, n_C_prev, n_C) and biases b (1, 1, 1, n_C), as in the course's ``conv_forward``.

im2col copies every f x f x n_C_prev window of the padded input into one row of ``cols``
(m * n_H * n_W, f * f * n_C_prev), in the order (i, j, c) that W.reshape(f * f * n_C_prev, n_C)
has, so the whole layer is Z = cols @ W2 + b. The backward step is dW = cols^T dZ,
db = sum(dZ) and dcols = dZ W2^T, which col2im adds back onto the padded input (each window's
row onto its pixels). The last two are done together, one kernel offset (i, j) at a time
(:func:`conv_input_gradient`): f * f products and whole-array additions, no loop over samples
or pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._layers import _ones

FEW_CHANNELS = 3  # im2col copies inputs with at most this many channels offset by offset


class ConvCache(NamedTuple):
    """What conv_backward needs from conv_forward."""

    cols: np.ndarray  # (m * n_H * n_W, f * f * n_C_prev) windows of the padded input
    padded_shape: tuple[int, int, int, int]  # (m, n_H_prev + p, n_W_prev + p, n_C_prev)
    pad: tuple[int, int]  # padding before and after, rows and columns alike
    stride: int
    out_shape: tuple[int, int, int, int]  # (m, n_H, n_W, n_C)


def pad_images(A: np.ndarray, pad: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Zero-pad rows and columns of A (m, n_H, n_W, n_C) by pad = (before, after) each.

    ``out``: a reused (m, n_H + p, n_W + p, n_C) buffer; its border is zeroed on every call.
    """
    lo, hi = pad
    if lo == hi == 0:
        return A
    m, n_H, n_W, n_C = A.shape
    shape = (m, n_H + lo + hi, n_W + lo + hi, n_C)
    if out is None:
        out = np.zeros(shape, dtype=A.dtype)  # (m, n_H + p, n_W + p, n_C)
    else:
        out[:, :lo], out[:, lo + n_H :], out[:, :, :lo], out[:, :, lo + n_W :] = 0, 0, 0, 0
    out[:, lo : lo + n_H, lo : lo + n_W, :] = A
    return out


def window_view(A: np.ndarray, f: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """(m, n_H, n_W, f, f, n_C) view of A (m, ., ., n_C): window (h, w) at row h * s, col w * s."""
    sm, sh, sw, sc = A.strides
    shape = (A.shape[0], n_H, n_W, f, f, A.shape[3])
    return as_strided(A, shape, (sm, stride * sh, stride * sw, sh, sw, sc), writeable=False)


def offset_slice(A: np.ndarray, i: int, j: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """A[:, i + h*s, j + w*s, :] for every output pixel (h, w): (m, n_H, n_W, n_C), a view."""
    return A[:, i : i + stride * (n_H - 1) + 1 : stride, j : j + stride * (n_W - 1) + 1 : stride]


def im2col(
    A_pad: np.ndarray, f: int, stride: int, n_H: int, n_W: int, out: np.ndarray | None = None
) -> np.ndarray:
    """(m * n_H * n_W, f * f * n_C_prev): every window of A_pad as one row.

    With many channels the rows are copied as they are (C order, one strided copy, runs of
    f * n_C_prev contiguous values). With few (n_C_prev <= FEW_CHANNELS, e.g. a grayscale
    image) those runs are short, so the copy goes one kernel offset at a time into the
    transposed layout (f * f * n_C_prev rows of m * n_H * n_W contiguous values) and the
    result is its transposed view: same values, same products, ~3x faster to fill.
    ``out``: a reused buffer of m * n_H * n_W * f * f * n_C_prev values (any shape).
    """
    m, n_C_prev = A_pad.shape[0], A_pad.shape[3]
    rows, width = m * n_H * n_W, f * f * n_C_prev
    flat = np.empty(rows * width, dtype=A_pad.dtype) if out is None else out.reshape(-1)
    if n_C_prev > FEW_CHANNELS:
        windows = window_view(A_pad, f, stride, n_H, n_W)  # (m, n_H, n_W, f, f, n_C_prev)
        np.copyto(flat.reshape(windows.shape), windows)
        return flat.reshape(rows, width)
    by_offset = flat.reshape(f, f, n_C_prev, m, n_H, n_W)
    for i in range(f):
        for j in range(f):
            window = offset_slice(A_pad, i, j, stride, n_H, n_W)  # (m, n_H, n_W, n_C_prev)
            np.copyto(by_offset[i, j], window.transpose(3, 0, 1, 2))
    return flat.reshape(width, rows).T  # (m n_H n_W, f f n_C_prev), a transposed view


def conv_input_gradient(
    dZ2: np.ndarray,
    W: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    stride: int,
    n_H: int,
    n_W: int,
    buffers: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """dA_pad = col2im(dZ W2^T): the gradient of the padded input, (m, n_H_prev + p, ., n_C_prev).

    Computed one kernel offset (i, j) at a time: dZ (m n_H n_W, n_C) @ W[i, j]^T (n_C, n_C_prev)
    is that offset's block of dcols, contiguous, and is added onto the strided slice of the
    input it came from. The products are those of dcols = dZ W2^T, split in f * f; the
    additions then read contiguous rows instead of n_C_prev values at a time.
    """
    bufs = buffers or {}
    m = padded_shape[0]
    f = W.shape[0]
    dA_pad = bufs.get("dA_pad")
    if dA_pad is None:
        dA_pad = np.zeros(padded_shape, dtype=dZ2.dtype)
    else:
        dA_pad.fill(0.0)
    part = bufs.get("part")  # (m n_H n_W, n_C_prev) one offset's block of dcols
    for i in range(f):
        for j in range(f):
            part = np.matmul(dZ2, W[i, j].T, out=part)  # (m n_H n_W, n_C_prev)
            offset_slice(dA_pad, i, j, stride, n_H, n_W)[...] += part.reshape(m, n_H, n_W, -1)
    return dA_pad  # (m, n_H_prev + p, n_W_prev + p, n_C_prev)


def conv_forward(
    A_prev: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    stride: int,
    pad: tuple[int, int],
    buffers: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, ConvCache]:
    """Z = W * A_prev + b (course 4's conv_forward): (m, n_H, n_W, n_C) and the cache.

    b is None when batch norm's beta replaces it.
    n_H = floor((n_H_prev + p_lo + p_hi - f) / s) + 1, likewise n_W. ``buffers`` (optional):
    reused "pad", "cols" and "Z" arrays of the right shapes.
    """
    bufs = buffers or {}
    f, _, n_C_prev, n_C = W.shape
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    n_H = (n_H_prev + pad[0] + pad[1] - f) // stride + 1
    n_W = (n_W_prev + pad[0] + pad[1] - f) // stride + 1
    A_pad = pad_images(A_prev, pad, bufs.get("pad"))  # (m, n_H_prev + p, n_W_prev + p, n_C_prev)
    cols = im2col(A_pad, f, stride, n_H, n_W, bufs.get("cols"))  # (m n_H n_W, f f n_C_prev)
    Z = np.matmul(cols, W.reshape(f * f * n_C_prev, n_C), out=bufs.get("Z"))  # (m n_H n_W, n_C)
    if b is not None:  # b repeated along a row of pixels: long inner runs even for few channels
        Z.reshape(m * n_H, n_W * n_C)[...] += np.tile(b.reshape(n_C), n_W)  # (n_W n_C,)
    out_shape = (m, n_H, n_W, n_C)
    return Z.reshape(out_shape), ConvCache(cols, A_pad.shape, pad, stride, out_shape)


def conv_backward(
    dZ: np.ndarray,
    cache: ConvCache,
    W: np.ndarray,
    dW: np.ndarray,
    db: np.ndarray | None,
    *,
    need_dA_prev: bool = True,
    buffers: dict[str, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Write dW (f, f, n_C_prev, n_C) and db (1, 1, 1, n_C; None with batch norm); return
    dA_prev (m, n_H_prev, n_W_prev, n_C_prev), or None for the first layer (the gradient of the
    input image).

    dZ (m, n_H, n_W, n_C) already carries the 1/m of the mean cost. ``buffers``: reused
    "part" (m n_H n_W, n_C_prev) and "dA_pad" arrays.
    """
    bufs = buffers or {}
    f, _, n_C_prev, n_C = W.shape
    _, n_H, n_W, _ = cache.out_shape
    dZ2 = dZ.reshape(-1, n_C)  # (m n_H n_W, n_C)
    np.matmul(cache.cols.T, dZ2, out=dW.reshape(f * f * n_C_prev, n_C))  # (f f n_C_prev, n_C)
    assert dW.shape == W.shape
    if db is not None:  # the sum over samples and pixels as a product with ones
        np.matmul(_ones(dZ2.shape[0], dZ2.dtype).T, dZ2, out=db.reshape(1, n_C))  # (1, n_C)
    if not need_dA_prev:
        return None
    dA_pad = conv_input_gradient(dZ2, W, cache.padded_shape, cache.stride, n_H, n_W, bufs)
    lo = cache.pad[0]
    n_H_prev = cache.padded_shape[1] - cache.pad[0] - cache.pad[1]
    n_W_prev = cache.padded_shape[2] - cache.pad[0] - cache.pad[1]
    return dA_pad[:, lo : lo + n_H_prev, lo : lo + n_W_prev, :]  # (m, n_H_prev, n_W_prev, n_C_prev)
