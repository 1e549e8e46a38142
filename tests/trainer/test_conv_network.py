"""Convolutional networks end to end: gradients of the whole network (ours and PyTorch's),
training on digits, replay bit for bit, persistence, evaluation in chunks, memory estimate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hpsearch.trainer import (
    Network,
    TrainConfig,
    TrainerInputError,
    estimate_memory_bytes,
    gradient_check,
    load_dataset,
    train,
)
from hpsearch.trainer._conv_shapes import same_padding
from hpsearch.trainer._gradcheck import backprop_gradients, relative_difference
from hpsearch.trainer._init import is_trainable

THRESHOLD = 1e-7
IMAGE = (12, 11, 2)  # (n_H, n_W, n_C): not square, several channels


def cnn_problem(config: TrainConfig, rng: np.random.Generator, n_classes: int = 3, m: int = 5):
    n_x = int(np.prod(IMAGE))
    X = rng.standard_normal((n_x, m))  # (n_x, m)
    y = rng.integers(0, n_classes, size=m)
    y[:n_classes] = np.arange(n_classes)
    net = Network.initialize(config, n_x, n_classes, rng, image_shape=IMAGE)
    params = {}
    for k, v in net.params.items():  # move biases off 0: no ReLU input sits on its kink
        v = v.astype(np.float64)
        params[k] = v + 0.1 * rng.standard_normal(v.shape) if is_trainable(k) else v
    return params, X, y


NETWORKS = [
    {"pool": "max"},
    {"pool": "avg", "padding": "valid", "kernel": 2},
    {"pool": "none", "stride": 2},
    {"pool": "max", "activation": "tanh", "lambd": 0.7, "layers": 0},
    {"pool": "max", "batch_norm": True, "activation": "leaky_relu"},
    {"pool": "avg", "stride": 2, "kernel": 2, "n_classes": 2, "activation": "sigmoid"},
]


@pytest.mark.parametrize("overrides", NETWORKS)
def test_conv_pool_dense_network_gradients(overrides):
    overrides = dict(overrides)
    n_classes = overrides.pop("n_classes", 3)
    base = {"conv_blocks": 2, "filters": (3, 2), "layers": 1, "units": 4, "dtype": "float64"}
    config = TrainConfig(**(base | overrides))
    params, X, y = cnn_problem(config, np.random.default_rng(len(str(overrides))), n_classes)
    diff = gradient_check(config, params, X, y, image_shape=IMAGE)
    assert diff < THRESHOLD, f"{overrides}: relative difference {diff:.2e}"


def torch_gradients(torch, config: TrainConfig, params, X, y):
    """The same network in PyTorch (NCHW, weights (n_C, n_C_prev, f, f)), autograd's grads."""
    F = torch.nn.functional
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if is_trainable(k)}

    def bn(Z, name):  # batch statistics over every axis but the channels (axis 1)
        gamma, beta = t[f"gamma{name}"].reshape(-1), t[f"beta{name}"].reshape(-1)
        return F.batch_norm(Z, None, None, gamma, beta, training=True, eps=1e-5)

    m = X.shape[1]
    A = torch.tensor(X.T.reshape(m, *IMAGE)).permute(0, 3, 1, 2)  # (m, n_C, n_H, n_W)
    lo, hi = same_padding(config.kernel) if config.padding == "same" else (0, 0)
    for k in range(1, config.conv_blocks + 1):
        A = F.pad(A, (lo, hi, lo, hi))
        W = t[f"Wc{k}"].permute(3, 2, 0, 1)  # (n_C, n_C_prev, f, f)
        if config.batch_norm:
            A = bn(F.conv2d(A, W, None, stride=config.stride), f"c{k}")
        else:
            A = F.conv2d(A, W, t[f"bc{k}"].reshape(-1), stride=config.stride)
        A = torch.relu(A)
        if config.pool == "max":
            A = F.max_pool2d(A, config.pool_size)
        elif config.pool == "avg":
            A = F.avg_pool2d(A, config.pool_size)
    A = A.permute(0, 2, 3, 1).reshape(m, -1).T  # (n_flat, m), flattened as (n_H, n_W, n_C)
    for l in range(1, config.layers + 1):
        if config.batch_norm:
            A = torch.relu(bn((t[f"W{l}"] @ A).T, l).T)
        else:
            A = torch.relu(t[f"W{l}"] @ A + t[f"b{l}"])
    L = config.layers + 1
    ZL = t[f"W{L}"] @ A + t[f"b{L}"]  # (C, m)
    loss = F.cross_entropy(ZL.T, torch.tensor(y))
    loss = loss + config.lambd / (2 * m) * sum(
        (v**2).sum() for k, v in t.items() if k.startswith("W")
    )
    loss.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize(
    "overrides",
    [
        {"pool": "max"},
        {"pool": "avg", "stride": 2, "lambd": 0.3},
        {"pool": "none", "kernel": 2, "padding": "same"},  # even f: asymmetric padding
        {"pool": "max", "padding": "valid", "layers": 0},
        {"pool": "max", "batch_norm": True, "negative_gamma": True},
        {"pool": "avg", "batch_norm": True, "kernel": 5},
    ],
)
def test_gradients_equal_pytorch_autograd(overrides):
    torch = pytest.importorskip("torch", reason="torch not installed: PyTorch comparison skipped")
    base = {"conv_blocks": 2, "filters": (4, 3), "layers": 1, "units": 5, "dtype": "float64"}
    overrides = dict(overrides)
    negative_gamma = overrides.pop("negative_gamma", False)
    config = TrainConfig(**(base | overrides))
    params, X, y = cnn_problem(config, np.random.default_rng(7), n_classes=4, m=6)
    if negative_gamma:  # max pooling before the activation must still follow batch norm
        for k in ("gammac1", "gammac2"):
            params[k] *= -1.0
    ours = backprop_gradients(config, params, X, y, image_shape=IMAGE)
    theirs = torch_gradients(torch, config, params, X, y)
    assert sorted(ours) == sorted(theirs)
    for name, g in ours.items():
        diff = relative_difference(g, theirs[name])
        assert diff < 1e-6, f"{name}: relative difference to PyTorch {diff:.2e}"


