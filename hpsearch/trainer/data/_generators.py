"""Generated 2-D datasets: Ng's planar flower, moons, circles and CS231n's spirals.

Each generator returns ``X`` (2, m) and ``y`` (m,) int64. :func:`load_dataset` names them
``flower``, ``moons``, ``circles`` and ``spirals`` and takes their options after a colon:
``moons:m=2000,noise=0.3,seed=1``.
"""

from __future__ import annotations

import numpy as np

from hpsearch.trainer._errors import DatasetError

from ._dataset import RawData


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


GENERATORS = {
    "flower": (make_flower, {"m": int, "noise": float, "seed": int}),
    "moons": (make_moons, {"m": int, "noise": float, "seed": int}),
    "circles": (make_circles, {"m": int, "noise": float, "factor": float, "seed": int}),
    "spirals": (make_spirals, {"m": int, "classes": int, "noise": float, "seed": int}),
}


def generate(name: str, options: str) -> RawData:
    """Run generator ``name`` with ``options`` as written after the colon (``m=2000,noise=0.3``)."""
    fn, types = GENERATORS[name]
    kwargs = {}
    for item in filter(None, options.split(",")):
        key, sep, text = (part.strip() for part in item.partition("="))
        if not sep:
            raise DatasetError(
                f"dataset {name}: options are key=value; got {item!r}", field="dataset"
            )
        if key not in types:
            raise DatasetError(
                f"dataset {name}: unknown option {key!r} (expected {', '.join(types)})",
                field="dataset",
            )
        try:
            kwargs[key] = types[key](text)
        except ValueError:
            raise DatasetError(
                f"dataset {name}: option {key} must be {types[key].__name__}; got {text!r}",
                field="dataset",
            ) from None
    if kwargs.get("m", 1000) < 4 or kwargs.get("noise", 0.0) < 0 or kwargs.get("classes", 2) < 2:
        raise DatasetError(
            f"dataset {name}: need m >= 4, noise >= 0, classes >= 2; got {kwargs}", field="dataset"
        )
    X, y = fn(**kwargs)
    opts = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return RawData(name=name, X=X, labels=y, source=f"generated {name}({opts})")
