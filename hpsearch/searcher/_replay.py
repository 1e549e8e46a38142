"""Replay a stored trial in this process and compare it with what was stored.

A replay rebuilds exactly what the driver gave the worker: the settings
``{**config.train, **trial.params, "seed": trial.seed}`` (in users' words; renamed to trainer fields
only for ``TrainConfig``, so params stored as ``lambd`` by older versions read the same), the
dataset from the search's [data] section with the search seed (checked against the stored
fingerprint), and the BLAS thread limit the trial ran under (``threadpoolctl``). It then compares
every epoch and the final metrics bit for bit. When they differ, the stored environment (NumPy,
BLAS library/version/threads, OPENBLAS_CORETYPE, machine ...) is compared with this one to name
the likely cause.

Imports neither Ray nor Optuna.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hpsearch.errors import UserInputError
from hpsearch.searcher._config import load_search_data
from hpsearch.searcher._definition import ConfigError, SearchConfig
from hpsearch.searcher._entrypoint import load_entrypoint
from hpsearch.searcher._environment import environment, environment_differences, recorded
from hpsearch.searcher._names import trainer_settings, user_settings
from hpsearch.searcher._own_model import iter_own
from hpsearch.storage import ModelNotFoundError, SearchRecord, Storage, TrialRecord, TrialState


class ReplayError(UserInputError):
    """A trial that cannot be replayed (no seed, dataset changed ...); one line. ``field`` says
    what it concerns: ``trial`` or ``dataset``."""


@dataclass(frozen=True)
class Mismatch:
    """One metric that differs: where, stored value, replayed value."""

    what: str  # "final dev_loss" or "epoch 3 train_loss"
    stored: float | None
    replayed: float | None


@dataclass
class ReplayResult:
    """What :func:`replay_trial` found."""

    search: str
    number: int
    state: str
    epochs: int  # epochs replayed
    identical: bool
    mismatches: list[Mismatch] = field(default_factory=list)
    stored: dict[str, float | None] = field(default_factory=dict)
    replayed: dict[str, float | None] = field(default_factory=dict)
    environment_differences: list[str] = field(default_factory=list)
    dataset_checked: bool = False
    blas_threads: int = 1
    seconds: float = 0.0
    model_saved: bool = False
    network: Any = None


def trial_settings(config: SearchConfig, trial: TrialRecord) -> dict[str, Any]:
    """The settings the driver gave this trial's worker, in users' words (``lambda``).

    Raises:
        ReplayError: the trial has no stored seed.
    """
    if trial.seed is None:
        raise ReplayError(
            f"trial {trial.number} has no stored seed; it cannot be replayed", field="trial"
        )
    return user_settings({**config.train, **trial.params, "seed": trial.seed})


def trial_dataset(
    config: SearchConfig, record: SearchRecord, trial: TrialRecord | None = None
) -> tuple[Any, bool]:
    """The search's dataset as the driver built it and whether its fingerprint was checked
    against the trial's stored one.

    Raises:
        ReplayError: the dataset cannot be loaded, or its fingerprint differs from the stored one.
    """
    try:
        data = load_search_data(config)
    except ConfigError as e:
        raise ReplayError(f"search {record.name!r}: {e}", field="dataset") from None
    stored = trial.dataset_hash if trial is not None else None
    if stored is not None and stored != data.fingerprint:
        raise ReplayError(
            f"dataset {config.data.dataset!r} has changed since search {record.name!r} ran "
            f"(fingerprint {data.fingerprint[:12]} now, {stored[:12]} stored)",
            field="dataset",
        )
    return data, stored is not None


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b  # bit for bit (+0.0 and -0.0 aside)


@dataclass
class _Run:
    """What retraining produced: the epochs, the result (None when stopped early) and whether
    the cost diverged."""

    epochs: list[Any]
    result: Any
    diverged: bool
    seconds: float
    raised: str = ""  # what an own model ([train] entrypoint) raised, as one line


def _retrain(
    settings: dict[str, Any],
    data: Any,
    *,
    threads: int,
    limit: int | None,
    on_epoch: Callable[[Any], None] | None,
) -> _Run:
    from threadpoolctl import threadpool_limits

    from hpsearch.searcher._folds import iter_folds
    from hpsearch.trainer import DivergedError, TrainConfig, iter_train

    epochs: list[Any] = []
    result: Any = None
    diverged = False
    began = time.perf_counter()
    with threadpool_limits(limits=threads):
        if "entrypoint" in settings:  # your own model, imported here from its folder
            fn = load_entrypoint(settings)
            training = iter_own(fn, settings, data, seed=int(settings["seed"]))
        else:
            config = TrainConfig.from_dict(trainer_settings(settings))
            # [data] folds: every fold, epoch-major, streaming the means (as the worker does)
            training = (
                iter_folds(config, data) if isinstance(data, tuple) else iter_train(config, data)
            )
        try:
            while True:
                try:
                    m = next(training)
                except StopIteration as stop:
                    result = stop.value
                    break
                epochs.append(m)
                if on_epoch is not None:
                    on_epoch(m)
                if limit is not None and m.epoch >= limit:
                    training.close()
                    break
        except DivergedError:
            diverged = True
        except Exception as e:  # your own model's error: compared like the trainer's
            if "entrypoint" not in settings:
                raise
            raised = f"{type(e).__name__}: {e}".splitlines()[0][:200]
            return _Run(epochs, None, False, time.perf_counter() - began, raised)
    return _Run(epochs, result, diverged, time.perf_counter() - began)


def _epoch_mismatches(stored_epochs: list[Any], run: _Run) -> list[Mismatch]:
    from hpsearch.trainer import EPOCH_METRICS

    out: list[Mismatch] = []
    stored_by_epoch = {e.epoch: e for e in stored_epochs}
    for m in run.epochs:
        e = stored_by_epoch.get(m.epoch)
        if e is None:
            out.append(Mismatch(f"epoch {m.epoch} (not stored)", None, None))
            continue
        for name in EPOCH_METRICS:
            a, b = getattr(e, name), float(getattr(m, name))
            if not _same(a, b):
                out.append(Mismatch(f"epoch {m.epoch} {name}", a, b))
    if len(run.epochs) < len(stored_epochs):
        out.append(
            Mismatch(
                f"epochs run: {len(run.epochs)} replayed"
                f"{' (diverged)' if run.diverged else ''}"
                f"{f' (raised {run.raised})' if run.raised else ''}, {len(stored_epochs)} stored",
                float(len(stored_epochs)),
                float(len(run.epochs)),
            )
        )
    return out


def _final(trial: TrialRecord, run: _Run) -> tuple[dict, dict, list[Mismatch]]:
    """(stored, replayed, mismatches) of the final metrics; compared for a complete trial."""
    from hpsearch.trainer import EPOCH_METRICS

    stored = {k: getattr(trial, k) for k in EPOCH_METRICS}
    replayed: dict[str, float | None] = dict.fromkeys(EPOCH_METRICS)
    out: list[Mismatch] = []
    if run.result is not None:
        replayed = {k: float(getattr(run.result, k)) for k in EPOCH_METRICS}
        if trial.state == TrialState.COMPLETE:
            out += [
                Mismatch(f"final {k}", stored[k], replayed[k])
                for k in EPOCH_METRICS
                if not _same(stored[k], replayed[k])
            ]
            if trial.epochs_run is not None and run.result.epochs_run != trial.epochs_run:
                out.append(Mismatch("final epochs_run", trial.epochs_run, run.result.epochs_run))
    elif run.epochs:
        replayed = {k: float(getattr(run.epochs[-1], k)) for k in EPOCH_METRICS}
    return stored, replayed, out


def replay_trial(
    storage: Storage,
    search: str | int,
    number: int,
    *,
    save: bool = False,
    on_epoch: Callable[[Any], None] | None = None,
) -> ReplayResult:
    """Retrain trial ``number`` of a search in this process and compare with what was stored.

    A pruned (or failed) trial is replayed for the epochs it ran and compared epoch by epoch; a
    complete trial is compared epoch by epoch and on its final metrics. ``save`` stores the
    replayed model when the trial has none (never replacing one; not for [data] folds, whose
    model is the best trial's refit). A [data] folds trial replays every fold, epoch-major, and
    compares the means over folds, as they were stored.

    Raises:
        SearchNotFoundError, TrialNotFoundError: no such search or trial.
        ReplayError: no seed stored, a running trial, or a changed dataset.
    """
    record = storage.get_search(search)
    config = SearchConfig.from_stored(record)
    trial = storage.get_trial(record.id, number)
    if trial.state == TrialState.RUNNING:
        raise ReplayError(
            f"trial {number} is still running; replay it once it has finished", field="trial"
        )
    settings = trial_settings(config, trial)
    data, checked = trial_dataset(config, record, trial)
    if config.data.folds:  # the fold datasets the driver built (seeded by the search seed)
        from hpsearch.searcher._folds import fold_datasets

        data = fold_datasets(data, config.data.folds, config.search.seed or 0)
    stored_epochs = storage.epochs(trial.id)
    threads = int(recorded(trial.environment, "blas_threads") or config.search.cpus_per_trial or 1)
    limit = trial.epochs_run if trial.state != TrialState.COMPLETE else None
    if limit is None and trial.state != TrialState.COMPLETE:
        limit = len(stored_epochs)

    run = _retrain(settings, data, threads=threads, limit=limit, on_epoch=on_epoch)
    mismatches = _epoch_mismatches(stored_epochs, run)
    stored_final, replayed_final, final_mismatches = _final(trial, run)
    mismatches += final_mismatches
    identical = not mismatches
    diffs = [] if identical else environment_differences(trial.environment, environment(threads))
    out = ReplayResult(
        search=record.name,
        number=number,
        state=trial.state.value,
        epochs=len(run.epochs),
        identical=identical,
        mismatches=mismatches,
        stored=stored_final,
        replayed=replayed_final,
        environment_differences=diffs,
        dataset_checked=checked,
        blas_threads=threads,
        seconds=run.seconds,
        # a cross-validated trial's model is the best one's refit, not a fold's: none here
        network=run.result.network if run.result is not None and not config.data.folds else None,
    )
    if save and out.network is not None:
        try:
            storage.load_model(trial.id)
        except ModelNotFoundError:
            storage.save_model(trial.id, out.network.to_npz_bytes())
            out.model_saved = True
    return out
