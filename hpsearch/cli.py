"""The ``hpsearch`` command line: a thin layer over trainer, storage and searcher.

Expected failures (bad flags, bad files, bad URLs) print one line to stderr and exit with code 2;
no traceback is shown for a user's mistake.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _cx

from hpsearch.errors import HpsearchError, UserInputError


class _OneLineErrors(TyperGroup):
    """Turns every expected failure into one ``error: ...`` line and an exit code.

    Usage errors (bad flags) and user mistakes (bad config, file or URL) exit with 2, a database
    that stays unreachable with 1, Ctrl-C with 130. Tracebacks are kept for real bugs.
    """

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        from hpsearch.trainer import TrainerInputError

        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NoArgsIsHelp as e:
            typer.echo(e.ctx.get_help())
            sys.exit(0)
        except _cx.ClickException as e:
            typer.echo(f"error: {_one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(130)
        except (UserInputError, TrainerInputError) as e:
            typer.echo(f"error: {_one_line(e)}", err=True)
            sys.exit(2)
        except HpsearchError as e:
            typer.echo(f"error: {_one_line(e)}", err=True)
            sys.exit(1)
        if isinstance(rv, int) and not isinstance(rv, bool):
            sys.exit(rv)
        return rv


_NoArgsIsHelp = getattr(_cx, "NoArgsIsHelpError", ())


def _one_line(e: BaseException | str) -> str:
    return " ".join(str(e).split()) or type(e).__name__


app = typer.Typer(
    cls=_OneLineErrors,
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


class _OneLineErrors(typer.core.TyperCommand):
    """Bad flags (unknown option, wrong type) become one ``error:`` line and exit code 2."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as e:
            fail(e.format_message().replace("\n", " "))
            raise  # pragma: no cover - fail() always raises


_CONFIG_FLAGS = {"lambd": "--lambda", "units": "--units", "dropout": "--dropout"}


def _flag_for(message: str) -> str:
    """'TrainConfig.learning_rate: expected ...' -> '--learning-rate: expected ...'."""
    head, sep, rest = message.partition(": ")
    if sep and head.startswith("TrainConfig."):
        field = head.removeprefix("TrainConfig.")
        return f"{_CONFIG_FLAGS.get(field, '--' + field.replace('_', '-'))}: {rest}"
    for option in ("split", "normalize", "max_samples", "dtype"):  # load_dataset's options
        if message.startswith(f"{option} must be"):
            return f"--{option.replace('_', '-')}: {message.removeprefix(option + ' ')}"
    return message


def _number_list(flag: str, text: str, kind: type, example: str) -> Any:
    """'128' -> 128, '128,64' -> (128, 64); anything else is a one-line error naming the flag."""
    try:
        values = tuple(kind(part) for part in text.split(","))
    except ValueError:
        fail(f"{flag}: expected one number or a comma list like {example}, got {text!r}")
    return values[0] if len(values) == 1 else values


def _json_number(x: float) -> float | None:
    return float(x) if x == x and abs(x) != float("inf") else None


def _progress_printer(total: int, *, to_stderr: bool, quiet: bool) -> tuple[Any, Any]:
    """(on_epoch callback, context manager): rich bar on a terminal, plain lines otherwise."""
    from contextlib import nullcontext

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        return (lambda metrics: None), nullcontext()
    console = Console(stderr=to_stderr)

    def line(m: Any) -> str:
        return (
            f"epoch {m.epoch}/{total}  train loss {m.train_loss:.4f} acc {m.train_accuracy:.4f}"
            f"  dev loss {m.dev_loss:.4f} acc {m.dev_accuracy:.4f}  {m.epoch_s:.2f}s"
        )

    if not console.is_terminal:
        return (lambda m: typer.echo(line(m), err=to_stderr)), nullcontext()
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    )
    task = progress.add_task("training", total=total)

    def on_epoch(m: Any) -> None:
        progress.update(task, advance=1, description=line(m))

    return on_epoch, progress


