"""Unit tests of the trainer on arrays made here (the accuracy tests on real data are apart)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from hpsearch.trainer import (
    DivergedError,
    Network,
    TrainConfig,
    TrainerInputError,
    iter_train,
    train,
)
from hpsearch.trainer._layers import dropout_mask, uniform_uint16
from hpsearch.trainer._losses import (
    binary_cross_entropy,
    binary_cross_entropy_backward,
    categorical_cross_entropy,
    softmax,
)
from hpsearch.trainer._optimizers import GradientDescent
from hpsearch.trainer._propagation import NetSpec, backward_propagation, forward_propagation
from hpsearch.trainer._train import MiniBatchTrainer


def blobs(n_classes=3, m=150, n_x=4, seed=0, spread=1.0):
    """Gaussian blobs, one per class, split 2:1 into train and dev; a Dataset stand-in."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_x, n_classes)) * 3
    y = rng.integers(0, n_classes, size=m)
    X = centers[:, y] + spread * rng.standard_normal((n_x, m))
    k = 2 * m // 3
    return SimpleNamespace(
        X_train=X[:, :k].astype(np.float32),
        y_train=y[:k],
        X_dev=X[:, k:].astype(np.float32),
        y_dev=y[k:],
        n_classes=n_classes,
    )


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("layers", -1),
        ("units", 0),
        ("units", (4, 4, 4)),  # layers=2
        ("activation", "softplus"),
        ("init", "zeros"),
        ("init_scale", 0.0),
        ("optimizer", "sgd"),
        ("learning_rate", 0),
        ("beta1", 1.0),
        ("lr_decay", "step"),
        ("lambd", -0.1),
        ("dropout", 1.0),
        ("dropout", (0.1,)),
        ("batch_size", -1),
        ("epochs", 0),
        ("dtype", "float16"),
        ("leaky_slope", 1.5),
        ("batch_norm", "yes"),
        ("seed", 1.5),
    ],
)
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(TrainerInputError, match=rf"TrainConfig\.{field}: expected") as e:
        TrainConfig(**{"layers": 2, field: value})
    assert "\n" not in str(e.value)
    assert e.value.field == field  # callers map it to their own flag or key, not the text


def test_zero_init_is_refused():
    with pytest.raises(TrainerInputError, match="init"):
        TrainConfig(init="zeros")
    with pytest.raises(TrainerInputError, match="init_scale"):
        TrainConfig(init="small", init_scale=0.0)


def test_exponential_decay_needs_a_rate_in_0_1():
    with pytest.raises(TrainerInputError, match="decay_rate"):
        TrainConfig(lr_decay="exponential", decay_rate=0.0)


def test_config_dict_round_trip_and_unknown_key():
    cfg = TrainConfig(layers=3, units=(8, 4, 2), dropout=(0.1, 0.2, 0.0), batch_norm=True)
    d = cfg.to_dict()
    assert d["units"] == [8, 4, 2]
    assert TrainConfig.from_dict(d) == cfg
    with pytest.raises(TrainerInputError, match="unknown setting 'lr'") as e:
        TrainConfig.from_dict({"lr": 0.1})
    assert e.value.field == "lr"


def test_numpy_scalars_and_lists_become_plain_values():
    cfg = TrainConfig(
        layers=np.int64(2), units=[np.int64(3), 4], learning_rate=np.float32(0.5), lambd=1
    )
    assert cfg.units == (3, 4) and type(cfg.layers) is int
    assert type(cfg.learning_rate) is float and cfg.lambd == 1.0 and type(cfg.lambd) is float
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_layer_dims():
    assert TrainConfig(layers=2, units=5).layer_dims(3, 2) == [3, 5, 5, 1]
    assert TrainConfig(layers=0).layer_dims(3, 4) == [3, 4]


# --- losses ---------------------------------------------------------------------------------


