"""The fused, in-place optimizers against the course's own formulas, and learning-rate decay."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import TrainConfig
from hpsearch.trainer import _optimizers_reference as course
from hpsearch.trainer._optimizers import Adam, GradientDescent, Momentum, RMSprop, make_optimizer
from hpsearch.trainer._optimizers import learning_rate_at as lr_at

LR, BETA1, BETA2, EPS = 0.01, 0.9, 0.999, 1e-8
STEPS = 8


def _network_like(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters of a random 3-layer network: W[l] (n_l, n_{l-1}), b[l] (n_l, 1), float64."""
    dims = rng.integers(1, 9, size=4).tolist()
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1]))
        params[f"b{l}"] = rng.standard_normal((dims[l], 1))
    return params


def _gradients(rng: np.random.Generator, params: dict[str, np.ndarray]) -> list[dict]:
    """STEPS gradients per parameter, each step at its own scale (1e-3 .. 10)."""
    return [
        {k: rng.standard_normal(p.shape) * 10.0 ** rng.integers(-3, 2) for k, p in params.items()}
        for _ in range(STEPS)
    ]


def _run_course(name: str, params: dict, grads: list[dict]) -> tuple[dict, dict, dict]:
    """The course's updates, step by step: (parameters, v, s)."""
    v, s = course.initialize_state(params), course.initialize_state(params)
    for t, g in enumerate(grads, start=1):
        if name == "gd":
            params = course.update_parameters_with_gd(params, g, LR)
        elif name == "momentum":
            params, v = course.update_parameters_with_momentum(params, g, v, BETA1, LR)
        elif name == "rmsprop":
            params, s = course.update_parameters_with_rmsprop(params, g, s, BETA2, LR, EPS)
        else:
            params, v, s = course.update_parameters_with_adam(
                params, g, v, s, t, LR, BETA1, BETA2, EPS
            )
    return params, v, s


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_fused_optimizers_equal_the_course_formulas(name, seed):
    rng = np.random.default_rng(seed)
    params0 = _network_like(rng)
    grads = _gradients(rng, params0)
    config = TrainConfig(optimizer=name, learning_rate=LR, beta1=BETA1, beta2=BETA2, epsilon=EPS)
    opt = make_optimizer(config)
    fused = {k: p.copy() for k, p in params0.items()}
    for g in grads:
        opt.update(fused, g, LR)
    expected, v, s = _run_course(name, params0, grads)
    assert opt.t == STEPS
    for k in params0:
        np.testing.assert_allclose(fused[k], expected[k], rtol=1e-12, atol=0, err_msg=k)
        assert not np.array_equal(fused[k], params0[k]), f"{k} never moved"
    # The moments too: momentum and RMSprop keep the course's v and s; Adam keeps
    # v' = v / (1 - beta1) and s' = s / (1 - beta2) (see the derivation in Adam's docstring).
    if isinstance(opt, Momentum):
        for k in params0:
            np.testing.assert_allclose(opt.v[k], v[k], rtol=1e-12, atol=0, err_msg=k)
    if isinstance(opt, RMSprop):
        for k in params0:
            np.testing.assert_allclose(opt.s[k], s[k], rtol=1e-12, atol=0, err_msg=k)
    if isinstance(opt, Adam):
        for k in params0:
            np.testing.assert_allclose(opt.v[k] * (1 - BETA1), v[k], rtol=1e-12, err_msg=k)
            np.testing.assert_allclose(opt.s[k] * (1 - BETA2), s[k], rtol=1e-12, err_msg=k)


def test_make_optimizer_builds_the_named_class():
    kinds = {"gd": GradientDescent, "momentum": Momentum, "rmsprop": RMSprop, "adam": Adam}
    for name, cls in kinds.items():
        assert type(make_optimizer(TrainConfig(optimizer=name))) is cls


def test_learning_rate_decay():
    inv = TrainConfig(learning_rate=0.1, lr_decay="inverse_time", decay_rate=1.0)
    assert [lr_at(inv, e) for e in range(3)] == pytest.approx([0.1, 0.05, 0.1 / 3])
    exp = TrainConfig(learning_rate=0.1, lr_decay="exponential", decay_rate=0.95)
    assert [lr_at(exp, e) for e in range(3)] == pytest.approx([0.1, 0.095, 0.09025])
    assert lr_at(TrainConfig(learning_rate=0.1), 7) == 0.1


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_block_by_block_updates_equal_the_course_and_the_whole_buffer_at_once(name, monkeypatch):
    """A buffer of several blocks (and a partial one): the course's result to 1e-12, and the
    same bits as one pass over the whole buffer (the blocking only reorders the work)."""
    import hpsearch.trainer._optimizers as optimizers

    monkeypatch.setattr(optimizers, "BLOCK", 64)
    rng = np.random.default_rng(5)
    params0 = {"W1": rng.standard_normal((13, 17)), "b1": rng.standard_normal((13, 1))}
    grads = _gradients(rng, params0)  # 234 numbers: 3 full blocks of 64 and one of 42
    config = TrainConfig(optimizer=name, learning_rate=LR, beta1=BETA1, beta2=BETA2, epsilon=EPS)
    results = []
    for block in (64, 10**9):
        monkeypatch.setattr(optimizers, "BLOCK", block)
        opt = make_optimizer(config)
        fused = {k: p.copy() for k, p in params0.items()}
        for g in grads:
            opt.update(fused, {k: a.copy() for k, a in g.items()}, LR)
        results.append(fused)
    expected, _, _ = _run_course(name, params0, grads)
    for k in params0:
        np.testing.assert_allclose(results[0][k], expected[k], rtol=1e-12, atol=0, err_msg=k)
        assert np.array_equal(results[0][k], results[1][k]), k
