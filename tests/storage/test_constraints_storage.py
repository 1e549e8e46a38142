"""Satisficing metrics in storage, on both backends: a trial's predict_ms, feasible and constraint
values round-trip (NaN kept); every order puts infeasible trials after feasible ones and the best
trial is the best feasible one (None when none is); feasible and predict_ms are filter and sort
keys; the search listing's best value is a feasible one; the view hps_trial_results has
predict_ms and feasible after migration 0006, which upgrades a 0005 database and goes back."""

from __future__ import annotations

import math

from alembic import command
from sqlalchemy import create_engine, text

from hpsearch.storage import (
    Storage,
    TrialOutcome,
    TrialState,
    _schema,
    head_revision,
    open_storage,
    upgrade_database,
)

# (dev_accuracy, n_params, feasible) by trial number: the two most accurate are infeasible
TRIALS = [(0.80, 300, True), (0.97, 5000, False), (0.85, 600, True), (0.99, 9000, False)]


def _search(storage: Storage, *, feasible: bool = True) -> str:
    name = "satisfice"
    storage.create_search(name, config={}, objectives=["dev_accuracy"], directions=["maximize"])
    for number, (acc, n_params, ok) in enumerate(TRIALS):
        tid = storage.start_trial(name, number, {"units": n_params // 10})
        over = float(n_params - 1000)
        outcome = TrialOutcome(
            TrialState.COMPLETE,
            values=(acc,),
            dev_accuracy=acc,
            dev_loss=1 - acc,
            n_params=n_params,
            predict_ms=n_params / 1000,
            feasible=ok and feasible,
            constraint_values=(over, math.nan) if number == 3 else (over, -0.5),
        )
        storage.finish_trial(tid, outcome, attempt=1)
    return name


def test_predict_ms_feasible_and_constraint_values_round_trip(storage: Storage) -> None:
    name = _search(storage)
    t0, t3 = storage.get_trial(name, 0), storage.get_trial(name, 3)
    assert (t0.predict_ms, t0.feasible, t0.constraint_values) == (0.3, True, (-700.0, -0.5))
    assert t3.feasible is False and t3.constraint_values[0] == 8000.0
    assert math.isnan(t3.constraint_values[1])  # an unmeasured metric stays NaN
    # a new attempt clears them with the other results
    storage.start_trial(name, 0, {"units": 30}, attempt=2)
    again = storage.get_trial(name, 0)
    assert (again.predict_ms, again.feasible, again.constraint_values) == (None, None, None)


def test_the_best_trial_is_the_best_feasible_one(storage: Storage) -> None:
    name = _search(storage)
    assert [t.number for t in storage.top_trials(name, 10)] == [2, 0, 3, 1]
    assert storage.best_trial(name).number == 2
    assert [t.number for t in storage.query_trials(name, limit=2)] == [2, 0]
    assert [t.number for t in storage.query_trials(name, sort="-value")] == [2, 0, 3, 1]
    assert [t.number for t in storage.query_trials(name, where=["feasible = false"])] == [1, 3]
    assert [t.number for t in storage.query_trials(name, where=["feasible != false"])] == [0, 2]
    assert [t.number for t in storage.query_trials(name, sort="-predict_ms")] == [3, 1, 2, 0]
    assert [t.number for t in storage.query_trials(name, where=["predict_ms < 1"])] == [0, 2]
    (summary,) = storage.list_searches()
    assert summary.best_value == 0.85 and summary.n_infeasible == 2


def test_no_feasible_trial_means_no_best(storage: Storage) -> None:
    name = _search(storage, feasible=False)
    assert storage.best_trial(name) is None
    assert len(storage.top_trials(name, 10)) == 4  # still listed, infeasible
    assert storage.list_searches()[0].best_value is None


def test_a_search_without_constraints_ranks_as_before(storage: Storage) -> None:
    storage.create_search("plain", config={}, directions=["maximize"])
    for number, acc in enumerate([0.5, 0.9]):
        tid = storage.start_trial("plain", number, {})
        storage.finish_trial(tid, TrialOutcome(TrialState.COMPLETE, values=(acc,)), attempt=1)
    assert storage.best_trial("plain").number == 1
    assert storage.get_trial("plain", 1).feasible is None
    # feasible = true also finds trials of a search without constraints (NULL: not judged)
    assert len(storage.query_trials("plain", where=["feasible = true"])) == 2


def test_the_sql_view_shows_predict_ms_and_feasible(backend_url: str) -> None:
    with open_storage(backend_url) as storage:
        _search(storage)
    engine = create_engine(backend_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT number, predict_ms, feasible FROM hps_trial_results "
                "WHERE search = 'satisfice' ORDER BY number"
            )
        ).all()
    engine.dispose()
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [
        (0, 0.3, True),
        (1, 5.0, False),
        (2, 0.6, True),
        (3, 9.0, False),
    ]


def test_a_0005_database_upgrades_to_the_new_view_and_back(backend_url: str) -> None:
    engine = create_engine(backend_url)
    with engine.begin() as conn:
        _schema.upgrade(conn, "0005")
        conn.execute(
            text(
                "INSERT INTO hps_searches (id, name, status, created_at, config, objectives, "
                "directions) VALUES (1, 's', 'finished', '2026-12-01', '{}', '[\"dev_accuracy\"]',"
                " '[\"maximize\"]')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO hps_trials (search_id, number, state, attempt, params, predict_ms) "
                "VALUES (1, 0, 'complete', 1, '{}', 0.25)"
            )
        )
        old = conn.execute(text("SELECT * FROM hps_trial_results")).keys()
        assert "predict_ms" not in old
    engine.dispose()
    upgrade_database(backend_url)
    with open_storage(backend_url) as store:
        assert store.schema_revision() == head_revision()
        assert store.get_trial("s", 0).predict_ms == 0.25
    engine = create_engine(backend_url)
    with engine.begin() as conn:
        row = conn.execute(text("SELECT predict_ms, feasible FROM hps_trial_results")).one()
        assert (row[0], row[1]) == (0.25, None)
        command.downgrade(_schema.alembic_config(conn), "0005")
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT * FROM hps_trial_results")).keys()
        assert "predict_ms" not in keys and "dev_accuracy_std" in keys
    engine.dispose()
