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
        cols += ["best", "objective", "direction", "duration_s", "dataset", "stopped"]
        if fmt == "json" or any(r["seeded_from"] for r in rows):
            cols.append("seeded_from")
        if fmt == "csv":  # a warm start's sources and counts as one JSON cell
            for r in rows:
                if r["seeded_from"]:
                    r["seeded_from"] = _render.json_text(r["seeded_from"], indent=None)
        _render.emit(rows, cols, fmt)
        return
    objectives = {r["objective"] for r in rows}
    best = f"best {objectives.pop()}" if len(objectives) == 1 else "best"
    cols = ["name", "status", "trials", "complete", "pruned", "failed", best]
    cols += [] if best != "best" else ["objective"]
    for r in rows:
        r[best] = r["best"]
        r["duration"] = _render.seconds(r["duration_s"])
    cols.append("duration")
    if any(r["stopped"] for r in rows):  # why a search stopped before its budget
        cols.append("stopped")
    if any(r["seeded_from"] for r in rows):  # a warm start: its sources, trials used
        cols.append("seeded from")
        for r in rows:
            w = r["seeded_from"]
            r["seeded from"] = f"{', '.join(w['from'])} ({w.get('used', 0)} used)" if w else None
    _render.emit(rows, cols, fmt, title=_render.plural(len(rows), "search"))


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
    pareto: Annotated[
        bool,
        typer.Option(
            "--pareto",
            help="Only the Pareto front: complete trials no other beats on every objective.",
        ),
    ] = False,
) -> None:
    """List a search's stored trials: number, state, objective, hyperparameters, why a trial
    failed; below the table, the dev split's size and the standard error of dev accuracy.

    Filters and sort keys name trial columns (value, dev_accuracy, dev_loss, train_accuracy,
    epochs_run, n_params, predict_ms, feasible, duration_s, state, diagnosis ...) or the
    search's hyperparameters; infeasible trials ([search] constraints) come after feasible ones
    in the top K.
    """
    _render.check_choice("--format", fmt, ("table", "csv", "json"))
    _render.check_at_least("--top", top, 1)
    with _app.open_results(storage) as results:
        view = results.search(name)
        found = view.trials(where=where or [], sort=sort, state=state, limit=top)
        if pareto:
            keep = {t.number for t in found}
            found = [t for t in view.pareto_front() if t.number in keep]
        noise = view.dev_noise() if fmt == "table" else None
    if fmt == "json":
        _render.echo_json([trial_dict(t) for t in found])
        return
    rows, cols = _render.trial_rows(found, view.objective, view.record.objectives)
    what = "Pareto-front trial" if pareto else "trial"
    title = f"search {name!r}: {_render.plural(len(rows), what)}"
    _render.emit(rows, cols, fmt, title=title)
    if noise is not None:
        for line in (noise.describe(), *noise.warnings):
            _render.echo(line, wrap=True)


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
        "dev_loss_std": t.dev_loss_std,
        "dev_accuracy_std": t.dev_accuracy_std,
        "test_loss": t.test_loss,
        "test_accuracy": t.test_accuracy,
        "epochs_run": t.epochs_run,
        "n_params": t.n_params,
        "predict_ms": t.predict_ms,
        "feasible": t.feasible,
        "constraint_values": list(t.constraint_values) if t.constraint_values else None,
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

    from hpsearch import standard_error

    _render.check_choice("--format", fmt, ("table", "json"))
    _render.check_choice("--metric", metric, ("accuracy", "loss"))
    with _app.open_results(storage) as results:
        view = results.search(name)
        t = view.trial(number)
        epochs = view.epochs(number)
        bv = view.diagnosis(t)
        sizes = view.split_sizes()
        folds = view.folds(number)
    if fmt == "json":
        out = trial_dict(t) | {
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            **{k: getattr(t, k) for k in ("queue_s", "startup_s", "train_s", "report_s")},
            **{k: getattr(t, k) for k in ("error_text", "environment", "dataset_hash")},
            **{k: getattr(t, k) for k in ("avoidable_bias", "variance")},
            "advice": bv.advice if bv else None,
            "reading": bv.diagnosis if bv else None,
            "variance_within_noise": bv.within_noise if bv else None,
            "n_train": sizes.train if sizes else None,
            "n_dev": sizes.dev if sizes else None,
            "n_test": sizes.test if sizes else None,
            "dev_accuracy_se": standard_error(t.dev_accuracy, sizes and sizes.dev),
            "folds": [asdict(f) for f in folds],
            "epochs": [asdict(e) for e in epochs],
        }
        _render.echo_json(out)
        return
    for line in _show_lines(view, t, sizes) + _fold_lines(t, folds):
        _render.echo(line, wrap=True)
    typer.echo(f"learning curve ({metric}):")
    series = [
        ("train", "*", [getattr(e, f"train_{metric}") for e in epochs]),
        ("dev", "o", [getattr(e, f"dev_{metric}") for e in epochs]),
    ]
    for line in text_plot(series, width=min(_render.terminal_width(), 100), height=10):
        typer.echo(line)
    if bv is not None:
        _render.echo(_bias_variance_line(bv), wrap=True)
        _render.echo(f"next step: {bv.advice}", wrap=True)


