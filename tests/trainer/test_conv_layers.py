"""Convolution and pooling layers (course 4): gradients against central differences in float64,
shapes against the course's formula floor((n + 2p - f) / s) + 1, and conv_output_shapes."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import TrainConfig, TrainerInputError, conv_output_shapes
from hpsearch.trainer._conv import conv_backward, conv_forward, conv_input_gradient
from hpsearch.trainer._conv_shapes import same_padding
from hpsearch.trainer._gradcheck import relative_difference
from hpsearch.trainer._pool import pool_backward, pool_forward

THRESHOLD = 1e-7
EPS = 1e-6


def numeric_grad(f, x: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of x (in place)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + EPS
        plus = f()
        x[i] = saved - EPS
        minus = f()
        x[i] = saved
        g[i] = (plus - minus) / (2 * EPS)
    return g


def report(name: str, g: np.ndarray, g_num: np.ndarray) -> str:
    worst = np.unravel_index(np.argmax(np.abs(g - g_num)), g.shape)
    return f"{name}: relative difference {relative_difference(g, g_num):.2e}, worst at {worst}"


CONV_CASES = [  # (f, stride, padding, n_C_prev, n_C, n_H_prev, n_W_prev)
    (3, 1, "same", 3, 4, 6, 5),
    (3, 1, "valid", 2, 3, 5, 6),
    (3, 2, "same", 3, 2, 7, 6),
    (2, 2, "valid", 4, 3, 6, 7),
    (2, 1, "same", 2, 2, 5, 5),  # even f: the extra padding row/column goes after
    (5, 2, "same", 1, 3, 8, 8),
]


@pytest.mark.parametrize(
    ("f", "s", "padding", "n_C_prev", "n_C", "n_H_prev", "n_W_prev"), CONV_CASES
)
def test_conv_gradients_match_central_differences(f, s, padding, n_C_prev, n_C, n_H_prev, n_W_prev):
    rng = np.random.default_rng(f * 100 + s * 10 + n_C_prev)
    m = 3
    pad = same_padding(f) if padding == "same" else (0, 0)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev))
    W = rng.standard_normal((f, f, n_C_prev, n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    Z, cache = conv_forward(A_prev, W, b, s, pad)
    n_H = (n_H_prev + pad[0] + pad[1] - f) // s + 1
    n_W = (n_W_prev + pad[0] + pad[1] - f) // s + 1
    assert Z.shape == (m, n_H, n_W, n_C)
    if padding == "same":
        assert (n_H, n_W) == (-(-n_H_prev // s), -(-n_W_prev // s))  # ceil(n / s)
    G = rng.standard_normal(Z.shape)  # J = sum(G * Z): dZ = G

    def J() -> float:
        return float(np.sum(conv_forward(A_prev, W, b, s, pad)[0] * G))

    dW, db = np.empty_like(W), np.empty_like(b)
    dA_prev = conv_backward(G, cache, W, dW, db)
    assert dA_prev.shape == A_prev.shape
    for name, g, x in (("dW", dW, W), ("db", db, b), ("dA_prev", dA_prev, A_prev)):
        g_num = numeric_grad(J, x)
        assert relative_difference(g, g_num) < THRESHOLD, report(name, g, g_num)


def test_conv_forward_equals_the_course_loop():
    """One output pixel at a time, as in the course's conv_single_step loop."""
    rng = np.random.default_rng(3)
    A_prev = rng.standard_normal((2, 5, 6, 3))
    W, b = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal((1, 1, 1, 4))
    s, pad = 2, (1, 1)
    Z, _ = conv_forward(A_prev, W, b, s, pad)
    A_pad = np.pad(A_prev, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for i in np.ndindex(Z.shape):
        m, h, w, c = i
        window = A_pad[m, h * s : h * s + 3, w * s : w * s + 3, :]
        assert Z[i] == pytest.approx(np.sum(window * W[..., c]) + b[0, 0, 0, c], rel=1e-12)


def test_the_input_gradient_is_col2im_of_dZ_W_transposed():
    """conv_input_gradient (per kernel offset) == col2im(dZ W2^T) written as in the course: each
    window's row of dcols added onto its pixels, window by window."""
    rng = np.random.default_rng(4)
    f, s, n_H, n_W = 3, 2, 3, 2
    padded = (2, 7, 6, 3)
    W = rng.standard_normal((f, f, 3, 4))
    dZ2 = rng.standard_normal((2 * n_H * n_W, 4))
    dcols = (dZ2 @ W.reshape(-1, 4).T).reshape(2, n_H, n_W, f, f, 3)
    expected = np.zeros(padded)
    for m, h, w in np.ndindex(2, n_H, n_W):
        expected[m, h * s : h * s + f, w * s : w * s + f, :] += dcols[m, h, w]
    got = conv_input_gradient(dZ2, W, padded, s, n_H, n_W)
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-12)


