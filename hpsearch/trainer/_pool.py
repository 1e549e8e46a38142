"""Max and average pooling (course 4), forward beside backward; no parameters.

A_prev is (m, n_H_prev, n_W_prev, n_C); a window is f x f with stride s and no padding, so
n_H = floor((n_H_prev - f) / s) + 1. Both poolings are separable: the max (or sum) of a window
is the max (sum) over its f columns of the max (sum) over its f rows. So pooling runs in two
passes, first along the rows (axis 1), then along the columns (axis 2), each a loop over the f
offsets of one whole-array operation on a strided slice: no loop over samples or pixels, any
stride (overlapping windows too), and the first pass reads runs of n_W_prev * n_C contiguous
values instead of n_C (short with few channels, slow to iterate).

Max pooling passes each window's gradient to exactly one of its maxima: the first along the
columns of the first maximal row-pass value (PyTorch also picks one). The course's mask
``x == max(x)`` would pass it to every tied entry, and with a constant background (tanh of the
same bias in every pixel) count it several times.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PoolCache(NamedTuple):
    prev_shape: tuple[int, int, int, int]  # (m, n_H_prev, n_W_prev, n_C)
    # max pooling: the offset (0..f-1) chosen by each pass, or None for avg
    rows: np.ndarray | None  # (m, n_H, n_W_prev, n_C) row offset of each column's maximum
    cols: np.ndarray | None  # (m, n_H, n_W, n_C) column offset of each window's maximum


def pool_output_shape(
    prev_shape: tuple[int, ...], f: int, stride: int
) -> tuple[int, int, int, int]:
    m, n_H_prev, n_W_prev, n_C = prev_shape
    return (m, (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1, n_C)


def _offset(A: np.ndarray, axis: int, i: int, stride: int, n: int) -> np.ndarray:
    """A[..., i + t * s, ...] along ``axis`` for t < n: a strided view."""
    index = [slice(None)] * A.ndim
    index[axis] = slice(i, i + stride * (n - 1) + 1, stride)
    return A[tuple(index)]


def _max_pass(
    A: np.ndarray, axis: int, f: int, stride: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Max over the f offsets along ``axis``, and the offset of the first maximum (uint8).

    The first maximum is the last strict improvement; as offsets only grow, that is the running
    maximum of i * (slice_i > max so far), without masked writes.
    """
    M = _offset(A, axis, 0, stride, n).copy()
    choice = np.zeros(M.shape, dtype=np.uint8 if f <= 256 else np.int32)
    better = np.empty(M.shape, dtype=bool)
    i_if_better = np.empty_like(choice)
    for i in range(1, f):
        window = _offset(A, axis, i, stride, n)
        np.greater(window, M, out=better)  # strictly: ties keep the earlier offset
        np.maximum(M, window, out=M)
        np.multiply(better, choice.dtype.type(i), out=i_if_better)
        np.maximum(choice, i_if_better, out=choice)
    return M, choice


def _sum_pass(A: np.ndarray, axis: int, f: int, stride: int, n: int) -> np.ndarray:
    S = _offset(A, axis, 0, stride, n).copy()
    for i in range(1, f):
        S += _offset(A, axis, i, stride, n)
    return S


def _spread_pass(
    dS: np.ndarray,
    prev_shape: tuple[int, ...],
    axis: int,
    f: int,
    stride: int,
    choice: np.ndarray | None,
) -> np.ndarray:
    """Backward of one pass: dS to the offsets it came from (only the chosen one for max)."""
    n = dS.shape[axis]
    tiled = stride == f  # each entry is in at most one window: write instead of accumulate
    dA = np.empty(prev_shape, dtype=dS.dtype) if tiled else np.zeros(prev_shape, dtype=dS.dtype)
    if tiled:  # the entries past the last window get no gradient
        _offset(dA, axis, n * f, 1, prev_shape[axis] - n * f)[...] = 0.0
    hit = None if choice is None else np.empty(choice.shape, dtype=bool)
    part = None if tiled or choice is None else np.empty_like(dS)
    for i in range(f):
        window = _offset(dA, axis, i, stride, n)
        if hit is None:  # avg: every offset gets the same share
            if tiled:
                window[...] = dS
            else:
                window += dS
            continue
        np.equal(choice, i, out=hit)
        if tiled:
            np.multiply(dS, hit, out=window)
        else:
            window += np.multiply(dS, hit, out=part)
    return dA


def pool_forward(
    A_prev: np.ndarray, f: int, stride: int, mode: str
) -> tuple[np.ndarray, PoolCache]:
    """The max (mode "max") or mean ("avg") of every f x f window: (m, n_H, n_W, n_C)."""
    _, n_H, n_W, _ = pool_output_shape(A_prev.shape, f, stride)
    if mode == "avg":
        A = _sum_pass(_sum_pass(A_prev, 1, f, stride, n_H), 2, f, stride, n_W)  # (m, n_H, n_W, n_C)
        A *= 1.0 / (f * f)
        return A, PoolCache(A_prev.shape, None, None)
    R, rows = _max_pass(A_prev, 1, f, stride, n_H)  # (m, n_H, n_W_prev, n_C)
    A, cols = _max_pass(R, 2, f, stride, n_W)  # (m, n_H, n_W, n_C)
    return A, PoolCache(A_prev.shape, rows, cols)


def pool_backward(dA: np.ndarray, cache: PoolCache, f: int, stride: int, mode: str) -> np.ndarray:
    """dA_prev (m, n_H_prev, n_W_prev, n_C) from dA (m, n_H, n_W, n_C).

    avg: every entry of a window gets dA / (f * f); max: the window's chosen maximum gets dA.
    Pixels in no window (the rows/columns pooling drops) get 0.
    """
    m, _, n_W_prev, n_C = cache.prev_shape
    n_H = dA.shape[1]
    if mode == "avg":
        dA = dA * (1.0 / (f * f))
    dR = _spread_pass(
        dA, (m, n_H, n_W_prev, n_C), 2, f, stride, cache.cols
    )  # (m, n_H, n_W_prev, n_C)
    return _spread_pass(dR, cache.prev_shape, 1, f, stride, cache.rows)
