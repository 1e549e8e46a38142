"""Parsing the [space] section: each searched setting, named in the users' words.

A key may be any word a user writes for a trainer setting (``lambda``, ``l2``, ``lambd``); the
parameter keeps the users' word for it (``lambda``), so Optuna's parameter names and the stored
trial params say ``lambda`` too.
"""

from __future__ import annotations

from typing import Any

from hpsearch.searcher._definition import PER_LAYER, ConfigError, ParamSpec
from hpsearch.searcher._entrypoint import check_param_name
from hpsearch.searcher._names import field_name, user_name
from hpsearch.searcher._values import as_int, as_number, as_str, check_keys, kind_of

_SPEC_KEYS = {"type", "low", "high", "log", "step", "choices", "one_minus_log", "per_layer"}


def parse_space(
    raw: dict[str, Any], fields: set[str], *, own: bool = False
) -> tuple[ParamSpec, ...]:
    """[space] -> one :class:`ParamSpec` per searched setting; ``fields`` are the trainer's.
    ``own``: a [train] entrypoint's search, where other names are the user's own settings."""
    specs: list[ParamSpec] = []
    for key, value in raw.items():
        name = user_name(key)
        where = f"space.{key}"
        if name == "seed":
            raise ConfigError(
                f"{where}: set [search] seed instead; each trial derives its own", field=where
            )
        if field_name(key) not in fields and not own:
            raise ConfigError(f"{where}: unknown trainer setting to search", field=where)
        if field_name(key) not in fields:
            check_param_name(key, where)
        if isinstance(value, list):  # shorthand: a list is a categorical choice
            value = {"type": "categorical", "choices": value}
        if not isinstance(value, dict):
            raise ConfigError(
                f'{where}: expected a table like {{ type = "float", low = 0.0, high = 1.0 }} '
                f"or a list of choices, got {kind_of(value)}",
                field=where,
            )
        specs.append(_param_spec(name, value, where))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(
            f"space.{dup}: given twice (an alias and its name?)", field=f"space.{dup}"
        )
    for counted in ("units", "filters"):
        spec = next((p for p in specs if p.name == counted), None)
        if (
            spec is not None
            and spec.kind == "categorical"
            and any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in spec.choices)
        ):
            at = f"space.{counted}.choices"
            raise ConfigError(f"{at}: expected positive integers", field=at)
    return tuple(specs)


def _param_spec(name: str, raw: dict[str, Any], where: str) -> ParamSpec:
    check_keys(raw, _SPEC_KEYS, f"{where}.")
    kind = as_str(raw.get("type", ""), f"{where}.type", choices=("float", "int", "categorical"))
    per_layer = bool(raw.get("per_layer", False))
    if "per_layer" in raw and not isinstance(raw["per_layer"], bool):
        raise ConfigError(f"{where}.per_layer: expected true or false", field=f"{where}.per_layer")
    if per_layer and name not in PER_LAYER:
        raise ConfigError(
            f"{where}.per_layer: only units and dropout (per hidden layer) and filters "
            "(per conv block) can vary per layer",
            field=f"{where}.per_layer",
        )
    if kind == "categorical":
        return _categorical(name, raw, where, per_layer=per_layer)
    if "choices" in raw:
        raise ConfigError(
            f'{where}.choices: only used with type = "categorical"', field=f"{where}.choices"
        )
    for bound in ("low", "high"):
        if bound not in raw:
            raise ConfigError(f"{where}.{bound}: missing", field=f"{where}.{bound}")
    if kind == "int":
        low: float = as_int(raw["low"], f"{where}.low")
        high: float = as_int(raw["high"], f"{where}.high")
    else:
        low = as_number(raw["low"], f"{where}.low")
        high = as_number(raw["high"], f"{where}.high")
    if low >= high:
        raise ConfigError(f"{where}: expected low < high, got low={low} high={high}", field=where)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(
            f"{where}.log: expected true or false, got {kind_of(log)}", field=f"{where}.log"
        )
    one_minus_log = raw.get("one_minus_log", False)
    if not isinstance(one_minus_log, bool):
        raise ConfigError(
            f"{where}.one_minus_log: expected true or false", field=f"{where}.one_minus_log"
        )
    step = _step(raw.get("step"), kind, where, log=log)
    if log and low <= 0:
        raise ConfigError(
            f"{where}.low: expected a value > 0 with log = true, got {low}", field=f"{where}.low"
        )
    if one_minus_log:
        _check_one_minus_log(kind, where, low, high, log=log, step=step)
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


def _categorical(name: str, raw: dict[str, Any], where: str, *, per_layer: bool) -> ParamSpec:
    for extra in ("low", "high", "log", "step", "one_minus_log"):
        if extra in raw:
            raise ConfigError(
                f'{where}.{extra}: not used with type = "categorical"', field=f"{where}.{extra}"
            )
    choices = raw.get("choices")
    at = f"{where}.choices"
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{at}: expected a non-empty list", field=at)
    for c in choices:
        if not isinstance(c, bool | int | float | str):
            raise ConfigError(f"{at}: expected numbers, strings or booleans", field=at)
    if len({repr(c) for c in choices}) != len(choices):
        raise ConfigError(f"{at}: a choice is listed twice", field=at)
    return ParamSpec(name=name, kind="categorical", choices=tuple(choices), per_layer=per_layer)


def _step(step: Any, kind: str, where: str, *, log: bool) -> float | None:
    if step is None:
        return None
    at = f"{where}.step"
    step = as_int(step, at, minimum=1) if kind == "int" else as_number(step, at)
    if step <= 0:
        raise ConfigError(f"{at}: expected a number > 0, got {step}", field=at)
    if log:
        raise ConfigError(f"{at}: cannot be combined with log = true", field=at)
    return step


def _check_one_minus_log(
    kind: str, where: str, low: float, high: float, *, log: bool, step: float | None
) -> None:
    at = f"{where}.one_minus_log"
    if kind != "float":
        raise ConfigError(f'{at}: only for type = "float"', field=at)
    if log or step is not None:
        raise ConfigError(f"{at}: cannot be combined with log or step", field=at)
    if not (0 <= low < high < 1):
        raise ConfigError(
            f"{where}: one_minus_log needs 0 <= low < high < 1, got low={low} high={high}",
            field=where,
        )
