"""``hpsearch train``: one network from flags, with its bias/variance reading."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Annotated, Any

import typer

from hpsearch.cli import _render
from hpsearch.cli._app import app, flag_message
from hpsearch.trainer import TrainConfig

_DEFAULTS = TrainConfig()
_SETTINGS = [f.name for f in fields(TrainConfig)]
# The error's field -> this command's flag (TrainConfig's settings and load_dataset's options).
FLAGS = {name: "--" + name.replace("_", "-") for name in _SETTINGS}
FLAGS.update(
    lambd="--lambda",
    **{"lambda": "--lambda"},
    split="--split",
    normalize="--normalize",
    max_samples="--max-samples",
    label_column="--label-column",
    dataset="--dataset",
)


_LISTS = ("units", "dropout", "filters")  # flags taking one number or a comma list


def _default(name: str) -> str:
    value = getattr(_DEFAULTS, name)
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _opt(help: str, name: str, *flags: str) -> Any:
    """An option whose shown default is TrainConfig's (the flag itself defaults to unset)."""
    return typer.Option(*flags, help=f"{help}  [default: {_default(name)}]", show_default=False)


def _number_list(flag: str, text: str, kind: type, example: str) -> Any:
    """'128' -> 128, '128,64' -> (128, 64); anything else is a one-line error naming the flag."""
    try:
        values = tuple(kind(part) for part in text.split(","))
    except ValueError:
        _render.fail(f"{flag}: expected one number or a comma list like {example}, got {text!r}")
    return values[0] if len(values) == 1 else values


def _json_number(x: float) -> float | None:
    return float(x) if x == x and abs(x) != float("inf") else None


