"""The search definition: a TOML file with [search], [data], [train] and [space] sections.

Every check names the key it failed on (``space.learning_rate.low``) and what was expected, so the
command line can print it as one line. Parsing never touches Ray, Optuna or the database.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch.errors import UserInputError

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("none", "median", "percentile", "successive_halving", "hyperband")
NORMALIZE = ("standard", "minmax", "none")

# Metrics a trial reports at its end, and the direction that makes each better by default.
METRICS: dict[str, str] = {
    "dev_accuracy": "maximize",
    "dev_loss": "minimize",
    "train_accuracy": "maximize",
    "train_loss": "minimize",
    "n_params": "minimize",
    "train_seconds": "minimize",
}
# Metrics that exist per epoch, so a pruner can watch them.
EPOCH_METRICS = ("dev_accuracy", "dev_loss", "train_accuracy", "train_loss")

# Names users may write for a trainer field (the course says "lambda"; Python reserves it).
ALIASES = {"lambda": "lambd", "l2": "lambd", "hidden_layers": "layers"}


class ConfigError(UserInputError):
    """A search definition that cannot run; the message names the key."""


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter.

    ``kind`` is float, int or categorical. ``one_minus_log`` samples ``1 - value`` on a log scale
    (momentum's beta: 0.9 -> 0.999 evenly over decades of 1 - beta). ``per_layer`` (units only)
    samples one value per hidden layer, conditional on the number of layers.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    one_minus_log: bool = False
    per_layer: bool = False


@dataclass(frozen=True)
class SearchSettings:
    """The [search] section."""

    name: str
    trials: int = 20  # trial budget: finished trials (complete, pruned or failed on their own)
    workers: int | None = None  # trials in flight; None = cluster CPUs // cpus_per_trial
    cpus_per_trial: int = 1  # Ray num_cpus per trial, and BLAS threads in the trial
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("dev_accuracy",)
    directions: tuple[str, ...] = ("maximize",)
    seed: int | None = 0
    trial_timeout: float = 0.0  # seconds; 0 = no limit
    retries: int = 1  # re-runs of a trial whose worker or node was lost
    memory_limit_mb: float = 0.0  # refuse trials estimated above this; 0 = no limit


@dataclass(frozen=True)
class DataSettings:
    """The [data] section: which dataset and how it is split."""

    dataset: str = "digits"
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    normalize: str = "standard"
    label_column: str | None = None
    max_samples: int | None = None


@dataclass(frozen=True)
class SearchConfig:
    """A whole search definition, validated."""

    search: SearchSettings
    data: DataSettings
    train: dict[str, Any]  # fixed trainer settings (TrainConfig field -> value)
    space: tuple[ParamSpec, ...]
    source: str = ""  # the file it came from, for messages

    @property
    def multi_objective(self) -> bool:
        return len(self.search.objectives) > 1

    def to_dict(self) -> dict[str, Any]:
        """The definition in the file's own shape, JSON-able; ``parse_config`` reads it back.

        Stored with the search. It holds no secrets: the storage URL is never part of it.
        """
        search = dataclasses.asdict(self.search)
        search["objective"] = list(search.pop("objectives"))
        search["direction"] = list(search.pop("directions"))
        search = {k: v for k, v in search.items() if v is not None}
        data = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.data).items()
        }
        space: dict[str, Any] = {}
        for p in self.space:
            spec: dict[str, Any] = {"type": p.kind}
            if p.kind == "categorical":
                spec["choices"] = list(p.choices)
            else:
                spec["low"], spec["high"] = p.low, p.high
                if p.log:
                    spec["log"] = True
                if p.step is not None:
                    spec["step"] = p.step
                if p.one_minus_log:
                    spec["one_minus_log"] = True
            if p.per_layer:
                spec["per_layer"] = True
            space[p.name] = spec
        return {
            "search": search,
            "data": {k: v for k, v in data.items() if v is not None},
            "train": {k: list(v) if isinstance(v, tuple) else v for k, v in self.train.items()},
            "space": space,
        }

    @classmethod
    def from_stored(cls, stored: Any) -> SearchConfig:
        """The definition stored with a search (a ``SearchRecord`` or its ``config`` dict).

        The one place a stored definition is parsed: resume, replay, predict and analysis all
        come through here, so older stored forms (``lambd`` for ``lambda``) are read in one way.
        """
        raw = stored if isinstance(stored, Mapping) else stored.config
        return parse_config(dict(raw), source="database")

    def with_overrides(self, **overrides: Any) -> SearchConfig:
        """A copy with [search] fields replaced (command-line flags win over the file)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        raw = self.to_dict()
        raw["search"] = raw["search"] | given
        return parse_config(raw, source=self.source)


