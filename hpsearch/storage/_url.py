"""Storage URLs: resolution (argument, env, default), normalisation, masking, engine creation."""

from __future__ import annotations

import os
import re
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from hpsearch.storage._errors import BadDatabaseURLError

ENV_VAR = "HPSEARCH_STORAGE"
DEFAULT_URL = "sqlite:///hpsearch.db"

_EXAMPLES = "sqlite:///hpsearch.db or postgresql+psycopg://user:password@host:5432/dbname"
# scheme://user:password@  and  ?password=...  (used when a URL cannot be parsed at all)
_USERINFO_RE = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)")
_QUERY_PW_RE = re.compile(r"(?P<head>[?&](?:password|passwd)=)(?P<pw>[^&\s]*)", re.IGNORECASE)


def resolve_storage_url(url: str | None = None) -> str:
    """The storage URL to use: ``url`` if given, else env ``HPSEARCH_STORAGE``, else
    ``sqlite:///hpsearch.db``. ``postgresql://`` and ``postgres://`` map to the psycopg 3 driver.

    Raises:
        BadDatabaseURLError: the URL cannot be parsed or names an unsupported database/driver.
    """
    raw = url if url else os.environ.get(ENV_VAR) or DEFAULT_URL
    return normalize_url(raw).render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***`` (also when it cannot be parsed)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        masked = _USERINFO_RE.sub(r"\g<head>***\g<tail>", url)
        return _QUERY_PW_RE.sub(r"\g<head>***", masked)


def scrub(text: str, url: str | URL | None) -> str:
    """``text`` (e.g. a driver message) with the password of ``url`` removed wherever it is."""
    password = None
    if isinstance(url, URL):
        password = url.password
    elif url:
        try:
            password = make_url(url).password
        except Exception:
            match = _USERINFO_RE.search(url)
            password = match.group("pw") if match else None
    if password:
        text = text.replace(str(password), "***")
    return _QUERY_PW_RE.sub(r"\g<head>***", _USERINFO_RE.sub(r"\g<head>***\g<tail>", text))


def normalize_url(raw: str) -> URL:
    """Parse ``raw`` and pick the driver we ship with (pysqlite, psycopg 3).

    Raises:
        BadDatabaseURLError: unparsable URL or unsupported database/driver (password masked).
    """
    text = raw.strip()
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        raise BadDatabaseURLError(
            f"storage URL {mask_url(text)!r} is not a database URL; expected e.g. {_EXAMPLES}",
            field="storage",
        ) from None  # the parser's message may quote the raw URL with its password
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed.set(drivername="sqlite")
    if backend == "postgresql" and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise BadDatabaseURLError(
        f"storage URL {mask_url(parsed)!r}: unsupported database or driver "
        f"{parsed.drivername!r}; expected sqlite:// or postgresql+psycopg:// (e.g. {_EXAMPLES})",
        field="storage",
    )


def make_engine(url: URL, *, sqlite_busy_timeout_s: float = 30.0, **kwargs: Any) -> Engine:
    """An engine for a normalised URL; SQLite connections get foreign keys, WAL and a busy timeout
    (how long SQLite itself waits for a lock before "database is locked").

    Raises:
        BadDatabaseURLError: the driver module is not installed.
    """
    try:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url, **kwargs)
            busy_ms = max(0, int(sqlite_busy_timeout_s * 1000))
            event.listen(engine, "connect", lambda conn, _rec: _sqlite_on_connect(conn, busy_ms))
        else:
            connect_args = {"connect_timeout": 10, **kwargs.pop("connect_args", {})}
            engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as e:
        raise BadDatabaseURLError(
            f"storage URL {mask_url(url)!r}: database driver not installed ({e.__class__.__name__}"
            f": {scrub(str(e), url)}); install it with `pip install 'hpsearch[postgres]'`",
            field="storage",
        ) from None
    except ArgumentError as e:
        raise BadDatabaseURLError(
            f"storage URL {mask_url(url)!r} is invalid: {scrub(str(e), url)}",
            field="storage",
        ) from None
    return engine


def _sqlite_on_connect(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
    finally:
        cursor.close()
