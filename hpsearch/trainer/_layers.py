"""The steps one layer is made of, each forward beside its backward.

A hidden layer l is: linear (Z = W A_prev + b) -> [batch norm] -> activation -> [dropout].
Shapes: A_prev (n_{l-1}, m), W (n_l, n_{l-1}), b (n_l, 1), Z and A (n_l, m).
"""

from __future__ import annotations

import functools
import sys
from typing import NamedTuple

import numpy as np

BN_EPSILON = 1e-5  # added to the batch variance before the square root
BN_MOMENTUM = 0.9  # running = momentum * running + (1 - momentum) * batch statistic


def linear_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray | None, out: np.ndarray | None = None
) -> np.ndarray:
    """Z = W A_prev + b; b is None when batch norm's beta replaces it. ``out``: where to write Z
    (a buffer the trainer reuses every step), else a new array."""
    Z = np.matmul(W, A_prev, out=out)  # (n_l, m)
    if b is not None:
        Z += b  # broadcast (n_l, 1)
    return Z


def linear_backward(
    dZ: np.ndarray,
    A_prev: np.ndarray,
    W: np.ndarray,
    dW: np.ndarray,
    db: np.ndarray | None,
    *,
    need_dA_prev: bool = True,
    out: np.ndarray | None = None,
) -> np.ndarray | None:
    """Write dW = dZ A_prev^T and db = sum_i dZ into the given arrays; return dA_prev = W^T dZ.

    dZ already carries the 1/m of the mean cost. The first layer needs no dA_prev (it would be
    the gradient with respect to the inputs), which saves the largest matrix product.
    ``out``: where to write dA_prev (a reused buffer), else a new array.
    """
    np.matmul(dZ, A_prev.T, out=dW)  # (n_l, n_{l-1})
    assert dW.shape == W.shape
    if db is not None:  # sum over the batch as a product with ones: ~8x faster than np.sum
        np.matmul(dZ, _ones(dZ.shape[1], dZ.dtype), out=db)  # (n_l, 1)
    return np.matmul(W.T, dZ, out=out) if need_dA_prev else None  # (n_{l-1}, m)


@functools.lru_cache(maxsize=16)
def _ones(m: int, dtype: np.dtype) -> np.ndarray:
    """A read-only (m, 1) column of ones (for sums over the batch as matrix products)."""
    ones = np.ones((m, 1), dtype=dtype)
    ones.flags.writeable = False
    return ones


class BatchNormCache(NamedTuple):
    Z_hat: np.ndarray  # (n_l, m) normalised Z
    inv_std: np.ndarray  # (n_l, 1) 1 / sqrt(var + eps)
    mean: np.ndarray  # (n_l, 1) batch mean (the trainer folds it into the running mean)
    var: np.ndarray  # (n_l, 1) batch variance (biased, like Ng's course)


def batchnorm_forward(
    Z: np.ndarray, gamma: np.ndarray, beta: np.ndarray
) -> tuple[np.ndarray, BatchNormCache]:
    """Training mode: normalise Z with the batch statistics, then Z~ = gamma Z_hat + beta."""
    mean = Z.mean(axis=1, keepdims=True)  # (n_l, 1)
    Z_hat = Z - mean  # (n_l, m)
    var = np.mean(np.square(Z_hat), axis=1, keepdims=True)  # (n_l, 1)
    inv_std = 1.0 / np.sqrt(var + BN_EPSILON)  # (n_l, 1)
    Z_hat *= inv_std
    Z_tilde = Z_hat * gamma
    Z_tilde += beta
    return Z_tilde, BatchNormCache(Z_hat, inv_std, mean, var)


def batchnorm_backward(
    dZ_tilde: np.ndarray,
    gamma: np.ndarray,
    cache: BatchNormCache,
    dgamma: np.ndarray,
    dbeta: np.ndarray,
) -> np.ndarray:
    """Write dgamma, dbeta; return dZ through the batch statistics.

    dZ = gamma * inv_std * (dZ~ - mean(dZ~) - Z_hat * mean(dZ~ * Z_hat)), with the means over
    the batch. Here sum(dZ~) = dbeta and sum(dZ~ * Z_hat) = dgamma.
    """
    m = dZ_tilde.shape[1]
    np.sum(dZ_tilde * cache.Z_hat, axis=1, keepdims=True, out=dgamma)  # (n_l, 1)
    np.sum(dZ_tilde, axis=1, keepdims=True, out=dbeta)  # (n_l, 1)
    dZ = cache.Z_hat * (dgamma / m)  # (n_l, m)
    np.subtract(dZ_tilde, dZ, out=dZ)
    dZ -= dbeta / m
    dZ *= gamma * cache.inv_std
    return dZ