@app.command("train", cls=_OneLineErrors)
def train_command(
    dataset: Annotated[
        str,
        typer.Option(
            help="Built-in name (flower, moons, circles, spirals, digits, iris, wine, "
            "breast_cancer, fashion-mnist, mnist), a .npz/.csv file or a folder of IDX files."
        ),
    ] = "flower",
    label_column: Annotated[
        str | None,
        typer.Option(help="CSV column holding the labels [default: label/target/y/class]."),
    ] = None,
    layers: Annotated[
        int | None, typer.Option(help="Hidden layers; 0 = softmax regression [2].")
    ] = None,
    units: Annotated[
        str | None, typer.Option(help="Units per hidden layer: 64 or 128,64 [64].")
    ] = None,
    activation: Annotated[
        str | None, typer.Option(help="relu | leaky_relu | tanh | sigmoid [relu].")
    ] = None,
    leaky_slope: Annotated[float | None, typer.Option(help="Leaky ReLU slope [0.01].")] = None,
    init: Annotated[str | None, typer.Option(help="auto | he | xavier | small [auto].")] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="gd | momentum | rmsprop | adam [adam].")
    ] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Initial learning rate [1e-3].")
    ] = None,
    beta1: Annotated[float | None, typer.Option(help="Momentum / Adam beta1 [0.9].")] = None,
    beta2: Annotated[float | None, typer.Option(help="RMSprop / Adam beta2 [0.999].")] = None,
    lr_decay: Annotated[
        str | None, typer.Option(help="none | inverse_time | exponential [none].")
    ] = None,
    decay_rate: Annotated[float | None, typer.Option(help="Learning-rate decay rate [0].")] = None,
    lambd: Annotated[float | None, typer.Option("--lambda", help="L2 strength [0].")] = None,
    dropout: Annotated[
        str | None, typer.Option(help="Drop probability: 0.2 or one per layer 0.3,0.1 [0].")
    ] = None,
    batch_norm: Annotated[
        bool | None, typer.Option("--batch-norm/--no-batch-norm", help="Batch normalisation [off].")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Mini-batch size; 0 = full batch [64].")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the training set [20].")] = None,
    patience: Annotated[
        int | None, typer.Option(help="Early stopping on dev loss; 0 = off [0].")
    ] = None,
    dtype: Annotated[str, typer.Option(help="float32 | float64.")] = "float32",
    seed: Annotated[int | None, typer.Option(help="Seeds init, shuffles and dropout [0].")] = None,
    data_seed: Annotated[int, typer.Option(help="Seeds the train/dev/test split.")] = 0,
    split: Annotated[str, typer.Option(help="train,dev,test fractions.")] = "0.7,0.15,0.15",
    normalize: Annotated[str, typer.Option(help="standard | minmax | none.")] = "standard",
    max_samples: Annotated[
        int | None, typer.Option(help="Stratified subsample of the data before splitting.")
    ] = None,
    test: Annotated[
        bool,
        typer.Option("--test", help="Also evaluate the held-out test split (not for choosing)."),
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table | json.")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-epoch progress.")] = False,
) -> None:
    """Train one network with the given hyperparameters and print its bias/variance reading.

    Unset hyperparameters take TrainConfig's defaults (shown in brackets). The test split is
    held out: it is reported only with --test. With --format json, stdout holds exactly one JSON
    object and progress goes to stderr.
    """
    import json
    import time
    from dataclasses import asdict

    from hpsearch.trainer import DivergedError, TrainConfig, TrainerInputError, load_dataset, train

    if output_format not in ("table", "json"):
        fail(f"--format: expected table or json, got {output_format!r}")
    fractions = _number_list("--split", split, float, "0.7,0.15,0.15")
    fractions = fractions if isinstance(fractions, tuple) else (fractions,)
    settings = {
        "layers": layers,
        "units": units and _number_list("--units", units, int, "128,64"),
        "activation": activation,
        "leaky_slope": leaky_slope,
        "init": init,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "beta1": beta1,
        "beta2": beta2,
        "lr_decay": lr_decay,
        "decay_rate": decay_rate,
        "lambd": lambd,
        "dropout": dropout and _number_list("--dropout", dropout, float, "0.3,0.1"),
        "batch_norm": batch_norm,
        "batch_size": batch_size,
        "epochs": epochs,
        "patience": patience,
        "dtype": dtype,
        "seed": seed,
    }
    try:
        config = TrainConfig(**{k: v for k, v in settings.items() if v is not None})
    except TrainerInputError as e:
        fail(_flag_for(str(e)))
    try:
        data = load_dataset(
            dataset,
            split=fractions,
            seed=data_seed,
            normalize=normalize,
            label_column=label_column,
            max_samples=max_samples,
            dtype=dtype,
        )
    except TrainerInputError as e:
        fail(_flag_for(str(e)))
    if test and data.X_test.shape[1] == 0:
        fail("--test: the split has no test part (give --split three fractions)")

    as_json = output_format == "json"
    if not quiet and not as_json:
        typer.echo(data.describe())
    on_epoch, live = _progress_printer(config.epochs, to_stderr=as_json, quiet=quiet)
    started = time.perf_counter()
    try:
        with live:
            result = train(config, data, on_epoch=on_epoch)
    except DivergedError as e:
        fail(f"{e}; try a smaller --learning-rate", code=1)
    except TrainerInputError as e:
        fail(_flag_for(str(e)))
    wall = time.perf_counter() - started
    bv = result.bias_variance
    report: dict[str, Any] = {
        "dataset": data.summary(),
        "config": config.to_dict(),
        "train_loss": _json_number(result.train_loss),
        "train_accuracy": _json_number(result.train_accuracy),
        "dev_loss": _json_number(result.dev_loss),
        "dev_accuracy": _json_number(result.dev_accuracy),
        "epochs": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        "seconds": round(result.seconds, 4),
        "n_params": result.n_params,
        "diagnosis": bv.diagnosis,
        "advice": bv.advice,
        "bias_variance": asdict(bv),
        "history": [asdict(m) for m in result.history],
    }
    if test:
        test_loss, test_accuracy = result.network.evaluate(data.X_test, data.y_test)
        report["test_loss"] = _json_number(test_loss)
        report["test_accuracy"] = _json_number(test_accuracy)
    if as_json:
        typer.echo(json.dumps(report))
        return
    rows = [
        (
            "network",
            f"{' -> '.join(map(str, config.layer_dims(data.n_x, data.n_classes)))}"
            f" ({result.n_params:,} parameters)",
        ),
        (
            "stopped",
            f"{result.stopped} after {result.epochs_run} epochs "
            f"(best dev loss at epoch {result.best_epoch}), {wall:.2f}s",
        ),
        ("train", f"loss {result.train_loss:.4f}  accuracy {result.train_accuracy:.2%}"),
        ("dev", f"loss {result.dev_loss:.4f}  accuracy {result.dev_accuracy:.2%}"),
    ]
    if test:
        rows.append(("test", f"loss {test_loss:.4f}  accuracy {test_accuracy:.2%}"))
    rows += [
        (
            "diagnosis",
            f"{bv.diagnosis} (avoidable bias {bv.avoidable_bias:.2%}, variance {bv.variance:.2%})",
        ),
        ("advice", bv.advice),
    ]
    for label, text in rows:
        typer.echo(f"{label:<10} {text}")


