"""The trainer's hyperparameters: one frozen dataclass, checked field by field."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ._errors import TrainerInputError

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
INITS = ("auto", "he", "xavier", "small")
OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")
LR_DECAYS = ("none", "inverse_time", "exponential")
PADDINGS = ("same", "valid")  # conv padding (see _conv_shapes for "same" with any f and s)
POOLS = ("max", "avg", "none")  # pooling after each conv block
DTYPES = ("float32", "float64")  # TrainConfig.dtype and load_dataset's dtype=


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (the searcher samples these fields)."""

    layers: int = 2  # hidden layers; 0 = logistic / softmax regression
    units: int | tuple[int, ...] = 64  # one number for every hidden layer, or one per layer
    activation: str = "relu"  # relu | leaky_relu | tanh | sigmoid (hidden layers)
    leaky_slope: float = 0.01  # slope of leaky ReLU for z < 0, in [0, 1)
    init: str = "auto"  # auto (He for relu family, Xavier otherwise) | he | xavier | small
    init_scale: float = 0.01  # W = randn * init_scale for init="small"
    optimizer: str = "adam"  # gd | momentum | rmsprop | adam
    learning_rate: float = 1e-3  # lr0, before decay
    beta1: float = 0.9  # momentum beta / Adam beta1
    beta2: float = 0.999  # RMSprop / Adam beta2
    epsilon: float = 1e-8  # RMSprop / Adam denominator guard
    lr_decay: str = "none"  # none | inverse_time: lr0/(1+rate*e) | exponential: lr0*rate**e
    decay_rate: float = 0.0  # e counts finished epochs (the first epoch uses lr0)
    lambd: float = 0.0  # L2 strength (Ng's name; `lambda` is a keyword)
    dropout: float | tuple[float, ...] = 0.0  # drop probability per hidden layer, in [0, 1)
    batch_norm: bool = False  # batch norm between the linear step and the activation
    batch_size: int = 64  # 0 = full batch
    epochs: int = 20  # passes over the training set
    patience: int = 0  # early stopping on dev loss; 0 = off
    dtype: str = "float32"  # float32 | float64
    seed: int = 0  # seeds init, shuffles and dropout masks
    # convolutional front (course 4); a block is conv -> activation -> pool, then flatten
    conv_blocks: int = 0  # conv blocks before the dense layers; 0 = a dense network
    filters: int | tuple[int, ...] = 16  # n_C of every block, or one per block
    kernel: int = 3  # f: filters are f x f x n_C_prev
    stride: int = 1  # s: conv stride
    padding: str = "same"  # same: output ceil(n / s) (total padding f - 1) | valid: p = 0
    pool: str = "max"  # max | avg | none: pooling after each block's activation
    pool_size: int = 2  # pooling window and stride (remainder rows/columns dropped)

    def __post_init__(self) -> None:
        _normalize(self)
        _check_int("layers", self.layers, minimum=0)
        _check_per_item("units", self.units, self.layers, "hidden layer")
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_float("leaky_slope", self.leaky_slope, low=0.0, high=1.0, high_open=True)
        _check_choice("init", self.init, INITS)
        _check_float("init_scale", self.init_scale, low=0.0, low_open=True)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("learning_rate", self.learning_rate, low=0.0, low_open=True)
        _check_float("beta1", self.beta1, low=0.0, high=1.0, high_open=True)
        _check_float("beta2", self.beta2, low=0.0, high=1.0, high_open=True)
        _check_float("epsilon", self.epsilon, low=0.0, low_open=True)
        _check_choice("lr_decay", self.lr_decay, LR_DECAYS)
        _check_decay(self.lr_decay, self.decay_rate)
        _check_float("lambd", self.lambd, low=0.0)
        _check_dropout(self)
        if not isinstance(self.batch_norm, bool):
            _fail("batch_norm", "true or false", self.batch_norm)
        _check_int("batch_size", self.batch_size, minimum=0)
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("patience", self.patience, minimum=0)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_int("seed", self.seed, minimum=0)
        _check_int("conv_blocks", self.conv_blocks, minimum=0)
        _check_per_item("filters", self.filters, self.conv_blocks, "conv block")
        _check_int("kernel", self.kernel, minimum=1)
        _check_int("stride", self.stride, minimum=1)
        _check_choice("padding", self.padding, PADDINGS)
        _check_choice("pool", self.pool, POOLS)
        _check_int("pool_size", self.pool_size, minimum=1)

    @property
    def hidden_units(self) -> tuple[int, ...]:
        """Units of each hidden layer, one entry per layer."""
        if isinstance(self.units, int):
            return (self.units,) * self.layers
        return tuple(self.units)

    @property
    def conv_filters(self) -> tuple[int, ...]:
        """n_C of each conv block, one entry per block."""
        if isinstance(self.filters, int):
            return (self.filters,) * self.conv_blocks
        return tuple(self.filters)

    @property
    def dropout_rates(self) -> tuple[float, ...]:
        """Drop probability of each hidden layer, one entry per layer."""
        if isinstance(self.dropout, tuple):
            return tuple(float(p) for p in self.dropout)
        return (float(self.dropout),) * self.layers

    def layer_dims(self, n_x: int, n_classes: int) -> list[int]:
        """[n_x, n_1, ..., n_L]; the output has 1 unit for 2 classes, n_classes otherwise."""
        return [n_x, *self.hidden_units, 1 if n_classes == 2 else n_classes]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from plain values; an unknown key or a bad value raises TrainerInputError."""
        if not isinstance(d, dict):
            raise TrainerInputError(f"train config: expected a mapping of settings, got {d!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TrainerInputError(
                f"train config: unknown setting {unknown[0]!r}; expected one of "
                + ", ".join(sorted(known)),
                field=unknown[0],
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**values)


FLOAT_FIELDS = (
    "leaky_slope", "init_scale", "learning_rate", "beta1", "beta2", "epsilon", "decay_rate",
    "lambd", "dropout",
)  # fmt: skip


def _plain(value: object, *, as_float: bool) -> object:
    """NumPy scalars -> Python ones, lists -> tuples, ints -> floats for float fields."""
    if isinstance(value, list | tuple):
        return tuple(_plain(v, as_float=as_float) for v in value)
    if isinstance(value, np.generic):
        value = value.item()
    if as_float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def _normalize(config: TrainConfig) -> None:
    """Store plain Python values (the searcher may pass NumPy scalars or JSON lists)."""
    for f in fields(config):
        value = getattr(config, f.name)
        plain = _plain(value, as_float=f.name in FLOAT_FIELDS)
        if plain is not value:
            object.__setattr__(config, f.name, plain)


def _fail(field: str, expected: str, got: object) -> None:
    raise TrainerInputError(f"TrainConfig.{field}: expected {expected}, got {got!r}", field=field)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(field: str, value: object, *, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        _fail(field, f"an integer >= {minimum}", value)


def _check_float(
    field: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        _fail(field, f"a number {lo}{hi}", value)


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(field, "one of " + " | ".join(choices), value)


def _check_per_item(field: str, value: object, count: int, item: str) -> None:
    """``value``: an integer >= 1 for every ``item`` (hidden layer, conv block) or one each."""
    if _is_int(value):
        if value < 1:
            _fail(field, f"an integer >= 1 or one per {item}", value)
        return
    if not isinstance(value, tuple) or not all(_is_int(n) and n >= 1 for n in value):
        _fail(field, f"an integer >= 1 or a list of them, one per {item}", value)
    if len(value) != count:
        _fail(field, f"{count} entries (one per {item})", value)


def _check_dropout(config: TrainConfig) -> None:
    rates = config.dropout if isinstance(config.dropout, tuple) else (config.dropout,)
    if isinstance(config.dropout, tuple) and len(rates) != config.layers:
        _fail("dropout", f"{config.layers} entries (one per hidden layer)", config.dropout)
    for p in rates:
        _check_float("dropout", p, low=0.0, high=1.0, high_open=True)


def _check_decay(lr_decay: str, decay_rate: object) -> None:
    if lr_decay == "exponential":
        _check_float("decay_rate", decay_rate, low=0.0, high=1.0, low_open=True)
    else:
        _check_float("decay_rate", decay_rate, low=0.0)
