"""Schema versioning with the Alembic migrations shipped in ``hpsearch/storage/migrations``.

No alembic.ini is needed: the configuration is built here. The version table is
``hps_alembic_version``.

Migrations are serialised: several processes opening one new database at once must not all
create the tables. Before migrating, :func:`lock_for_migration` takes the database's own write
lock for the rest of the transaction (SQLite: ``BEGIN IMMEDIATE``, which also makes the DDL
transactional under pysqlite; PostgreSQL: ``pg_advisory_xact_lock``), then the revision is read
again: whoever waited finds the schema made and goes on.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from hpsearch.storage._errors import SchemaVersionError
from hpsearch.storage._models import TABLE_PREFIX, VERSION_TABLE

SCRIPT_LOCATION = "hpsearch.storage:migrations"
# the pg_advisory_xact_lock key that serialises hpsearch's migrations in one database
_MIGRATION_LOCK_KEY = 0x6870_7365_6172_6368 & 0x7FFF_FFFF_FFFF_FFFF  # "hpsearch"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this hpsearch."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations shipped in hpsearch.storage.migrations")
    return head


def known_revisions() -> set[str]:
    """Every revision shipped with this hpsearch."""
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The database's revision, or None when hpsearch's schema was never created there."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def lock_for_migration(connection: Connection) -> None:
    """Hold the database's migration lock until the caller's transaction ends (waits for it)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        return
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.driver_connection
        if dbapi is not None and not dbapi.in_transaction:
            # waits up to the busy timeout for another writer; DDL then runs in this transaction
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(connection: Connection, revision: str = "head", *, masked_url: str = "") -> None:
    """Migrate the database to ``revision`` (inside the caller's transaction, under the
    migration lock).

    Raises:
        SchemaVersionError: hpsearch tables without a version table, or a revision this hpsearch
            does not know.
    """
    lock_for_migration(connection)
    current = current_revision(connection)
    if current is None:
        _refuse_unversioned(connection, masked_url)
    elif current not in known_revisions():
        raise _unknown_revision(current, masked_url)
    try:
        command.upgrade(alembic_config(connection), revision)
    except CommandError as e:  # pragma: no cover - the revisions were checked above
        raise SchemaVersionError(f"database {masked_url}: {e}", field="storage") from None


def _refuse_unversioned(connection: Connection, masked_url: str) -> None:
    names = inspect(connection).get_table_names()
    ours = [t for t in names if t.startswith(TABLE_PREFIX) and t != VERSION_TABLE]
    if ours:
        missing = (
            f"revision in {VERSION_TABLE}" if VERSION_TABLE in names else f"{VERSION_TABLE} table"
        )
        raise SchemaVersionError(
            f"database {masked_url} has hpsearch tables ({', '.join(sorted(ours))}) but no "
            f"{missing}; it was not created by hpsearch's migrations",
            field="storage",
        )


def _unknown_revision(revision: str, masked_url: str) -> SchemaVersionError:
    head = head_revision()
    return SchemaVersionError(
        f"database {masked_url} has unknown schema revision {revision} (this hpsearch knows up to "
        f"{head}; was it written by a newer hpsearch?): install that hpsearch, then run "
        f"`hpsearch db upgrade --storage {masked_url}`",
        field="storage",
    )


def ensure_schema(connection: Connection, masked_url: str) -> str:
    """Create the schema at head in a database without hpsearch tables; check it otherwise.
    Concurrent callers on one new database all succeed: one creates, the others wait and find it.

    Returns the revision. Raises:
        SchemaVersionError: the database is at an older or unknown revision, or has hpsearch
            tables without a version table.
    """
    head = head_revision()
    revision = current_revision(connection)
    if revision is None:
        lock_for_migration(connection)
        revision = current_revision(connection)  # another process may have made it meanwhile
    if revision == head:
        return revision
    upgrade_hint = f"run `hpsearch db upgrade --storage {masked_url}`"
    if revision is None:
        _refuse_unversioned(connection, masked_url)
        upgrade(connection, masked_url=masked_url)
        return head
    if revision in known_revisions():
        raise SchemaVersionError(
            f"database {masked_url} has schema revision {revision}, this hpsearch needs {head}; "
            f"{upgrade_hint}",
            field="storage",
        )
    raise _unknown_revision(revision, masked_url)
