"""The convolutional front of a network: conv blocks, then flatten into the dense layers.

Block k is conv (Wc{k} (f, f, n_C_prev, n_C), bc{k} (1, 1, 1, n_C)) -> [batch norm per channel:
gammac{k}, betac{k} (n_C, 1) replace bc{k}; running muc{k}, varc{k}] -> activation -> pool
(max pooling computed before the activation, which gives the same values, see block_forward).
The dense code keeps samples as columns: the front takes X (n_x, m), whose column i is image i
flattened in C order of (n_H, n_W, n_C), reshapes it to (m, n_H, n_W, n_C) (free when X is the
transpose of row-major samples, as the trainer's mini-batches are) and gives the last block's
output back as (n_flat, m), again a free transposed view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ._conv import ConvCache, conv_backward, conv_forward
from ._conv_shapes import ConvBlock
from ._init import init_std
from ._layers import (
    BatchNormCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    l2_backward,
    update_running_stats,
)
from ._pool import PoolCache, pool_backward, pool_forward

if TYPE_CHECKING:
    from ._propagation import NetSpec, Workspace

EVAL_BYTES = 32 * 2**20  # evaluation chunks keep the largest im2col buffer near this size


class BlockCache(NamedTuple):
    conv: ConvCache
    bn: BatchNormCache | None  # batch norm per channel, or None
    Z: np.ndarray  # activation input (m, n_H, n_W, n_C), pooled for max; relu writes A over it
    A: np.ndarray  # activation output, same shape as Z
    pool: PoolCache | None


def initialize_conv_parameters(
    blocks: tuple[ConvBlock, ...],
    *,
    activation: str,
    init: str,
    init_scale: float,
    batch_norm: bool,
    rng: np.random.Generator,
    dtype: np.dtype | type,
) -> dict[str, np.ndarray]:
    """Wc{k} ~ N(0, std^2) with std from the filter's fan-in f * f * n_C_prev (He for relu);
    bc{k} = 0, or with batch norm per channel gammac{k} = 1, betac{k} = 0 and the running
    muc{k} = 0, varc{k} = 1 (all (n_C, 1)) instead. Drawn in float64 and cast, like the dense
    weights."""
    params: dict[str, np.ndarray] = {}
    for blk in blocks:
        n_C_prev, n_C = blk.in_shape[2], blk.conv_shape[2]
        std = init_std(init, activation, blk.f * blk.f * n_C_prev, init_scale)
        W = rng.standard_normal((blk.f, blk.f, n_C_prev, n_C)) * std  # (f, f, n_C_prev, n_C)
        params[f"Wc{blk.index}"] = W.astype(dtype)
        if not batch_norm:
            params[f"bc{blk.index}"] = np.zeros((1, 1, 1, n_C), dtype=dtype)  # (1, 1, 1, n_C)
            continue
        for name, value in (("gammac", 1.0), ("betac", 0.0), ("muc", 0.0), ("varc", 1.0)):
            params[f"{name}{blk.index}"] = np.full((n_C, 1), value, dtype=dtype)  # (n_C, 1)
    return params


def _buffers(
    ws: Workspace | None, blk: ConvBlock, m: int, dtype: np.dtype, *, backward: bool
) -> dict[str, np.ndarray] | None:
    """The block's reused arrays (None without a workspace: every step allocates)."""
    if ws is None:
        return None
    k, f = blk.index, blk.f
    n_H_prev, n_W_prev, n_C_prev = blk.in_shape
    n_H, n_W, n_C = blk.conv_shape
    p = blk.pad[0] + blk.pad[1]
    rows, width = m * n_H * n_W, f * f * n_C_prev
    if backward:
        return {
            "part": ws.get("part", k, (rows, n_C_prev), dtype),
            "dA_pad": ws.get("dA_pad", k, (m, n_H_prev + p, n_W_prev + p, n_C_prev), dtype),
        }
    bufs = {
        "cols": ws.get("cols", k, (rows * width,), dtype),
        "Z": ws.get("Zc", k, (rows, n_C), dtype),
    }
    if p:
        bufs["pad"] = ws.get("pad", k, (m, n_H_prev + p, n_W_prev + p, n_C_prev), dtype)
    return bufs


