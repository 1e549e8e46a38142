"""What a trial's worker tells the driver, and how a trial's end becomes its stored outcome.

The worker yields typed values, in this order: one :class:`TrialStarted`, any number of
:class:`EpochsDone` (the trainer's own ``EpochMetrics``, whose field names are the ``hps_epochs``
columns), then one end: :class:`TrialDone` or :class:`TrialFailed`. The driver adds two ends of
its own: :class:`TrialPruned` (the pruner stopped the trial) and a ``TrialFailed`` for a lost
worker, a timeout or Ctrl-C. A field keeps one name from the worker to its column (``train_s``,
``startup_s``, ``queue_s``, ``epoch_s``...); the recorder's ``trial_outcome`` is the one
conversion left before storage.

Imports neither Ray, Optuna nor storage: the worker loads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the worker loads storage (and SQLAlchemy) only when a trial fails
    from hpsearch.storage import FailReason
    from hpsearch.trainer import EpochMetrics


@dataclass(frozen=True)
class TrialStarted:
    """A worker picked the trial up: where it runs and how long it waited."""

    number: int
    attempt: int
    node_id: str | None  # Ray's ids of the node and worker process
    worker_id: str | None
    host: str  # host and pid are kept in the trial's environment
    pid: int
    queue_s: float  # from submission to the worker starting it
    environment: dict[str, Any]  # library versions, BLAS: what a replay compares against


@dataclass(frozen=True)
class EpochsDone:
    """Epochs that ended since the last message (fast ones travel together)."""

    epochs: tuple[EpochMetrics, ...]


@dataclass(frozen=True)
class TrialDone:
    """Training ended normally: the returned network's metrics, timings and model."""

    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epochs_run: int
    stopped: str  # completed | early_stopping | callback
    best_epoch: int
    n_params: int | None  # None: an own model ([train] entrypoint) that returned no parameters
    diagnosis: str
    avoidable_bias: float
    variance: float
    startup_s: float  # from the worker starting to training starting
    train_s: float
    model: bytes  # .npz bytes: the trainer's, or an own model's returned parameters (or empty)
    # with [data] folds: the metrics above are means over folds; their spread and each fold
    dev_loss_std: float | None = None
    dev_accuracy_std: float | None = None
    folds: tuple[Any, ...] = ()  # _folds.FoldDone, named as the hps_trial_folds columns
    predict_ms: float | None = None  # ms to label 1,000 dev samples on one thread (_latency)

    def metric(self, name: str) -> float:
        """An objective's or constraint's value (``train_seconds`` is the training time)."""
        value = self.train_s if name == "train_seconds" else getattr(self, name)
        return math.nan if value is None else float(value)


@dataclass(frozen=True)
class TrialFailed:
    """The trial ended without a result (diverged, refused for memory, an error) or was ended by
    the driver (worker lost, timeout, interrupted)."""

    fail_reason: FailReason
    error_text: str
    diverged_epoch: int | None = None
    train_s: float | None = None


@dataclass(frozen=True)
class TrialPruned:
    """The pruner stopped the trial after ``epochs_run`` epochs; ``last`` is the last one."""

    epochs_run: int
    last: EpochMetrics | None


WorkerMessage = TrialStarted | EpochsDone | TrialDone | TrialFailed
TrialEnd = TrialDone | TrialFailed | TrialPruned