# --- loading ----------------------------------------------------------------------------------


def load_config(path: str | Path) -> SearchConfig:
    """Read and validate a TOML search definition. Raises ConfigError naming the key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from None
    return parse_config(raw, source=str(p))


def load_search_data(config: SearchConfig) -> Any:
    """The [data] section's dataset, loaded and split as every trial sees it.

    Called before a search is created, so a bad name or file is refused before anything is
    stored. Raises ConfigError ``data.dataset: <file>: <what is wrong>``.
    """
    from hpsearch.trainer import TrainerInputError, load_dataset

    d = config.data
    try:
        return load_dataset(
            d.dataset,
            split=d.split,
            seed=config.search.seed or 0,
            normalize=d.normalize,
            label_column=d.label_column,
            max_samples=d.max_samples,
            dtype=str(config.train.get("dtype", "float32")),
        )
    except TrainerInputError as e:
        raise ConfigError(f"data.dataset: {e}") from None


def parse_config(raw: dict[str, Any], *, source: str = "") -> SearchConfig:
    """Validate an already-parsed mapping (as from TOML)."""
    _check_keys(raw, {"search", "data", "train", "space"}, "")
    search_raw = _table(raw, "search", required=True)
    search = _search_settings(search_raw)
    data = _data_settings(_table(raw, "data"))
    train = _train_settings(_table(raw, "train"))
    space = _space(_table(raw, "space"))
    overlap = sorted(set(train) & {p.name for p in space})
    if overlap:
        raise ConfigError(
            f"train.{overlap[0]}: set in both [train] and [space]; fix it or search it, not both"
        )
    config = SearchConfig(search=search, data=data, train=train, space=space, source=source)
    _check_coherent(config)
    return config


def _table(raw: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"[{key}]: section missing")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table ([{key}]), got {_kind(value)}")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}{key}"
            raise ConfigError(
                f"{where}: unknown key (expected one of {', '.join(sorted(allowed))})"
            )


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _int(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value}")
    return value


def _number(value: Any, key: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected a number >= {minimum}, got {value}")
    return float(value)


def _str(value: Any, key: str, *, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {_kind(value)}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _search_settings(raw: dict[str, Any]) -> SearchSettings:
    allowed = {f.name for f in dataclasses.fields(SearchSettings)} | {"objective", "direction"}
    allowed -= {"objectives", "directions"}
    _check_keys(raw, allowed, "search.")
    if "name" not in raw:
        raise ConfigError("search.name: missing (expected a search name such as 'digits-quick')")
    name = _str(raw["name"], "search.name").strip()
    if not name or len(name) > 200 or any(c in name for c in "\n\r\t"):
        raise ConfigError("search.name: expected 1-200 printable characters")
    out: dict[str, Any] = {"name": name}
    if "trials" in raw:
        out["trials"] = _int(raw["trials"], "search.trials", minimum=1)
    if raw.get("workers") is not None:
        out["workers"] = _int(raw["workers"], "search.workers", minimum=1)
    if "cpus_per_trial" in raw:
        out["cpus_per_trial"] = _int(raw["cpus_per_trial"], "search.cpus_per_trial", minimum=1)
    if "sampler" in raw:
        out["sampler"] = _str(raw["sampler"], "search.sampler", choices=SAMPLERS)
    if "pruner" in raw:
        out["pruner"] = _str(raw["pruner"], "search.pruner", choices=PRUNERS)
    for key in ("sampler_options", "pruner_options"):
        if key in raw:
            if not isinstance(raw[key], dict):
                raise ConfigError(f"search.{key}: expected a table, got {_kind(raw[key])}")
            out[key] = dict(raw[key])
    objectives, directions = _objectives(raw.get("objective"), raw.get("direction"))
    out["objectives"], out["directions"] = objectives, directions
    if raw.get("seed") is not None:
        out["seed"] = _int(raw["seed"], "search.seed", minimum=0)
    elif "seed" in raw:
        out["seed"] = None
    if "trial_timeout" in raw:
        out["trial_timeout"] = _number(raw["trial_timeout"], "search.trial_timeout", minimum=0)
    if "retries" in raw:
        out["retries"] = _int(raw["retries"], "search.retries", minimum=0)
    if "memory_limit_mb" in raw:
        out["memory_limit_mb"] = _number(
            raw["memory_limit_mb"], "search.memory_limit_mb", minimum=0
        )
    return SearchSettings(**out)


def _objectives(objective: Any, direction: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if objective is None:
        objective = "dev_accuracy"
    names = [objective] if isinstance(objective, str) else objective
    if not isinstance(names, list) or not names:
        raise ConfigError("search.objective: expected a metric name or a list of them")
    for n in names:
        _str(n, "search.objective", choices=tuple(METRICS))
    if len(set(names)) != len(names):
        raise ConfigError("search.objective: the same metric is listed twice")
    if direction is None:
        dirs = [METRICS[n] for n in names]
    else:
        dirs = [direction] if isinstance(direction, str) else direction
        if not isinstance(dirs, list):
            raise ConfigError("search.direction: expected 'maximize', 'minimize' or a list of them")
        for d in dirs:
            _str(d, "search.direction", choices=("maximize", "minimize"))
        if len(dirs) != len(names):
            raise ConfigError(
                f"search.direction: {len(dirs)} direction(s) for {len(names)} objective(s)"
            )
    return tuple(names), tuple(dirs)


def _data_settings(raw: dict[str, Any]) -> DataSettings:
    allowed = {f.name for f in dataclasses.fields(DataSettings)}
    _check_keys(raw, allowed, "data.")
    out: dict[str, Any] = {}
    if "dataset" in raw:
        out["dataset"] = _str(raw["dataset"], "data.dataset")
        if not out["dataset"].strip():
            raise ConfigError("data.dataset: expected a dataset name or a path, got ''")
    if "split" in raw:
        split = raw["split"]
        if not isinstance(split, list) or len(split) != 3:
            raise ConfigError("data.split: expected three fractions [train, dev, test]")
        fr = tuple(_number(v, "data.split", minimum=0) for v in split)
        if fr[0] <= 0 or fr[1] <= 0 or fr[2] < 0 or abs(sum(fr) - 1.0) > 1e-6:
            raise ConfigError(
                "data.split: expected [train, dev, test] fractions, train and dev > 0, summing to 1"
            )
        out["split"] = fr
    if "normalize" in raw:
        out["normalize"] = _str(raw["normalize"], "data.normalize", choices=NORMALIZE)
    if raw.get("label_column") is not None:
        out["label_column"] = _str(raw["label_column"], "data.label_column")
    if raw.get("max_samples") is not None:
        out["max_samples"] = _int(raw["max_samples"], "data.max_samples", minimum=10)
    return DataSettings(**out)


def _trainer_fields() -> dict[str, dataclasses.Field[Any]]:
    from hpsearch.trainer import TrainConfig

    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _train_settings(raw: dict[str, Any]) -> dict[str, Any]:
    fields = _trainer_fields()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if name not in fields:
            raise ConfigError(
                f"train.{key}: unknown trainer setting "
                f"(expected one of {', '.join(sorted(fields))})"
            )
        if name == "seed":
            raise ConfigError("train.seed: set [search] seed instead; each trial derives its own")
        if name in out:
            raise ConfigError(f"train.{key}: given twice (an alias and its name?)")
        out[name] = value.copy() if isinstance(value, list) else value
    _check_train_values(out, "train")
    return out


def _check_train_values(values: dict[str, Any], prefix: str) -> None:
    """Let the trainer's own checks judge the values, and name the key when it refuses."""
    from hpsearch.trainer import TrainConfig, TrainerInputError

    plain = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        TrainConfig.from_dict(plain)
    except TrainerInputError as e:
        message = str(e)
        raise ConfigError(f"{prefix}: {message}" if prefix not in message else message) from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix}: {e}") from None


