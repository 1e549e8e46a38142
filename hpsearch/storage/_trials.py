"""The trial writes: start (or restart) a trial row, the attempt fence, finish, epoch upsert.

Each function runs inside the caller's transaction; :class:`hpsearch.storage.Storage` wraps them.
Every write of a running trial is fenced by its ``attempt``: a write of an older attempt (a worker
that was given up on and retried elsewhere) changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from hpsearch.storage._convert import set_trial_floats, trial_floats, utc
from hpsearch.storage._errors import TrialNotFoundError
from hpsearch.storage._floats import encode_list, finite_or_none
from hpsearch.storage._models import (
    EPOCH_FLOATS,
    TRIAL_FLOATS,
    EpochRow,
    FailReason,
    FoldRow,
    TrialParamRow,
    TrialRow,
    TrialState,
)
from hpsearch.storage._records import FoldRecord, TrialOutcome, TrialStart

log = logging.getLogger("hpsearch.storage")

# the columns a finished attempt filled in, cleared when the trial starts again
RESULT_FIELDS = (
    *TRIAL_FLOATS,
    "epochs_run",
    "n_params",
    "feasible",
    "constraint_values",
    "diagnosis",
    "fail_reason",
    "error_text",
    "diverged_epoch",
    "objective",
    "objective_values",
    "finished_at",
    "nonfinite",
)
# TrialOutcome's fields are named as the trial columns they fill (state, values and fail_reason
# are converted on the way)
_OUTCOME_COLUMNS = tuple(
    f.name for f in fields(TrialOutcome) if f.name not in ("state", "values", "fail_reason")
)
OUTCOME_FLOATS = tuple(n for n in _OUTCOME_COLUMNS if n in TRIAL_FLOATS)
OUTCOME_OTHERS = tuple(n for n in _OUTCOME_COLUMNS if n not in TRIAL_FLOATS)


def for_update(stmt: Select[Any]) -> Select[Any]:
    """Row locks on PostgreSQL; SQLite ignores FOR UPDATE (its writes are serialised anyway)."""
    return stmt.with_for_update()


def fence(s: Session, trial_id: int, attempt: int | None, *, action: str) -> bool:
    """Lock the trial's row and check the attempt fence: True when ``attempt`` is the stored
    attempt (or None: no fence), False (logged) for a stale one.

    Raises:
        TrialNotFoundError: no such trial.
    """
    stored = s.scalar(for_update(select(TrialRow.attempt).where(TrialRow.id == trial_id)))
    if stored is None:
        raise TrialNotFoundError(f"no trial with id {trial_id}")
    if attempt is not None and attempt != stored:
        log.info("%s of trial %s attempt %s ignored (now %s)", action, trial_id, attempt, stored)
        return False
    return True


def start(
    s: Session,
    search_id: int,
    number: int,
    *,
    attempt: int,
    params: dict[str, Any],
    param_rows: Sequence[Mapping[str, Any]],
    details: Mapping[str, Any],
    now: datetime,
) -> int:
    """Insert trial ``number``, or reset its row for a new attempt (results and, for another
    attempt, epochs cleared); a stale attempt changes nothing. Returns the trial's id."""
    row = s.scalar(
        for_update(
            select(TrialRow).where(TrialRow.search_id == search_id, TrialRow.number == number)
        )
    )
    if row is not None and attempt < row.attempt:
        log.info("trial %s attempt %s is stale (stored %s)", number, attempt, row.attempt)
        return row.id
    if row is None:
        row = TrialRow(search_id=search_id, number=number)
        s.add(row)
    else:
        if attempt != row.attempt:
            s.execute(delete(EpochRow.__table__).where(EpochRow.trial_id == row.id))
        for name in RESULT_FIELDS:
            setattr(row, name, None)
        s.execute(delete(TrialParamRow.__table__).where(TrialParamRow.trial_id == row.id))
    row.state, row.attempt, row.params, row.started_at = TrialState.RUNNING, attempt, params, now
    for name, value in details.items():
        setattr(row, name, value)
    s.flush()
    if param_rows:
        s.execute(TrialParamRow.__table__.insert(), [{"trial_id": row.id, **p} for p in param_rows])
    return row.id