# [storage] `hpsearch db ...`

_StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Database URL (default: env HPSEARCH_STORAGE, else sqlite:///hpsearch.db).",
        show_default=False,
    ),
]


@db_app.command("upgrade")
def db_upgrade(storage: _StorageOpt = None) -> None:
    """Create or migrate hpsearch's tables to the schema this version needs."""
    from hpsearch.storage import mask_url, resolve_storage_url, upgrade_database

    try:
        before, after = upgrade_database(storage)
        where = mask_url(resolve_storage_url(storage))
    except HpsearchError as e:
        fail(str(e))
    if before == after:
        typer.echo(f"{where}: schema already at revision {after}")
    else:
        typer.echo(f"{where}: schema upgraded from {before or 'nothing'} to revision {after}")


@db_app.command("current")
def db_current(storage: _StorageOpt = None) -> None:
    """Show the database's schema revision and the one this hpsearch needs."""
    from hpsearch.storage import database_revision, mask_url, resolve_storage_url

    try:
        current, head = database_revision(storage)
        where = mask_url(resolve_storage_url(storage))
    except HpsearchError as e:
        fail(str(e))
    if current == head:
        typer.echo(f"{where}: schema revision {current} (up to date)")
    elif current is None:
        typer.echo(f"{where}: no hpsearch tables yet (created at revision {head} on first use)")
    else:
        hint = f"run `hpsearch db upgrade --storage {where}`"
        typer.echo(f"{where}: schema revision {current}, this hpsearch needs {head}; {hint}")


@db_app.command("url")
def db_url(storage: _StorageOpt = None) -> None:
    """Print the storage URL hpsearch would use, password masked."""
    from hpsearch.storage import mask_url, resolve_storage_url

    try:
        typer.echo(mask_url(resolve_storage_url(storage)))
    except HpsearchError as e:
        fail(str(e))


# [searcher] `hpsearch run`, `resume`, `validate`, `trials`

StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Results database URL (default: $HPSEARCH_STORAGE, else sqlite:///hpsearch.db).",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: table, csv or json.")]


def _open(url: str | None) -> Any:
    from hpsearch.storage import open_storage

    return open_storage(url)


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "csv", "json")) -> None:
    if fmt not in allowed:
        fail(f"--format: expected one of {', '.join(allowed)}, got {fmt!r}")


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="Search definition (TOML).")]) -> None:
    """Check a search definition without running it."""
    from hpsearch.searcher import load_config, load_search_data, validate_optuna_settings

    cfg = load_config(config)
    validate_optuna_settings(cfg)
    load_search_data(cfg)  # a bad dataset name or file is a config error too
    s = cfg.search
    searched = ", ".join(p.name for p in cfg.space) or "nothing"
    typer.echo(
        f"{config}: ok — search {s.name!r}, {s.trials} trials, sampler {s.sampler}, "
        f"pruner {s.pruner}, objective {', '.join(s.objectives)}; searches {searched}"
    )


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Search definition (TOML).")],
    name: Annotated[str | None, typer.Option(help="Search name (overrides [search] name).")] = None,
    trials: Annotated[int | None, typer.Option(help="Trial budget (overrides the file).")] = None,
    workers: Annotated[int | None, typer.Option(help="Trials in flight at once.")] = None,
    storage: StorageOpt = None,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster: 'auto', 'ray://host:10001' or host:port; default local."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Search seed (overrides the file).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
) -> None:
    """Run a search: Optuna samples, Ray trains, every result goes to the database.

    Running it again with the name of an existing search continues that search.
    """
    from hpsearch.searcher import load_config, load_search_data, validate_optuna_settings

    for flag, value in (("--trials", trials), ("--workers", workers)):
        if value is not None and value < 1:
            fail(f"{flag}: expected an integer >= 1, got {value}")
    if seed is not None and seed < 0:
        fail(f"--seed: expected an integer >= 0, got {seed}")
    cfg = load_config(config).with_overrides(name=name, trials=trials, workers=workers, seed=seed)
    # Every check `validate` makes, before the database is opened or Ray started.
    validate_optuna_settings(cfg)
    data = load_search_data(cfg)
    _run_and_report(cfg, storage, address=address, quiet=quiet, resume=False, data=data)


