"""The ORM models (private: the public API passes plain dataclasses, never these objects).

Every table name starts with ``hps_`` so the tables can live beside Optuna's own (``studies``,
``trials``, ``alembic_version`` ...) in one database. Floats that may be NaN or +/-inf are stored
as NULL in their column plus an entry in the row's ``nonfinite`` text column (``"dev_loss=nan"``,
comma-separated), because SQLite turns NaN into NULL; see :mod:`hpsearch.storage._floats`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    DateTime,
    Double,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import FunctionElement

TABLE_PREFIX = "hps_"
VERSION_TABLE = "hps_alembic_version"


class SearchStatus(enum.StrEnum):
    """Lifecycle of a search."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    def is_finished(self) -> bool:
        """True when no driver is working on the search any more."""
        return self is not SearchStatus.RUNNING


class TrialState(enum.StrEnum):
    """Lifecycle of a trial (mirrors Optuna's RUNNING/COMPLETE/PRUNED/FAIL)."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"

    def is_finished(self) -> bool:
        """True for every state but RUNNING."""
        return self is not TrialState.RUNNING


class FailReason(enum.StrEnum):
    """Why a trial failed."""

    DIVERGED = "diverged"
    TIMEOUT = "timeout"
    WORKER_LOST = "worker lost"
    DRIVER_LOST = "driver lost"
    MEMORY = "memory"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # Ctrl-C: resume runs the trial again


class utcnow(FunctionElement):
    """The database's current time (UTC), with sub-second precision on SQLite too."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(utcnow)
def _utcnow_default(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utcnow, "sqlite")
def _utcnow_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


