"""Successive halving in O(log n) per rung, decision for decision Optuna's.

Optuna's SuccessiveHalvingPruner (hpsearch's default pruner) reads every trial of the study
whenever a trial reaches a rung, to collect the values the others recorded there: with 10,000
trials that is about 8 ms per rung on this project's machine, two or three rungs per trial. This
one keeps, for each rung, the values recorded there in a sorted list, so a decision is a
bisection and an insertion.

Every rule is Optuna's (optuna/pruners/_successive_halving.py): the rung promotion step
``min_resource * reduction_factor ** (min_early_stopping_rate + rung)``, ``min_resource="auto"``
(the longest completed trial's steps // 100, at least 1, fixed once known), a NaN value pruned
at a rung, ``bootstrap_count``, and promotion when the value is within the best
``len(competing) // reduction_factor`` of the competing values (the best one while there are
fewer than ``reduction_factor``). The competing values are those every trial of the study, in
any state, recorded at that rung, with the trial's own. The rung values are still written to
the trial's system attributes (``completed_rung_<r>``), as Optuna does, so a study handed to
Optuna's pruner later sees the same rungs. tests/searcher/test_fast_pruner.py replays the same
reports through both and compares every decision and every recorded rung.

The index is built from the study on the first call (a new, resumed or rebuilt study) and then
kept by this pruner's own rung records; completed trials told by the driver (``told``) keep the
estimate of an "auto" first rung. Rung values recorded in the study by anything else afterwards
are not seen; the driver records none.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

_RUNG = "completed_rung_"  # Optuna's system attribute prefix for a rung's recorded value


class FastSuccessiveHalvingPruner(optuna.pruners.BasePruner):
    """Optuna's SuccessiveHalvingPruner over an index of the values recorded at each rung."""

    def __init__(
        self,
        min_resource: str | int = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        # Optuna's own argument checks and messages
        optuna.pruners.SuccessiveHalvingPruner(
            min_resource, reduction_factor, min_early_stopping_rate, bootstrap_count
        )
        self._min_resource: int | None = None if min_resource == "auto" else int(min_resource)
        self._reduction_factor = reduction_factor
        self._min_early_stopping_rate = min_early_stopping_rate
        self._bootstrap_count = bootstrap_count
        self._storage: Any = None  # the indexed study's storage and id
        self._study_id: int | None = None
        self._rungs: dict[int, list[float]] = {}  # rung -> values recorded there, ascending
        self._longest: int | None = None  # most steps of a completed trial ("auto")

    def told(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Note a trial the driver has just told (its steps count for an "auto" first rung)."""
        self._sync(study)
        self._note_complete(trial)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self._sync(study)
        step = trial.last_step
        if step is None:
            return False
        rung = _current_rung(trial)
        value = trial.intermediate_values[step]
        while True:
            if self._min_resource is None:
                if self._longest is None:
                    return False
                self._min_resource = max(self._longest // 100, 1)
            promotion_step = self._min_resource * (
                self._reduction_factor ** (self._min_early_stopping_rate + rung)
            )
            if step < promotion_step:
                return False
            if math.isnan(value):
                return True
            study._storage.set_trial_system_attr(trial._trial_id, f"{_RUNG}{rung}", value)
            others = self._rungs.setdefault(rung, [])
            n_competing = len(others) + 1  # the others' values and this one
            promote = n_competing > self._bootstrap_count and self._promotable(
                value, others, n_competing, study.direction
            )
            insort(others, value)
            if not promote:
                return True
            rung += 1

    def _promotable(
        self, value: float, others: list[float], n: int, direction: StudyDirection
    ) -> bool:
        """Optuna's ``_is_trial_promotable_to_next_rung`` on ``others`` + [value], sorted,
        without building that list: the value at the promotion index of the merged order."""
        index = max(n // self._reduction_factor - 1, 0)
        if direction == StudyDirection.MAXIMIZE:
            index = n - 1 - index  # Optuna's competing[-(index + 1)]
        at = bisect_left(others, value)  # where this value sits among the others
        if index < at:
            threshold = others[index]
        elif index == at:
            threshold = value
        else:
            threshold = others[index - 1]
        if direction == StudyDirection.MAXIMIZE:
            return value >= threshold
        return value <= threshold

    def _sync(self, study: optuna.Study) -> None:
        """On a study not indexed yet, start over from its trials' recorded rungs."""
        if self._storage is study._storage and self._study_id == study._study_id:
            return
        self._storage, self._study_id = study._storage, study._study_id
        self._rungs, self._longest = {}, None
        for t in study.get_trials(deepcopy=False):
            for key, value in t.system_attrs.items():
                if key.startswith(_RUNG) and key[len(_RUNG) :].isdigit():
                    self._rungs.setdefault(int(key[len(_RUNG) :]), []).append(value)
            self._note_complete(t)
        for values in self._rungs.values():
            values.sort()

    def _note_complete(self, trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE and trial.last_step is not None:
            self._longest = max(self._longest or trial.last_step, trial.last_step)


def rung_values(curve: dict[int, float], options: dict[str, Any]) -> dict[str, float]:
    """The values a trial with this stored curve (step -> objective, finite values only)
    recorded at successive halving's rungs, as Optuna's system attributes: so that a study
    rebuilt from stored trials (resume, warm start) halves against them instead of starting
    the rungs empty. A rung's value is the first reported value at or after its promotion step;
    a trial that reported past a rung was promoted there, one pruned at a rung ends on it.
    Nothing for ``min_resource="auto"`` (its rungs depend on the trials the run saw first)."""
    minimum = options.get("min_resource", "auto")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        return {}
    factor = options.get("reduction_factor", 4)
    rate = options.get("min_early_stopping_rate", 0)
    steps = sorted(curve)
    out: dict[str, float] = {}
    rung = 0
    while steps:
        promotion = minimum * factor ** (rate + rung)
        at = bisect_left(steps, promotion)
        if at == len(steps):
            break
        out[f"{_RUNG}{rung}"] = float(curve[steps[at]])
        rung += 1
    return out


def _current_rung(trial: FrozenTrial) -> int:
    """The first rung the trial has not recorded (Optuna's ``_get_current_rung``)."""
    rung = 0
    while f"{_RUNG}{rung}" in trial.system_attrs:
        rung += 1
    return rung
