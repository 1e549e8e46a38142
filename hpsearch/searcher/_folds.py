"""Cross-validation for small data: ``[data] folds = k``.

The train and dev splits are pooled (the test split stays held out, exactly as without folds)
and cut into ``k`` stratified folds, seeded by the search seed: every class is shuffled and dealt
round-robin over the folds, so fold sizes and class counts differ by at most one. Fold ``i``
trains on the other folds and is scored on fold ``i``.

One trial trains its ``k`` folds in one Ray task, epoch-major (every fold's epoch ``e`` before
any fold's epoch ``e + 1``), and streams the MEAN over folds of each epoch: the pruner, the stored
curve and the trial's final columns see one curve, and a pruned trial stops every fold at once.
A fold that stops early (``patience``) leaves the mean of the later epochs to the others.

The best configuration is then refitted on all non-test data (:func:`refit_dataset`) and
scored once on the test split. Imports neither Ray, Optuna nor storage.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_METRICS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")


@dataclass(frozen=True)
class FoldDone:
    """One fold's final metrics (its fields are the ``hps_trial_folds`` columns)."""

    fold: int  # from 0
    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epochs_run: int


@dataclass
class FoldsResult:
    """What :func:`iter_folds` returns: the means over folds, with the attributes of the
    trainer's ``TrainResult`` that the worker and replay read, plus the spread and the folds."""

    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    dev_loss_std: float
    dev_accuracy_std: float
    epochs_run: int
    stopped: str
    best_epoch: int
    n_params: int
    bias_variance: Any
    network: Any  # fold 0's network (the refit replaces the best trial's model)
    folds: tuple[FoldDone, ...]


def fold_indices(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` stratified folds of the samples labelled ``y`` (sorted index arrays), seeded."""
    rng = np.random.default_rng([int(seed), int(k)])
    assigned = np.empty(y.shape[0], dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        assigned[idx] = (offset + np.arange(idx.shape[0])) % k
        offset += idx.shape[0]
    return [np.flatnonzero(assigned == i) for i in range(k)]


def pooled(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """The non-test samples: train then dev, as (X (n_x, m), y (m,))."""
    X = np.concatenate([data.X_train, data.X_dev], axis=1)
    y = np.concatenate([data.y_train, data.y_dev])
    return X, y


def fold_datasets(data: Any, k: int, seed: int) -> tuple[Any, ...]:
    """The ``k`` datasets of a cross-validated search: fold ``i``'s dev split is fold ``i``, its
    train split the other folds, its test split empty (the test split is never used to choose)."""
    X, y = pooled(data)
    empty_X, empty_y = X[:, :0], y[:0]
    out = []
    for idx in fold_indices(y, k, seed):
        rest = np.setdiff1d(np.arange(y.shape[0]), idx, assume_unique=True)
        out.append(
            dataclasses.replace(
                data,
                X_train=np.ascontiguousarray(X[:, rest]),
                y_train=y[rest],
                X_dev=np.ascontiguousarray(X[:, idx]),
                y_dev=y[idx],
                X_test=empty_X,
                y_test=empty_y,
            )
        )
    return tuple(out)


def fold_sizes(data: Any, k: int, seed: int) -> list[int]:
    """How many samples each fold holds (its dev split)."""
    return [int(i.shape[0]) for i in fold_indices(pooled(data)[1], k, seed)]


def refit_dataset(data: Any) -> Any:
    """All non-test samples as the train split (also given as dev: a trainer needs one; its
    numbers are train numbers), the test split unchanged."""
    X, y = pooled(data)
    return dataclasses.replace(data, X_train=X, y_train=y, X_dev=X, y_dev=y)


def refit_settings(settings: dict[str, Any], folds: Sequence[Any]) -> dict[str, Any]:
    """The best trial's settings for the refit: as many epochs as its folds ran (their mean,
    rounded: early stopping had no dev split to watch here), without early stopping."""
    ran = [f.epochs_run for f in folds if f.epochs_run]
    out = dict(settings)
    if ran:
        out["epochs"] = max(1, round(sum(ran) / len(ran)))
    out["patience"] = 0
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (population, ``ddof = 0``, as scikit-learn's
    ``cross_validate`` users compute it) of ``values``, summed in fold order."""
    n = len(values)
    mean = sum(values) / n
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / n)


def iter_folds(config: Any, folds: Sequence[Any]) -> Generator[Any, None, FoldsResult]:
    """Train ``config`` on every fold, epoch-major; yields the mean ``EpochMetrics`` of each
    epoch over the folds that ran it, returns a :class:`FoldsResult`. Closing it (a pruned or
    replay-limited trial) stops every fold."""
    from hpsearch.trainer import EpochMetrics, bias_variance, iter_train

    began = time.perf_counter()
    running = {i: iter_train(config, d) for i, d in enumerate(folds)}
    results: dict[int, Any] = {}
    epoch, best_epoch, best_loss = 0, 0, math.inf
    try:
        while running:
            epoch += 1
            got = []
            for i in sorted(running):
                try:
                    got.append(next(running[i]))
                except StopIteration as stop:
                    results[i] = stop.value
                    del running[i]
            if not got:
                break
            means = {n: sum(float(getattr(m, n)) for m in got) / len(got) for n in _METRICS}
            if means["dev_loss"] < best_loss:
                best_epoch, best_loss = epoch, means["dev_loss"]
            yield EpochMetrics(
                epoch=epoch,
                epoch_s=sum(m.epoch_s for m in got),
                elapsed_s=time.perf_counter() - began,
                **means,
            )
    finally:
        for gen in running.values():
            gen.close()
    done = tuple(
        FoldDone(i, *(float(getattr(r, n)) for n in _METRICS), epochs_run=int(r.epochs_run))
        for i, r in sorted(results.items())
    )
    final = {n: mean_std([getattr(f, n) for f in done]) for n in _METRICS}
    first = results[0]
    return FoldsResult(
        **{n: final[n][0] for n in _METRICS},
        dev_loss_std=final["dev_loss"][1],
        dev_accuracy_std=final["dev_accuracy"][1],
        epochs_run=max(f.epochs_run for f in done),
        stopped="completed"
        if all(r.stopped == "completed" for r in results.values())
        else "early_stopping",
        best_epoch=best_epoch,
        n_params=int(first.n_params),
        bias_variance=bias_variance(
            1.0 - final["train_accuracy"][0], 1.0 - final["dev_accuracy"][0]
        ),
        network=first.network,
        folds=done,
    )


def refit(settings: dict[str, Any], data: Any, folds: Sequence[Any], *, threads: int) -> Any:
    """Train the chosen trial's ``settings`` (users' words, with its seed) on all non-test data
    (:func:`refit_dataset`, :func:`refit_settings`); returns the trained network."""
    from threadpoolctl import threadpool_limits

    from hpsearch.searcher._names import trainer_settings
    from hpsearch.trainer import TrainConfig, train

    config = TrainConfig.from_dict(trainer_settings(refit_settings(settings, folds)))
    with threadpool_limits(limits=threads):
        return train(config, refit_dataset(data)).network