_SPEC_KEYS = {"type", "low", "high", "log", "step", "choices", "one_minus_log", "per_layer"}


def _space(raw: dict[str, Any]) -> tuple[ParamSpec, ...]:
    fields = _trainer_fields()
    specs: list[ParamSpec] = []
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        where = f"space.{key}"
        if name not in fields or name == "seed":
            raise ConfigError(f"{where}: unknown trainer setting to search")
        if isinstance(value, list):  # shorthand: a list is a categorical choice
            value = {"type": "categorical", "choices": value}
        if not isinstance(value, dict):
            raise ConfigError(
                f'{where}: expected a table like {{ type = "float", low = 0.0, high = 1.0 }} '
                f"or a list of choices, got {_kind(value)}"
            )
        specs.append(_param_spec(name, value, where))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"space.{dup}: given twice (an alias and its name?)")
    return tuple(specs)


def _param_spec(name: str, raw: dict[str, Any], where: str) -> ParamSpec:
    _check_keys(raw, _SPEC_KEYS, f"{where}.")
    kind = _str(raw.get("type", ""), f"{where}.type", choices=("float", "int", "categorical"))
    per_layer = bool(raw.get("per_layer", False))
    if "per_layer" in raw and not isinstance(raw["per_layer"], bool):
        raise ConfigError(f"{where}.per_layer: expected true or false")
    if per_layer and name not in ("units", "dropout"):
        raise ConfigError(f"{where}.per_layer: only units and dropout can vary per layer")
    if kind == "categorical":
        for extra in ("low", "high", "log", "step", "one_minus_log"):
            if extra in raw:
                raise ConfigError(f'{where}.{extra}: not used with type = "categorical"')
        choices = raw.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}.choices: expected a non-empty list")
        for c in choices:
            if not isinstance(c, bool | int | float | str):
                raise ConfigError(f"{where}.choices: expected numbers, strings or booleans")
        if len({repr(c) for c in choices}) != len(choices):
            raise ConfigError(f"{where}.choices: a choice is listed twice")
        return ParamSpec(name=name, kind=kind, choices=tuple(choices), per_layer=per_layer)
    if "choices" in raw:
        raise ConfigError(f'{where}.choices: only used with type = "categorical"')
    for bound in ("low", "high"):
        if bound not in raw:
            raise ConfigError(f"{where}.{bound}: missing")
    if kind == "int":
        low = _int(raw["low"], f"{where}.low")
        high = _int(raw["high"], f"{where}.high")
    else:
        low = _number(raw["low"], f"{where}.low")
        high = _number(raw["high"], f"{where}.high")
    if low >= high:
        raise ConfigError(f"{where}: expected low < high, got low={low} high={high}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log: expected true or false, got {_kind(log)}")
    one_minus_log = raw.get("one_minus_log", False)
    if not isinstance(one_minus_log, bool):
        raise ConfigError(f"{where}.one_minus_log: expected true or false")
    step = raw.get("step")
    if step is not None:
        step = (
            _int(step, f"{where}.step", minimum=1)
            if kind == "int"
            else _number(step, f"{where}.step")
        )
        if step <= 0:
            raise ConfigError(f"{where}.step: expected a number > 0, got {step}")
        if log:
            raise ConfigError(f"{where}.step: cannot be combined with log = true")
    if log and low <= 0:
        raise ConfigError(f"{where}.low: expected a value > 0 with log = true, got {low}")
    if one_minus_log:
        if kind != "float":
            raise ConfigError(f'{where}.one_minus_log: only for type = "float"')
        if log or step is not None:
            raise ConfigError(f"{where}.one_minus_log: cannot be combined with log or step")
        if not (0 <= low < high < 1):
            raise ConfigError(
                f"{where}: one_minus_log needs 0 <= low < high < 1, got low={low} high={high}"
            )
    return ParamSpec(
        name=name,
        kind=kind,
        low=low,
        high=high,
        log=log,
        step=step,
        one_minus_log=one_minus_log,
        per_layer=per_layer,
    )


