"""Optimizers (gd, momentum, RMSprop, Adam) and learning-rate decay.

Each optimizer is a small class whose state is keyed by parameter name and which updates the
parameter arrays in place. Updates are written as a few in-place array operations on
preallocated buffers: they run once per mini-batch on every weight, so a temporary array per
operation would cost about as much as the matrix products of a small network.

The course's own lines (``v = beta1*v + (1-beta1)*dW``, ``v_hat = v / (1 - beta1**t)``, ...) are
in :mod:`hpsearch.trainer._optimizers_reference`; a test runs both and requires the same
parameters to ~1e-12. Each fused line below says which part of the course's formula it computes.
"""

from __future__ import annotations

import math

import numpy as np

from ._config import TrainConfig


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate for 0-based ``epoch`` (the first epoch uses lr0 = config.learning_rate).

    inverse_time: lr0 / (1 + decay_rate * epoch); exponential: lr0 * decay_rate ** epoch
    (decay_rate = 0.95 gives Ng's 0.95^epoch schedule); none: lr0.
    """
    lr0 = config.learning_rate
    if config.lr_decay == "inverse_time":
        return lr0 / (1.0 + config.decay_rate * epoch)
    if config.lr_decay == "exponential":
        return lr0 * config.decay_rate**epoch
    return lr0


class GradientDescent:
    """W = W - lr * dW."""

    def __init__(self) -> None:
        self.t = 0
        self._step: dict[str, np.ndarray] = {}

    def update(
        self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float
    ) -> None:
        self.t += 1
        for name, g in grads.items():
            step = _buffer(self._step, name, g)
            np.multiply(g, learning_rate, out=step)  # step = lr dW
            params[name] -= step  # W = W - lr dW


class Momentum:
    """v = beta v + (1 - beta) dW; W -= lr * v (Ng's form, no bias correction)."""

    def __init__(self, beta: float) -> None:
        self.beta = beta
        self.t = 0
        self.v: dict[str, np.ndarray] = {}
        self._step: dict[str, np.ndarray] = {}

    def update(
        self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float
    ) -> None:
        self.t += 1
        for name, g in grads.items():
            v = _state(self.v, name, g)
            step = _buffer(self._step, name, g)
            np.subtract(g, v, out=step)  # step = dW - v
            step *= 1.0 - self.beta  # step = (1 - beta) (dW - v)
            v += step  # v = v + (1 - beta) (dW - v) = beta v + (1 - beta) dW
            np.multiply(v, learning_rate, out=step)  # step = lr v
            params[name] -= step  # W = W - lr v


class RMSprop:
    """s = beta2 s + (1 - beta2) dW^2; W -= lr * dW / (sqrt(s) + eps)."""

    def __init__(self, beta2: float, epsilon: float) -> None:
        self.beta2 = beta2
        self.epsilon = epsilon
        self.t = 0
        self.s: dict[str, np.ndarray] = {}
        self._step: dict[str, np.ndarray] = {}

    def update(
        self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float
    ) -> None:
        self.t += 1
        for name, g in grads.items():
            s = _state(self.s, name, g)
            step = _buffer(self._step, name, g)
            np.multiply(g, g, out=step)  # step = dW**2
            step -= s  # step = dW**2 - s
            step *= 1.0 - self.beta2  # step = (1 - beta2) (dW**2 - s)
            s += step  # s = s + (1 - beta2) (dW**2 - s) = beta2 s + (1 - beta2) dW**2
            np.sqrt(s, out=step)  # step = sqrt(s)
            step += self.epsilon  # step = sqrt(s) + eps
            np.divide(g, step, out=step)  # step = dW / (sqrt(s) + eps)
            step *= learning_rate  # step = lr dW / (sqrt(s) + eps)
            params[name] -= step  # W = W - lr dW / (sqrt(s) + eps)


class Adam:
    """Adam with bias correction (Kingma & Ba; Ng course 2 week 2).

        v = beta1 v + (1 - beta1) dW          v_hat = v / (1 - beta1^t)
        s = beta2 s + (1 - beta2) dW^2        s_hat = s / (1 - beta2^t)
        W -= lr * v_hat / (sqrt(s_hat) + eps)

    Stored are v' = v / (1 - beta1) and s' = s / (1 - beta2) (``self.v``, ``self.s``) so that
    each moment update is one scale and one add. Dividing the course's moment updates by
    (1 - beta1) and (1 - beta2):

        v' = beta1 v' + dW                    s' = beta2 s' + dW^2

    With c1 = (1 - beta1) / (1 - beta1^t) and c2 = (1 - beta2) / (1 - beta2^t) the corrected
    moments are v_hat = c1 v' and s_hat = c2 s', so the update is

        lr v_hat / (sqrt(s_hat) + eps) = lr c1 v' / (sqrt(c2) sqrt(s') + eps)
                                       = (lr c1 / sqrt(c2)) v' / (sqrt(s') + eps / sqrt(c2))
                                       = step_size v' / (sqrt(s') + eps_hat)

    two scalars per step (``step_size``, ``eps_hat``) instead of two bias-corrected arrays.
    """

    def __init__(self, beta1: float, beta2: float, epsilon: float) -> None:
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.t = 0
        self.v: dict[str, np.ndarray] = {}  # first moment / (1 - beta1)
        self.s: dict[str, np.ndarray] = {}  # second moment / (1 - beta2)
        self._step: dict[str, np.ndarray] = {}

    def update(
        self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float
    ) -> None:
        self.t += 1
        t, b1, b2 = self.t, self.beta1, self.beta2
        bias_correction1 = 1.0 - b1**t  # v_hat = v / (1 - beta1**t)
        bias_correction2 = 1.0 - b2**t  # s_hat = s / (1 - beta2**t)
        c1 = (1.0 - b1) / bias_correction1  # v_hat = c1 v'  (v = (1 - beta1) v')
        sqrt_c2 = math.sqrt((1.0 - b2) / bias_correction2)  # sqrt(s_hat) = sqrt_c2 sqrt(s')
        step_size = learning_rate * c1 / sqrt_c2  # lr v_hat / sqrt(s_hat) = step_size v'/sqrt(s')
        eps_hat = self.epsilon / sqrt_c2  # eps, divided by sqrt_c2 with the rest
        for name, g in grads.items():
            v = _state(self.v, name, g)
            s = _state(self.s, name, g)
            step = _buffer(self._step, name, g)
            v *= b1  # v' = beta1 v'
            v += g  # v' = beta1 v' + dW  (v = beta1 v + (1 - beta1) dW, over 1 - beta1)
            np.multiply(g, g, out=step)  # step = dW**2
            s *= b2  # s' = beta2 s'
            s += step  # s' = beta2 s' + dW**2  (s = beta2 s + (1 - beta2) dW**2, over 1 - beta2)
            np.sqrt(s, out=step)  # step = sqrt(s')
            step += eps_hat  # step = sqrt(s') + eps_hat  = (sqrt(s_hat) + eps) / sqrt_c2
            np.divide(v, step, out=step)  # step = v' / (sqrt(s') + eps_hat)
            step *= step_size  # step = lr v_hat / (sqrt(s_hat) + eps)
            params[name] -= step  # W = W - lr v_hat / (sqrt(s_hat) + eps)


Optimizer = GradientDescent | Momentum | RMSprop | Adam


def make_optimizer(config: TrainConfig) -> Optimizer:
    """The optimizer named by config.optimizer, with its betas and epsilon."""
    if config.optimizer == "gd":
        return GradientDescent()
    if config.optimizer == "momentum":
        return Momentum(config.beta1)
    if config.optimizer == "rmsprop":
        return RMSprop(config.beta2, config.epsilon)
    return Adam(config.beta1, config.beta2, config.epsilon)


def _state(store: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    """Zero-initialised optimizer state for parameter ``name``."""
    arr = store.get(name)
    if arr is None:
        arr = store[name] = np.zeros_like(like)
    return arr


def _buffer(store: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    """Scratch array reused at every step (its content does not matter between steps)."""
    arr = store.get(name)
    if arr is None:
        arr = store[name] = np.empty_like(like)
    return arr