@app.command()
def resume(
    name: Annotated[str, typer.Argument(help="Name of the search to continue.")],
    trials: Annotated[int | None, typer.Option(help="New trial budget (total).")] = None,
    workers: Annotated[int | None, typer.Option(help="Trials in flight at once.")] = None,
    storage: StorageOpt = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress output.")] = False,
) -> None:
    """Continue a stored search: lost trials run again, the sampler sees every earlier trial."""
    from hpsearch.searcher import stored_config

    for flag, value in (("--trials", trials), ("--workers", workers)):
        if value is not None and value < 1:
            fail(f"{flag}: expected an integer >= 1, got {value}")
    store = _open(storage)
    cfg = stored_config(store, name, trials=trials, workers=workers)
    _run_and_report(cfg, storage, address=address, quiet=quiet, resume=True, store=store)


def _run_and_report(
    cfg: Any,
    url: str | None,
    *,
    address: str | None,
    quiet: bool,
    resume: bool,
    store: Any = None,
    data: Any = None,
) -> None:
    from hpsearch.searcher import Progress, SearchInterrupted, run_search

    store = store or _open(url)
    progress = Progress(quiet=quiet)

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "failed":
            first = str(info["text"]).strip().splitlines()[-1:] or [""]
            progress.event(f"trial {info['number']} failed ({info['reason']}): {first[0][:120]}")
        elif kind == "retry":
            progress.event(f"trial {info['number']} lost its worker; attempt {info['attempt']}")

    if not quiet:
        typer.echo(f"search {cfg.search.name!r} -> {store.url}", err=True)
    try:
        outcome = run_search(
            cfg,
            store,
            address=address,
            resume=resume,
            progress=progress,
            on_event=on_event,
            data=data,
        )
    except SearchInterrupted as e:
        _print_summary(e.outcome, cfg)
        typer.echo("interrupted: finished trials are stored; `hpsearch resume` continues", err=True)
        raise typer.Exit(130) from None
    _print_summary(outcome, cfg)


