"""Filters and sort keys for trial listings, parsed from text and turned into bound SQL.

A filter is ``NAME OP VALUE``: ``dropout > 0.3``, ``optimizer = adam``, ``state != pruned``,
``batch_norm = true``, ``diagnosis = 'high variance'``. NAME is a trial column (``dev_accuracy``,
``value``, ``epochs_run`` ...) or a hyperparameter of the search; OP is one of
``= == != <> < <= > >=``; VALUE is a number, ``true``/``false``, a bare word or a quoted string.
A sort key is ``NAME``, ``NAME:asc``, ``NAME:desc`` or ``-NAME`` (descending).

Parsing (:func:`parse_filter`, :func:`parse_sort`) is pure text; :func:`trial_query` then checks the
names against the search's known columns and hyperparameters and builds a SQLAlchemy ``select``
in which every value is a bound parameter. Nothing the user types is ever pasted into SQL: names
only select from a fixed table of columns, values only travel as parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, select

from hpsearch.errors import UserInputError
from hpsearch.storage._models import TrialParamRow, TrialRow, TrialState
from hpsearch.storage._reads import by_objective

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_OP_ALIASES = {"==": "=", "<>": "!="}
MAX_FILTER_CHARS = 200

# Trial columns a filter or sort may name: (column, kind). "value" is the first objective.
NUMERIC = "number"
TEXT = "text"
BOOL = "bool"
TRIAL_COLUMNS: dict[str, tuple[Any, str]] = {
    "number": (TrialRow.number, NUMERIC),
    "value": (TrialRow.objective, NUMERIC),
    "objective": (TrialRow.objective, NUMERIC),
    "state": (TrialRow.state, TEXT),
    "attempt": (TrialRow.attempt, NUMERIC),
    "seed": (TrialRow.seed, NUMERIC),
    "epochs_run": (TrialRow.epochs_run, NUMERIC),
    "n_params": (TrialRow.n_params, NUMERIC),
    "predict_ms": (TrialRow.predict_ms, NUMERIC),
    "feasible": (TrialRow.feasible, BOOL),
    "train_loss": (TrialRow.train_loss, NUMERIC),
    "train_accuracy": (TrialRow.train_accuracy, NUMERIC),
    "dev_loss": (TrialRow.dev_loss, NUMERIC),
    "dev_accuracy": (TrialRow.dev_accuracy, NUMERIC),
    "dev_loss_std": (TrialRow.dev_loss_std, NUMERIC),
    "dev_accuracy_std": (TrialRow.dev_accuracy_std, NUMERIC),
    "test_loss": (TrialRow.test_loss, NUMERIC),
    "test_accuracy": (TrialRow.test_accuracy, NUMERIC),
    "avoidable_bias": (TrialRow.avoidable_bias, NUMERIC),
    "variance": (TrialRow.variance, NUMERIC),
    "diagnosis": (TrialRow.diagnosis, TEXT),
    "fail_reason": (TrialRow.fail_reason, TEXT),
    "duration_s": (TrialRow.duration_s, NUMERIC),
    "queue_s": (TrialRow.queue_s, NUMERIC),
    "startup_s": (TrialRow.startup_s, NUMERIC),
    "train_s": (TrialRow.train_s, NUMERIC),
    "node_id": (TrialRow.node_id, TEXT),
    "worker_id": (TrialRow.worker_id, TEXT),
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*
        (?P<op>==|!=|<>|<=|>=|=|<|>)\s*
        (?:
            '(?P<sq>[^'\\]*)' | "(?P<dq>[^"\\]*)" |
            (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.])) |
            (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
        )
    )\s*$""",
    re.VERBOSE,
)


class QueryError(UserInputError):
    """A filter or sort key that cannot be used: the message says which and what was expected."""


@dataclass(frozen=True)
class Filter:
    """One parsed condition: ``name op value`` (value a float, bool or str)."""

    name: str
    op: str
    value: float | bool | str

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.value!r}"


@dataclass(frozen=True)
class SortKey:
    """A column or hyperparameter to sort by; ``descending`` puts large values first."""

    name: str
    descending: bool = False


