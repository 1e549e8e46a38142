"""The recorder: everything the driver writes to the results database, and nothing else does.

It creates or reopens the search, holds its lease (take, heartbeat, release), starts each trial,
buffers epochs and writes them in batches, records each trial's end as one ``TrialOutcome``
(fenced by its attempt), keeps models and the chosen trial's test score.

While the database is away (``DatabaseUnavailableError`` once storage's own quick retries ran
out), the writes of running trials wait in order in an outbox and are retried with back-off;
they are written, in order, when it returns. Every write is idempotent (epochs are upserted, an
end is fenced by its attempt), so nothing is lost or written twice. After
``search.database_patience`` seconds away, :meth:`Recorder.retry` gives up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import hpsearch
from hpsearch.errors import UserInputError
from hpsearch.searcher._config import SearchConfig
from hpsearch.searcher._definition import DATA_FACTS
from hpsearch.searcher._messages import TrialDone, TrialEnd, TrialFailed, TrialPruned, TrialStarted
from hpsearch.searcher._own_model import stored_metrics
from hpsearch.storage import (
    DatabaseUnavailableError,
    FailReason,
    LeaseHeldError,
    LeaseHolder,
    SearchExistsError,
    SearchNotFoundError,
    SearchRecord,
    SearchStatus,
    Storage,
    TrialOutcome,
    TrialRecord,
    TrialStart,
    TrialState,
)
from hpsearch.trainer import EpochMetrics

HEARTBEAT_S = 10.0
LEASE_TTL_S = 60.0
FLUSH_S = 1.0
FLUSH_ROWS = 500
RETRY_FIRST_S = 0.5  # the outbox's back-off while the database is away: 0.5 s doubling to 5 s
RETRY_MAX_S = 5.0


def trial_outcome(
    end: TrialEnd,
    *,
    values: tuple[float, ...] = (),
    epochs_seen: int = 0,
    constraint_values: tuple[float, ...] | None = None,
) -> TrialOutcome:
    """The stored outcome of a trial's end: the one conversion between the messages and storage.

    ``values``: the objectives of a completed trial; ``epochs_seen``: the epochs the driver
    received from a trial that failed; ``constraint_values``: a completed trial's constraint
    values ([search] constraints; None without any), <= 0 where a constraint holds. A pruned
    trial keeps its last epoch's losses and accuracies.
    """
    feasible = None if constraint_values is None else all(v <= 0 for v in constraint_values)
    match end:
        case TrialDone():
            return TrialOutcome(
                state=TrialState.COMPLETE,
                values=values,
                epochs_run=end.epochs_run,
                train_loss=end.train_loss,
                train_accuracy=end.train_accuracy,
                dev_loss=end.dev_loss,
                dev_accuracy=end.dev_accuracy,
                dev_loss_std=end.dev_loss_std,
                dev_accuracy_std=end.dev_accuracy_std,
                n_params=end.n_params,
                diagnosis=end.diagnosis,
                avoidable_bias=end.avoidable_bias,
                variance=end.variance,
                startup_s=end.startup_s,
                train_s=end.train_s,
                predict_ms=end.predict_ms,
                feasible=feasible,
                constraint_values=constraint_values,
            )
        case TrialPruned(last=None):
            return TrialOutcome(state=TrialState.PRUNED, epochs_run=end.epochs_run)
        case TrialPruned(last=last):
            return TrialOutcome(
                state=TrialState.PRUNED,
                epochs_run=end.epochs_run,
                train_loss=last.train_loss,
                train_accuracy=last.train_accuracy,
                dev_loss=last.dev_loss,
                dev_accuracy=last.dev_accuracy,
            )
        case TrialFailed():
            return TrialOutcome(
                state=TrialState.FAILED,
                fail_reason=end.fail_reason,
                error_text=end.error_text,
                diverged_epoch=end.diverged_epoch,
                epochs_run=epochs_seen,
                train_s=end.train_s,
            )
    raise TypeError(f"not a trial's end: {end!r}")


class Recorder:
    """The driver's writes, for one search."""

    def __init__(self, config: SearchConfig, storage: Storage) -> None:
        self.config = config
        self.storage = storage
        self.search: SearchRecord | None = None
        self.dataset_hash: str | None = None
        self._pending: dict[int, list[EpochMetrics]] = {}  # trial id -> epochs not written yet
        self._last_flush = time.monotonic()
        self._last_heartbeat = time.monotonic()
        self.patience = float(config.search.database_patience)
        self._outbox: list[Callable[[], Any]] = []  # writes waiting for the database, in order
        self._away_since = 0.0
        self._away_error: DatabaseUnavailableError | None = None
        self._next_try = 0.0
        self._backoff = RETRY_FIRST_S
        self._delayed = 0  # writes of the current outage written once it ended
        self.outages: list[tuple[float, int]] = []  # (seconds away, writes delayed) per outage
        # an own model's ([train] entrypoint) trials: the environment recorded at their start
        # and the other numbers of their last epoch, stored with it when they end
        self._environments: dict[int, dict[str, Any]] = {}
        self._extra: dict[int, tuple[tuple[str, float], ...]] = {}

    @property
    def search_id(self) -> int:
        assert self.search is not None, "open() first"
        return self.search.id

    # --- the search and its lease -------------------------------------------------------------

    def check(self, *, resume: bool) -> None:
        """What :meth:`open` would refuse, read only (before Ray starts): a stored search with
        another definition, or a resumed one that does not exist."""
        try:
            stored = self.storage.get_search(self.config.search.name)
        except SearchNotFoundError:
            if resume:
                raise SearchNotFoundError(f"search {self.config.search.name!r} not found") from None
            return
        _check_same_definition(SearchConfig.from_stored(stored), self.config)

    def open(self, *, resume: bool, seeded_from: dict[str, Any] | None = None) -> list[TrialRecord]:
        """Create or reopen the search, take its lease, mark it running; returns its trials
        (those a dead driver left running are marked lost first, so they run again).
        ``seeded_from``: this run's warm start, stored with the search (see ``_seeding``)."""
        cfg, s = self.config, self.config.search
        try:
            self.search = self.storage.get_search(s.name)
            _check_same_definition(SearchConfig.from_stored(self.search), cfg)
            if seeded_from is not None and seeded_from != self.search.seeded_from:
                self.storage.set_seeded_from(self.search.id, seeded_from)
        except SearchNotFoundError:
            if resume:
                raise SearchNotFoundError(f"search {s.name!r} not found") from None
            try:
                self.search = self.storage.create_search(
                    s.name,
                    config=cfg.to_dict(),
                    objectives=list(s.objectives),
                    directions=list(s.directions),
                    sampler=s.sampler,
                    pruner=s.pruner,
                    seed=s.seed,
                    dataset=cfg.data.dataset,
                    hpsearch_version=hpsearch.__version__,
                    seeded_from=seeded_from,
                )
            except SearchExistsError:  # another driver created it a moment ago
                self.search = self.storage.get_search(s.name)
        self._take_lease()
        self.storage.set_search_status(self.search_id, SearchStatus.RUNNING)
        self.storage.mark_running_trials(self.search_id, reason=FailReason.DRIVER_LOST)
        return self.storage.trials(self.search_id)

    def _take_lease(self) -> None:
        """Hold the search's lease; a lease whose holder died on this host is taken over at once
        (one on another host only once its heartbeats stop and it expires)."""
        me = LeaseHolder.current()
        try:
            self.storage.acquire_lease(self.search_id, me, ttl_s=LEASE_TTL_S)
        except LeaseHeldError:
            holder = self.storage.get_search(self.search_id).lease_holder
            if holder is None or holder.host != me.host or _pid_alive(holder.pid):
                raise
            self.storage.acquire_lease(self.search_id, me, ttl_s=LEASE_TTL_S, take_over=holder)

    def maybe_heartbeat(self) -> None:
        if not self.away and time.monotonic() - self._last_heartbeat > HEARTBEAT_S:
            self._do(self._heartbeat)

    def _heartbeat(self) -> None:
        self.storage.heartbeat(self.search_id, LeaseHolder.current(), ttl_s=LEASE_TTL_S)
        self._last_heartbeat = time.monotonic()

    # --- the database away: the outbox ---------------------------------------------------------

    @property
    def away(self) -> bool:
        """True while writes wait for the database (launch nothing new meanwhile)."""
        return bool(self._outbox)

    def _do(self, write: Callable[[], Any]) -> None:
        """Write now, or queue the write behind those already waiting for the database."""
        if self._outbox:
            self._outbox.append(write)
            return
        try:
            write()
        except DatabaseUnavailableError as e:
            self._outbox.append(write)
            self._went_away(e)

    def _went_away(self, e: DatabaseUnavailableError) -> None:
        now = time.monotonic()
        self._away_since, self._away_error = now, e
        self._backoff, self._next_try = RETRY_FIRST_S, now + RETRY_FIRST_S

    def unavailable(self, e: DatabaseUnavailableError) -> None:
        """A write that cannot wait failed (a trial's start): hold off until the database is back
        (the heartbeat, a write under the search's lease, probes it)."""
        if not self._outbox:
            self._outbox.append(self._heartbeat)
            self._went_away(e)

    def retry(self) -> bool:
        """Write what waits if the database is back; True when nothing waits any more.

        Raises:
            DatabaseUnavailableError: away for more than ``search.database_patience`` seconds.
        """
        if not self._outbox:
            return True
        if time.monotonic() >= self._next_try:
            while self._outbox:
                try:
                    self._outbox[0]()
                except DatabaseUnavailableError as e:
                    self._away_error = e
                    self._backoff = min(2 * self._backoff, RETRY_MAX_S)
                    self._next_try = time.monotonic() + self._backoff
                    break
                self._outbox.pop(0)
                self._delayed += 1
            else:
                self.outages.append((time.monotonic() - self._away_since, self._delayed))
                self._delayed = 0
                return True
        away_s = time.monotonic() - self._away_since
        if away_s > self.patience:
            raise DatabaseUnavailableError(
                f"{self._away_error} (away for {away_s:.0f} s, more than "
                f"search.database_patience = {self.patience:g} s)"
            )
        return False

    # --- trials -------------------------------------------------------------------------------

    def start(self, number: int, settings: dict[str, Any], *, seed: int, attempt: int) -> int:
        """The trial's row (reused by every attempt); ``settings`` are stored as its params."""
        return self.storage.start_trial(
            self.search_id, number, params=settings, seed=seed, attempt=attempt
        )

    def started(self, trial_id: int, msg: TrialStarted) -> None:
        """Where and how the trial runs, once its worker picked it up."""
        self._do(lambda: self._record_start(trial_id, msg))

    def _record_start(self, trial_id: int, msg: TrialStarted) -> None:
        where = TrialStart(
            node_id=msg.node_id,
            worker_id=msg.worker_id,
            queue_s=msg.queue_s,
            environment={**msg.environment, "host": msg.host, "pid": msg.pid},
            dataset_hash=self.dataset_hash,
        )
        self._environments[trial_id] = dict(where.environment or {})
        self.storage.record_trial_start(trial_id, where, attempt=msg.attempt)

    def add_epoch(self, trial_id: int, epoch: EpochMetrics) -> None:
        """Buffer one epoch; it is written with the next flush (or the trial's end)."""
        self._pending.setdefault(trial_id, []).append(epoch)
        if getattr(epoch, "extra", None):
            self._extra[trial_id] = epoch.extra

    def drop(self, trial_id: int) -> None:
        """Forget a lost attempt's unwritten epochs: the next attempt starts its curve afresh
        (start_trial clears its epochs), so they are not written then deleted."""
        self._pending.pop(trial_id, None)
        self._extra.pop(trial_id, None)

    def finish(
        self,
        trial_id: int,
        outcome: TrialOutcome,
        *,
        attempt: int,
        began: float,
        folds: tuple[Any, ...] = (),
    ) -> None:
        """Write the trial's last epochs and its outcome (and its folds' rows, [data] folds);
        ``began``: when the driver began handling the end (perf_counter), for ``report_s``."""
        self._write(trial_id)
        self._write_extra(trial_id, attempt)
        report_s = time.perf_counter() - began
        outcome = dataclasses.replace(outcome, report_s=report_s)
        self._do(lambda: self.storage.finish_trial(trial_id, outcome, attempt=attempt, folds=folds))

    def _write_extra(self, trial_id: int, attempt: int) -> None:
        """An own model's last-epoch numbers beyond the four stored columns: kept in the trial's
        environment JSON under ``metrics`` (no column of their own)."""
        extra = self._extra.pop(trial_id, None)

        def write() -> None:  # in the outbox's order: after the start that recorded ``env``
            env = self._environments.pop(trial_id, {})
            if extra:
                start = TrialStart(environment={**env, "metrics": stored_metrics(extra)})
                self.storage.record_trial_start(trial_id, start, attempt=attempt)

        self._do(write)

    def save_model(self, trial_id: int, model: bytes) -> None:
        self._do(lambda: self.storage.save_model(trial_id, model))

    def maybe_flush(self) -> None:
        rows = sum(len(p) for p in self._pending.values())
        if rows >= FLUSH_ROWS or time.monotonic() - self._last_flush > FLUSH_S:
            self.flush()

    def flush(self) -> None:
        for trial_id in list(self._pending):
            self._write(trial_id)
        self._last_flush = time.monotonic()

    def _write(self, trial_id: int) -> None:
        epochs = self._pending.pop(trial_id, None)
        if epochs:
            self._do(lambda: self.storage.add_epochs(trial_id, epochs))

    # --- after the search ---------------------------------------------------------------------

    def set_test_metrics(self, trial_id: int, loss: float, accuracy: float) -> None:
        self.storage.set_test_metrics(trial_id, test_loss=loss, test_accuracy=accuracy)

    def trial(self, number: int) -> TrialRecord:
        return self.storage.get_trial(self.search_id, number)

    def load_model(self, trial_id: int) -> bytes:
        return self.storage.load_model(trial_id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_same_definition(stored: SearchConfig, new: SearchConfig) -> None:
    """A search continues only with the definition it started with (budget and workers aside)."""
    a, b = stored.to_dict(), new.to_dict()
    for d in (a, b):  # facts of the loaded data, recorded by a driver: not the definition
        d["data"] = {k: v for k, v in d["data"].items() if k not in DATA_FACTS}
    for section in ("data", "train", "space"):
        if a[section] != b[section]:
            raise UserInputError(
                f"search {new.search.name!r} already exists with a different [{section}]; "
                f"use another --name, or `hpsearch resume {new.search.name}`"
            )
    for key in ("sampler", "pruner", "objective", "direction", "seed", "constraints"):
        # as written in a file: JSON's strings, numbers and lists are TOML's too
        was, now = (json.dumps(d["search"].get(key)) for d in (a, b))
        if was != now:
            hint = "use another --name"
            if key == "pruner":  # e.g. a file without `pruner`, stored when the default differed
                hint = f"set pruner = {was} to continue it, or use another --name"
            raise UserInputError(
                f"search {new.search.name!r} already exists with search.{key} = {was}, "
                f"this definition has {now}; {hint}"
            )