def test_losses_are_stable_for_huge_logits():
    Z = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    y = np.array([0, 1, 1])
    # sigmoid(1e4) = 1 with label 0 -> loss 1e4; sigmoid(-1e4) with label 1 -> 1e4; log 2
    assert binary_cross_entropy(Z, y) == pytest.approx((2e4 + math.log(2)) / 3, rel=1e-6)
    assert np.isfinite(binary_cross_entropy_backward(Z, y)).all()
    Zc = np.array([[1e4, 0.0], [0.0, 1e4], [-1e4, 0.0]], dtype=np.float32)
    assert categorical_cross_entropy(Zc, np.array([0, 1])) == pytest.approx(0.0, abs=1e-6)
    assert categorical_cross_entropy(Zc, np.array([2, 1])) == pytest.approx(1e4, rel=1e-6)
    P = softmax(Zc)
    assert np.isfinite(P).all() and np.allclose(P.sum(axis=0), 1.0)


def test_losses_match_the_textbook_formulas_for_moderate_logits():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((1, 20))
    y = rng.integers(0, 2, 20)
    a = 1 / (1 + np.exp(-Z[0]))
    expected = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert binary_cross_entropy(Z, y) == pytest.approx(expected, rel=1e-12)
    Zc = rng.standard_normal((4, 20))
    yc = rng.integers(0, 4, 20)
    P = np.exp(Zc) / np.exp(Zc).sum(axis=0)
    expected = -np.mean(np.log(P[yc, np.arange(20)]))
    assert categorical_cross_entropy(Zc, yc) == pytest.approx(expected, rel=1e-12)


# --- symmetry, dropout, batch norm ----------------------------------------------------------


def test_zero_weights_keep_every_unit_of_a_layer_identical():
    """Why the API refuses zero init: gradient steps never break the symmetry."""
    data = blobs(n_classes=3, m=90, n_x=4)
    config = TrainConfig(layers=2, units=5, activation="sigmoid", optimizer="gd", learning_rate=0.5)
    spec = NetSpec.from_config(config)
    random_net = Network.initialize(config, 4, 3, np.random.default_rng(0))
    zero = {k: np.zeros_like(v) for k, v in random_net.params.items()}
    for params in (zero, random_net.params):
        opt = GradientDescent()
        for _ in range(50):
            ZL, caches = forward_propagation(data.X_train, params, spec)
            opt.update(params, backward_propagation(ZL, data.y_train, params, caches, spec), 0.5)
    for l in (1, 2):
        W = zero[f"W{l}"]
        assert np.abs(W).max() > 0  # it did learn something ...
        assert np.allclose(W, W[0:1, :])  # ... but every unit (row) of the layer is the same
        W = random_net.params[f"W{l}"]
        assert not np.allclose(W, W[0:1, :])


def test_dropout_mask_drops_the_right_fraction_and_rescales():
    mask = dropout_mask((200, 500), 0.3, np.random.default_rng(0), np.dtype(np.float32))
    kept = mask > 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    assert np.allclose(mask[kept], 1 / 0.7)
    assert mask.mean() == pytest.approx(1.0, abs=0.02)


def _live_state(rng: np.random.Generator) -> dict:
    """PCG64's state without the stale cached half-output (``uinteger`` when has_uint32 is 0)."""
    state = rng.bit_generator.state
    if not state["has_uint32"]:
        state["uinteger"] = None
    return state


def test_fast_dropout_draws_equal_numpys_integers_draw_for_draw():
    """uniform_uint16 takes PCG64's raw outputs when it can: same numbers and same generator
    state after as rng.integers, whatever mix of sizes (odd ones leave half an output behind)."""
    sizes = [256 * 128, 8, 1000, 7, 12, 6, 4, 3, 40, 128 * 96, 1, 2, 16]
    fast, slow = np.random.default_rng(7), np.random.default_rng(7)
    for n in sizes:
        got = uniform_uint16(fast, n)
        assert np.array_equal(got, slow.integers(0, 65536, size=n, dtype=np.uint16)), n
        assert _live_state(fast) == _live_state(slow), n
    assert np.array_equal(fast.random(5), slow.random(5))


def test_dropout_is_off_at_evaluation():
    data = blobs()
    result = train(TrainConfig(layers=2, units=16, dropout=0.5, epochs=3), data)
    net = result.network
    first = net.predict_proba(data.X_dev)
    assert np.array_equal(first, net.predict_proba(data.X_dev))
    loss, acc = net.evaluate(data.X_train, data.y_train)
    assert (loss, acc) == (result.train_loss, result.train_accuracy)


