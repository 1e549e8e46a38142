"""``hpsearch validate``, ``run`` and ``resume``: check a search definition, run it, continue it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hpsearch.cli import _app, _render
from hpsearch.cli._app import StorageOpt, app
from hpsearch.cli._summary import summary

ConfigArg = Annotated[Path, typer.Argument(help="Search definition (TOML).", metavar="CONFIG")]
TrialsOpt = Annotated[int | None, typer.Option(help="Trial budget (overrides the file).")]
WorkersOpt = Annotated[int | None, typer.Option(help="Trials in flight at once.")]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster: 'auto', 'ray://host:10001' or host:port; default local."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress output.")]
PatienceOpt = Annotated[
    float | None,
    typer.Option(
        "--database-patience",
        metavar="SECONDS",
        help="How long trials go on, their results buffered, while the database is unreachable "
        "(overrides [search] database_patience; default 600).",
    ),
]

TimeBudgetOpt = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help='Stop launching trials after this long ("90m", "2h" or seconds; overrides '
        "[search] time_budget); running trials finish.",
    ),
]

WarmStartOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--warm-start",
        metavar="NAME",
        help="Learn from an earlier search's compatible trials in this database (repeatable; "
        "overrides [search] warm_start's from).",
    ),
]
WarmTopOpt = Annotated[
    int | None,
    typer.Option(
        "--warm-start-top",
        metavar="N",
        help="Run the warm start's N best configurations first (overrides warm_start's top).",
    ),
]
EnqueueOpt = Annotated[
    Path | None,
    typer.Option(
        "--enqueue",
        metavar="FILE",
        help="Configurations to evaluate first, exactly as given: TOML [[enqueue]] tables or a "
        "JSON list of objects (after the definition's [[enqueue]]).",
    ),
]


@app.command()
def validate(config: ConfigArg) -> None:
    """Check a search definition without running it."""
    from hpsearch.searcher import definition_notes

    cfg, data = _checked(config)
    s = cfg.search
    searched = ", ".join(p.name for p in cfg.space) or "nothing"
    typer.echo(
        f"{config}: ok — search {s.name!r}, {s.trials} trials, sampler {s.sampler}, "
        f"pruner {s.pruner}, objective {', '.join(s.objectives)}; searches {searched}"
    )
    for line in definition_notes(cfg, data):
        typer.echo(line)


def _checked(path: Path, **overrides: Any) -> tuple[Any, Any]:
    """(definition, its data) after every check ``validate`` makes, before a database is opened
    or Ray started."""
    from hpsearch.searcher import load_config, load_search_data, preflight, validate_optuna_settings

    cfg = load_config(path)
    if overrides:
        cfg = cfg.with_overrides(**overrides)
    preflight(cfg)  # a missing package first: building its sampler may need it
    validate_optuna_settings(cfg)
    return cfg, load_search_data(cfg)  # a bad dataset name or file is a definition error too


@app.command()
def run(
    config: ConfigArg,
    name: Annotated[str | None, typer.Option(help="Search name (overrides [search] name).")] = None,
    trials: TrialsOpt = None,
    workers: WorkersOpt = None,
    storage: StorageOpt = None,
    address: AddressOpt = None,
    seed: Annotated[int | None, typer.Option(help="Search seed (overrides the file).")] = None,
    time_budget: TimeBudgetOpt = None,
    warm_start: WarmStartOpt = None,
    warm_start_top: WarmTopOpt = None,
    enqueue: EnqueueOpt = None,
    database_patience: PatienceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a search: Optuna samples, Ray trains, every result goes to the database.

    Running it again with the name of an existing search continues that search.
    """
    from hpsearch.searcher import check_search_name, with_seeding

    _render.check_at_least("--trials", trials, 1)
    _render.check_at_least("--workers", workers, 1)
    _render.check_at_least("--seed", seed, 0)
    _check_patience(database_patience)
    if name is not None:
        name = check_search_name(name, field="--name")
    cfg, data = _checked(
        config,
        name=name,
        trials=trials,
        workers=workers,
        seed=seed,
        time_budget=_seconds(time_budget),
        database_patience=database_patience,
    )
    cfg = with_seeding(cfg, warm_start=warm_start, warm_start_top=warm_start_top, enqueue=enqueue)
    _run_and_report(cfg, _app.open_store(storage), address=address, quiet=quiet, data=data)


@app.command()
def resume(
    name: Annotated[str, typer.Argument(help="Name of the search to continue.", metavar="NAME")],
    trials: Annotated[int | None, typer.Option(help="New trial budget (total).")] = None,
    workers: WorkersOpt = None,
    storage: StorageOpt = None,
    address: AddressOpt = None,
    time_budget: TimeBudgetOpt = None,
    database_patience: PatienceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Continue a stored search: lost trials run again, the sampler sees every earlier trial."""
    from hpsearch.searcher import check_search_name, preflight, stored_config

    _render.check_at_least("--trials", trials, 1)
    _render.check_at_least("--workers", workers, 1)
    _check_patience(database_patience)
    name = check_search_name(name, field="NAME")
    store = _app.open_store(storage)
    cfg = stored_config(
        store, name, trials=trials, workers=workers, time_budget=_seconds(time_budget)
    )
    preflight(cfg)
    if database_patience is not None:
        cfg = cfg.with_overrides(database_patience=database_patience)
    _run_and_report(cfg, store, address=address, quiet=quiet, resume=True)


def _seconds(text: str | None) -> float | str | None:
    """--time-budget's text: a plain number is seconds, anything else a duration ("2h")."""
    try:
        return float(text) if text is not None else None
    except ValueError:
        return text


def _check_patience(seconds: float | None) -> None:
    if seconds is not None and not 0 <= seconds < float("inf"):
        _render.fail(f"--database-patience: expected a number of seconds >= 0, got {seconds}")


def _run_and_report(
    cfg: Any,
    store: Any,
    *,
    address: str | None,
    quiet: bool,
    resume: bool = False,
    data: Any = None,
) -> None:
    from hpsearch.searcher import Progress, SearchInterrupted, run_search

    progress = Progress(quiet=quiet)

    def on_event(kind: str, info: dict[str, Any]) -> None:
        if kind == "failed":
            first = str(info["text"]).strip().splitlines()[-1:] or [""]
            text = _render.printable(first[0][:120])  # a trial's error text is not trusted
            progress.event(f"trial {info['number']} failed ({info['reason']}): {text}")
        elif kind == "retry":
            progress.event(f"trial {info['number']} lost its worker; attempt {info['attempt']}")

    if not quiet:
        typer.echo(_render.printable(f"search {cfg.search.name!r} -> {store.url}"), err=True)
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
        summary(e.outcome, cfg, data=data)
        typer.echo("interrupted: finished trials are stored; `hpsearch resume` continues", err=True)
        raise typer.Exit(_app.EXIT_INTERRUPTED) from None
    summary(outcome, cfg, data=data)