POOL_CASES = [  # (mode, f, stride, n_H_prev, n_W_prev)
    ("max", 2, 2, 6, 6),
    ("max", 2, 2, 5, 7),  # odd sizes: the last row/column is in no window
    ("max", 3, 2, 7, 6),  # overlapping windows
    ("max", 3, 3, 6, 9),
    ("max", 2, 3, 8, 7),  # gaps between windows
    ("avg", 2, 2, 6, 6),
    ("avg", 2, 2, 5, 7),
    ("avg", 3, 2, 7, 6),
]


@pytest.mark.parametrize(("mode", "f", "s", "n_H_prev", "n_W_prev"), POOL_CASES)
def test_pool_gradients_match_central_differences(mode, f, s, n_H_prev, n_W_prev):
    rng = np.random.default_rng(f * 10 + s)
    A_prev = rng.standard_normal((2, n_H_prev, n_W_prev, 3))
    A, cache = pool_forward(A_prev, f, s, mode)
    assert A.shape == (2, (n_H_prev - f) // s + 1, (n_W_prev - f) // s + 1, 3)
    G = rng.standard_normal(A.shape)
    dA_prev = pool_backward(G, cache, f, s, mode)
    assert dA_prev.shape == A_prev.shape
    g_num = numeric_grad(lambda: float(np.sum(pool_forward(A_prev, f, s, mode)[0] * G)), A_prev)
    assert relative_difference(dA_prev, g_num) < THRESHOLD, report("dA_prev", dA_prev, g_num)


def test_pool_forward_equals_max_and_mean_of_each_window():
    rng = np.random.default_rng(5)
    A_prev = rng.standard_normal((2, 7, 5, 3))
    mx, _ = pool_forward(A_prev, 3, 2, "max")
    av, _ = pool_forward(A_prev, 3, 2, "avg")
    for m, h, w, c in np.ndindex(mx.shape):
        window = A_prev[m, 2 * h : 2 * h + 3, 2 * w : 2 * w + 3, c]
        assert mx[m, h, w, c] == window.max()
        assert av[m, h, w, c] == pytest.approx(window.mean(), rel=1e-12)


def test_max_pool_passes_a_tied_window_s_gradient_to_one_entry_only():
    """A constant window (tanh of a background pixel) must not count its gradient 4 times."""
    A_prev = np.full((1, 2, 2, 1), 0.5)
    _, cache = pool_forward(A_prev, 2, 2, "max")
    dA_prev = pool_backward(np.ones((1, 1, 1, 1)), cache, 2, 2, "max")
    assert dA_prev.sum() == 1.0
    assert dA_prev[0, 0, 0, 0] == 1.0  # the first maximum, as PyTorch picks


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, [(14, 14, 16), (7, 7, 16)]),
        ({"padding": "valid", "kernel": 5, "filters": (6, 16)}, [(12, 12, 6), (4, 4, 16)]),
        ({"stride": 2, "pool": "none"}, [(14, 14, 16), (7, 7, 16)]),
        ({"pool": "avg", "pool_size": 3}, [(9, 9, 16), (3, 3, 16)]),
        ({"kernel": 4, "filters": (4, 8)}, [(14, 14, 4), (7, 7, 8)]),  # even f, "same"
    ],
)
def test_conv_output_shapes(overrides, expected):
    config = TrainConfig(conv_blocks=2, **overrides)
    assert conv_output_shapes(config, (28, 28, 1)) == expected


def test_a_dense_config_has_no_conv_shapes():
    assert conv_output_shapes(TrainConfig(), None) == []


@pytest.mark.parametrize(
    ("overrides", "image_shape", "message"),
    [
        (
            {"conv_blocks": 4},
            (8, 8, 1),
            "conv block 4: max pool 2x2 of a 1x1x16 input leaves less than 1 pixel",
        ),
        (
            {"conv_blocks": 2, "kernel": 5, "padding": "valid", "pool": "none"},
            (8, 8, 1),
            "conv block 2: a 5x5 filter with stride 1 and valid padding does not fit a 4x4x16",
        ),
        ({"conv_blocks": 1}, None, "conv_blocks = 1 needs an image dataset"),
    ],
)
def test_shapes_that_do_not_fit_are_refused_with_one_line(overrides, image_shape, message):
    with pytest.raises(TrainerInputError, match=message) as info:
        conv_output_shapes(TrainConfig(**overrides), image_shape)
    assert info.value.field == "conv_blocks"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("filters", 0),
        ("filters", (8, 16, 32)),  # 2 blocks
        ("kernel", 0),
        ("stride", 0),
        ("padding", "full"),
        ("pool", "min"),
        ("pool_size", 0),
        ("conv_blocks", -1),
    ],
)
def test_bad_conv_settings_name_their_field(field, value):
    settings = {"conv_blocks": 2, field: value}
    with pytest.raises(TrainerInputError) as info:
        TrainConfig(**settings)
    assert info.value.field == field


def test_conv_settings_round_trip_through_dicts():
    config = TrainConfig(conv_blocks=2, filters=(8, 16), kernel=5, padding="valid", pool="avg")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.conv_filters == (8, 16)
    assert TrainConfig(conv_blocks=3, filters=4).conv_filters == (4, 4, 4)
