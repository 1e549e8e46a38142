"""The optimizer updates exactly as Ng's course writes them (course 2 week 2): read and test.

Training runs the fused, in-place versions in :mod:`hpsearch.trainer._optimizers`; a test runs
both for several steps on the same random parameters and requires the same result to ~1e-12.
These functions allocate a new array per operation and return new dictionaries: clear, slow.

Dictionaries are keyed by parameter name (``W1``, ``b1``, ...): ``grads[name]`` is dJ/d(name),
written ``dW`` below; ``v`` and ``s`` start as zeros shaped like the parameters; ``t`` counts
updates from 1.
"""

from __future__ import annotations

import numpy as np

Arrays = dict[str, np.ndarray]


def initialize_state(parameters: Arrays) -> Arrays:
    """``v`` (or ``s``): zeros shaped like each parameter, as the course's initialize_velocity."""
    return {name: np.zeros_like(W) for name, W in parameters.items()}


def update_parameters_with_gd(parameters: Arrays, grads: Arrays, learning_rate: float) -> Arrays:
    """W = W - lr * dW."""
    return {name: W - learning_rate * grads[name] for name, W in parameters.items()}


def update_parameters_with_momentum(
    parameters: Arrays, grads: Arrays, v: Arrays, beta: float, learning_rate: float
) -> tuple[Arrays, Arrays]:
    """v = beta*v + (1-beta)*dW; W = W - lr * v (the course's form: no bias correction)."""
    new_parameters, new_v = {}, {}
    for name, W in parameters.items():
        dW = grads[name]
        new_v[name] = beta * v[name] + (1 - beta) * dW
        new_parameters[name] = W - learning_rate * new_v[name]
    return new_parameters, new_v


def update_parameters_with_rmsprop(
    parameters: Arrays,
    grads: Arrays,
    s: Arrays,
    beta2: float,
    learning_rate: float,
    epsilon: float,
) -> tuple[Arrays, Arrays]:
    """s = beta2*s + (1-beta2)*dW**2; W = W - lr * dW / (sqrt(s) + eps)."""
    new_parameters, new_s = {}, {}
    for name, W in parameters.items():
        dW = grads[name]
        new_s[name] = beta2 * s[name] + (1 - beta2) * dW**2
        new_parameters[name] = W - learning_rate * dW / (np.sqrt(new_s[name]) + epsilon)
    return new_parameters, new_s


def update_parameters_with_adam(
    parameters: Arrays,
    grads: Arrays,
    v: Arrays,
    s: Arrays,
    t: int,
    learning_rate: float,
    beta1: float,
    beta2: float,
    epsilon: float,
) -> tuple[Arrays, Arrays, Arrays]:
    """Adam with bias correction; ``t`` is this update's number, counted from 1."""
    new_parameters, new_v, new_s = {}, {}, {}
    for name, W in parameters.items():
        dW = grads[name]
        new_v[name] = beta1 * v[name] + (1 - beta1) * dW
        new_s[name] = beta2 * s[name] + (1 - beta2) * dW**2
        v_hat = new_v[name] / (1 - beta1**t)
        s_hat = new_s[name] / (1 - beta2**t)
        new_parameters[name] = W - learning_rate * v_hat / (np.sqrt(s_hat) + epsilon)
    return new_parameters, new_v, new_s
