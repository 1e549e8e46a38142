"""Session plumbing: one transaction per call, retries of transient errors, driver errors mapped.

:class:`Database` is the base of :class:`hpsearch.storage.Storage`. All database access goes
through :meth:`Database.session` (commit on success, roll back on error, always close, SQLAlchemy
and driver errors raised again as hpsearch's exceptions with ``raise ... from e``);
:meth:`Database.run` runs one unit of work in that session and re-runs it after a transient error
(SQLite "database is locked", a dropped PostgreSQL connection) with exponential back-off. A
``with`` block cannot re-run its own body, so the retry takes the work as a function.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Self, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hpsearch.errors import HpsearchError
from hpsearch.storage import _schema
from hpsearch.storage._convert import utc
from hpsearch.storage._errors import (
    BadDatabaseURLError,
    CorruptDatabaseError,
    DatabaseLostError,
    DatabaseUnavailableError,
    StorageError,
)
from hpsearch.storage._models import utcnow
from hpsearch.storage._url import mask_url, scrub

log = logging.getLogger("hpsearch.storage")

T = TypeVar("T")

# driver messages that no retry will fix: the URL itself is wrong
_PERMANENT_CONNECT = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "does not exist",
    "no pg_hba.conf entry",
    "unable to open database file",
    "invalid dsn",
    "invalid connection option",
    "invalid port number",
    "for connection option",
    "server does not support ssl",  # sslmode=require on a server without SSL
    "unrecognized configuration parameter",  # ?options=-c name=value
    "invalid value for parameter",
    "certificate",  # sslrootcert / sslcert that cannot be read or does not match
)
# libpq's checks of option values ('invalid sslmode value: "bogus"'): the URL is wrong
_BAD_OPTION_VALUE = re.compile(r'invalid \w+ value: "')
# SQLite's words for a file that is not a database or is damaged
_CORRUPT = ("is not a database", "database disk image is malformed", "malformed database")
# serialization failure, deadlock, admin/crash shutdown, cannot connect now, too many connections
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}


class TransientError(DatabaseUnavailableError):
    """A retryable failure; :meth:`Database.run` retries it, others see DatabaseUnavailableError."""


class Database:
    """An engine with its sessions and retry policy; :class:`Storage` adds the API on top."""

    def __init__(
        self, engine: Engine, *, max_retries: int = 5, retry_backoff_s: float = 0.05
    ) -> None:
        if max_retries < 0:
            raise ValueError("The value of `max_retries` should be a non-negative integer.")
        self._engine = engine
        self._url: URL = engine.url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._max_retries = max_retries
        self._backoff = retry_backoff_s
        self._watched: tuple[str, tuple[int, int]] | None = None  # SQLite file and its identity

    def _watch_file(self, path: str) -> None:
        """Remember which file ``path`` is now (device, inode); every later session first checks
        that the path still names that file (see :meth:`_check_file`)."""
        st = os.stat(path)
        self._watched = (path, (st.st_dev, st.st_ino))

    def _check_file(self) -> None:
        """Raise DatabaseLostError when the watched SQLite file was removed or replaced: an open
        connection would go on writing to a file that no one can read again."""
        if self._watched is None:
            return
        path, identity = self._watched
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            what = "was removed (or its folder)"
        except OSError as e:  # the disk or share is away: may come back, retried
            raise TransientError(f"cannot check database file {path}: {e.strerror}") from e
        else:
            if (st.st_dev, st.st_ino) == identity:
                return
            what = "was replaced by another file"
        raise DatabaseLostError(
            f"database file {path} {what} while hpsearch had it open; nothing more can be "
            "written to it"
        )

    @property
    def url(self) -> str:
        """The storage URL with its password masked."""
        return mask_url(self._url)

    def secret_url(self) -> str:
        """The full URL, password included, to hand to a child process over a pipe (never on a
        command line, in a log or in output: print :attr:`url` instead)."""
        return self._url.render_as_string(hide_password=False)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error, always close.

        Raises:
            DatabaseUnavailableError: locked database or lost connection (not retried here).
            BadDatabaseURLError: the server refused the URL (wrong password, unknown database).
            DatabaseLostError: the SQLite file was removed or replaced since it was opened.
            CorruptDatabaseError: the file is not a SQLite database, or a damaged one.
            StorageError: any other SQLAlchemy/driver error (the original is chained).
        """
        self._check_file()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except HpsearchError:
            _quiet_rollback(session)
            raise
        except SQLAlchemyError as e:
            _quiet_rollback(session)
            raise self._translate(e) from e
        except BaseException:
            _quiet_rollback(session)
            raise
        finally:
            session.close()

    def _run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in :meth:`session`, retrying transient errors with exponential back-off.

        Raises:
            DatabaseUnavailableError: still transient after ``max_retries`` retries.
            HpsearchError: whatever :meth:`session` or ``fn`` raises otherwise.
        """
        for attempt in itertools.count():
            try:
                with self.session() as s:
                    return fn(s)
            except TransientError as e:
                if attempt >= self._max_retries:
                    raise DatabaseUnavailableError(
                        f"database {self.url} unavailable after {attempt + 1} tries: {e}"
                    ) from e.__cause__
                delay = min(self._backoff * 2**attempt, 2.0) * (0.5 + random.random())
                log.info("database %s: %s; retrying in %.2fs", self.url, e, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, e: SQLAlchemyError) -> StorageError:
        """Our exception for a SQLAlchemy/driver error (its message scrubbed of the password)."""
        orig = getattr(e, "orig", None)
        text = scrub(str(orig if orig is not None else e).strip().splitlines()[0], self._url)
        lowered = text.lower()
        if isinstance(e, DBAPIError):
            sqlstate = getattr(orig, "sqlstate", None)
            if self.dialect == "sqlite" and any(p in lowered for p in _CORRUPT):
                return CorruptDatabaseError(
                    f"database {self.url} is not a readable hpsearch database: {text}"
                )
            if (
                any(p in lowered for p in _PERMANENT_CONNECT) or _BAD_OPTION_VALUE.search(lowered)
            ) and not isinstance(e, IntegrityError):
                return BadDatabaseURLError(
                    f"database {self.url} refused the connection: {text}", field="storage"
                )
            if (
                e.connection_invalidated
                or "database is locked" in lowered
                or "database table is locked" in lowered
                or (
                    sqlstate is not None
                    and (sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES)
                )
                or (self.dialect == "postgresql" and type(e).__name__ == "OperationalError")
            ):
                return TransientError(text)
        return StorageError(f"database {self.url}: {type(e).__name__}: {text}")

    def _db_now(self, s: Session) -> datetime:
        """The database clock's now, timezone-aware UTC."""
        now = utc(s.execute(select(utcnow())).scalar_one())
        assert now is not None
        return now

    def schema_revision(self) -> str | None:
        """The database's schema revision (None when hpsearch's tables were never created)."""
        return self._run(lambda s: _schema.current_revision(s.connection()))


def _quiet_rollback(session: Session) -> None:
    try:
        session.rollback()
    except SQLAlchemyError:  # the connection may be gone already
        log.debug("rollback failed", exc_info=True)
