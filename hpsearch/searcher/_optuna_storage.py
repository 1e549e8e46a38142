"""A read-only Optuna storage over hpsearch's tables, for optuna-dashboard and notebooks.

:class:`HpsearchOptunaStorage` is an ``optuna.storages.BaseStorage`` that reads the ``hps_*``
tables through :class:`hpsearch.storage.Storage`'s public reads; nothing is copied and nothing
is written. A search is a study (its id and name, directions from the record); a trial is a
``FrozenTrial`` with the trial's id and number, its params in Optuna's words with their
distributions (from the stored space, as the driver asked them), its state and values, the
first objective's metric per epoch as intermediate values (running, pruned and failed trials
too), and as user attributes the train/dev metrics, diagnosis, timings, node, attempt and fail
reason. ``optuna.load_study(study_name=..., storage=HpsearchOptunaStorage(store))`` works.

Every write Optuna could make (create or delete a study, attributes, notes, ``tell``) raises
:class:`ReadOnlyStorageError`: nothing read through this object changes a running search.

Live and cheap: finished trials are cached; a refresh (at most every ``refresh_s`` seconds per
search) re-reads only the running trials, trials newer than the newest known, and trials that
were running at the previous refresh (a retried trial is running again, so it is read with
them). When the stored count shows trials the cache never saw, or fewer than it holds (a search
deleted and created again), the whole search is read again.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hpsearch.searcher._constraints import dashboard_constraints
from hpsearch.searcher._definition import SearchConfig
from hpsearch.searcher._optuna import optuna_state
from hpsearch.searcher._optuna_refused import ReadOnlyStorageError, RefusedWrites
from hpsearch.searcher._space import internal_params
from hpsearch.storage import (
    SearchSummary,
    Storage,
    TrialNotFoundError,
    TrialRecord,
    TrialState,
)

_FIELDS = (  # TrialRecord fields shown as user attributes
    "train_loss train_accuracy dev_loss dev_accuracy test_loss test_accuracy epochs_run n_params "
    "predict_ms feasible constraint_values "
    "diagnosis avoidable_bias variance duration_s queue_s startup_s train_s report_s node_id "
    "worker_id attempt seed diverged_epoch"
)
_ATTRS = _FIELDS.split()


_METRIC_NAMES = "study:metric_names"  # optuna.study.study._SYSTEM_ATTR_METRIC_NAMES


def _plain(v: Any) -> Any:
    """A JSON-friendly value (NaN/inf as text)."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return getattr(v, "value", v)  # enums -> their value


def trial_user_attrs(t: TrialRecord) -> dict[str, Any]:
    """What the dashboard shows about a trial besides params and values."""
    out: dict[str, Any] = {"hpsearch_state": t.state.value}
    for key in _ATTRS:
        v = getattr(t, key)
        if v is not None:
            out[key] = [_plain(x) for x in v] if isinstance(v, tuple) else _plain(v)
    if t.fail_reason is not None:
        out["fail_reason"] = _plain(t.fail_reason)
    if t.error_text:
        out["error"] = t.error_text.strip().splitlines()[-1][:300]
    return out


@dataclass
class _Search:
    """The cached view of one search."""

    summary: SearchSummary
    config: SearchConfig | None
    metric: str
    trials: dict[int, FrozenTrial] = field(default_factory=dict)  # by trial id
    running: set[int] = field(default_factory=set)  # trial ids running at the last refresh
    max_number: int = -1
    best: FrozenTrial | None = None  # single objective: the best COMPLETE trial
    ordered: list[FrozenTrial] | None = None  # c.trials by number, until a new one comes
    place: dict[int, int] = field(default_factory=dict)  # trial id -> index in ordered
    read_at: float = -math.inf


