"""The trainer's fast paths keep their meaning: train metrics on a fixed stratified subsample
(exact, evaluation mode), parameters and gradients as views of flat buffers, the row layout of
loaded datasets, the one-pass finiteness check."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hpsearch.trainer import Network, TrainConfig, load_dataset, train
from hpsearch.trainer._optimizers import make_optimizer
from hpsearch.trainer._propagation import backward_propagation, forward_propagation
from hpsearch.trainer._train import TRAIN_METRICS_SAMPLES, MiniBatchTrainer, _check_data
from hpsearch.trainer.data._split import subsample


def blobs(m: int, n_classes: int = 3, n_x: int = 4, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    y = rng.choice(n_classes, size=m, p=np.linspace(1, 3, n_classes) / np.linspace(1, 3, 3).sum())
    X = rng.standard_normal((n_x, n_classes))[:, y] * 2 + rng.standard_normal((n_x, m))
    k = m - 300
    return SimpleNamespace(
        X_train=X[:, :k].astype(np.float32), y_train=y[:k],
        X_dev=X[:, k:].astype(np.float32), y_dev=y[k:], n_classes=n_classes,
    )  # fmt: skip


def test_train_metrics_come_from_a_fixed_stratified_subsample_not_a_full_pass(monkeypatch):
    data = blobs(TRAIN_METRICS_SAMPLES + 2300)  # 12,000 training samples
    sizes: list[int] = []
    evaluate = Network.evaluate

    def spy(self, X, y):
        sizes.append(X.shape[1])
        return evaluate(self, X, y)

    monkeypatch.setattr(Network, "evaluate", spy)
    cfg = TrainConfig(layers=1, units=8, dropout=0.5, batch_size=256, epochs=3)
    result = train(cfg, data)
    monkeypatch.undo()
    dev = data.X_dev.shape[1]
    assert sizes == [TRAIN_METRICS_SAMPLES, dev] * 3  # no pass over all 12,000, ever
    assert result.train_metrics_samples == TRAIN_METRICS_SAMPLES
    # exact metrics of the final parameters, in evaluation mode (no dropout), on the subsample
    idx = subsample(data.y_train, TRAIN_METRICS_SAMPLES, np.random.default_rng(0))
    loss, acc = result.network.evaluate(data.X_train[:, idx], data.y_train[idx])
    assert (result.train_loss, result.train_accuracy) == (loss, acc)
    last = result.history[-1]
    assert (last.train_loss, last.train_accuracy) == (loss, acc)
    # stratified: every class keeps its share within one sample
    full = np.bincount(data.y_train) / data.y_train.size * TRAIN_METRICS_SAMPLES
    assert np.all(np.abs(np.bincount(data.y_train[idx]) - full) <= 1)
    # fixed: the same samples whatever the trial's seed
    other = train(TrainConfig.from_dict({**cfg.to_dict(), "seed": 9}), data)
    assert other.network.evaluate(data.X_train[:, idx], data.y_train[idx]) == (
        other.train_loss,
        other.train_accuracy,
    )


def test_small_training_sets_are_measured_whole():
    data = blobs(2000)
    result = train(TrainConfig(layers=1, units=8, epochs=2), data)
    assert result.train_metrics_samples == data.X_train.shape[1]
    whole = result.network.evaluate(data.X_train, data.y_train)
    assert (result.train_loss, result.train_accuracy) == whole


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_parameters_and_gradients_are_views_of_flat_buffers(optimizer):
    cfg = TrainConfig(layers=2, units=8, batch_norm=True, optimizer=optimizer, batch_size=16)
    net = Network.initialize(cfg, 4, 3, np.random.default_rng(0))
    before = {k: v.copy() for k, v in net.params.items()}
    trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
    assert all(np.array_equal(before[k], net.params[k]) for k in before)  # moved, not changed
    for k, v in net.params.items():
        trainable = not k.startswith(("mu", "var"))
        assert np.shares_memory(v, trainer.flat_params) == trainable, k
        if trainable:
            assert np.shares_memory(trainer.grads[k], trainer.flat_grads), k
    # one step through the flat buffers equals one step of the same optimizer on dictionaries
    data = blobs(500)
    X, y = data.X_train[:, :16], data.y_train[:16]
    reference = {k: v.copy() for k, v in net.params.items()}
    trainer.step(X, y, 0.01, 1)
    ZL, caches = forward_propagation(X, reference, net.spec, rng=None)
    grads = backward_propagation(ZL, y, reference, caches, net.spec)
    make_optimizer(cfg).update(reference, grads, 0.01)
    for k in grads:
        assert np.array_equal(reference[k], net.params[k]), k


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
@pytest.mark.parametrize(
    "shape",
    [
        {"layers": 2, "units": 8, "batch_norm": True},  # W decayed; b, gamma, beta not
        {"conv_blocks": 1, "filters": (2,), "layers": 1, "units": 4},  # Wc1 decayed too
    ],
)
def test_the_optimizer_adds_the_l2_gradient_with_the_same_bits(optimizer, shape):
    # Training steps leave (lambd / m) W out of the backward pass and have the optimizer add it
    # block by block (update_flat's decay): the parameters must equal, bit for bit, a step whose
    # backward pass adds it to every weight and nothing else.
    image = (6, 5, 1)
    cfg = TrainConfig(**shape, lambd=0.7, optimizer=optimizer, batch_size=16)
    net = Network.initialize(cfg, 30, 3, np.random.default_rng(0), image_shape=image)
    reference = {k: v.copy() for k, v in net.params.items()}
    trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 16)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    optimizer_ref = make_optimizer(cfg)
    for _ in range(3):
        trainer.step(X, y, 0.01, 1)
        ZL, caches = forward_propagation(X, reference, net.spec, rng=None)
        grads = backward_propagation(ZL, y, reference, caches, net.spec)
        optimizer_ref.update(reference, grads, 0.01)
    for k in grads:
        assert np.array_equal(reference[k], net.params[k]), k


def test_loaded_datasets_store_samples_as_rows():
    """X (n_x, m) is a view of row-major samples, so train() gathers mini-batches without a
    transposing copy of the training set."""
    data = load_dataset("digits")
    for X in (data.X_train, data.X_dev, data.X_test):
        assert X.T.flags.c_contiguous and X.dtype == np.float32


def test_finite_check_survives_a_sum_that_overflows_and_still_refuses_nan():
    data = blobs(600)
    big = data.X_train.copy()
    big[:, :] = np.float32(3e38)  # finite, but their float32 sum overflows
    X_train = _check_data(SimpleNamespace(**{**vars(data), "X_train": big}), np.dtype("f4"))[0]
    assert X_train is big  # accepted, not copied
    bad = data.X_train.copy()
    bad[1, 2] = np.nan
    with pytest.raises(Exception, match="X_train expected finite numbers"):
        train(TrainConfig(layers=0, epochs=1), SimpleNamespace(**{**vars(data), "X_train": bad}))
