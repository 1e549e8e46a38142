"""The user's own files: a ``.csv`` table or a ``.npz`` archive of features and (optional) labels.

:func:`read_samples`, :func:`read_csv` and :func:`read_npz` are public so that every command
reading a user's samples (training data, prediction inputs) reads them the same way. They return
:class:`Samples`: ``X`` (n_x, m), samples as columns, and the raw labels (m,) or None. Every
problem raises one :class:`DatasetError` line starting with the file's path.
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hpsearch.trainer._errors import DatasetError

# Header names taken as the label column when none is named, first match wins (case-insensitive).
LABEL_COLUMNS = ("label", "target", "y", "class")


class Samples(NamedTuple):
    """Samples read from a file, before labels are encoded or anything is normalised."""

    X: np.ndarray  # (n_x, m): float64 from a CSV, the archive's own dtype from a .npz
    labels: np.ndarray | None  # (m,) raw labels (numbers, or strings from a CSV), None if absent


def read_samples(
    path: str | os.PathLike,
    *,
    label_column: str | None = None,
    require_labels: bool = True,
    n_features: int | None = None,
) -> Samples:
    """Read ``path`` with :func:`read_csv` or :func:`read_npz`, chosen by its suffix.

    Raises:
        DatasetError: no such file, a suffix other than .csv / .npz, or what the reader raises.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(
            path, label_column=label_column, require_labels=require_labels, n_features=n_features
        )
    if suffix == ".npz":
        return read_npz(path, require_labels=require_labels, n_features=n_features)
    raise DatasetError(
        f"{path}: unsupported file type {suffix or '(none)'!r} (expected .npz, .csv)"
    )


def read_npz(
    path: str | os.PathLike, *, require_labels: bool = True, n_features: int | None = None
) -> Samples:
    """A ``.npz`` archive with an array ``X`` and, unless ``require_labels`` is False, ``y``.

    Files usually store rows as samples, so ``X`` of shape (m, n_x) is transposed to (n_x, m);
    ``X`` already (n_x, m) is accepted when only its second axis matches ``len(y)`` (or, without
    ``y``, when only its first axis matches ``n_features``). Extra axes (images, (m, 28, 28)) are
    flattened. ``y`` may be (m,), (1, m) or (m, 1). ``n_features``, when given, is checked.

    Raises:
        DatasetError: unreadable archive, missing array, non-numeric X, shapes that do not match.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
    for key in ("X", "y") if require_labels else ("X",):
        if key not in arrays:
            found = ", ".join(arrays) or "none"
            raise DatasetError(f"{path}: no array named {key!r} (found: {found})")
    X, y = arrays["X"], arrays.get("y")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise DatasetError(f"{path}: X must be numeric; got dtype {X.dtype}")
    X = _npz_columns(path, X, y) if y is not None else _npz_columns_unlabelled(X, n_features)
    if X.shape[1] == 0:
        raise DatasetError(f"{path}: empty ({'y' if y is not None else 'X'} has no samples)")
    if n_features is not None and X.shape[0] != n_features:
        raise DatasetError(f"{path}: X has {X.shape[0]} features per sample, expected {n_features}")
    if X.dtype == np.bool_:
        X = X.astype(np.uint8)
    return Samples(X=X, labels=None if y is None else y.ravel())


def _npz_columns(path: Path, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``X`` as (n_x, m), its orientation told by the m labels in ``y``."""
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1:
        raise DatasetError(f"{path}: y must be 1-D class labels of shape (m,); got {y.shape}")
    m = y.shape[0]
    if m == 0:
        raise DatasetError(f"{path}: empty (y has no samples)")
    if X.ndim == 1 and X.shape[0] == m:
        return X[None, :]
    if X.ndim >= 2 and X.shape[0] == m:
        return X.reshape(m, -1).T  # rows are samples in the file -> columns here
    if X.ndim == 2 and X.shape[1] == m:
        return X  # already (n_x, m)
    raise DatasetError(
        f"{path}: X of shape {X.shape} does not match y with {m} labels "
        "(expected X as (m, n_x) or (n_x, m))"
    )


