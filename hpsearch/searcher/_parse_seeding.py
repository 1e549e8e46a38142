"""Parsing what seeds a search: ``[search] warm_start`` and the ``[[enqueue]]`` tables.

``warm_start = { from = ["digits-quick"], top = 10 }`` names earlier searches in the same
database (read at run start by :mod:`._seeding`); ``[[enqueue]]`` tables are configurations in
the users' words, evaluated first and exactly as given, then the sampler takes over. Each value
of an enqueued configuration is checked against the [space] here (``enqueue[2].learning_rate:
0.5 is outside the space ...``), so ``validate`` refuses it; ``enqueue[i]`` counts from 0, as
trials do (``enqueue[0]`` of a new search runs as trial 0). Loads neither Ray nor Optuna.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.searcher._definition import ConfigError, ParamSpec, WarmStart
from hpsearch.searcher._names import check_search_name, field_name, user_name
from hpsearch.searcher._values import as_int, check_keys, kind_of

_WARM_KEYS = {"from", "top", "ignore_fixed"}
PER_LAYER_NOTE = "one value per hidden layer"


def parse_warm_start(raw: Any) -> WarmStart:
    """``warm_start`` as written: a table ``{ from = [...], top = N, ignore_fixed = [...] }``,
    or only the names (``warm_start = "digits-quick"`` or a list of names)."""
    where = "search.warm_start"
    if isinstance(raw, str | list):
        raw = {"from": raw}
    if not isinstance(raw, dict):
        raise ConfigError(
            f'{where}: expected a table like {{ from = ["digits-quick"], top = 10 }}, '
            f"got {kind_of(raw)}",
            field=where,
        )
    check_keys(raw, _WARM_KEYS, f"{where}.")
    names = raw.get("from")
    at = f"{where}.from"
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names:
        raise ConfigError(f"{at}: expected a list of search names", field=at)
    sources: list[str] = []
    for n in names:
        name = check_search_name(n, field=at)
        if name not in sources:
            sources.append(name)
    top = as_int(raw.get("top", 0), f"{where}.top", minimum=0)
    ignore = raw.get("ignore_fixed", [])
    at = f"{where}.ignore_fixed"
    if not isinstance(ignore, list) or not all(isinstance(k, str) for k in ignore):
        raise ConfigError(f"{at}: expected a list of trainer settings", field=at)
    fields = _trainer_fields()
    for k in ignore:
        if field_name(k) not in fields:
            raise ConfigError(
                f"{at}: {k!r} is not a trainer setting (expected some of "
                f"{', '.join(sorted(fields))})",
                field=at,
            )
    return WarmStart(tuple(sources), top, tuple(dict.fromkeys(user_name(k) for k in ignore)))


def _trainer_fields() -> set[str]:
    import dataclasses

    from hpsearch.trainer import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


# --- [[enqueue]] ----------------------------------------------------------------------------------


def parse_enqueue(
    raw: Any, train: dict[str, Any], space: Sequence[ParamSpec], *, first: int = 0
) -> tuple[dict[str, Any], ...]:
    """The ``[[enqueue]]`` tables, each checked against ``space`` (users' words, values in their
    kinds: an int parameter's value an int, a per-layer one a list). ``first``: the index of the
    first table (tables from ``--enqueue FILE`` follow the definition's)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(
            f"enqueue: expected [[enqueue]] tables (a list of tables), got {kind_of(raw)}",
            field="enqueue",
        )
    return tuple(_one(table, train, space, f"enqueue[{first + i}]") for i, table in enumerate(raw))


def _one(
    table: Any, train: dict[str, Any], space: Sequence[ParamSpec], where: str
) -> dict[str, Any]:
    from hpsearch.searcher._parse import check_train_values

    if not isinstance(table, dict) or not table:
        raise ConfigError(
            f"{where}: expected a table of searched settings, like learning_rate = 0.01",
            field=where,
        )
    specs = {p.name: p for p in space}
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = user_name(key)
        if name not in specs:
            expected = ", ".join(sorted(specs)) or "none: [space] is empty"
            raise ConfigError(
                f"{where}.{key}: not a searched setting (expected one of {expected})",
                field=f"{where}.{key}",
            )
        if name in out:
            raise ConfigError(f"{where}.{key}: given twice (an alias and its name?)", field=where)
        out[name] = value
    layers = _layers(out, train, specs, where)
    for name, value in list(out.items()):
        spec, at = specs[name], f"{where}.{name}"
        if spec.per_layer:
            values = value if isinstance(value, list) else [value] * layers
            if len(values) != layers:
                raise ConfigError(
                    f"{at}: expected {PER_LAYER_NOTE} ({layers}), got {len(values)} values",
                    field=at,
                )
            out[name] = [_checked(spec, v, at) for v in values]
        else:
            out[name] = _checked(spec, value, at)
    check_train_values(dict(train) | out, where)
    return out


def _layers(
    given: dict[str, Any], train: dict[str, Any], specs: dict[str, ParamSpec], where: str
) -> int:
    """The hidden layers of an enqueued configuration: its own value if layers is searched."""
    if "layers" not in specs:
        return int(train.get("layers", 2))
    if "layers" in given:
        return int(_checked(specs["layers"], given["layers"], f"{where}.layers"))
    per_layer = next((n for n in given if specs[n].per_layer), None)
    if per_layer is not None:
        raise ConfigError(
            f"{where}.{per_layer}: has {PER_LAYER_NOTE}; give layers too (it is searched)",
            field=f"{where}.{per_layer}",
        )
    return 0


def _checked(spec: ParamSpec, value: Any, where: str) -> Any:
    try:
        return spec_value(spec, value)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}", field=where) from None


