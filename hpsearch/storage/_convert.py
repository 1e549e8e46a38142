"""Row <-> record conversions: ORM rows to the plain records of :mod:`hpsearch.storage._records`,
inputs to column values (hyperparameter rows, epoch rows, NaN/inf-safe floats).

Storage knows only its own column names: an epoch is any object with the ``hps_epochs`` column
names as attributes, a hyperparameter is stored under the name it is given.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from numbers import Integral, Real
from typing import Any

from hpsearch.storage._floats import decode_floats, decode_list, encode_floats
from hpsearch.storage._models import (
    EPOCH_FLOATS,
    TRIAL_FLOATS,
    SearchRow,
    TrialRow,
)
from hpsearch.storage._records import (
    EpochRecord,
    LeaseHolder,
    SearchRecord,
    SearchSummary,
    TrialRecord,
)
from hpsearch.storage._url import scrub

log = logging.getLogger("hpsearch.storage")

SECRET_KEY_RE = re.compile(r"passw|secret|token|api[_-]?key|credential", re.IGNORECASE)
EPOCH_ATTRIBUTES = ("epoch", *EPOCH_FLOATS)


def utc(value: datetime | None) -> datetime | None:
    """``value`` as timezone-aware UTC (SQLite returns naive datetimes)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --- inputs -> column values -------------------------------------------------------------------


def strip_secrets(config: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of ``config`` without keys named like password/secret/token/api_key and
    with passwords masked inside URL strings."""
    dropped: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if SECRET_KEY_RE.search(str(k)):
                    dropped.append(f"{path}{k}")
                    continue
                out[str(k)] = clean(v, f"{path}{k}.")
            return out
        if isinstance(value, list | tuple):
            return [clean(v, path) for v in value]
        if isinstance(value, str):
            return scrub(value, None) if "://" in value or "password=" in value else value
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        return str(value)

    out = clean(config, "")
    if dropped:
        log.warning("not storing secret config keys: %s", ", ".join(dropped))
    return out


def params_json(params: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's hyperparameters as stored in its JSON column.

    Raises:
        ValueError: a non-finite float value.
    """
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Real) and not isinstance(value, Integral) and not math.isfinite(value):
            raise ValueError(f"hyperparameter {name!r} should be finite, got {value}")
        out[str(name)] = json.loads(json.dumps(_plain(value)))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def param_row(name: str, value: Any) -> dict[str, Any]:
    """One ``hps_trial_params`` row (without ``trial_id``): kind plus float and/or text value."""
    value = _plain(value)
    row: dict[str, Any] = {"name": str(name), "value_float": None, "value_text": None}
    if value is None:
        row["kind"] = "none"
    elif isinstance(value, bool):
        row.update(kind="bool", value_float=float(value), value_text=str(value).lower())
    elif isinstance(value, int):
        row.update(kind="int", value_float=float(value))
    elif isinstance(value, float):
        row.update(kind="float", value_float=value)
    elif isinstance(value, str):
        row.update(kind="str", value_text=value)
    else:
        row.update(kind="json", value_text=json.dumps(value))
    return row


def epoch_rows(trial_id: int, epochs: Iterable[Any]) -> list[dict[str, Any]]:
    """``hps_epochs`` rows for objects with the column names as attributes (an EpochRecord, or
    any object with the same attribute names); NaN/inf go to ``nonfinite``.

    Raises:
        TypeError: an epoch lacks one of the attributes.
    """
    try:
        return [_epoch_row(trial_id, e) for e in epochs]
    except AttributeError as e:
        raise TypeError(
            f"each epoch should have the attributes {', '.join(EPOCH_ATTRIBUTES)} (an "
            f"EpochRecord, or any object with those attributes): {e}"
        ) from e


