"""Stored text is printed escaped (issue 16, defect 11): a search name, a parameter, an error text
or a dataset name holding terminal escapes (``ESC[2J`` clears the screen, ``ESC]0;...BEL`` sets
the window title) reaches the terminal as visible ``\\x1b`` text, never as raw control bytes;
CSV and JSON stay data."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.cli._render import printable
from hpsearch.storage import FailReason, TrialState, open_storage
from tests.definitions import finished_trial, iris_definition

# color=True: click then strips no ANSI sequence, as on a terminal (off one it removes CSI
# sequences such as ESC[2J itself, but not ESC]0;...BEL)
runner = CliRunner()
EVIL = "evil\x1b[2J\x1b]0;pwned\x07\u202e\x9b"  # clear, retitle, bidi override, C1 CSI
SHOWN = "evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\x9b"
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


@pytest.fixture
def hostile(tmp_path) -> str:
    """A search whose name, dataset, a parameter value and an error text hold escapes. Names
    are now refused at creation, so the name is written with plain SQL, as an older version or
    another client could have stored it."""
    url = f"sqlite:///{tmp_path / 'hostile.db'}"
    with open_storage(url) as store:
        store.create_search(
            "plain",
            config=iris_definition("plain"),
            objectives=["dev_accuracy"],
            directions=["maximize"],
        )
        finished_trial(
            store, "plain", 0, {"optimizer": "adam\x1b[2J", "learning_rate": 0.01}, value=0.9,
            dev_accuracy=0.9, train_accuracy=0.95, epochs_run=3,
        )  # fmt: skip
        finished_trial(
            store, "plain", 1, {"optimizer": "gd", "learning_rate": 0.1}, value=None,
            state=TrialState.FAILED, fail_reason=FailReason.ERROR,
            error_text="Traceback ...\nValueError: bad \x1b]0;title\x07 value\x1b[31m\n",
        )  # fmt: skip
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE hps_searches SET name = :n, dataset = :n"), {"n": EVIL})
    engine.dispose()
    return url


def invoke(args: list[str], **kwargs):
    return runner.invoke(app, args, color=True, **kwargs)


def clean(output: str) -> None:
    for byte in RAW:
        assert byte not in output, f"raw {byte!r} printed"


def test_searches_prints_no_raw_escape_bytes(hostile):
    result = invoke(["searches", "--storage", hostile])
    assert result.exit_code == 0, result.output
    clean(result.output)
    assert SHOWN in result.stdout


def test_every_read_command_escapes_stored_text(hostile):
    for args in (
        ["trials", EVIL],
        ["show", EVIL, "0"],
        ["show", EVIL, "1"],
        ["compare", EVIL, "--evaluator", "mdi"],
        ["trials", EVIL + "x"],  # the error line names the unknown search
    ):
        result = invoke([*args, "--storage", hostile], env={"COLUMNS": "200"})
        assert result.exit_code in (0, 2), result.output
        clean(result.output)
    shown = invoke(["show", EVIL, "1", "--storage", hostile])
    assert "value\\x1b[31m" in shown.stdout or "\\x1b]0;title\\x07" in shown.stdout
    listed = invoke(["trials", EVIL, "--storage", hostile], env={"COLUMNS": "200"})
    assert "adam\\x1b[2J" in listed.stdout


def test_csv_and_json_stay_data(hostile):
    rows = list(csv.DictReader(io.StringIO(invoke([
        "searches", "--format", "csv", "--storage", hostile]).stdout)))  # fmt: skip
    assert rows[0]["name"] == EVIL
    listed = invoke(["searches", "--format", "json", "--storage", hostile])
    clean(listed.stdout)  # JSON writes \u001b, a terminal shows it as text
    assert json.loads(listed.stdout)[0]["name"] == EVIL


def test_printable_keeps_ordinary_text():
    assert printable("iris-q é 中 ✓ tab") == "iris-q é 中 ✓ tab"
    assert printable("a\tb\nc\rd") == "a\\tb\\nc\\rd"
    assert printable("a\nb", keep_newlines=True) == "a\nb"
    assert printable("\x00\x7f") == "\\x00\\x7f"
