"""The search driver: Optuna asks, Ray trains, the driver alone writes the database.

One loop: keep ``workers`` trials in flight, take messages in the order they arrive
(``ray.wait`` over the trials' streaming generators), record each epoch, let the pruner stop
trials, tell Optuna each outcome, retry trials whose worker or node was lost, and cancel trials
that pass their time limit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
import ray
import ray.exceptions

import hpsearch
from hpsearch.errors import HpsearchError, UserInputError
from hpsearch.searcher._config import SearchConfig, load_search_data, parse_config
from hpsearch.searcher._optuna import add_history, new_study, stored_history
from hpsearch.searcher._progress import Progress
from hpsearch.searcher._space import grid_size, internal_params, suggest
from hpsearch.searcher._worker import remote_trial, trial_seed
from hpsearch.storage import (
    EpochRecord,
    FailReason,
    LeaseHeldError,
    LeaseHolder,
    ModelNotFoundError,
    SearchExistsError,
    SearchNotFoundError,
    SearchStatus,
    Storage,
    TrialRecord,
    TrialState,
)
from hpsearch.trainer import Network, TrainerInputError

# Ray errors that mean "the process or machine running the trial went away": retry the trial.
_LOST = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OwnerDiedError,
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.RaySystemError,
)
_HEARTBEAT_S = 10.0
_LEASE_TTL_S = 60.0
_FLUSH_S = 1.0
_FLUSH_ROWS = 500


class SearchInterrupted(HpsearchError):
    """Ctrl-C (SIGINT/SIGTERM) stopped the search; what finished is stored."""

    def __init__(self, outcome: SearchOutcome) -> None:
        super().__init__(f"search {outcome.name!r} interrupted")
        self.outcome = outcome


@dataclass
class _InFlight:
    """A trial being trained: its Optuna trial, its Ray stream and what has arrived so far."""

    number: int
    attempt: int
    settings: dict[str, Any]  # searched hyperparameters (trainer field -> value)
    otrial: optuna.Trial
    trial_id: int
    gen: Any  # ray ObjectRefGenerator
    submitted_at: float
    started_at: float | None = None
    pending: list[EpochRecord] = field(default_factory=list)
    epochs_seen: int = 0
    intermediate: dict[int, float] = field(default_factory=dict)


@dataclass
class SearchOutcome:
    """What ``run_search`` returns: the search's name, counts and best trial."""

    name: str
    status: str
    complete: int
    pruned: int
    failed: int
    best: TrialRecord | None
    best_test_accuracy: float | None
    best_test_loss: float | None
    elapsed_s: float
    trials: list[TrialRecord]


def _objective_value(metric: str, msg: dict[str, Any]) -> float:
    if metric == "train_seconds":
        return float(msg["train_s"])
    return float(msg[metric])


def _epoch_value(metric: str, msg: dict[str, Any]) -> float:
    return float(msg[metric])


