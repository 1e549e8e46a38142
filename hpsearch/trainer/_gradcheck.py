"""Gradient checking: backprop against central differences, in float64 (Ng course 2 week 1)."""

from __future__ import annotations

import numpy as np

from ._config import TrainConfig
from ._conv_shapes import ImageShape
from ._init import is_trainable
from ._propagation import Masks, NetSpec, backward_propagation, compute_cost, forward_propagation


def cost_at(
    config: TrainConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    masks: Masks | None = None,
    image_shape: ImageShape | None = None,
) -> float:
    """J(params): training-mode cost (batch statistics, the given dropout masks, L2 term)."""
    spec = NetSpec.from_config(config, image_shape)
    ZL, _ = forward_propagation(X, params, spec, masks=masks)
    return compute_cost(ZL, y, params, spec)


def backprop_gradients(
    config: TrainConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    masks: Masks | None = None,
    image_shape: ImageShape | None = None,
) -> dict[str, np.ndarray]:
    """dJ/dtheta for every trainable parameter, by backpropagation."""
    spec = NetSpec.from_config(config, image_shape)
    ZL, caches = forward_propagation(X, params, spec, masks=masks)
    return backward_propagation(ZL, y, params, caches, spec)


def numerical_gradients(
    config: TrainConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    masks: Masks | None = None,
    *,
    epsilon: float = 1e-7,
    image_shape: ImageShape | None = None,
) -> dict[str, np.ndarray]:
    """(J(theta + eps) - J(theta - eps)) / (2 eps), one entry at a time."""
    grads = {}
    for name, theta in params.items():
        if not is_trainable(name):
            continue
        g = np.zeros_like(theta)
        for i in np.ndindex(theta.shape):
            saved = theta[i]
            theta[i] = saved + epsilon
            plus = cost_at(config, params, X, y, masks, image_shape)
            theta[i] = saved - epsilon
            minus = cost_at(config, params, X, y, masks, image_shape)
            theta[i] = saved
            g[i] = (plus - minus) / (2.0 * epsilon)
        grads[name] = g
    return grads


def relative_difference(g: np.ndarray, g_num: np.ndarray) -> float:
    """||g - g_num|| / (||g|| + ||g_num||) (0 when both are 0)."""
    denom = np.linalg.norm(g) + np.linalg.norm(g_num)
    return float(np.linalg.norm(g - g_num) / denom) if denom > 0 else 0.0


def gradient_check(
    config: TrainConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    masks: Masks | None = None,
    epsilon: float = 1e-7,
    image_shape: ImageShape | None = None,
) -> float:
    """Relative difference between backprop and central differences over all parameters.

    Everything is copied to float64 first. With dropout, pass fixed ``masks`` (hidden layer
    l -> (n_l, m) mask): the cost must be a deterministic function of the parameters.
    A convolutional config needs ``image_shape`` (n_H, n_W, n_C) of X's columns.
    Below 1e-7 means the gradients agree.
    """
    p64 = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    X64 = np.asarray(X, dtype=np.float64)
    m64 = None if masks is None else {k: np.asarray(v, np.float64) for k, v in masks.items()}
    analytic = backprop_gradients(config, p64, X64, y, m64, image_shape)
    numeric = numerical_gradients(
        config, p64, X64, y, m64, epsilon=epsilon, image_shape=image_shape
    )
    names = sorted(analytic)
    return relative_difference(
        np.concatenate([analytic[k].ravel() for k in names]),
        np.concatenate([numeric[k].ravel() for k in names]),
    )