def parse_filter(text: str) -> Filter:
    """``'dropout > 0.3'`` -> ``Filter('dropout', '>', 0.3)``.

    Raises:
        QueryError: anything but one ``NAME OP VALUE`` condition (the message quotes the text).
    """
    if not isinstance(text, str) or not text.strip():
        raise QueryError(
            "--where: expected a condition like 'dropout > 0.3', got an empty one", field="where"
        )
    if len(text) > MAX_FILTER_CHARS:
        raise QueryError(
            f"--where: condition longer than {MAX_FILTER_CHARS} characters", field="where"
        )
    match = _TOKEN.fullmatch(text)
    if match is None:
        raise QueryError(
            f"--where {text!r}: expected NAME OP VALUE, e.g. 'dropout > 0.3' or "
            f"'optimizer = adam' (OP one of {' '.join(OPERATORS)}; quote values with spaces)",
            field="where",
        )
    op = _OP_ALIASES.get(match["op"], match["op"])
    value: float | bool | str
    if match["num"] is not None:
        value = float(match["num"])
        if not math.isfinite(value):
            raise QueryError(f"--where {text!r}: expected a finite number", field="where")
    elif match["word"] is not None and match["word"].lower() in ("true", "false"):
        value = match["word"].lower() == "true"
    else:
        value = next(v for v in (match["sq"], match["dq"], match["word"]) if v is not None)
    return Filter(name=match["name"], op=op, value=value)


def parse_sort(text: str) -> SortKey:
    """``'dev_loss'``, ``'dev_loss:asc'``, ``'dev_accuracy:desc'`` or ``'-dev_accuracy'``.

    Raises:
        QueryError: not a name with an optional direction.
    """
    raw = (text or "").strip()
    descending = False
    if raw.startswith("-"):
        raw, descending = raw[1:], True
    name, sep, direction = raw.partition(":")
    if sep:
        if direction.lower() not in ("asc", "desc") or descending:
            raise QueryError(
                f"--sort {text!r}: expected NAME, NAME:asc, NAME:desc or -NAME", field="sort"
            )
        descending = direction.lower() == "desc"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise QueryError(f"--sort {text!r}: expected a column or hyperparameter name", field="sort")
    return SortKey(name=name, descending=descending)


def as_filters(where: Iterable[Filter | str]) -> list[Filter]:
    """Parse the strings among ``where``; Filters pass through."""
    return [w if isinstance(w, Filter) else parse_filter(w) for w in where]


def param_kinds_query(search_id: int) -> Select[Any]:
    """(name, kind) of every hyperparameter stored for a search's trials."""
    p = TrialParamRow
    return (
        select(p.name, p.kind)
        .join(TrialRow, TrialRow.id == p.trial_id)
        .where(TrialRow.search_id == search_id)
        .distinct()
    )


