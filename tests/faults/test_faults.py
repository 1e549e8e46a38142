"""Faults injected for real during searches: what finished is stored exactly once.

Each test runs a real search on the session's local Ray and breaks something underneath it: a
worker process killed with SIGKILL, a trial past its time limit, a network too big for memory, a
second driver, a database locked or dropped.
"""

from __future__ import annotations

import copy
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.searcher import parse_config, run_search
from hpsearch.storage import (
    DatabaseUnavailableError,
    FailReason,
    SearchNotFoundError,
    SearchStatus,
    TrialState,
    open_storage,
)

HPSEARCH = str(Path(sys.executable).parent / "hpsearch")

BASE = {
    "search": {
        "name": "faults",
        "trials": 3,
        "workers": 2,
        "sampler": "random",
        "pruner": "none",
        "seed": 1,
        "retries": 1,
    },
    "data": {"dataset": "digits"},
    "train": {"epochs": 4, "layers": 1, "units": 32, "batch_size": 64},
    "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
}


def make_config(*, train=None, **search):
    raw = copy.deepcopy(BASE)
    raw["search"].update(search)
    raw["train"].update(train or {})
    return parse_config(raw)


def assert_no_duplicates(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            dup_trials = c.execute(
                text(
                    "select count(*) from (select search_id, number from hps_trials "
                    "group by search_id, number having count(*) > 1) d"
                )
            ).scalar_one()
            dup_epochs = c.execute(
                text(
                    "select count(*) from (select trial_id, epoch from hps_epochs "
                    "group by trial_id, epoch having count(*) > 1) d"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert dup_trials == 0 and dup_epochs == 0


def in_thread(fn, *args, **kwargs):
    """Run fn in a thread; returns (thread, box) where box holds its result or exception."""
    box: dict = {}

    def target():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_pid(storage, name: str, number: int, attempt: int) -> int | None:
    """The worker pid of a trial's attempt, once the worker has reported its start."""
    try:
        trials = storage.trials(name)
    except SearchNotFoundError:  # the driver has not created the search yet
        return None
    for t in trials:
        if (
            t.number == number
            and t.attempt == attempt
            and t.state == TrialState.RUNNING
            and t.environment
        ):
            return int(t.environment["pid"])
    return None


def test_worker_killed_is_retried_then_failed(ray_local, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    # long enough trials that a kill lands mid-training
    config = make_config(name="kill-worker", train={"epochs": 1000, "units": 64})
    thread, box = in_thread(run_search, config, storage)
    watcher = open_storage(url)
    # trial 0: killed on attempt 1 and again on attempt 2 (retries = 1) -> failed, "worker lost"
    for attempt in (1, 2):
        pid = wait_for(lambda a=attempt: running_pid(watcher, "kill-worker", 0, a), 60, "trial 0")
        os.kill(pid, signal.SIGKILL)

    # another trial, killed once -> runs again with the same hyperparameters and completes
    def other_running():
        for t in watcher.trials("kill-worker"):
            if t.number != 0 and t.attempt == 1 and t.state == TrialState.RUNNING and t.environment:
                return t
        return None

    victim = wait_for(other_running, 60, "a second trial running")
    os.kill(int(victim.environment["pid"]), signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: running_pid(watcher, "kill-worker", victim.number, 2), 60, "the second attempt"
    )
    print(f"\nworker killed: attempt 2 running {time.monotonic() - killed_at:.2f} s later")
    thread.join(timeout=240)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    trials = {t.number: t for t in watcher.trials("kill-worker")}
    assert sorted(trials) == [0, 1, 2]  # the budget is met
    lost = trials[0]
    assert lost.state == TrialState.FAILED and lost.fail_reason == FailReason.WORKER_LOST
    assert lost.attempt == 2
    again = trials[victim.number]
    assert again.state == TrialState.COMPLETE and again.attempt == 2
    assert again.params == victim.params
    assert len(watcher.epochs(again.id)) == 1000
    third = next(t for n, t in trials.items() if n not in (0, victim.number))
    assert third.state == TrialState.COMPLETE and third.attempt == 1
    assert_no_duplicates(url)


def test_trial_timeout_cancels_and_fails(ray_local, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    config = make_config(
        name="timeout", trials=2, trial_timeout=1.0, train={"epochs": 2000, "units": 64}
    )
    started = time.monotonic()
    outcome = run_search(config, storage)
    assert time.monotonic() - started < 30  # cancelled, not trained for 2,000 epochs
    trials = storage.trials("timeout")
    assert len(trials) == 2
    for t in trials:
        assert t.state == TrialState.FAILED and t.fail_reason == FailReason.TIMEOUT
        assert "trial_timeout" in t.error_text
    assert outcome.status == "finished"


def test_network_too_big_is_refused_not_retried(ray_local, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    storage = open_storage(url)
    config = make_config(
        name="memory", trials=2, memory_limit_mb=1, train={"units": 4096, "layers": 3}
    )
    run_search(config, storage)
    for t in storage.trials("memory"):
        assert t.state == TrialState.FAILED and t.fail_reason == FailReason.MEMORY
        assert t.attempt == 1  # the same network would not fit on a retry either
        assert "MiB" in t.error_text
        assert storage.epochs(t.id) == []


def test_second_driver_is_refused(ray_local, tmp_path: Path) -> None:
    import tomli_w

    url = f"sqlite:///{tmp_path / 'r.db'}"
    raw = copy.deepcopy(BASE)
    raw["search"].update(name="leased", trials=4, workers=1)
    raw["train"].update(epochs=3000)
    path = tmp_path / "leased.toml"
    path.write_text(tomli_w.dumps(raw))
    address = ray_local.get_runtime_context().gcs_address
    proc = subprocess.Popen(
        [HPSEARCH, "run", str(path), "--storage", url, "--address", address, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        watcher = open_storage(url)

        def leased():
            try:
                return watcher.get_search("leased").lease_holder
            except Exception:
                return None

        holder = wait_for(leased, 60, "the first driver's lease")
        assert holder.pid == proc.pid
        result = CliRunner().invoke(app, ["run", str(path), "--storage", url, "--quiet"])
        assert result.exit_code == 2
        assert f"pid {proc.pid}" in result.output and holder.host in result.output
        assert "Traceback" not in result.output
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _lock_sqlite(path: Path, seconds: float, ready: threading.Event) -> None:
    """Hold SQLite's write lock from another connection, as another process would."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_sqlite_locked_for_seconds_loses_nothing(ray_local, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    storage = open_storage(url)
    config = make_config(name="locked", trials=4, train={"epochs": 400})
    thread, box = in_thread(run_search, config, storage)
    wait_for(lambda: db.exists() and _epoch_rows(url) > 0, 60, "first epochs")
    ready = threading.Event()
    locker = threading.Thread(target=_lock_sqlite, args=(db, 3.0, ready))
    locker.start()
    assert ready.wait(30)
    assert thread.is_alive()  # the lock lands while the search is writing
    locker.join()
    thread.join(timeout=120)
    assert "error" not in box, box.get("error")
    trials = storage.trials("locked")
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        assert [e.epoch for e in storage.epochs(t.id)] == list(range(1, 401))
    assert_no_duplicates(url)


def _epoch_rows(url: str) -> int:
    try:
        engine = create_engine(url)
        with engine.connect() as c:
            return int(c.execute(text("select count(*) from hps_epochs")).scalar_one())
    except Exception:
        return 0
    finally:
        engine.dispose()


def test_database_down_too_long_stops_cleanly(ray_local, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    url = f"sqlite:///{db}"
    # a short patience, so "too long" is a few seconds here
    storage = open_storage(url, sqlite_busy_timeout_s=0.2, max_retries=2, retry_backoff_s=0.05)
    config = make_config(
        name="down", trials=6, workers=1, database_patience=2, train={"epochs": 400}
    )
    thread, box = in_thread(run_search, config, storage)
    wait_for(lambda: _complete(url) >= 1, 60, "a finished trial")
    ready = threading.Event()
    locker = threading.Thread(target=_lock_sqlite, args=(db, 8.0, ready))
    locker.start()
    assert ready.wait(30)
    assert thread.is_alive()
    thread.join(timeout=60)
    locker.join()
    assert not thread.is_alive()
    error = box.get("error")
    assert isinstance(error, DatabaseUnavailableError)
    assert "hpsearch resume down" in str(error)
    # what finished is kept, and resume completes the budget
    reopened = open_storage(url)
    finished = [t for t in reopened.trials("down") if t.state == TrialState.COMPLETE]
    assert finished
    from hpsearch.searcher import resume_search

    resume_search("down", reopened)
    final = reopened.trials("down")
    assert len(final) == 6 and all(t.state == TrialState.COMPLETE for t in final)
    assert reopened.get_search("down").status == SearchStatus.FINISHED
    assert_no_duplicates(url)


def _complete(url: str) -> int:
    try:
        engine = create_engine(url)
        with engine.connect() as c:
            return int(
                c.execute(
                    text("select count(*) from hps_trials where state = 'complete'")
                ).scalar_one()
            )
    except Exception:
        return 0
    finally:
        engine.dispose()


def test_postgres_connections_dropped_lose_nothing(ray_local) -> None:
    pg_util = pytest.importorskip("tests.pg_util")
    if pg_util.postgres_server_url() is None:
        pytest.skip(pg_util.SKIP_REASON)
    with pg_util.postgres_database() as url:
        storage = open_storage(url)
        config = make_config(name="pg-drop", trials=4, train={"epochs": 40})
        thread, box = in_thread(run_search, config, storage)
        dbname = url.rsplit("/", 1)[1]
        admin = create_engine(pg_util.postgres_server_url(), isolation_level="AUTOCOMMIT")
        killed = 0
        try:
            wait_for(lambda: _epoch_rows(url) > 0, 60, "first epochs")
            for _ in range(3):  # drop every connection of the search's database, three times
                with admin.connect() as c:
                    killed += c.execute(
                        text(
                            "select count(*) from (select pg_terminate_backend(pid) "
                            "from pg_stat_activity where datname = :db "
                            "and pid <> pg_backend_pid()) k"
                        ),
                        {"db": dbname},
                    ).scalar_one()
                time.sleep(0.5)
        finally:
            admin.dispose()
        thread.join(timeout=120)
        assert "error" not in box, box.get("error")
        assert killed >= 1
        trials = storage.trials("pg-drop")
        assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
        for t in trials:
            assert len(storage.epochs(t.id)) == 40
        assert_no_duplicates(url)
        storage.close()