def test_batch_norm_drops_b_and_evaluates_with_running_statistics():
    data = blobs(m=300)
    cfg = TrainConfig(
        layers=2, units=8, batch_norm=True, epochs=10, batch_size=16, learning_rate=0.01
    )
    result = train(cfg, data)
    p = result.network.params
    assert "b1" not in p and "b2" not in p and "b3" in p
    assert {"gamma1", "beta1", "mu1", "var1", "gamma2", "beta2", "mu2", "var2"} <= set(p)
    assert not np.allclose(p["mu1"], 0) and not np.allclose(p["var1"], 1)
    # evaluation mode: one sample's prediction does not depend on the rest of the batch
    X = data.X_dev
    whole = result.network.predict_proba(X)
    alone = np.concatenate([result.network.predict_proba(X[:, i : i + 1]) for i in range(5)], 1)
    np.testing.assert_allclose(whole[:, :5], alone, rtol=1e-5)
    assert result.dev_accuracy > 0.9


# --- train() --------------------------------------------------------------------------------


def test_train_result_and_history():
    data = blobs()
    seen = []
    result = train(TrainConfig(layers=1, units=8, epochs=4), data, on_epoch=seen.append)
    assert [m.epoch for m in result.history] == [1, 2, 3, 4] and seen == result.history
    assert result.stopped == "completed" and result.epochs_run == 4
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert all(m.epoch_s > 0 and m.elapsed_s >= m.epoch_s for m in result.history)
    assert result.n_params == 4 * 8 + 8 + 8 * 3 + 3 == result.network.n_params
    assert result.network.params["W1"].dtype == np.float32
    bv = result.bias_variance
    assert bv.train_error == pytest.approx(1 - result.train_accuracy)


def test_mini_batches_cover_the_epoch_with_a_partial_last_batch():
    data = blobs(m=150)  # 100 training samples
    for batch_size, steps in ((32, 4), (100, 1), (0, 1), (7, 15)):
        cfg = TrainConfig(layers=1, units=4, batch_size=batch_size)
        net = Network.initialize(cfg, 4, 3, np.random.default_rng(0))
        trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
        X_rows = np.ascontiguousarray(data.X_train.T)
        trainer.run_epoch(X_rows, data.y_train, 1e-3, 1, np.random.default_rng(2))
        assert trainer.optimizer.t == steps


def test_callback_can_stop_training():
    result = train(TrainConfig(layers=1, epochs=10), blobs(), on_epoch=lambda m: m.epoch == 3)
    assert result.stopped == "callback" and result.epochs_run == 3


def test_iter_train_streams_epochs_and_stops_on_send_true():
    gen = iter_train(TrainConfig(layers=1, epochs=10), blobs())
    first = next(gen)
    assert first.epoch == 1
    assert np.geterr()["over"] == "warn"  # the trainer's errstate does not leak to the caller
    assert gen.send(False).epoch == 2
    with pytest.raises(StopIteration) as done:
        gen.send(True)
    result = done.value.value
    assert result.stopped == "callback" and result.epochs_run == 2


def test_early_stopping_restores_the_best_epoch():
    data = blobs(m=60, n_x=20, spread=3.0, seed=4)  # few noisy samples: the dev loss goes up
    cfg = TrainConfig(layers=2, units=64, learning_rate=0.01, batch_size=8, epochs=200, patience=5)
    result = train(cfg, data)
    assert result.stopped == "early_stopping"
    assert result.epochs_run == result.best_epoch + 5
    best = result.history[result.best_epoch - 1]
    assert best.dev_loss == min(m.dev_loss for m in result.history)
    assert result.dev_loss == best.dev_loss
    assert result.network.evaluate(data.X_dev, data.y_dev)[0] == pytest.approx(best.dev_loss)