def _check_coherent(config: SearchConfig) -> None:
    s = config.search
    if config.multi_objective:
        if s.pruner != "none":
            raise ConfigError(
                'search.pruner: pruning needs a single objective; set pruner = "none" '
                "for a multi-objective search"
            )
        if s.sampler == "cmaes":
            raise ConfigError("search.sampler: cmaes supports a single objective only")
    if s.pruner != "none" and s.objectives[0] not in EPOCH_METRICS:
        raise ConfigError(
            f"search.objective: pruning watches the objective every epoch, and "
            f'{s.objectives[0]} is only known at the end; use pruner = "none"'
        )
    if s.sampler == "grid":
        for p in config.space:
            if p.kind == "float" and p.step is None and not p.one_minus_log:
                raise ConfigError(f"space.{p.name}: the grid sampler needs choices or a step")
            if p.one_minus_log:
                raise ConfigError(f"space.{p.name}: the grid sampler needs choices or a step")
    names = {p.name for p in config.space}
    if "units" in names:
        units = next(p for p in config.space if p.name == "units")
        if units.kind == "categorical" and any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in units.choices
        ):
            raise ConfigError("space.units.choices: expected positive integers")
    # A sample at the low end of every range must make a valid trainer config, and so must each
    # range's high end and each choice (the other searched values held at their low end).
    probe = dict(config.train)
    for p in config.space:
        probe[p.name] = p.choices[0] if p.kind == "categorical" else p.low
    _check_train_values(probe, "space")
    for p in config.space:
        for value in p.choices[1:] if p.kind == "categorical" else (p.high,):
            _check_train_values(probe | {p.name: value}, f"space.{p.name}")