def _print_summary(outcome: Any, cfg: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(80, min(120, Console().width)))
    s = cfg.search
    console.print(
        f"search {outcome.name!r} {outcome.status}: {outcome.complete} complete, "
        f"{outcome.pruned} pruned, {outcome.failed} failed in {outcome.elapsed_s:.1f} s",
        highlight=False,
    )
    complete = [t for t in outcome.trials if t.state.value == "complete" and t.values]
    if not complete:
        return
    reverse = s.directions[0] == "maximize"
    ranked = sorted(
        (t for t in complete if t.values[0] is not None and t.values[0] == t.values[0]),
        key=lambda t: t.values[0],
        reverse=reverse,
    )[:5]
    table = Table(title=f"top trials by {s.objectives[0]}", title_justify="left")
    for col in ("#", s.objectives[0], "train acc", "dev acc", "epochs", "params"):
        table.add_column(col, justify="right")
    for t in ranked:
        table.add_row(
            str(t.number),
            f"{t.values[0]:.4g}",
            _pct(t.train_accuracy),
            _pct(t.dev_accuracy),
            str(t.epochs_run),
            str(t.n_params),
        )
    console.print(table)
    if outcome.best is not None:
        params = ", ".join(f"{k}={_short(v)}" for k, v in sorted(outcome.best.params.items()))
        console.print(f"best trial {outcome.best.number}: {params}", highlight=False)
        if outcome.best_test_accuracy is not None:
            console.print(
                f"best trial {outcome.best.number} on the test split: accuracy "
                f"{outcome.best_test_accuracy:.4f}, loss {outcome.best_test_loss:.4f}",
                highlight=False,
            )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _trial_dict(t: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.value,
        "params": t.params,
        "values": list(t.values) if t.values else None,
        "train_loss": t.train_loss,
        "train_accuracy": t.train_accuracy,
        "dev_loss": t.dev_loss,
        "dev_accuracy": t.dev_accuracy,
        "test_loss": t.test_loss,
        "test_accuracy": t.test_accuracy,
        "epochs_run": t.epochs_run,
        "n_params": t.n_params,
        "seed": t.seed,
        "attempt": t.attempt,
        "node_id": t.node_id,
        "worker_id": t.worker_id,
        "duration_s": t.duration_s,
        "fail_reason": t.fail_reason.value if t.fail_reason else None,
        "diagnosis": t.diagnosis,
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)  # NaN/inf are not JSON: spell them out
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@app.command()
def trials(
    name: Annotated[str, typer.Argument(help="Search name.")],
    storage: StorageOpt = None,
    fmt: FormatOpt = "table",
    top: Annotated[
        int | None, typer.Option("--top", help="Keep the K best (by --sort, else the objective).")
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Column or hyperparameter; ascending, or descending as -NAME or NAME:desc.",
        ),
    ] = None,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="complete, pruned, failed or running (repeatable)."),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="Filter such as 'dropout > 0.3' or 'optimizer = adam' (repeatable, all apply).",
        ),
    ] = None,
) -> None:
    """List a search's stored trials: number, state, hyperparameters, metrics.

    Filters and sort keys name trial columns (value, dev_accuracy, dev_loss, train_accuracy,
    epochs_run, n_params, duration_s, state, diagnosis ...) or the search's hyperparameters.
    """
    import json

    from hpsearch.storage._query import parse_states

    _check_format(fmt)
    if top is not None and top < 1:
        fail(f"--top: expected an integer >= 1, got {top}")
    store = _open(storage)
    states = parse_states(state) if state else None
    found = store.query_trials(name, where=where or [], sort=sort, states=states, limit=top)
    rows = [_trial_dict(t) for t in found]
    if fmt == "json":
        typer.echo(json.dumps(_json_safe(rows), indent=2))
        return
    param_names = sorted({k for r in rows for k in r["params"]})
    cols = ["number", "state", "value", "dev_accuracy", "epochs_run", *param_names]
    flat = []
    for r in rows:
        value = r["values"][0] if r["values"] else None
        flat.append(
            {
                "number": r["number"],
                "state": r["state"],
                "value": value,
                "dev_accuracy": r["dev_accuracy"],
                "epochs_run": r["epochs_run"],
                **{p: r["params"].get(p) for p in param_names},
            }
        )
    _emit(flat, cols, fmt, title=f"search {name!r}: {len(rows)} trials")


# [query] `hpsearch searches`, `show`, `compare`, `export`, `report`, `replay`, `predict`