def _epoch_row(trial_id: int, epoch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trial_id": trial_id, "epoch": int(epoch.epoch), "nonfinite": None}
    marks: list[str] = []
    for name in EPOCH_FLOATS:  # a getattr loop: faster than attrgetter + zip (measured)
        value = getattr(epoch, name)
        if value is not None:
            value = float(value)
            if value - value != 0.0:  # NaN or +/-inf, without a function call per value
                marks.append(f"{name}={_kind(value)}")
                value = None
        out[name] = value
    if marks:
        out["nonfinite"] = ",".join(marks)
    return out


def _kind(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def trial_floats(row: TrialRow) -> dict[str, float | None]:
    """The trial's float columns with NaN/inf restored from ``nonfinite``."""
    return decode_floats({n: getattr(row, n) for n in TRIAL_FLOATS}, row.nonfinite)


def set_trial_floats(row: TrialRow, floats: Mapping[str, float | None]) -> None:
    """Set every float column of the trial and its ``nonfinite`` marker (NaN/inf kept)."""
    columns, row.nonfinite = encode_floats(floats, TRIAL_FLOATS)
    for name, value in columns.items():
        setattr(row, name, value)


# --- rows -> records ---------------------------------------------------------------------------


def search_record(row: SearchRow) -> SearchRecord:
    """The plain record of a search row."""
    holder = LeaseHolder(row.lease_host, row.lease_pid) if row.lease_host else None
    return SearchRecord(
        id=row.id,
        name=row.name,
        status=row.status,
        created_at=utc(row.created_at),
        finished_at=utc(row.finished_at),
        config=dict(row.config),
        objectives=tuple(row.objectives),
        directions=tuple(row.directions),
        sampler=row.sampler,
        pruner=row.pruner,
        seed=row.seed,
        dataset=row.dataset,
        hpsearch_version=row.hpsearch_version,
        lease_holder=holder if holder and row.lease_pid is not None else None,
        lease_heartbeat_at=utc(row.lease_heartbeat_at),
        lease_expires_at=utc(row.lease_expires_at),
        stop_reason=row.stop_reason,
        seeded_from=dict(row.seeded_from) if row.seeded_from else None,
    )


def search_summary(row: SearchRow, counts: tuple[Any, ...]) -> SearchSummary:
    """A search with (n, complete, pruned, failed, running, min, max objective, last finish,
    infeasible)."""
    n, n_ok, n_pruned, n_failed, n_run, lo, hi, last, n_infeasible = counts
    created = utc(row.created_at)
    end = utc(row.finished_at) or utc(last)
    return SearchSummary(
        id=row.id,
        name=row.name,
        status=row.status,
        created_at=created,
        finished_at=utc(row.finished_at),
        directions=tuple(row.directions),
        n_trials=int(n),
        n_complete=int(n_ok),
        n_pruned=int(n_pruned),
        n_failed=int(n_failed),
        n_running=int(n_run),
        best_value=lo if row.directions[0] == "minimize" else hi,
        duration_s=(end - created).total_seconds() if end and created else None,
        dataset=row.dataset,
        stop_reason=row.stop_reason,
        n_infeasible=int(n_infeasible),
        seeded_from=dict(row.seeded_from) if row.seeded_from else None,
    )


def trial_record(row: TrialRow) -> TrialRecord:
    """The plain record of a trial row (NaN/inf restored)."""
    floats = trial_floats(row)
    return TrialRecord(
        id=row.id,
        search_id=row.search_id,
        number=row.number,
        state=row.state,
        attempt=row.attempt,
        params=dict(row.params or {}),
        seed=row.seed,
        started_at=utc(row.started_at),
        finished_at=utc(row.finished_at),
        epochs_run=row.epochs_run,
        values=decode_list(row.objective_values),
        n_params=row.n_params,
        feasible=row.feasible,
        constraint_values=(
            decode_list(row.constraint_values) if row.constraint_values is not None else None
        ),
        diagnosis=row.diagnosis,
        fail_reason=row.fail_reason,
        error_text=row.error_text,
        diverged_epoch=row.diverged_epoch,
        node_id=row.node_id,
        worker_id=row.worker_id,
        environment=dict(row.environment) if row.environment is not None else None,
        dataset_hash=row.dataset_hash,
        **floats,
    )


def epoch_record(mapping: Mapping[str, Any]) -> EpochRecord:
    """The plain record of an ``hps_epochs`` row (a Core row's mapping)."""
    floats = decode_floats({n: mapping[n] for n in EPOCH_FLOATS}, mapping["nonfinite"])
    return EpochRecord(epoch=mapping["epoch"], **floats)
