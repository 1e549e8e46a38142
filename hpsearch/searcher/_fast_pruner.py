"""Median and percentile pruning in O(log n) per report, decision for decision Optuna's.

(Successive halving's incremental twin is in ``_fast_halving``; :func:`fast_pruner` and
:func:`told` serve both.)

Optuna's MedianPruner and PercentilePruner read every completed trial at every report: with
10,000 of them one ``should_prune`` costs milliseconds, and the driver asks it once per epoch of
every trial in flight. This pruner keeps, for each step, the completed trials' intermediate
values in a sorted list (NaN left out, but counted, as Optuna counts them for ``n_min_trials``)
and takes the percentile from the two neighbouring order statistics with NumPy's "linear"
formula (``np.nanpercentile``'s default), so a decision is a few lookups and an insertion per
step when a trial completes. Every other rule is Optuna's (optuna/pruners/_percentile.py):
startup trials, warmup steps, the interval, ``n_min_trials``, a trial whose values are all NaN
(pruned), a step no completed trial reached (kept). tests/searcher/test_fast_pruner.py replays
the same reports through both and compares every decision.

The index is fed twice: the first ``prune`` (or ``told``) on a study reads the completed trials
already in it (a new, resumed or rebuilt study), and the driver's ``StudySide.tell`` passes each
trial it tells afterwards to :func:`told`. A trial added to the study any other way after that
(``study.add_trials`` in the middle of a search) is not seen; the driver adds none.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.searcher._fast_halving import FastSuccessiveHalvingPruner

# False: the configured Optuna pruner itself (benchmarks/driver_scale.py's baseline).
ENABLED = True
_PERCENTILE_OF = {"median": 50.0}  # the median is the 50th percentile, as in Optuna


def fast_pruner(name: str, options: dict[str, Any]) -> optuna.pruners.BasePruner | None:
    """The fast equivalent of the configured pruner ``name`` with its (checked) ``options``;
    None for pruners it does not replace (hyperband, and all when disabled)."""
    if not ENABLED or name not in ("median", "percentile", "successive_halving"):
        return None
    if name == "successive_halving":
        return FastSuccessiveHalvingPruner(**options)
    options = dict(options)
    if name == "median":
        options["percentile"] = _PERCENTILE_OF["median"]
    return FastPercentilePruner(**options)


def told(study: optuna.Study, trial: FrozenTrial) -> None:
    """Show a study's fast pruner (if it has one) a trial the driver has just told."""
    pruner = study.pruner
    if isinstance(pruner, FastPercentilePruner | FastSuccessiveHalvingPruner):
        pruner.told(study, trial)


class FastPercentilePruner(optuna.pruners.BasePruner):
    """Optuna's PercentilePruner (MedianPruner at 50) over an incremental index of the
    completed trials' intermediate values (see the module docstring)."""

    def __init__(
        self,
        percentile: float,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        # Optuna's own argument checks and messages
        optuna.pruners.PercentilePruner(
            percentile, n_startup_trials, n_warmup_steps, interval_steps, n_min_trials=n_min_trials
        )
        self._percentile = percentile
        self._n_startup_trials = n_startup_trials
        self._n_warmup_steps = n_warmup_steps
        self._interval_steps = interval_steps
        self._n_min_trials = n_min_trials
        self._storage: Any = None  # the indexed study's storage and id
        self._study_id: int | None = None
        self._complete: set[int] = set()  # numbers of the completed trials indexed
        self._reported: dict[int, int] = {}  # step -> completed trials that reported it (NaN too)
        self._sorted: dict[int, list[float]] = {}  # step -> their values but NaN, ascending

    def told(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Index ``trial`` if it completed (a pruned or failed trial does not count)."""
        self._sync(study)
        self._add(trial)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        self._sync(study)
        n_trials = len(self._complete)
        if n_trials == 0 or n_trials < self._n_startup_trials:
            return False
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        steps = trial.intermediate_values
        if not _first_in_interval(step, steps, self._n_warmup_steps, self._interval_steps):
            return False
        maximize = study.direction == StudyDirection.MAXIMIZE
        best = _best(steps.values(), maximize)
        if math.isnan(best):
            return True
        if self._reported.get(step, 0) < self._n_min_trials:
            return False
        q = 100 - self._percentile if maximize else self._percentile
        p = linear_percentile(self._sorted.get(step, []), q)
        if math.isnan(p):
            return False
        return best < p if maximize else best > p

    def _sync(self, study: optuna.Study) -> None:
        """On a study not indexed yet, start over from its completed trials."""
        if self._storage is study._storage and self._study_id == study._study_id:
            return
        self._storage, self._study_id = study._storage, study._study_id
        self._complete, self._reported, self._sorted = set(), {}, {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            self._add(t)

    def _add(self, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE or trial.number in self._complete:
            return
        self._complete.add(trial.number)
        for step, value in trial.intermediate_values.items():
            self._reported[step] = self._reported.get(step, 0) + 1
            if not math.isnan(value):
                insort(self._sorted.setdefault(step, []), float(value))


def linear_percentile(ascending: list[float], q: float) -> float:
    """``np.nanpercentile(values, q)`` (method "linear") of NaN-free values given sorted
    ascending, from the two order statistics around the virtual index: NumPy's arithmetic
    step for step (``_quantile``, ``_get_indexes``, ``_lerp``), so the result is the same
    float, inf and NaN cases included. NaN when there are no values."""
    n = len(ascending)
    if n == 0:
        return math.nan
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:  # NumPy takes the last value twice, from index -1
        i = j = n - 1
        gamma = virtual - (-1)
    else:
        below = math.floor(virtual)
        i, j = below, below + 1
        gamma = virtual - below
    a, b = ascending[i], ascending[j]
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


def _best(values: Iterable[float], maximize: bool) -> float:
    """The trial's best intermediate value ignoring NaN (``np.nanmax``/``np.nanmin``); NaN
    when every value is NaN."""
    finite_or_inf = [v for v in values if not math.isnan(v)]
    if not finite_or_inf:
        return math.nan
    return max(finite_or_inf) if maximize else min(finite_or_inf)


def _first_in_interval(
    step: int, steps: dict[int, float], n_warmup_steps: int, interval_steps: int
) -> bool:
    """Optuna's ``_is_first_in_interval_step``: the trial's previous report came before the
    latest pruning step at or below ``step``."""
    nearest_lower = (step - n_warmup_steps) // interval_steps * interval_steps + n_warmup_steps
    second_last = max((s for s in steps if s != step), default=-1)
    return second_last < nearest_lower
