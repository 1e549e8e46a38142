"""[search] constraints (satisficing metrics) and predict_ms.

A real constrained search on digits whose more accurate network breaks ``n_params <= 1000``: its
best trial is the feasible one in the run summary, storage, ``trials``, the read API, the report,
the dashboard's Optuna storage and the SQL view, and only it is scored on the test split.
Constraint values reach Optuna (``Trial.set_constraint``, read by TPE, NSGA-II and GP) on a
tell, on a resume's rebuilt history and in the ask-ahead sampler process. A constraint on an
unknown metric or with a bad operator is one ``error:`` line at ``validate`` (exit 2).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import optuna
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import hpsearch
from hpsearch.cli import app
from hpsearch.cli._summary import summary_lines
from hpsearch.searcher import ConfigError, SearchConfig, parse_config, run_search
from hpsearch.searcher._ask_ahead import _Sampler, kept
from hpsearch.searcher._constraints import Constraint, parse_constraint
from hpsearch.searcher._optuna import new_study, stored_history
from hpsearch.searcher._study import StudySide
from hpsearch.storage import TrialOutcome, TrialRecord, TrialState, open_storage

CONSTRAINTS = ["n_params <= 1000", "predict_ms < 1000"]
# One hidden layer on digits (64 inputs, 10 classes): 4 units = 310 parameters (feasible),
# 64 units = 4,810 (infeasible) and clearly more accurate after 8 epochs.
BASE = {
    "search": {
        "name": "satisfice",
        "trials": 2,
        "workers": 1,
        "sampler": "grid",
        "pruner": "none",
        "seed": 3,
        "constraints": CONSTRAINTS,
    },
    "data": {"dataset": "digits"},
    "train": {"epochs": 8, "layers": 1, "learning_rate": 0.01, "batch_size": 64},
    "space": {"units": {"type": "categorical", "choices": [4, 64]}},
}


def config(**search):
    raw = copy.deepcopy(BASE)
    raw["search"].update(search)
    return parse_config(raw)


# --- the definition -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            ["latency <= 3"],
            "search.constraints: 'latency <= 3': unknown metric 'latency' (expected",
        ),
        (["n_params == 3"], "search.constraints: 'n_params == 3': bad operator '=='"),
        (["n_params => 3"], "search.constraints: 'n_params => 3': bad operator '=>'"),
        (["n_params <= many"], "search.constraints: 'n_params <= many': expected a finite number"),
        (["n_params"], "search.constraints: 'n_params': expected METRIC OP NUMBER"),
        ([3], "search.constraints: expected conditions as strings"),
        (5, "search.constraints: expected a list of conditions"),
        (["test_accuracy >= 0.9"], "search.constraints: 'test_accuracy >= 0.9': unknown metric"),
    ],
)
def test_bad_constraints_are_one_line_naming_the_key(given, expected) -> None:
    with pytest.raises(ConfigError) as e:
        config(constraints=given)
    assert str(e.value).startswith(expected), str(e.value)
    assert "\n" not in str(e.value) and e.value.field == "search.constraints"


def test_cmaes_is_refused_and_random_is_allowed() -> None:
    with pytest.raises(ConfigError) as e:
        config(sampler="cmaes")
    assert str(e.value).startswith("search.constraints: the cmaes sampler ignores constraints")
    assert config(sampler="random").search.constraints == tuple(CONSTRAINTS)


def test_validate_refuses_a_bad_constraint_in_one_line(definition_file) -> None:
    doc = copy.deepcopy(BASE)
    doc["search"]["constraints"] = ["n_params ~ 1000"]
    result = CliRunner().invoke(app, ["validate", str(definition_file(doc))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: search.constraints: ")
    assert "bad operator '~'" in lines[0] and "expected one of <= < >= >" in lines[0]
    ok = CliRunner().invoke(app, ["validate", str(definition_file(BASE))])
    assert ok.exit_code == 0, ok.output
    assert "the grid sampler does not steer by them" in ok.output


def test_constraints_are_stored_and_read_back() -> None:
    cfg = config(constraints=["predict_ms<2.5", "dev_accuracy >= 0.9"])
    assert cfg.search.constraints == ("predict_ms < 2.5", "dev_accuracy >= 0.9")
    assert SearchConfig.from_stored(cfg.to_dict()).search == cfg.search
    plain = copy.deepcopy(BASE)
    del plain["search"]["constraints"]
    assert "constraints" not in parse_config(plain).to_dict()["search"]  # older stored forms


def test_constraint_values_follow_optunas_convention() -> None:
    le, lt, ge = (
        parse_constraint("n_params <= 100"),
        Constraint("n_params", "<", 100.0),
        Constraint("dev_accuracy", ">=", 0.9),
    )
    assert (le.value(90), le.value(100), le.value(130)) == (-10.0, 0.0, 30.0)
    assert lt.value(100) > 0 and lt.value(99) == -1.0  # a strict bound met exactly breaks it
    assert ge.value(0.95) == pytest.approx(-0.05) and ge.value(0.8) == pytest.approx(0.1)
    assert math.isnan(le.value(None))  # unmeasured: the trial is infeasible


# --- Optuna sees the constraint values ------------------------------------------------------------


def _outcome(acc: float, values: tuple[float, ...]) -> TrialOutcome:
    return TrialOutcome(
        TrialState.COMPLETE,
        values=(acc,),
        dev_loss=1 - acc,
        constraint_values=values,
        feasible=all(v <= 0 for v in values),
    )


def test_tell_sets_constraints_and_an_infeasible_trial_is_never_best() -> None:
    side = StudySide(config(sampler="tpe"))
    first, second = side.ask(), side.ask()
    assert side.tell(first.otrial, first.number, _outcome(0.80, (-690.0, -999.0)))
    assert not side.tell(second.otrial, second.number, _outcome(0.97, (3810.0, -999.0)))
    assert side.best_number == first.number and side.best_value == 0.80
    frozen = side.study.trials
    assert frozen[0].constraints == {"n_params <= 1000": -690.0, "predict_ms < 1000": -999.0}
    assert frozen[1].constraints["n_params <= 1000"] == 3810.0
    side.close()


def test_a_resumed_study_gives_the_sampler_the_stored_constraint_values() -> None:
    cfg = config(sampler="tpe")
    stored = [
        TrialRecord(
            id=i + 1,
            search_id=1,
            number=i,
            state=TrialState.COMPLETE,
            attempt=1,
            params={"units": units},
            values=(acc,),
            dev_loss=1 - acc,
            feasible=ok,
            constraint_values=(over, math.nan if i == 1 else -1.0),
        )
        for i, (units, acc, ok, over) in enumerate(
            [(4, 0.8, True, -690.0), (64, 0.97, False, 3810)]
        )
    ]
    history = stored_history(cfg, storage=None, trials=stored, with_curves=False)
    assert history[0].constraints == {"n_params <= 1000": -690.0, "predict_ms < 1000": -1.0}
    assert history[1].constraints["predict_ms < 1000"] == math.inf  # NaN: Optuna refuses it
    side = StudySide(cfg)

    class NoEpochs:
        def epochs(self, _trial_id):
            return []

    side.rebuild(NoEpochs(), stored)
    assert side.best_number == 0  # the more accurate trial is infeasible
    side.close()


def test_the_ask_ahead_process_keeps_constraint_values() -> None:
    cfg = config(sampler="tpe")
    sampler = _Sampler(cfg, new_study(cfg), [], (250, 750, 100))
    dist = optuna.distributions.CategoricalDistribution([4, 64])
    infeasible = {"n_params <= 1000": 3810.0, "predict_ms < 1000": -1.0}
    message = ("tell", None, {"units": 64}, {"units": dist}, optuna.trial.TrialState.COMPLETE)
    sampler.handle(None, (*message, [0.97], {}, infeasible))
    assert sampler.all[-1].constraints == infeasible
    assert sampler.study.trials[-1].constraints == infeasible
    # the bounded history keeps feasible trials as "best" before infeasible ones
    feasible = optuna.trial.create_trial(
        params={}, distributions={}, value=0.5, system_attrs={"constraints:a": -1.0}
    )
    bad = optuna.trial.create_trial(
        params={}, distributions={}, value=0.9, system_attrs={"constraints:a": 1.0}
    )
    chosen = kept([bad, feasible, *[bad] * 3], maximize=True, best=1, recent=0)
    assert chosen == [feasible]


# --- a real constrained search --------------------------------------------------------------------


def test_the_best_trial_is_the_best_feasible_one_everywhere(ray_local, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    storage = open_storage(url)
    cfg = config()
    outcome = run_search(cfg, storage)
    trials = {t.params["units"]: t for t in storage.trials("satisfice")}
    small, large = trials[4], trials[64]
    # the craft holds: the larger network is more accurate and infeasible
    assert large.dev_accuracy > small.dev_accuracy
    assert (small.n_params, large.n_params) == (310, 4810)
    assert (small.feasible, large.feasible) == (True, False)
    assert large.constraint_values[0] == 3810.0 and small.constraint_values[0] == -690.0
    assert small.predict_ms > 0 and large.predict_ms > 0  # measured in the worker
    assert large.constraint_values[1] == pytest.approx(large.predict_ms - 1000)
    # the run, storage and the test split
    assert outcome.best.number == small.number
    assert storage.best_trial("satisfice").number == small.number
    assert small.test_accuracy is not None and large.test_accuracy is None
    assert small.id in storage.model_trial_ids("satisfice")
    from hpsearch.searcher._predict import _best_trial  # what predict and replay call "the best"

    assert _best_trial(storage, storage.get_search("satisfice")).number == small.number
    # the run summary
    lines = summary_lines(outcome, cfg)
    text_out = "\n".join(lines)
    assert "constraints n_params <= 1000, predict_ms < 1000: 1 of 2 complete trials feasible" in (
        text_out
    )
    assert f"best trial {small.number} on the test split" in text_out
    # the read API
    view = hpsearch.open(url).search("satisfice")
    assert view.best().number == small.number
    assert [t.number for t in view.ranked()] == [small.number, large.number]
    assert [t.number for t in view.pareto_front()] == [small.number]
    stats = view.stats()
    assert stats.best_trial == small.number and stats.feasible_trials == 1
    assert {r["number"]: r["feasible"] for r in view.rows()}[large.number] is False
    # the command line
    runner = CliRunner()
    table = runner.invoke(app, ["trials", "satisfice", "--storage", url])
    assert table.exit_code == 0, table.output
    assert "feasible" in table.output
    row = next(ln for ln in table.output.splitlines() if ln.strip().startswith(str(large.number)))
    assert " no " in f" {row} "
    top = runner.invoke(
        app, ["trials", "satisfice", "--storage", url, "--top", "1", "--format", "json"]
    )
    assert top.exit_code == 0, top.output
    assert f'"number": {small.number}' in top.output and '"feasible": true' in top.output
    assert '"predict_ms": ' in top.output
    bad = runner.invoke(
        app,
        [
            "trials",
            "satisfice",
            "--storage",
            url,
            "--where",
            "feasible = false",
            "--format",
            "json",
        ],
    )
    assert bad.exit_code == 0 and f'"number": {large.number}' in bad.output
    assert f'"number": {small.number}' not in bad.output
    # the SQL view
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT number, feasible, predict_ms FROM hps_trial_results ORDER BY number")
        ).all()
    engine.dispose()
    assert {r[0]: bool(r[1]) for r in rows} == {small.number: True, large.number: False}
    assert all(r[2] > 0 for r in rows)
    # the dashboard's Optuna view
    from hpsearch.searcher._optuna_storage import open_optuna_storage

    ostore = open_optuna_storage(storage)
    sid = ostore.get_study_id_from_name("satisfice")
    assert ostore.get_best_trial(sid).number == small.number
    frozen = {t.number: t for t in ostore.get_all_trials(sid)}
    assert frozen[large.number].user_attrs["feasible"] is False
    assert frozen[large.number].system_attrs["constraints"][0] == 3810.0
    assert b"(1 infeasible)" in __import__(
        "hpsearch.searcher._dashboard_page", fromlist=["x"]
    ).searches_page(ostore.search_rows())
    # the report
    from hpsearch.searcher import build_report

    page = build_report(storage, "satisfice")
    assert "1 of 2 complete trials feasible" in page and "<td>NO</td>" in page
    storage.close()


def test_the_pareto_front_and_ranking_leave_infeasible_trials_out_of_the_best() -> None:
    def trial(number: int, values: tuple[float, ...], feasible: bool | None) -> TrialRecord:
        return TrialRecord(
            id=number + 1,
            search_id=1,
            number=number,
            state=TrialState.COMPLETE,
            attempt=1,
            params={},
            values=values,
            feasible=feasible,
        )

    # (dev_accuracy max, n_params min): 2 dominates 0 and 1 but is infeasible
    trials = [trial(0, (0.8, 300), True), trial(1, (0.9, 900), True), trial(2, (0.95, 200), False)]
    directions = ["maximize", "minimize"]
    assert [t.number for t in hpsearch.pareto_front(trials, directions)] == [1, 0]
    assert [t.number for t in hpsearch.ranked(trials, directions)] == [1, 0, 2]
    assert hpsearch.best_of(trials, directions).number == 1
    assert hpsearch.best_of([trials[2]], directions) is None  # nothing feasible: no best
    plain = [trial(0, (0.8, 1), None), trial(1, (0.9, 2), None)]  # no constraints: as before
    assert hpsearch.best_of(plain, directions).number == 1
