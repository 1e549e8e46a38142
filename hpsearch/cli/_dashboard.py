"""``hpsearch dashboard``: watch every search of a results database live in the browser.

optuna-dashboard over a read-only view of hpsearch's tables (``hpsearch.searcher``'s
``serve_dashboard``). Binds 127.0.0.1 by default; any other address needs a token
($HPSEARCH_DASHBOARD_TOKEN or --token-file), checked on every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpsearch.cli._app import StorageOpt, app


@app.command()
def dashboard(
    storage: StorageOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; not loopback needs a token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=0, max=65535)
    ] = 8080,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="File holding the access token (default: $HPSEARCH_DASHBOARD_TOKEN).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve optuna-dashboard over the results database, live and read-only (Ctrl-C stops)."""
    from hpsearch.searcher import serve_dashboard

    serve_dashboard(
        storage,
        host=host,
        port=port,
        token_file=token_file,
        echo=lambda line: typer.echo(line, err=True),
    )
