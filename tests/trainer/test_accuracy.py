"""Training to known accuracies on real data: the maths is right when these numbers are reached."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hpsearch.trainer import TrainConfig, load_dataset, train

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """These matrices are small: a 2nd BLAS thread only adds overhead, and on a loaded machine
    its spin-waiting makes the tests many times slower."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def separable(n_classes: int, m: int = 400, n_x: int = 5, seed: int = 0) -> SimpleNamespace:
    """Linearly separable classes: each point is labelled by its largest score w_k . x, and
    points closer than a margin to a boundary are dropped."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, 3 * m))  # (n_x, 3m)
    scores = rng.standard_normal((n_classes if n_classes > 2 else 1, n_x)) @ X
    if n_classes == 2:
        scores = np.vstack([-scores, scores])
    top2 = np.sort(scores, axis=0)[-2:]
    keep = np.flatnonzero(top2[1] - top2[0] > 0.5)[:m]
    X, y = X[:, keep], np.argmax(scores[:, keep], axis=0)
    return SimpleNamespace(
        X_train=X[:, : m // 2], y_train=y[: m // 2], X_dev=X[:, m // 2 :], y_dev=y[m // 2 :],
        n_classes=n_classes,
    )  # fmt: skip


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_and_softmax_regression_separate_separable_data(n_classes):
    data = separable(n_classes)
    cfg = TrainConfig(layers=0, optimizer="gd", learning_rate=1.0, batch_size=0, epochs=2000)
    result = train(cfg, data)
    assert result.train_accuracy == 1.0
    assert result.dev_accuracy > 0.97
    assert result.network.params["W1"].shape == (1 if n_classes == 2 else n_classes, 5)


def test_one_tanh_layer_of_4_units_fits_the_flower():
    """Ng course 1 week 3: 4 tanh units, gd lr 1.2, 10,000 full-batch iterations (~90%)."""
    data = load_dataset("flower")
    cfg = TrainConfig(
        layers=1, units=4, activation="tanh", init="small", optimizer="gd",
        learning_rate=1.2, batch_size=0, epochs=10_000,
    )  # fmt: skip
    result = train(cfg, data)
    assert result.train_accuracy >= 0.88
    assert result.dev_accuracy >= 0.80
    logistic = train(TrainConfig(layers=0, optimizer="gd", learning_rate=1.2, batch_size=0), data)
    assert logistic.train_accuracy < 0.7  # the flower is not linearly separable


def test_relu_adam_network_on_digits(digits):
    cfg = TrainConfig(
        layers=1, units=256, activation="relu", optimizer="adam", dropout=0.3,
        batch_size=16, epochs=60,
    )  # fmt: skip
    result = train(cfg, digits)
    assert result.dev_accuracy >= 0.97
    assert result.network.evaluate(digits.X_test, digits.y_test)[1] >= 0.95


def test_l2_and_dropout_each_reduce_the_train_dev_gap(digits):
    """A wide network on 300 digits with 25% of their labels flipped memorises the noise (train
    accuracy 1.0, dev loss far above train loss); L2 and dropout each shrink both gaps."""
    rng = np.random.default_rng(0)
    n = 300
    y = digits.y_train[:n].copy()
    flip = rng.random(n) < 0.25
    y[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10
    small = SimpleNamespace(
        X_train=digits.X_train[:, :n], y_train=y, X_dev=digits.X_dev, y_dev=digits.y_dev,
        n_classes=10,
    )  # fmt: skip
    base = {"layers": 2, "units": 256, "batch_size": 64, "epochs": 100}

    def gaps(**extra):
        r = train(TrainConfig(**base, **extra), small)
        return r.train_accuracy - r.dev_accuracy, r.dev_loss - r.train_loss, r

    acc_gap, loss_gap, plain = gaps()
    assert plain.train_accuracy == 1.0 and plain.bias_variance.diagnosis == "high variance"
    for extra in ({"lambd": 2.0}, {"dropout": 0.6}):
        reg_acc_gap, reg_loss_gap, reg = gaps(**extra)
        assert reg_acc_gap < acc_gap - 0.1, (extra, reg_acc_gap, acc_gap)
        assert reg_loss_gap < loss_gap / 2, (extra, reg_loss_gap, loss_gap)
        assert reg.dev_accuracy > plain.dev_accuracy
