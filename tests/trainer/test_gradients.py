"""Every gradient checked against central differences in float64 (threshold 1e-7).

Layer sizes are drawn from a seeded generator passed in explicitly; on failure the message lists
each parameter's relative difference and its worst entries.
"""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import Network, TrainConfig, gradient_check
from hpsearch.trainer._gradcheck import backprop_gradients, numerical_gradients, relative_difference
from hpsearch.trainer._init import is_trainable
from hpsearch.trainer._layers import dropout_mask

THRESHOLD = 1e-7
ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid"]


def make_problem(config: TrainConfig, n_classes: int, rng: np.random.Generator, m: int = 7):
    """Random layer sizes (through config.units), random data, and perturbed parameters."""
    n_x = int(rng.integers(2, 6))
    X = rng.standard_normal((n_x, m))  # (n_x, m)
    y = rng.integers(0, n_classes, size=m)
    y[:n_classes] = np.arange(n_classes)  # every class present
    net = Network.initialize(config, n_x, n_classes, rng)
    params = {}
    for k, v in net.params.items():
        v = v.astype(np.float64)
        if is_trainable(k):  # move biases, gamma and beta away from 0 / 1
            v = v + 0.1 * rng.standard_normal(v.shape)
        params[k] = v
    return params, X, y


def random_config(rng: np.random.Generator, **overrides) -> TrainConfig:
    layers = overrides.pop("layers", int(rng.integers(1, 4)))
    units = tuple(int(u) for u in rng.integers(2, 6, size=layers))
    return TrainConfig(layers=layers, units=units, dtype="float64", **overrides)


def report(config, params, X, y, masks=None) -> str:
    """Readable diff: relative difference per parameter and its worst entries."""
    g = backprop_gradients(config, params, X, y, masks)
    g_num = numerical_gradients(config, params, X, y, masks)
    lines = [f"gradient check failed for {config}"]
    for name in sorted(g):
        diff = relative_difference(g[name], g_num[name])
        worst = np.argsort(np.abs(g[name] - g_num[name]).ravel())[::-1][:3]
        entries = ", ".join(
            f"[{i}] backprop {g[name].ravel()[i]:+.8e} numeric {g_num[name].ravel()[i]:+.8e}"
            for i in worst
        )
        lines.append(f"  {name} {g[name].shape}: rel diff {diff:.2e}; worst {entries}")
    return "\n".join(lines)


def check(config: TrainConfig, n_classes: int, seed: int, *, with_masks: bool = False):
    rng = np.random.default_rng(seed)
    params, X, y = make_problem(config, n_classes, rng)
    masks = None
    if with_masks:
        masks = {
            l: dropout_mask((params[f"W{l}"].shape[0], X.shape[1]), p, rng, np.dtype(np.float64))
            for l, p in enumerate(config.dropout_rates, start=1)
        }
    diff = gradient_check(config, params, X, y, masks=masks)
    assert diff < THRESHOLD, report(config, params, X, y, masks)
    return diff


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_every_activation_and_output_kind(activation, n_classes):
    seed = 100 + ACTIVATIONS.index(activation) * 10 + n_classes
    config = random_config(np.random.default_rng(seed), activation=activation, leaky_slope=0.1)
    check(config, n_classes, seed)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_and_softmax_regression(n_classes):
    check(TrainConfig(layers=0, dtype="float64"), n_classes, seed=7)


@pytest.mark.parametrize("n_classes", [2, 5])
def test_l2(n_classes):
    config = random_config(np.random.default_rng(11), activation="tanh", lambd=0.7)
    check(config, n_classes, seed=11)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_batch_norm(activation, n_classes):
    config = random_config(np.random.default_rng(21), activation=activation, batch_norm=True)
    check(config, n_classes, seed=21 + n_classes)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_dropout_with_fixed_masks(n_classes):
    rng = np.random.default_rng(31)
    config = random_config(rng, layers=2, activation="sigmoid", dropout=(0.3, 0.5))
    check(config, n_classes, seed=31, with_masks=True)


def test_everything_at_once():
    rng = np.random.default_rng(41)
    config = random_config(
        rng, layers=3, activation="leaky_relu", lambd=0.3, batch_norm=True, dropout=0.25
    )
    check(config, 3, seed=41, with_masks=True)


def test_gradient_check_catches_a_wrong_gradient(monkeypatch):
    """The check itself can fail: a derivative off by a factor 2 is reported."""
    import hpsearch.trainer._activations as act

    config = random_config(np.random.default_rng(51), activation="tanh")
    rng = np.random.default_rng(51)
    params, X, y = make_problem(config, 3, rng)

    def wrong_tanh_backward(dA, Z, A):
        return 2.0 * dA * (1.0 - A**2)

    monkeypatch.setattr(act, "tanh_backward", wrong_tanh_backward)
    assert gradient_check(config, params, X, y) > 1e-3
