"""Real searches on the session's local Ray: trials, epochs, pruning, failures, resume."""

from __future__ import annotations

import copy
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hpsearch.searcher import Progress, parse_config, resume_search, run_search
from hpsearch.storage import FailReason, SearchStatus, TrialState, open_storage

HPSEARCH = str(Path(sys.executable).parent / "hpsearch")

DIGITS = {
    "search": {
        "name": "digits-test",
        "trials": 8,
        "workers": 2,
        "sampler": "tpe",
        "sampler_options": {"n_startup_trials": 4},
        "pruner": "none",
        "seed": 3,
    },
    "data": {"dataset": "digits"},
    "train": {"epochs": 6, "optimizer": "adam", "activation": "relu"},
    "space": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 2e-2, "log": True},
        "layers": {"type": "int", "low": 1, "high": 2},
        "units": {"type": "int", "low": 16, "high": 64, "log": True},
        "lambda": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3},
        "batch_size": [32, 64],
    },
}


def config(**search):
    raw = copy.deepcopy(DIGITS)
    raw["search"].update(search)
    return parse_config(raw)


def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


def test_digits_search_stores_every_trial_and_epoch(ray_local, tmp_path: Path) -> None:
    storage = open_storage(db_url(tmp_path))
    outcome = run_search(config(), storage)
    trials = storage.trials("digits-test")
    assert len(trials) == 8
    assert [t.number for t in trials] == list(range(8))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        epochs = storage.epochs(t.id)
        assert [e.epoch for e in epochs] == list(range(1, 7))
        assert t.epochs_run == 6
        assert t.values[0] == pytest.approx(t.dev_accuracy)
        assert t.dev_accuracy == pytest.approx(epochs[-1].dev_accuracy)
        assert t.node_id and t.worker_id and t.seed is not None
        assert t.environment["numpy"] and t.dataset_hash
        assert t.queue_s is not None and t.train_s > 0
        # sampled settings are stored in the users' words (the search file's `lambda`)
        assert "lambda" in t.params and "lambd" not in t.params
    best_stored = max(trials, key=lambda t: t.dev_accuracy)
    assert outcome.best is not None and outcome.best.number == best_stored.number
    assert outcome.best.dev_accuracy == best_stored.dev_accuracy
    assert best_stored.dev_accuracy > 0.9  # digits learns fast even in 6 epochs
    # The test split scores the chosen trial only, after the search.
    assert outcome.best_test_accuracy is not None
    tested = [t for t in trials if t.test_accuracy is not None]
    assert [t.number for t in tested] == [best_stored.number]
    assert storage.load_model(best_stored.id)[:2] == b"PK"  # an .npz (zip) archive
    assert storage.get_search("digits-test").status == SearchStatus.FINISHED
    # different trials ran with different seeds, and on this node
    assert len({t.seed for t in trials}) == 8


def test_pruner_prunes(ray_local, tmp_path: Path) -> None:
    raw = copy.deepcopy(DIGITS)
    raw["search"].update(
        name="prune-test",
        trials=10,
        workers=1,
        sampler="random",
        sampler_options={},
        pruner="median",
        pruner_options={"n_startup_trials": 2, "n_warmup_steps": 1},
    )
    # a range with hopeless learning rates, so some trials lag the median early
    raw["space"]["learning_rate"] = {"type": "float", "low": 1e-6, "high": 1e-2, "log": True}
    storage = open_storage(db_url(tmp_path))
    run_search(parse_config(raw), storage)
    trials = storage.trials("prune-test")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(trials) == 10
    assert pruned, "the median pruner pruned nothing"
    for t in pruned:
        epochs = storage.epochs(t.id)
        n = len(epochs)
        assert 1 <= n < 6 and t.epochs_run == n  # stopped early, epochs kept
        # the pruned trial's row keeps the metrics of the last epoch it reported
        last = epochs[-1]
        assert (t.train_loss, t.train_accuracy, t.dev_loss, t.dev_accuracy) == (
            last.train_loss,
            last.train_accuracy,
            last.dev_loss,
            last.dev_accuracy,
        )


def test_progress_counts_every_trial_in_flight(ray_local, tmp_path: Path) -> None:
    """Each line logged as a trial ends counts the trials in flight, its successor included
    (it said "running 1" while 2 trials ran on 2 workers)."""
    stream = io.StringIO()
    cfg = config(name="progress-test", trials=5, sampler="random", sampler_options={})
    run_search(cfg, open_storage(db_url(tmp_path)), progress=Progress(stream=stream, live=False))
    lines = re.findall(
        r"trials (\d+)/5 \(\d+ trained to the end\)  running (\d+)", stream.getvalue()
    )
    assert [int(done) for done, _ in lines] == [0, 1, 2, 3, 4, 5]
    # while trials remain to launch, both workers have one
    assert [int(running) for done, running in lines if 1 <= int(done) <= 3] == [2, 2, 2]
    assert [int(running) for done, running in lines if int(done) >= 4] == [1, 0]