def spec_value(spec: ParamSpec, value: Any) -> Any:
    """``value`` as a point of ``spec``'s range or choices (an int kept an int, a float a float,
    a choice the choice itself).

    Raises:
        ValueError: the value is of another kind or outside the range (the text says which).
    """
    if spec.kind == "categorical":
        for c in spec.choices:
            same_kind = isinstance(c, bool) == isinstance(value, bool)
            if same_kind and type(c) is not str and type(value) is not str and c == value:
                return c
            if same_kind and isinstance(c, str) and c == value:
                return c
        shown = ", ".join(repr(c) for c in spec.choices)
        raise ValueError(f"{value!r} is not one of the choices ({shown})")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {kind_of(value)}")
    if spec.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        value = int(value)
    elif not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    assert spec.low is not None and spec.high is not None
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{value!r} is outside the space (expected {spec.low:g} to {spec.high:g})")
    if spec.step is not None:
        k = (value - spec.low) / spec.step
        if abs(k - round(k)) > 1e-8:
            raise ValueError(
                f"{value!r} is not on the space's grid (low {spec.low:g} plus a multiple of "
                f"step {spec.step:g})"
            )
    return float(value) if spec.kind == "float" else value


def read_enqueue_file(path: Path) -> list[Any]:
    """``--enqueue FILE``: a JSON list of tables, or TOML (or JSON) holding ``enqueue``, a list
    of tables (``[[enqueue]]`` as in a definition).

    Raises:
        ConfigError: field ``--enqueue``: the file is missing, unreadable or of another shape.
    """
    at = "--enqueue"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{at} {path}: cannot read: {getattr(e, 'strerror', e)}", field=at
        ) from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, RecursionError) as e:
        raise ConfigError(
            f"{at} {path}: not valid {path.suffix[1:] or 'TOML'}: {e}", field=at
        ) from None
    if isinstance(data, dict):
        data = data.get("enqueue")
    if not isinstance(data, list):
        raise ConfigError(
            f"{at} {path}: expected [[enqueue]] tables (TOML) or a list of objects (JSON)",
            field=at,
        )
    return data


def with_seeding(
    config: Any,
    *,
    warm_start: Sequence[str] | None = None,
    warm_start_top: int | None = None,
    enqueue: Path | None = None,
) -> Any:
    """``config`` (a ``SearchConfig``) with the command line's seeding: ``--warm-start NAME``
    (repeatable; replaces ``warm_start.from``), ``--warm-start-top N`` (replaces its ``top``),
    ``--enqueue FILE`` (its tables run after the definition's ``[[enqueue]]``).

    Raises:
        ConfigError: a bad name, number or file (naming the flag), an enqueued value outside
            the space (``enqueue[3].learning_rate``).
    """
    import dataclasses

    from hpsearch.searcher._parse import _check_coherent

    if warm_start_top is not None and not warm_start and config.search.warm_start is None:
        raise ConfigError(
            "--warm-start-top: needs --warm-start NAME or [search] warm_start",
            field="--warm-start-top",
        )
    if warm_start or warm_start_top is not None:
        given = config.search.warm_start.to_dict() if config.search.warm_start else {}
        if warm_start:
            given["from"] = [check_search_name(n, field="--warm-start") for n in warm_start]
        if warm_start_top is not None:
            given["top"] = as_int(warm_start_top, "--warm-start-top", minimum=0)
        config = config.with_overrides(warm_start=given)
    if enqueue is not None:
        tables = parse_enqueue(
            read_enqueue_file(enqueue), config.train, config.space, first=len(config.enqueue)
        )
        config = dataclasses.replace(config, enqueue=config.enqueue + tables)
        _check_coherent(config)
    return config


def seeding_note(config: Any) -> str | None:
    """``validate``'s line about what runs first and what the sampler learns from (None for
    neither): ``2 enqueued configurations run first (of 20 trials); warm start from
    digits-quick (its 10 best configurations run first), read from the database at run start``."""
    parts = []
    n = len(config.enqueue)
    if n:
        s = "s" * (n != 1)
        parts.append(f"{n} enqueued configuration{s} run first (of {config.search.trials} trials)")
    warm = config.search.warm_start
    if warm is not None:
        text = f"warm start from {', '.join(warm.sources)}"
        if warm.top:
            text += f" (its {warm.top} best configuration{'s' * (warm.top != 1)} run first)"
        parts.append(text + ", read from the database at run start")
    return "; ".join(parts) or None
