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
            f"  dev loss {m.dev_loss:.4f} acc {m.dev_accuracy:.4f}  {m.seconds:.2f}s"
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
    from hpsearch.searcher import parse_config

    for flag, value in (("--trials", trials), ("--workers", workers)):
        if value is not None and value < 1:
            fail(f"{flag}: expected an integer >= 1, got {value}")
    store = _open(storage)
    record = store.get_search(name)
    cfg = parse_config(record.config, source="database").with_overrides(
        trials=trials, workers=workers
    )
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
) -> None:
    """List a search's stored trials: number, state, hyperparameters, metrics."""
    import csv
    import json

    _check_format(fmt)
    store = _open(storage)
    record = store.get_search(name)
    rows = [_trial_dict(t) for t in store.trials(record.id)]
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
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for r in flat:
            writer.writerow({k: _short(v) if v is not None else "" for k, v in r.items()})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"search {name!r}: {len(rows)} trials", title_justify="left")
    for c in cols:
        table.add_column(c.replace("_", " "), overflow="fold")
    for r in flat:
        table.add_row(*("-" if r[c] is None else _short(r[c]) for c in cols))
    Console(width=80).print(table)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
