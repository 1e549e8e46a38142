"""Opening the results database: :func:`open_storage`, :func:`upgrade_database`,
:func:`database_revision`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from hpsearch.storage import _schema
from hpsearch.storage._errors import BadDatabaseURLError, DatabaseNotFoundError
from hpsearch.storage._storage import Storage
from hpsearch.storage._url import (
    is_memory_url,
    make_engine,
    mask_url,
    normalize_url,
    resolve_storage_url,
    sqlite_file,
)

PURPOSES = ("write", "read", "scratch")


def open_storage(
    url: str | None = None,
    *,
    purpose: str = "write",
    create: bool = True,
    max_retries: int = 5,
    retry_backoff_s: float = 0.05,
    create_schema: bool = True,
    sqlite_busy_timeout_s: float = 30.0,
) -> Storage:
    """Open the results database, creating hpsearch's schema at head in a fresh database.

    ``url``: ``None`` -> env ``HPSEARCH_STORAGE`` -> ``sqlite:///hpsearch.db``; ``postgresql://``
    means psycopg 3. With ``create=False`` (read-only commands) a SQLite file that does not exist
    is an error and nothing is created on disk. Transient errors are retried ``max_retries``
    times with exponential back-off starting at ``retry_backoff_s``; SQLite itself first waits
    up to ``sqlite_busy_timeout_s`` for a lock. ``create_schema=False`` only reads the schema
    revision (for :func:`upgrade_database` and :func:`database_revision`).

    ``purpose``: ``"write"`` (the default: a search, or any command that writes) refuses an
    in-memory SQLite URL (``sqlite://``, ``sqlite:///:memory:``: everything written would vanish
    when the process ends) and watches a SQLite file: once it is removed or replaced, every call
    raises :class:`DatabaseLostError` instead of writing where no one can read it again.
    ``"read"`` and ``"scratch"`` (throw-away databases in tests and notebooks) accept in-memory
    URLs and do not watch the file.

    Raises:
        BadDatabaseURLError: bad URL, unsupported driver, wrong password, unknown database, bad
            option value (port, sslmode), or an in-memory database for ``purpose="write"``.
        DatabaseNotFoundError: ``create=False`` and the SQLite file does not exist.
        DatabaseUnavailableError: the server cannot be reached (after the retries).
        CorruptDatabaseError: the file is not a SQLite database, or a damaged one.
        SchemaVersionError: the database is at another schema revision (run `hpsearch db upgrade`).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"The value of `purpose` should be one of {PURPOSES}.")
    parsed = normalize_url(resolve_storage_url(url))
    if purpose == "write" and is_memory_url(parsed):
        raise BadDatabaseURLError(
            f"storage URL {mask_url(parsed)!r} is an in-memory database: everything written to "
            "it vanishes when hpsearch exits; give a file (e.g. sqlite:///hpsearch.db) or a server",
            field="storage",
        )
    if not create:
        _require_sqlite_file(parsed)
    engine = make_engine(parsed, sqlite_busy_timeout_s=sqlite_busy_timeout_s)
    storage = Storage(engine, max_retries=max_retries, retry_backoff_s=retry_backoff_s)
    try:
        if create_schema:
            storage._run(lambda s: _schema.ensure_schema(s.connection(), storage.url))
        else:
            storage._run(lambda s: _schema.current_revision(s.connection()))
        path = sqlite_file(parsed)
        if purpose == "write" and path is not None:
            storage._watch_file(path)
    except BaseException:
        storage.close()
        raise
    return storage


def _require_sqlite_file(url: URL) -> None:
    """Raise DatabaseNotFoundError when ``url`` names a SQLite file that does not exist."""
    name = sqlite_file(url)
    if name is None:
        return
    path = Path(name)
    if not path.exists():
        raise DatabaseNotFoundError(
            f"database file not found: {path} (run a search first, or pass --storage)",
            field="storage",
        )


def upgrade_database(url: str | None = None) -> tuple[str | None, str]:
    """Migrate the database to the newest schema; returns (revision before, revision after).

    Raises:
        BadDatabaseURLError, DatabaseUnavailableError, CorruptDatabaseError: as
            :func:`open_storage`.
        SchemaVersionError: hpsearch tables without a version table, or an unknown revision
            (written by a newer hpsearch).
        StorageError: the migration failed (the database is left at its old revision).
    """
    with open_storage(url, create_schema=False) as storage:

        def run(s: Session) -> tuple[str | None, str]:
            _schema.lock_for_migration(s.connection())
            before = _schema.current_revision(s.connection())
            if before != _schema.head_revision():
                _schema.upgrade(s.connection(), masked_url=storage.url)
            return before, _schema.head_revision()

        return storage._run(run)


def database_revision(url: str | None = None) -> tuple[str | None, str]:
    """(the database's schema revision or None if never created, this hpsearch's head revision).

    Reads only: a SQLite file that does not exist is reported as never created, not created.

    Raises:
        BadDatabaseURLError, DatabaseUnavailableError: as :func:`open_storage`.
    """
    try:
        storage = open_storage(url, purpose="read", create=False, create_schema=False)
    except DatabaseNotFoundError:
        return None, _schema.head_revision()
    with storage:
        return storage.schema_revision(), _schema.head_revision()
