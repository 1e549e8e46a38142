"""Feature names: every Dataset names its inputs; the CSV reader matches columns by those names,
reads a headerless file as data, and .npz inputs that are empty or not finite real numbers are
refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.trainer import load_dataset
from hpsearch.trainer._errors import DatasetError
from hpsearch.trainer.data import make_dataset, read_csv, read_npz, read_samples, write_idx


def _wine_like_csv(path, order=None) -> None:
    """Four named features and a text label column, columns written in ``order``."""
    columns = ["alcohol", "ash", "hue", "proline", "cultivar"]
    rows = [
        [13.2, 2.1, 1.0, 1050, "barolo"],
        [12.3, 2.3, 0.9, 520, "grignolino"],
        [12.9, 2.4, 0.7, 630, "barbera"],
        [14.1, 2.5, 1.1, 1280, "barolo"],
        [11.8, 2.0, 1.2, 410, "grignolino"],
        [13.0, 2.6, 0.6, 660, "barbera"],
    ]
    order = order or columns
    at = [columns.index(c) for c in order]
    lines = [",".join(order)] + [",".join(str(r[i]) for i in at) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_a_csv_dataset_is_named_by_its_header(tmp_path):
    path = tmp_path / "wine.csv"
    _wine_like_csv(path, ["hue", "cultivar", "alcohol", "ash", "proline"])
    data = load_dataset(str(path), label_column="cultivar", split=(0.5, 0.5), normalize="none")
    assert data.feature_names == ("hue", "alcohol", "ash", "proline")  # file order, label out


def test_built_in_and_array_datasets_get_names():
    sklearn = pytest.importorskip("sklearn.datasets")
    for name in ("iris", "wine", "breast_cancer", "digits"):
        expected = tuple(str(n) for n in getattr(sklearn, f"load_{name}")().feature_names)
        assert load_dataset(name, max_samples=200).feature_names == expected, name
    assert load_dataset("flower").feature_names == ("x0", "x1")
    X, y = np.arange(30.0).reshape(3, 10), np.arange(10) % 2
    assert make_dataset(X, y).feature_names == ("x0", "x1", "x2")
    named = make_dataset(X, y, feature_names=["a", "b", "c"])
    assert named.feature_names == ("a", "b", "c")
    with pytest.raises(DatasetError, match="2 feature names for 3 features"):
        make_dataset(X, y, feature_names=["a", "b"])


def test_idx_images_are_named_pixel_by_pixel(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 255, (20, 2, 3), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", (np.arange(20) % 2).astype(np.uint8))
    names = load_dataset(str(tmp_path)).feature_names
    assert names == tuple(f"pixel_{i}" for i in range(6))


def test_columns_are_matched_by_name_whatever_their_order(tmp_path):
    names = ("alcohol", "ash", "hue", "proline")
    _wine_like_csv(tmp_path / "a.csv")
    _wine_like_csv(tmp_path / "b.csv", ["proline", "cultivar", "hue", "ash", "alcohol"])
    kw = {"require_labels": False, "feature_names": names, "label_column": "cultivar"}
    a, b = read_csv(tmp_path / "a.csv", **kw), read_csv(tmp_path / "b.csv", **kw)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.feature_names == b.feature_names == names
    assert b.labels.tolist() == [
        "barolo",
        "grignolino",
        "barbera",
        "barolo",
        "grignolino",
        "barbera",
    ]
    # without the label column: still matched by name, no labels
    (tmp_path / "c.csv").write_text("hue,alcohol,proline,ash\n1.0,13.2,1050,2.1\n")
    c = read_csv(tmp_path / "c.csv", **kw)
    assert c.labels is None and c.X[:, 0].tolist() == [13.2, 2.1, 1.0, 1050]
    # a usual label name (label / target / y / class) is a label column without being named
    (tmp_path / "d.csv").write_text("hue,alcohol,proline,ash,Class\n1.0,13.2,1050,2.1,barolo\n")
    d = read_csv(tmp_path / "d.csv", require_labels=False, feature_names=names)
    assert d.labels.tolist() == ["barolo"] and d.X[:, 0].tolist() == [13.2, 2.1, 1.0, 1050]


def test_a_missing_or_extra_column_is_refused_naming_them(tmp_path):
    names = ("alcohol", "ash", "hue", "proline")
    path = tmp_path / "in.csv"
    path.write_text("alcohol,ash,hue,magnesium,cultivar\n13.2,2.1,1.0,100,barolo\n")
    with pytest.raises(DatasetError) as info:
        read_csv(path, require_labels=False, feature_names=names, label_column="cultivar")
    message = str(info.value)
    assert "\n" not in message and "missing column 'proline'" in message
    assert "extra column 'magnesium'" in message and "cultivar" not in message
    path.write_text("alcohol,ash,hue\n13.2,2.1,1.0\n")
    with pytest.raises(DatasetError, match=r"inputs: missing column 'proline' \(columns are"):
        read_csv(path, require_labels=False, feature_names=names)
    path.write_text("alcohol,ash,hue,hue,proline\n1,2,3,3,4\n")
    with pytest.raises(DatasetError, match="column 'hue' appears more than once"):
        read_csv(path, require_labels=False, feature_names=names)


def test_numeric_column_names_are_a_header_when_they_are_the_models(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("1,0\n5,6\n7,8\n")
    named = read_csv(path, require_labels=False, feature_names=("0", "1"))
    assert named.X.tolist() == [[6, 8], [5, 7]]  # header read, columns reordered
    plain = read_csv(path, require_labels=False, n_features=2)
    assert plain.X.shape == (2, 3) and plain.feature_names is None  # no names: data


def test_a_headerless_csv_keeps_its_first_row(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2\n3,4\n5,6\n7,8\n9,10\n")
    for samples in (
        read_csv(path, require_labels=False, n_features=2),
        read_samples(path, require_labels=False, feature_names=("a", "b")),
    ):
        assert samples.X.shape == (2, 5) and samples.X[:, 0].tolist() == [1, 2]
        assert samples.labels is None and samples.feature_names is None
    with pytest.raises(DatasetError, match=r"3 columns, expected 2 \(no header row"):
        path.write_text("1,2,3\n4,5,6\n")
        read_csv(path, require_labels=False, n_features=2)
    with pytest.raises(DatasetError, match="line 2 has 3 fields, the first row has 2"):
        path.write_text("1,2\n4,5,6\n")
        read_csv(path, require_labels=False)
    with pytest.raises(DatasetError, match=r"column '2' line 2: 'x' is not a number"):
        path.write_text("1,2\n4,x\n")
        read_csv(path, require_labels=False)
    path.write_text("1,2,0\n3,4,1\n")  # training data needs a header to find its labels
    with pytest.raises(DatasetError, match="no header row") as info:
        load_dataset(str(path))
    assert info.value.field == "label_column"


def test_an_empty_npz_is_one_line(tmp_path):
    for shape in ((0, 4), (0,), (0, 28, 28), (3, 0)):
        np.savez(tmp_path / "e.npz", X=np.zeros(shape))
        with pytest.raises(DatasetError, match=r"e\.npz: empty"):
            read_npz(tmp_path / "e.npz", require_labels=False, n_features=4)


@pytest.mark.parametrize(
    ("X", "y", "expected"),
    [
        (np.array([[1.0, np.nan], [2.0, 3.0]]), None, r"X holds NaN or inf \(first at sample 0, "),
        (np.array([[1.0, 2.0], [np.inf, 3.0]]), None, r"X holds NaN or inf \(first at sample 1, "),
        (np.array([[1 + 2j, 2.0], [1.0, 3.0]]), None, "X holds complex numbers"),
        (np.ones((2, 2)), np.array([0.0, np.nan]), "y holds NaN or inf"),
        (np.ones((2, 2)), np.array([0j, 1j]), "y holds complex numbers"),
    ],
)
def test_npz_values_are_refused_like_a_csv(tmp_path, X, y, expected):
    path = tmp_path / "bad.npz"
    np.savez(path, X=X, **({} if y is None else {"y": y}))
    with pytest.raises(DatasetError, match=expected) as info:
        read_npz(path, require_labels=False, n_features=2)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    if y is not None:
        with pytest.raises(DatasetError, match=expected):
            load_dataset(str(path))