def test_same_seed_gives_bit_identical_parameters():
    data = blobs()
    cfg = TrainConfig(layers=2, units=16, dropout=0.2, batch_size=16, epochs=3, seed=5)
    a = train(cfg, data).network.params
    b = train(cfg, data).network.params
    c = train(TrainConfig.from_dict({**cfg.to_dict(), "seed": 6}), data).network.params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W1"], c["W1"])


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_float32_throughout_a_step(optimizer):
    """No silent float64 upcast anywhere: parameters, gradients, optimizer state, activations."""
    cfg = TrainConfig(
        layers=2, units=8, batch_norm=True, dropout=0.3, lambd=0.1, optimizer=optimizer,
        activation="leaky_relu", batch_size=16,
    )  # fmt: skip
    net = Network.initialize(cfg, 4, 3, np.random.default_rng(0))
    trainer = MiniBatchTrainer(net, dropout_rng=np.random.default_rng(1))
    data = blobs()
    trainer.run_epoch(data.X_train.T.copy(), data.y_train, 0.01, 1, np.random.default_rng(2))
    ZL, caches = forward_propagation(data.X_train, net.params, net.spec, rng=trainer.dropout_rng)
    arrays = [ZL, *net.params.values(), *trainer.grads.values()]
    arrays += [a for c in caches for a in (c.Z, c.A)]
    arrays += [
        a for d in vars(trainer.optimizer).values() if isinstance(d, dict) for a in d.values()
    ]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


def test_float64_is_selectable():
    result = train(TrainConfig(layers=1, units=4, epochs=2, dtype="float64"), blobs())
    assert all(v.dtype == np.float64 for v in result.network.params.values())


def test_divergence_raises_instead_of_returning_garbage():
    data = blobs()
    data.X_train = data.X_train * 1e3
    cfg = TrainConfig(layers=3, units=32, optimizer="gd", learning_rate=1e3, epochs=50)
    with pytest.raises(DivergedError) as e:
        train(cfg, data)
    assert e.value.epoch >= 1
    assert not math.isfinite(e.value.loss)


@pytest.mark.parametrize(
    ("attr", "value", "match"),
    [
        ("y_train", "labels", "y_train"),
        ("n_classes", 1, "n_classes"),
        ("X_dev", np.zeros((3, 5)), "X_dev"),
    ],
)
def test_bad_data_is_reported_in_one_line(attr, value, match):
    data = blobs()
    if attr == "y_train" and value == "labels":
        value = data.y_train + 5  # out of range
    setattr(data, attr, value)
    with pytest.raises(TrainerInputError, match=match) as e:
        train(TrainConfig(layers=1, epochs=1), data)
    assert "\n" not in str(e.value)


# --- network --------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 4])
def test_predict_and_predict_proba(n_classes):
    data = blobs(n_classes=n_classes)
    net = train(TrainConfig(layers=1, units=8, epochs=3), data).network
    P = net.predict_proba(data.X_dev)
    labels = net.predict(data.X_dev)
    assert labels.dtype == np.int64 and labels.shape == data.y_dev.shape
    if n_classes == 2:
        assert P.shape == (1, data.X_dev.shape[1])
        assert np.array_equal(labels, (P[0] > 0.5).astype(np.int64))
    else:
        assert P.shape == (n_classes, data.X_dev.shape[1])
        np.testing.assert_allclose(P.sum(axis=0), 1.0, rtol=1e-5)
        assert np.array_equal(labels, P.argmax(axis=0))
    with pytest.raises(TrainerInputError, match=r"X: expected shape \(4, m\)"):
        net.predict(data.X_dev[:2])


def test_save_and_load_round_trip(tmp_path):
    data = blobs()
    cfg = TrainConfig(layers=2, units=(8, 4), batch_norm=True, epochs=2, dtype="float64")
    net = train(cfg, data).network
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = Network.load(path)
    assert loaded.config == cfg and loaded.n_x == 4 and loaded.n_classes == 3
    assert all(np.array_equal(loaded.params[k], v) for k, v in net.params.items())
    assert np.array_equal(loaded.predict_proba(data.X_dev), net.predict_proba(data.X_dev))
    again = Network.from_npz_bytes(net.to_npz_bytes())
    assert again.to_npz_bytes() == net.to_npz_bytes()
    with np.load(path, allow_pickle=False) as npz:  # no object arrays anywhere
        assert all(npz[k].dtype != object for k in npz.files)


def test_loading_a_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(TrainerInputError, match=r"bad\.npz"):
        Network.load(bad)
    with pytest.raises(TrainerInputError, match="cannot read"):
        Network.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", W1=np.zeros(3))
    with pytest.raises(TrainerInputError, match="header"):
        Network.load(tmp_path / "other.npz")
