"""Issue 16: every credential form masked in printed URLs and error lines, an ambiguous '@'
refused; exit codes: a URL mistake the driver reports (port, sslmode) is 2 at once, an
unreachable server 1, a corrupt file 1 and a schema problem 2 in every command."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import (
    BadDatabaseURLError,
    CorruptDatabaseError,
    mask_url,
    open_storage,
    resolve_storage_url,
    scrub,
)
from tests.pg_util import postgres_database

runner = CliRunner()
PG = "postgresql+psycopg://ann@127.0.0.1:5432/hp"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"{PG}?password=s3cr3t", f"{PG}?password=***"),
        (f"{PG}?sslmode=require&PASSWORD=s3cr3t", f"{PG}?PASSWORD=***&sslmode=require"),
        (f"{PG}?sslpassword=s3cr3t", f"{PG}?sslpassword=***"),
        (f"{PG}?passfile=/home/ann/.pgpass", f"{PG}?passfile=%2Fhome%2Fann%2F.pgpass"),
        ("postgresql://ann:pw@h/hp?password=s3cr3t", "postgresql://ann:***@h/hp?password=***"),
        ("postgresql://u1:s3c@r3tPW@127.0.0.1/hp", "postgresql://***@127.0.0.1/hp"),
        (
            "postgresql://u:a@b@h/hp?sslpassword=k&sslmode=x",
            "postgresql://***@h/hp?sslpassword=***&sslmode=x",
        ),
        ("host=h user=ann password=s3cr3t dbname=hp", "host=h user=ann password=*** dbname=hp"),
    ],
)
def test_every_credential_form_is_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_driver_messages_are_scrubbed_of_query_passwords() -> None:
    url = f"{PG}?password=s3cr3t"
    said = 'connection to "ann" with password=s3cr3t failed (s3cr3t)'
    assert "s3cr3t" not in scrub(said, url)


def test_a_password_with_an_unencoded_at_is_refused_in_one_line() -> None:
    with pytest.raises(BadDatabaseURLError, match="percent-encode '@'") as err:
        resolve_storage_url("postgresql://u1:s3c@r3tPW@127.0.0.1/hp")
    assert "r3tPW" not in str(err.value) and "s3c" not in str(err.value)
    assert err.value.field == "storage" and "\n" not in str(err.value)
    shown = runner.invoke(app, ["db", "url", "--storage", "postgresql://u1:s3c@r3tPW@h/hp"])
    assert shown.exit_code == 2 and "r3tPW" not in shown.output and "%40" in shown.output


def test_db_url_masks_a_query_password() -> None:
    shown = runner.invoke(app, ["db", "url", "--storage", f"{PG}?password=s3cr3t&sslmode=prefer"])
    assert shown.exit_code == 0 and "s3cr3t" not in shown.output
    assert shown.output.strip() == f"{PG}?password=***&sslmode=prefer"


@pytest.mark.postgres
def test_open_storage_never_shows_a_query_password() -> None:
    with postgres_database() as url:
        with open_storage(f"{url}?password=s3cr3t", retry_backoff_s=0.01) as st:
            assert "s3cr3t" not in st.url and "s3cr3t" not in repr(st)
        with pytest.raises(BadDatabaseURLError) as err:
            open_storage(f"{url}?password=s3cr3t&sslmode=bogus", retry_backoff_s=0.01)
        assert "s3cr3t" not in str(err.value) and "sslmode" in str(err.value)


# --- exit codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "said"),
    [(":99999/hp", "invalid port number"), (":5432/hp?sslmode=bogus", "invalid sslmode value")],
)
def test_a_url_mistake_the_driver_reports_exits_2_at_once(query: str, said: str) -> None:
    result = runner.invoke(
        app, ["db", "upgrade", "--storage", f"postgresql://ann:s3cr3t@127.0.0.1{query}"]
    )
    assert result.exit_code == 2, result.output
    assert said in result.output and "tries" not in result.output
    assert "s3cr3t" not in result.output and len(result.output.strip().splitlines()) == 1


def _server_has_ssl(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SHOW ssl")).scalar_one() == "on"
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("sslmode=require", "server does not support SSL"),  # the test server has no SSL
        ("options=-c%20no_such_setting%3D1", "unrecognized configuration parameter"),
    ],
)
def test_a_url_mistake_the_server_reports_exits_2_at_once(query: str, said: str) -> None:
    with postgres_database() as url:
        if query.startswith("sslmode") and _server_has_ssl(url):
            pytest.skip("the test server supports SSL")
        result = runner.invoke(app, ["db", "current", "--storage", f"{url}?{query}"])
        assert result.exit_code == 2 and said in result.output, result.output
        assert "tries" not in result.output  # not retried as if the server were away


def test_an_unreachable_server_exits_1() -> None:
    # port 9 (discard) on loopback: nothing listens, the connection is refused
    url = "postgresql://ann@127.0.0.1:9/hp?connect_timeout=2"
    result = runner.invoke(app, ["db", "upgrade", "--storage", url])
    assert result.exit_code == 1 and "unavailable after" in result.output


def _corrupt(path) -> str:
    path.write_bytes(b"this is not a SQLite database, just text\n" * 200)
    return f"sqlite:///{path}"


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["searches"]])
def test_a_corrupt_file_exits_1_in_every_command(tmp_path, command: list[str]) -> None:
    url = _corrupt(tmp_path / "corrupt.db")
    result = runner.invoke(app, [*command, "--storage", url])
    assert result.exit_code == 1, result.output
    assert "not a readable hpsearch database" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    with pytest.raises(CorruptDatabaseError):
        open_storage(url)


@pytest.mark.parametrize("command", [["db", "upgrade"], ["searches"]])
def test_an_unknown_revision_exits_2_in_every_command(tmp_path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    open_storage(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE hps_alembic_version SET version_num = 'f00dbeef'"))
    engine.dispose()
    result = runner.invoke(app, [*command, "--storage", url])
    assert result.exit_code == 2, result.output
    assert "unknown schema revision f00dbeef" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_in_memory_url_exits_2(tmp_path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--storage", "sqlite://"])
    assert result.exit_code == 2 and "in-memory database" in result.output


def test_a_sqlite_url_is_shown_as_typed() -> None:
    assert mask_url("sqlite:///:memory:") == "sqlite:///:memory:"  # not sqlite:///%3Amemory%3A
    assert mask_url("sqlite:////tmp/runs@home/hps.db") == "sqlite:////tmp/runs@home/hps.db"