@app.command("train")
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
        typer.Option(help="CSV column holding the labels.  [default: label, target, y or class]"),
    ] = None,
    layers: Annotated[int | None, _opt("Hidden layers; 0 = softmax regression.", "layers")] = None,
    units: Annotated[str | None, _opt("Units per hidden layer: 64 or 128,64.", "units")] = None,
    activation: Annotated[
        str | None, _opt("Hidden activation: relu, leaky_relu, tanh or sigmoid.", "activation")
    ] = None,
    leaky_slope: Annotated[float | None, _opt("Leaky ReLU slope.", "leaky_slope")] = None,
    init: Annotated[
        str | None, _opt("Weight init: auto (He for ReLU), he, xavier or small.", "init")
    ] = None,
    optimizer: Annotated[
        str | None, _opt("Optimizer: gd, momentum, rmsprop or adam.", "optimizer")
    ] = None,
    learning_rate: Annotated[float | None, _opt("Initial learning rate.", "learning_rate")] = None,
    beta1: Annotated[float | None, _opt("Momentum / Adam beta1.", "beta1")] = None,
    beta2: Annotated[float | None, _opt("RMSprop / Adam beta2.", "beta2")] = None,
    lr_decay: Annotated[
        str | None, _opt("Learning-rate decay: none, inverse_time or exponential.", "lr_decay")
    ] = None,
    decay_rate: Annotated[float | None, _opt("Learning-rate decay rate.", "decay_rate")] = None,
    lambd: Annotated[float | None, _opt("L2 strength.", "lambd", "--lambda")] = None,
    dropout: Annotated[
        str | None, _opt("Drop probability: 0.2, or one per layer 0.3,0.1.", "dropout")
    ] = None,
    batch_norm: Annotated[
        bool | None,
        _opt("Batch normalisation.", "batch_norm", "--batch-norm/--no-batch-norm"),
    ] = None,
    batch_size: Annotated[
        int | None, _opt("Mini-batch size; 0 = full batch.", "batch_size")
    ] = None,
    epochs: Annotated[int | None, _opt("Passes over the training set.", "epochs")] = None,
    patience: Annotated[
        int | None, _opt("Early stopping on dev loss; 0 = off.", "patience")
    ] = None,
    dtype: Annotated[str, typer.Option(help="Float type: float32 or float64.")] = "float32",
    seed: Annotated[int | None, _opt("Seeds init, shuffles and dropout.", "seed")] = None,
    conv_blocks: Annotated[
        int | None,
        _opt("Conv blocks (conv -> activation -> pool) before the dense layers.", "conv_blocks"),
    ] = None,
    filters: Annotated[
        str | None, _opt("Filters per conv block: 16, or one per block 16,32.", "filters")
    ] = None,
    kernel: Annotated[int | None, _opt("Conv filter size f (f x f).", "kernel")] = None,
    stride: Annotated[int | None, _opt("Conv stride.", "stride")] = None,
    padding: Annotated[str | None, _opt("Conv padding: same or valid.", "padding")] = None,
    pool: Annotated[str | None, _opt("Pooling: max, avg or none.", "pool")] = None,
    pool_size: Annotated[int | None, _opt("Pooling window and stride.", "pool_size")] = None,
    data_seed: Annotated[int, typer.Option(help="Seeds the train/dev/test split.")] = 0,
    split: Annotated[str, typer.Option(help="train,dev,test fractions.")] = "0.7,0.15,0.15",
    normalize: Annotated[
        str, typer.Option(help="Input scaling: standard, minmax or none.")
    ] = "standard",
    max_samples: Annotated[
        int | None, typer.Option(help="Stratified subsample of the data before splitting.")
    ] = None,
    test: Annotated[
        bool,
        typer.Option("--test", help="Also evaluate the held-out test split (not for choosing)."),
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    history: Annotated[
        bool, typer.Option("--history", help="With --format json, add every epoch's metrics.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
) -> None:
    """Train one network with the given hyperparameters and print its bias/variance reading.

    Unset hyperparameters take TrainConfig's defaults (shown). The test split is held out: it
    is reported only with --test. With --format json, stdout holds exactly one JSON object and
    progress goes to stderr. Off a terminal, progress is one line every few seconds.
    """
    from hpsearch.trainer import DivergedError, TrainerInputError, load_dataset, train

    _render.check_choice("--format", output_format, ("table", "json"))
    fractions = _number_list("--split", split, float, "0.7,0.15,0.15")
    settings = {  # the TrainConfig settings given as flags (the parameters of this function)
        **{k: v for k, v in locals().items() if k in _SETTINGS and k not in _LISTS},
        "units": units and _number_list("--units", units, int, "128,64"),
        "filters": filters and _number_list("--filters", filters, int, "16,32"),
        "dropout": dropout and _number_list("--dropout", dropout, float, "0.3,0.1"),
    }
    as_json = output_format == "json"
    try:
        config = TrainConfig(**{k: v for k, v in settings.items() if v is not None})
        data = load_dataset(
            dataset,
            split=fractions if isinstance(fractions, tuple) else (fractions,),
            seed=data_seed,
            normalize=normalize,
            label_column=label_column,
            max_samples=max_samples,
            dtype=dtype,
        )
        if config.conv_blocks and data.image_shape is None:
            _render.fail(
                f"--conv-blocks: convolutional blocks need image data, and {data.name} has no "
                "image shape (a table of features); use --conv-blocks 0"
            )
        if test and data.X_test.shape[1] == 0:
            _render.fail("--test: the split has no test part (give --split three fractions)")
        if not quiet and not as_json:
            typer.echo(data.describe())
        printer = _render.EpochPrinter(config.epochs, to_stderr=as_json)
        with printer:
            result = train(config, data, on_epoch=_render.no_progress if quiet else printer)
    except DivergedError as e:
        _render.fail(f"{e}; try a smaller --learning-rate", code=1)
    except TrainerInputError as e:
        _render.fail(flag_message(e, FLAGS))
    report = _report(config, data, result, test=test, history=history)
    if as_json:
        _render.echo_json(report, indent=None)
    else:
        _render.labelled(_table(config, data, result, report))


def _report(config: Any, data: Any, result: Any, *, test: bool, history: bool) -> dict[str, Any]:
    """The run as one JSON-ready dict: settings, final metrics, diagnosis (and history)."""
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
    }
    if history:
        report["history"] = [asdict(m) for m in result.history]
    if test:
        test_loss, test_accuracy = result.network.evaluate(data.X_test, data.y_test)
        report["test_loss"] = _json_number(test_loss)
        report["test_accuracy"] = _json_number(test_accuracy)
    return report


def _network(config: Any, data: Any) -> str:
    """``64 -> 16 -> 10``, or with conv blocks ``8x8x1 -> 4x4x16 -> 2x2x32 -> 64 -> 10``
    (each block's output after its pooling)."""
    from hpsearch.trainer import conv_output_shapes

    dims = config.layer_dims(data.n_x, data.n_classes)
    if not config.conv_blocks:
        return " -> ".join(map(str, dims))
    shapes = [data.image_shape, *conv_output_shapes(config, data.image_shape)]
    return " -> ".join(["x".join(map(str, s)) for s in shapes] + [str(n) for n in dims[1:]])


def _table(config: Any, data: Any, result: Any, report: dict[str, Any]) -> list[tuple[str, str]]:
    bv = result.bias_variance
    rows = [
        ("network", f"{_network(config, data)} ({result.n_params:,} parameters)"),
        (
            "stopped",
            f"{result.stopped} after {result.epochs_run} epochs "
            f"(best dev loss at epoch {result.best_epoch}), {result.seconds:.2f}s",
        ),
        ("train", f"loss {result.train_loss:.4f}  accuracy {result.train_accuracy:.2%}"),
        ("dev", f"loss {result.dev_loss:.4f}  accuracy {result.dev_accuracy:.2%}"),
    ]
    if "test_loss" in report:
        loss, accuracy = report["test_loss"], report["test_accuracy"]
        if loss is not None and accuracy is not None:
            rows.append(("test", f"loss {loss:.4f}  accuracy {accuracy:.2%}"))
    return [
        *rows,
        (
            "diagnosis",
            f"{bv.diagnosis} (avoidable bias {bv.avoidable_bias:.2%}, variance {bv.variance:.2%})",
        ),
        ("advice", bv.advice),
    ]
