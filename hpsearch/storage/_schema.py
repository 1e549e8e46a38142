"""Schema versioning with the Alembic migrations shipped in ``hpsearch/storage/migrations``.

No alembic.ini is needed: the configuration is built here. The version table is
``hps_alembic_version``.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hpsearch.storage._errors import SchemaVersionError
from hpsearch.storage._models import TABLE_PREFIX, VERSION_TABLE

SCRIPT_LOCATION = "hpsearch.storage:migrations"


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


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (inside the caller's transaction)."""
    command.upgrade(alembic_config(connection), revision)


def ensure_schema(connection: Connection, masked_url: str) -> str:
    """Create the schema at head in a database without hpsearch tables; check it otherwise.

    Returns the revision. Raises:
        SchemaVersionError: the database is at an older or unknown revision, or has hpsearch
            tables without a version table.
    """
    revision = current_revision(connection)
    head = head_revision()
    if revision == head:
        return revision
    upgrade_hint = f"run `hpsearch db upgrade --storage {masked_url}`"
    if revision is None:
        ours = [t for t in inspect(connection).get_table_names() if t.startswith(TABLE_PREFIX)]
        if ours:
            raise SchemaVersionError(
                f"database {masked_url} has hpsearch tables ({', '.join(sorted(ours))}) but no "
                f"{VERSION_TABLE} table; it was not created by hpsearch's migrations",
                field="storage",
            )
        upgrade(connection)
        return head
    if revision in known_revisions():
        raise SchemaVersionError(
            f"database {masked_url} has schema revision {revision}, this hpsearch needs {head}; "
            f"{upgrade_hint}",
            field="storage",
        )
    raise SchemaVersionError(
        f"database {masked_url} has unknown schema revision {revision} (this hpsearch knows up to "
        f"{head}; was it written by a newer hpsearch?): install that hpsearch, then {upgrade_hint}",
        field="storage",
    )
