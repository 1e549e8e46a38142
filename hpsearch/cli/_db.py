"""``hpsearch db upgrade | current | url``: the results database's schema and URL.

An unreachable database exits with 1 and a bad URL with 2, as in every other command (the
application's error handler decides; nothing here catches). ``current`` and ``url`` never create
a database file.
"""

from __future__ import annotations

import typer

from hpsearch.cli._app import StorageOpt, db_app


@db_app.command("upgrade")
def db_upgrade(storage: StorageOpt = None) -> None:
    """Create or migrate hpsearch's tables to the schema this version needs."""
    from hpsearch.storage import mask_url, resolve_storage_url, upgrade_database

    before, after = upgrade_database(storage)
    where = mask_url(resolve_storage_url(storage))
    if before == after:
        typer.echo(f"{where}: schema already at revision {after}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'nothing'} to revision {after}")


@db_app.command("current")
def db_current(storage: StorageOpt = None) -> None:
    """Show the database's schema revision and the one this hpsearch needs."""
    from hpsearch.storage import database_revision, known_revisions, mask_url, resolve_storage_url

    where = mask_url(resolve_storage_url(storage))
    current, head = database_revision(storage)  # reads only: creates no file
    if current == head:
        typer.echo(f"{where}: schema revision {current} (up to date)")
    elif current is None:
        typer.echo(f"{where}: no hpsearch tables yet (created at revision {head} on first use)")
    elif current not in known_revisions():
        typer.echo(
            f"{where}: unknown schema revision {current} (this hpsearch knows up to {head}; "
            "was it written by a newer hpsearch?)"
        )
    else:
        hint = f"run `hpsearch db upgrade --storage {where}`"
        typer.echo(f"{where}: schema revision {current}, this hpsearch needs {head}; {hint}")


@db_app.command("url")
def db_url(storage: StorageOpt = None) -> None:
    """Print the storage URL hpsearch would use, password masked."""
    from hpsearch.storage import mask_url, resolve_storage_url

    typer.echo(mask_url(resolve_storage_url(storage)))