def conv_batchnorm_forward(
    Z: np.ndarray, params: dict[str, np.ndarray], k: int, *, training: bool
) -> tuple[np.ndarray, BatchNormCache | None]:
    """Batch norm per channel: statistics over samples and pixels, the dense layers' batch norm
    on the (n_C, m n_H n_W) view of Z (m, n_H, n_W, n_C); running statistics when not training."""
    gamma, beta = params[f"gammac{k}"], params[f"betac{k}"]  # (n_C, 1)
    Z2T = Z.reshape(-1, Z.shape[3]).T  # (n_C, m n_H n_W)
    if not training:
        out = batchnorm_inference(Z2T, gamma, beta, params[f"muc{k}"], params[f"varc{k}"])
        return out.T.reshape(Z.shape), None
    out, bn = batchnorm_forward(Z2T, gamma, beta)  # (n_C, m n_H n_W)
    return out.T.reshape(Z.shape), bn


def conv_batchnorm_backward(
    dZ: np.ndarray,
    cache: BatchNormCache,
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    k: int,
) -> np.ndarray:
    """Writes dgammac{k}, dbetac{k}; returns dZ (m, n_H, n_W, n_C) before the normalisation."""
    dZ2T = dZ.reshape(-1, dZ.shape[3]).T  # (n_C, m n_H n_W)
    out = batchnorm_backward(
        dZ2T, params[f"gammac{k}"], cache, grads[f"gammac{k}"], grads[f"betac{k}"]
    )
    return out.T.reshape(dZ.shape)


def block_forward(
    A_prev: np.ndarray,
    params: dict[str, np.ndarray],
    blk: ConvBlock,
    spec: NetSpec,
    ws: Workspace | None = None,
    *,
    training: bool = True,
) -> tuple[np.ndarray, BlockCache]:
    """conv -> [batch norm] -> activation -> pool on A_prev (m, n_H_prev, n_W_prev, n_C_prev).

    Max pooling runs before the activation: every activation here is non-decreasing, so
    max(g(z)) = g(max(z)) and the gradient reaches the same entry, while g and g' then run on
    the pooled map (pool_size^2 times smaller). Batch norm (a per-channel affine map whose
    gamma may be negative) stays before both.
    """
    k, ps = blk.index, blk.pool_size
    bufs = _buffers(ws, blk, A_prev.shape[0], A_prev.dtype, backward=False)
    W, b = params[f"Wc{k}"], params.get(f"bc{k}")  # no bc{k} with batch norm
    Z, conv_cache = conv_forward(A_prev, W, b, blk.stride, blk.pad, bufs)  # (m, n_H, n_W, n_C)
    bn = None
    if spec.batch_norm:
        Z, bn = conv_batchnorm_forward(Z, params, k, training=training)  # (m, n_H, n_W, n_C)
    if blk.pool == "max":
        Z, pool_cache = pool_forward(Z, ps, ps, "max")  # (m, n_H / ps, n_W / ps, n_C)
        A = spec.activation.forward(Z)  # (m, n_H / ps, n_W / ps, n_C)
        return A, BlockCache(conv_cache, bn, Z, A, pool_cache)
    A = spec.activation.forward(Z)  # (m, n_H, n_W, n_C)
    if blk.pool == "none":
        return A, BlockCache(conv_cache, bn, Z, A, None)
    P, pool_cache = pool_forward(A, ps, ps, "avg")  # (m, n_H / ps, n_W / ps, n_C)
    return P, BlockCache(conv_cache, bn, Z, A, pool_cache)


