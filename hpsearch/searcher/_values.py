"""Checks of single values in a search definition; each names its key in the message and in
``ConfigError.field``."""

from __future__ import annotations

import math
import re
from typing import Any

from hpsearch.searcher._definition import ConfigError


def check_keys(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}{key}"
            raise ConfigError(
                f"{where}: unknown key (expected one of {', '.join(sorted(allowed))})", field=where
            )


def kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def as_int(value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {kind_of(value)}", field=key)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value}", field=key)
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key}: expected an integer <= {maximum}, got {value}", field=key)
    return value


def as_number(
    value: Any, key: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected a number, got {kind_of(value)}", field=key)
    if not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value}", field=key)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected a number >= {minimum}, got {value}", field=key)
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key}: expected a number <= {maximum:g}, got {value:g}", field=key)
    return float(value)


def as_str(value: Any, key: str, *, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {kind_of(value)}", field=key)
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}", field=key)
    return value


_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([smhd]?)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def as_duration(value: Any, key: str) -> float:
    """Seconds > 0 from a number of seconds or a duration such as "90m", "2h", "1h30m", "45s"."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        parts = _DURATION_PART.findall(value)
        if "".join(a + b for a, b in parts) == re.sub(r"\s+", "", value):
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        shown = repr(value) if isinstance(value, str) else kind_of(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown = f"{value}"
        raise ConfigError(
            f'{key}: expected a duration like "90m", "2h" or seconds > 0, got {shown}', field=key
        )
    return seconds


def show_duration(seconds: float) -> str:
    """90 -> "90 s", 5400 -> "1.5 h"."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


# A definition is a few levels deep (section, key, table, list, list of units): far below this.
MAX_DEPTH = 32


def check_finite_tree(value: Any, key: str) -> None:
    """Every number under ``value`` is finite (NaN and infinities are refused where they are
    written, not where Optuna or the trainer would trip on them mid-search), and the tables and
    lists are at most ``MAX_DEPTH`` deep. Iterative, so no nesting can exhaust the stack.

    Raises ConfigError naming the key path (``search.sampler_options.prior_weight``).
    """
    stack: list[tuple[Any, str, str, int]] = [(value, key, key, 0)]
    while stack:
        node, where, field, depth = stack.pop()
        if depth > MAX_DEPTH:
            head = ".".join(field.split(".")[:2]) or "config"  # the key the nesting starts at
            raise ConfigError(f"{head}: nested more than {MAX_DEPTH} levels deep", field=head)
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{where}: expected a finite number, got {node}", field=field)
        children: list[tuple[Any, str, str, int]] = []
        if isinstance(node, dict):
            for k, v in node.items():
                sub = f"{field}.{k}" if field else str(k)
                children.append((v, f"{where}.{k}" if where else str(k), sub, depth + 1))
        elif isinstance(node, list | tuple):
            children = [(v, f"{where}[{i}]", field, depth + 1) for i, v in enumerate(node)]
        stack.extend(reversed(children))  # the first mistake in the file's order is named
