"""Forward and backward propagation through the whole L-layer network, side by side.

A convolutional network first runs its conv blocks (``_conv_net``) and feeds their flattened
output to layer 1. Layers 1..L-1 are hidden: linear -> [batch norm] -> activation -> [dropout].
Layer L is linear and gives the logits Z_L; the loss works from them (see ``_losses``).
Gradients are keyed by the parameter name they belong to (grads["W1"] is dJ/dW1, grads["Wc1"]
is dJ/dWc1 of conv block 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._activations import Activation, get_activation
from ._config import TrainConfig
from ._conv_net import (
    BlockCache,
    conv_front_backward,
    conv_front_forward,
    conv_l2_sum,
    flat_input_gradient,
)
from ._conv_shapes import ConvBlock, ImageShape, conv_blocks
from ._init import is_trainable
from ._layers import (
    BatchNormCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    dropout_backward,
    dropout_forward,
    dropout_mask,
    l2_backward,
    l2_cost,
    linear_backward,
    linear_forward,
)
from ._losses import output_backward, output_loss


@dataclass(frozen=True)
class NetSpec:
    """What the propagation needs to know besides the parameters."""

    n_layers: int  # L: hidden layers + the output layer
    activation: Activation  # hidden-layer activation pair
    batch_norm: bool
    dropout: tuple[float, ...]  # drop probability of hidden layers 1..L-1
    lambd: float  # L2 strength
    conv: tuple[ConvBlock, ...] = ()  # conv blocks before layer 1; () = a dense network

    @classmethod
    def from_config(cls, config: TrainConfig, image_shape: ImageShape | None = None) -> NetSpec:
        return cls(
            n_layers=config.layers + 1,
            activation=get_activation(config.activation, leaky_slope=config.leaky_slope),
            batch_norm=config.batch_norm,
            dropout=config.dropout_rates,
            lambd=config.lambd,
            conv=conv_blocks(config, image_shape),
        )


class LayerCache(NamedTuple):
    """What a hidden layer's backward step needs from its forward step."""

    A_prev: np.ndarray  # (n_{l-1}, m) input
    Z: np.ndarray  # (n_l, m) activation input (after batch norm); relu overwrites it with A
    bn: BatchNormCache | None  # batch-norm cache, or None
    A: np.ndarray  # (n_l, m) activation output, before dropout
    mask: np.ndarray | None  # (n_l, m) inverted-dropout mask, or None


Masks = dict[int, np.ndarray]  # hidden layer l -> fixed dropout mask (gradient checks)


class Caches(list[LayerCache]):
    """One LayerCache per dense layer (the output layer's last), plus the conv blocks' caches."""

    conv: list[BlockCache] | None = None


