"""The ``hpsearch`` application object, its exit codes and the options shared by commands.

Exit codes: 0 success; 1 the work failed (a database that stays unreachable, a diverged network,
a replay that differs); 2 a user's mistake (a bad flag, file, definition, URL, name or number);
130 interrupted (Ctrl-C). Expected failures print one ``error: ...`` line to stderr, never a
traceback; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hpsearch.cli._render import one_line
from hpsearch.errors import HpsearchError, UserInputError

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_NoArgsIsHelp = getattr(_cx, "NoArgsIsHelpError", ())


def exit_code(e: BaseException) -> int:
    """2 for a user's mistake (including a trial number that does not exist), 1 otherwise."""
    from hpsearch.storage import TrialNotFoundError
    from hpsearch.trainer import TrainerInputError

    mistakes = (UserInputError, TrainerInputError, TrialNotFoundError)
    return EXIT_USAGE if isinstance(e, mistakes) else EXIT_FAILED


class OneLineErrors(TyperGroup):
    """Turns every expected failure into one ``error: ...`` line and its exit code."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from hpsearch.trainer import TrainerError

        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NoArgsIsHelp as e:
            typer.echo(e.ctx.get_help())
            sys.exit(0)
        except _cx.ClickException as e:
            typer.echo(f"error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except (HpsearchError, TrainerError) as e:
            typer.echo(f"error: {one_line(e)}", err=True)
            sys.exit(exit_code(e))
        if isinstance(rv, int) and not isinstance(rv, bool):
            sys.exit(rv)
        return rv


def flag_message(e: BaseException, flags: Mapping[str, str]) -> str:
    """An error told in terms of this command's flag for its ``field`` (``learning_rate`` ->
    ``--learning-rate: expected ...``); errors about no flag of ours keep their text."""
    text = one_line(e)
    field = getattr(e, "field", None)
    flag = flags.get(field) if field else None
    if flag is None:
        return text
    for head in (f"TrainConfig.{field}: ", f"{field}: ", f"{field} "):
        if text.startswith(head):
            return f"{flag}: {text[len(head) :]}"
    return f"{flag}: {text}"


app = typer.Typer(
    cls=OneLineErrors,
    name="hpsearch",
    help="Distributed hyperparameter search for NumPy deep networks (Optuna + Ray + SQL).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text shows [brackets] and defaults as written
)
db_app = typer.Typer(
    help="Manage the results database schema.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(db_app, name="db")

StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Results database URL (default: $HPSEARCH_STORAGE, else sqlite:///hpsearch.db).",
        show_default=False,
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: table, csv or json.")]
EvaluatorOpt = Annotated[
    str, typer.Option("--evaluator", help="Importance evaluator: fanova, mdi or ped.")
]


def open_store(url: str | None) -> Any:
    """The results database for a command that writes (creates it and its tables if new)."""
    from hpsearch.storage import open_storage

    return open_storage(url)


def open_results(url: str | None) -> Any:
    """The results database for a read-only command: a missing SQLite file is an error, never a
    new empty database (``hpsearch.open``)."""
    from hpsearch import open as open_read_only

    return open_read_only(url)
