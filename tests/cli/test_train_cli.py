"""`hpsearch train`: one network from flags; JSON output, progress lines, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hpsearch.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["train", *args])


def test_json_output_is_one_object_with_the_metrics():
    result = _run(
        "--dataset", "iris", "--epochs", "30", "--learning-rate", "0.01", "--format", "json",
        "--history",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stdout holds exactly one JSON object
    for key in ("train_accuracy", "dev_accuracy", "train_loss", "dev_loss", "epochs", "seconds"):
        assert key in report
    assert "test_accuracy" not in report  # held out unless --test
    assert report["epochs"] == 30 and len(report["history"]) == 30
    assert 0.8 <= report["train_accuracy"] <= 1.0 and 0.7 <= report["dev_accuracy"] <= 1.0
    assert 0.0 < report["train_loss"] < 0.7 and report["seconds"] > 0
    assert report["dataset"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert report["diagnosis"] in (
        "high bias",
        "high variance",
        "high bias and high variance",
        "good fit",
    )
    # progress went to stderr: off a terminal a line every few seconds (and the first and last
    # epoch), not one line per epoch
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("epoch ")]
    assert lines[0].startswith("epoch 1/30") and lines[-1].startswith("epoch 30/30")
    assert len(lines) < 10


def test_json_history_only_when_asked():
    result = _run("--dataset", "iris", "--epochs", "3", "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "history" not in report and report["epochs"] == 3
    assert result.stderr == ""


def test_help_shows_every_default_and_choice():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for shown in (
        "[default: relu]",
        "[default: adam]",
        "[default: 0.001]",
        "[default: 64]",
        "[default: 20]",
        "[default: none]",
        "relu, leaky_relu, tanh or sigmoid",
        "gd, momentum, rmsprop or adam",
        "none, inverse_time or exponential",
        "[default: label, target, y or class]",
        "[default: flower]",
    ):
        assert shown in text, shown
    run_help = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    assert "(overrides [search] name)" in run_help


def test_flags_reach_the_config_and_the_data():
    result = _run(
        "--dataset", "flower", "--layers", "2", "--units", "8,4", "--activation", "tanh",
        "--optimizer", "momentum", "--lambda", "0.01", "--dropout", "0.1,0.0",
        "--batch-norm", "--batch-size", "32", "--epochs", "2", "--seed", "3",
        "--split", "0.6,0.2,0.2", "--normalize", "minmax", "--max-samples", "200",
        "--dtype", "float64", "--format", "json", "--quiet", "--test",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    report = json.loads(result.stdout)
    config = report["config"]
    assert config["units"] == [8, 4] and config["dropout"] == [0.1, 0.0]
    assert (config["activation"], config["optimizer"], config["lambd"]) == (
        "tanh",
        "momentum",
        0.01,
    )
    assert config["batch_norm"] is True and config["seed"] == 3 and config["dtype"] == "float64"
    data = report["dataset"]
    assert (data["n_train"], data["n_dev"], data["n_test"]) == (120, 40, 40)
    assert data["normalize"] == "minmax"
    assert 0.0 <= report["test_accuracy"] <= 1.0 and report["test_loss"] > 0


def test_table_output_and_plain_progress_lines():
    result = _run("--dataset", "moons", "--layers", "1", "--units", "16", "--epochs", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("moons: n_x=2, train 350 / dev 75 / test 75")
    assert [ln.split()[1] for ln in lines if ln.startswith("epoch ")] == ["1/3", "3/3"]
    assert any(ln.startswith("network    2 -> 16 -> 1 (65 parameters)") for ln in lines)
    dev = next(ln for ln in lines if ln.startswith("dev "))
    assert 0.0 <= float(dev.split("accuracy ")[1].rstrip("%")) <= 100.0
    assert any(ln.startswith("diagnosis ") for ln in lines)
    assert any(ln.startswith("advice ") for ln in lines)


def test_same_seed_same_numbers_and_csv_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    body = "".join(f"{a},{b},{c},{k}\n" for (a, b, c), k in zip(X, labels, strict=True))
    path = tmp_path / "d.csv"
    path.write_text("f1,f2,f3,answer\n" + body)
    args = ("--dataset", str(path), "--label-column", "answer", "--epochs", "3", "--format", "json")
    first, second = _run(*args), _run(*args)
    assert first.exit_code == 0, first.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["dataset"]["classes"] == ["no", "yes"]
    assert a["train_loss"] == b["train_loss"] and a["dev_accuracy"] == b["dev_accuracy"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--layers", "abc"], "'--layers'"),
        (["--bogus"], "--bogus"),
        (["--learning-rate", "-1"], "--learning-rate"),
        (["--lambda", "-0.5"], "--lambda"),
        (["--activation", "swish"], "--activation"),
        (["--units", "1,x"], "--units"),
        (["--dropout", "lots"], "--dropout"),
        (["--split", "0.5,0.5,0.5"], "--split"),
        (["--normalize", "zscore"], "--normalize"),
        (["--max-samples", "1"], "--max-samples"),
        (["--format", "xml"], "--format"),
        (["--dataset", "no-such-file.csv"], "no-such-file.csv"),
        (["--dataset", "iris", "--split", "0.8,0.2", "--test"], "--test"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(args, named):
    result = _run(*args, "--epochs", "1")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0]
    assert "Traceback" not in result.output


def test_bad_data_file_is_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,label\n1,a\nwhat,b\n")
    result = _run("--dataset", str(path), "--epochs", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}: column 'x' line 3: 'what' is not a number"


def test_divergence_is_one_line_exit_1():
    result = _run(
        "--dataset", "breast_cancer", "--normalize", "none", "--optimizer", "gd",
        "--learning-rate", "1e6", "--epochs", "5", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "diverged" in lines[0] and "--learning-rate" in lines[0]
