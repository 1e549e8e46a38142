"""The ``hpsearch`` command line: a thin layer over trainer, storage and searcher.

Expected failures (bad flags, bad files, bad URLs) print one line to stderr and exit with code 2;
no traceback is shown for a user's mistake.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

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

# [searcher] `hpsearch run`, `resume`, `validate`, `trials`


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