def batchnorm_inference(
    Z: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
) -> np.ndarray:
    """Evaluation mode: the running statistics replace the batch's, one affine map per unit."""
    scale = gamma / np.sqrt(running_var + BN_EPSILON)  # (n_l, 1)
    Z_tilde = Z - running_mean
    Z_tilde *= scale
    Z_tilde += beta
    return Z_tilde


def update_running_stats(
    running_mean: np.ndarray, running_var: np.ndarray, cache: BatchNormCache
) -> None:
    """running = BN_MOMENTUM * running + (1 - BN_MOMENTUM) * batch, in place."""
    running_mean *= BN_MOMENTUM
    running_mean += (1.0 - BN_MOMENTUM) * cache.mean
    running_var *= BN_MOMENTUM
    running_var += (1.0 - BN_MOMENTUM) * cache.var


def dropout_mask(
    shape: tuple[int, int],
    drop: float,
    rng: np.random.Generator,
    dtype: np.dtype,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Inverted dropout mask: 0 with probability ``drop``, else 1 / (1 - drop).

    Drawn as 16-bit integers (twice as fast as floats): a unit is kept when its draw is below
    round(keep * 65536), so the keep probability is exact to 1/65536. ``out``: where to write
    the mask (a buffer the trainer reuses every step), else a new array.
    """
    keep = 1.0 - drop
    draws = uniform_uint16(rng, shape[0] * shape[1]).reshape(shape)  # (n_l, m)
    mask = np.empty(shape, dtype=dtype) if out is None else out
    threshold = min(round(keep * 65536), 65535)  # fits uint16: drop >= 1/65536
    np.less(draws, threshold, out=mask)  # 1.0 where kept, 0.0 where dropped
    mask *= 1.0 / keep
    return mask


def uniform_uint16(rng: np.random.Generator, n: int) -> np.ndarray:
    """``rng.integers(0, 65536, n, dtype=np.uint16)``, the same numbers and the same generator
    state after, at half the cost where that can be had.

    For PCG64 (``default_rng``'s) NumPy takes each 64-bit output as two 32-bit halves, low half
    first, and each half as two 16-bit numbers, low first: the little-endian uint16 view of the
    raw outputs. ``random_raw`` gives those outputs without the per-number loop, but also
    without the half-output NumPy may have kept from an earlier odd count of 32-bit draws, so
    it is used only when there is none and ``n`` takes whole outputs. A test checks the
    equality draw for draw.
    """
    bg = rng.bit_generator
    if (
        n % 4 == 0
        and sys.byteorder == "little"
        and isinstance(bg, np.random.PCG64)
        and not bg.state["has_uint32"]
    ):
        return bg.random_raw(n // 4).view(np.uint16)
    return rng.integers(0, 65536, size=n, dtype=np.uint16)


def dropout_forward(A: np.ndarray, mask: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A * mask (into ``out`` or a new array: backward still needs A): the expected activation
    is unchanged."""
    return np.multiply(A, mask, out=out)


def dropout_backward(dA: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Dropped units get no gradient; kept ones are scaled like in the forward step."""
    dA *= mask
    return dA


def l2_cost(params: dict[str, np.ndarray], n_layers: int, lambd: float, m: int) -> float:
    """lambd / (2 m) * sum_l ||W_l||_F^2 (biases and batch-norm parameters are not decayed)."""
    if lambd == 0.0:
        return 0.0
    total = sum(float(np.vdot(W, W)) for W in (params[f"W{l}"] for l in range(1, n_layers + 1)))
    return lambd / (2.0 * m) * total


def l2_backward(dW: np.ndarray, W: np.ndarray, lambd: float, m: int) -> None:
    """dW += (lambd / m) W, in place: the gradient of :func:`l2_cost`. (Training steps leave
    it to the optimizer, which adds the same term block by block: ``update_flat(decay=)``.)"""
    if lambd != 0.0:
        dW += (lambd / m) * W