def _show_lines(view: Any, t: Any, sizes: Any) -> list[str]:
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
    lines.append(
        f"  epochs run {cell(t.epochs_run)}, parameters {cell(t.n_params)}, "
        f"predict {cell(t.predict_ms)} ms per 1,000 samples (one thread)"
    )
    if t.feasible is not None:
        lines.append(f"  constraints: {'all held' if t.feasible else 'INFEASIBLE'}")
    if other := (t.environment or {}).get("metrics"):  # an own model's other numbers
        lines.append("  last epoch: " + ", ".join(f"{k} {cell(v)}" for k, v in other.items()))
    lines += _split_lines(t, sizes)
    lines.append(
        f"timings: queue {secs(t.queue_s)}, start-up {secs(t.startup_s)}, "
        f"training {secs(t.train_s)}, reporting {secs(t.report_s)}, total {secs(t.duration_s)}"
    )
    node, host = (t.node_id or "-")[:16], (t.environment or {}).get("host", "-")
    lines.append(f"node {node} host {host} worker {(t.worker_id or '-')[:16]} seed {t.seed}")
    if t.fail_reason is not None:
        lines.append(f"failed: {_render.failure(t)}")
    return lines


def _fold_lines(t: Any, folds: list[Any]) -> list[str]:
    """A cross-validated trial: its mean ± standard deviation over folds, then each fold."""
    if not folds:
        return []
    cell = _render.cell
    lines = [
        f"folds: {len(folds)}; dev accuracy {cell(t.dev_accuracy)} ± {cell(t.dev_accuracy_std)}, "
        f"dev loss {cell(t.dev_loss)} ± {cell(t.dev_loss_std)} (mean ± standard deviation)"
    ]
    lines += [
        f"  fold {f.fold}: train loss {cell(f.train_loss)} accuracy {cell(f.train_accuracy)}; "
        f"dev loss {cell(f.dev_loss)} accuracy {cell(f.dev_accuracy)}; epochs {f.epochs_run}"
        for f in folds
    ]
    return lines


def _split_lines(t: Any, sizes: Any) -> list[str]:
    """The split sizes and what one dev sample and one standard error are worth."""
    from hpsearch import SMALL_DEV, standard_error

    if sizes is None:
        return ["  splits: unknown (the dataset could not be loaded)"]
    line = f"  splits: train {sizes.train}, dev {sizes.dev}, test {sizes.test} samples"
    se = standard_error(t.dev_accuracy, sizes.dev)
    if se is not None:
        line += f"; dev accuracy {t.dev_accuracy:.4f} ± {se:.4f} (1 standard error)"
    lines = [line]
    if sizes.dev < SMALL_DEV:
        lines.append(
            f"warning: only {sizes.dev} dev samples (under {SMALL_DEV}): one sample is "
            f"{100 / sizes.dev:.1f} points of accuracy"
        )
    return lines


def _bias_variance_line(bv: Any) -> str:
    from hpsearch import SMALL_DEV

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.2%}"

    line = (
        f"bias/variance: {bv.diagnosis} (train error {pct(bv.train_error)}, dev error "
        f"{pct(bv.dev_error)}; avoidable bias {pct(bv.avoidable_bias)}, "
        f"variance {pct(bv.variance)})"
    )
    if bv.within_noise and bv.variance is not None and bv.variance > 0:
        line += (
            f"; the train/dev gap is within 2 standard errors of the dev error "
            f"(±{pct(2 * bv.dev_standard_error)} on {bv.n_dev} dev samples): noise, "
            f"not high variance"
        )
        if bv.stored != bv.diagnosis:
            line += f" (stored reading: {bv.stored})"
    elif bv.dev_standard_error is not None:
        line += f"; dev error ±{pct(bv.dev_standard_error)} (1 SE, {bv.n_dev} samples)"
    if bv.n_dev is not None and bv.n_dev < SMALL_DEV:
        line += f"; on only {bv.n_dev} dev samples this reading is uncertain"
    return line


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
    if fmt == "table":
        for c in columns:
            for w in c["warnings"]:
                _render.echo(f"{c['search']}: {w}", wrap=True)


def _compare_rows(columns: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per measure, one column per search."""
    cell = _render.cell
    params = sorted({p for c in columns for p in (*c["best_params"], *c["importance"])})
    measures: list[tuple[str, list[str]]] = [
        ("objective", [_objectives_text(c) for c in columns]),
        ("best value", [cell(c["best"]) for c in columns]),
        ("best trial", [cell(c["best_trial"]) for c in columns]),
        ("trials", [str(c["trials"]) for c in columns]),
        ("pruned", [f"{c['pruned_share']:.0%}" for c in columns]),
        ("failed", [f"{c['failed_share']:.0%}" for c in columns]),
        ("time to best", [_render.seconds(c["time_to_best_s"]) for c in columns]),
        ("trained to end", [str(c["trained_to_end"]) for c in columns]),
        ("dev samples", [cell(c["n_dev"]) for c in columns]),
        ("dev acc ±1 SE", [cell(c["dev_standard_error"], digits=2) for c in columns]),
    ]
    if any(c.get("feasible_trials") is not None for c in columns):  # [search] constraints
        measures.append(("feasible trials", [cell(c.get("feasible_trials")) for c in columns]))
    if any(len(c["objectives"]) > 1 for c in columns):
        measures.append(("pareto front", [_front_text(c) for c in columns]))
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


def _front_text(c: dict[str, Any]) -> str:
    """``#3 (0.97, 1203); #5 (0.95, 411)``: each front trial with every objective's value."""
    points = [
        f"#{p['number']} ({', '.join(_render.cell(p.get(o)) for o in c['objectives'])})"
        for p in c["pareto_front"]
    ]
    return "; ".join(points) or "-"


def _objectives_text(c: dict[str, Any]) -> str:
    """``dev_accuracy (maximize), n_params (minimize)``: every objective with its direction."""
    pairs = zip(c["objectives"], c["directions"], strict=True)
    return ", ".join(f"{o} ({d})" for o, d in pairs)
