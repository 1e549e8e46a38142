"""The dataset the trainer sees (train / dev / test, samples as columns) and its normaliser.

Also the loaders' common currency, :class:`RawData`: what each source (generator, bundled file, IDX
folder, CSV/.npz file) returns before labels are encoded and the splits are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch.trainer._errors import DatasetError

NORMALIZERS = ("standard", "minmax", "none")  # Normalizer kinds, load_dataset's normalize=


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
            raise DatasetError(
                f"normalize must be one of {', '.join(NORMALIZERS)}; got {kind!r}",
                field="normalize",
            )
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
    feature_names: tuple[str, ...] = ()  # feature i's name (CSV header); () -> x0, x1, ...
    # (h, w, c) when every sample is an image: its column is image.reshape(-1) in C order of
    # (h, w, c), so dense networks see the flat vector and convolutions the image; None: tabular
    image_shape: tuple[int, int, int] | None = None

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
        names = tuple(str(n) for n in self.feature_names) or generated_names(self.n_x)
        object.__setattr__(self, "feature_names", names)
        if len(self.feature_names) != self.n_x:
            raise DatasetError(
                f"dataset {self.name}: {len(self.feature_names)} feature names for "
                f"{self.n_x} features"
            )
        shape = check_image_shape(self.image_shape, self.n_x, f"dataset {self.name}")
        object.__setattr__(self, "image_shape", shape)

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
            "image_shape": list(self.image_shape) if self.image_shape else None,
        }

    def describe(self) -> str:
        """One line for people, e.g. ``flower: n_x=2, train 280 / dev 60 / test 60, 2 classes``."""
        s = self.summary()
        names = ", ".join(self.classes[:10]) + (", ..." if self.n_classes > 10 else "")
        image = "x".join(map(str, self.image_shape)) + " images, " if self.image_shape else ""
        return (
            f"{self.name}: {image}n_x={s['n_x']}, train {s['n_train']} / dev {s['n_dev']} / "
            f"test {s['n_test']}, {self.n_classes} classes ({names})"
        )


def check_image_shape(shape: object, n_x: int, what: str) -> tuple[int, int, int] | None:
    """``shape`` as a tuple (h, w, c) of positive ints whose product is ``n_x``, or None.

    Raises:
        DatasetError: not three positive integers, or h * w * c is not ``n_x``.
    """
    if shape is None:
        return None
    given = tuple(shape) if isinstance(shape, tuple | list) else ()
    if len(given) != 3 or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 1 for d in given
    ):
        raise DatasetError(f"{what}: image_shape must be (height, width, channels); got {shape!r}")
    dims = (int(given[0]), int(given[1]), int(given[2]))
    if dims[0] * dims[1] * dims[2] != n_x:
        raise DatasetError(
            f"{what}: image_shape {dims} holds {dims[0] * dims[1] * dims[2]} values per sample, "
            f"but samples have {n_x} features"
        )
    return dims


def image_shape_of(X: np.ndarray) -> tuple[int, int, int] | None:
    """The image shape (h, w, c) of samples stacked on X's first axis: (m, h, w) -> (h, w, 1),
    (m, h, w, c) -> (h, w, c); None for flat samples (m, n_x) or other ranks."""
    if X.ndim == 3:
        return (int(X.shape[1]), int(X.shape[2]), 1)
    if X.ndim == 4:
        return (int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
    return None


def generated_names(n_x: int, prefix: str = "x") -> tuple[str, ...]:
    """Names for features that have none: ``x0 .. x{n_x-1}`` (``pixel_0 ..`` for images)."""
    return tuple(f"{prefix}{i}" for i in range(n_x))


@dataclass
class RawData:
    """What each loader returns before labels are encoded and splits are drawn."""

    name: str
    X: np.ndarray  # (n_x, m) in the source's own dtype (uint8 for images)
    labels: np.ndarray  # (m,) raw labels: ints, floats or strings
    scale: float = 1.0  # multiply after casting to the float dtype (1/255 for image bytes)
    names: dict | None = None  # raw label -> display name
    X_test: np.ndarray | None = None  # the source's own test split, when it has one
    labels_test: np.ndarray | None = None
    source: str = ""
    feature_names: tuple[str, ...] | None = None  # None: generated by Dataset (x0, x1, ...)
    image_shape: tuple[int, int, int] | None = None  # (h, w, c) of image samples; None: tabular
