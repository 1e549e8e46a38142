"""The ``hpsearch`` command line: a thin layer over trainer, storage and searcher.

Expected failures (bad flags, bad files, bad URLs) print one line to stderr and exit with code 2;
no traceback is shown for a user's mistake.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="hpsearch",
    help="Distributed hyperparameter search for NumPy deep networks (Optuna + Ray + SQL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the results database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 2) -> None:
    """Print one error line and exit: the single way commands report a user's mistake."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# --- commands are registered below, one section per area -------------------------------------

# [trainer] `hpsearch train`

# [storage] `hpsearch db ...`

# [searcher] `hpsearch run`, `resume`, `validate`, `trials`


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