class Driver:
    """Runs one search to its budget. Use :func:`run_search`."""

    def __init__(
        self,
        config: SearchConfig,
        storage: Storage,
        *,
        progress: Progress,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        data: Any = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.progress = progress
        self.on_event = on_event or (lambda kind, info: None)
        self.search = None
        self.study: optuna.Study | None = None
        self.inflight: dict[Any, _InFlight] = {}
        self.requeue: list[TrialRecord] = []  # lost trials to run again under their numbers
        self.best_value: float | None = None
        self.best_number: int | None = None
        self.next_number = 0
        self.done = 0
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self._last_flush = time.monotonic()
        self._last_heartbeat = time.monotonic()
        self._interrupted = False
        self._data: Any = data  # the loaded dataset, when the caller already checked it
        self._dataset_hash: str | None = None

    # --- set-up -------------------------------------------------------------------------------

    def prepare(self, *, resume: bool) -> None:
        """Create or reopen the search, take its lease, rebuild Optuna's view of it."""
        cfg = self.config
        s = cfg.search
        try:
            self.search = self.storage.get_search(s.name)
            exists = True
        except SearchNotFoundError:
            exists = False
        if exists:
            stored = parse_config(self.search.config, source="database")
            _check_same_definition(stored, cfg)
        else:
            if resume:
                raise SearchNotFoundError(f"search {s.name!r} not found")
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
                )
            except SearchExistsError:  # another driver created it a moment ago
                self.search = self.storage.get_search(s.name)
        self._take_lease()
        self.storage.set_search_status(self.search.id, SearchStatus.RUNNING)

        # Trials a dead driver left "running" are marked lost before anything else reads them.
        self.storage.mark_running_trials(self.search.id, reason=FailReason.DRIVER_LOST)
        self.study = new_study(cfg)
        stored = self.storage.trials(self.search.id)
        history = stored_history(cfg, self.storage, stored)
        for t in stored:
            if _counts_toward_budget(t):
                self.done += 1
                self.counts[t.state.value] = self.counts.get(t.state.value, 0) + 1
            self._consider_best(t.number, t.values)
        add_history(self.study, history)
        # Trials a dead driver (or Ctrl-C) left behind run again: same number, same
        # hyperparameters, next attempt. Their rows are reused, so nothing is duplicated.
        for t in stored:
            if t.state == TrialState.FAILED and t.fail_reason in (
                FailReason.DRIVER_LOST,
                FailReason.INTERRUPTED,
            ):
                self.requeue.append(t)
        self.next_number = 1 + max((t.number for t in stored), default=-1)

    def _take_lease(self) -> None:
        """Hold the search's lease; a lease whose holder died on this host is taken over at once
        (one on another host only once its heartbeats stop and it expires)."""
        me = LeaseHolder.current()
        try:
            self.storage.acquire_lease(self.search.id, me, ttl_s=_LEASE_TTL_S)
        except LeaseHeldError:
            holder = self.storage.get_search(self.search.id).lease_holder
            if holder is None or holder.host != me.host or _pid_alive(holder.pid):
                raise
            self.storage.acquire_lease(self.search.id, me, ttl_s=_LEASE_TTL_S, take_over=holder)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.config
        s = cfg.search
        budget = s.trials
        if s.sampler == "grid":
            budget = min(budget, grid_size(cfg))
        data = self._data = self._data if self._data is not None else self._load_data()
        self._dataset_hash = data.fingerprint
        data_ref = ray.put(data)  # once; every trial reads it from the object store
        workers = s.workers or max(
            1, int(ray.cluster_resources().get("CPU", 1)) // s.cpus_per_trial
        )
        task = remote_trial(s.cpus_per_trial)
        memory_limit = int(s.memory_limit_mb * 2**20)
        self.progress.start(total=budget, done=self.done, counts=self.counts, best=self.best_value)

        while True:
            if self._interrupted:
                raise KeyboardInterrupt
            while (
                not self._interrupted
                and len(self.inflight) < workers
                and self.done + len(self.inflight) < budget
            ):
                self._launch(task, data_ref, memory_limit)
            if not self.inflight:
                break
            ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=0.25)
            for gen in ready:
                self._receive(gen, task, data_ref, memory_limit)
            self._check_timeouts()
            self._maybe_flush()
            self._maybe_heartbeat()
            self.progress.update(
                done=self.done, running=len(self.inflight), counts=self.counts, best=self.best_value
            )
        self._flush()

    def _load_data(self) -> Any:
        return load_search_data(self.config)

    def _launch(
        self, task: Any, data_ref: Any, memory_limit: int, *, retry_of: _InFlight | None = None
    ) -> None:
        s = self.config.search
        if retry_of is None and self.requeue:
            again = self.requeue.pop(0)
            internal, _ = internal_params(self.config, again.params)
            self.study.enqueue_trial(internal, skip_if_exists=False)
            otrial = self.study.ask()
            settings = suggest(otrial, self.config)
            number, attempt = again.number, again.attempt + 1
        elif retry_of is None:
            otrial = self.study.ask()
            settings = suggest(otrial, self.config)
            number = self.next_number
            self.next_number += 1
            attempt = 1
        else:
            otrial, settings, number = retry_of.otrial, retry_of.settings, retry_of.number
            attempt = retry_of.attempt + 1
        seed = trial_seed(s.seed, number)
        full = {**self.config.train, **settings, "seed": seed}
        trial_id = self.storage.start_trial(
            self.search.id, number, params=settings, seed=seed, attempt=attempt
        )
        now = time.time()
        gen = task.remote(
            data_ref,
            full,
            number=number,
            attempt=attempt,
            threads=s.cpus_per_trial,
            submitted_at=now,
            memory_limit_bytes=memory_limit,
        )
        self.inflight[gen] = _InFlight(
            number=number,
            attempt=attempt,
            settings=settings,
            otrial=otrial,
            trial_id=trial_id,
            gen=gen,
            submitted_at=now,
            intermediate=dict(retry_of.intermediate) if retry_of is not None else {},
        )
        self.on_event("launch", {"number": number, "attempt": attempt})

    def _receive(self, gen: Any, task: Any, data_ref: Any, memory_limit: int) -> None:
        t = self.inflight[gen]
        try:
            msg = ray.get(next(gen))
        except StopIteration:  # the stream ended without a final message: treat as lost
            self._lost(t, "trial stream ended without a result", task, data_ref, memory_limit)
            return
        except _LOST as e:
            self._lost(t, f"{type(e).__name__}: {e}", task, data_ref, memory_limit)
            return
        except ray.exceptions.RayTaskError as e:
            self._finish_failed(t, FailReason.ERROR, str(e)[-4000:])
            return
        kind = msg["kind"]
        if kind == "start":
            t.started_at = time.time()
            self.storage.record_trial_start(
                t.trial_id,
                attempt=t.attempt,
                node_id=msg["node"],
                worker_id=msg["worker"],
                queue_s=msg["queue_s"],
                environment={**msg["env"], "host": msg["host"], "pid": msg["pid"]},
                dataset_hash=self._dataset_hash,
            )
        elif kind == "epochs":
            for epoch in msg["epochs"]:
                self._epoch(t, epoch)
                if t.gen not in self.inflight:  # pruned: later epochs of the batch don't count
                    break
        elif kind == "done":
            self._finish_complete(t, msg)
        elif kind == "diverged":
            self._finish_failed(
                t, FailReason.DIVERGED, msg["text"], diverged_epoch=msg["epoch"], msg=msg
            )
        elif kind == "refused":
            self._finish_failed(t, FailReason.MEMORY, msg["text"])
        else:
            self._finish_failed(t, FailReason.ERROR, msg.get("text", "unknown error"))

    def _epoch(self, t: _InFlight, msg: dict[str, Any]) -> None:
        t.epochs_seen = msg["epoch"]
        t.pending.append(
            EpochRecord(
                epoch=msg["epoch"],
                train_loss=msg["train_loss"],
                train_accuracy=msg["train_accuracy"],
                dev_loss=msg["dev_loss"],
                dev_accuracy=msg["dev_accuracy"],
                epoch_s=msg["epoch_s"],
                elapsed_s=msg["elapsed_s"],
            )
        )
        if self.config.multi_objective:
            return
        value = _epoch_value(self.config.search.objectives[0], msg)
        if msg["epoch"] in t.intermediate:  # a retry repeats epochs Optuna already has
            return
        t.intermediate[msg["epoch"]] = value
        t.otrial.report(value, msg["epoch"])
        if t.otrial.should_prune():
            ray.cancel(t.gen)  # frees the worker for the next trial
            self._finish_pruned(t)

    # --- outcomes -----------------------------------------------------------------------------

    def _close(self, t: _InFlight) -> None:
        """Forget the in-flight trial and write the epochs it sent that are not stored yet."""
        self.inflight.pop(t.gen, None)
        if t.pending:
            self.storage.add_epochs(t.trial_id, t.pending)
            t.pending = []

    def _finish_complete(self, t: _InFlight, msg: dict[str, Any]) -> None:
        values = [_objective_value(m, msg) for m in self.config.search.objectives]
        began = time.perf_counter()
        self._close(t)
        finite = all(math.isfinite(v) for v in values)
        if finite:
            self._tell(t.otrial, values)
        else:
            self._tell(t.otrial, state=optuna.trial.TrialState.FAIL)
        is_best = finite and self._consider_best(t.number, values)
        self.storage.finish_trial(
            t.trial_id,
            attempt=t.attempt,
            state=TrialState.COMPLETE,
            values=values,
            train_loss=msg["train_loss"],
            train_accuracy=msg["train_accuracy"],
            dev_loss=msg["dev_loss"],
            dev_accuracy=msg["dev_accuracy"],
            epochs_run=msg["epochs_run"],
            n_params=msg["n_params"],
            diagnosis=msg["diagnosis"],
            avoidable_bias=msg["avoidable_bias"],
            variance=msg["variance"],
            startup_s=msg["startup_s"],
            train_s=msg["train_s"],
            report_s=time.perf_counter() - began,
        )
        if is_best or self.config.multi_objective:
            self.storage.save_model(t.trial_id, msg["model"])
        self._count("complete")
        self.on_event("complete", {"number": t.number, "values": values})

    def _finish_pruned(self, t: _InFlight) -> None:
        began = time.perf_counter()
        self._close(t)
        self._tell(t.otrial, state=optuna.trial.TrialState.PRUNED)
        self.storage.finish_trial(
            t.trial_id,
            attempt=t.attempt,
            state=TrialState.PRUNED,
            epochs_run=t.epochs_seen,
            report_s=time.perf_counter() - began,
        )
        self._count("pruned")
        self.on_event("pruned", {"number": t.number, "epoch": t.epochs_seen})

    def _finish_failed(
        self,
        t: _InFlight,
        reason: FailReason,
        text: str,
        *,
        diverged_epoch: int | None = None,
        msg: dict[str, Any] | None = None,
        counts: bool = True,
    ) -> None:
        began = time.perf_counter()
        self._close(t)
        self._tell(t.otrial, state=optuna.trial.TrialState.FAIL)
        self.storage.finish_trial(
            t.trial_id,
            attempt=t.attempt,
            state=TrialState.FAILED,
            fail_reason=reason,
            error_text=text,
            diverged_epoch=diverged_epoch,
            epochs_run=t.epochs_seen,
            train_s=(msg or {}).get("train_s"),
            report_s=time.perf_counter() - began,
        )
        if counts:
            self._count("failed")
        self.on_event("failed", {"number": t.number, "reason": reason.value, "text": text})

    def _lost(self, t: _InFlight, text: str, task: Any, data_ref: Any, memory_limit: int) -> None:
        """The worker or node died: retry with the same hyperparameters, or fail the trial."""
        if t.attempt <= self.config.search.retries:
            # The next attempt starts the trial's curve afresh (start_trial clears its epochs),
            # so the lost attempt's unwritten epochs are dropped, not written then deleted.
            self.inflight.pop(t.gen, None)
            self.on_event("retry", {"number": t.number, "attempt": t.attempt + 1, "text": text})
            self._launch(task, data_ref, memory_limit, retry_of=t)
            return
        self._finish_failed(t, FailReason.WORKER_LOST, text)

    def _check_timeouts(self) -> None:
        limit = self.config.search.trial_timeout
        if not limit:
            return
        now = time.time()
        for t in list(self.inflight.values()):
            if t.started_at is not None and now - t.started_at > limit:
                ray.cancel(t.gen, force=True)
                self._finish_failed(t, FailReason.TIMEOUT, f"exceeded trial_timeout of {limit:g} s")

    def _tell(self, otrial: optuna.Trial, values: Any = None, **kw: Any) -> None:
        """study.tell, tolerating GridSampler's "grid exhausted" study.stop(), which only works
        inside study.optimize; Optuna has stored the trial's state by then (tell's finally)."""
        try:
            self.study.tell(otrial, values, **kw)
        except RuntimeError as e:
            if "Study.stop" not in str(e):
                raise

    def _count(self, state: str) -> None:
        self.done += 1
        self.counts[state] = self.counts.get(state, 0) + 1

    def _consider_best(self, number: int, values: Any) -> bool:
        if self.config.multi_objective or not values or values[0] is None:
            return False
        v = float(values[0])
        if not math.isfinite(v):
            return False
        better = (
            self.best_value is None
            or (self.config.search.directions[0] == "maximize" and v > self.best_value)
            or (self.config.search.directions[0] == "minimize" and v < self.best_value)
        )
        if better:
            self.best_value, self.best_number = v, number
        return better

    def _maybe_flush(self) -> None:
        pending = sum(len(t.pending) for t in self.inflight.values())
        if pending >= _FLUSH_ROWS or time.monotonic() - self._last_flush > _FLUSH_S:
            self._flush()

    def _flush(self) -> None:
        for t in self.inflight.values():
            if t.pending:
                self.storage.add_epochs(t.trial_id, t.pending)
                t.pending = []
        self._last_flush = time.monotonic()

    def _maybe_heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat > _HEARTBEAT_S:
            self.storage.heartbeat(self.search.id, LeaseHolder.current(), ttl_s=_LEASE_TTL_S)
            self._last_heartbeat = time.monotonic()

    # --- interruption and the end -------------------------------------------------------------

    def interrupt(self, *_: Any) -> None:
        self._interrupted = True

    def abandon(self) -> None:
        """Cancel every running trial without touching the database (it is unreachable)."""
        for t in list(self.inflight.values()):
            ray.cancel(t.gen, force=True)
        self.inflight.clear()

    def cancel_all(self, reason: FailReason) -> None:
        """Cancel every running trial and record it (Ctrl-C): resume runs them again."""
        for t in list(self.inflight.values()):
            ray.cancel(t.gen, force=True)
            self._finish_failed(t, reason, "search interrupted", counts=False)

    def evaluate_best_on_test(self) -> tuple[float, float] | None:
        """The test split is never used to choose: only the chosen trial is scored on it."""
        if self.best_number is None:
            return None
        best = self.storage.get_trial(self.search.id, self.best_number)
        try:
            network = Network.from_npz_bytes(self.storage.load_model(best.id))
        except (ModelNotFoundError, TrainerInputError) as e:
            self.progress.event(f"best trial {best.number}: no test score ({e})")
            return None
        data = self._data
        if data is None or data.X_test.shape[1] == 0:
            return None
        loss, acc = network.evaluate(data.X_test, data.y_test)
        self.storage.set_test_metrics(best.id, test_loss=float(loss), test_accuracy=float(acc))
        return float(loss), float(acc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _counts_toward_budget(t: TrialRecord) -> bool:
    if t.state == TrialState.RUNNING:
        return False
    return not (
        t.state == TrialState.FAILED
        and t.fail_reason in (FailReason.DRIVER_LOST, FailReason.INTERRUPTED)
    )


def _check_same_definition(stored: SearchConfig, new: SearchConfig) -> None:
    """A search continues only with the definition it started with (budget and workers aside)."""
    a, b = stored.to_dict(), new.to_dict()
    for section in ("data", "train", "space"):
        if a[section] != b[section]:
            raise UserInputError(
                f"search {new.search.name!r} already exists with a different [{section}]; "
                f"use another --name, or `hpsearch resume {new.search.name}`"
            )
    for key in ("sampler", "pruner", "objective", "direction", "seed"):
        if a["search"].get(key) != b["search"].get(key):
            raise UserInputError(
                f"search {new.search.name!r} already exists with a different search.{key}; "
                "use another --name"
            )
