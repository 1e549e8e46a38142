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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.trainer._errors import DatasetError

from ._dataset import image_shape_of

# Header names taken as the label column when none is named, first match wins (case-insensitive).
LABEL_COLUMNS = ("label", "target", "y", "class")


@dataclass(frozen=True, eq=False)
class Samples:
    """Samples read from a file, before labels are encoded or anything is normalised.

    Unpacks as ``X, labels = read_csv(...)``.
    """

    X: np.ndarray  # (n_x, m): float64 from a CSV, the archive's own dtype from a .npz
    labels: np.ndarray | None  # (m,) raw labels (numbers, or strings from a CSV), None if absent
    # the names of X's rows, in order (a CSV's header); None when the file has none (a .npz, a
    # CSV without a header row): its columns are taken by position
    feature_names: tuple[str, ...] | None = None
    # (h, w, c) when a .npz holds images, X of shape (m, h, w) or (m, h, w, c); else None
    image_shape: tuple[int, int, int] | None = None

    def __iter__(self) -> Iterator[np.ndarray | None]:
        return iter((self.X, self.labels))


def read_samples(
    path: str | os.PathLike,
    *,
    label_column: str | None = None,
    require_labels: bool = True,
    n_features: int | None = None,
    feature_names: Sequence[str] | None = None,
) -> Samples:
    """Read ``path`` with :func:`read_csv` or :func:`read_npz`, chosen by its suffix.

    ``feature_names`` (a CSV's columns are matched by these names) is for :func:`read_csv`; a
    ``.npz`` has no names: its features are taken by position.

    Raises:
        DatasetError: no such file, a suffix other than .csv / .npz, or what the reader raises.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(
            path,
            label_column=label_column,
            require_labels=require_labels,
            n_features=n_features,
            feature_names=feature_names,
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
    flattened in C order, and the image's shape is kept as ``Samples.image_shape``: (m, h, w)
    -> (h, w, 1), (m, h, w, c) -> (h, w, c). ``y`` may be (m,), (1, m) or (m, 1).
    ``n_features``, when given, is checked.

    Raises:
        DatasetError: unreadable archive, missing array, no samples, X not real numbers (complex,
            text) or not finite (NaN, inf), y not finite, shapes that do not match.
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
    if np.issubdtype(X.dtype, np.complexfloating):
        raise DatasetError(f"{path}: X holds complex numbers; expected real numbers")
    if X.size == 0:
        raise DatasetError(f"{path}: empty (X of shape {X.shape} holds no samples)")
    _check_finite_labels(path, y)
    stored = X  # samples on the first axis when it has 3 or 4 axes (images)
    X = _npz_columns(path, X, y) if y is not None else _npz_columns_unlabelled(X, n_features)
    if X.shape[1] == 0:
        raise DatasetError(f"{path}: empty ({'y' if y is not None else 'X'} has no samples)")
    if n_features is not None and X.shape[0] != n_features:
        raise DatasetError(f"{path}: X has {X.shape[0]} features per sample, expected {n_features}")
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]  # (feature, sample)
        raise DatasetError(
            f"{path}: X holds NaN or inf (first at sample {bad[1]}, feature {bad[0]}); "
            "expected finite numbers"
        )
    if X.dtype == np.bool_:
        X = X.astype(np.uint8)
    shape = image_shape_of(stored)
    if shape is not None and shape[0] * shape[1] * shape[2] != X.shape[0]:
        shape = None  # the samples were not on the first axis
    return Samples(X=X, labels=None if y is None else y.ravel(), image_shape=shape)


def _check_finite_labels(path: Path, y: np.ndarray | None) -> None:
    """Labels may be numbers or text, but not complex, NaN or inf."""
    if y is None:
        return
    if np.issubdtype(y.dtype, np.complexfloating):
        raise DatasetError(f"{path}: y holds complex numbers; expected class labels")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise DatasetError(f"{path}: y holds NaN or inf; expected class labels")


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
    feature_names: Sequence[str] | None = None,
) -> Samples:
    """A ``.csv`` of numeric feature columns and a label column, with a header row.

    The label column is ``label_column``, else the first header named as in ``LABEL_COLUMNS``
    (label / target / y / class, any case). With ``require_labels=False`` the labels are
    optional: a named ``label_column`` absent from the header means no labels, and a header
    matching ``LABEL_COLUMNS`` is taken as the labels only when the other columns number
    ``n_features`` (or ``n_features`` is None). Labels are float64 when every one is a number,
    otherwise the stripped strings. ``n_features``, when given, is checked.

    ``feature_names`` (a model's inputs, in order) matches the columns by name: ``X``'s rows come
    in that order whatever the file's order; besides them only a label column may be present
    (``label_column`` or a usual name); a missing or extra column is refused, naming them.

    A first row of numbers only is data, not a header (unless it is exactly ``feature_names``):
    the file has no header row and its columns are taken by position, all of them features
    (``Samples.feature_names`` is None). Training data needs a header (to find its labels).

    Raises:
        DatasetError: unreadable file, no data rows, no label column (``field="label_column"``),
            columns that do not match ``feature_names``, a name used twice, ragged rows, a cell
            that is not a finite number (naming its column and line).
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
    first = [cell.strip() for cell in rows[0]]
    if not _is_header(first, feature_names):
        return _headerless(path, rows, require_labels, n_features)
    header, data = first, rows[1:]
    if not data:
        raise DatasetError(f"{path}: header only, no data rows")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DatasetError(f"{path}: column {twice[0]!r} appears more than once in the header")
    if feature_names is not None:
        features, label_at = _match_names(path, header, list(feature_names), label_column)
    else:
        label_at = _label_index(path, header, label_column, require_labels, n_features)
        features = [c for c in range(len(header)) if c != label_at]
    if label_at is not None and len(header) < 2:
        raise DatasetError(f"{path}: needs at least one feature column besides the label")
    _check_ragged(path, data, len(header), "the header has")
    if n_features is not None and len(features) != n_features:
        raise DatasetError(f"{path}: {len(features)} feature columns, expected {n_features}")
    table = np.array(data, dtype=str)  # (m, columns), text
    X = _numbers(path, np.char.strip(table[:, features]), [header[c] for c in features], 2)
    names = tuple(header[c] for c in features)
    if label_at is None:
        return Samples(X=X.T, labels=None, feature_names=names)
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
    return Samples(X=X.T, labels=labels, feature_names=names)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_header(first: list[str], feature_names: Sequence[str] | None) -> bool:
    """A first row is a header unless every cell is a number (and it is not the expected names,
    which a model trained on columns named 0, 1, ... may have)."""
    if feature_names is not None and set(feature_names) <= set(first):
        return True
    return not all(_is_number(cell) for cell in first)


def _headerless(
    path: Path, rows: list[list[str]], require_labels: bool, n_features: int | None
) -> Samples:
    """A CSV whose first row is data: every column a feature, taken by position."""
    if require_labels:
        raise DatasetError(
            f"{path}: no header row (the first row is all numbers); add one naming the columns, "
            "with a label column",
            field="label_column",
        )
    width = len(rows[0])
    _check_ragged(path, rows[1:], width, "the first row has", first_line=2)
    if n_features is not None and width != n_features:
        raise DatasetError(
            f"{path}: {width} columns, expected {n_features} (no header row: columns are "
            "taken by position)"
        )
    columns = [f"{c + 1}" for c in range(width)]
    X = _numbers(path, np.char.strip(np.array(rows, dtype=str)), columns, 1)
    return Samples(X=X.T, labels=None, feature_names=None)


def _match_names(
    path: Path, header: list[str], names: list[str], label_column: str | None
) -> tuple[list[int], int | None]:
    """(the column of each name, the label column or None): columns matched by name."""
    at = {h: c for c, h in enumerate(header)}
    wanted = set(names)
    others = [h for h in header if h not in wanted]
    usual = [h for n in LABEL_COLUMNS for h in others if h.lower() == n]
    label = label_column if label_column in others else next(iter(usual), None)
    missing = [n for n in names if n not in at]
    extra = [h for h in others if h != label]
    if missing or extra:
        parts = [f"missing {_listed(missing)}"] if missing else []
        parts += [f"extra {_listed(extra)}"] if extra else []
        raise DatasetError(
            f"{path}: the header does not name the model's {len(names)} inputs: "
            f"{'; '.join(parts)} (columns are matched by name, and only a label column may be "
            "added; a file without a header row is taken by position)"
        )
    return [at[n] for n in names], None if label is None else at[label]


def _listed(names: list[str], most: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f"column{'s' * (len(names) > 1)} {shown}{more}"


def _check_ragged(
    path: Path, rows: list[list[str]], width: int, what: str, first_line: int = 2
) -> None:
    for line, row in enumerate(rows, start=first_line):
        if len(row) != width:
            raise DatasetError(f"{path}: line {line} has {len(row)} fields, {what} {width}")


def _numbers(path: Path, text: np.ndarray, columns: list[str], first_line: int) -> np.ndarray:
    """Text cells (m, n) -> float64, or raise naming the first cell that is not a finite number."""
    try:
        X = text.astype(np.float64)
    except ValueError:
        X = None
    if X is None or not np.isfinite(X).all():
        _locate_bad_cell(path, text, columns, first_line)
    return X


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


def _locate_bad_cell(path: Path, text: np.ndarray, columns: list[str], first_line: int) -> None:
    """Raise naming the first cell that is not a finite number (column, line of the file)."""
    for i, row in enumerate(text):
        for j, cell in enumerate(row.tolist()):
            where = f"{path}: column {columns[j]!r} line {i + first_line}"
            if cell == "":
                raise DatasetError(f"{where} is empty (missing value)")
            try:
                value = float(cell)
            except ValueError:
                raise DatasetError(f"{where}: {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise DatasetError(f"{where}: {cell!r} is not a finite number")
    raise AssertionError("no bad cell found")  # pragma: no cover - caller saw one
