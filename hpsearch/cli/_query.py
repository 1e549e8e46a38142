"""``hpsearch searches``, ``trials``, ``show`` and ``compare``: read the results database.

Every command here only reads: a missing SQLite file is one error line, never a new database.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hpsearch.cli import _app, _render
from hpsearch.cli._app import EvaluatorOpt, FormatOpt, StorageOpt, app
from hpsearch.cli._textplot import text_plot

NameArg = Annotated[str, typer.Argument(help="Search name.", metavar="NAME")]
NumberArg = Annotated[int, typer.Argument(help="Trial number.", metavar="NUMBER")]


@app.command()
def searches(storage: StorageOpt = None, fmt: FormatOpt = "table") -> None:
    """List every search: status, trials done/pruned/failed, best value, duration."""
    _render.check_choice("--format", fmt, ("table", "csv", "json"))
    with _app.open_results(storage) as results:
        rows = results.search_rows()
    if fmt != "table":
        cols = ["name", "status", "trials", "complete", "pruned", "failed", "running"]
        cols += ["best", "objective", "direction", "duration_s", "dataset"]
        _render.emit(rows, cols, fmt)
        return
    objectives = {r["objective"] for r in rows}
    best = f"best {objectives.pop()}" if len(objectives) == 1 else "best"
    cols = ["name", "status", "trials", "complete", "pruned", "failed", best]
    cols += [] if best != "best" else ["objective"]
    for r in rows:
        r[best] = r["best"]
        r["duration"] = _render.seconds(r["duration_s"])
    _render.emit(rows, [*cols, "duration"], fmt, title=_render.plural(len(rows), "search"))


@app.command()
def trials(
    name: NameArg,
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
        typer.Option(
            "--state", help="complete, pruned, failed or running (repeatable).", metavar="STATE"
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            metavar="FILTER",
            help="Filter such as 'dropout > 0.3', 'lambda < 1e-3' or 'optimizer = adam' "
            "(repeatable, all apply).",
        ),
    ] = None,
) -> None:
    """List a search's stored trials: number, state, objective, hyperparameters, why a trial
    failed.

    Filters and sort keys name trial columns (value, dev_accuracy, dev_loss, train_accuracy,
    epochs_run, n_params, duration_s, state, diagnosis ...) or the search's hyperparameters.
    """
    _render.check_choice("--format", fmt, ("table", "csv", "json"))
    _render.check_at_least("--top", top, 1)
    with _app.open_results(storage) as results:
        view = results.search(name)
        found = view.trials(where=where or [], sort=sort, state=state, limit=top)
    if fmt == "json":
        _render.echo_json([trial_dict(t) for t in found])
        return
    rows, cols = _render.trial_rows(found, view.objective)
    title = f"search {name!r}: {_render.plural(len(rows), 'trial')}"
    _render.emit(rows, cols, fmt, title=title)


def trial_dict(t: Any) -> dict[str, Any]:
    """A trial as ``trials --format json`` prints it (the stable JSON shape)."""
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
        "error": _render.failure(t),
        "diagnosis": t.diagnosis,
    }


@app.command()
def show(
    name: NameArg,
    number: NumberArg,
    storage: StorageOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Curve to draw: accuracy or loss.")
    ] = "accuracy",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Everything about one trial: settings, metrics, timings, node, learning curve, diagnosis."""
    from dataclasses import asdict

    _render.check_choice("--format", fmt, ("table", "json"))
    _render.check_choice("--metric", metric, ("accuracy", "loss"))
    with _app.open_results(storage) as results:
        view = results.search(name)
        t = view.trial(number)
        epochs = view.epochs(number)
        bv = view.diagnosis(t)
    if fmt == "json":
        out = trial_dict(t) | {
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            **{k: getattr(t, k) for k in ("queue_s", "startup_s", "train_s", "report_s")},
            **{k: getattr(t, k) for k in ("error_text", "environment", "dataset_hash")},
            **{k: getattr(t, k) for k in ("avoidable_bias", "variance")},
            "advice": bv.advice if bv else None,
            "epochs": [asdict(e) for e in epochs],
        }
        _render.echo_json(out)
        return
    for line in _show_lines(view, t, bv):
        typer.echo(_wrap(line))
    typer.echo(f"learning curve ({metric}):")
    series = [
        ("train", "*", [getattr(e, f"train_{metric}") for e in epochs]),
        ("dev", "o", [getattr(e, f"dev_{metric}") for e in epochs]),
    ]
    for line in text_plot(series, width=min(_render.terminal_width(), 100), height=10):
        typer.echo(line)
    if bv is not None:
        typer.echo(_wrap(_bias_variance_line(bv)))
        typer.echo(_wrap(f"next step: {bv.advice}"))


