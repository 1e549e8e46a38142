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
    """The max (mode "max") or mean ("avg") of every f x f window: (m, n_H, n_W, n_C)."""
    _, n_H, n_W, _ = pool_output_shape(A_prev.shape, f, stride)
    first = offset_slice(A_prev, 0, 0, stride, n_H, n_W)  # (m, n_H, n_W, n_C)
    A = first.copy()  # (m, n_H, n_W, n_C)
    if mode == "avg":
        for k in range(1, f * f):
            A += offset_slice(A_prev, k // f, k % f, stride, n_H, n_W)
        A *= 1.0 / (f * f)
        return A, PoolCache(A_prev.shape, None)
    argmax = np.zeros(A.shape, dtype=np.uint8 if f * f <= 256 else np.int32)
    better = np.empty(A.shape, dtype=bool)
    for k in range(1, f * f):
        window = offset_slice(A_prev, k // f, k % f, stride, n_H, n_W)
        np.greater(window, A, out=better)  # strictly: ties keep the earlier offset
        np.copyto(A, window, where=better)
        np.copyto(argmax, k, where=better)
    return A, PoolCache(A_prev.shape, argmax)


def pool_backward(dA: np.ndarray, cache: PoolCache, f: int, stride: int, mode: str) -> np.ndarray:
    """dA_prev (m, n_H_prev, n_W_prev, n_C) from dA (m, n_H, n_W, n_C).

    avg: every entry of a window gets dA / (f * f); max: the window's (first) maximum gets dA.
    Pixels in no window (the rows/columns pooling drops) get 0.
    """
    _, n_H, n_W, _ = dA.shape
    dA_prev = np.zeros(cache.prev_shape, dtype=dA.dtype)  # (m, n_H_prev, n_W_prev, n_C)
    if mode == "avg":
        share = dA * (1.0 / (f * f))  # (m, n_H, n_W, n_C)
        for k in range(f * f):
            offset_slice(dA_prev, k // f, k % f, stride, n_H, n_W)[...] += share
        return dA_prev
    assert cache.argmax is not None
    hit = np.empty(dA.shape, dtype=bool)
    part = np.empty_like(dA)
    for k in range(f * f):
        np.equal(cache.argmax, k, out=hit)
        np.multiply(dA, hit, out=part)
        offset_slice(dA_prev, k // f, k % f, stride, n_H, n_W)[...] += part
    return dA_prev
