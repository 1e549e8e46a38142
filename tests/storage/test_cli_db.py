"""`hpsearch db upgrade | current | url`: exit codes and one-line output, password masked."""

from __future__ import annotations

from sqlalchemy import create_engine
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import _schema, head_revision

runner = CliRunner()


def test_db_commands_on_an_old_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    fresh = runner.invoke(app, ["db", "current", "--storage", url])
    assert fresh.exit_code == 0 and "no hpsearch tables yet" in fresh.output
    engine = create_engine(url)
    with engine.begin() as conn:
        _schema.upgrade(conn, "0001")
    engine.dispose()
    old = runner.invoke(app, ["db", "current", "--storage", url])
    assert old.exit_code == 0 and "run `hpsearch db upgrade --storage" in old.output
    up = runner.invoke(app, ["db", "upgrade", "--storage", url])
    assert up.exit_code == 0 and f"from 0001 to revision {head_revision()}" in up.output
    now = runner.invoke(app, ["db", "current", "--storage", url])
    assert now.exit_code == 0 and "(up to date)" in now.output


def test_db_url_masks_and_bad_url_fails_in_one_line(monkeypatch) -> None:
    monkeypatch.setenv("HPSEARCH_STORAGE", "postgresql://ann:s3cr3t@db.example/hp")
    shown = runner.invoke(app, ["db", "url"])
    assert shown.exit_code == 0
    assert shown.output.strip() == "postgresql+psycopg://ann:***@db.example/hp"
    bad = runner.invoke(app, ["db", "upgrade", "--storage", "mysql://ann:s3cr3t@h/d"])
    assert bad.exit_code == 2 and "s3cr3t" not in bad.output
    assert "unsupported database or driver" in bad.output and "Traceback" not in bad.output
