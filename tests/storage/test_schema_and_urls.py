"""Schema versions, URL handling and error translation, on every backend where it applies."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from hpsearch.errors import UserInputError
from hpsearch.storage import (
    BadDatabaseURLError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    SchemaVersionError,
    Storage,
    StorageError,
    _schema,
    database_revision,
    head_revision,
    mask_url,
    open_storage,
    resolve_storage_url,
    upgrade_database,
)
from tests.pg_util import postgres_server_url


def _engine(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_fresh_database_is_created_at_head(backend_url: str) -> None:
    assert database_revision(backend_url) == (None, head_revision())
    with open_storage(backend_url) as st:
        assert st.schema_revision() == head_revision()
    engine = _engine(backend_url)
    try:
        names = set(inspect(engine).get_table_names())
        views = set(inspect(engine).get_view_names())
    finally:
        engine.dispose()
    assert {"hps_searches", "hps_trials", "hps_trial_params", "hps_epochs", "hps_models"} <= names
    assert "hps_alembic_version" in names and "alembic_version" not in names
    assert "hps_trial_results" in views


def test_older_revision_needs_upgrade(backend_url: str) -> None:
    engine = _engine(backend_url)
    with engine.begin() as conn:
        _schema.upgrade(conn, "0001")
    engine.dispose()
    with pytest.raises(
        SchemaVersionError, match=r"revision 0001.*run `hpsearch db upgrade --storage "
    ) as err:
        open_storage(backend_url)
    assert isinstance(err.value, UserInputError) and err.value.field == "storage"
    assert upgrade_database(backend_url) == ("0001", head_revision())
    assert upgrade_database(backend_url) == (head_revision(), head_revision())
    with open_storage(backend_url) as st:
        st.create_search("after-upgrade", config={})
        assert st.get_search("after-upgrade").name == "after-upgrade"


def test_unknown_revision_and_unversioned_tables_are_refused(backend_url: str) -> None:
    open_storage(backend_url).close()
    engine = _engine(backend_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE hps_alembic_version SET version_num = 'f00dbeef'"))
    with pytest.raises(SchemaVersionError, match="unknown schema revision f00dbeef"):
        open_storage(backend_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE hps_alembic_version"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="no hps_alembic_version table"):
        open_storage(backend_url)


def test_resolve_url_argument_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPSEARCH_STORAGE", raising=False)
    assert resolve_storage_url() == "sqlite:///hpsearch.db"
    monkeypatch.setenv("HPSEARCH_STORAGE", "postgresql://u:pw@h:5/db")
    assert resolve_storage_url() == "postgresql+psycopg://u:pw@h:5/db"
    assert resolve_storage_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert resolve_storage_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://user:s3cr3t@host/db", "postgresql+psycopg://user:***@host/db"),
        ("postgresql://user:p%40ss@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("sqlite:///hpsearch.db", "sqlite:///hpsearch.db"),
        ("not a url://user:s3cr3t@host", "not a url://user:***@host"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql://root:s3cr3t@host/db", "unsupported database or driver 'mysql'"),
        ("postgresql+psycopg2://root:s3cr3t@host/db", "unsupported database or driver"),
        ("hpsearch.db", "not a database URL"),
        ("://root:s3cr3t@", "not a database URL"),
    ],
)
def test_bad_urls_give_one_line_without_password(url: str, match: str) -> None:
    with pytest.raises(BadDatabaseURLError, match=match) as err:
        open_storage(url)
    message = str(err.value)
    assert "s3cr3t" not in message and "\n" not in message
    assert isinstance(err.value, UserInputError) and err.value.field == "storage"


def test_unreachable_server_is_unavailable_after_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = "postgresql://bob:s3cr3t@127.0.0.1:1/nowhere"
    with pytest.raises(
        DatabaseUnavailableError, match=r"bob:\*\*\*@127.0.0.1:1.*after 3 tries"
    ) as err:
        open_storage(url, max_retries=2, retry_backoff_s=0.001)
    assert "s3cr3t" not in str(err.value) and "s3cr3t" not in caplog.text
    assert isinstance(err.value.__cause__, OperationalError)  # raise ... from the driver error


def test_wrong_password_or_database_is_a_url_error(caplog: pytest.LogCaptureFixture) -> None:
    server = postgres_server_url()
    if server is None:
        pytest.skip("PostgreSQL tests need env HPSEARCH_TEST_POSTGRES_URL")
    caplog.set_level(logging.DEBUG)
    missing = server.rsplit("/", 1)[0] + "/hps_no_such_database"
    with pytest.raises(BadDatabaseURLError, match="does not exist") as err:
        open_storage(missing, max_retries=0)
    assert "\n" not in str(err.value)
    with_password = missing.replace("://postgres@", "://nosuchuser:s3cr3t@")
    with pytest.raises(BadDatabaseURLError) as err:
        open_storage(with_password, max_retries=0)
    assert "nosuchuser:***@" in str(err.value) and "s3cr3t" not in str(err.value)
    assert err.value.field == "storage"
    assert "s3cr3t" not in caplog.text


def test_missing_sqlite_directory_is_a_url_error(tmp_path) -> None:
    with pytest.raises(BadDatabaseURLError, match="unable to open database file"):
        open_storage(f"sqlite:///{tmp_path}/no/such/dir/h.db", max_retries=0)


def test_read_only_open_of_a_missing_sqlite_file_creates_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, path in [
        ("sqlite:///hpsearch.db", tmp_path / "hpsearch.db"),  # relative: named absolute
        (f"sqlite:///{tmp_path / 'sub.db'}", tmp_path / "sub.db"),
    ]:
        with pytest.raises(DatabaseNotFoundError) as err:
            open_storage(url, create=False)
        assert str(err.value) == (
            f"database file not found: {path} (run a search first, or pass --storage)"
        )
        assert err.value.field == "storage" and isinstance(err.value, UserInputError)
        assert isinstance(err.value, StorageError)
    assert list(tmp_path.iterdir()) == []
    open_storage(f"sqlite:///{tmp_path / 'sub.db'}").close()  # create=True (default) creates it
    with open_storage(f"sqlite:///{tmp_path / 'sub.db'}", create=False) as st:
        assert st.schema_revision() == head_revision()


def test_locked_sqlite_is_retried_until_free(tmp_path) -> None:
    path = tmp_path / "locked.db"
    with open_storage(f"sqlite:///{path}", sqlite_busy_timeout_s=0.05, retry_backoff_s=0.05) as st:
        st.create_search("s", config={})
        blocker = sqlite3.connect(path, timeout=1, check_same_thread=False)
        blocker.execute("BEGIN EXCLUSIVE")
        timer = threading.Timer(0.4, blocker.rollback)
        timer.start()
        began = time.monotonic()
        st.set_search_status("s", "finished")  # "database is locked" several times, then works
        assert time.monotonic() - began >= 0.3
        timer.join()
        assert st.get_search("s").status.value == "finished"

        blocker.execute("BEGIN EXCLUSIVE")
        try:
            quick = Storage(st._engine, max_retries=1, retry_backoff_s=0.001)
            with pytest.raises(DatabaseUnavailableError, match="database is locked"):
                quick.set_search_status("s", "running")
        finally:
            blocker.rollback()
            blocker.close()


def test_other_database_errors_become_storage_errors(storage: Storage) -> None:
    with pytest.raises(StorageError) as err, storage.session() as s:
        s.execute(text("SELECT * FROM hps_no_such_table"))
    assert err.value.__cause__ is not None and storage.url in str(err.value)


def test_dropped_postgres_connection_is_recovered(storage: Storage) -> None:
    if storage.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    storage.create_search("s", config={})
    with storage.session() as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killer = create_engine(storage._engine.url, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    killer.dispose()
    assert storage.get_search("s").name == "s"  # the dead pooled connection is replaced
