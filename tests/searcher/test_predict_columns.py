"""`predict` matches a CSV's columns by name, on a real search: scikit-learn's wine written as a
CSV with a header and a text label column, searched on the session's Ray; the same rows with
their columns reversed get the same labels, a missing column is refused naming it, a headerless
CSV keeps every row, and .npz inputs that are empty or not finite are one line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import UserInputError
from hpsearch.searcher import parse_config, predict_file, run_search
from hpsearch.storage import open_storage
from tests.cli_checks import one_error_line

NAME = "wine-cols"
CULTIVARS = ("barolo", "grignolino", "barbera")  # wine's classes 0, 1, 2
PICK = [0, 1, 30, 60, 61, 80, 100, 131, 150, 177]  # ten rows across the three classes
runner = CliRunner()


@pytest.fixture(scope="module")
def wine_search(ray_local, tmp_path_factory):
    """(storage URL, folder, header, rows): a tiny search over wine.csv, its best model stored."""
    sklearn = pytest.importorskip("sklearn.datasets")
    wine = sklearn.load_wine()
    folder = tmp_path_factory.mktemp("wine")
    header = [*(str(n) for n in wine.feature_names), "cultivar"]
    rows = [
        [*(repr(float(v)) for v in x), CULTIVARS[k]]
        for x, k in zip(wine.data, wine.target, strict=True)
    ]
    _write(folder / "wine.csv", header, rows)
    config = parse_config(
        {
            "search": {"name": NAME, "trials": 2, "workers": 1, "pruner": "none", "seed": 1},
            "data": {"dataset": str(folder / "wine.csv"), "label_column": "cultivar"},
            "train": {"epochs": 30, "layers": 1, "units": 16, "batch_size": 16},
            "space": {"learning_rate": {"type": "float", "low": 5e-3, "high": 2e-2, "log": True}},
        }
    )
    url = f"sqlite:///{folder / 'wine.db'}"
    with open_storage(url) as store:
        run_search(config, store)
    return url, folder, header, [rows[i] for i in PICK]


def _write(path: Path, header: list[str] | None, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows(([header] if header else []) + rows)
    return path


def _reordered(header: list[str], rows: list[list[str]], order: list[str]):
    at = [header.index(c) for c in order]
    return order, [[r[i] for i in at] for r in rows]


def _predict(url: str, path: Path):
    with open_storage(url) as store:
        return predict_file(store, NAME, path)


def test_reversed_columns_give_the_same_labels(wine_search):
    url, folder, header, rows = wine_search
    same = _predict(url, _write(folder / "same.csv", header, rows))
    order, flipped = _reordered(header, rows, header[::-1])  # label first, proline ... alcohol
    reversed_ = _predict(url, _write(folder / "reversed.csv", order, flipped))
    assert same.labels == reversed_.labels
    np.testing.assert_array_equal(same.probabilities, reversed_.probabilities)
    assert same.matched_by == reversed_.matched_by == "name"
    assert same.feature_names == tuple(header[:-1])  # the training's order
    # the label column is accepted and scored: the model is no coin toss on these rows
    assert same.true_labels == [r[-1] for r in rows]
    assert same.accuracy == reversed_.accuracy and same.accuracy >= 0.8
    # without the label column: the same labels, no accuracy
    order, unlabelled = _reordered(header, rows, header[-2::-1])
    bare = _predict(url, _write(folder / "bare.csv", order, unlabelled))
    assert bare.labels == same.labels and bare.accuracy is None


def test_a_missing_or_extra_column_is_one_line_naming_it(wine_search):
    url, folder, header, rows = wine_search
    order, cut = _reordered(header, rows, [c for c in header if c != "proline"])
    with pytest.raises(UserInputError) as info:
        _predict(url, _write(folder / "missing.csv", order, cut))
    assert info.value.field == "input" and "missing column 'proline'" in str(info.value)
    extra = _write(folder / "extra.csv", [*header, "vintage"], [[*r, "1990"] for r in rows])
    result = runner.invoke(app, ["predict", NAME, "--input", str(extra), "--storage", url])
    line = one_error_line(result)
    assert line.startswith(f"error: --input {extra}") and "extra column 'vintage'" in line


def test_a_headerless_csv_is_read_by_position_and_keeps_its_first_row(wine_search):
    url, folder, header, rows = wine_search
    named = _predict(url, _write(folder / "named.csv", header, rows))
    plain = _predict(url, _write(folder / "plain.csv", None, [r[:-1] for r in rows]))
    assert len(plain.labels) == len(rows) == 10
    assert plain.labels == named.labels and plain.matched_by == "position"
    result = runner.invoke(
        app, ["predict", NAME, "--input", str(folder / "plain.csv"), "--storage", url]
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1 + len(rows)  # header + one per row


@pytest.mark.parametrize(
    ("X", "expected"),
    [
        (np.zeros((0, 13)), "empty"),
        (np.full((2, 13), np.nan), "X holds NaN or inf"),
        (np.full((2, 13), np.inf), "X holds NaN or inf"),
        (np.ones((2, 13), dtype=complex), "X holds complex numbers"),
    ],
)
def test_npz_inputs_that_are_empty_or_not_finite_are_one_line(wine_search, X, expected):
    url, folder, _, _ = wine_search
    path = folder / "in.npz"
    np.savez(path, X=X)
    line = one_error_line(
        runner.invoke(app, ["predict", NAME, "--input", str(path), "--storage", url])
    )
    assert line.startswith(f"error: --input {path}") and expected in line
