"""Datasets for the trainer: generated, bundled, MNIST-format (IDX) and the user's own files.

Samples are columns (Ng's convention): every ``X`` is ``(n_x, m)``, every ``y`` an ``int64``
vector ``(m,)`` of class indices. :func:`load_dataset` is the one entry point; the readers of
the user's files (:func:`read_samples`, :func:`read_csv`, :func:`read_npz`) are public so that
prediction inputs are read as training data is. Imports only NumPy and the standard library.

One topic per module: ``_dataset`` (Dataset, Normalizer), ``_generators`` (flower, moons, ...),
``_bundled`` (scikit-learn's files, Fashion-MNIST, MNIST), ``_idx`` (the IDX format),
``_files`` (CSV and .npz), ``_split`` (stratified splits), ``_load`` (load_dataset).
"""

from __future__ import annotations

from ._dataset import NORMALIZERS, Dataset, Normalizer
from ._files import LABEL_COLUMNS, Samples, read_csv, read_npz, read_samples
from ._generators import make_circles, make_flower, make_moons, make_spirals
from ._idx import read_idx, write_idx
from ._load import BUILTIN_DATASETS, DEFAULT_SPLIT, load_dataset, make_dataset
from ._split import stratified_split

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_SPLIT",
    "LABEL_COLUMNS",
    "NORMALIZERS",
    "Dataset",
    "Normalizer",
    "Samples",
    "load_dataset",
    "make_circles",
    "make_dataset",
    "make_flower",
    "make_moons",
    "make_spirals",
    "read_csv",
    "read_idx",
    "read_npz",
    "read_samples",
    "stratified_split",
    "write_idx",
]