def _npz_columns_unlabelled(X: np.ndarray, n_features: int | None) -> np.ndarray:
    """``X`` as (n_x, m) without labels: rows are samples unless only columns fit n_features."""
    if X.ndim == 0:
        return X.reshape(1, 1)
    if X.ndim == 1:
        one_sample = n_features is not None and n_features > 1 and X.shape[0] == n_features
        return X[:, None] if one_sample else X[None, :]
    rows = X.reshape(X.shape[0], -1)  # (m, n_x) as stored
    if n_features is not None and rows.shape[1] != n_features and X.shape[0] == n_features:
        return rows  # stored as (n_x, m) already
    return rows.T


def read_csv(
    path: str | os.PathLike,
    *,
    label_column: str | None = None,
    require_labels: bool = True,
    n_features: int | None = None,
) -> Samples:
    """A ``.csv`` with a header row: numeric feature columns and a label column.

    The label column is ``label_column``, else the first header named as in ``LABEL_COLUMNS``
    (label / target / y / class, any case). With ``require_labels=False`` the labels are
    optional: a named ``label_column`` absent from the header means no labels, and a header
    matching ``LABEL_COLUMNS`` is taken as the labels only when the other columns number
    ``n_features`` (or ``n_features`` is None). Labels are float64 when every one is a number,
    otherwise the stripped strings. ``n_features``, when given, is checked.

    Raises:
        DatasetError: unreadable file, no data rows, no label column (``field="label_column"``),
            ragged rows, a cell that is not a finite number (naming its column and line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read as CSV ({e})") from None
    if not rows:
        raise DatasetError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if len(rows) == 1:
        raise DatasetError(f"{path}: header only, no data rows")
    label_at = _label_index(path, header, label_column, require_labels, n_features)
    if label_at is not None and len(header) < 2:
        raise DatasetError(f"{path}: needs at least one feature column besides the label")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
    features = [c for c in range(len(header)) if c != label_at]
    if n_features is not None and len(features) != n_features:
        raise DatasetError(f"{path}: {len(features)} feature columns, expected {n_features}")
    table = np.array(rows[1:], dtype=str)  # (m, columns), text
    text = np.char.strip(table[:, features])  # (m, n_x)
    try:
        X = text.astype(np.float64)
    except ValueError:
        X = None
    if X is None or not np.isfinite(X).all():
        _locate_bad_cell(path, text, [header[c] for c in features])
    if label_at is None:
        return Samples(X=X.T, labels=None)
    labels = np.char.strip(table[:, label_at])
    empty = np.flatnonzero(labels == "")
    if empty.size:
        raise DatasetError(
            f"{path}: label column {header[label_at]!r} line {empty[0] + 2} is empty"
        )
    try:
        numeric = labels.astype(np.float64)
        if np.isfinite(numeric).all():
            labels = numeric
    except ValueError:
        pass
    return Samples(X=X.T, labels=labels)


def _label_index(
    path: Path,
    header: list[str],
    label_column: str | None,
    require_labels: bool,
    n_features: int | None,
) -> int | None:
    """Which column holds the labels (see :func:`read_csv`), None when there are none."""
    if label_column is not None:
        if label_column in header:
            return header.index(label_column)
        if not require_labels:
            return None
        raise DatasetError(
            f"{path}: label_column {label_column!r} is not a column (columns: {', '.join(header)})",
            field="label_column",
        )
    lowered = [h.lower() for h in header]
    found = [n for n in LABEL_COLUMNS if n in lowered]
    if require_labels and not found:
        raise DatasetError(
            f"{path}: no label column named {'/'.join(LABEL_COLUMNS)}; name it with "
            "label_column (--label-column)",
            field="label_column",
        )
    if not found or not (require_labels or n_features is None or len(header) == n_features + 1):
        return None  # optional labels: "y" may be a feature when every column is one
    return lowered.index(found[0])


def _locate_bad_cell(path: Path, text: np.ndarray, columns: list[str]) -> None:
    """Raise naming the first cell that is not a finite number (column, line of the file)."""
    for i, row in enumerate(text):
        for j, cell in enumerate(row.tolist()):
            where = f"{path}: column {columns[j]!r} line {i + 2}"
            if cell == "":
                raise DatasetError(f"{where} is empty (missing value)")
            try:
                value = float(cell)
            except ValueError:
                raise DatasetError(f"{where}: {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise DatasetError(f"{where}: {cell!r} is not a finite number")
    raise AssertionError("no bad cell found")  # pragma: no cover - caller saw one
