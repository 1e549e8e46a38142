"""Ng's bias / variance recipe (course 2 week 1), as data."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._errors import TrainerInputError

ADVICE = {
    "high bias": (
        "avoidable bias dominates: try a bigger network (more units or layers), train longer "
        "or with a better optimizer, or a different architecture; more data will not help much"
    ),
    "high variance": (
        "variance dominates: get more training data, add regularisation (L2 lambd, dropout), "
        "or try a different architecture"
    ),
    "high bias and high variance": (
        "fix bias first (bigger network, train longer), then variance (more data, L2, dropout)"
    ),
    "good fit": "train and dev errors are both close to the Bayes error: nothing obvious to fix",
}


@dataclass(frozen=True)
class BiasVariance:
    """Errors are fractions in [0, 1]: error = 1 - accuracy."""

    train_error: float
    dev_error: float
    avoidable_bias: float  # train_error - bayes_error
    variance: float  # dev_error - train_error
    diagnosis: str  # high bias | high variance | high bias and high variance | good fit
    advice: str  # Ng's next step for that diagnosis


def bias_variance(
    train_error: float, dev_error: float, *, bayes_error: float = 0.0, tolerance: float = 0.02
) -> BiasVariance:
    """Diagnose: a gap above ``tolerance`` counts as high (bias vs Bayes, variance vs train)."""
    for name, value in (
        ("train_error", train_error),
        ("dev_error", dev_error),
        ("bayes_error", bayes_error),
    ):
        if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
            raise TrainerInputError(
                f"bias_variance: {name} expected a number in [0, 1], got {value!r}", field=name
            )
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise TrainerInputError(
            f"bias_variance: tolerance expected a number >= 0, got {tolerance!r}", field="tolerance"
        )
    avoidable_bias = train_error - bayes_error
    variance = dev_error - train_error
    high_bias = avoidable_bias > tolerance
    high_variance = variance > tolerance
    if high_bias and high_variance:
        diagnosis = "high bias and high variance"
    elif high_bias:
        diagnosis = "high bias"
    elif high_variance:
        diagnosis = "high variance"
    else:
        diagnosis = "good fit"
    return BiasVariance(
        train_error=float(train_error),
        dev_error=float(dev_error),
        avoidable_bias=float(avoidable_bias),
        variance=float(variance),
        diagnosis=diagnosis,
        advice=ADVICE[diagnosis],
    )
