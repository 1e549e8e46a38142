"""Parameter initialisation: random W (never zeros: every unit would stay identical), zero b."""

from __future__ import annotations

import math
import re

import numpy as np


def init_std(init: str, activation: str, n_prev: int, init_scale: float) -> float:
    """Standard deviation of W_l's entries.

    he: sqrt(2 / n_{l-1}) (ReLU family); xavier: sqrt(1 / n_{l-1}) (tanh / sigmoid, the form
    Ng's course uses); small: init_scale; auto: he for relu / leaky_relu, xavier otherwise.
    """
    if init == "auto":
        init = "he" if activation in ("relu", "leaky_relu") else "xavier"
    if init == "he":
        return math.sqrt(2.0 / n_prev)
    if init == "xavier":
        return math.sqrt(1.0 / n_prev)
    if init == "small":
        return init_scale
    raise ValueError(f"unknown init {init!r}")


def initialize_parameters(
    layer_dims: list[int],
    *,
    activation: str,
    init: str,
    init_scale: float,
    batch_norm: bool,
    rng: np.random.Generator,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """W1..WL, b1..bL (b dropped on batch-norm layers), gamma/beta and running mu/var.

    layer_dims = [n_x, n_1, ..., n_L]. Weights are drawn in float64 and then cast, so float32
    and float64 runs with the same seed start from the same (rounded) values.
    """
    params: dict[str, np.ndarray] = {}
    L = len(layer_dims) - 1
    for l in range(1, L + 1):
        n_prev, n_l = layer_dims[l - 1], layer_dims[l]
        std = init_std(init, activation, n_prev, init_scale)
        params[f"W{l}"] = (rng.standard_normal((n_l, n_prev)) * std).astype(dtype)  # (n_l, n_prev)
        if batch_norm and l < L:
            params[f"gamma{l}"] = np.ones((n_l, 1), dtype=dtype)
            params[f"beta{l}"] = np.zeros((n_l, 1), dtype=dtype)
            params[f"mu{l}"] = np.zeros((n_l, 1), dtype=dtype)  # running mean (not trained)
            params[f"var{l}"] = np.ones((n_l, 1), dtype=dtype)  # running variance (not trained)
        else:
            params[f"b{l}"] = np.zeros((n_l, 1), dtype=dtype)
    return params


def is_decayed(name: str) -> bool:
    """Weights (dense ``W{l}``, conv ``Wc{k}``) carry the L2 term; biases and batch norm's
    gamma and beta do not (see ``_layers.l2_cost`` and ``_conv_net.conv_l2_sum``)."""
    return re.fullmatch(r"Wc?\d+", name) is not None


def is_trainable(name: str) -> bool:
    """Running statistics mu/var are updated by the forward pass, not by gradients."""
    return not name.startswith(("mu", "var"))
