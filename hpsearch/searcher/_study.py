"""The study side of the driver (Ray Tune's "searcher"): Optuna's ask, report and tell.

It owns the in-memory Optuna study: it turns an ask into settings in users' words, reports each
epoch's objective to the pruner, tells Optuna how each trial ended, keeps the trials to run
again (lost with a dead driver or Ctrl-C), counts finished trials and tracks the best one. On
resume it rebuilds Optuna's history from the stored trials. Past 1,000 finished trials a TPE
search samples in a separate process, ahead of the launches (``_ask_ahead``); ``close`` ends it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from hpsearch.searcher._ask_ahead import FINISHED, AskAhead, wanted
from hpsearch.searcher._config import SearchConfig
from hpsearch.searcher._constraints import constraint_values, optuna_constraints
from hpsearch.searcher._fast_pruner import told as fast_pruner_told
from hpsearch.searcher._messages import TrialDone, TrialEnd
from hpsearch.searcher._optuna import add_history, new_study, optuna_state, stored_history
from hpsearch.searcher._seeding import Seeding, pending
from hpsearch.searcher._space import internal_params, suggest
from hpsearch.searcher._values import show_duration
from hpsearch.storage import FailReason, Storage, TrialOutcome, TrialRecord, TrialState
from hpsearch.trainer import EpochMetrics

# Failed trials that did not really fail: the next driver runs them again under their numbers.
_RUN_AGAIN = (FailReason.DRIVER_LOST, FailReason.INTERRUPTED)


@dataclass(frozen=True)
class Asked:
    """A trial to launch: its number and attempt, Optuna's trial and its settings."""

    number: int
    attempt: int
    otrial: optuna.Trial
    settings: dict[str, Any]  # the searched settings, in users' words


