"""Parsing a search definition: a mapping (as from TOML, or as stored) -> :class:`SearchConfig`.

Every check names the key it failed on (``space.learning_rate.low``) and what was expected, so the
command line can print it as one line; the key also travels as ``ConfigError.field``. The trainer
judges its own settings (``TrainConfig.from_dict``); parsing never touches Ray, Optuna or the
database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hpsearch.searcher._constraints import check_sampler, parse_constraints
from hpsearch.searcher._definition import (
    DATA_FACTS,
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    ConfigError,
    DataSettings,
    SearchConfig,
    SearchSettings,
)
from hpsearch.searcher._entrypoint import OWN_KEYS, check_entrypoint, check_param_name
from hpsearch.searcher._names import check_search_name, field_name, trainer_settings, user_name
from hpsearch.searcher._parse_seeding import parse_enqueue, parse_warm_start
from hpsearch.searcher._parse_space import parse_space
from hpsearch.searcher._values import (
    as_duration,
    as_int,
    as_number,
    as_str,
    check_finite_tree,
    check_keys,
    kind_of,
)
from hpsearch.searcher._warmup import with_warmup_defaults


def parse_config(raw: dict[str, Any], *, source: str = "", stored: bool = False) -> SearchConfig:
    """Validate an already-parsed mapping (as from TOML, or a stored definition: ``stored``
    accepts the data facts a driver recorded, ``DATA_FACTS``)."""
    check_keys(raw, {"search", "data", "train", "space", "enqueue"}, "")
    check_finite_tree(raw, "")
    search = _search_settings(_table(raw, "search", required=True))
    data = _data_settings(_table(raw, "data"), stored=stored)
    train = _train_settings(_table(raw, "train"))
    # [train] entrypoint: your own model; names the trainer does not know are its settings
    space = parse_space(_table(raw, "space"), trainer_fields(), own="entrypoint" in train)
    overlap = sorted(set(train) & {p.name for p in space})
    if overlap:
        raise ConfigError(
            f"train.{overlap[0]}: set in both [train] and [space]; fix it or search it, not both",
            field=f"train.{overlap[0]}",
        )
    enqueue = parse_enqueue(raw.get("enqueue"), train, space)
    config = SearchConfig(
        search=search, data=data, train=train, space=space, source=source, enqueue=enqueue
    )
    _check_coherent(config)
    return with_warmup_defaults(config)


def replace_search(config: SearchConfig, given: dict[str, Any]) -> SearchConfig:
    """``config`` with [search] keys replaced by ``given`` (file-shaped keys: ``objective``)."""
    check_finite_tree(given, "search")
    search = _search_settings(config.to_dict()["search"] | given)
    replaced = dataclasses.replace(config, search=search)
    _check_coherent(replaced)
    return replaced


# --- values ---------------------------------------------------------------------------------------


def _table(raw: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"[{key}]: section missing", field=key)
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table ([{key}]), got {kind_of(value)}", field=key)
    return value


# --- [search] -------------------------------------------------------------------------------------


def _search_settings(raw: dict[str, Any]) -> SearchSettings:
    allowed = {f.name for f in dataclasses.fields(SearchSettings)} | {"objective", "direction"}
    allowed -= {"objectives", "directions"}
    check_keys(raw, allowed, "search.")
    if "name" not in raw:
        raise ConfigError(
            "search.name: missing (expected a search name such as 'digits-quick')",
            field="search.name",
        )
    as_str(raw["name"], "search.name")
    out: dict[str, Any] = {"name": check_search_name(raw["name"])}
    if "trials" in raw:
        out["trials"] = as_int(raw["trials"], "search.trials", minimum=1)
    if raw.get("workers") is not None:
        out["workers"] = as_int(raw["workers"], "search.workers", minimum=1)
    if "cpus_per_trial" in raw:
        out["cpus_per_trial"] = as_int(raw["cpus_per_trial"], "search.cpus_per_trial", minimum=1)
    if "sampler" in raw:
        out["sampler"] = as_str(raw["sampler"], "search.sampler", choices=SAMPLERS)
    if "pruner" in raw:
        out["pruner"] = as_str(raw["pruner"], "search.pruner", choices=PRUNERS)
    for key in ("sampler_options", "pruner_options"):
        if key in raw:
            if not isinstance(raw[key], dict):
                raise ConfigError(
                    f"search.{key}: expected a table, got {kind_of(raw[key])}",
                    field=f"search.{key}",
                )
            out[key] = dict(raw[key])
    objectives, directions = _objectives(raw.get("objective"), raw.get("direction"))
    out["objectives"], out["directions"] = objectives, directions
    if raw.get("seed") is not None:
        out["seed"] = as_int(raw["seed"], "search.seed", minimum=0, maximum=2**32 - 1)
    elif "seed" in raw:
        out["seed"] = None
    if "trial_timeout" in raw:
        out["trial_timeout"] = as_number(raw["trial_timeout"], "search.trial_timeout", minimum=0)
    if "retries" in raw:
        out["retries"] = as_int(raw["retries"], "search.retries", minimum=0)
    if "memory_limit_mb" in raw:
        out["memory_limit_mb"] = as_number(
            raw["memory_limit_mb"], "search.memory_limit_mb", minimum=0, maximum=2**40
        )
    if "database_patience" in raw:
        out["database_patience"] = as_number(
            raw["database_patience"], "search.database_patience", minimum=0
        )
    if "time_budget" in raw:
        out["time_budget"] = as_duration(raw["time_budget"], "search.time_budget")
    if raw.get("target") is not None:
        out["target"] = as_number(raw["target"], "search.target")
    if "patience_trials" in raw:
        out["patience_trials"] = as_int(raw["patience_trials"], "search.patience_trials", minimum=1)
    if raw.get("constraints") is not None:
        out["constraints"] = tuple(str(c) for c in parse_constraints(raw["constraints"]))
    if raw.get("warm_start") is not None:
        out["warm_start"] = parse_warm_start(raw["warm_start"])
    return SearchSettings(**out)


def _objectives(objective: Any, direction: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if objective is None:
        objective = "dev_accuracy"
    names = [objective] if isinstance(objective, str) else objective
    if not isinstance(names, list) or not names:
        raise ConfigError(
            "search.objective: expected a metric name or a list of them", field="search.objective"
        )
    for n in names:
        as_str(n, "search.objective", choices=tuple(OBJECTIVES))
    if len(set(names)) != len(names):
        raise ConfigError(
            "search.objective: the same metric is listed twice", field="search.objective"
        )
    if direction is None:
        return tuple(names), tuple(OBJECTIVES[n] for n in names)
    dirs = [direction] if isinstance(direction, str) else direction
    if not isinstance(dirs, list):
        raise ConfigError(
            "search.direction: expected 'maximize', 'minimize' or a list of them",
            field="search.direction",
        )
    for d in dirs:
        as_str(d, "search.direction", choices=("maximize", "minimize"))
    if len(dirs) != len(names):
        raise ConfigError(
            f"search.direction: {len(dirs)} direction(s) for {len(names)} objective(s)",
            field="search.direction",
        )
    return tuple(names), tuple(dirs)


# --- [data] ---------------------------------------------------------------------------------------


def _data_settings(raw: dict[str, Any], *, stored: bool = False) -> DataSettings:
    from hpsearch.trainer import NORMALIZERS

    allowed = {f.name for f in dataclasses.fields(DataSettings)}
    check_keys(raw, allowed if stored else allowed - set(DATA_FACTS), "data.")
    out: dict[str, Any] = {}
    if "dataset" in raw:
        out["dataset"] = as_str(raw["dataset"], "data.dataset")
        if not out["dataset"].strip() or "\x00" in out["dataset"]:
            raise ConfigError(
                f"data.dataset: expected a dataset name or a path, got {out['dataset']!r}",
                field="data.dataset",
            )
    if "split" in raw:
        split = raw["split"]
        if not isinstance(split, list) or len(split) != 3:
            raise ConfigError(
                "data.split: expected three fractions [train, dev, test]", field="data.split"
            )
        fr = tuple(as_number(v, "data.split", minimum=0) for v in split)
        if fr[0] <= 0 or fr[1] <= 0 or fr[2] < 0 or abs(sum(fr) - 1.0) > 1e-6:
            raise ConfigError(
                "data.split: expected [train, dev, test] fractions, train and dev > 0, "
                "summing to 1",
                field="data.split",
            )
        out["split"] = fr
    if "normalize" in raw:
        out["normalize"] = as_str(raw["normalize"], "data.normalize", choices=NORMALIZERS)
    if raw.get("label_column") is not None:
        out["label_column"] = as_str(raw["label_column"], "data.label_column")
    if raw.get("max_samples") is not None:
        out["max_samples"] = as_int(raw["max_samples"], "data.max_samples", minimum=10)
    if raw.get("folds") is not None:
        out["folds"] = as_int(raw["folds"], "data.folds", minimum=2)
    if stored:  # recorded by a driver: taken back as stored, never from a user's file
        for name in ("feature_names", "classes"):
            if isinstance(raw.get(name), list):
                out[name] = tuple(str(v) for v in raw[name])
        if isinstance(raw.get("split_sizes"), dict):
            out["split_sizes"] = dict(raw["split_sizes"])
        if isinstance(raw.get("n_classes"), int):
            out["n_classes"] = raw["n_classes"]
        shape = raw.get("image_shape")
        if isinstance(shape, list) and all(isinstance(n, int) for n in shape):
            out["image_shape"] = tuple(shape)
    return DataSettings(**out)


# --- [train] and the trainer's own checks ---------------------------------------------------------


def trainer_fields() -> set[str]:
    """The settings a ``TrainConfig`` has (trainer field names: ``lambd``)."""
    from hpsearch.trainer import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def _train_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """[train] in the users' words: ``l2`` and ``lambd`` are kept as ``lambda``."""
    fields = trainer_fields()
    out: dict[str, Any] = {}
    own = "entrypoint" in raw
    for key, value in raw.items():
        if own and key in OWN_KEYS:
            out[key] = (
                check_entrypoint(value) if key == "entrypoint" else as_str(value, "train.code")
            )
            continue
        if own and field_name(key) not in fields:
            check_param_name(key, f"train.{key}")
        elif field_name(key) not in fields:
            raise ConfigError(
                f"train.{key}: unknown trainer setting "
                f"(expected one of {', '.join(sorted(fields))})",
                field=f"train.{key}",
            )
        name = user_name(key)
        if name == "seed":
            raise ConfigError(
                "train.seed: set [search] seed instead; each trial derives its own",
                field="train.seed",
            )
        if name in out:
            raise ConfigError(
                f"train.{key}: given twice (an alias and its name?)", field=f"train.{key}"
            )
        out[name] = value.copy() if isinstance(value, list) else value
    check_train_values(out, "train")
    return out