def start_details(start: TrialStart | None, *, seed: int | None = None) -> dict[str, Any]:
    """Column values for where and how a trial runs (non-finite timings dropped)."""
    start = start or TrialStart()
    return {
        "seed": seed,
        "node_id": start.node_id,
        "worker_id": start.worker_id,
        "queue_s": finite_or_none(start.queue_s),
        "startup_s": finite_or_none(start.startup_s),
        "environment": dict(start.environment) if start.environment is not None else None,
        "dataset_hash": start.dataset_hash,
    }


def record_start(s: Session, trial_id: int, attempt: int, details: Mapping[str, Any]) -> bool:
    """Set the ``details`` that are not None on a fenced trial; False for a stale attempt.

    Raises:
        TrialNotFoundError: no such trial.
    """
    if not fence(s, trial_id, attempt, action="start details"):
        return False
    row = s.get_one(TrialRow, trial_id)
    for name, value in details.items():
        if value is not None:
            setattr(row, name, value)
    return True


def check_outcome(outcome: TrialOutcome) -> tuple[TrialState, FailReason | None]:
    """The outcome's state and fail reason as enums.

    Raises:
        ValueError: the state is RUNNING or unknown, or the fail reason is unknown.
    """
    state = TrialState(outcome.state)
    if not state.is_finished():
        raise ValueError("The value of `state` should be complete, pruned or failed.")
    reason = FailReason(outcome.fail_reason) if outcome.fail_reason is not None else None
    return state, reason


def finish(row: TrialRow, outcome: TrialOutcome, now: datetime) -> None:
    """Write ``outcome`` into a fenced trial row; None fields keep the stored values and
    ``duration_s`` (when not stored yet) is ``now`` minus the start, on the database clock."""
    state, reason = check_outcome(outcome)
    floats = trial_floats(row)
    for name in OUTCOME_FLOATS:
        value = getattr(outcome, name)
        if value is not None:
            floats[name] = value
    started = utc(row.started_at)
    if floats.get("duration_s") is None and started is not None:
        floats["duration_s"] = (now - started).total_seconds()
    set_trial_floats(row, floats)
    others: dict[str, Any] = {name: getattr(outcome, name) for name in OUTCOME_OTHERS}
    others["fail_reason"] = reason
    if outcome.constraint_values is not None:  # NaN/inf kept as in objective_values
        others["constraint_values"] = encode_list(outcome.constraint_values)
    for name, value in others.items():
        if value is not None:
            setattr(row, name, value)
    row.state, row.finished_at = state, now
    if outcome.values:
        row.objective_values = encode_list(outcome.values)
        row.objective = finite_or_none(outcome.values[0])


def write_folds(s: Session, trial_id: int, folds: Sequence[FoldRecord]) -> None:
    """Replace a trial's ``hps_trial_folds`` rows by ``folds`` (non-finite floats as NULL)."""
    s.execute(delete(FoldRow).where(FoldRow.trial_id == trial_id))
    for f in folds:
        s.add(
            FoldRow(
                trial_id=trial_id,
                fold=f.fold,
                epochs_run=f.epochs_run,
                **{
                    n: finite_or_none(getattr(f, n))
                    for n in ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")
                },
            )
        )


def epoch_upsert(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The dialect's INSERT ... ON CONFLICT (trial_id, epoch) DO UPDATE, compiled once by
    SQLAlchemy Core, for the driver's executemany (no per-row bind processing: the values are
    plain floats, ints and strings already). Returns (SQL, parameter order if positional)."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    stmt = insert(EpochRow.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["trial_id", "epoch"],
        set_={c: stmt.excluded[c] for c in (*EPOCH_FLOATS, "nonfinite")},
    )
    compiled = stmt.compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional else None
    return str(compiled), order