class StudySide:
    """Ask, report, tell; the budget's counts and the best trial so far."""

    def __init__(self, config: SearchConfig) -> None:
        self.config = config
        self.constraints = config.constraints  # [search] constraints, parsed once
        self.study = new_study(config)
        self.requeue: list[TrialRecord] = []  # lost trials to run again under their numbers
        self.queued: list[dict[str, Any]] = []  # [[enqueue]] and warm-start configs not run yet
        self.next_number = 0
        self.done = 0  # finished trials that count toward the budget
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best_value: float | None = None
        self.best_number: int | None = None
        self._best_key: tuple[float, int] = (math.inf, 0)  # the best trial's (dev_loss, number)
        # past AHEAD_FROM trials TPE asks in a sampler process, ahead of the launches
        self._ahead: AskAhead | None = None
        self._ask_ids: dict[int, int] = {}  # Optuna trial number here -> the process's ask id
        self.since_best = 0  # trials finished in this run since the best last improved
        self._improved = False  # the trial told last made the best strictly better

    def rebuild(
        self, storage: Storage, stored: Sequence[TrialRecord], seeding: Seeding | None = None
    ) -> None:
        """Optuna's history, the counts and the best trial from a search's stored trials.

        The study is made afresh, its sampler seeded for this run (see ``run_seed``); a warm
        start's trials come first in its history (``_seeding``), and the configurations to
        run first that no stored trial ran yet are queued."""
        self.close()
        warm = seeding.used if seeding is not None else 0
        self.study = new_study(self.config, stored=len(stored), warm=warm)
        for t in stored:
            if _counts_toward_budget(t):
                self._count(t.state.value)
            self._consider_best(t.number, t.values, t.dev_loss, t.feasible)
        self.since_best, self._improved = 0, False  # patience counts this run's trials
        if seeding is not None:
            add_history(self.study, seeding.trials)
            self.queued = pending(seeding.configs, stored)
        add_history(self.study, stored_history(self.config, storage, stored))
        # Trials a dead driver (or Ctrl-C) left behind run again: same number, same
        # hyperparameters, next attempt. Their rows are reused, so nothing is duplicated.
        self.requeue = [
            t for t in stored if t.state == TrialState.FAILED and t.fail_reason in _RUN_AGAIN
        ]
        self.next_number = 1 + max((t.number for t in stored), default=-1)

    def ask(self) -> Asked:
        """The next trial: a requeued one first, with its stored settings, then a queued
        configuration (exactly as given; settings it leaves out are sampled), else a new one."""
        if self.requeue:
            again = self.requeue.pop(0)
            internal, _ = internal_params(self.config, again.params)
            self.study.enqueue_trial(internal, skip_if_exists=False)
            otrial = self.study.ask()
            return Asked(again.number, again.attempt + 1, otrial, suggest(otrial, self.config))
        if self.queued:
            given = self.queued.pop(0)
            self.study.enqueue_trial(internal_params(self.config, given)[0], skip_if_exists=False)
            otrial = self.study.ask()
            number, self.next_number = self.next_number, self.next_number + 1
            return Asked(number, 1, otrial, suggest(otrial, self.config) | given)
        ask_id = self._ask_ahead()
        otrial = self.study.ask()
        if ask_id is not None:
            self._ask_ids[otrial.number] = ask_id
        number, self.next_number = self.next_number, self.next_number + 1
        return Asked(number, 1, otrial, suggest(otrial, self.config))

    def _ask_ahead(self) -> int | None:
        """Past AHEAD_FROM trials, fix the next trial's parameters to the sampler process's
        answer (see ``_ask_ahead``); the process's ask id, or None when asking here."""
        if self._ahead is None:
            finished = self.study.get_trials(deepcopy=False, states=FINISHED)
            if not wanted(self.config, len(finished)):
                return None
            self._ahead = AskAhead(self.config, finished, seed_count=len(finished))
        ask_id, params = self._ahead.next()
        self.study.enqueue_trial(params, skip_if_exists=False)
        return ask_id

    def close(self) -> None:
        """End the sampler process, if one runs (it also ends with the driver's process)."""
        if self._ahead is not None:
            self._ahead.close()
            self._ahead, self._ask_ids = None, {}

    def report(self, otrial: optuna.Trial, epoch: EpochMetrics, seen: dict[int, float]) -> bool:
        """Give the pruner one epoch's objective; True when the trial should stop.

        ``seen``: the trial's objective by epoch so far (a retry repeats epochs Optuna has).
        """
        if self.config.multi_objective or epoch.epoch in seen:
            return False
        value = float(getattr(epoch, self.config.search.objectives[0]))
        seen[epoch.epoch] = value
        otrial.report(value, epoch.epoch)
        return otrial.should_prune()

    def values(self, end: TrialEnd) -> tuple[float, ...]:
        """The objectives of a completed trial (none for the other ends)."""
        if not isinstance(end, TrialDone):
            return ()
        return tuple(end.metric(m) for m in self.config.search.objectives)

    def measured(self, end: TrialEnd) -> dict[str, Any]:
        """``trial_outcome``'s keywords for what the study measures of a completed trial: its
        objective ``values`` and [search] ``constraint_values`` (None without constraints)."""
        done = isinstance(end, TrialDone)
        return {
            "values": self.values(end),
            "constraint_values": constraint_values(self.constraints, end.metric) if done else None,
        }

    def tell(self, otrial: optuna.Trial, number: int, outcome: TrialOutcome) -> bool:
        """Tell Optuna how the trial ended (with its constraint values: the TPE, NSGA-II and GP
        samplers read them); True when it is the best feasible trial so far."""
        state = optuna_state(outcome.state, outcome.values)
        values = list(outcome.values) if state == optuna.trial.TrialState.COMPLETE else None
        for key, value in optuna_constraints(self.constraints, outcome.constraint_values).items():
            otrial.set_constraint(key, value)
        try:
            self.study.tell(otrial, values, state=state)
        except RuntimeError as e:
            # GridSampler calls study.stop() once the grid is exhausted, which only works inside
            # study.optimize; Optuna has stored the trial's state by then (tell's finally).
            if "Study.stop" not in str(e):
                raise
        frozen = self.study._storage.get_trial(otrial._trial_id)
        fast_pruner_told(self.study, frozen)  # an incremental pruner's index
        if self._ahead is not None:
            self._ahead.tell(
                self._ask_ids.pop(otrial.number, None),
                frozen.params,
                frozen.distributions,
                frozen.state,
                values if frozen.state == optuna.trial.TrialState.COMPLETE else None,
                dict(frozen.intermediate_values),
                dict(frozen.constraints),
            )
        return values is not None and self._consider_best(
            number, values, outcome.dev_loss, outcome.feasible
        )

    def count(self, outcome: TrialOutcome) -> None:
        """One more finished trial toward the budget."""
        self._count(outcome.state.value)

    def stop_reason(self, deadline: float | None) -> str | None:
        """Why no new trial should start ([search] target, patience_trials, time_budget)."""
        s = self.config.search
        if s.target is not None and self.best_value is not None:
            maximize = s.directions[0] == "maximize"
            if self.best_value >= s.target if maximize else self.best_value <= s.target:
                return (
                    f"target reached: {s.objectives[0]} {self.best_value:.6g} "
                    f"(search.target = {s.target:g})"
                )
        if s.patience_trials and self.since_best >= s.patience_trials:
            return f"patience: {self.since_best} finished trials without a better best"
        if deadline is not None and time.monotonic() >= deadline:
            return f"time budget of {show_duration(s.time_budget)} reached"
        return None

    def _count(self, state: str) -> None:
        self.since_best = 0 if self._improved else self.since_best + 1
        self._improved = False
        self.done += 1
        self.counts[state] = self.counts.get(state, 0) + 1

    def _consider_best(
        self, number: int, values: Any, dev_loss: float | None = None, feasible: Any = None
    ) -> bool:
        """Track the best feasible trial by the shared ordering (objective, then dev_loss
        ascending, then number); True when this one ties or beats the best so far on the
        objective, so its model is kept (whichever of tied trials the ordering names best has
        one). An infeasible trial ([search] constraints) is never the best."""
        if self.config.multi_objective or not values or values[0] is None or feasible is False:
            return False
        v = float(values[0])
        if not math.isfinite(v):
            return False
        if self.best_value is None:
            self.best_value, self.best_number, self._best_key = v, number, _key(dev_loss, number)
            self._improved = True
            return True
        maximize = self.config.search.directions[0] == "maximize"
        better = v > self.best_value if maximize else v < self.best_value
        self._improved = better
        if better or (v == self.best_value and _key(dev_loss, number) < self._best_key):
            self.best_value, self.best_number, self._best_key = v, number, _key(dev_loss, number)
        return better or v == self.best_value


def _key(dev_loss: float | None, number: int) -> tuple[float, int]:
    """How tied trials are ordered: lower dev_loss first (none or NaN last), then lower number."""
    loss = dev_loss if dev_loss is not None and math.isfinite(dev_loss) else math.inf
    return loss, number


def _counts_toward_budget(t: TrialRecord) -> bool:
    if t.state == TrialState.RUNNING:
        return False
    return not (t.state == TrialState.FAILED and t.fail_reason in _RUN_AGAIN)