def check_train_values(values: dict[str, Any], prefix: str) -> None:
    """Let the trainer's own checks judge settings in users' words, naming the key it refuses."""
    from hpsearch.trainer import TrainConfig, TrainerInputError

    fields = trainer_fields()  # with an entrypoint, the others are its own: it judges them
    plain = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in trainer_settings(values).items()
        if k in fields
    }
    try:
        TrainConfig.from_dict(plain)
    except TrainerInputError as e:
        message = str(e)
        concerned = getattr(e, "field", None)
        key = f"{prefix}.{user_name(concerned)}" if concerned and "." not in prefix else prefix
        raise ConfigError(
            f"{prefix}: {message}" if prefix not in message else message, field=key
        ) from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix}: {e}", field=prefix) from None


# --- the whole -----------------------------------------------------------------------------------


def _check_coherent(config: SearchConfig) -> None:
    from hpsearch.trainer import EPOCH_METRICS  # known every epoch, so a pruner can watch them

    s = config.search
    if config.data.folds and "entrypoint" in config.train:
        raise ConfigError(
            "data.folds: not available with train.entrypoint (your own model)", field="data.folds"
        )
    if config.multi_objective:
        if s.pruner != "none":
            raise ConfigError(
                'search.pruner: pruning needs a single objective; set pruner = "none" '
                "for a multi-objective search",
                field="search.pruner",
            )
        for key in ("target", "patience_trials"):
            if getattr(s, key) not in (None, 0) or (key == "target" and s.target is not None):
                raise ConfigError(
                    f"search.{key}: stops on the best objective, so it needs a single objective "
                    f"(this search has {len(s.objectives)})",
                    field=f"search.{key}",
                )
        if s.sampler == "cmaes":
            raise ConfigError(
                "search.sampler: cmaes supports a single objective only", field="search.sampler"
            )
    check_sampler(config.constraints, s.sampler)
    if "entrypoint" in config.train and any(c.metric == "predict_ms" for c in config.constraints):
        raise ConfigError(
            "search.constraints: predict_ms is measured on hpsearch's own networks only, not "
            "with train.entrypoint (your own model); constrain n_params or train_seconds",
            field="search.constraints",
        )
    if s.pruner != "none" and s.objectives[0] not in EPOCH_METRICS:
        raise ConfigError(
            f"search.objective: pruning watches the objective every epoch, and "
            f'{s.objectives[0]} is only known at the end; use pruner = "none"',
            field="search.objective",
        )
    _check_seeding(config)
    if s.sampler == "grid":
        for p in config.space:
            if (p.kind == "float" and p.step is None) or p.one_minus_log:
                raise ConfigError(
                    f"space.{p.name}: the grid sampler needs choices or a step",
                    field=f"space.{p.name}",
                )
    # A sample at the low end of every range must make a valid trainer config, and so must each
    # range's high end and each choice (the other searched values held at their low end).
    probe = dict(config.train)
    for p in config.space:
        probe[p.name] = p.choices[0] if p.kind == "categorical" else p.low
    check_train_values(probe, "space")
    for p in config.space:
        for value in p.choices[1:] if p.kind == "categorical" else (p.high,):
            check_train_values(probe | {p.name: value}, f"space.{p.name}")


def _check_seeding(config: SearchConfig) -> None:
    """Warm starts and enqueued configurations need a sampler that takes them."""
    s = config.search
    if s.warm_start is not None and s.name in s.warm_start.sources:
        raise ConfigError(
            f"search.warm_start.from: {s.name!r} is this search (resume continues it)",
            field="search.warm_start.from",
        )
    if s.sampler == "grid" and (s.warm_start is not None or config.enqueue):
        key = "search.warm_start" if s.warm_start is not None else "enqueue"
        raise ConfigError(
            f"{key}: the grid sampler runs its own grid and learns from no earlier trial; "
            "use another sampler to seed a search",
            field=key,
        )