def _show_lines(view: Any, t: Any, bv: Any) -> list[str]:
    from hpsearch.searcher import user_name

    cell, secs = _render.cell, _render.seconds
    lines = [f"trial {t.number} of search {view.name!r}: {t.state.value} (attempt {t.attempt})"]
    if t.params:
        lines.append("hyperparameters:")
        lines += [f"  {user_name(k):<14} {cell(v)}" for k, v in sorted(t.params.items())]
    lines.append("metrics:")
    lines.append(f"  {view.objective + ' (objective)':<26} {cell(t.value)}")
    for split in ("train", "dev", "test"):
        loss, acc = getattr(t, f"{split}_loss"), getattr(t, f"{split}_accuracy")
        if loss is not None or acc is not None:
            lines.append(f"  {split:<6} loss {cell(loss):<10} accuracy {cell(acc)}")
    lines.append(f"  epochs run {cell(t.epochs_run)}, parameters {cell(t.n_params)}")
    lines.append(
        f"timings: queue {secs(t.queue_s)}, start-up {secs(t.startup_s)}, "
        f"training {secs(t.train_s)}, reporting {secs(t.report_s)}, total {secs(t.duration_s)}"
    )
    node, host = (t.node_id or "-")[:16], (t.environment or {}).get("host", "-")
    lines.append(f"node {node} host {host} worker {(t.worker_id or '-')[:16]} seed {t.seed}")
    if t.fail_reason is not None:
        lines.append(f"failed: {_render.failure(t)}")
    return lines


def _bias_variance_line(bv: Any) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.2%}"

    return (
        f"bias/variance: {bv.diagnosis} (train error {pct(bv.train_error)}, dev error "
        f"{pct(bv.dev_error)}; avoidable bias {pct(bv.avoidable_bias)}, "
        f"variance {pct(bv.variance)})"
    )


def _wrap(text: str) -> str:
    import textwrap

    width = min(_render.terminal_width(), 100)
    if len(text) <= width:
        return text
    return "\n".join(textwrap.wrap(text, width, subsequent_indent="  "))


@app.command()
def compare(
    names: Annotated[list[str], typer.Argument(help="Search names.", metavar="NAMES...")],
    storage: StorageOpt = None,
    fmt: FormatOpt = "table",
    evaluator: EvaluatorOpt = "fanova",
) -> None:
    """Searches side by side: best value, trials, pruned/failed share, time to the best, best
    hyperparameters and each hyperparameter's importance (Optuna's evaluators)."""
    from dataclasses import asdict

    from hpsearch.searcher import load_study, param_importances

    _render.check_choice("--format", fmt, ("table", "csv", "json"))
    with _app.open_results(storage) as results:
        columns = []
        for n in names:
            stats = results.search(n).stats()
            study = load_study(results.storage, n)
            columns.append(
                asdict(stats) | {"importance": param_importances(study, evaluator=evaluator)}
            )
    if fmt == "json":
        _render.echo_json(columns)
        return
    _render.emit(*_compare_rows(columns), fmt, title="" if fmt == "csv" else "compare")


def _compare_rows(columns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per measure, one column per search."""
    cell = _render.cell
    params = sorted({p for c in columns for p in (*c["best_params"], *c["importance"])})
    measures: list[tuple[str, list[str]]] = [
        ("objective", [f"{c['objective']} ({c['direction']})" for c in columns]),
        ("best value", [cell(c["best"]) for c in columns]),
        ("best trial", [cell(c["best_trial"]) for c in columns]),
        ("trials", [str(c["trials"]) for c in columns]),
        ("pruned", [f"{c['pruned_share']:.0%}" for c in columns]),
        ("failed", [f"{c['failed_share']:.0%}" for c in columns]),
        ("time to best", [_render.seconds(c["time_to_best_s"]) for c in columns]),
    ]
    measures += [(f"{p} (best)", [cell(c["best_params"].get(p)) for c in columns]) for p in params]
    measures += [
        (
            f"{p} importance",
            [f"{c['importance'][p]:.2f}" if p in c["importance"] else "-" for c in columns],
        )
        for p in params
    ]
    heads = ["", *(c["search"] for c in columns)]
    rows = [dict(zip(heads, [label, *values], strict=True)) for label, values in measures]
    return rows, heads
