"""Replay a stored trial in this process, and label new data with a stored model.

A replay rebuilds exactly what the driver gave the worker: the settings
``{**config.train, **trial.params, "seed": trial.seed}``, the dataset from the search's [data]
section with the search seed (checked against the stored fingerprint), and the BLAS thread limit
the trial ran under (``threadpoolctl``). It then compares every epoch and the final metrics bit for
bit. When they differ, the stored environment (NumPy, BLAS library/version/threads,
OPENBLAS_CORETYPE, machine ...) is compared with this one to name the likely cause.

Prediction needs the training normalisation. It is not stored with the model: it is refitted from
the stored data settings (same dataset, split seed and normaliser, fingerprint checked), which is
exact because the normaliser is a deterministic function of the training split.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.errors import UserInputError
from hpsearch.searcher._config import ConfigError, SearchConfig, load_search_data
from hpsearch.storage import (
    ModelNotFoundError,
    SearchRecord,
    Storage,
    TrialRecord,
    TrialState,
)

FINAL_METRICS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")
EPOCH_METRICS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")
# Environment entries that can change floating-point results, in the order they are reported.
_ENV_KEYS = (
    ("numpy", "NumPy version"),
    ("blas.library", "BLAS library"),
    ("blas.version", "BLAS version"),
    ("blas.architecture", "BLAS kernel architecture"),
    ("blas_threads", "BLAS threads"),
    ("OPENBLAS_CORETYPE", "OPENBLAS_CORETYPE"),
    ("machine", "machine"),
    ("python", "Python version"),
    ("hpsearch", "hpsearch version"),
)


class ReplayError(UserInputError):
    """A trial that cannot be replayed (no seed, dataset changed ...); one line."""


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
    """The trainer settings the driver gave this trial (see ``Driver._launch``)."""
    if trial.seed is None:
        raise ReplayError(f"trial {trial.number} has no stored seed; it cannot be replayed")
    return {**config.train, **trial.params, "seed": trial.seed}


def trial_dataset(
    config: SearchConfig, record: SearchRecord, trial: TrialRecord | None = None
) -> tuple[Any, bool]:
    """The search's dataset as the driver built it (``Driver._load_data``) and whether its
    fingerprint was checked against the trial's stored one.

    Raises:
        ReplayError: the dataset cannot be loaded, or its fingerprint differs from the stored one.
    """
    d = config.data
    try:
        data = load_search_data(config)
    except ConfigError as e:
        raise ReplayError(f"search {record.name!r}: {e}") from None
    stored = trial.dataset_hash if trial is not None else None
    if stored is not None and stored != data.fingerprint:
        raise ReplayError(
            f"dataset {d.dataset!r} has changed since search {record.name!r} ran "
            f"(fingerprint {data.fingerprint[:12]} now, {stored[:12]} stored)"
        )
    return data, stored is not None


def current_environment(threads: int) -> dict[str, Any]:
    """This process's environment in the shape workers store it."""
    from hpsearch.searcher._worker import environment

    return environment(threads)


