"""``hpsearch export``, ``report``, ``replay`` and ``predict``: take results out of the database.

These read the database (``replay --save`` adds a model to an existing trial, nothing more): a
missing SQLite file is one error line, never a new database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hpsearch.cli import _app, _render
from hpsearch.cli._app import EvaluatorOpt, StorageOpt, app

NameArg = Annotated[str, typer.Argument(help="Search name.", metavar="NAME")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="File to write (default stdout).")]


@app.command()
def export(
    name: NameArg,
    storage: StorageOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: OutOpt = None,
    epochs: Annotated[
        bool, typer.Option("--epochs", help="Learning curves in long form (trial, epoch).")
    ] = False,
    optuna_url: Annotated[
        str | None,
        typer.Option("--optuna", help="Also write a real Optuna study to this storage URL."),
    ] = None,
) -> None:
    """Export trials with hyperparameters and final metrics (or, with --epochs, every epoch)."""
    _render.check_choice("--format", fmt, ("csv", "json"))
    with _app.open_results(storage) as results:
        view = results.search(name)
        if optuna_url is not None:
            from hpsearch.searcher import export_optuna

            n = export_optuna(results.storage, view.record.id, optuna_url)
            typer.echo(f"wrote {n} trials as Optuna study {view.name!r}", err=True)
        rows = view.rows(epochs=epochs)
    if fmt == "json":
        text = _render.json_text(rows) + "\n"
    else:
        text = _render.csv_text(rows, _render.columns_of(rows))
    if _render.write_or_print(text, out):
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)


@app.command()
def report(
    name: NameArg,
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    storage: StorageOpt = None,
    top: Annotated[int, typer.Option("--top", help="Top trials (table, thick curves).")] = 5,
    evaluator: EvaluatorOpt = "fanova",
) -> None:
    """Write one self-contained HTML report (opens offline): history, Pareto front (several
    objectives), parallel coordinates, importances, every trial's learning curve, bias/variance
    map, the top trials and a sortable table of all trials."""
    import warnings

    from hpsearch.searcher import build_report

    _render.check_at_least("--top", top, 1)
    with _app.open_results(storage) as results, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-feature warnings
        page = build_report(results.storage, name, top=top, evaluator=evaluator)
    _render.write_or_print(page, out)
    typer.echo(f"wrote {out} ({len(page) / 2**20:.1f} MiB, self-contained)")


@app.command()
def replay(
    name: NameArg,
    number: Annotated[int, typer.Argument(help="Trial number.", metavar="NUMBER")],
    storage: StorageOpt = None,
    save: Annotated[
        bool, typer.Option("--save", help="Store the replayed model if none is stored.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Retrain a stored trial (same settings, seed, data, BLAS threads) and check that its
    metrics match bit for bit; exit code 1 when they do not."""
    from hpsearch.searcher import replay_trial

    _render.check_choice("--format", fmt, ("table", "json"))
    with _app.open_results(storage) as results:
        r = replay_trial(results.storage, name, number, save=save)
    if fmt == "json":
        _render.echo_json(_replay_dict(r))
    else:
        for line in _replay_lines(r):
            _render.echo(line)  # environment texts are stored text
    if not r.identical:
        raise typer.Exit(_app.EXIT_FAILED)


def _replay_dict(r: Any) -> dict[str, Any]:
    keys = ("search", "number", "state", "epochs", "identical", "stored", "replayed")
    keys += ("environment_differences", "dataset_checked", "blas_threads", "model_saved")
    out = {k: getattr(r, k) for k in keys}
    out["mismatches"] = [
        {"what": m.what, "stored": m.stored, "replayed": m.replayed} for m in r.mismatches
    ]
    out["seconds"] = round(r.seconds, 4)
    return out


def _replay_lines(r: Any) -> list[str]:
    cell = _render.cell
    data = "dataset fingerprint matches" if r.dataset_checked else "no stored fingerprint"
    lines = [
        f"replayed trial {r.number} of {r.search!r} ({r.state}): {r.epochs} epochs in "
        f"{r.seconds:.2f}s, {r.blas_threads} BLAS thread(s), {data}"
    ]
    lines += [
        f"  {k:<15} stored {cell(v):<12} replayed {cell(r.replayed[k])}"
        for k, v in r.stored.items()
    ]
    if r.identical:
        lines.append("identical: every epoch and final metric matches bit for bit")
    else:
        first = r.mismatches[0]
        lines.append(
            f"DIFFERENT: {len(r.mismatches)} value(s) differ, first: {first.what} stored "
            f"{first.stored!r} replayed {first.replayed!r}"
        )
        if r.environment_differences:
            lines.append("recorded environment differences that explain it:")
            lines += [f"  {d}" for d in r.environment_differences]
        else:
            lines.append(
                "the recorded environment is the same: the difference is not explained "
                "by NumPy, BLAS, threads or machine"
            )
    if r.model_saved:
        lines.append("stored the replayed model")
    return lines


@app.command()
def predict(
    name: NameArg,
    number: Annotated[
        int | None,
        typer.Argument(help="Trial number (default: the best trial).", metavar="[NUMBER]"),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help=".npz (array X, optional y, columns by position) or .csv (columns matched by "
            "header name; a first row of numbers only means no header: by position).",
        ),
    ] = None,
    out: OutOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    storage: StorageOpt = None,
) -> None:
    """Label the samples of a file with a stored model, normalised as at training; each row
    gets the model's confidence (the probability of the label it chose)."""
    from dataclasses import asdict

    from hpsearch.searcher import predict_file

    _render.check_choice("--format", fmt, ("csv", "json"))
    if input_path is None:
        _render.fail("--input: expected a .npz or .csv file to label")
    with _app.open_results(storage) as results:
        p = predict_file(results.storage, name, input_path, number=number)
    rows = [asdict(row) | {"confidence": round(row.confidence, 6)} for row in p.rows]
    if fmt == "json":
        text = _render.json_text(rows) + "\n"
    else:
        text = _render.csv_text(rows, ["row", "label", "class_index", "confidence"])
    _render.write_or_print(text, out)
    summary = f"labelled {len(rows)} samples with trial {p.number} of {p.search!r}"
    if p.accuracy is not None:
        summary += f"; accuracy against the file's labels {p.accuracy:.4f}"
    summary += f"; columns matched by {p.matched_by}"
    typer.echo(_render.printable(summary), err=True)
