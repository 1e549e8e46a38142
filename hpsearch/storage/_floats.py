"""NaN/inf-safe float storage.

SQLite stores NaN as NULL and JSON has no NaN, so a non-finite value goes in its float column as
NULL and its real value is written in the row's ``nonfinite`` text column as ``name=nan``,
``name=inf`` or ``name=-inf`` (comma-separated; NULL when every value is finite or missing).
Lists of floats kept in JSON (multi-objective values) use the strings ``"nan"``, ``"inf"``,
``"-inf"`` in place of the number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _kind(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def encode_floats(
    values: Mapping[str, float | None], names: Iterable[str]
) -> tuple[dict[str, float | None], str | None]:
    """Columns for ``names`` (non-finite -> None) and the ``nonfinite`` marker text."""
    columns: dict[str, float | None] = {}
    marks: list[str] = []
    for name in names:
        value = values.get(name)
        if value is None:
            columns[name] = None
            continue
        value = float(value)
        if math.isfinite(value):
            columns[name] = value
        else:
            columns[name] = None
            marks.append(f"{name}={_kind(value)}")
    return columns, (",".join(marks) if marks else None)


def decode_floats(
    columns: Mapping[str, float | None], nonfinite: str | None
) -> dict[str, float | None]:
    """Inverse of :func:`encode_floats`."""
    out = {name: (None if value is None else float(value)) for name, value in columns.items()}
    if nonfinite:
        for mark in nonfinite.split(","):
            name, _, kind = mark.partition("=")
            out[name] = _SPECIAL[kind]
    return out


def encode_list(values: Iterable[float | None]) -> list[float | str | None]:
    """A list of floats as JSON-safe values (non-finite as strings)."""
    out: list[float | str | None] = []
    for value in values:
        if value is None:
            out.append(None)
        else:
            value = float(value)
            out.append(value if math.isfinite(value) else _kind(value))
    return out


def decode_list(values: Iterable[Any] | None) -> tuple[float | None, ...]:
    """Inverse of :func:`encode_list`."""
    if values is None:
        return ()
    return tuple(
        None if v is None else (_SPECIAL[v] if isinstance(v, str) else float(v)) for v in values
    )


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float when finite, else None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
