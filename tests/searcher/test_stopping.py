"""[search] time_budget, target and patience_trials: real small searches on the session's Ray
stop launching when a rule holds, say why, and resume with a new budget; bad values are refused
in one line naming the key."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.cli._summary import budget_line
from hpsearch.searcher import ConfigError, SearchConfig, parse_config, resume_search, run_search
from hpsearch.storage import SearchStatus, TrialState, open_storage

BASE = {
    "search": {
        "name": "stop-test",
        "trials": 200,
        "workers": 1,
        "sampler": "random",
        "pruner": "none",
        "seed": 5,
    },
    "data": {"dataset": "digits"},
    "train": {"epochs": 3, "optimizer": "adam", "activation": "relu", "batch_size": 64},
    "space": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 2e-2, "log": True},
        "units": {"type": "int", "low": 8, "high": 32},
    },
}


def config(epochs: int = 3, **search):
    raw = copy.deepcopy(BASE)
    raw["search"].update(search)
    raw["train"]["epochs"] = epochs
    return parse_config(raw)


def store(tmp_path: Path):
    return open_storage(f"sqlite:///{tmp_path / 'results.db'}")


# --- the definition -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "seconds"), [("90m", 5400.0), ("2h", 7200.0), (45, 45.0), ("1h30m", 5400.0)]
)
def test_time_budget_reads_durations_and_seconds(given, seconds) -> None:
    cfg = config(time_budget=given)
    assert cfg.search.time_budget == seconds
    back = SearchConfig.from_stored(cfg.to_dict())  # stored as seconds, read back
    assert back.search == cfg.search


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("time_budget", "abc", 'search.time_budget: expected a duration like "90m", "2h" or'),
        ("time_budget", 0, "search.time_budget: expected a duration"),
        ("time_budget", -5, "search.time_budget: expected a duration"),
        ("time_budget", "2x", "search.time_budget: expected a duration"),
        ("time_budget", True, "search.time_budget: expected a duration"),
        ("time_budget", float("inf"), "search.time_budget: expected a finite number"),
        ("target", "high", "search.target: expected a number"),
        ("patience_trials", 0, "search.patience_trials: expected an integer >= 1"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(key, value, expected) -> None:
    with pytest.raises(ConfigError) as e:
        config(**{key: value})
    assert str(e.value).startswith(expected)
    assert "\n" not in str(e.value) and e.value.field == f"search.{key}"


@pytest.mark.parametrize(
    ("key", "value"), [("target", 0.9), ("target", 0.0), ("patience_trials", 3)]
)
def test_target_and_patience_refuse_several_objectives(key, value) -> None:
    with pytest.raises(ConfigError) as e:
        config(objective=["dev_accuracy", "n_params"], **{key: value})
    assert str(e.value).startswith(f"search.{key}: stops on the best objective")
    assert "\n" not in str(e.value)


def test_defaults_leave_the_stored_form_unchanged() -> None:
    stored = config().to_dict()["search"]
    assert not {"time_budget", "target", "patience_trials"} & set(stored)


def test_cli_refuses_a_bad_time_budget_in_one_line(definition_file) -> None:
    path = definition_file(BASE)
    result = CliRunner().invoke(app, ["run", str(path), "--time-budget", "soon"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "search.time_budget: expected a duration" in lines[0]


# --- real searches --------------------------------------------------------------------------------


def test_time_budget_stops_launching_and_resume_continues(ray_local, tmp_path: Path) -> None:
    storage = store(tmp_path)
    began = time.monotonic()
    outcome = run_search(config(epochs=40, time_budget=3), storage)
    took = time.monotonic() - began
    first = storage.trials("stop-test")
    assert 1 <= len(first) < 200
    assert all(t.state == TrialState.COMPLETE for t in first)  # running trials finished
    assert outcome.status == SearchStatus.FINISHED.value
    assert outcome.stop_reason == "time budget of 3 s reached"
    assert "stopped early, time budget of 3 s reached" in budget_line(outcome)
    assert took < 3 + 30  # the budget, the last trial and Ray's start on a loaded machine
    # resume: a new budget counts from the resumed run's start
    again = resume_search("stop-test", storage, time_budget="2s")
    later = storage.trials("stop-test")
    assert len(later) > len(first)
    assert again.stop_reason == "time budget of 2 s reached"


def test_target_stops_with_fewer_trials_than_the_budget(ray_local, tmp_path: Path) -> None:
    storage = store(tmp_path)
    outcome = run_search(config(trials=30, target=0.5), storage)
    trials = storage.trials("stop-test")
    assert len(trials) < 30
    best = max(t.dev_accuracy for t in trials if t.dev_accuracy is not None)
    assert best >= 0.5
    assert outcome.stop_reason.startswith("target reached: dev_accuracy ")
    assert "search.target = 0.5" in budget_line(outcome)
    # the reason is stored with the search and shown by `hpsearch searches`
    stored = storage.get_search("stop-test")
    assert stored.status == SearchStatus.FINISHED and stored.stop_reason == outcome.stop_reason
    url = f"sqlite:///{tmp_path / 'results.db'}"
    listed = CliRunner().invoke(app, ["searches", "--storage", url, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert '"stopped": "target reached: dev_accuracy' in listed.stdout


def test_a_minimised_target_is_reached_from_above(ray_local, tmp_path: Path) -> None:
    storage = store(tmp_path)
    outcome = run_search(config(trials=30, objective="dev_loss", target=5.0), storage)
    assert len(storage.trials("stop-test")) == 1  # any digits trial has a dev loss below 5
    assert outcome.stop_reason.startswith("target reached: dev_loss ")


def test_patience_stops_after_trials_without_a_better_best(ray_local, tmp_path: Path) -> None:
    storage = store(tmp_path)
    outcome = run_search(config(trials=40, patience_trials=2), storage)
    trials = sorted(storage.trials("stop-test"), key=lambda t: t.number)
    assert len(trials) < 40
    assert outcome.stop_reason == "patience: 2 finished trials without a better best"
    # one worker: the last two trials did not beat the best before them
    before = max(t.dev_accuracy for t in trials[:-2])
    assert all(t.dev_accuracy <= before for t in trials[-2:])


def test_no_rule_means_no_stop_reason(ray_local, tmp_path: Path) -> None:
    storage = store(tmp_path)
    outcome = run_search(config(trials=2), storage)
    assert outcome.stop_reason is None
    assert storage.get_search("stop-test").stop_reason is None
    assert "stopped early" not in budget_line(outcome)
