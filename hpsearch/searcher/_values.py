"""Checks of single values in a search definition; each names its key in the message and in
``ConfigError.field``."""

from __future__ import annotations

import math
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


def as_int(value: Any, key: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {kind_of(value)}", field=key)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected an integer >= {minimum}, got {value}", field=key)
    return value


def as_number(value: Any, key: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected a number, got {kind_of(value)}", field=key)
    if not math.isfinite(value):
        raise ConfigError(f"{key}: expected a finite number, got {value}", field=key)
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}: expected a number >= {minimum}, got {value}", field=key)
    return float(value)


def as_str(value: Any, key: str, *, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {kind_of(value)}", field=key)
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}, got {value!r}", field=key)
    return value
