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
# In free text (driver messages, URLs that cannot be parsed): scheme://user:password@ up to the
# LAST @ of the word (a password holding an unencoded @ is masked whole), and every libpq
# keyword holding a secret, as a query parameter (?password=) or in a key=value DSN.
_USERINFO_RE = re.compile(r"(?P<head>://[^:/@\s]*:)(?P<pw>\S*)(?P<tail>@)")
_QUERY_PW_RE = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)(?P<pw>'[^']*'|[^&\s]*)",
    re.IGNORECASE,
)
_MASK = "***"


def _is_secret_key(key: str) -> bool:
    """A URL query parameter whose value is a credential (libpq's password, sslpassword, ...);
    ``passfile`` names a file and is shown (its contents are never read into any output)."""
    k = key.lower()
    return k != "passfile" and any(w in k for w in ("pass", "pwd", "secret", "token"))


def _mask_text(text: str) -> str:
    masked = _USERINFO_RE.sub(rf"\g<head>{_MASK}\g<tail>", text)
    return _QUERY_PW_RE.sub(rf"\g<head>{_MASK}", masked)


def _ambiguous_userinfo(text: str) -> str | None:
    """``text`` masked when its user-info holds more than one ``@`` (a password with an
    unencoded ``@``: where the host starts is a guess), else None. SQLite paths are exempt."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.split("+")[0] == "sqlite":
        return None
    before_query, qmark, query = rest.partition("?")
    if before_query.count("@") <= 1:
        return None
    host_part = before_query[before_query.rfind("@") :]
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    shown = "&".join(f"{k}{eq}{_MASK if _is_secret_key(k) else v}" for k, eq, v in pairs)
    return f"{scheme}://{_MASK}{host_part}{qmark}{_mask_text(shown)}"


def resolve_storage_url(url: str | None = None) -> str:
    """The storage URL to use: ``url`` if given, else env ``HPSEARCH_STORAGE``, else
    ``sqlite:///hpsearch.db``. ``postgresql://`` and ``postgres://`` map to the psycopg 3 driver.

    Raises:
        BadDatabaseURLError: the URL cannot be parsed or names an unsupported database/driver.
    """
    raw = url if url else os.environ.get(ENV_VAR) or DEFAULT_URL
    return normalize_url(raw).render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """``url`` with every credential replaced by ``***``: the user-info password and each query
    parameter holding one (``password``, ``sslpassword``, ...), also when the URL cannot be
    parsed; a user-info with more than one ``@`` is masked whole."""
    if not isinstance(url, URL):
        ambiguous = _ambiguous_userinfo(url)
        if ambiguous is not None:
            return ambiguous
        try:
            url = make_url(url)
        except Exception:
            return _mask_text(url)
    if url.get_backend_name() == "sqlite":  # no credentials: the path as typed, not %-escaped
        path = f"/{url.database}" if url.database else ""
        query = "&".join(f"{k}={v}" for k, v in url.query.items() if isinstance(v, str))
        return f"{url.drivername}://{path}" + (f"?{query}" if query else "")
    query = {
        k: (_MASK if _is_secret_key(k) else _mask_query_value(v)) for k, v in url.query.items()
    }
    rendered = url.set(query=query).render_as_string(hide_password=True)
    return rendered.replace("=%2A%2A%2A", f"={_MASK}")  # the query's mask, as typed


def _mask_query_value(value: str | tuple[str, ...]) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return _mask_text(value)
    return tuple(_mask_text(v) for v in value)


def _secrets(url: str | URL | None) -> list[str]:
    """The credentials written in ``url`` (password, secret query values)."""
    if url is None or url == "":
        return []
    if not isinstance(url, URL):
        try:
            url = make_url(url)
        except Exception:
            match = _USERINFO_RE.search(url)
            return [match.group("pw")] if match else []
    found = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if _is_secret_key(key):
            found.extend([value] if isinstance(value, str) else list(value))
    return [x for x in found if x]


def scrub(text: str, url: str | URL | None) -> str:
    """``text`` (e.g. a driver message) with the credentials of ``url`` removed wherever they
    are, and any other URL password or ``password=`` in it masked."""
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return _mask_text(text)


def is_memory_url(url: URL) -> bool:
    """True for an in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``, a
    ``file::memory:`` or ``mode=memory`` URI)."""
    if url.get_backend_name() != "sqlite":
        return False
    name = url.database or ""
    if name in ("", ":memory:"):
        return True
    if url.query.get("uri") in ("true", "1"):
        return ":memory:" in name or "mode=memory" in name or url.query.get("mode") == "memory"
    return False


def sqlite_file(url: URL) -> str | None:
    """The absolute path of a SQLite URL's file; None for a server, memory or a URI filename."""
    if url.get_backend_name() != "sqlite" or is_memory_url(url):
        return None
    if url.query.get("uri") in ("true", "1"):
        return None
    return os.path.abspath(url.database or "")


def normalize_url(raw: str) -> URL:
    """Parse ``raw`` and pick the driver we ship with (pysqlite, psycopg 3).

    Raises:
        BadDatabaseURLError: unparsable URL or unsupported database/driver (password masked).
    """
    text = raw.strip()
    ambiguous = _ambiguous_userinfo(text)
    if ambiguous is not None:
        raise BadDatabaseURLError(
            f"storage URL {ambiguous!r} has more than one '@' before the host, so where the "
            "password ends is a guess; percent-encode '@' in the user name or password as %40 "
            "(e.g. postgresql+psycopg://user:p%40ss@host/db)",
            field="storage",
        )
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
