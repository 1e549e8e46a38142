"""What a user meets at the command line, on a small hand-made database (no Ray): tables that
fit the terminal without cutting a header, the objective named, failures explained, `lambda`
understood, the stored diagnosis shown, read-only commands that create nothing, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import FailReason, TrialState, open_storage
from tests.cli_checks import one_error_line
from tests.definitions import finished_trial, iris_definition

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path) -> str:
    """One search 'hand' (objective dev_accuracy): two complete trials, one diverged. The L2
    strength is stored under the trainer's name ``lambd``, as databases written before the
    settings kept the users' words hold it."""
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    with open_storage(url) as store:
        store.create_search(
            "hand",
            config=iris_definition("hand"),
            objectives=["dev_accuracy"],
            directions=["maximize"],
        )
        common = {"layers": 3, "learning_rate": 0.0123456, "optimizer": "adam"}
        finished_trial(
            store, "hand", 0, {**common, "lambd": 0.01}, value=0.8, dev_accuracy=0.8,
            train_accuracy=0.95, epochs_run=5, diagnosis="high variance",
            avoidable_bias=0.01, variance=0.19,
        )  # fmt: skip
        finished_trial(
            store, "hand", 1, {**common, "lambd": 0.0001}, value=0.9, dev_accuracy=0.9,
            train_accuracy=0.91, epochs_run=5,
        )  # fmt: skip
        finished_trial(
            store, "hand", 2, {**common, "lambd": 10.0}, value=None, state=TrialState.FAILED,
            fail_reason=FailReason.DIVERGED, epochs_run=3,
            error_text="Traceback ...\nDivergedError: training diverged at epoch 3 (cost nan)\n",
        )  # fmt: skip
    return url


def invoke(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else None
    return runner.invoke(app, list(args), env=env)


def header_line(output: str, first: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:1] == [first])


def test_tables_use_the_terminal_width_and_never_cut_a_header(db):
    narrow = invoke("trials", "hand", "--storage", db, columns=40)
    assert narrow.exit_code == 0, narrow.output
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 40
    words = narrow.stdout.split()
    for header in ("layers", "learning_rate", "lambda", "optimizer", "dev_accuracy", "state"):
        assert header in words, header
    wide = invoke("trials", "hand", "--storage", db, columns=200)
    assert wide.exit_code == 0, wide.output
    head = header_line(wide.stdout, "#")  # one block: every column on one line
    assert head.split() == [
        "#", "state", "dev_accuracy", "epochs", "lambda", "layers", "learning_rate",
        "optimizer", "failure",
    ]  # fmt: skip
    assert sum(line.split()[:1] == ["#"] for line in wide.stdout.splitlines()) == 1


def test_no_duplicated_columns_and_the_objective_named(db):
    result = invoke("trials", "hand", "--storage", db, "--format", "csv")
    header = result.stdout.splitlines()[0].split(",")
    assert "value" not in header and "dev acc" not in header
    assert header.count("dev_accuracy") == 1
    searches = invoke("searches", "--storage", db)
    assert searches.exit_code == 0, searches.output
    assert searches.stdout.splitlines()[0] == "1 search"
    assert "best dev_accuracy" in searches.stdout


def test_trials_show_why_a_trial_failed(db):
    table = invoke("trials", "hand", "--storage", db, columns=200)
    row = next(line for line in table.stdout.splitlines() if line.split()[:2] == ["2", "failed"])
    assert "diverged: DivergedError: training diverged at epoch 3" in row
    rows = json.loads(invoke("trials", "hand", "--storage", db, "--format", "json").stdout)
    assert rows[2]["fail_reason"] == "diverged" and "epoch 3" in rows[2]["error"]


def test_lambda_is_the_users_word_in_where_sort_and_columns(db):
    def numbers(*args: str) -> list[int]:
        result = invoke("trials", "hand", "--storage", db, "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return [r["number"] for r in json.loads(result.stdout)]

    assert numbers("--where", "lambda < 0.001") == [1]
    assert numbers("--where", "lambda >= 0.01", "--sort", "-lambda") == [2, 0]
    assert numbers("--sort", "lambda:desc") == [2, 0, 1]
    csv_header = invoke("trials", "hand", "--storage", db, "--format", "csv").stdout.split("\n")[0]
    assert "lambda" in csv_header.split(",") and "lambd" not in csv_header.split(",")
    export = invoke("export", "hand", "--storage", db).stdout.split("\n")[0].split(",")
    assert "param_lambda" in export and "param_lambd" not in export


def test_show_prints_the_stored_diagnosis(db):
    # trial 0 stored "high variance" with its own numbers; recomputing from its accuracies
    # (train error 5%, dev error 20%) would say "high bias and high variance" with avoidable bias
    # 5%; trial 1 (nothing stored) prints no diagnosis at all
    result = invoke("show", "hand", "0", "--storage", db)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "bias/variance: high variance (" in text
    assert "avoidable bias 1.00%, variance 19.00%" in text
    assert "next step: variance dominates" in text
    assert "lambda" in result.stdout.split()
    plain = invoke("show", "hand", "1", "--storage", db)
    assert plain.exit_code == 0 and "bias/variance" not in plain.stdout


READ_ONLY = [
    ["searches"],
    ["trials", "hand"],
    ["show", "hand", "0"],
    ["compare", "hand"],
    ["export", "hand"],
    ["report", "hand", "--out", "{DIR}/r.html"],
    ["replay", "hand", "0"],
    ["predict", "hand", "--input", "{DIR}/x.npz"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: c[0])
def test_read_only_commands_never_create_a_database(tmp_path, command):
    path = tmp_path / "nothing-here.db"
    args = [a.replace("{DIR}", str(tmp_path)) for a in command]
    line = one_error_line(runner.invoke(app, [*args, "--storage", f"sqlite:///{path}"]))
    assert str(path) in line and "not found" in line
    assert not path.exists()


def test_db_current_and_url_create_nothing_either(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0 and "no hpsearch tables yet" in current.output
    assert runner.invoke(app, ["db", "url"]).exit_code == 0
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_exits_130(db, monkeypatch):
    def interrupted(url):
        raise KeyboardInterrupt

    monkeypatch.setattr("hpsearch.cli._app.open_results", interrupted)
    result = runner.invoke(app, ["searches", "--storage", db])
    assert result.exit_code == 130


def test_readme_documents_the_exit_codes():
    from hpsearch.cli import _app

    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Exit codes") :]
    table = dict(re.findall(r"^\| (\d+) +\| (.+?) +\|$", section, re.M))
    assert int(min(table)) == 0
    assert "unreachable" in table[str(_app.EXIT_FAILED)]
    assert "mistake" in table[str(_app.EXIT_USAGE)]
    assert "Ctrl-C" in table[str(_app.EXIT_INTERRUPTED)]
