"""The notebook read API, the filter/sort parser and the terminal plot."""

from __future__ import annotations

import sys

import pytest

import hpsearch
from hpsearch.cli._textplot import text_plot
from hpsearch.storage._query import Filter, QueryError, SortKey, parse_filter, parse_sort


def test_read_api_returns_plain_records(search_db):
    with hpsearch.open(search_db.url) as db:
        assert {s.name for s in db.searches()} == {"iris-q", "iris-q-b"}
        s = db.search("iris-q")
        trials = s.trials()
        assert [t.number for t in trials] == [t.number for t in search_db.store.trials("iris-q")]
        best = s.best()
        assert best == search_db.store.best_trial("iris-q")
        assert [e.epoch for e in s.epochs(best.number)] == [1, 2, 3, 4]
        top = s.trials(sort="-dev_accuracy", limit=2, state=["complete"])
        assert top[0].dev_accuracy >= top[1].dev_accuracy
        with pytest.raises(QueryError):
            s.trials(where=["1; DROP TABLE hps_trials"])


def test_to_pandas_needs_the_extra(search_db, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with (
        hpsearch.open(search_db.url) as db,
        pytest.raises(ImportError, match=r"hpsearch\[pandas\]"),
    ):
        db.search("iris-q").to_pandas()


def test_to_pandas_when_installed(search_db):
    pd = pytest.importorskip("pandas")
    with hpsearch.open(search_db.url) as db:
        frame = db.search("iris-q").to_pandas()
        assert isinstance(frame, pd.DataFrame) and len(frame) == 7
        assert "param_dropout" in frame.columns
        long = db.search("iris-q").to_pandas(epochs=True)
        assert {"number", "epoch", "dev_loss"} <= set(long.columns)


def test_import_hpsearch_trainer_does_not_load_sqlalchemy():
    import subprocess

    code = "import sys, hpsearch.trainer; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dropout > 0.3", Filter("dropout", ">", 0.3)),
        ("  units>=64 ", Filter("units", ">=", 64.0)),
        ("optimizer = adam", Filter("optimizer", "=", "adam")),
        ("optimizer == 'adam'", Filter("optimizer", "=", "adam")),
        ('diagnosis = "high variance"', Filter("diagnosis", "=", "high variance")),
        ("batch_norm = true", Filter("batch_norm", "=", True)),
        ("lambd <> 1e-4", Filter("lambd", "!=", 1e-4)),
        ("value < -2.5E+1", Filter("value", "<", -25.0)),
    ],
)
def test_parse_filter(text, expected):
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1; DROP TABLE hps_trials",
        "dropout > 0.3 AND 1=1",
        "dropout > 0.3; --",
        "dropout",
        "dropout >",
        "> 3",
        "drop-out > 3",
        "x = 'unterminated",
        "x = 'a\\' OR 1=1 --'",
        "x = 1e999",
        "x = (select 1)",
        "x" * 300 + " = 1",
    ],
)
def test_parse_filter_rejects(text):
    with pytest.raises(QueryError, match="--where"):
        parse_filter(text)


def test_parse_sort():
    assert parse_sort("dev_loss") == SortKey("dev_loss", False)
    assert parse_sort("-dev_accuracy") == SortKey("dev_accuracy", True)
    assert parse_sort("lambd:desc") == SortKey("lambd", True)
    assert parse_sort("lambd:ASC") == SortKey("lambd", False)
    for bad in ("", "-x:desc", "x:up", "x;y", "1x"):
        with pytest.raises(QueryError):
            parse_sort(bad)


def test_text_plot_fits_80_columns_and_marks_both_curves():
    train = [0.5 + 0.01 * i for i in range(100)]
    dev = [0.4 + 0.009 * i for i in range(99)] + [float("nan")]
    lines = text_plot([("train", "*", train), ("dev", "o", dev)], width=80, height=10)
    assert max(len(line) for line in lines) <= 80
    body = "\n".join(lines[:10])
    assert "*" in body and "o" in body
    assert lines[0].strip().startswith(f"{max(train):.3g}")
    assert text_plot([("x", "*", [])]) == ["(no learning curve stored)"]
