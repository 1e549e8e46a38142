"""Max and average pooling (course 4), forward beside backward; no parameters.

A_prev is (m, n_H_prev, n_W_prev, n_C); a window is f x f with stride s and no padding, so
n_H = floor((n_H_prev - f) / s) + 1. Both directions loop over the f * f offsets (i, j) of the
window, each step one whole-array operation on the strided slice A_prev[:, i::s, j::s, :]:
no loop over samples or pixels, and any stride (overlapping windows too).

Max pooling passes each window's gradient to the first of its maxima (row-major order in the
window), as PyTorch does: with a constant background (tanh of the same bias in every pixel)
the course's mask ``x == max(x)`` would pass it to every tied entry and count it several times.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._conv import offset_slice


class PoolCache(NamedTuple):
    prev_shape: tuple[int, int, int, int]  # (m, n_H_prev, n_W_prev, n_C)
    argmax: np.ndarray | None  # (m, n_H, n_W, n_C) offset i * f + j of each window's max


def pool_output_shape(
    prev_shape: tuple[int, ...], f: int, stride: int
) -> tuple[int, int, int, int]:
    m, n_H_prev, n_W_prev, n_C = prev_shape
    return (m, (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1, n_C)


def pool_forward(
    A_prev: np.ndarray, f: int, stride: int, mode: str
) -> tuple[np.ndarray, PoolCache]:
    """The max (mode "max") or mean ("avg") of every f x f window: (m, n_H, n_W, n_C).

    Max pooling also records each window's argmax: the offset k = i * f + j of the last strict
    improvement in row-major order, which is the first maximum; as k only grows, that is the
    running maximum of k * (window_k > max so far), all in uint8 without masked writes.
    """
    _, n_H, n_W, _ = pool_output_shape(A_prev.shape, f, stride)
    windows = [offset_slice(A_prev, k // f, k % f, stride, n_H, n_W) for k in range(f * f)]
    A = windows[0].copy()  # (m, n_H, n_W, n_C)
    if mode == "avg":
        for window in windows[1:]:
            A += window
        A *= 1.0 / (f * f)
        return A, PoolCache(A_prev.shape, None)
    code = np.uint8 if f * f <= 256 else np.int32
    argmax = np.zeros(A.shape, dtype=code)  # (m, n_H, n_W, n_C)
    better = np.empty(A.shape, dtype=bool)
    k_if_better = np.empty(A.shape, dtype=code)
    for k, window in enumerate(windows[1:], start=1):
        np.greater(window, A, out=better)  # strictly: ties keep the earlier offset
        np.maximum(A, window, out=A)
        np.multiply(better, code(k), out=k_if_better)
        np.maximum(argmax, k_if_better, out=argmax)
    return A, PoolCache(A_prev.shape, argmax)


def pool_backward(dA: np.ndarray, cache: PoolCache, f: int, stride: int, mode: str) -> np.ndarray:
    """dA_prev (m, n_H_prev, n_W_prev, n_C) from dA (m, n_H, n_W, n_C).

    avg: every entry of a window gets dA / (f * f); max: the window's (first) maximum gets dA.
    Pixels in no window (the rows/columns pooling drops) get 0. When the windows tile the
    input (stride == f), each offset's slice is written once instead of accumulated.
    """
    _, n_H, n_W, _ = dA.shape
    tiled = stride == f
    if tiled:  # every pixel but the dropped last rows/columns is written below
        dA_prev = np.empty(cache.prev_shape, dtype=dA.dtype)  # (m, n_H_prev, n_W_prev, n_C)
        dA_prev[:, n_H * f :] = 0.0
        dA_prev[:, :, n_W * f :] = 0.0
    else:
        dA_prev = np.zeros(cache.prev_shape, dtype=dA.dtype)
    part = np.empty_like(dA)
    if mode == "avg":
        np.multiply(dA, 1.0 / (f * f), out=part)  # (m, n_H, n_W, n_C)
    else:
        assert cache.argmax is not None
        hit = np.empty(dA.shape, dtype=bool)
    for k in range(f * f):
        window = offset_slice(dA_prev, k // f, k % f, stride, n_H, n_W)  # (m, n_H, n_W, n_C)
        if mode == "max":
            np.equal(cache.argmax, k, out=hit)
            np.multiply(dA, hit, out=part)
        if tiled:
            window[...] = part
        else:
            window += part
    return dA_prev
