"""Label new data with a stored model: each row gets its class, class index and confidence.

Prediction needs the training normalisation. It is not stored with the model: it is refitted from
the stored data settings (same dataset, split seed and normaliser, fingerprint checked), which is
exact because the normaliser is a deterministic function of the training split. Input files are
read by the trainer's own readers (``hpsearch.trainer.data.read_samples``), as training data is.

A CSV's columns are matched to the training's by name (``Dataset.feature_names``: the training
CSV's header, scikit-learn's names, or generated ``x0 ..``), so their order does not matter; a
missing or extra column is refused; a label column may be present (then accuracy is reported).
A CSV without a header row (its first row all numbers) and a ``.npz`` are taken by position.

Imports neither Ray nor Optuna.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.errors import UserInputError
from hpsearch.searcher._definition import SearchConfig
from hpsearch.searcher._replay import trial_dataset
from hpsearch.storage import ModelNotFoundError, SearchRecord, Storage, TrialRecord


@dataclass(frozen=True)
class PredictionRow:
    """One labelled sample of the input file."""

    row: int  # 0-based sample number in the file
    label: str  # class name
    class_index: int
    confidence: float  # the model's probability of that class


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
    feature_names: tuple[str, ...] = ()  # the model's inputs, in the order it was given them
    matched_by: str = "position"  # "name": a CSV's header; "position": a headerless CSV, a .npz

    @property
    def confidence(self) -> np.ndarray:
        """(m,) the probability of each chosen class (for two classes, max(p, 1 - p))."""
        proba = self.probabilities
        if proba.shape[0] == 1:
            return np.maximum(proba[0], 1 - proba[0]).astype(np.float64)
        return proba.max(axis=0).astype(np.float64)

    @property
    def rows(self) -> list[PredictionRow]:
        """One row per sample: its label, class index and confidence."""
        return [
            PredictionRow(row=i, label=label, class_index=int(k), confidence=float(c))
            for i, (label, k, c) in enumerate(
                zip(self.labels, self.indices.tolist(), self.confidence.tolist(), strict=True)
            )
        ]

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


def read_inputs(
    path: str | Path,
    n_x: int,
    *,
    label_column: str | None = None,
    feature_names: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, list[str] | None]:
    """(X (n_x, m), labels as text or None) from a ``.npz`` (array ``X``, optional ``y``; rows
    are samples) or a ``.csv`` (numeric feature columns, optional label column).

    With ``feature_names`` a CSV's header is matched by name (X's rows in that order); without,
    by position. A CSV whose first row is all numbers has no header: every row is a sample.

    Raises:
        UserInputError: unreadable file, wrong number of features, missing or extra columns,
            non-numeric cells; the message starts with ``--input`` and ``field`` is ``input``.
    """
    X, labels, _, _ = _read_inputs(path, n_x, label_column, feature_names)
    return X, labels


def _read_inputs(
    path: str | Path,
    n_x: int,
    label_column: str | None,
    feature_names: tuple[str, ...] | None,
) -> tuple[np.ndarray, list[str] | None, bool, tuple[int, int, int] | None]:
    """:func:`read_inputs`, whether the columns were matched by name and the images' shape
    (a ``.npz`` of (m, h, w[, c]) images; None otherwise)."""
    from hpsearch.trainer import TrainerInputError
    from hpsearch.trainer.data import read_samples

    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"--input {str(p)!r}: no such file", field="input")
    if p.suffix.lower() not in (".npz", ".csv"):
        raise UserInputError(
            f"--input {p}: expected a .npz or .csv file, got {p.suffix.lower() or 'none'!r}",
            field="input",
        )
    if feature_names is None and label_column is not None and label_column not in _csv_header(p):
        label_column = None  # the training's label column is absent: look for a usual name
    try:
        samples = read_samples(
            p,
            label_column=label_column,
            require_labels=False,
            n_features=n_x,
            feature_names=feature_names,
        )
    except TrainerInputError as e:
        raise UserInputError(f"--input {e}", field="input") from None
    by_name = feature_names is not None and samples.feature_names is not None
    shape = samples.image_shape
    if samples.labels is None:
        return samples.X, None, by_name, shape
    return samples.X, [_label_text(v) for v in samples.labels.tolist()], by_name, shape


def _csv_header(path: Path) -> list[str]:
    """The header of a CSV file ([] for another file or an unreadable one: the reader says why)."""
    if path.suffix.lower() != ".csv":
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            row = next((r for r in csv.reader(f) if r and any(c.strip() for c in r)), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    return [c.strip() for c in row]


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


def _check_image_shape(shape: Any, network: Any, path: str | Path, number: int) -> None:
    """Images given as images must have the shape the model was trained on (the same number of
    pixels in another shape would be read as other images)."""
    trained = getattr(network, "image_shape", None)
    if shape is not None and trained is not None and tuple(shape) != tuple(trained):
        size = "x".join(map(str, shape))
        raise UserInputError(
            f"--input {path}: images of {size}, but the model of trial {number} was trained "
            f"on {'x'.join(map(str, trained))} images",
            field="input",
        )


def _best_trial(storage: Storage, record: SearchRecord) -> TrialRecord:
    """The best complete trial by the order every view shares (objective, then dev_loss, then
    number); if it has no stored model, the next trial tied with it on the objective that has one
    (a driver that stored only the first of tied trials to finish; ``replay --save`` adds one).
    With [search] constraints, the best feasible trial."""
    best = storage.best_trial(record.id)
    if best is None:
        feasible = " feasible" if record.config.get("search", {}).get("constraints") else ""
        raise UserInputError(
            f"search {record.name!r} has no complete{feasible} trial to predict with "
            "(name one: --trial N)",
            field="trial",
        )
    with_model = set(storage.model_trial_ids(record.id))
    if best.id in with_model:
        return best
    top = storage.top_trials(record.id, 20)  # best first, in the shared order
    tied = (t for t in top if t.value == best.value and t.feasible is not False)
    return next((t for t in tied if t.id in with_model), best)


def predict_file(
    storage: Storage,
    search: str | int,
    input_path: str | Path,
    *,
    number: int | None = None,
) -> Prediction:
    """Label the samples in ``input_path`` with a stored model (the best trial's by default).

    The inputs get the training normalisation, refitted from the stored data settings. A CSV's
    columns are matched to the training's feature names (see the module's docstring).

    Raises:
        SearchNotFoundError, TrialNotFoundError: no such search or trial.
        UserInputError: no stored model (suggests ``hpsearch replay --save``), a bad input file.
    """
    from hpsearch.trainer import Network

    record = storage.get_search(search)
    config = SearchConfig.from_stored(record)
    if "entrypoint" in config.train:
        raise UserInputError(
            f"search {record.name!r} trains its own model ({config.train['entrypoint']}); "
            "predict labels samples with hpsearch's own networks only: use your module's code",
            field="search",
        )
    trial = _best_trial(storage, record) if number is None else storage.get_trial(record.id, number)
    try:
        blob = storage.load_model(trial.id)
    except ModelNotFoundError:
        raise UserInputError(
            f"trial {trial.number} of {record.name!r} has no stored model; run "
            f"`hpsearch replay {record.name} {trial.number} --save` first",
            field="trial",
        ) from None
    network = Network.from_npz_bytes(blob, source=f"model of trial {trial.number}")
    data, _ = trial_dataset(config, record, trial)
    names = tuple(data.feature_names) if len(data.feature_names) == network.n_x else None
    X_raw, labels, by_name, shape = _read_inputs(
        input_path, network.n_x, config.data.label_column, names
    )
    _check_image_shape(shape, network, input_path, trial.number)
    dtype = np.dtype(str(config.train.get("dtype", "float32")))
    X = X_raw.astype(dtype)
    scale = _input_scale(config, X_raw)
    if scale != 1.0:
        X *= np.asarray(scale, dtype=dtype)
    if data.normalizer is not None:
        X = data.normalizer.transform(X)
    indices = network.predict(X)
    classes = tuple(data.classes)
    return Prediction(
        search=record.name,
        number=trial.number,
        labels=[classes[i] for i in indices.tolist()],
        indices=indices,
        probabilities=network.predict_proba(X),
        classes=classes,
        true_labels=labels,
        feature_names=names or (),
        matched_by="name" if by_name else "position",
    )
