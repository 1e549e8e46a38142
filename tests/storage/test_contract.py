"""The storage contract, run against every backend (SQLite file, throw-away PostgreSQL db)."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from sqlalchemy import text

from hpsearch.storage import (
    EpochRecord,
    FailReason,
    ModelNotFoundError,
    SearchExistsError,
    SearchNotFoundError,
    SearchStatus,
    Storage,
    TrialNotFoundError,
    TrialOutcome,
    TrialRecord,
    TrialStart,
    TrialState,
)
from hpsearch.storage._models import EpochRow
from hpsearch.trainer import EpochMetrics

PARAMS = {"learning_rate": 0.01, "layers": 2, "units": (64, 32), "activation": "relu", "bn": True}


def _search(storage: Storage, name: str = "s", direction: str = "minimize") -> int:
    objective = "dev_loss" if direction == "minimize" else "dev_accuracy"
    record = storage.create_search(
        name, config={"search": {"name": name}}, objectives=[objective], directions=[direction]
    )
    return record.id


def _curve(n: int, shift: float = 0.0) -> list[EpochRecord]:
    return [
        EpochRecord(e, 1.0 / e + shift, 0.5, 1.1 / e + shift, 0.4, 0.01, 0.01 * e)
        for e in range(1, n + 1)
    ]


def test_search_create_get_list_status_delete(storage: Storage) -> None:
    sid = _search(storage, "first")
    record = storage.get_search("first")
    assert (record.id, record.status, record.directions) == (
        sid,
        SearchStatus.RUNNING,
        ("minimize",),
    )
    assert storage.get_search(sid).name == "first"
    assert record.created_at.tzinfo is not None and record.finished_at is None
    with pytest.raises(SearchExistsError, match="first"):
        storage.create_search("first", config={})
    with pytest.raises(SearchNotFoundError, match="recent searches: first"):
        storage.get_search("nope")

    done = storage.set_search_status("first", SearchStatus.FINISHED)
    assert done.status.is_finished() and done.finished_at >= done.created_at
    assert storage.set_search_status(sid, "running").finished_at is None

    trial_id = storage.start_trial(sid, 0, PARAMS)
    storage.add_epochs(trial_id, _curve(3))
    storage.save_model(trial_id, b"npz")
    storage.delete_search("first")
    with pytest.raises(SearchNotFoundError):
        storage.get_search("first")
    with pytest.raises(TrialNotFoundError):
        storage.epochs(trial_id)
    with storage.session() as s:  # ON DELETE CASCADE removed every child row
        for table in ("hps_trials", "hps_trial_params", "hps_epochs", "hps_models"):
            assert s.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == 0


def test_secrets_never_stored(storage: Storage) -> None:
    config = {
        "db": {"password": "hunter2", "url": "postgresql://bob:hunter2@db/x", "port": 5432},
        "API_TOKEN": "t0k",
        "client_secret": "s3",
        "train": {"epochs": 3},
    }
    stored = storage.create_search("x", config=config).config
    assert stored == {
        "db": {"url": "postgresql://bob:***@db/x", "port": 5432},
        "train": {"epochs": 3},
    }
    with storage.session() as s:
        raw = s.execute(text("SELECT config FROM hps_searches")).scalar_one()
    for secret in ("hunter2", "t0k", "s3"):
        assert secret not in str(raw)


def test_start_trial_is_idempotent_and_retry_resets_the_same_row(storage: Storage) -> None:
    sid = _search(storage)
    first = storage.start_trial(sid, 0, PARAMS, seed=7)
    again = storage.start_trial(sid, 0, PARAMS, seed=7)
    assert first == again
    trial = storage.trial_by_id(first)
    assert trial.params == {**PARAMS, "units": [64, 32]} and trial.seed == 7
    assert trial.state is TrialState.RUNNING and trial.attempt == 1

    storage.add_epochs(first, _curve(4), attempt=1)
    lost = TrialOutcome(TrialState.FAILED, fail_reason=FailReason.WORKER_LOST)
    assert storage.finish_trial(first, lost, attempt=1)
    retried = storage.start_trial(sid, 0, PARAMS, attempt=2, seed=7)
    assert retried == first
    trial = storage.trial_by_id(first)
    assert (trial.attempt, trial.state, trial.fail_reason) == (2, TrialState.RUNNING, None)
    assert storage.epochs(first) == []  # the new attempt starts a new learning curve
    assert storage.start_trial(sid, 0, {"other": 1}, attempt=1) == first  # stale: ignored
    assert storage.trial_by_id(first).params["learning_rate"] == 0.01
    assert [t.number for t in storage.trials(sid)] == [0]
    with storage.session() as s:
        kinds = dict(s.execute(text("SELECT name, kind FROM hps_trial_params")).all())
    assert kinds == {
        "learning_rate": "float",
        "layers": "int",
        "units": "json",
        "activation": "str",
        "bn": "bool",
    }


def test_add_epochs_upserts_in_one_batch(storage: Storage) -> None:
    sid = _search(storage)
    tid = storage.start_trial(sid, 0, PARAMS)
    assert storage.add_epochs(tid, _curve(5)) == 5
    assert storage.add_epochs(tid, []) == 0
    # the same epochs again (a re-sent batch), two of them with new values, plus a new one
    rows = [
        *_curve(3),
        EpochRecord(4, 9.0, 0.9),
        EpochMetrics(6, 0.1, 0.8, 0.2, 0.7, epoch_s=2.0, elapsed_s=7.0),
    ]
    assert storage.add_epochs(tid, rows) == 5
    curve = storage.epochs(tid)
    assert [e.epoch for e in curve] == [1, 2, 3, 4, 5, 6]
    assert curve[3] == EpochRecord(4, 9.0, 0.9)  # overwritten, missing values now NULL
    assert (curve[5].epoch_s, curve[5].elapsed_s) == (2.0, 7.0)  # the trainer's EpochMetrics
    assert curve[0].train_loss == 1.0 and curve[4].dev_loss == pytest.approx(1.1 / 5)
    assert storage.add_epochs(tid, _curve(8, shift=5.0), attempt=2) == 0  # stale attempt
    assert len(storage.epochs(tid)) == 6
    with pytest.raises(TypeError, match="epoch_s"):  # storage knows only its column names
        storage.add_epochs(tid, [{"epoch": 7, "train_loss": 0.1, "seconds": 2.0}])
    assert len(storage.epochs(tid)) == 6
    with pytest.raises(TrialNotFoundError):
        storage.add_epochs(tid + 1000, _curve(1))


def test_finish_is_fenced_by_attempt(storage: Storage) -> None:
    sid = _search(storage)
    tid = storage.start_trial(sid, 3, PARAMS, attempt=1)
    storage.start_trial(sid, 3, PARAMS, attempt=2)  # the driver retried it elsewhere
    stale = TrialOutcome(TrialState.COMPLETE, values=(0.1,), dev_loss=0.1)
    assert not storage.finish_trial(tid, stale, attempt=1)
    assert storage.trial_by_id(tid).state is TrialState.RUNNING
    assert storage.record_trial_start(
        tid, TrialStart(node_id="n2", worker_id="w2", queue_s=0.5), attempt=2
    )
    assert not storage.record_trial_start(tid, TrialStart(node_id="stale"), attempt=1)
    done = TrialOutcome(
        TrialState.COMPLETE,
        values=(0.2,),
        dev_loss=0.2,
        epochs_run=4,
        n_params=1234,
        diagnosis="high variance",
        avoidable_bias=0.01,
        variance=0.05,
        train_s=1.5,
        report_s=0.01,
    )
    assert storage.finish_trial(tid, done, attempt=2)
    t = storage.trial_by_id(tid)
    assert (t.state, t.value, t.dev_loss, t.epochs_run, t.n_params) == (
        TrialState.COMPLETE,
        0.2,
        0.2,
        4,
        1234,
    )
    assert (t.node_id, t.worker_id, t.queue_s, t.train_s, t.diagnosis) == (
        "n2",
        "w2",
        0.5,
        1.5,
        "high variance",
    )
    assert t.duration_s is not None and t.duration_s >= 0 and t.finished_at >= t.started_at
    with pytest.raises(TrialNotFoundError):
        storage.finish_trial(tid + 99, TrialOutcome(TrialState.COMPLETE), attempt=1)
    with pytest.raises(ValueError, match="state"):
        storage.finish_trial(tid, TrialOutcome(TrialState.RUNNING), attempt=2)


def test_nan_and_inf_round_trip(storage: Storage) -> None:
    sid = _search(storage)
    tid = storage.start_trial(sid, 0, PARAMS)
    weird = [math.nan, math.inf, -math.inf, 0.0, -2.5e-308, 1.7976931348623157e308, 1 / 3]
    storage.add_epochs(tid, [EpochRecord(i + 1, v, v, v, v, v, v) for i, v in enumerate(weird)])
    for e, v in zip(storage.epochs(tid), weird, strict=True):
        for got in (
            e.train_loss,
            e.train_accuracy,
            e.dev_loss,
            e.dev_accuracy,
            e.epoch_s,
            e.elapsed_s,
        ):
            assert got == v or (math.isnan(got) and math.isnan(v))
    diverged = TrialOutcome(
        TrialState.FAILED,
        values=(math.nan, math.inf),
        train_loss=math.inf,
        dev_loss=math.nan,
        variance=-math.inf,
        fail_reason=FailReason.DIVERGED,
        diverged_epoch=1,
    )
    storage.finish_trial(tid, diverged, attempt=1)
    storage.set_test_metrics(tid, test_loss=math.inf, test_accuracy=0.25)
    t = storage.trial_by_id(tid)
    assert math.isnan(t.values[0]) and t.values[1] == math.inf
    assert t.train_loss == math.inf and math.isnan(t.dev_loss) and t.variance == -math.inf
    assert (t.test_loss, t.test_accuracy, t.diverged_epoch) == (math.inf, 0.25, 1)
    with storage.session() as s:  # plain SQL sees NULL plus a marker, never a bogus number
        row = s.execute(text("SELECT dev_loss, nonfinite FROM hps_epochs WHERE epoch = 1")).one()
        assert row[0] is None and "dev_loss=nan" in row[1]
        assert s.execute(text("SELECT objective FROM hps_trials")).scalar_one() is None
    assert storage.best_trial(sid) is None  # a non-finite objective is never "best"


def test_mark_running_trials_returns_them_for_requeue(storage: Storage) -> None:
    sid = _search(storage)
    ids = [storage.start_trial(sid, n, {"learning_rate": 0.1 * (n + 1)}) for n in range(3)]
    storage.finish_trial(ids[1], TrialOutcome(TrialState.COMPLETE, values=(0.5,)), attempt=1)
    lost = storage.mark_running_trials(sid)
    assert [(t.number, t.params["learning_rate"], t.attempt) for t in lost] == [
        (0, 0.1, 1),
        (2, pytest.approx(0.3), 1),
    ]
    states = {t.number: (t.state, t.fail_reason) for t in storage.trials(sid)}
    assert states == {
        0: (TrialState.FAILED, FailReason.DRIVER_LOST),
        1: (TrialState.COMPLETE, None),
        2: (TrialState.FAILED, FailReason.DRIVER_LOST),
    }
    assert storage.mark_running_trials(sid) == []


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_trials_order_filter_top_and_best(storage: Storage, direction: str) -> None:
    sid = _search(storage, direction=direction)
    values = [0.5, 0.2, None, 0.9, 0.3]
    for n, v in enumerate(values):
        tid = storage.start_trial(sid, n, {"n": n})
        if v is None:
            storage.finish_trial(tid, TrialOutcome(TrialState.PRUNED, epochs_run=1), attempt=1)
        else:
            storage.finish_trial(tid, TrialOutcome(TrialState.COMPLETE, values=(v,)), attempt=1)
    storage.start_trial(sid, 5, {"n": 5})
    ranked = sorted((v, n) for n, v in enumerate(values) if v is not None)
    if direction == "maximize":
        ranked.reverse()
    expected = [n for _, n in ranked]
    assert [t.number for t in storage.top_trials(sid, 3)] == expected[:3]
    assert storage.best_trial(sid).number == expected[0]
    by_objective = [t.number for t in storage.trials(sid, order_by="objective")]
    assert by_objective[:4] == expected and set(by_objective[4:]) == {2, 5}
    assert [t.number for t in storage.trials(sid, states=["pruned", "running"])] == [2, 5]
    assert [t.number for t in storage.trials(sid, limit=2)] == [0, 1]
    assert storage.get_trial(sid, 3).params == {"n": 3}
    with pytest.raises(TrialNotFoundError):
        storage.get_trial(sid, 77)
    with pytest.raises(ValueError, match="order_by"):
        storage.trials(sid, order_by="params")

    (summary,) = storage.list_searches()
    assert (summary.n_trials, summary.n_complete, summary.n_pruned, summary.n_running) == (
        6,
        4,
        1,
        1,
    )
    assert summary.best_value == ranked[0][0] and summary.duration_s >= 0


def test_models_round_trip_as_npz(storage: Storage) -> None:
    sid = _search(storage)
    tid = storage.start_trial(sid, 0, PARAMS)
    weights = {"W1": np.arange(12, dtype=np.float32).reshape(3, 4), "b1": np.zeros((3, 1))}
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    with pytest.raises(ModelNotFoundError):
        storage.load_model(tid)
    storage.save_model(tid, b"old")
    storage.save_model(tid, buffer.getvalue())  # replaces
    loaded = np.load(io.BytesIO(storage.load_model(tid)), allow_pickle=False)
    for name, array in weights.items():
        np.testing.assert_array_equal(loaded[name], array)
    assert storage.model_trial_ids(sid) == [tid]
    with pytest.raises(TrialNotFoundError):
        storage.save_model(tid + 50, b"x")


def test_outcome_and_epoch_fields_are_column_names() -> None:
    """One name per field from the worker to its column: storage converts nothing by name."""
    trial_fields = {f.name for f in dataclasses.fields(TrialRecord)}
    assert {f.name for f in dataclasses.fields(TrialOutcome)} <= trial_fields
    epoch_columns = {c.name for c in EpochRow.__table__.columns} - {"trial_id", "nonfinite"}
    assert {f.name for f in dataclasses.fields(EpochRecord)} == epoch_columns
    assert {f.name for f in dataclasses.fields(EpochMetrics)} == epoch_columns