class HpsearchOptunaStorage(RefusedWrites, BaseStorage):
    """Optuna's storage interface, read-only, over an open :class:`hpsearch.storage.Storage`.

    ``refresh_s``: how old (seconds) a search's cached trials may be before a read refreshes
    them (running and new trials only). Thread-safe (the dashboard's server has threads).
    """

    def __init__(self, storage: Storage, *, refresh_s: float = 1.0) -> None:
        self._store = storage
        self._refresh_s = refresh_s
        self._lock = threading.RLock()
        self._searches: dict[int, _Search] = {}
        self._summaries: dict[int, SearchSummary] = {}
        self._summaries_at = -math.inf
        self._meta: dict[int, tuple[int | None, list[str]]] = {}  # planned trials, objectives

    # --- studies ------------------------------------------------------------------------------

    def _list(self) -> dict[int, SearchSummary]:
        with self._lock:
            if time.monotonic() - self._summaries_at >= self._refresh_s:
                self._summaries = {s.id: s for s in self._store.list_searches()}
                self._summaries_at = time.monotonic()
            return self._summaries

    def _summary(self, study_id: int) -> SearchSummary:
        summary = self._list().get(study_id)
        if summary is None:
            self._summaries_at = -math.inf  # a search created since the last listing
            summary = self._list().get(study_id)
        if summary is None:
            raise KeyError(f"no search with id {study_id}")
        return summary

    def get_all_studies(self) -> list[FrozenStudy]:
        return [self._frozen_study(s) for s in self._list().values()]

    def _frozen_study(self, s: SearchSummary) -> FrozenStudy:
        directions = [StudyDirection[d.upper()] for d in s.directions]
        total = self._total(s.id)
        done = s.n_complete + s.n_pruned + s.n_failed
        attrs: dict[str, Any] = {
            "status": _plain(s.status),
            "progress": f"{done}/{total}" if total else str(done),
            "running": s.n_running,
            "best_value": _plain(s.best_value) if s.best_value is not None else "-",
            "infeasible_trials": s.n_infeasible,  # broke a [search] constraint (best: feasible)
        }
        if s.dataset:
            attrs["dataset"] = s.dataset
        return FrozenStudy(
            study_name=s.name,
            direction=None,
            directions=directions,
            user_attrs=attrs,
            system_attrs=self._system_attrs(s.id),
            study_id=s.id,
        )

    def warm(self) -> None:
        """Read every search once (the dashboard starts this in the background, so the first
        page view finds the trials and curves cached)."""
        for study_id in list(self._list()):
            self._search(study_id)

    def search_rows(self) -> list[dict[str, Any]]:
        """Every search for the front page: id, name, status, done, total, running, best."""
        return [
            {
                "id": s.id,
                "name": s.name,
                "status": _plain(s.status),
                "done": s.n_complete + s.n_pruned + s.n_failed,
                "total": self._total(s.id),
                "running": s.n_running,
                "best": s.best_value,
                "infeasible": s.n_infeasible,
                "directions": list(s.directions),
            }
            for s in self._list().values()
        ]

    def _search_meta(self, search_id: int) -> tuple[int | None, list[str]]:
        """(planned trials, objective names) of a search: read once, they never change."""
        if search_id not in self._meta:
            record = self._store.get_search(search_id)
            total = (record.config or {}).get("search", {}).get("trials")
            total = total if isinstance(total, int) else None
            self._meta[search_id] = (total, list(record.objectives))
        return self._meta[search_id]

    def _total(self, search_id: int) -> int | None:
        return self._search_meta(search_id)[0]

    def get_study_id_from_name(self, study_name: str) -> int:
        for s in self._list().values():
            if s.name == study_name:
                return s.id
        self._summaries_at = -math.inf
        for s in self._list().values():
            if s.name == study_name:
                return s.id
        raise KeyError(f"no search named {study_name!r}")

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._summary(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return [StudyDirection[d.upper()] for d in self._summary(study_id).directions]

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._frozen_study(self._summary(study_id)).user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        self._summary(study_id)
        return self._system_attrs(study_id)

    def _system_attrs(self, study_id: int) -> dict[str, Any]:
        """The objectives' metric names (``study.metric_names``; the dashboard's axis titles)."""
        return {_METRIC_NAMES: self._search_meta(study_id)[1]}

    # --- trials -------------------------------------------------------------------------------

    def _search(self, study_id: int) -> _Search:
        """The search's cache, refreshed when older than ``refresh_s``."""
        with self._lock:
            summary = self._summary(study_id)
            cached = self._searches.get(study_id)
            if cached is None or cached.summary.created_at != summary.created_at:
                self._meta.pop(study_id, None)  # a new search under a reused id
                cached = self._searches[study_id] = self._new_cache(summary)
            if time.monotonic() - cached.read_at >= self._refresh_s:
                self._refresh(cached)
            return cached

    def _new_cache(self, summary: SearchSummary) -> _Search:
        record = self._store.get_search(summary.id)
        try:
            config: SearchConfig | None = SearchConfig.from_stored(record)
        except Exception:  # a definition this version cannot parse: params shown as stored
            config = None
        metric = record.objectives[0] if record.objectives else "dev_loss"
        return _Search(
            summary=summary,
            config=config,
            metric=metric,
        )

    def _refresh(self, c: _Search) -> None:
        self._summaries_at = -math.inf  # counts read before the trials: never newer than them
        summary = c.summary = self._summary(c.summary.id)
        sid = summary.id
        if len(c.trials) > summary.n_trials:
            c.trials.clear()  # trials were removed (a search deleted and created again)
        if not c.trials:
            self._keep(c, self._store.trials(sid), full=True)
        else:
            by_id: dict[int, TrialRecord] = {}
            wanted = {c.trials[tid].number for tid in c.running}
            if c.running or summary.n_running:
                for r in self._store.trials(sid, states=[TrialState.RUNNING]):
                    by_id[r.id] = r  # a retried trial comes back here too
                    wanted.discard(r.number)
            if summary.n_trials > len(c.trials):  # new trials (numbers grow)
                for r in self._store.query_trials(sid, where=[f"number > {c.max_number}"]):
                    by_id[r.id] = r
                    wanted.discard(r.number)
            for number in sorted(wanted):  # were running: finished since
                try:
                    r = self._store.get_trial(sid, number)
                except TrialNotFoundError:
                    continue
                by_id[r.id] = r
            self._keep(c, list(by_id.values()), full=False)
            if len(c.trials) < summary.n_trials:  # still missing some: read everything again
                c.trials.clear()
                self._keep(c, self._store.trials(sid), full=True)
        c.read_at = time.monotonic()

    def _keep(self, c: _Search, records: list[TrialRecord], *, full: bool) -> None:
        """Cache trials just read (all of them, or every running one plus the new and the
        just finished); the best complete one is kept up to date as they come."""
        if full:
            c.best, c.max_number, c.ordered = None, -1, None
        single = len(c.summary.directions) == 1
        for r in records:
            known = r.id in c.trials
            t = c.trials[r.id] = self._frozen_trial(c, r)
            c.max_number = max(c.max_number, r.number)
            if t.state == OptunaState.COMPLETE and single and _better(c, t, c.best):
                c.best = t
            if c.ordered is not None and known:  # same place by number
                c.ordered[c.place[r.id]] = t
            else:
                c.ordered = None
        c.running = {r.id for r in records if r.state == TrialState.RUNNING}

    def _frozen_trial(self, c: _Search, t: TrialRecord) -> FrozenTrial:
        values = list(t.values) if t.values else None
        ostate = optuna_state(t.state, values) or OptunaState.RUNNING
        params, dists = self._params(c.config, t.params)
        intermediate: dict[int, float] = {}
        for e in self._store.epochs(t.id):
            v = getattr(e, c.metric, None)
            if v is not None and math.isfinite(v):
                intermediate[e.epoch] = float(v)
        done = ostate == OptunaState.COMPLETE
        if ostate == OptunaState.PRUNED and intermediate and len(c.summary.directions) == 1:
            values, done = [intermediate[max(intermediate)]], True  # as Optuna's tell(PRUNED)
        return FrozenTrial(
            number=t.number,
            state=ostate,
            value=None,
            values=[float(v) for v in values] if done and values else None,
            datetime_start=t.started_at,
            datetime_complete=t.finished_at if ostate.is_finished() else None,
            params=params,
            distributions=dists,
            user_attrs=trial_user_attrs(t),
            system_attrs=dashboard_constraints(t.constraint_values),  # Optuna's feasibility
            intermediate_values=intermediate,
            trial_id=t.id,
        )

    @staticmethod
    def _params(
        config: SearchConfig | None, stored: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
        if config is not None:
            params, dists = internal_params(config, stored)
            ok = {}
            for name, dist in dists.items():
                try:
                    if dist._contains(dist.to_internal_repr(params[name])):
                        ok[name] = dist
                except (ValueError, TypeError):
                    pass  # stored under another space: shown among the user attributes
            return {k: params[k] for k in ok}, ok
        params, dists = {}, {}
        for k, v in stored.items():
            if isinstance(v, str | int | float | bool) or v is None:
                params[k], dists[k] = v, CategoricalDistribution([v])
        return params, dists

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[OptunaState] | None = None,
    ) -> list[FrozenTrial]:
        c = self._search(study_id)
        with self._lock:
            if c.ordered is None:
                c.ordered = sorted(c.trials.values(), key=lambda t: t.number)
                c.place = {t._trial_id: i for i, t in enumerate(c.ordered)}
            trials = list(c.ordered)
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            for c in self._searches.values():
                if trial_id in c.trials:
                    return self._search(c.summary.id).trials[trial_id]
        try:
            record = self._store.trial_by_id(trial_id)
        except TrialNotFoundError:
            raise KeyError(f"no trial with id {trial_id}") from None
        return self._search(record.search_id).trials[trial_id]

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        for t in self._search(study_id).trials.values():
            if t.number == trial_number:
                return t._trial_id
        raise KeyError(f"search {study_id} has no trial number {trial_number}")

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        c = self._searches.get(study_id) or self._search(study_id)  # fresh from get_all_trials
        if len(c.summary.directions) > 1:
            raise RuntimeError("best trial of a multi-objective study: use best_trials")
        if c.best is None or c.best.user_attrs.get("feasible") is False:
            raise ValueError("No feasible trials are completed yet.")
        return c.best


def _better(c: _Search, t: FrozenTrial, best: FrozenTrial | None) -> bool:
    return best is None or _rank(c, t) < _rank(c, best)


def _rank(c: _Search, t: FrozenTrial) -> tuple[bool, float, float, int]:
    """Best first: feasible ones, the objective, ties by dev_loss ascending then number (as
    Storage.best_trial)."""
    sign = -1.0 if c.summary.directions[0] == "maximize" else 1.0
    infeasible = t.user_attrs.get("feasible") is False
    return (infeasible, sign * t.values[0], _num(t.user_attrs.get("dev_loss")), t.number)


def _num(v: Any) -> float:
    return v if isinstance(v, int | float) and math.isfinite(v) else math.inf


def open_optuna_storage(storage: Storage, *, refresh_s: float = 1.0) -> HpsearchOptunaStorage:
    """The read-only Optuna view of an open results database (``optuna.load_study`` takes it)."""
    return HpsearchOptunaStorage(storage, refresh_s=refresh_s)


__all__ = [
    "HpsearchOptunaStorage",
    "ReadOnlyStorageError",
    "open_optuna_storage",
    "trial_user_attrs",
]
