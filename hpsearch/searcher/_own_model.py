"""Running your own NumPy model ([train] entrypoint; the contract is in :mod:`._entrypoint`).

:func:`iter_own` runs the entrypoint as the trainer's ``iter_train`` runs the built-in network
(one :class:`OwnEpoch` per yielded dict, then an :class:`OwnResult`), in a Ray worker or in a
replay; :func:`own_scorer` scores the chosen trial's returned parameters on the test split with
the module's ``evaluate``, once. Imports neither Ray nor Optuna.
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.searcher._entrypoint import load_entrypoint, own_settings
from hpsearch.trainer import (
    EPOCH_METRICS,
    BiasVariance,
    EpochMetrics,
    TrainerInputError,
    bias_variance,
)


@dataclass(frozen=True)
class Splits:
    """What the entrypoint trains on: the search's train and dev splits, normalised as for the
    built-in network. Samples are columns; labels are int64 class indices."""

    X_train: Any  # (n_x, m_train) float32 or float64 ([train] dtype)
    y_train: Any  # (m_train,) int64
    X_dev: Any  # (n_x, m_dev)
    y_dev: Any  # (m_dev,)
    n_classes: int
    classes: tuple[str, ...]  # the original label names
    feature_names: tuple[str, ...]

    @property
    def n_x(self) -> int:
        return int(self.X_train.shape[0])

    @classmethod
    def of(cls, data: Any) -> Splits:
        """The splits of a loaded ``Dataset`` (its test split left out)."""
        return cls(
            data.X_train,
            data.y_train,
            data.X_dev,
            data.y_dev,
            int(data.n_classes),
            tuple(str(c) for c in data.classes),
            tuple(data.feature_names),
        )


@dataclass(frozen=True)
class OwnEpoch(EpochMetrics):
    """One epoch of an own model: the stored columns, plus the other numbers it yielded."""

    extra: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class OwnResult:
    """How an own model's training ended, shaped as the trainer's ``TrainResult`` where the
    worker and replay read it: the last epoch's metrics."""

    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epochs_run: int
    best_epoch: int  # the epoch with the lowest dev loss
    n_params: int | None  # the size of the returned parameters; None when none were returned
    bias_variance: BiasVariance
    stopped: str = "completed"
    network: Any = None  # no hpsearch network (predict does not apply)
    model: bytes = b""  # the returned parameters as .npz bytes (the best trial's are stored)


# --- running it -----------------------------------------------------------------------------------


def iter_own(
    fn: Callable[..., Any], settings: Mapping[str, Any], data: Any, *, seed: int
) -> Generator[OwnEpoch, None, OwnResult]:
    """Run the entrypoint, as the trainer's ``iter_train`` runs the built-in network: one
    :class:`OwnEpoch` per yielded dict (numbered from 1, timed here), then the result.

    Raises:
        TypeError: it yields something other than a dict of numbers with the four metrics.
        ValueError: it yields no epoch. Whatever it raises itself passes through.
    """
    epochs = fn(own_settings(settings), Splits.of(data), seed=seed)
    if not isinstance(epochs, Iterator):
        raise TypeError(
            f"the entrypoint returned {type(epochs).__name__}; expected it to yield one dict of "
            "metrics per epoch"
        )
    began = last = time.perf_counter()
    history: list[OwnEpoch] = []
    while True:
        try:
            values = next(epochs)
        except StopIteration as stop:
            params = stop.value
            break
        now = time.perf_counter()
        epoch = _epoch(len(history) + 1, values, epoch_s=now - last, elapsed_s=now - began)
        history.append(epoch)
        last = now
        yield epoch
    if not history:
        raise ValueError("the entrypoint yielded no epoch")
    final = history[-1]
    best = min(history, key=lambda e: (math.isnan(e.dev_loss), e.dev_loss))
    return OwnResult(
        train_loss=final.train_loss,
        train_accuracy=final.train_accuracy,
        dev_loss=final.dev_loss,
        dev_accuracy=final.dev_accuracy,
        epochs_run=final.epoch,
        best_epoch=best.epoch,
        n_params=_n_params(params),
        model=_npz(params),
        bias_variance=bias_variance(1.0 - final.train_accuracy, 1.0 - final.dev_accuracy),
    )