def _get(env: dict[str, Any] | None, dotted: str) -> Any:
    value: Any = env or {}
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def environment_differences(stored: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """Human lines for each recorded entry that differs, e.g. ``NumPy version: 2.3.1 -> 2.4.6``."""
    if not stored:
        return ["no environment was recorded for this trial"]
    out = []
    for key, label in _ENV_KEYS:
        a, b = _get(stored, key), _get(now, key)
        if a != b:
            out.append(f"{label}: {a} (stored) -> {b} (now)")
    return out


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b  # bit for bit (+0.0 and -0.0 aside)


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
    replayed model when the trial has none (never replacing one).

    Raises:
        SearchNotFoundError, TrialNotFoundError: no such search or trial.
        ReplayError: no seed stored, a running trial, or a changed dataset.
    """
    import time

    from threadpoolctl import threadpool_limits

    from hpsearch.trainer import DivergedError, TrainConfig, iter_train

    record = storage.get_search(search)
    config = SearchConfig.from_stored(record)
    trial = storage.get_trial(record.id, number)
    if trial.state == TrialState.RUNNING:
        raise ReplayError(f"trial {number} is still running; replay it once it has finished")
    settings = trial_settings(config, trial)
    data, checked = trial_dataset(config, record, trial)
    stored_epochs = storage.epochs(trial.id)
    threads = int(_get(trial.environment, "blas_threads") or config.search.cpus_per_trial or 1)
    limit = trial.epochs_run if trial.state != TrialState.COMPLETE else None
    if limit is None and trial.state != TrialState.COMPLETE:
        limit = len(stored_epochs)

    replayed_epochs: list[Any] = []
    result_obj: Any = None
    diverged = False
    began = time.perf_counter()
    with threadpool_limits(limits=threads):
        training = iter_train(TrainConfig.from_dict(settings), data)
        try:
            while True:
                try:
                    m = next(training)
                except StopIteration as stop:
                    result_obj = stop.value
                    break
                replayed_epochs.append(m)
                if on_epoch is not None:
                    on_epoch(m)
                if limit is not None and m.epoch >= limit:
                    training.close()
                    break
        except DivergedError:
            diverged = True
    seconds = time.perf_counter() - began

    mismatches: list[Mismatch] = []
    stored_by_epoch = {e.epoch: e for e in stored_epochs}
    for m in replayed_epochs:
        e = stored_by_epoch.get(m.epoch)
        if e is None:
            mismatches.append(Mismatch(f"epoch {m.epoch} (not stored)", None, None))
            continue
        for name in EPOCH_METRICS:
            a, b = getattr(e, name), float(getattr(m, name))
            if not _same(a, b):
                mismatches.append(Mismatch(f"epoch {m.epoch} {name}", a, b))
    if len(replayed_epochs) < len(stored_epochs):
        mismatches.append(
            Mismatch(
                f"epochs run: {len(replayed_epochs)} replayed"
                f"{' (diverged)' if diverged else ''}, {len(stored_epochs)} stored",
                float(len(stored_epochs)),
                float(len(replayed_epochs)),
            )
        )
    stored_final = {k: getattr(trial, k) for k in FINAL_METRICS}
    replayed_final: dict[str, float | None] = dict.fromkeys(FINAL_METRICS)
    if result_obj is not None:
        replayed_final = {k: float(getattr(result_obj, k)) for k in FINAL_METRICS}
        if trial.state == TrialState.COMPLETE:
            for k in FINAL_METRICS:
                if not _same(stored_final[k], replayed_final[k]):
                    mismatches.append(Mismatch(f"final {k}", stored_final[k], replayed_final[k]))
            if trial.epochs_run is not None and result_obj.epochs_run != trial.epochs_run:
                mismatches.append(
                    Mismatch("final epochs_run", trial.epochs_run, result_obj.epochs_run)
                )
    elif replayed_epochs:
        last = replayed_epochs[-1]
        replayed_final = {k: float(getattr(last, k)) for k in FINAL_METRICS}

    identical = not mismatches
    diffs = (
        []
        if identical
        else environment_differences(trial.environment, current_environment(threads))
    )
    out = ReplayResult(
        search=record.name,
        number=number,
        state=trial.state.value,
        epochs=len(replayed_epochs),
        identical=identical,
        mismatches=mismatches,
        stored=stored_final,
        replayed=replayed_final,
        environment_differences=diffs,
        dataset_checked=checked,
        blas_threads=threads,
        seconds=seconds,
        network=result_obj.network if result_obj is not None else None,
    )
    if save and out.network is not None:
        try:
            storage.load_model(trial.id)
        except ModelNotFoundError:
            storage.save_model(trial.id, out.network.to_npz_bytes())
            out.model_saved = True
    return out


# --- prediction -------------------------------------------------------------------------------


@dataclass
class Prediction:
    """Labels for the rows of an input file."""

    search: str
    number: int
    labels: list[str]  # class names
    indices: np.ndarray  # (m,) int64 class indices
    probabilities: np.ndarray  # (C, m); C = 1 for two classes (P(class 1))
    classes: tuple[str, ...]
    true_labels: list[str] | None = None  # when the file has a label column / y array

    @property
    def accuracy(self) -> float | None:
        """Share of samples whose given label matches; labels are class names, or class indices
        when they are not names (iris's y = 0, 1, 2 for setosa, versicolor, virginica)."""
        if self.true_labels is None:
            return None
        truth = self.true_labels
        names = set(self.classes)
        if not all(t in names for t in truth):
            indices = [str(i) for i in range(len(self.classes))]
            if all(t in indices for t in truth):
                truth = [self.classes[int(t)] for t in truth]
        hits = sum(a == b for a, b in zip(self.labels, truth, strict=True))
        return hits / max(len(self.labels), 1)


_LABEL_COLUMNS = ("label", "target", "y", "class")


def read_inputs(path: str | Path, n_x: int, *, label_column: str | None = None) -> tuple:
    """(X (n_x, m) float64, labels or None) from a ``.npz`` (array ``X``, optional ``y``; rows
    are samples) or a ``.csv`` with a header (numeric feature columns, optional label column).

    Raises:
        UserInputError: unreadable file, wrong number of features, non-numeric cells.
    """
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"--input {str(p)!r}: no such file")
    suffix = p.suffix.lower()
    labels = None
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except Exception as e:  # zipfile/ValueError/OSError: any unreadable archive
            raise UserInputError(f"--input {p}: not a readable .npz file ({e})") from None
        if "X" not in arrays:
            found = ", ".join(arrays) or "none"
            raise UserInputError(f"--input {p}: no array named 'X' (found: {found})")
        X = arrays["X"]
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise UserInputError(f"--input {p}: X must be numeric, got dtype {X.dtype}")
        if X.ndim == 1:
            X = X[None, :] if X.shape[0] == n_x else X[:, None]
        X = X.reshape(X.shape[0], -1)
        if X.shape[1] != n_x and X.shape[0] == n_x:
            X = X.T  # stored as (n_x, m) already
        if X.shape[1] != n_x:
            raise UserInputError(
                f"--input {p}: X has {X.shape[1]} features per sample, the model expects {n_x}"
            )
        if "y" in arrays:
            labels = [_label_text(v) for v in np.asarray(arrays["y"]).ravel().tolist()]
        return X.T, labels
    if suffix != ".csv":
        raise UserInputError(f"--input {p}: expected a .npz or .csv file, got {suffix or 'none'!r}")
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserInputError(f"--input {p}: cannot read as CSV ({e})") from None
    if len(rows) < 2:
        raise UserInputError(f"--input {p}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    lowered = [h.lower() for h in header]
    at = None
    if label_column is not None and label_column in header:
        at = header.index(label_column)
    elif len(header) == n_x + 1:
        at = next((lowered.index(n) for n in _LABEL_COLUMNS if n in lowered), None)
    features = [i for i in range(len(header)) if i != at]
    if len(features) != n_x:
        raise UserInputError(
            f"--input {p}: {len(features)} feature columns, the model expects {n_x}"
        )
    X = np.empty((len(rows) - 1, n_x))
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserInputError(
                f"--input {p}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
        for j, c in enumerate(features):
            try:
                X[line - 2, j] = float(row[c])
            except ValueError:
                raise UserInputError(
                    f"--input {p}: column {header[c]!r} line {line}: {row[c]!r} is not a number"
                ) from None
    if not np.isfinite(X).all():
        raise UserInputError(f"--input {p}: holds NaN or inf")
    if at is not None:
        labels = [_label_text(r[at].strip()) for r in rows[1:]]
    return X.T, labels


def _label_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        value = number
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _input_scale(config: SearchConfig, X: np.ndarray) -> float:
    """Image datasets read from IDX bytes were divided by 255 at training: do it to bytes here."""
    spec = config.data.dataset.strip().lower()
    idx = spec in ("mnist", "fashion-mnist", "fashion_mnist") or Path(spec).is_dir()
    return 1 / 255 if idx and np.issubdtype(X.dtype, np.integer) else 1.0


def predict_file(
    storage: Storage,
    search: str | int,
    input_path: str | Path,
    *,
    number: int | None = None,
) -> Prediction:
    """Label the samples in ``input_path`` with a stored model (the best trial's by default).

    The inputs get the training normalisation, refitted from the stored data settings.

    Raises:
        SearchNotFoundError, TrialNotFoundError: no such search or trial.
        UserInputError: no stored model (suggests ``hpsearch replay --save``), a bad input file.
    """
    from hpsearch.trainer import Network

    record = storage.get_search(search)
    config = SearchConfig.from_stored(record)
    if number is None:
        best = storage.best_trial(record.id)
        if best is None:
            raise UserInputError(f"search {record.name!r} has no complete trial to predict with")
        trial = best
    else:
        trial = storage.get_trial(record.id, number)
    try:
        blob = storage.load_model(trial.id)
    except ModelNotFoundError:
        raise UserInputError(
            f"trial {trial.number} of {record.name!r} has no stored model; run "
            f"`hpsearch replay {record.name} {trial.number} --save` first"
        ) from None
    network = Network.from_npz_bytes(blob, source=f"model of trial {trial.number}")
    data, _ = trial_dataset(config, record, trial)
    X_raw, labels = read_inputs(input_path, network.n_x, label_column=config.data.label_column)
    dtype = np.dtype(str(config.train.get("dtype", "float32")))
    X = X_raw.astype(dtype)
    scale = _input_scale(config, X_raw)
    if scale != 1.0:
        X *= np.asarray(scale, dtype=dtype)
    if data.normalizer is not None:
        X = data.normalizer.transform(X)
    indices = network.predict(X)
    proba = network.predict_proba(X)
    classes = tuple(data.classes)
    return Prediction(
        search=record.name,
        number=trial.number,
        labels=[classes[i] for i in indices.tolist()],
        indices=indices,
        probabilities=proba,
        classes=classes,
        true_labels=labels,
    )
