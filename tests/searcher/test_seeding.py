"""[search] warm_start and [[enqueue]]: enqueued configurations run first exactly as given, a
warm-started search's sampler sees the earlier search's compatible trials (the others counted
in one line), the seeding is stored with the search and shown; bad values are one line."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpsearch
import hpsearch.searcher._ask_ahead as ask_ahead
from hpsearch.cli import app
from hpsearch.cli._summary import summary_lines
from hpsearch.searcher import ConfigError, SearchConfig, parse_config, resume_search, run_search
from hpsearch.searcher._seeding import describe, load_seeding
from hpsearch.searcher._study import StudySide
from hpsearch.storage import TrialState, open_storage
from tests.definitions import finished_trial

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
    "units": {"type": "int", "low": 8, "high": 32},
    "beta1": {"type": "float", "low": 0.8, "high": 0.99, "one_minus_log": True},
}
BASE = {
    "search": {"name": "seed-test", "trials": 4, "workers": 1, "sampler": "tpe", "seed": 3},
    "data": {"dataset": "digits"},
    "train": {"epochs": 2, "optimizer": "adam", "layers": 1, "batch_size": 64},
    "space": SPACE,
}
ENQUEUED = [
    {"learning_rate": 0.01, "units": 17, "beta1": 0.95},
    {"learning_rate": 0.002, "units": 9, "beta1": 0.9},
]


def doc(name: str = "seed-test", **search) -> dict:
    raw = copy.deepcopy(BASE)
    raw["search"].update(name=name, **search)
    return raw


def config(name: str = "seed-test", *, enqueue=None, **search) -> SearchConfig:
    raw = doc(name, **search)
    if enqueue is not None:
        raw["enqueue"] = copy.deepcopy(enqueue)
    return parse_config(raw)


@pytest.fixture
def store(tmp_path: Path):
    s = open_storage(f"sqlite:///{tmp_path / 'results.db'}")
    yield s
    s.close()


def by_number(storage, name: str) -> list:
    return sorted(storage.trials(name), key=lambda t: t.number)


# --- the definition -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"learning_rate": 0.5}, "enqueue[2].learning_rate: 0.5 is outside the space"),
        ({"momentum": 0.9}, "enqueue[2].momentum: not a searched setting (expected one of"),
        ({"units": 8.5}, "enqueue[2].units: expected an integer, got 8.5"),
        ({"units": "many"}, "enqueue[2].units: expected a number, got a string"),
        ({"beta1": 0.5}, "enqueue[2].beta1: 0.5 is outside the space (expected 0.8 to 0.99)"),
        ({}, "enqueue[2]: expected a table of searched settings"),
    ],
)
def test_an_enqueued_value_outside_the_space_is_one_line(table, message) -> None:
    with pytest.raises(ConfigError) as e:
        config(enqueue=[*ENQUEUED, table])
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)
    assert e.value.field.startswith("enqueue[2]")


def test_per_layer_values_need_their_layers() -> None:
    raw = doc()
    del raw["train"]["layers"]
    raw["space"] = {
        "layers": [1, 2],
        "units": {"type": "int", "low": 8, "high": 32, "per_layer": True},
    }
    raw["enqueue"] = [{"layers": 2, "units": [8, 16]}, {"layers": 1, "units": 12}]
    cfg = parse_config(raw)
    assert cfg.enqueue == ({"layers": 2, "units": [8, 16]}, {"layers": 1, "units": [12]})
    raw["enqueue"] = [{"layers": 2, "units": [8]}]
    with pytest.raises(ConfigError, match=r"^enqueue\[0\]\.units: expected one value per hidden"):
        parse_config(raw)
    raw["enqueue"] = [{"units": [8, 9]}]
    with pytest.raises(ConfigError, match=r"^enqueue\[0\]\.units: .*give layers too"):
        parse_config(raw)


@pytest.mark.parametrize(
    ("warm", "message", "field"),
    [
        ({"from": []}, "search.warm_start.from: expected a list of search names", "from"),
        ({"from": ["seed-test"]}, "search.warm_start.from: 'seed-test' is this search", "from"),
        ({"from": "a", "top": -1}, "search.warm_start.top: expected an integer >= 0", "top"),
        (
            {"from": "a", "ignore_fixed": ["colour"]},
            "search.warm_start.ignore_fixed: 'colour'",
            "ignore_fixed",
        ),
        ({"from": "a", "size": 3}, "search.warm_start.size: unknown key", "size"),
    ],
)
def test_bad_warm_start_is_one_line_naming_the_key(warm, message, field) -> None:
    with pytest.raises(ConfigError) as e:
        config(warm_start=warm)
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.field == f"search.warm_start.{field}"


def test_seeding_is_stored_in_the_definition_and_read_back() -> None:
    cfg = config(enqueue=ENQUEUED, warm_start={"from": "a", "top": 2, "ignore_fixed": ["epochs"]})
    stored = cfg.to_dict()
    assert stored["search"]["warm_start"] == {"from": ["a"], "top": 2, "ignore_fixed": ["epochs"]}
    back = SearchConfig.from_stored(stored)
    assert (back.search, back.enqueue) == (cfg.search, cfg.enqueue)
    plain = config().to_dict()  # no seeding: the stored form has neither key
    assert "enqueue" not in plain and "warm_start" not in plain["search"]


def test_the_grid_sampler_refuses_seeding() -> None:
    raw = doc(sampler="grid")
    raw["space"] = {"units": [8, 16]}
    raw["enqueue"] = [{"units": 8}]
    with pytest.raises(ConfigError, match=r"^enqueue: the grid sampler"):
        parse_config(raw)


def test_validate_tells_what_runs_first(definition_file) -> None:
    raw = doc(warm_start={"from": ["digits-quick"], "top": 10})
    raw["enqueue"] = ENQUEUED
    result = CliRunner().invoke(app, ["validate", str(definition_file(raw))])
    assert result.exit_code == 0, result.output
    assert (
        "2 enqueued configurations run first (of 4 trials); warm start from digits-quick (its "
        "10 best configurations run first), read from the database at run start"
    ) in " ".join(result.output.split())


def test_validate_names_the_bad_enqueued_value(definition_file) -> None:
    raw = doc()
    raw["enqueue"] = [ENQUEUED[0], {"learning_rate": 0.01}, {"learning_rate": 0.5}]
    result = CliRunner().invoke(app, ["validate", str(definition_file(raw))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: enqueue[2].learning_rate: 0.5 is")


def test_run_refuses_a_bad_enqueue_file_and_a_lone_top(definition_file, tmp_path) -> None:
    path = definition_file(doc())
    bad = tmp_path / "first.json"
    bad.write_text(json.dumps([{"units": 99}]))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    result = CliRunner().invoke(app, ["run", str(path), "--storage", url, "--enqueue", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: enqueue[0].units: 99 is outside the space")
    result = CliRunner().invoke(app, ["run", str(path), "--storage", url, "--warm-start-top", "3"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --warm-start-top: needs --warm-start NAME or [search] warm_start"
    )


def test_an_unknown_warm_start_search_is_one_line_and_stores_nothing(store) -> None:
    with pytest.raises(ConfigError) as e:
        run_search(config(warm_start={"from": ["nowhere"]}), store)
    assert str(e.value).startswith("search.warm_start.from: no search named 'nowhere'")
    assert e.value.field == "search.warm_start.from"
    assert store.list_searches() == []


# --- crafted earlier searches (no Ray) ------------------------------------------------------------


def _stored_search(store, name: str, *, objective: str = "dev_accuracy", **train) -> None:
    cfg = config(name, objective=objective)
    raw = cfg.to_dict()
    raw["train"].update(train)
    store.create_search(
        name,
        config=raw,
        objectives=[objective],
        directions=list(cfg.search.directions),
        dataset="digits",
    )


def test_skipped_trials_are_counted_by_reason(store) -> None:
    _stored_search(store, "early")
    inside = {"learning_rate": 0.01, "units": 16, "beta1": 0.9}
    finished_trial(store, "early", 0, inside, value=0.91)
    finished_trial(store, "early", 1, inside | {"units": 12}, value=0.95)
    finished_trial(store, "early", 2, inside | {"learning_rate": 0.3}, value=0.5)  # outside
    finished_trial(store, "early", 3, inside | {"units": 64}, value=0.6)  # outside
    finished_trial(store, "early", 4, inside, value=None, state=TrialState.FAILED)
    finished_trial(store, "early", 5, {"learning_rate": 0.01, "beta1": 0.9}, value=0.7)  # units 64
    _stored_search(store, "losses", objective="dev_loss")
    finished_trial(store, "losses", 0, inside, value=0.3)
    _stored_search(store, "longer", epochs=5)
    finished_trial(store, "longer", 0, inside, value=0.97)
    cfg = config(warm_start={"from": ["early", "losses", "longer"], "top": 1})
    seeding = load_seeding(cfg, store, resume=False)
    assert seeding.line() == (
        "warm start: 2 trials from early, losses, longer, 6 skipped (failed or running: 1, "
        "other fixed settings: 1, other objective: 1, outside the space: 3); "
        "the 1 best configuration run first"
    )
    assert seeding.record() == {
        "from": ["early", "losses", "longer"],
        "used": 2,
        "skipped": {
            "failed or running": 1,
            "outside the space": 3,
            "other objective": 1,
            "other fixed settings": 1,
        },
        "top": 1,
    }
    assert seeding.configs == [inside | {"units": 12}]  # the best compatible one
    # ignore_fixed = ["epochs"] learns from the longer search too (and its best runs first)
    cfg = config(warm_start={"from": ["early", "longer"], "top": 1, "ignore_fixed": ["epochs"]})
    seeding = load_seeding(cfg, store, resume=False)
    assert seeding.used == 3 and seeding.configs == [inside]
    # the sampler's study holds them, and so does the ask-ahead process's history
    side = StudySide(cfg)
    side.rebuild(store, [], seeding)
    assert len(side.study.trials) == 3
    assert side.queued == [inside]


def test_layers_searched_in_both_keep_trials_of_any_depth(store) -> None:
    space = {"layers": [1, 2], "units": {"type": "int", "low": 8, "high": 32, "per_layer": True}}
    raw = doc("early")
    del raw["train"]["layers"]
    raw["space"] = space
    store.create_search(
        "early",
        config=parse_config(raw).to_dict(),
        objectives=["dev_accuracy"],
        directions=["maximize"],
    )
    finished_trial(store, "early", 0, {"layers": 1, "units": [12]}, value=0.8)
    finished_trial(store, "early", 1, {"layers": 2, "units": [12, 40]}, value=0.9)  # 40: outside
    finished_trial(store, "early", 2, {"layers": 2, "units": [16, 8]}, value=0.85)
    raw = doc(warm_start={"from": "early", "top": 5})
    del raw["train"]["layers"]
    raw["space"] = space
    seeding = load_seeding(parse_config(raw), store, resume=False)
    assert (seeding.used, seeding.record()["skipped"]) == (2, {"outside the space": 1})
    assert seeding.configs == [{"layers": 2, "units": [16, 8]}, {"layers": 1, "units": [12]}]


def test_a_resume_skips_a_source_deleted_since(store) -> None:
    _stored_search(store, "early")
    finished_trial(store, "early", 0, {"learning_rate": 0.01, "units": 16, "beta1": 0.9})
    cfg = config(warm_start={"from": ["early", "gone"]})
    with pytest.raises(ConfigError, match="no search named 'gone'"):
        load_seeding(cfg, store, resume=False)
    seeding = load_seeding(cfg, store, resume=True)
    assert (
        seeding.line() == "warm start: 1 trial from early, gone, 0 skipped, search 'gone' not found"
    )
    assert seeding.record()["missing"] == ["gone"]


def test_settings_an_enqueued_table_leaves_out_are_sampled(store) -> None:
    side = StudySide(config(enqueue=[{"units": 17}]))
    side.rebuild(store, [], load_seeding(side.config, store, resume=False))
    first, second = side.ask(), side.ask()
    assert first.number == 0 and first.settings["units"] == 17
    assert (
        1e-3 <= first.settings["learning_rate"] <= 3e-2 and 0.8 <= first.settings["beta1"] <= 0.99
    )
    assert second.number == 1 and second.settings != first.settings


def test_the_ask_ahead_process_sees_the_warm_trials(store, monkeypatch) -> None:
    monkeypatch.setattr(ask_ahead, "AHEAD_FROM", 2)
    monkeypatch.setattr(ask_ahead, "DEPTH", 1)
    _stored_search(store, "early")
    for i, units in enumerate((10, 14, 20)):
        finished_trial(store, "early", i, {"learning_rate": 0.01, "units": units, "beta1": 0.9})
    cfg = config(warm_start={"from": ["early"]})
    side = StudySide(cfg)
    side.rebuild(store, [], load_seeding(cfg, store, resume=False))
    asked = side.ask()  # past AHEAD_FROM finished trials (the warm ones): asks in the process
    try:
        assert side._ahead is not None and side._ahead.history_size() == 3
        assert 8 <= asked.settings["units"] <= 32
    finally:
        side.close()


# --- real searches --------------------------------------------------------------------------------


def test_enqueued_configurations_run_first_exactly_as_given(ray_local, store) -> None:
    # no pruner: every trial runs to the end, so each one's stored state can be checked
    run_search(config(trials=3, enqueue=ENQUEUED, pruner="none"), store)
    trials = by_number(store, "seed-test")
    assert [t.params for t in trials[:2]] == ENQUEUED  # exactly as given, in order
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[2].params not in ENQUEUED  # then the sampler
    # resume with a larger budget: the enqueued configurations do not run again
    resume_search("seed-test", store, trials=5)
    again = by_number(store, "seed-test")
    assert len(again) == 5
    assert [t.params for t in again].count(ENQUEUED[0]) == 1
    assert [t.params for t in again].count(ENQUEUED[1]) == 1


def test_a_warm_started_search_learns_from_the_earlier_one(ray_local, store, tmp_path) -> None:
    run_search(config("earlier", trials=6, sampler="random", pruner="none"), store)
    earlier = [t for t in store.trials("earlier") if t.state == TrialState.COMPLETE]
    best = hpsearch.ranked(earlier, ["maximize"])[:2]
    cfg = config("later", trials=3, warm_start={"from": ["earlier"], "top": 2})
    outcome = run_search(cfg, store)
    line = f"warm start: {len(earlier)} trials from earlier, {6 - len(earlier)} skipped"
    assert outcome.warm_start.startswith(line)
    assert outcome.warm_start.endswith("the 2 best configurations run first")
    shown = " ".join(" ".join(summary_lines(outcome, cfg)).split())  # folded to the terminal
    assert outcome.warm_start in shown
    later = by_number(store, "later")
    assert len(later) == 3  # the earlier trials stay in their own search
    assert [t.params for t in later[:2]] == [t.params for t in best]
    stored = store.get_search("later").seeded_from
    assert stored["from"] == ["earlier"] and stored["used"] == len(earlier) and stored["top"] == 2
    # shown by `hpsearch searches` and the read API
    url = f"sqlite:///{tmp_path / 'results.db'}"
    listed = CliRunner().invoke(app, ["searches", "--storage", url, "--format", "json"])
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["later"]["seeded_from"] == stored and rows["earlier"]["seeded_from"] is None
    table = CliRunner().invoke(app, ["searches", "--storage", url])
    assert f"earlier ({len(earlier)} used)" in table.stdout
    with hpsearch.open(url) as db:
        assert db.search("later").record.seeded_from == stored
        assert describe(stored) == outcome.warm_start
    # resume: the warm trials are added once more to the fresh study, never stored, and the
    # top configurations do not run again
    again = resume_search("later", store, trials=4)
    assert again.warm_start == outcome.warm_start
    later = by_number(store, "later")
    assert len(later) == 4
    assert all([t.params for t in later].count(b.params) == 1 for b in best), (
        [t.params for t in later],
        [b.params for b in best],
    )


def test_a_warm_start_reaches_the_earlier_best_in_fewer_trials(ray_local, store) -> None:
    """``benchmarks/warm_start.py --early 12 --trials 12 --epochs 3``: over 3 seeds, the mean
    number of trials a search needs to reach an earlier search's best is lower warm-started
    than cold (each stops there, by [search] target; one worker, so trials run in order; one
    dataset split for all)."""
    from hpsearch.searcher import load_search_data

    space = {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
        "layers": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 4, "high": 128, "log": True},
        "lambda": {"type": "float", "low": 1e-6, "high": 1.0, "log": True},
        "batch_size": {"type": "categorical", "choices": [16, 64, 256]},
    }

    def search(name: str, seed: int, **more) -> SearchConfig:
        raw = doc(name, seed=seed, trials=12, pruner="none", **more)
        raw["train"] = {"epochs": 3, "optimizer": "adam"}
        raw["space"] = space
        return parse_config(raw)

    data = load_search_data(search("split", 0))
    reached: dict[str, list[int]] = {"cold": [], "warm": []}
    for seed in range(3):
        run_search(search(f"early-{seed}", 100 + seed), store, data=data)
        mark = max(t.dev_accuracy for t in store.trials(f"early-{seed}"))
        for arm in reached:
            warm = {"warm_start": {"from": [f"early-{seed}"]}} if arm == "warm" else {}
            name = f"{arm}-{seed}"
            outcome = run_search(search(name, 200 + seed, target=mark, **warm), store, data=data)
            n = len(store.trials(name))
            reached[arm].append(n if outcome.stop_reason else n + 1)  # not reached: 13
    cold, warm = (sum(v) / len(v) for v in reached.values())
    assert warm < cold, reached


def test_the_command_line_seeds_a_run(ray_local, store, tmp_path, definition_file) -> None:
    run_search(config("earlier", trials=3, sampler="random", pruner="none"), store)
    best = hpsearch.ranked(store.trials("earlier"), ["maximize"])[0]
    first = tmp_path / "first.toml"
    first.write_text("[[enqueue]]\nlearning_rate = 0.004\nunits = 20\nbeta1 = 0.85\n")
    url = f"sqlite:///{tmp_path / 'results.db'}"
    path = definition_file(doc("later", trials=3, pruner="none"))
    args = ["run", str(path), "--storage", url, "--enqueue", str(first)]
    result = CliRunner().invoke(app, [*args, "--warm-start", "nope"])
    assert result.exit_code == 2
    last = result.output.splitlines()[-1]  # after the line naming the database
    assert last.startswith("error: search.warm_start.from: no search named 'nope'")
    result = CliRunner().invoke(app, [*args, "--warm-start", "earlier", "--warm-start-top", "1"])
    assert result.exit_code == 0, result.output
    line = "warm start: 3 trials from earlier, 0 skipped; the 1 best configuration run first"
    assert result.output.count(line) == 2  # at the start and in the summary
    later = by_number(store, "later")
    assert later[0].params == {"learning_rate": 0.004, "units": 20, "beta1": 0.85}
    assert later[1].params == best.params


def test_warm_trials_are_judged_by_the_new_searchs_constraints(store) -> None:
    _stored_search(store, "early")  # no constraints of its own
    inside = {"learning_rate": 0.01, "units": 16, "beta1": 0.9}
    finished_trial(store, "early", 0, inside, value=0.95, n_params=5000, predict_ms=0.2)
    finished_trial(store, "early", 1, inside | {"units": 12}, value=0.9, n_params=900)
    cfg = config(warm_start={"from": "early"}, constraints=["n_params <= 1000"])
    side = StudySide(cfg)
    side.rebuild(store, [], load_seeding(cfg, store, resume=False))
    by_value = {t.values[0]: t for t in side.study.trials}
    infeasible, feasible = by_value[0.95], by_value[0.9]
    assert [v for k, v in infeasible.system_attrs.items() if "constraint" in k] == [4000.0]
    assert [v for k, v in feasible.system_attrs.items() if "constraint" in k] == [-100.0]