def block_backward(
    dP: np.ndarray,
    cache: BlockCache,
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    blk: ConvBlock,
    spec: NetSpec,
    m: int,
    ws: Workspace | None = None,
) -> np.ndarray | None:
    """Writes the block's gradients; returns dA_prev (m, n_H_prev, n_W_prev, n_C_prev), None
    for block 1."""
    k, ps = blk.index, blk.pool_size
    if blk.pool == "max":  # activation after pooling (see block_forward)
        dZ = spec.activation.backward(dP, cache.Z, cache.A)  # (m, n_H / ps, n_W / ps, n_C)
        dZ = pool_backward(dZ, cache.pool, ps, ps, "max")  # (m, n_H, n_W, n_C)
    else:
        dA = dP if cache.pool is None else pool_backward(dP, cache.pool, ps, ps, "avg")
        dZ = spec.activation.backward(dA, cache.Z, cache.A)  # (m, n_H, n_W, n_C)
    if cache.bn is not None:
        dZ = conv_batchnorm_backward(dZ, cache.bn, params, grads, k)  # (m, n_H, n_W, n_C)
    W = params[f"Wc{k}"]
    bufs = _buffers(ws, blk, m, dZ.dtype, backward=True) if k > 1 else None
    dA_prev = conv_backward(
        dZ, cache.conv, W, grads[f"Wc{k}"], grads.get(f"bc{k}"), need_dA_prev=k > 1, buffers=bufs
    )
    l2_backward(grads[f"Wc{k}"], W, spec.lambd, m)
    return dA_prev


def update_conv_running_stats(params: dict[str, np.ndarray], caches: list[BlockCache]) -> None:
    """Fold each block's batch statistics into its running muc{k} / varc{k} (training steps)."""
    for k, cache in enumerate(caches, start=1):
        if cache.bn is not None:
            update_running_stats(params[f"muc{k}"], params[f"varc{k}"], cache.bn)


def conv_front_forward(
    X: np.ndarray,
    params: dict[str, np.ndarray],
    spec: NetSpec,
    ws: Workspace | None = None,
    *,
    training: bool = True,
) -> tuple[np.ndarray, list[BlockCache]]:
    """X (n_x, m) -> the last block's output flattened, (n_flat, m), and one cache per block.

    ``training=False``: batch norm uses the running statistics (evaluation, prediction)."""
    m = X.shape[1]
    A = X.T.reshape(m, *spec.conv[0].in_shape)  # (m, n_H, n_W, n_C)
    caches = []
    for blk in spec.conv:
        A, cache = block_forward(A, params, blk, spec, ws, training=training)
        caches.append(cache)
    return A.reshape(m, -1).T, caches  # (n_flat, m)


def conv_front_backward(
    dA_flat: np.ndarray,
    caches: list[BlockCache],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    spec: NetSpec,
    ws: Workspace | None = None,
) -> None:
    """Backward through every block from dA_flat (n_flat, m), the first dense layer's dA_prev."""
    m = dA_flat.shape[1]
    dA = dA_flat.T.reshape(m, *spec.conv[-1].out_shape)  # (m, n_H, n_W, n_C)
    for blk, cache in zip(reversed(spec.conv), reversed(caches), strict=True):
        dA = block_backward(dA, cache, params, grads, blk, spec, m, ws)


def flat_input_gradient(dZ: np.ndarray, W: np.ndarray, ws: Workspace | None) -> np.ndarray:
    """dA_prev = W^T dZ of the first dense layer, (n_flat, m), as the transpose of a row-major
    (m, n_flat) product so that the conv front reshapes it to images for free."""
    out = None if ws is None else ws.get("dflat", 0, (dZ.shape[1], W.shape[1]), W.dtype)
    return np.matmul(dZ.T, W, out=out).T  # (n_flat, m)


def conv_l2_sum(params: dict[str, np.ndarray], blocks: tuple[ConvBlock, ...]) -> float:
    """sum_k ||Wc_k||_F^2 (the conv part of the L2 term)."""
    return sum(float(np.vdot(params[f"Wc{b.index}"], params[f"Wc{b.index}"])) for b in blocks)


def eval_chunk(blocks: tuple[ConvBlock, ...], itemsize: int, default: int) -> int:
    """Samples per evaluation forward pass: ``default`` unless a block's im2col buffer would
    exceed about EVAL_BYTES (then fewer, at least 1)."""
    per_sample = max(
        (b.conv_shape[0] * b.conv_shape[1] * b.f * b.f * b.in_shape[2] for b in blocks), default=0
    )
    if per_sample == 0:
        return default
    return max(1, min(default, EVAL_BYTES // (per_sample * itemsize)))
