"""`hpsearch run`, `resume` and `trials` through the command line, on the session's local Ray."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import open_storage
from tests.cli_checks import one_error_line
from tests.definitions import finished_trial, iris_definition

CONFIG = iris_definition("cli-search")


def test_run_then_continue_with_more_trials(ray_local, tmp_path: Path, definition_file) -> None:
    path = definition_file(CONFIG)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    first = runner.invoke(app, ["run", str(path), "--storage", url, "--quiet"])
    assert first.exit_code == 0, first.output
    assert "3 complete" in first.output
    # the summary's top-trials table shows their hyperparameters, the objective named once
    head = next(ln for ln in first.stdout.splitlines() if ln.split()[:1] == ["#"]).split()
    assert {"learning_rate", "dropout"} <= set(head) and head.count("dev_accuracy") == 1
    assert "on the test split: accuracy" in first.output
    # the same name again continues the search: the budget counts what is done
    again = runner.invoke(app, ["run", str(path), "--storage", url, "--trials", "5", "--quiet"])
    assert again.exit_code == 0, again.output
    listed = runner.invoke(app, ["trials", "cli-search", "--storage", url, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["number"] for r in rows] == [0, 1, 2, 3, 4]
    stored = {t.number: t for t in open_storage(url).trials("cli-search")}
    for r in rows:
        t = stored[r["number"]]
        assert r["state"] == t.state.value == "complete"
        assert r["params"] == t.params and set(r["params"]) == {"learning_rate", "dropout"}
        assert r["dev_accuracy"] == t.dev_accuracy
        assert r["epochs_run"] == 5
    # resume with a budget already met does nothing more
    done = runner.invoke(app, ["resume", "cli-search", "--storage", url, "--quiet"])
    assert done.exit_code == 0, done.output
    assert len(open_storage(url).trials("cli-search")) == 5


def test_run_refuses_a_changed_definition(ray_local, tmp_path: Path, definition_file) -> None:
    path = definition_file(CONFIG)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(path), "--storage", url, "--quiet"]).exit_code == 0
    definition_file(iris_definition("cli-search", train={"epochs": 9}))
    line = one_error_line(runner.invoke(app, ["run", str(path), "--storage", url, "--quiet"]))
    assert "already exists with a different [train]" in line


def test_a_search_stored_with_another_pruner_names_both_and_how_to_continue(
    tmp_path: Path, definition_file
) -> None:
    # A search made when the default pruner was the median one, continued with a file that
    # leaves `pruner` out (now successive halving): refused before Ray starts, in one line that
    # says what is stored, what the file means and the line that continues it; nothing is lost.
    from hpsearch.searcher import parse_config

    old = iris_definition("old-default", search={"pruner": "median"})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    with open_storage(url) as store:
        cfg = parse_config(old)
        store.create_search("old-default", config=cfg.to_dict(), pruner="median")
        finished_trial(store, "old-default", 0, {"learning_rate": 0.01, "dropout": 0.1})
    new = iris_definition("old-default")
    del new["search"]["pruner"]
    path = definition_file(new)
    runner = CliRunner()
    line = one_error_line(runner.invoke(app, ["run", str(path), "--storage", url, "--quiet"]))
    assert 'search.pruner = "median", this definition has "successive_halving"' in line, line
    assert 'set pruner = "median" to continue it' in line, line
    with open_storage(url) as store:
        assert [t.number for t in store.trials("old-default")] == [0]
        assert store.get_search("old-default").config["search"]["pruner"] == "median"


def test_unknown_search_and_bad_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    open_storage(url).close()
    runner = CliRunner()
    line = one_error_line(runner.invoke(app, ["trials", "nope", "--storage", url]))
    assert "no search named 'nope'" in line
    line = one_error_line(runner.invoke(app, ["resume", "nope", "--storage", url, "--trials", "0"]))
    assert "--trials" in line


def test_the_run_summary_of_a_real_search(ray_local, tmp_path: Path) -> None:
    # the summary `run` and `resume` print (hpsearch.cli._summary): trials trained to the end,
    # the top trials ranked as every view ranks them, the dev split's size and its warnings
    from hpsearch import ranked
    from hpsearch.cli._summary import summary_lines
    from hpsearch.searcher import load_search_data, parse_config, run_search

    cfg = parse_config(iris_definition("summary", search={"trials": 3}))
    with open_storage(f"sqlite:///{tmp_path / 's.db'}") as store:
        outcome = run_search(cfg, store)
    lines = summary_lines(outcome, cfg, data=load_search_data(cfg))
    text = " ".join("\n".join(lines).split())
    assert f"{outcome.complete} of 3 trials trained to the end" in text
    assert "dev split 23 samples" in text and "only 23 samples" in text
    start = lines.index("top trials by dev_accuracy")
    shown = [int(ln.split()[0]) for ln in lines[start + 3 : start + 3 + outcome.complete]]
    assert shown == [t.number for t in ranked(outcome.trials, cfg.search.directions)]