def digits(**overrides) -> tuple[TrainConfig, SimpleNamespace]:
    d = load_dataset("digits")
    data = SimpleNamespace(
        X_train=d.X_train, y_train=d.y_train, X_dev=d.X_dev, y_dev=d.y_dev,
        n_classes=d.n_classes, image_shape=(8, 8, 1),
    )  # fmt: skip
    settings = {"conv_blocks": 1, "filters": 8, "layers": 1, "units": 32, "epochs": 4}
    settings |= {"batch_size": 32, "learning_rate": 3e-3}
    return TrainConfig(**(settings | overrides)), data


def test_a_small_cnn_learns_digits():
    config, data = digits()
    result = train(config, data)
    assert result.dev_accuracy > 0.9  # chance is 0.1
    assert result.network.image_shape == (8, 8, 1)
    assert result.n_params == 8 * 9 + 8 + (4 * 4 * 8) * 32 + 32 + 32 * 10 + 10


def test_same_seed_cnn_training_is_bit_identical():
    config, data = digits(
        conv_blocks=2, filters=(4, 6), epochs=2, dropout=0.2, pool="avg", batch_norm=True
    )
    a, b = train(config, data), train(config, data)
    assert list(a.network.params) == list(b.network.params)
    for k, v in a.network.params.items():
        assert np.array_equal(v, b.network.params[k]), k
    assert [e.dev_loss for e in a.history] == [e.dev_loss for e in b.history]
    assert np.any(a.network.params["muc1"] != 0.0)  # running statistics were updated
    assert "bc1" not in a.network.params  # betac1 replaces the bias


def test_a_conv_config_without_an_image_shape_is_refused():
    config, data = digits()
    del data.image_shape
    with pytest.raises(TrainerInputError, match="needs an image dataset") as info:
        train(config, data)
    assert info.value.field == "conv_blocks"


def test_a_wrong_image_shape_is_refused():
    config, data = digits()
    data.image_shape = (8, 4, 1)
    with pytest.raises(TrainerInputError, match="n_x = 64") as info:
        train(config, data)
    assert info.value.field == "image_shape"


def test_save_and_load_round_trip(tmp_path):
    config = TrainConfig(conv_blocks=2, filters=(3, 5), kernel=3, pool="max", layers=1, units=6)
    net = Network.initialize(
        config, 10 * 10 * 2, 4, np.random.default_rng(1), image_shape=(10, 10, 2)
    )
    path = tmp_path / "cnn.npz"
    net.save(path)
    back = Network.load(path)
    assert back.image_shape == (10, 10, 2)
    assert back.config == config
    assert list(back.params) == list(net.params)
    X = np.random.default_rng(2).standard_normal((200, 9)).astype(np.float32)
    assert np.array_equal(back.logits(X), net.logits(X))


def test_a_dense_network_file_has_no_image_shape(tmp_path):
    net = Network.initialize(TrainConfig(), 4, 3, np.random.default_rng(0))
    net.save(tmp_path / "dense.npz")
    assert Network.load(tmp_path / "dense.npz").image_shape is None


def test_evaluation_in_chunks_equals_one_pass():
    config = TrainConfig(conv_blocks=1, filters=8, layers=0, dtype="float64")
    net = Network.initialize(config, 64, 10, np.random.default_rng(3), image_shape=(8, 8, 1))
    X = np.random.default_rng(4).standard_normal((64, 50))
    whole = net.logits(X)
    net.eval_chunk = 7
    assert np.allclose(net.logits(X), whole, rtol=1e-12, atol=1e-12)


def test_memory_estimate_counts_the_conv_blocks():
    dense = TrainConfig(layers=1, units=120)
    conv = TrainConfig(conv_blocks=2, filters=(32, 64), layers=1, units=120)
    shape = (28, 28, 1)
    small = estimate_memory_bytes(dense, 784, 10, 128)
    big = estimate_memory_bytes(conv, 784, 10, 128, image_shape=shape)
    # the second block's im2col alone: 128 samples x 14 x 14 pixels x 3 x 3 x 32 values
    assert big - small > 128 * 14 * 14 * 9 * 32 * 4
    assert estimate_memory_bytes(conv, 784, 10, 256, image_shape=shape) > big
    net = Network.initialize(conv, 784, 10, np.random.default_rng(0), image_shape=shape)
    assert big > 5 * net.n_params * 4  # params, grads, Adam's two states, scratch
    with pytest.raises(TrainerInputError):
        estimate_memory_bytes(conv, 784, 10, 128)