def _cell(v: Any, *, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return ",".join(_cell(x, digits=digits) for x in v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _emit(rows: list[dict[str, Any]], cols: list[str], fmt: str, *, title: str = "") -> None:
    """Print rows as a table fitting 80 columns, as CSV, or as a JSON list."""
    import csv
    import json

    if fmt == "json":
        typer.echo(json.dumps(_json_safe([{c: r.get(c) for c in cols} for r in rows]), indent=2))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: _csv_cell(r.get(c)) for c in cols})
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = [[_cell(r.get(c), digits=3) for c in cols] for r in rows]
    headers = [_HEADERS.get(c, c.replace("_", " ")) for c in cols]
    # Each column as wide as its values and its header's longest word (headers wrap at spaces).
    widths = [
        min(24, max([len(w) for w in h.split()] + [len(row[i]) for row in cells] + [1]))
        for i, h in enumerate(headers)
    ]
    # Too wide for 80 columns: continue the remaining columns in further tables that repeat
    # the first column (the trial number), so no value is cut.
    chunks: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        if chunks[-1] and used + w + 2 > 80:
            chunks.append([0])
            used = widths[0] + 2
        chunks[-1].append(i)
        used += w + 2
    console = Console(width=80, highlight=False)
    for k, chunk in enumerate(chunks):
        table = Table(
            title=(title or None) if k == 0 else None,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        for i in chunk:
            table.add_column(headers[i], overflow="fold", min_width=widths[i])
        for row in cells:
            table.add_row(*(row[i] for i in chunk))
        console.print(table)


_HEADERS = {"number": "#", "dev_accuracy": "dev acc", "epochs_run": "epochs"}


def _csv_cell(v: Any) -> str:
    """Full precision in CSV (repr round-trips a float exactly)."""
    if v is None:
        return ""
    if isinstance(v, list):
        return ",".join(_csv_cell(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def _seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"


@app.command()
def searches(storage: StorageOpt = None, fmt: FormatOpt = "table") -> None:
    """List every search: status, trials done/pruned/failed, best value, duration."""
    _check_format(fmt)
    rows = []
    for s in _open(storage).list_searches():
        rows.append(
            {
                "name": s.name,
                "status": s.status.value,
                "trials": s.n_trials,
                "complete": s.n_complete,
                "pruned": s.n_pruned,
                "failed": s.n_failed,
                "best": s.best_value,
                "direction": s.directions[0],
                "duration_s": round(s.duration_s, 3) if s.duration_s is not None else None,
                "dataset": s.dataset,
            }
        )
    if fmt == "table":
        for r in rows:
            r["duration"] = _seconds(r["duration_s"])
        cols = ["name", "status", "trials", "complete", "pruned", "failed", "best", "duration"]
        _emit(rows, cols, fmt, title=f"{len(rows)} searches")
        return
    cols = [
        "name",
        "status",
        "trials",
        "complete",
        "pruned",
        "failed",
        "best",
        "direction",
        "duration_s",
        "dataset",
    ]
    _emit(rows, cols, fmt)


def _trial_or_fail(store: Any, name: str, number: int) -> Any:
    from hpsearch.storage import TrialNotFoundError

    try:
        return store.get_trial(name, number)
    except TrialNotFoundError as e:
        fail(str(e))


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Search name.")],
    number: Annotated[int, typer.Argument(help="Trial number.")],
    storage: StorageOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Curve to draw: accuracy or loss.")
    ] = "accuracy",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Everything about one trial: settings, metrics, timings, node, learning curve, diagnosis."""
    import json
    from dataclasses import asdict

    from hpsearch._textplot import text_plot
    from hpsearch.trainer import bias_variance

    _check_format(fmt, ("table", "json"))
    if metric not in ("accuracy", "loss"):
        fail(f"--metric: expected accuracy or loss, got {metric!r}")
    store = _open(storage)
    record = store.get_search(name)
    t = _trial_or_fail(store, name, number)
    epochs = store.epochs(t.id)
    bv = None
    if t.train_accuracy is not None and t.dev_accuracy is not None:
        try:
            bv = bias_variance(1 - t.train_accuracy, 1 - t.dev_accuracy)
        except ValueError:  # NaN accuracies (a diverged trial)
            bv = None
    if fmt == "json":
        out = _trial_dict(t)
        out.update(
            started_at=t.started_at.isoformat() if t.started_at else None,
            finished_at=t.finished_at.isoformat() if t.finished_at else None,
            queue_s=t.queue_s,
            startup_s=t.startup_s,
            train_s=t.train_s,
            report_s=t.report_s,
            error_text=t.error_text,
            environment=t.environment,
            dataset_hash=t.dataset_hash,
            advice=bv.advice if bv else None,
            epochs=[asdict(e) for e in epochs],
        )
        typer.echo(json.dumps(_json_safe(out), indent=2))
        return
    obj = record.objectives[0]
    lines = [f"trial {t.number} of search {record.name!r}: {t.state.value} (attempt {t.attempt})"]
    if t.params:
        lines.append("hyperparameters:")
        lines += [f"  {k:<14} {_cell(v)}" for k, v in sorted(t.params.items())]
    lines.append("metrics:")
    lines.append(f"  {obj + ' (objective)':<26} {_cell(t.value)}")
    for split in ("train", "dev", "test"):
        loss, acc = getattr(t, f"{split}_loss"), getattr(t, f"{split}_accuracy")
        if loss is not None or acc is not None:
            lines.append(f"  {split:<6} loss {_cell(loss):<10} accuracy {_cell(acc)}")
    lines.append(f"  epochs run {_cell(t.epochs_run)}, parameters {_cell(t.n_params)}")
    lines.append(
        f"timings: queue {_seconds(t.queue_s)}, start-up {_seconds(t.startup_s)}, "
        f"training {_seconds(t.train_s)}, reporting {_seconds(t.report_s)}, "
        f"total {_seconds(t.duration_s)}"
    )
    node = (t.node_id or "-")[:16]
    host = (t.environment or {}).get("host", "-")
    lines.append(f"node {node} host {host} worker {(t.worker_id or '-')[:16]} seed {t.seed}")
    if t.fail_reason is not None:
        error = " ".join((t.error_text or "").split())[:200]
        lines.append(f"failed: {t.fail_reason.value}" + (f": {error}" if error else ""))
    for line in lines:
        typer.echo(_wrap80(line))
    typer.echo(f"learning curve ({metric}):")
    series = [
        ("train", "*", [getattr(e, f"train_{metric}") for e in epochs]),
        ("dev", "o", [getattr(e, f"dev_{metric}") for e in epochs]),
    ]
    for line in text_plot(series, width=80, height=10):
        typer.echo(line)
    if bv is not None:
        typer.echo(
            _wrap80(
                f"bias/variance: {bv.diagnosis} (train error {bv.train_error:.2%}, dev error "
                f"{bv.dev_error:.2%}; avoidable bias {bv.avoidable_bias:.2%}, "
                f"variance {bv.variance:.2%})"
            )
        )
        typer.echo(_wrap80(f"next step: {bv.advice}"))


def _wrap80(text: str) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, 80, subsequent_indent="  ")) if len(text) > 80 else text


@app.command()
def compare(
    names: Annotated[list[str], typer.Argument(help="Search names.")],
    storage: StorageOpt = None,
    fmt: FormatOpt = "table",
    evaluator: Annotated[
        str, typer.Option("--evaluator", help="Importance evaluator: fanova, mdi or ped.")
    ] = "fanova",
) -> None:
    """Searches side by side: best value, trials, pruned/failed share, time to the best, best
    hyperparameters and each hyperparameter's importance (Optuna's evaluators)."""
    import json

    from hpsearch.searcher._analysis import load_study, param_importances

    _check_format(fmt)
    store = _open(storage)
    columns: list[dict[str, Any]] = []
    for n in names:
        stored = load_study(store, n)
        rec, ts = stored.record, stored.trials
        best = store.best_trial(rec.id)
        total = len(ts)
        to_best = None
        if best is not None and best.finished_at is not None:
            to_best = (best.finished_at - rec.created_at).total_seconds()
        columns.append(
            {
                "search": rec.name,
                "objective": f"{rec.objectives[0]} ({rec.directions[0]})",
                "best": best.value if best else None,
                "best_trial": best.number if best else None,
                "trials": total,
                "pruned_share": sum(t.state.value == "pruned" for t in ts) / total if total else 0,
                "failed_share": sum(t.state.value == "failed" for t in ts) / total if total else 0,
                "time_to_best_s": to_best,
                "best_params": dict(best.params) if best else {},
                "importance": param_importances(stored, evaluator=evaluator),
            }
        )
    if fmt == "json":
        typer.echo(json.dumps(_json_safe(columns), indent=2))
        return
    params = sorted({p for c in columns for p in (*c["best_params"], *c["importance"])})
    rows = [
        ("objective", [c["objective"] for c in columns]),
        ("best value", [_cell(c["best"]) for c in columns]),
        ("best trial", [_cell(c["best_trial"]) for c in columns]),
        ("trials", [str(c["trials"]) for c in columns]),
        ("pruned", [f"{c['pruned_share']:.0%}" for c in columns]),
        ("failed", [f"{c['failed_share']:.0%}" for c in columns]),
        ("time to best", [_seconds(c["time_to_best_s"]) for c in columns]),
    ]
    for p in params:
        rows.append((f"{p} (best)", [_cell(c["best_params"].get(p)) for c in columns]))
    for p in params:
        rows.append(
            (
                f"{p} importance",
                [f"{c['importance'][p]:.2f}" if p in c["importance"] else "-" for c in columns],
            )
        )
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["", *(c["search"] for c in columns)])
        for label, values in rows:
            writer.writerow([label, *values])
        return
    flat = [
        {"": label, **{c["search"]: v for c, v in zip(columns, values, strict=True)}}
        for label, values in rows
    ]
    _emit(flat, ["", *(c["search"] for c in columns)], "table", title="compare")


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="Search name.")],
    storage: StorageOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default stdout).")
    ] = None,
    epochs: Annotated[
        bool, typer.Option("--epochs", help="Learning curves in long form (trial, epoch).")
    ] = False,
    optuna_url: Annotated[
        str | None,
        typer.Option("--optuna", help="Also write a real Optuna study to this storage URL."),
    ] = None,
) -> None:
    """Export trials with hyperparameters and final metrics (or, with --epochs, every epoch)."""
    import contextlib
    import csv
    import io
    import json

    from hpsearch._read_api import epoch_rows, trial_row

    _check_format(fmt, ("csv", "json"))
    store = _open(storage)
    record = store.get_search(name)
    found = store.trials(record.id)
    if optuna_url is not None:
        from hpsearch.searcher._analysis import export_optuna

        n = export_optuna(store, record.id, optuna_url)
        typer.echo(f"wrote {n} trials as Optuna study {record.name!r}", err=True)
    rows = epoch_rows(store, found) if epochs else [trial_row(t) for t in found]
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    if fmt == "json":
        buf.write(json.dumps(_json_safe(rows), indent=2, default=str) + "\n")
    else:
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else _csv_value(r.get(k)) for k in cols})
    if out is None:
        typer.echo(buf.getvalue(), nl=False)
        return
    try:
        out.write_text(buf.getvalue(), encoding="utf-8")
    except OSError as e:
        fail(f"--out {out}: cannot write ({e.strerror})")
    with contextlib.suppress(Exception):
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)


def _csv_value(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return repr(v) if isinstance(v, float) else v


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="Search name.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    storage: StorageOpt = None,
    top: Annotated[int, typer.Option("--top", help="Trials in the curves and the table.")] = 5,
    evaluator: Annotated[
        str, typer.Option("--evaluator", help="Importance evaluator: fanova, mdi or ped.")
    ] = "fanova",
) -> None:
    """Write one self-contained HTML report (opens offline): history, parallel coordinates,
    importances, learning curves, bias/variance map and the top trials."""
    import warnings

    from hpsearch.searcher._report import build_report

    if top < 1:
        fail(f"--top: expected an integer >= 1, got {top}")
    store = _open(storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
        page = build_report(store, name, top=top, evaluator=evaluator)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as e:
        fail(f"--out {out}: cannot write ({e.strerror})")
    typer.echo(f"wrote {out} ({len(page) / 2**20:.1f} MiB, self-contained)")


@app.command()
def replay(
    name: Annotated[str, typer.Argument(help="Search name.")],
    number: Annotated[int, typer.Argument(help="Trial number.")],
    storage: StorageOpt = None,
    save: Annotated[
        bool, typer.Option("--save", help="Store the replayed model if none is stored.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Retrain a stored trial (same settings, seed, data, BLAS threads) and check that its
    metrics match bit for bit; exit code 1 when they do not."""
    import json

    from hpsearch.searcher._replay import replay_trial
    from hpsearch.storage import TrialNotFoundError

    _check_format(fmt, ("table", "json"))
    store = _open(storage)
    try:
        r = replay_trial(store, name, number, save=save)
    except TrialNotFoundError as e:
        fail(str(e))
    if fmt == "json":
        out = {
            "search": r.search,
            "number": r.number,
            "state": r.state,
            "epochs": r.epochs,
            "identical": r.identical,
            "stored": r.stored,
            "replayed": r.replayed,
            "mismatches": [
                {"what": m.what, "stored": m.stored, "replayed": m.replayed} for m in r.mismatches
            ],
            "environment_differences": r.environment_differences,
            "dataset_checked": r.dataset_checked,
            "blas_threads": r.blas_threads,
            "seconds": round(r.seconds, 4),
            "model_saved": r.model_saved,
        }
        typer.echo(json.dumps(_json_safe(out), indent=2))
    else:
        data = "dataset fingerprint matches" if r.dataset_checked else "no stored fingerprint"
        typer.echo(
            f"replayed trial {r.number} of {r.search!r} ({r.state}): {r.epochs} epochs in "
            f"{r.seconds:.2f}s, {r.blas_threads} BLAS thread(s), {data}"
        )
        for k in r.stored:
            typer.echo(f"  {k:<15} stored {_cell(r.stored[k]):<12} replayed {_cell(r.replayed[k])}")
        if r.identical:
            typer.echo("identical: every epoch and final metric matches bit for bit")
        else:
            typer.echo(
                f"DIFFERENT: {len(r.mismatches)} value(s) differ, first: "
                f"{r.mismatches[0].what} stored {r.mismatches[0].stored!r} replayed "
                f"{r.mismatches[0].replayed!r}"
            )
            if r.environment_differences:
                typer.echo("recorded environment differences that explain it:")
                for d in r.environment_differences:
                    typer.echo(f"  {d}")
            else:
                typer.echo(
                    "the recorded environment is the same: the difference is not explained "
                    "by NumPy, BLAS, threads or machine"
                )
        if r.model_saved:
            typer.echo("stored the replayed model")
    if not r.identical:
        raise typer.Exit(1)


@app.command()
def predict(
    name: Annotated[str, typer.Argument(help="Search name.")],
    number: Annotated[
        int | None, typer.Argument(help="Trial number (default: the best trial).")
    ] = None,
    input_path: Annotated[
        Path, typer.Option("--input", help=".npz (array X, optional y) or .csv with a header.")
    ] = Path(),
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default stdout).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    storage: StorageOpt = None,
) -> None:
    """Label the samples of a file with a stored model, normalised as at training."""
    import csv
    import io
    import json

    from hpsearch.searcher._replay import predict_file
    from hpsearch.storage import TrialNotFoundError

    _check_format(fmt, ("csv", "json"))
    if input_path == Path():
        fail("--input: expected a .npz or .csv file to label")
    store = _open(storage)
    try:
        p = predict_file(store, name, input_path, number=number)
    except TrialNotFoundError as e:
        fail(str(e))
    proba = p.probabilities
    confidence = (
        [float(max(q, 1 - q)) for q in proba[0]]
        if proba.shape[0] == 1
        else [float(x) for x in proba.max(axis=0)]
    )
    rows = [
        {"row": i, "label": lab, "class_index": int(k), "confidence": round(c, 6)}
        for i, (lab, k, c) in enumerate(zip(p.labels, p.indices, confidence, strict=True))
    ]
    buf = io.StringIO()
    if fmt == "json":
        buf.write(json.dumps(rows, indent=2) + "\n")
    else:
        writer = csv.DictWriter(
            buf, fieldnames=list(rows[0]) if rows else ["row"], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    if out is None:
        typer.echo(buf.getvalue(), nl=False)
    else:
        try:
            out.write_text(buf.getvalue(), encoding="utf-8")
        except OSError as e:
            fail(f"--out {out}: cannot write ({e.strerror})")
    summary = f"labelled {len(rows)} samples with trial {p.number} of {p.search!r}"
    if p.accuracy is not None:
        summary += f"; accuracy against the file's labels {p.accuracy:.4f}"
    typer.echo(summary, err=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
