"""Output layers and their losses, always computed from the logits Z_L.

2 classes: one sigmoid unit and binary cross-entropy; more: softmax and categorical
cross-entropy. Working from logits keeps both stable: softplus / log-sum-exp never take log(0)
and never overflow. The gradients include the 1/m of the mean, so every gradient downstream of
the output is already per-sample averaged.
"""

from __future__ import annotations

import numpy as np

from ._activations import sigmoid


def softplus(Z: np.ndarray) -> np.ndarray:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|), finite for every finite z."""
    out = np.abs(Z)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(Z, 0.0)
    return out


def binary_cross_entropy(Z: np.ndarray, y: np.ndarray) -> float:
    """Mean of -[y log a + (1-y) log(1-a)] with a = sigmoid(z), as softplus(z) - y z.

    Z: (1, m) logits; y: (m,) labels in {0, 1}.
    """
    z = Z[0]  # (m,)
    return float(np.mean(softplus(z) - y * z))


def binary_cross_entropy_backward(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dJ/dZ = (sigmoid(z) - y) / m, shape (1, m)."""
    m = Z.shape[1]
    dZ = sigmoid(Z)  # (1, m)
    dZ -= y
    dZ *= 1.0 / m
    return dZ


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """z - log sum_j e^{z_j} per column, with the column max subtracted first (log-sum-exp)."""
    shifted = Z - Z.max(axis=0, keepdims=True)  # (C, m), every entry <= 0
    lse = np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))  # (1, m)
    shifted -= lse
    return shifted


def softmax(Z: np.ndarray) -> np.ndarray:
    """Column-wise softmax, (C, m); stable because the column max is subtracted first."""
    P = Z - Z.max(axis=0, keepdims=True)  # (C, m)
    np.exp(P, out=P)
    P /= P.sum(axis=0, keepdims=True)
    return P


def categorical_cross_entropy(Z: np.ndarray, y: np.ndarray) -> float:
    """Mean of -log softmax(z)_y. Z: (C, m) logits; y: (m,) class indices."""
    m = Z.shape[1]
    logp = log_softmax(Z)  # (C, m)
    return float(-np.mean(logp[y, np.arange(m)]))


def categorical_cross_entropy_backward(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dJ/dZ = (softmax(z) - onehot(y)) / m, shape (C, m)."""
    m = Z.shape[1]
    dZ = softmax(Z)  # (C, m)
    dZ[y, np.arange(m)] -= 1.0
    dZ *= 1.0 / m
    return dZ


def output_loss(Z: np.ndarray, y: np.ndarray) -> float:
    """The cross-entropy that fits the output: binary for one unit, categorical otherwise."""
    if Z.shape[0] == 1:
        return binary_cross_entropy(Z, y)
    return categorical_cross_entropy(Z, y)


def output_backward(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dJ/dZ_L of :func:`output_loss`."""
    if Z.shape[0] == 1:
        return binary_cross_entropy_backward(Z, y)
    return categorical_cross_entropy_backward(Z, y)


def output_proba(Z: np.ndarray) -> np.ndarray:
    """Probabilities: sigmoid for one unit ((1, m): P(class 1)), softmax otherwise ((C, m))."""
    if Z.shape[0] == 1:
        return sigmoid(Z)
    return softmax(Z)


def output_labels(Z: np.ndarray) -> np.ndarray:
    """Predicted class indices (m,) int64: z > 0 for one unit, argmax otherwise."""
    if Z.shape[0] == 1:
        return (Z[0] > 0.0).astype(np.int64)
    return np.argmax(Z, axis=0).astype(np.int64)
