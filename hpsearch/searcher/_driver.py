"""The search driver's loop: Optuna asks, Ray trains, the driver alone writes the database.

Cut by role, as Ray Tune cuts its controller: this loop launches trials and keeps ``workers`` of
them in flight, takes their messages in the order they arrive (``ray.wait`` over the trials'
streaming generators), dispatches them by type, retries trials whose worker or node was lost,
cancels trials past their time limit and stops on Ctrl-C. The study side (``_study``) asks,
prunes and tells; the recorder (``_recorder``) writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import optuna
import ray
import ray.exceptions

from hpsearch.searcher._config import SearchConfig, load_search_data
from hpsearch.searcher._folds import fold_datasets, refit
from hpsearch.searcher._local_ray import auto_memory_limit_bytes
from hpsearch.searcher._messages import (
    EpochsDone,
    TrialDone,
    TrialEnd,
    TrialFailed,
    TrialPruned,
    TrialStarted,
)
from hpsearch.searcher._names import user_settings
from hpsearch.searcher._outcome import (  # SearchInterrupted, SearchOutcome: the package's names
    OptunaFailed,
    RayDied,
    SearchInterrupted,  # noqa: F401
    SearchOutcome,  # noqa: F401
    one_line,
)
from hpsearch.searcher._own_model import own_scorer
from hpsearch.searcher._progress import Progress
from hpsearch.searcher._recorder import Recorder, trial_outcome
from hpsearch.searcher._seeding import Seeding
from hpsearch.searcher._space import grid_size
from hpsearch.searcher._study import Asked, StudySide
from hpsearch.searcher._worker import remote_trial, trial_seed
from hpsearch.storage import (
    DatabaseUnavailableError,
    FailReason,
    ModelNotFoundError,
    SearchRecord,
    Storage,
)
from hpsearch.trainer import EpochMetrics, Network, TrainerInputError

# Ray errors that mean "the process or machine running the trial went away": retry the trial.
_LOST = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OwnerDiedError,
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.RaySystemError,
)


@dataclass
class _InFlight:
    """A trial handed to Ray: its Optuna trial, its stream and what has arrived so far."""

    number: int
    attempt: int
    settings: dict[str, Any]  # the searched settings, in users' words
    otrial: optuna.Trial
    trial_id: int
    gen: Any  # ray ObjectRefGenerator
    first_attempt: int = 1  # its first attempt in this run: earlier ones died with a driver
    launched_at: float = field(default_factory=time.time)
    started_at: float | None = None  # when its worker reported TrialStarted
    epochs_seen: int = 0
    last: EpochMetrics | None = None  # the last epoch received
    objective: dict[int, float] = field(default_factory=dict)  # epoch -> value told the pruner


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
        self.progress = progress
        self.on_event = on_event or (lambda kind, info: None)
        self.study = StudySide(config)
        self.recorder = Recorder(config, storage)
        self.inflight: dict[Any, _InFlight] = {}
        self._interrupted = False
        self._data: Any = data  # the loaded dataset, when the caller already checked it
        self._task: Any = None
        self._data_ref: Any = None
        self._memory_limit = int(config.search.memory_limit_mb * 2**20)  # 0: auto, see run()
        # trials asked (or lost and due again) while the database was away: launched once back
        self._held: list[tuple[Asked, _InFlight | None]] = []
        # the local Ray's health ("raylet (pid 12)" once it died), asked about once a second
        self.health: Callable[[], str | None] = lambda: None
        self._health_at = 0.0
        self._away_told = False  # "database unavailable" was said for the current outage
        self.stop_reason: str | None = None  # a [search] stopping rule that ended the launches
        self.runtime_env: dict[str, Any] | None = None  # each task's, when Ray was started before

    @property
    def search(self) -> SearchRecord | None:
        return self.recorder.search

    @property
    def best_number(self) -> int | None:
        return self.study.best_number

    def prepare(self, *, resume: bool, seeding: Seeding | None = None) -> None:
        """Create or reopen the search, take its lease, rebuild Optuna's view of it (first
        the warm start's trials and the configurations to run first, ``_seeding``)."""
        stored = self.recorder.open(resume=resume, seeded_from=seeding and seeding.record())
        self.study.rebuild(self.recorder.storage, stored, seeding)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        s = self.config.search
        budget = min(s.trials, grid_size(self.config)) if s.sampler == "grid" else s.trials
        data = self._data = self._data if self._data is not None else load_search_data(self.config)
        self.recorder.dataset_hash = data.fingerprint
        k = self.config.data.folds
        # once; every trial reads it from the object store ([data] folds: the k fold datasets)
        self._data_ref = ray.put(fold_datasets(data, k, s.seed or 0) if k else data)
        if not self._memory_limit:
            self._memory_limit = auto_memory_limit_bytes(s.cpus_per_trial)
        workers = s.workers or max(
            1, int(ray.cluster_resources().get("CPU", 1)) // s.cpus_per_trial
        )
        self._task = remote_trial(s.cpus_per_trial, runtime_env=self.runtime_env)
        study = self.study
        self.progress.start(
            total=budget, done=study.done, counts=study.counts, best=study.best_value
        )
        deadline = time.monotonic() + s.time_budget if s.time_budget else None
        while True:
            if self._interrupted:
                raise KeyboardInterrupt
            back = self._database_back()  # nothing new starts while the database is away
            if self.stop_reason is None and (why := study.stop_reason(deadline)):
                self.stop_reason = why  # no new trial starts; running ones finish
                self.progress.event(f"stopping: {why}; running trials finish")
            while (
                back
                and self.stop_reason is None
                and not self._interrupted
                and len(self.inflight) < workers
                and (self._held or study.done + len(self.inflight) < budget)
            ):
                if self._held:
                    self._launch(*self._held.pop(0))
                else:
                    self._launch()
                back = not self.recorder.away
            # After the launches, so a line logged as a trial ends counts its successor.
            self._show_progress()
            if not self.inflight:
                if back and (not self._held or self.stop_reason):
                    break
                time.sleep(0.25)  # only writes wait: retry them
                continue
            self._check_ray()
            ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=0.25)
            for gen in ready:
                self._receive(self.inflight[gen])
            self._check_timeouts()
            self.recorder.maybe_flush()
            self.recorder.maybe_heartbeat()
        self.recorder.flush()
        while not self._database_back():
            if self._interrupted:
                raise KeyboardInterrupt
            time.sleep(0.25)

    def _check_ray(self) -> None:
        if time.monotonic() - self._health_at < 1.0:
            return
        self._health_at = time.monotonic()
        dead = self.health()
        if dead is not None:
            raise RayDied(dead)

    def _database_back(self) -> bool:
        """True when no write waits for the database (writes what waited if it is back)."""
        if self.recorder.away and not self._away_told:
            self._away_told = True
            self.progress.event(
                "database unavailable: running trials go on and their results wait (up to "
                f"search.database_patience = {self.recorder.patience:g} s); no new trial starts"
            )
        back = self.recorder.retry()
        if back and self._away_told:
            self._away_told = False
            away_s, writes = self.recorder.outages[-1]
            self.progress.event(f"database back after {away_s:.1f} s: {writes} writes caught up")
            self.on_event("database back", {"seconds": away_s, "writes": writes})
        return back

    def _show_progress(self) -> None:
        started = sum(t.started_at is not None for t in self.inflight.values())
        self.progress.update(
            done=self.study.done,
            running=len(self.inflight),
            starting=len(self.inflight) - started,
            counts=self.study.counts,
            best=self.study.best_value,
        )

    def _launch(self, asked: Asked | None = None, retry_of: _InFlight | None = None) -> None:
        if retry_of is not None:  # same trial, same settings, next attempt
            t = retry_of
            asked = Asked(t.number, t.attempt + 1, t.otrial, t.settings)
        elif asked is None:
            try:
                asked = self.study.ask()
            except Exception as e:  # a sampler's failure (a missing package, a bad option)
                raise self._sampler_failed(e) from None
        number, attempt, settings = asked.number, asked.attempt, asked.settings
        seed = trial_seed(self.config.search.seed, number)
        if self.recorder.away:  # its start must follow the writes that wait (a lost attempt's)
            self._held.append((asked, retry_of))
            return
        try:
            trial_id = self.recorder.start(number, settings, seed=seed, attempt=attempt)
        except DatabaseUnavailableError as e:
            self.recorder.unavailable(e)
            self._held.append((asked, retry_of))
            return
        gen = self._task.remote(
            self._data_ref,
            {**user_settings(self.config.train), **settings, "seed": seed},
            number=number,
            attempt=attempt,
            threads=self.config.search.cpus_per_trial,
            submitted_at=time.time(),
            memory_limit_bytes=self._memory_limit,
        )
        self.inflight[gen] = _InFlight(
            number=number,
            attempt=attempt,
            settings=settings,
            otrial=asked.otrial,
            trial_id=trial_id,
            gen=gen,
            first_attempt=retry_of.first_attempt if retry_of is not None else attempt,
            objective=dict(retry_of.objective) if retry_of is not None else {},
        )
        self.on_event("launch", {"number": number, "attempt": attempt})

    def _sampler_failed(self, e: Exception) -> OptunaFailed:
        return OptunaFailed(f"the {self.config.search.sampler} sampler failed: {one_line(e)}")

    def _receive(self, t: _InFlight) -> None:
        """Take the trial's next message and act on it."""
        try:
            msg = ray.get(next(t.gen))
        except StopIteration:  # the stream ended without a final message: treat as lost
            self._lost(t, "trial stream ended without a result")
            return
        except _LOST as e:
            self._lost(t, f"{type(e).__name__}: {e}")
            return
        except ray.exceptions.RayTaskError as e:
            self._finish(t, TrialFailed(FailReason.ERROR, str(e)[-4000:]))
            return
        match msg:
            case TrialStarted():
                t.started_at = time.time()
                self.recorder.started(t.trial_id, msg)
            case EpochsDone(epochs=epochs):
                for epoch in epochs:
                    if self._epoch(t, epoch):  # pruned: later epochs of the batch don't count
                        break
            case TrialDone() | TrialFailed():
                self._finish(t, msg)
            case _:
                self._finish(t, TrialFailed(FailReason.ERROR, f"unknown message {msg!r}"[:4000]))

    def _epoch(self, t: _InFlight, epoch: EpochMetrics) -> bool:
        """Record one epoch and show it to the pruner; True when the trial was pruned."""
        t.epochs_seen, t.last = epoch.epoch, epoch
        self.recorder.add_epoch(t.trial_id, epoch)
        try:
            prune = self.study.report(t.otrial, epoch, t.objective)
        except Exception as e:  # the pruner's failure: this trial ends, and so does the search
            text = f"the {self.config.search.pruner} pruner failed: {one_line(e)}"
            ray.cancel(t.gen, force=True)
            self._finish(t, TrialFailed(FailReason.ERROR, text))
            raise OptunaFailed(text) from None
        if not prune:
            return False
        ray.cancel(t.gen)  # frees the worker for the next trial
        self._finish(t, TrialPruned(epochs_run=t.epochs_seen, last=t.last))
        return True

    # --- ends ---------------------------------------------------------------------------------

    def _finish(self, t: _InFlight, end: TrialEnd, *, counts: bool = True) -> None:
        """One place for every end: tell Optuna, write the outcome (and model), count it."""
        began = time.perf_counter()
        self.inflight.pop(t.gen, None)
        outcome = trial_outcome(end, **self.study.measured(end), epochs_seen=t.epochs_seen)
        try:
            is_best = self.study.tell(t.otrial, t.number, outcome)
        except Exception as e:  # the sampler's after-trial step failed: record, then stop
            self.recorder.finish(t.trial_id, outcome, attempt=t.attempt, began=began)
            raise self._sampler_failed(e) from None
        folds = end.folds if isinstance(end, TrialDone) else ()
        self.recorder.finish(t.trial_id, outcome, attempt=t.attempt, began=began, folds=folds)
        if isinstance(end, TrialDone) and end.model and (is_best or self.config.multi_objective):
            self.recorder.save_model(t.trial_id, end.model)
        if counts:
            self.study.count(outcome)
        info: dict[str, Any] = {"number": t.number}
        match end:
            case TrialDone():
                self.on_event("complete", {**info, "values": list(outcome.values)})
            case TrialPruned():
                self.on_event("pruned", {**info, "epoch": end.epochs_run})
            case TrialFailed():
                self.on_event(
                    "failed", {**info, "reason": end.fail_reason.value, "text": end.error_text}
                )

    def _lost(self, t: _InFlight, text: str) -> None:
        """The worker or node died: retry with the same hyperparameters, or fail the trial."""
        # attempts that died with an earlier driver (or its Ray) do not count against retries
        if t.attempt - t.first_attempt < self.config.search.retries:
            self.inflight.pop(t.gen, None)
            self.recorder.drop(t.trial_id)
            self.on_event("retry", {"number": t.number, "attempt": t.attempt + 1, "text": text})
            self._launch(retry_of=t)
            return
        self._finish(t, TrialFailed(FailReason.WORKER_LOST, text))

    def _check_timeouts(self) -> None:
        limit = self.config.search.trial_timeout
        if not limit:
            return
        now = time.time()
        for t in list(self.inflight.values()):
            if t.started_at is None and now - t.launched_at > limit:
                text = f"did not start within trial_timeout of {limit:g} s of its launch"
            elif t.started_at is not None and now - t.started_at > limit:
                text = f"exceeded trial_timeout of {limit:g} s"
            else:
                continue
            ray.cancel(t.gen, force=True)
            self._finish(t, TrialFailed(FailReason.TIMEOUT, text))

    # --- interruption and the end -------------------------------------------------------------

    def interrupt(self, *_: Any) -> None:
        self._interrupted = True

    def abandon(self) -> None:
        """Cancel every running trial without touching the database (it is unreachable)."""
        for t in list(self.inflight.values()):
            with suppress(Exception):  # Ray itself may be gone
                ray.cancel(t.gen, force=True)
        self.inflight.clear()

    def cancel_all(
        self, reason: FailReason, *, text: str = "search interrupted", cancel: bool = True
    ) -> None:
        """Cancel every running trial and record it (Ctrl-C, the local Ray died): resume runs
        them again. ``cancel=False`` when Ray is gone (only the records are written)."""
        for t in list(self.inflight.values()):
            if cancel:
                ray.cancel(t.gen, force=True)
            self.inflight.pop(t.gen, None)
            outcome = trial_outcome(TrialFailed(reason, text))
            with suppress(Exception):  # Optuna is told only to close its trial
                self.study.tell(t.otrial, t.number, outcome)
            self.recorder.finish(t.trial_id, outcome, attempt=t.attempt, began=time.perf_counter())

    def evaluate_best_on_test(self) -> tuple[float, float] | None:
        """The test split is never used to choose: only the chosen trial is scored on it (with
        [data] folds, after a refit of its settings on all non-test data)."""
        if self.study.best_number is None:
            return None
        best = self.recorder.trial(self.study.best_number)
        data = self._data
        try:
            if self.config.data.folds and data is not None and data.X_test.shape[1]:
                # cross-validated: refit the chosen settings on train + dev; its model replaces
                # fold 0's as the trial's model (what predict uses)
                settings = {**user_settings(self.config.train), **best.params, "seed": best.seed}
                folds = self.recorder.storage.trial_folds(best.id)
                network = refit(settings, data, folds, threads=self.config.search.cpus_per_trial)
                self.recorder.save_model(best.id, network.to_npz_bytes())
            elif "entrypoint" in self.config.train:  # your own model: its evaluate(), if any
                network = own_scorer(self.config.train, self.recorder.load_model(best.id))
            else:
                network = Network.from_npz_bytes(self.recorder.load_model(best.id))
            if data is None or data.X_test.shape[1] == 0:
                return None
            loss, acc = network.evaluate(data.X_test, data.y_test)
        except (ModelNotFoundError, TrainerInputError) as e:
            self.progress.event(f"best trial {best.number}: no test score ({e})")
            return None
        self.recorder.set_test_metrics(best.id, float(loss), float(acc))
        return float(loss), float(acc)