@compiles(utcnow, "postgresql")
def _utcnow_postgresql(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "statement_timestamp()"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # stored as the lower-case value ("complete"), readable from plain SQL; no native PG type
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


JsonType = JSON().with_variant(JSONB(), "postgresql")
Float = Annotated[float | None, mapped_column(Double)]
Timestamp = Annotated[datetime | None, mapped_column(DateTime(timezone=True))]
SmallText = Annotated[str | None, mapped_column(String(255))]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SearchRow(Base):
    __tablename__ = "hps_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[SearchStatus] = mapped_column(_enum(SearchStatus, "search_status"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[Timestamp]
    config: Mapped[dict[str, Any]] = mapped_column(JsonType)
    objectives: Mapped[list[str]] = mapped_column(JsonType)  # metric names
    directions: Mapped[list[str]] = mapped_column(JsonType)  # "minimize" | "maximize" each
    sampler: Mapped[SmallText]
    pruner: Mapped[SmallText]
    seed: Mapped[int | None]
    dataset: Mapped[SmallText]
    hpsearch_version: Mapped[str | None] = mapped_column(String(40))
    lease_host: Mapped[SmallText]
    lease_pid: Mapped[int | None]
    lease_heartbeat_at: Mapped[Timestamp]
    lease_expires_at: Mapped[Timestamp]
    lease_ttl_s: Mapped[Float]
    stop_reason: Mapped[str | None] = mapped_column(Text)  # why it stopped before its budget
    seeded_from: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # warm start, see 0005

    trials: Mapped[list[TrialRow]] = relationship(
        back_populates="search", cascade="all, delete-orphan", passive_deletes=True
    )


class TrialRow(Base):
    __tablename__ = "hps_trials"
    __table_args__ = (
        UniqueConstraint("search_id", "number"),
        # top-N by objective within a search, and counts by state
        Index("ix_hps_trials_search_state_objective", "search_id", "state", "objective"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("hps_searches.id", ondelete="CASCADE"))
    number: Mapped[int]
    state: Mapped[TrialState] = mapped_column(_enum(TrialState, "trial_state"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    seed: Mapped[int | None]
    started_at: Mapped[Timestamp]
    finished_at: Mapped[Timestamp]
    duration_s: Mapped[Float]
    epochs_run: Mapped[int | None]
    objective: Mapped[Float]  # first objective value, NULL unless finite
    objective_values: Mapped[list[Any] | None] = mapped_column(JsonType)  # encoded, see _floats
    train_loss: Mapped[Float]
    train_accuracy: Mapped[Float]
    dev_loss: Mapped[Float]
    dev_accuracy: Mapped[Float]
    dev_loss_std: Mapped[Float]  # with [data] folds: the spread over folds (mean in dev_loss)
    dev_accuracy_std: Mapped[Float]
    test_loss: Mapped[Float]
    test_accuracy: Mapped[Float]
    n_params: Mapped[int | None]
    diagnosis: Mapped[str | None] = mapped_column(String(64))
    avoidable_bias: Mapped[Float]
    variance: Mapped[Float]
    fail_reason: Mapped[FailReason | None] = mapped_column(_enum(FailReason, "fail_reason"))
    error_text: Mapped[str | None] = mapped_column(Text)
    diverged_epoch: Mapped[int | None]
    node_id: Mapped[SmallText]
    worker_id: Mapped[SmallText]
    queue_s: Mapped[Float]
    startup_s: Mapped[Float]
    train_s: Mapped[Float]
    report_s: Mapped[Float]
    environment: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    dataset_hash: Mapped[str | None] = mapped_column(String(128))
    nonfinite: Mapped[str | None] = mapped_column(String(255))
    predict_ms: Mapped[Float]  # ms to label 1,000 dev samples, one thread
    feasible: Mapped[bool | None]  # NULL without [search] constraints
    constraint_values: Mapped[list[Any] | None] = mapped_column(JsonType)  # <= 0 when it holds

    search: Mapped[SearchRow] = relationship(back_populates="trials")


class TrialParamRow(Base):
    """One hyperparameter of one trial, for plain-SQL queries (the JSON column has them too)."""

    __tablename__ = "hps_trial_params"
    __table_args__ = (Index("ix_hps_trial_params_name_value", "name", "value_float"),)

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("hps_trials.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value_float: Mapped[Float]  # numbers and booleans (0/1)
    value_text: Mapped[str | None] = mapped_column(Text)  # strings; JSON for lists; "nan"/"inf"
    kind: Mapped[str] = mapped_column(String(8))  # int | float | bool | str | none | json


class EpochRow(Base):
    """One epoch of one trial: the learning curve. Primary key (trial_id, epoch)."""

    __tablename__ = "hps_epochs"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("hps_trials.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(primary_key=True)
    train_loss: Mapped[Float]
    train_accuracy: Mapped[Float]
    dev_loss: Mapped[Float]
    dev_accuracy: Mapped[Float]
    epoch_s: Mapped[Float]
    elapsed_s: Mapped[Float]
    nonfinite: Mapped[str | None] = mapped_column(String(255))


class FoldRow(Base):
    """One fold of a cross-validated trial ([data] folds): its final metrics. Primary key
    (trial_id, fold); the trial's own columns hold the mean over folds."""

    __tablename__ = "hps_trial_folds"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("hps_trials.id", ondelete="CASCADE"), primary_key=True
    )
    fold: Mapped[int] = mapped_column(primary_key=True)
    train_loss: Mapped[Float]
    train_accuracy: Mapped[Float]
    dev_loss: Mapped[Float]
    dev_accuracy: Mapped[Float]
    epochs_run: Mapped[int | None]


class ModelRow(Base):
    """Model parameters of a chosen trial, as the trainer's ``.npz`` bytes."""

    __tablename__ = "hps_models"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("hps_trials.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


EPOCH_FLOATS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "epoch_s", "elapsed_s")
TRIAL_FLOATS = (
    "train_loss",
    "train_accuracy",
    "dev_loss",
    "dev_accuracy",
    "dev_loss_std",
    "dev_accuracy_std",
    "test_loss",
    "test_accuracy",
    "avoidable_bias",
    "variance",
    "duration_s",
    "queue_s",
    "startup_s",
    "train_s",
    "report_s",
    "predict_ms",
)