def param_kinds(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """name -> number | text | bool | json (a name stored with several kinds keeps the widest)."""
    out: dict[str, str] = {}
    for name, kind in rows:
        k = {"int": NUMERIC, "float": NUMERIC, "bool": "bool", "str": TEXT}.get(kind, kind)
        if k == "none":
            continue
        if name in out and out[name] != k:
            k = TEXT if {out[name], k} <= {NUMERIC, TEXT, "bool"} else "json"
        out[name] = k
    return out


def trial_query(
    search_id: int,
    direction: str,
    params: Mapping[str, str],
    *,
    where: Sequence[Filter] = (),
    sort: SortKey | None = None,
    states: Sequence[TrialState] | None = None,
    limit: int | None = None,
) -> Select[Any]:
    """The ``select(TrialRow)`` for a listing; ``params`` from :func:`param_kinds`.

    Without ``sort``: best objective first when ``limit`` is given (the "top K"), else by number.
    By the objective (the top K, or ``sort`` on ``value``/``objective``), ties come by dev_loss
    ascending, then trial number (:func:`~hpsearch.storage._reads.by_objective`).

    Raises:
        QueryError: an unknown name, or a value of the wrong kind for its column.
    """
    stmt = select(TrialRow).where(TrialRow.search_id == search_id)
    if states is not None:
        stmt = stmt.where(TrialRow.state.in_(list(states)))
    for f in where:
        stmt = stmt.where(_condition(f, params))
    if sort is None and limit is not None:
        stmt = stmt.order_by(*by_objective(direction))
    elif sort is None:
        stmt = stmt.order_by(TrialRow.number)
    elif sort.name in ("value", "objective"):
        stmt = stmt.order_by(*by_objective(direction, descending=sort.descending))
    else:
        col = _sort_column(sort.name, params)
        key = col.desc() if sort.descending else col.asc()
        stmt = stmt.order_by(key.nulls_last(), TrialRow.number)
    if limit is not None:
        if limit < 1:
            raise QueryError(f"--top: expected an integer >= 1, got {limit}", field="top")
        stmt = stmt.limit(limit)
    return stmt


def known_names(params: Mapping[str, str]) -> str:
    return ", ".join([*TRIAL_COLUMNS, *sorted(params)])


def _unknown(name: str, params: Mapping[str, str], flag: str) -> QueryError:
    return QueryError(
        f"{flag}: unknown column or hyperparameter {name!r} "
        f"(expected one of {known_names(params)})",
        field=flag.removeprefix("--"),
    )


def _compare(col: Any, op: str, value: Any) -> Any:
    return {
        "=": col == value,
        "!=": col != value,
        "<": col < value,
        "<=": col <= value,
        ">": col > value,
        ">=": col >= value,
    }[op]


def _condition(f: Filter, params: Mapping[str, str]) -> Any:
    if f.name in TRIAL_COLUMNS:
        col, kind = TRIAL_COLUMNS[f.name]
        if kind == BOOL:
            if not isinstance(f.value, bool) or f.op not in ("=", "!="):
                raise QueryError(
                    f"--where {f.name}: expected = true, = false or != (got {f.op} {f.value!r})",
                    field="where",
                )
            # NULL (a search without constraints) counts as feasible
            held = col.is_not(False) if f.value else col.is_(False)
            return held if f.op == "=" else ~held
        if kind == NUMERIC:
            if isinstance(f.value, str):
                raise QueryError(
                    f"--where {f.name}: expected a number, got {f.value!r}", field="where"
                )
            return _compare(col, f.op, float(f.value))
        value = str(f.value).lower() if isinstance(f.value, bool) else str(f.value)
        if f.name == "state":
            value = _state(value)
        if f.name == "fail_reason":
            from hpsearch.storage._models import FailReason

            try:
                value = FailReason(value.replace("_", " "))
            except ValueError:
                choices = ", ".join(r.value for r in FailReason)
                raise QueryError(
                    f"--where fail_reason: expected one of {choices}, got {value!r}", field="where"
                ) from None
        return _compare(col, f.op, value)
    kind = params.get(f.name)
    if kind is None:
        raise _unknown(f.name, params, "--where")
    p = TrialParamRow
    if kind in (NUMERIC, "bool"):
        if isinstance(f.value, str):
            raise QueryError(f"--where {f.name}: expected a number, got {f.value!r}", field="where")
        test = _compare(p.value_float, f.op, float(f.value))
    elif kind == TEXT:
        if f.op not in ("=", "!="):
            raise QueryError(
                f"--where {f.name}: a text hyperparameter takes = or !=, not {f.op}", field="where"
            )
        value = str(f.value).lower() if isinstance(f.value, bool) else _text(f.value)
        test = _compare(p.value_text, f.op, value)
    else:
        raise QueryError(
            f"--where {f.name}: holds lists (one value per layer); cannot filter it", field="where"
        )
    return exists().where(p.trial_id == TrialRow.id, p.name == f.name, test)


def _text(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _state(value: str) -> TrialState:
    try:
        return TrialState(value.lower())
    except ValueError:
        choices = ", ".join(s.value for s in TrialState)
        raise QueryError(
            f"--where state: expected one of {choices}, got {value!r}", field="where"
        ) from None


def _sort_column(name: str, params: Mapping[str, str]) -> Any:
    if name in TRIAL_COLUMNS:
        return TRIAL_COLUMNS[name][0]
    kind = params.get(name)
    if kind is None:
        raise _unknown(name, params, "--sort")
    p = TrialParamRow
    value = p.value_text if kind in (TEXT, "json") else p.value_float
    return (
        select(value)
        .where(p.trial_id == TrialRow.id, p.name == name)
        .correlate(TrialRow)
        .scalar_subquery()
    )


def parse_states(values: Iterable[TrialState | str]) -> list[TrialState]:
    """``['complete', 'pruned']`` (or one comma list, or TrialStates) -> TrialStates.

    Raises:
        QueryError: an unknown state (``field`` is ``state``).
    """
    out: list[TrialState] = []
    for v in values:
        if isinstance(v, TrialState):
            out.append(v)
            continue
        for part in filter(None, (x.strip() for x in v.split(","))):
            try:
                out.append(TrialState(part.lower()))
            except ValueError:
                choices = ", ".join(s.value for s in TrialState)
                raise QueryError(
                    f"--state: expected one of {choices}, got {part!r}", field="state"
                ) from None
    return out


__all__ = [
    "OPERATORS",
    "TRIAL_COLUMNS",
    "Filter",
    "QueryError",
    "SortKey",
    "as_filters",
    "param_kinds",
    "param_kinds_query",
    "parse_filter",
    "parse_sort",
    "parse_states",
    "trial_query",
]
