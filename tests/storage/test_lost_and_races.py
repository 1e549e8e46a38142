"""Storage faults of issue 16: in-memory URLs refused for writing, a SQLite file removed or
replaced under an open storage (DatabaseLostError, nothing written in vain), and concurrent
first opens of one new database (SQLite and PostgreSQL) that must all succeed."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from hpsearch.storage import (
    BadDatabaseURLError,
    DatabaseLostError,
    DatabaseUnavailableError,
    EpochRecord,
    _schema,
    head_revision,
    open_storage,
    upgrade_database,
)
from tests.pg_util import postgres_database

# --- in-memory databases -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///"])
def test_in_memory_urls_are_refused_for_writing(url: str) -> None:
    with pytest.raises(BadDatabaseURLError, match="in-memory database") as err:
        open_storage(url)
    assert err.value.field == "storage" and "\n" not in str(err.value)


def test_in_memory_urls_stay_usable_as_scratch() -> None:
    with open_storage("sqlite://", purpose="scratch") as st:
        st.create_search("s", config={})
        assert [s.name for s in st.list_searches()] == ["s"]


# --- the file removed or replaced under an open storage ----------------------------------


def _open_with_a_trial(path: Path) -> tuple:
    st = open_storage(f"sqlite:///{path}", retry_backoff_s=0.01)
    st.create_search("s", config={})
    return st, st.start_trial("s", 0, {"x": 1})


def test_removed_folder_stops_every_write_with_one_line(tmp_path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    st, tid = _open_with_a_trial(folder / "hps.db")
    with st:
        shutil.rmtree(folder)
        with pytest.raises(DatabaseLostError) as err:
            st.add_epochs(tid, [EpochRecord(1, 0.5)])
        message = str(err.value)
        assert str(folder / "hps.db") in message and "removed" in message
        assert "nothing more can be written" in message and "\n" not in message
        with pytest.raises(DatabaseLostError):
            st.create_search("t", config={})
    assert not folder.exists()  # nothing was recreated


def test_replaced_file_is_detected(tmp_path) -> None:
    path = tmp_path / "hps.db"
    st, tid = _open_with_a_trial(path)
    with st:
        other = tmp_path / "other.db"
        other.write_bytes(b"")
        os.replace(other, path)
        with pytest.raises(DatabaseLostError, match="replaced"):
            st.add_epochs(tid, [EpochRecord(1, 0.5)])


def test_moved_file_is_lost_even_when_its_folder_stays(tmp_path) -> None:
    path = tmp_path / "hps.db"
    st, _ = _open_with_a_trial(path)
    with st:
        path.rename(tmp_path / "moved.db")
        with pytest.raises(DatabaseLostError, match=str(path)):
            st.list_searches()


def test_an_untouched_file_keeps_working(tmp_path) -> None:
    st, tid = _open_with_a_trial(tmp_path / "hps.db")
    with st:
        assert st.add_epochs(tid, [EpochRecord(1, 0.5), EpochRecord(2, 0.4)]) == 2
        assert [e.epoch for e in st.epochs(tid)] == [1, 2]


# --- concurrent first opens of one new database --------------------------------------------

PROCESSES = 4
ROUNDS = 3


def _open_once(url: str, barrier, errors, upgrade: bool) -> None:  # runs in a forked child
    try:
        barrier.wait(timeout=60)
        if upgrade:
            upgrade_database(url)
        with open_storage(url, retry_backoff_s=0.01) as st:
            st.list_searches()
            revision = st.schema_revision()
        if revision != head_revision():
            errors.put(f"revision {revision}")
    except BaseException as e:  # reported to the parent, which fails the test
        errors.put(f"{type(e).__name__}: {e}")


def _open_at_once(url: str, *, upgrade: bool = False) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(PROCESSES), ctx.Queue()
    args = (url, barrier, errors, upgrade)
    procs = [ctx.Process(target=_open_once, args=args) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    found = []
    while not errors.empty():
        found.append(errors.get(timeout=5))
    found += [f"exit code {p.exitcode}" for p in procs if p.exitcode != 0]
    for p in procs:
        if p.is_alive():
            p.kill()
    return found


def test_concurrent_first_opens_of_a_new_sqlite_file_all_succeed(tmp_path) -> None:
    for n in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'new{n}.db'}"
        assert _open_at_once(url) == [], f"round {n}"


@pytest.mark.postgres
def test_concurrent_first_opens_of_a_new_postgres_database_all_succeed() -> None:
    for n in range(ROUNDS):
        with postgres_database() as url:
            assert _open_at_once(url) == [], f"round {n}"


def _at_first_revision(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        _schema.upgrade(conn, "0001")
    engine.dispose()
    return url


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_concurrent_upgrades_of_an_old_database_all_succeed(tmp_path, backend: str) -> None:
    if backend == "sqlite":
        assert (
            _open_at_once(_at_first_revision(f"sqlite:///{tmp_path / 'old.db'}"), upgrade=True)
            == []
        )
    else:
        with postgres_database() as url:
            assert _open_at_once(_at_first_revision(url), upgrade=True) == []


def test_a_file_that_cannot_be_checked_is_unavailable_not_lost(tmp_path, monkeypatch) -> None:
    st, _ = _open_with_a_trial(tmp_path / "hps.db")
    with st:

        def stat_fails(path, *args, **kwargs):
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "stat", stat_fails)
        with pytest.raises(DatabaseUnavailableError, match="Input/output error") as err:
            st.list_searches()
        assert not isinstance(err.value, DatabaseLostError)  # may come back: retried, then 1
