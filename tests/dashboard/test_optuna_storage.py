"""The read-only Optuna storage over hpsearch's tables: mapping, load_study, refusals, live."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState as OS

from hpsearch.searcher._optuna_storage import HpsearchOptunaStorage, ReadOnlyStorageError
from hpsearch.storage import TrialOutcome, TrialState, open_storage
from tests.dashboard import stored


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'r.db'}", None
    else:
        from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url

        if postgres_server_url() is None:
            pytest.skip(SKIP_REASON)
        url, cleanup = create_database(), drop_database
    s = open_storage(url)
    try:
        stored.fill(s)
        yield s
    finally:
        s.close()
        if cleanup is not None:
            cleanup(url)


def test_load_study_maps_searches_and_trials(store):
    ostore = HpsearchOptunaStorage(store, refresh_s=0.0)
    study = optuna.load_study(study_name=stored.SINGLE, storage=ostore)
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5]
    done, pruned, failed, running = OS.COMPLETE, OS.PRUNED, OS.FAIL, OS.RUNNING
    assert [t.state for t in trials] == [done, done, pruned, failed, done, running]
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.best_trial.number == 1
    first = trials[0]
    assert set(first.params) == {"learning_rate", "dropout"}
    assert first.distributions["learning_rate"].log
    assert math.isclose(first.params["learning_rate"], 0.001)
    assert sorted(first.intermediate_values) == [1, 2, 3, 4, 5]
    assert math.isclose(first.values[0], first.intermediate_values[5])
    # pruned, failed and running trials keep their curves
    assert sorted(trials[2].intermediate_values) == [1, 2]
    assert trials[2].values == [trials[2].intermediate_values[2]]  # pruned: its last value
    assert sorted(trials[3].intermediate_values) == [1, 2, 3]
    assert sorted(trials[5].intermediate_values) == [1, 2]
    attrs = trials[3].user_attrs
    assert attrs["fail_reason"] == "diverged" and attrs["attempt"] == 1
    assert attrs["node_id"] == "node-a" and "dev_accuracy" in attrs
    assert first.user_attrs["diagnosis"] == "high variance" and "train_s" in first.user_attrs


def test_multi_objective_pareto_front(store):
    study = optuna.load_study(study_name=stored.MULTI, storage=HpsearchOptunaStorage(store))
    assert len(study.directions) == 2
    assert study.metric_names == ["dev_loss", "n_params"]
    front = sorted(t.number for t in study.best_trials)
    assert front == [1, 2, 4]  # (0.2,1500), (0.5,400), (0.25,700)


def test_writes_are_refused(store):
    ostore = HpsearchOptunaStorage(store)
    study = optuna.load_study(study_name=stored.SINGLE, storage=ostore)
    sid = study._study_id
    tid = study.trials[5]._trial_id
    for call in (
        lambda: ostore.delete_study(sid),
        lambda: ostore.set_study_system_attr(sid, "note", "x"),
        lambda: ostore.set_trial_state_values(tid, OS.COMPLETE, [0.1]),
        lambda: ostore.set_trial_user_attr(tid, "k", 1),
        lambda: optuna.create_study(storage=ostore),
        lambda: study.ask(),
    ):
        with pytest.raises(ReadOnlyStorageError, match="read-only"):
            call()
    assert store.get_trial(stored.SINGLE, 5).state == TrialState.RUNNING


def test_refresh_reads_new_and_unfinished_trials_only(store, monkeypatch):
    ostore = HpsearchOptunaStorage(store, refresh_s=0.0)
    sid = ostore.get_study_id_from_name(stored.SINGLE)
    assert len(ostore.get_all_trials(sid)) == 6
    read: list[int] = []
    real = store.epochs
    monkeypatch.setattr(store, "epochs", lambda tid: read.append(tid) or real(tid))
    running = store.get_trial(stored.SINGLE, 5).id
    stored.add_trial(store, stored.SINGLE, 6, epochs=3)  # a new finished trial
    store.add_epochs(running, stored.curve(4, 0.7), attempt=1)  # new epochs of a running one
    trials = ostore.get_all_trials(sid)
    assert len(trials) == 7 and trials[6].state == OS.COMPLETE
    assert sorted(trials[5].intermediate_values) == [1, 2, 3, 4]
    assert sorted(read) == sorted([running, trials[6]._trial_id])  # finished ones are cached
    read.clear()
    stored.add_trial(store, stored.SINGLE, 7, state=TrialState.RUNNING)
    store.finish_trial(running, TrialOutcome(state=TrialState.COMPLETE, values=(0.1,)), attempt=1)
    trials = ostore.get_all_trials(sid)
    assert trials[5].state == OS.COMPLETE and trials[7].state == OS.RUNNING
    assert sorted(read) == sorted([running, trials[7]._trial_id])
    assert ostore.get_best_trial(sid).number == 5
    study = ostore.get_all_studies()[0]
    assert study.user_attrs["progress"] == "7/6" and study.user_attrs["running"] == 1


def test_a_retried_trial_and_a_recreated_search_are_read_again(store):
    ostore = HpsearchOptunaStorage(store, refresh_s=0.0)
    sid = ostore.get_study_id_from_name(stored.SINGLE)
    assert ostore.get_all_trials(sid)[3].state == OS.FAIL
    tid = store.start_trial(stored.SINGLE, 3, {"learning_rate": 0.004}, attempt=2)  # a retry
    trials = ostore.get_all_trials(sid)
    assert trials[3]._trial_id == tid and trials[3].state == OS.RUNNING
    assert trials[3].intermediate_values == {}  # a new attempt starts a new curve
    assert trials[3].user_attrs["attempt"] == 2
    store.delete_search(stored.MULTI)
    stored.create(store, stored.MULTI, objectives=("dev_loss",), trials=2)
    stored.add_trial(store, stored.MULTI, 0)
    new_id = ostore.get_study_id_from_name(stored.MULTI)
    assert [t.number for t in ostore.get_all_trials(new_id)] == [0]
    assert len(ostore.get_study_directions(new_id)) == 1