def _epoch(number: int, values: Any, *, epoch_s: float, elapsed_s: float) -> OwnEpoch:
    if not isinstance(values, Mapping):
        raise TypeError(
            f"epoch {number}: the entrypoint yielded {type(values).__name__}; expected a dict "
            f"with {', '.join(EPOCH_METRICS)}"
        )
    missing = [k for k in EPOCH_METRICS if k not in values]
    if missing:
        raise TypeError(
            f"epoch {number}: {', '.join(missing)} missing from what the entrypoint yielded "
            f"(expected {', '.join(EPOCH_METRICS)}; got {', '.join(map(str, values)) or 'none'})"
        )
    numbers = {str(k): _number(number, k, v) for k, v in values.items()}
    extra = tuple((k, v) for k, v in numbers.items() if k not in EPOCH_METRICS and k != "epoch")
    return OwnEpoch(
        number,
        *(numbers[k] for k in EPOCH_METRICS),
        epoch_s=epoch_s,
        elapsed_s=elapsed_s,
        extra=extra,
    )


def _number(epoch: int, key: Any, value: Any) -> float:
    try:
        if isinstance(value, bool | str | bytes):
            raise TypeError
        return float(value)  # Python and NumPy numbers, 0-d arrays
    except (TypeError, ValueError):
        raise TypeError(
            f"epoch {epoch}: {key!r} is {type(value).__name__} {value!r:.40}; expected a number"
        ) from None


def _n_params(params: Any) -> int | None:
    if isinstance(params, Mapping):
        sizes = [getattr(v, "size", None) for v in params.values()]
        if sizes and all(isinstance(s, int) for s in sizes):
            return int(sum(sizes))
    return None


def _npz(params: Any) -> bytes:
    """Returned parameters (a dict of NumPy number arrays) as .npz bytes; b"" for anything
    else (nothing is pickled)."""
    if not isinstance(params, Mapping) or not params:
        return b""
    arrays = {str(k): v for k, v in params.items()}
    if not all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in arrays.values()):
        return b""
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@dataclass(frozen=True)
class OwnScorer:
    """An own model's stored parameters with its module's ``evaluate(parameters, X, y) ->
    (loss, accuracy)``: how the chosen trial is scored on the test split, once."""

    parameters: dict[str, Any]
    evaluate_fn: Callable[..., Any]

    def evaluate(self, X: Any, y: Any) -> tuple[float, float]:
        """Raises TrainerInputError naming the hook when it fails or returns something else."""
        try:
            loss, accuracy = self.evaluate_fn(self.parameters, X, y)
            return float(loss), float(accuracy)
        except Exception as e:
            raise TrainerInputError(
                f"evaluate(parameters, X, y) of the own model failed: {type(e).__name__}: {e}"
            ) from None


def own_scorer(train: Mapping[str, Any], model: bytes) -> OwnScorer:
    """The chosen trial's scorer (its parameters as stored, the module's ``evaluate``).

    Raises:
        TrainerInputError: the module has no ``evaluate`` (then the test split stays unused),
            or the stored parameters cannot be read.
    """
    fn = load_entrypoint(train)
    hook = getattr(sys.modules.get(fn.__module__), "evaluate", None)
    if not callable(hook):
        raise TrainerInputError(
            f"{fn.__module__} has no evaluate(parameters, X, y) returning (loss, accuracy)"
        )
    try:
        with np.load(io.BytesIO(model), allow_pickle=False) as npz:
            parameters = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise TrainerInputError(f"the stored parameters cannot be read: {e}") from None
    return OwnScorer(parameters, hook)


def stored_metrics(extra: tuple[tuple[str, float], ...]) -> dict[str, float | str]:
    """The last epoch's other numbers as stored in the trial's environment JSON (NaN and
    infinities as the strings "nan", "inf", "-inf": JSON has no such numbers)."""
    return {k: v if math.isfinite(v) else str(v) for k, v in extra}
