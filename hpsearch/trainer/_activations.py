"""Hidden-layer activations, each forward function beside its derivative.

Every ``*_backward(dA, Z, A)`` gets the upstream gradient dA, the pre-activation Z and the
activation A = g(Z) (all (n_l, m)) and returns dZ = dA * g'(Z). Backward functions may write
into dA: it is a fresh array that nothing else holds. ``relu`` writes its output over its
input (Z is then A), which its backward allows for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: via tanh, which saturates instead of overflowing."""
    A = np.multiply(Z, 0.5)
    np.tanh(A, out=A)
    A += 1.0
    A *= 0.5
    return A  # (n_l, m)


def sigmoid_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """g'(z) = a (1 - a)."""
    dZ = np.multiply(dA, A, out=dA)
    dZ *= 1.0 - A
    return dZ


def tanh(Z: np.ndarray) -> np.ndarray:
    return np.tanh(Z)


def tanh_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """g'(z) = 1 - a^2."""
    dZ = np.square(A)
    np.subtract(1.0, dZ, out=dZ)
    dZ *= dA
    return dZ


def relu(Z: np.ndarray) -> np.ndarray:
    """max(z, 0), written over Z (no new array): the layers never need Z after it, and
    :func:`relu_backward` reads only where a > 0, which is where z > 0."""
    return np.maximum(Z, 0.0, out=Z)


def relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """g'(z) = 1 where z > 0 (a > 0), else 0 (the subgradient at 0 is taken as 0)."""
    return np.multiply(dA, A > 0.0, out=dA)


def leaky_relu(Z: np.ndarray, slope: float) -> np.ndarray:
    """max(z, slope * z) for 0 <= slope < 1."""
    return np.maximum(Z, np.multiply(Z, slope))


def leaky_relu_backward(dA: np.ndarray, Z: np.ndarray, A: np.ndarray, slope: float) -> np.ndarray:
    """g'(z) = 1 where z > 0, else slope."""
    g = np.greater(Z, 0.0).astype(dA.dtype)  # 1 / 0
    g *= 1.0 - slope
    g += slope  # 1 / slope
    dA *= g
    return dA


class Activation(NamedTuple):
    """A forward function and its backward, with any setting (leaky slope) bound in."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def get_activation(name: str, *, leaky_slope: float = 0.01) -> Activation:
    """The activation pair called ``name`` (relu | leaky_relu | tanh | sigmoid)."""
    if name == "relu":
        return Activation(name, relu, relu_backward)
    if name == "leaky_relu":
        return Activation(
            name,
            lambda Z: leaky_relu(Z, leaky_slope),
            lambda dA, Z, A: leaky_relu_backward(dA, Z, A, leaky_slope),
        )
    if name == "tanh":
        return Activation(name, tanh, tanh_backward)
    if name == "sigmoid":
        return Activation(name, sigmoid, sigmoid_backward)
    raise ValueError(f"unknown activation {name!r}")
