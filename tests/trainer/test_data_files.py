"""The user's own files: CSV and .npz through load_dataset, and the public readers."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import LABEL_COLUMNS
from hpsearch.trainer._errors import DatasetError, TrainerInputError
from hpsearch.trainer.data import (
    Dataset,
    Samples,
    load_dataset,
    read_csv,
    read_npz,
    read_samples,
)


def _all_X(d: Dataset) -> np.ndarray:
    return np.concatenate([d.X_train, d.X_dev, d.X_test], axis=1)


def _m(d: Dataset) -> int:
    return d.X_train.shape[1] + d.X_dev.shape[1] + d.X_test.shape[1]


def test_npz_rows_are_samples_and_are_transposed(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 5))
    y = np.repeat(["cat", "dog", "emu"], 30)
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    d = load_dataset(str(tmp_path / "rows.npz"), normalize="none", dtype="float64")
    assert d.n_x == 5 and _m(d) == 90 and d.classes == ("cat", "dog", "emu")
    # every sample (column) of the dataset is a row of the file, with its own label
    lookup = {tuple(row): label for row, label in zip(X, y, strict=True)}
    for col, k in zip(d.X_train.T, d.y_train, strict=True):
        assert lookup[tuple(col)] == d.classes[k]
    np.savez(tmp_path / "cols.npz", X=X.T, y=y[None, :])  # Ng-style (n_x, m) and (1, m)
    assert load_dataset(str(tmp_path / "cols.npz")).n_x == 5
    np.savez(tmp_path / "imgs.npz", X=rng.integers(0, 255, (60, 4, 4)), y=np.arange(60) % 2)
    assert load_dataset(str(tmp_path / "imgs.npz")).n_x == 16


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.zeros((10, 2))}, "no array named 'y'"),
        ({"X": np.zeros((10, 2)), "y": np.arange(11) % 2}, r"shape \(10, 2\) does not match y"),
        ({"X": np.full((10, 2), np.nan), "y": np.arange(10) % 2}, "NaN or inf"),
        ({"X": np.array([[np.inf, 0]] * 10), "y": np.arange(10) % 2}, "NaN or inf"),
        ({"X": np.zeros((10, 2)), "y": np.ones(10)}, "only one class"),
        ({"X": np.zeros((10, 2)), "y": np.zeros((10, 2))}, "y must be 1-D"),
        ({"X": np.array([["a", "b"]] * 10), "y": np.arange(10) % 2}, "X must be numeric"),
        ({"X": np.zeros((0, 2)), "y": np.zeros(0)}, "empty"),
    ],
)
def test_bad_npz_files(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(path))
    assert "bad.npz" in str(info.value) and "\n" not in str(info.value)


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_text("hello")
    with pytest.raises(DatasetError, match=r"junk\.npz: not a readable \.npz"):
        load_dataset(str(path))


def _csv_text(rows: int = 12, label: str = "label") -> str:
    lines = [f"height,weight,{label}"]
    lines += [f"{1.5 + i / 10},{60 + i},{'ab'[i % 2]}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_csv_default_and_named_label_columns(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(_csv_text())
    d = load_dataset(str(path), normalize="none", dtype="float64")
    assert d.n_x == 2 and d.classes == ("a", "b") and _m(d) == 12
    assert np.all(_all_X(d)[1] >= 60) and d.name == "people"
    path.write_text(_csv_text(label="Target"))
    assert load_dataset(str(path)).classes == ("a", "b")
    path.write_text("kind,x1,x2\n" + "".join(f"{i % 3},{i},{i * i}\n" for i in range(30)))
    d = load_dataset(str(path), label_column="kind")
    assert d.classes == ("0", "1", "2") and d.n_x == 2


@pytest.mark.parametrize(
    ("text", "label_column", "message"),
    [
        (_csv_text(), "species", "label_column 'species' is not a column"),
        ("a,b\n1,2\n3,4\n", None, "no label column named label/target/y/class.*label_column"),
        (_csv_text().replace("1.8,63", "tall,63"), None, "column 'height' line 5: 'tall' is not"),
        (_csv_text().replace("1.8,63", ",63"), None, "column 'height' line 5 is empty"),
        (_csv_text().replace("1.8,63", "nan,63"), None, "column 'height' line 5: 'nan' is not a"),
        (_csv_text().replace(",63,", ",inf,"), None, "column 'weight' line 5: 'inf' is not a fin"),
        (_csv_text().replace("1.8,63,b", "1.8,63"), None, "line 5 has 2 fields, the header has 3"),
        (_csv_text().replace(",a\n", ",b\n"), None, r"only one class \(b\)"),
        (_csv_text().replace("63,b", "63,"), None, "label column 'label' line 5 is empty"),
        ("height,weight,label\n", None, "header only"),
        ("\n\n", None, "empty file"),
    ],
)
def test_bad_csv_files(tmp_path, text, label_column, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(path), label_column=label_column)
    assert "bad.csv" in str(info.value) and "\n" not in str(info.value)


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset 'nosuch\.csv'.*no such file"):
        load_dataset("nosuch.csv")
    with pytest.raises(DatasetError, match="not a built-in"):
        load_dataset("imagenet")
    (tmp_path / "e.npz").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"e\.npz: empty file"):
        load_dataset(str(tmp_path / "e.npz"))
    (tmp_path / "d.txt").write_text("1,2\n")
    with pytest.raises(DatasetError, match=r"unsupported file type '\.txt'"):
        load_dataset(str(tmp_path / "d.txt"))
    assert issubclass(DatasetError, TrainerInputError)


def test_label_column_errors_name_the_option(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    for label_column in (None, "species"):
        with pytest.raises(DatasetError, match="label") as info:
            load_dataset(str(path), label_column=label_column)
        assert info.value.field == "label_column"


# --- the public readers (training data and prediction inputs alike) ----------------------------


def test_read_csv_returns_columns_and_raw_labels(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(_csv_text(rows=4))
    X, labels = read_csv(path)
    np.testing.assert_array_equal(X, [[1.5, 1.6, 1.7, 1.8], [60, 61, 62, 63]])  # (n_x, m)
    assert X.dtype == np.float64 and labels.tolist() == ["a", "b", "a", "b"]
    path.write_text("x1,x2,y\n1,2,0\n3,4,1\n")
    assert read_csv(path).labels.tolist() == [0.0, 1.0]  # numbers when every label is one
    assert LABEL_COLUMNS == ("label", "target", "y", "class")


def test_read_csv_with_optional_labels(tmp_path):
    path = tmp_path / "inputs.csv"
    path.write_text("height,weight\n1.5,60\n1.6,61\n")
    samples = read_csv(path, require_labels=False, n_features=2)
    assert samples.X.shape == (2, 2) and samples.labels is None
    path.write_text(_csv_text(rows=3))
    assert read_csv(path, require_labels=False, n_features=2).labels.tolist() == ["a", "b", "a"]
    # a named label column absent from the inputs means no labels, not an error
    path.write_text("height,weight\n1.5,60\n")
    assert read_csv(path, label_column="species", require_labels=False).labels is None
    # a feature that happens to be called "y": all columns are features when n_features says so
    path.write_text("x,y\n1,2\n3,4\n")
    samples = read_csv(path, require_labels=False, n_features=2)
    assert samples.labels is None and samples.X.tolist() == [[1, 3], [2, 4]]
    with pytest.raises(DatasetError, match=r"inputs\.csv: 2 feature columns, expected 3"):
        read_csv(path, require_labels=False, n_features=3)
    path.write_text("x,y\n1,abc\n")
    with pytest.raises(DatasetError, match="column 'y' line 2: 'abc' is not a number"):
        read_csv(path, require_labels=False, n_features=2)


def test_read_npz_with_optional_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))  # rows are samples, as files usually store them
    np.savez(tmp_path / "rows.npz", X=X)
    samples = read_npz(tmp_path / "rows.npz", require_labels=False, n_features=3)
    np.testing.assert_array_equal(samples.X, X.T)
    assert samples.labels is None
    np.savez(tmp_path / "cols.npz", X=X.T)  # (n_x, m) already: only the first axis fits
    cols = read_npz(tmp_path / "cols.npz", require_labels=False, n_features=3)
    np.testing.assert_array_equal(cols.X, X.T)
    np.savez(tmp_path / "one.npz", X=X[0])  # one sample of 3 features
    assert read_npz(tmp_path / "one.npz", require_labels=False, n_features=3).X.shape == (3, 1)
    np.savez(tmp_path / "imgs.npz", X=rng.integers(0, 255, (5, 2, 2), dtype=np.uint8))
    imgs = read_npz(tmp_path / "imgs.npz", require_labels=False, n_features=4).X
    assert imgs.shape == (4, 5) and imgs.dtype == np.uint8  # bytes stay bytes: caller scales
    np.savez(tmp_path / "labelled.npz", X=X, y=np.arange(7) % 2)
    assert read_npz(tmp_path / "labelled.npz", require_labels=False).labels.tolist() == [
        0, 1, 0, 1, 0, 1, 0
    ]  # fmt: skip
    with pytest.raises(DatasetError, match="X has 3 features per sample, expected 4"):
        read_npz(tmp_path / "rows.npz", require_labels=False, n_features=4)
    with pytest.raises(DatasetError, match="no array named 'y'"):
        read_npz(tmp_path / "rows.npz")


def test_read_samples_chooses_by_suffix(tmp_path):
    (tmp_path / "a.csv").write_text("x1,x2\n1,2\n")
    np.savez(tmp_path / "a.npz", X=np.ones((1, 2)))
    for name in ("a.csv", "a.npz"):
        samples = read_samples(tmp_path / name, require_labels=False, n_features=2)
        assert isinstance(samples, Samples) and samples.X.shape == (2, 1)
    with pytest.raises(DatasetError, match=r"nope\.csv: no such file"):
        read_samples(tmp_path / "nope.csv")
    (tmp_path / "a.txt").write_text("1,2\n")
    with pytest.raises(
        DatasetError, match=r"unsupported file type '\.txt' \(expected \.npz, \.csv\)"
    ):
        read_samples(tmp_path / "a.txt")