class Workspace:
    """Output arrays of the matrix products (and dropout masks), reused at every training step.

    A new (n_l, m) array per product and step costs an allocation and fresh pages; the trainer
    passes one Workspace to every step instead. Arrays are keyed by (what, layer, shape), so the
    last, smaller mini-batch of an epoch gets its own. Without a workspace (None) every product
    allocates, as the gradient checks and evaluation do.
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, int, tuple[int, int]], np.ndarray] = {}

    def get(self, what: str, l: int, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        key = (what, l, shape)
        arr = self._arrays.get(key)
        if arr is None or arr.dtype != dtype:
            arr = self._arrays[key] = np.empty(shape, dtype=dtype)
        return arr


def _out(
    ws: Workspace | None, what: str, l: int, W: np.ndarray, rows: int, m: int
) -> np.ndarray | None:
    return None if ws is None else ws.get(what, l, (rows, m), W.dtype)


def hidden_forward(
    A_prev: np.ndarray,
    params: dict[str, np.ndarray],
    l: int,
    spec: NetSpec,
    mask: np.ndarray | None,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, LayerCache]:
    """Training-mode hidden layer l; returns its output (after dropout) and its cache."""
    bn = None
    W = params[f"W{l}"]
    out = _out(ws, "Z", l, W, W.shape[0], A_prev.shape[1])
    if spec.batch_norm:
        Z = linear_forward(A_prev, W, None, out)  # (n_l, m)
        Z, bn = batchnorm_forward(Z, params[f"gamma{l}"], params[f"beta{l}"])
    else:
        Z = linear_forward(A_prev, W, params[f"b{l}"], out)  # (n_l, m)
    A = spec.activation.forward(Z)  # (n_l, m)
    out = A if mask is None else dropout_forward(A, mask, _out(ws, "drop", l, W, *A.shape))
    return out, LayerCache(A_prev, Z, bn, A, mask)


def hidden_backward(
    dA: np.ndarray,
    cache: LayerCache,
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    l: int,
    spec: NetSpec,
    m: int,
    ws: Workspace | None = None,
) -> np.ndarray | None:
    """Backward through hidden layer l: writes its gradients, returns dA_{l-1} (None for l=1)."""
    if cache.mask is not None:
        dA = dropout_backward(dA, cache.mask)
    dZ = spec.activation.backward(dA, cache.Z, cache.A)  # (n_l, m)
    if cache.bn is not None:
        dZ = batchnorm_backward(
            dZ, params[f"gamma{l}"], cache.bn, grads[f"gamma{l}"], grads[f"beta{l}"]
        )
    W = params[f"W{l}"]
    out = _out(ws, "dA", l - 1, W, W.shape[1], m) if l > 1 else None
    dA_prev = linear_backward(
        dZ, cache.A_prev, W, grads[f"W{l}"], grads.get(f"b{l}"), need_dA_prev=l > 1, out=out
    )
    l2_backward(grads[f"W{l}"], W, spec.lambd, m)
    if l == 1 and spec.conv:  # the conv front needs the gradient of its flattened output
        dA_prev = flat_input_gradient(dZ, W, ws)  # (n_flat, m)
    return dA_prev


def forward_propagation(
    X: np.ndarray,
    params: dict[str, np.ndarray],
    spec: NetSpec,
    *,
    rng: np.random.Generator | None = None,
    masks: Masks | None = None,
    ws: Workspace | None = None,
) -> tuple[np.ndarray, Caches]:
    """Training mode: batch statistics, dropout. Returns Z_L (C, m) and one cache per hidden layer.

    Dropout masks come from ``masks`` when given (fixed masks for gradient checks), else are
    drawn from ``rng``. With a workspace, the outputs are its arrays (valid until the next step).
    """
    caches = Caches()
    A = X  # (n_x, m)
    if spec.conv:
        A, caches.conv = conv_front_forward(X, params, spec, ws)  # (n_flat, m)
    for l in range(1, spec.n_layers):
        drop = spec.dropout[l - 1]
        if masks is not None and l in masks:
            mask = masks[l]
        elif drop > 0.0:
            if rng is None:
                raise ValueError("dropout needs an rng or fixed masks")
            n_l = params[f"W{l}"].shape[0]
            out = None if ws is None else ws.get("mask", l, (n_l, A.shape[1]), A.dtype)
            mask = dropout_mask((n_l, A.shape[1]), drop, rng, A.dtype, out)
        else:
            mask = None
        A, cache = hidden_forward(A, params, l, spec, mask, ws)
        caches.append(cache)
    L = spec.n_layers
    W = params[f"W{L}"]
    ZL = linear_forward(A, W, params[f"b{L}"], _out(ws, "Z", L, W, W.shape[0], A.shape[1]))
    caches.append(LayerCache(A, ZL, None, ZL, None))
    return ZL, caches


def backward_propagation(
    ZL: np.ndarray,
    y: np.ndarray,
    params: dict[str, np.ndarray],
    caches: Caches,
    spec: NetSpec,
    grads: dict[str, np.ndarray] | None = None,
    ws: Workspace | None = None,
) -> dict[str, np.ndarray]:
    """Gradients of :func:`compute_cost` for every trainable parameter.

    ``grads`` may hold preallocated arrays (the trainer reuses them every step); they are
    overwritten.
    """
    if grads is None:
        grads = {k: np.empty_like(v) for k, v in params.items() if is_trainable(k)}
    m = ZL.shape[1]
    L = spec.n_layers
    dZ = output_backward(ZL, y)  # (C, m), includes 1/m
    W = params[f"W{L}"]
    out = _out(ws, "dA", L - 1, W, W.shape[1], m) if L > 1 else None
    dA = linear_backward(
        dZ, caches[-1].A_prev, W, grads[f"W{L}"], grads[f"b{L}"], need_dA_prev=L > 1, out=out
    )
    l2_backward(grads[f"W{L}"], W, spec.lambd, m)
    if L == 1 and spec.conv:
        dA = flat_input_gradient(dZ, W, ws)  # (n_flat, m)
    for l in range(L - 1, 0, -1):
        dA = hidden_backward(dA, caches[l - 1], params, grads, l, spec, m, ws)
    if spec.conv:
        assert caches.conv is not None
        conv_front_backward(dA, caches.conv, params, grads, spec, ws)
    return grads


def compute_cost(
    ZL: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray], spec: NetSpec
) -> float:
    """Cross-entropy of the logits plus the L2 term: the objective the gradients belong to."""
    cost = output_loss(ZL, y) + l2_cost(params, spec.n_layers, spec.lambd, ZL.shape[1])
    if spec.conv and spec.lambd != 0.0:
        cost += spec.lambd / (2.0 * ZL.shape[1]) * conv_l2_sum(params, spec.conv)
    return cost


def predict_logits(X: np.ndarray, params: dict[str, np.ndarray], spec: NetSpec) -> np.ndarray:
    """Evaluation mode: running batch-norm statistics, no dropout. Returns Z_L (C, m)."""
    A = X  # (n_x, m)
    if spec.conv:
        A, _ = conv_front_forward(X, params, spec, training=False)  # (n_flat, m)
    for l in range(1, spec.n_layers):
        if spec.batch_norm:
            Z = linear_forward(A, params[f"W{l}"], None)
            Z = batchnorm_inference(
                Z, params[f"gamma{l}"], params[f"beta{l}"], params[f"mu{l}"], params[f"var{l}"]
            )
        else:
            Z = linear_forward(A, params[f"W{l}"], params[f"b{l}"])
        A = spec.activation.forward(Z)  # (n_l, m)
    L = spec.n_layers
    return linear_forward(A, params[f"W{L}"], params[f"b{L}"])  # (C, m)
