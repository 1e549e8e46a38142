"""Throw-away PostgreSQL databases for tests (importable from any test folder).

The server comes from env ``HPSEARCH_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each call creates ``hps_test_<random>``
through an AUTOCOMMIT connection to that URL and returns a URL naming the new database::

    from tests.pg_util import postgres_database
    with postgres_database() as url:   # skips the test when the variable is unset
        ...
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "HPSEARCH_TEST_POSTGRES_URL"
SKIP_REASON = (
    f"PostgreSQL tests need env {ENV_VAR} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
)


def postgres_server_url() -> str | None:
    """The configured server URL, with ``postgresql://`` mapped to psycopg 3, or None."""
    url = os.environ.get(ENV_VAR)
    if not url:
        return None
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_database(server_url: str | None = None) -> str:
    """Create ``hps_test_<random>`` on the server; return its URL (same credentials)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(server_url or postgres_server_url() or _missing())
    name = f"hps_test_{secrets.token_hex(6)}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database`, closing its other connections."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = target.database or ""
    if not name.startswith("hps_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a throw-away test database")
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextmanager
def postgres_database(server_url: str | None = None) -> Iterator[str]:
    """A fresh database for the duration of the block; skips the calling test without a server."""
    if server_url is None and postgres_server_url() is None:
        import pytest

        pytest.skip(SKIP_REASON)
    url = create_database(server_url)
    try:
        yield url
    finally:
        drop_database(url)


def _missing() -> str:
    raise RuntimeError(SKIP_REASON)
