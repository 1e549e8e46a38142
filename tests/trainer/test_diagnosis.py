"""Ng's bias/variance diagnosis and the memory estimate for a training run."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import (
    Network,
    TrainConfig,
    TrainerInputError,
    bias_variance,
    estimate_memory_bytes,
)


@pytest.mark.parametrize(
    ("train_error", "dev_error", "bayes", "diagnosis", "advice_word"),
    [
        (0.01, 0.11, 0.0, "high variance", "regularisation"),
        (0.15, 0.16, 0.0, "high bias", "bigger network"),
        (0.15, 0.30, 0.0, "high bias and high variance", "bigger network"),
        (0.005, 0.01, 0.0, "good fit", "nothing"),
        (0.15, 0.16, 0.14, "good fit", "nothing"),  # human-level error is 14%
    ],
)
def test_bias_variance(train_error, dev_error, bayes, diagnosis, advice_word):
    bv = bias_variance(train_error, dev_error, bayes_error=bayes)
    assert bv.diagnosis == diagnosis and advice_word in bv.advice
    assert bv.avoidable_bias == pytest.approx(train_error - bayes)
    assert bv.variance == pytest.approx(dev_error - train_error)
    with pytest.raises(TrainerInputError, match="dev_error"):
        bias_variance(0.1, float("nan"))


def test_memory_estimate_covers_what_training_allocates():
    cfg = TrainConfig(layers=2, units=(256, 128), optimizer="adam")
    net = Network.initialize(cfg, 784, 10, np.random.default_rng(0))
    params_bytes = sum(v.nbytes for v in net.params.values())
    estimate = estimate_memory_bytes(cfg, 784, 10, 128)
    assert estimate >= 5 * params_bytes  # params, grads, 2 Adam moments, scratch
    assert estimate < 10 * params_bytes
    assert estimate_memory_bytes(cfg, 784, 10, 4096) > estimate
    gd = TrainConfig(layers=2, units=(256, 128), optimizer="gd")
    assert estimate_memory_bytes(gd, 784, 10, 128) < estimate
    f64 = TrainConfig(layers=2, units=(256, 128), dtype="float64")
    assert estimate_memory_bytes(f64, 784, 10, 128) == 2 * estimate
