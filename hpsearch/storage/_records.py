"""Plain, frozen values passed in and out of :class:`hpsearch.storage.Storage`."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hpsearch.storage._models import FailReason, SearchStatus, TrialState


@dataclass(frozen=True)
class LeaseHolder:
    """Who drives a search: host name and process id."""

    host: str
    pid: int

    @classmethod
    def current(cls) -> LeaseHolder:
        """This process."""
        return cls(host=socket.gethostname(), pid=os.getpid())

    def __str__(self) -> str:
        return f"host {self.host} pid {self.pid}"


@dataclass(frozen=True)
class SearchRecord:
    """One search. Times are timezone-aware UTC, taken from the database clock."""

    id: int
    name: str
    status: SearchStatus
    created_at: datetime
    finished_at: datetime | None
    config: dict[str, Any]
    objectives: tuple[str, ...]  # metric names, e.g. ("dev_loss",)
    directions: tuple[str, ...]  # "minimize" | "maximize", one per objective
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None
    dataset: str | None = None
    hpsearch_version: str | None = None
    lease_holder: LeaseHolder | None = None
    lease_heartbeat_at: datetime | None = None
    lease_expires_at: datetime | None = None
    stop_reason: str | None = None  # why a finished search stopped before its trial budget
    seeded_from: dict[str, Any] | None = None  # its warm start: {"from": [...], "used": n, ...}

    @property
    def direction(self) -> str:
        """Direction of the first objective."""
        return self.directions[0]


@dataclass(frozen=True)
class TrialRecord:
    """One trial with its final metrics (floats may be NaN/inf: they round-trip exactly)."""

    id: int
    search_id: int
    number: int
    state: TrialState
    attempt: int
    params: dict[str, Any]
    seed: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    epochs_run: int | None = None
    values: tuple[float | None, ...] = ()  # objective values, one per objective
    train_loss: float | None = None
    train_accuracy: float | None = None
    dev_loss: float | None = None
    dev_accuracy: float | None = None
    test_loss: float | None = None
    dev_loss_std: float | None = None  # with [data] folds: spread over folds (sample std)
    dev_accuracy_std: float | None = None
    test_accuracy: float | None = None
    n_params: int | None = None
    predict_ms: float | None = None  # ms to label 1,000 dev samples on one thread
    feasible: bool | None = None  # None: the search has no [search] constraints
    constraint_values: tuple[float | None, ...] | None = None  # one per constraint, <= 0 holds
    diagnosis: str | None = None
    avoidable_bias: float | None = None
    variance: float | None = None
    fail_reason: FailReason | None = None
    error_text: str | None = None
    diverged_epoch: int | None = None
    node_id: str | None = None
    worker_id: str | None = None
    queue_s: float | None = None
    startup_s: float | None = None
    train_s: float | None = None
    report_s: float | None = None
    environment: dict[str, Any] | None = None
    dataset_hash: str | None = None

    @property
    def value(self) -> float | None:
        """The first objective value (None until the trial completes)."""
        return self.values[0] if self.values else None


@dataclass(frozen=True)
class TrialStart:
    """Where and how a trial runs, once a worker picked it up (``Storage.record_trial_start``).
    Fields left None keep the stored value; non-finite timings are dropped."""

    node_id: str | None = None  # Ray's ids of the node and worker process
    worker_id: str | None = None
    queue_s: float | None = None  # from submission to the worker starting it
    startup_s: float | None = None
    environment: Mapping[str, Any] | None = None  # library versions, BLAS, host, pid
    dataset_hash: str | None = None  # the data's fingerprint, checked by replay


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, as :meth:`Storage.finish_trial` records it (one typed value instead of
    two dozen keywords). Fields left None keep the stored value; floats may be NaN/inf."""

    state: TrialState
    values: tuple[float | None, ...] = ()  # objective values, one per objective
    epochs_run: int | None = None
    train_loss: float | None = None
    train_accuracy: float | None = None
    dev_loss: float | None = None
    dev_accuracy: float | None = None
    n_params: int | None = None
    diagnosis: str | None = None
    avoidable_bias: float | None = None
    variance: float | None = None
    fail_reason: FailReason | None = None
    error_text: str | None = None
    diverged_epoch: int | None = None
    startup_s: float | None = None
    train_s: float | None = None
    report_s: float | None = None
    dev_loss_std: float | None = None  # with [data] folds: spread over folds
    dev_accuracy_std: float | None = None
    predict_ms: float | None = None  # ms to label 1,000 dev samples on one thread
    feasible: bool | None = None  # None: the search has no [search] constraints
    constraint_values: tuple[float | None, ...] | None = None  # one per constraint, <= 0 holds


@dataclass(frozen=True)
class FoldRecord:
    """One fold of a cross-validated trial: a ``hps_trial_folds`` row (fold counts from 0)."""

    fold: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    dev_loss: float | None = None
    dev_accuracy: float | None = None
    epochs_run: int | None = None


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a learning curve; its fields are the ``hps_epochs`` columns (any object with
    these attributes can be written by :meth:`Storage.add_epochs`)."""

    epoch: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    dev_loss: float | None = None
    dev_accuracy: float | None = None
    epoch_s: float | None = None
    elapsed_s: float | None = None


@dataclass(frozen=True)
class SearchSummary:
    """A search with its trial counts, for ``hpsearch`` listings."""

    id: int
    name: str
    status: SearchStatus
    created_at: datetime
    finished_at: datetime | None
    directions: tuple[str, ...]
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_running: int
    best_value: float | None  # best finite first objective of complete, feasible trials
    duration_s: float | None  # created -> finished (or -> last trial finished while running)
    dataset: str | None = None
    stop_reason: str | None = None  # why it stopped before its trial budget
    n_infeasible: int = 0  # complete trials that broke a [search] constraint
    seeded_from: dict[str, Any] | None = None  # its warm start: {"from": [...], "used": n, ...}
