"""Alembic environment for hpsearch's own tables; run programmatically by hpsearch.storage._schema.

The caller passes an open connection in ``config.attributes["connection"]``; the version table is
``hps_alembic_version`` so Optuna's ``alembic_version`` in the same database is left alone.
"""

from __future__ import annotations

from alembic import context

from hpsearch.storage._models import TABLE_PREFIX, VERSION_TABLE, Base


def _include_name(name: str | None, type_: str, _parent: object) -> bool:
    # autogenerate must only look at our tables, never at Optuna's
    if type_ == "table":
        return bool(name) and name.startswith(TABLE_PREFIX)
    return True


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "hpsearch migrations run through hpsearch.storage (`hpsearch db upgrade`)"
        )
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
