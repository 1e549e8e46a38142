"""Cross-validated trials in storage (migration 0003): a database at 0002 with a finished trial
upgrades to `hps_trial_folds` and the spread columns, the trial kept; a trial's folds are written
with its end (fenced by its attempt, replaced on a later attempt) and read back by fold; plain SQL
finds them, and the view hps_trial_results carries the spread."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from hpsearch.storage import (
    FoldRecord,
    TrialOutcome,
    TrialState,
    _schema,
    head_revision,
    open_storage,
    upgrade_database,
)


def _folds(shift: float = 0.0) -> list[FoldRecord]:
    return [FoldRecord(i, 0.1, 1.0, 0.2 + i / 10, 0.9 + shift - i / 100, 7) for i in range(3)]


def test_a_trial_stores_its_folds_with_its_end(backend_url) -> None:
    with open_storage(backend_url) as store:
        sid = store.create_search("cv", config={}, objectives=["dev_accuracy"]).id
        tid = store.start_trial(sid, 0, {"learning_rate": 0.01}, seed=1)
        outcome = TrialOutcome(
            state=TrialState.COMPLETE,
            values=(0.89,),
            dev_accuracy=0.89,
            dev_accuracy_std=0.0082,
            dev_loss_std=0.0816,
        )
        assert not store.finish_trial(tid, outcome, attempt=2, folds=_folds())  # fenced
        assert store.trial_folds(tid) == []
        assert store.finish_trial(tid, outcome, attempt=1, folds=_folds())
        assert store.finish_trial(tid, outcome, attempt=1, folds=_folds(0.05))  # replaced
        assert store.trial_folds(tid) == _folds(0.05)
        trial = store.get_trial("cv", 0)
        assert (trial.dev_accuracy_std, trial.dev_loss_std) == (0.0082, 0.0816)
        assert [t.number for t in store.query_trials("cv", where=["dev_accuracy_std < 0.01"])] == [
            0
        ]
    engine = create_engine(backend_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT fold, dev_accuracy FROM hps_trial_folds WHERE trial_id = :t ORDER BY fold"
            ),
            {"t": tid},
        ).all()
        view = conn.execute(
            text("SELECT dev_accuracy_std FROM hps_trial_results WHERE search = 'cv'")
        ).scalar_one()
    engine.dispose()
    assert [r[0] for r in rows] == [0, 1, 2] and rows[0][1] == pytest.approx(0.95)
    assert view == 0.0082


def test_a_0002_database_upgrades_to_folds_and_back(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        _schema.upgrade(conn, "0002")
        conn.execute(
            text(
                "INSERT INTO hps_searches (id, name, status, created_at, config, objectives, "
                "directions) VALUES (1, 's', 'finished', '2026-12-01', '{}', '[\"dev_accuracy\"]',"
                " '[\"maximize\"]')"
            )
        )
    engine.dispose()
    upgrade_database(url)
    with open_storage(url) as store:
        assert store.schema_revision() == head_revision()  # 0003 and every later revision
        assert store.get_search("s").name == "s"
    engine = create_engine(url)
    tables = inspect(engine).get_table_names()
    assert "hps_trial_folds" in tables
    with engine.begin() as conn:
        command.downgrade(_schema.alembic_config(conn), "0002")
    assert "hps_trial_folds" not in inspect(engine).get_table_names()
    engine.dispose()