def test_stored_settings_in_either_word_rebuild_the_same_history() -> None:
    """Searches stored before the rename hold `lambd`; both words give Optuna the same trial."""
    from hpsearch.searcher._space import internal_params

    cfg = config()
    settings = {"learning_rate": 0.01, "layers": 2, "units": [32, 16], "dropout": 0.1}
    old = internal_params(cfg, {**settings, "lambd": 1e-4, "batch_size": 32})
    new = internal_params(cfg, {**settings, "lambda": 1e-4, "batch_size": 32})
    assert old == new and old[0]["lambd"] == 1e-4


def test_diverging_trial_is_failed_and_search_goes_on(ray_local, tmp_path: Path) -> None:
    raw = copy.deepcopy(DIGITS)
    raw["search"].update(name="diverge-test", trials=3, sampler="grid", sampler_options={})
    raw["train"].update(optimizer="gd", batch_size=64, layers=1, units=16)
    raw["space"] = {"learning_rate": [0.05, 1e9, 0.1]}
    storage = open_storage(db_url(tmp_path))
    outcome = run_search(parse_config(raw), storage)
    trials = storage.trials("diverge-test")
    assert len(trials) == 3
    failed = [t for t in trials if t.state == TrialState.FAILED]
    assert len(failed) == 1
    bad = failed[0]
    assert bad.params["learning_rate"] == 1e9
    assert bad.fail_reason == FailReason.DIVERGED
    assert bad.diverged_epoch == 1
    assert outcome.complete == 2


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return int(c.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _start_driver(cfg_path: Path, url: str, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [HPSEARCH, "run", str(cfg_path), "--storage", url, "--address", address, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


def _toml(tmp_path: Path, name: str, trials: int, epochs: int) -> Path:
    import tomli_w  # dev dependency

    raw = copy.deepcopy(DIGITS)
    raw["search"].update(name=name, trials=trials)
    raw["train"]["epochs"] = epochs
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_driver_killed_then_resumed_reaches_budget(ray_local, tmp_path: Path) -> None:
    url = db_url(tmp_path)
    address = ray_local.get_runtime_context().gcs_address
    cfg = _toml(tmp_path, "kill-test", trials=10, epochs=200)
    proc = _start_driver(cfg, url, address, "--quiet")

    def complete() -> int:
        try:
            return _count(url, "select count(*) from hps_trials where state = 'complete'")
        except Exception:
            return 0

    try:
        _wait_for(lambda: complete() >= 3, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    storage = open_storage(url)
    before = {t.number: t for t in storage.trials("kill-test")}
    done_before = {n: t for n, t in before.items() if t.state == TrialState.COMPLETE}
    left_running = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert done_before and left_running  # killed mid-search, trials in flight
    # The dead driver's lease is taken over: its process is gone from this host.
    began = time.monotonic()
    outcome = resume_search("kill-test", storage)
    print(f"\ndriver killed: resume met the budget in {time.monotonic() - began:.2f} s")
    after = storage.trials("kill-test")
    numbers = [t.number for t in after]
    assert len(numbers) == len(set(numbers)) == 10  # budget met, no duplicates
    assert all(t.state != TrialState.RUNNING for t in after)
    by_number = {t.number: t for t in after}
    for n, t in done_before.items():  # finished before the kill: there exactly once, unchanged
        assert by_number[n].finished_at == t.finished_at
        assert by_number[n].values == t.values
    for n in left_running:  # re-run with the same hyperparameters, next attempt
        assert by_number[n].params == before[n].params
        assert by_number[n].attempt == before[n].attempt + 1
        assert by_number[n].state == TrialState.COMPLETE
    dup = _count(
        url,
        "select count(*) from (select trial_id, epoch from hps_epochs "
        "group by trial_id, epoch having count(*) > 1) d",
    )
    assert dup == 0
    assert outcome.status == "finished"


def test_ctrl_c_records_running_trials_and_exits_130(ray_local, tmp_path: Path) -> None:
    url = db_url(tmp_path)
    address = ray_local.get_runtime_context().gcs_address
    cfg = _toml(tmp_path, "sigint-test", trials=8, epochs=300)
    proc = _start_driver(cfg, url, address)

    def started() -> bool:
        try:
            return _count(url, "select count(*) from hps_epochs") >= 2
        except Exception:
            return False

    try:
        _wait_for(started, timeout=120)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out.decode()
    storage = open_storage(url)
    assert storage.get_search("sigint-test").status == SearchStatus.INTERRUPTED
    trials = storage.trials("sigint-test")
    assert all(t.state != TrialState.RUNNING for t in trials)
    interrupted = [t for t in trials if t.fail_reason == FailReason.INTERRUPTED]
    assert interrupted
    outcome = resume_search("sigint-test", storage)
    final = storage.trials("sigint-test")
    assert len(final) == 8 and outcome.status == "finished"
    assert all(t.state == TrialState.COMPLETE for t in final)


def test_each_end_is_one_stored_outcome_and_one_optuna_state() -> None:
    from optuna.trial import TrialState as OptunaState

    from hpsearch.searcher._messages import TrialDone, TrialFailed, TrialPruned
    from hpsearch.searcher._optuna import optuna_state
    from hpsearch.searcher._recorder import trial_outcome
    from hpsearch.trainer import EpochMetrics

    last = EpochMetrics(3, 0.5, 0.8, 0.6, 0.75, epoch_s=0.01, elapsed_s=0.03)
    done = TrialDone(
        train_loss=0.4,
        train_accuracy=0.9,
        dev_loss=0.5,
        dev_accuracy=0.85,
        epochs_run=6,
        stopped="completed",
        best_epoch=5,
        n_params=100,
        diagnosis="good fit",
        avoidable_bias=0.0,
        variance=0.05,
        startup_s=0.1,
        train_s=1.5,
        model=b"",
    )
    diverged = TrialFailed(FailReason.DIVERGED, "cost nan", diverged_epoch=2, train_s=0.2)
    ends = {
        "complete": trial_outcome(done, values=(0.85,)),
        "not finite": trial_outcome(done, values=(float("nan"),)),
        "pruned": trial_outcome(TrialPruned(epochs_run=3, last=last)),
        "diverged": trial_outcome(diverged, epochs_seen=2),
    }
    states = {k: (o.state, optuna_state(o.state, o.values)) for k, o in ends.items()}
    assert states == {
        "complete": (TrialState.COMPLETE, OptunaState.COMPLETE),
        "not finite": (TrialState.COMPLETE, OptunaState.FAIL),
        "pruned": (TrialState.PRUNED, OptunaState.PRUNED),
        "diverged": (TrialState.FAILED, OptunaState.FAIL),
    }
    complete, pruned, failed = ends["complete"], ends["pruned"], ends["diverged"]
    assert (complete.train_s, complete.startup_s, complete.epochs_run) == (1.5, 0.1, 6)
    assert (pruned.epochs_run, pruned.dev_accuracy, pruned.train_loss) == (3, 0.75, 0.5)
    assert (failed.fail_reason, failed.diverged_epoch, failed.epochs_run) == (
        FailReason.DIVERGED,
        2,
        2,
    )


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_continued_and_resumed_searches_draw_new_settings(
    ray_local, tmp_path: Path, sampler: str
) -> None:
    raw = copy.deepcopy(DIGITS)
    raw["search"].update(name="again", trials=3, workers=1, sampler=sampler)
    raw["search"]["sampler_options"] = {"n_startup_trials": 10} if sampler == "tpe" else {}
    raw["train"]["epochs"] = 1
    storage = open_storage(db_url(tmp_path))
    run_search(parse_config(raw), storage)
    raw["search"]["trials"] = 6  # the same search run again with a larger budget continues it
    run_search(parse_config(raw), storage)
    resume_search("again", storage, trials=9)
    trials = storage.trials("again")
    assert [t.number for t in trials] == list(range(9))
    drawn = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(drawn)) == 9, drawn  # no run drew again what an earlier run drew
    # reproducible: the same three runs of a new search draw the same settings
    again = open_storage(f"sqlite:///{tmp_path / 'again.db'}")
    raw["search"]["trials"] = 3
    run_search(parse_config(raw), again)
    raw["search"]["trials"] = 6
    run_search(parse_config(raw), again)
    resume_search("again", again, trials=9)
    assert [tuple(sorted(t.params.items())) for t in again.trials("again")] == drawn


def test_a_trial_tied_with_the_best_keeps_its_model() -> None:
    """The best by the shared order (objective, then dev_loss, then number) has a model."""
    from hpsearch.searcher._study import StudySide
    from hpsearch.storage import TrialOutcome

    side = StudySide(config())

    def tell(number: int, value: float, dev_loss: float) -> bool:
        outcome = TrialOutcome(state=TrialState.COMPLETE, values=(value,), dev_loss=dev_loss)
        return side.tell(side.study.ask(), number, outcome)

    assert tell(0, 0.9, 0.5)
    assert tell(1, 0.9, 0.3)  # tied on the objective, lower dev_loss: the best now
    assert side.best_number == 1
    assert tell(2, 0.9, 0.4)  # tied: its model is kept too, the best stays trial 1
    assert side.best_number == 1
    assert not tell(3, 0.8, 0.1)
    assert tell(4, 0.95, 0.9) and side.best_number == 4
