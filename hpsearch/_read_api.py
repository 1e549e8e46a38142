"""A small read-only API for notebooks::

    import hpsearch
    db = hpsearch.open("sqlite:///hpsearch.db")
    db.searches()                         # SearchSummary per search
    s = db.search("digits-quick")
    s.trials(where=["dropout > 0.3"], sort="-dev_accuracy", limit=5)   # TrialRecords
    s.best(); s.epochs(7); s.folds(7)     # best trial; trial 7: its curve, its folds (if any)
    s.to_pandas(); s.to_pandas(epochs=True)   # needs pip install 'hpsearch[pandas]'
    s.stats()                             # best, pruned/failed shares, time to the best
    s.pareto_front()                      # the non-dominated complete trials (every objective)
    s.split_sizes(); s.dev_noise()        # dev split size, standard error, selection warnings
    s.diagnosis(7)                        # bias/variance reading, told apart from dev noise

Every view ranks trials the same way (:func:`hpsearch._selection.rank_key`: the first
objective, then dev loss ascending, then trial number) and takes the Pareto front from
:func:`hpsearch._selection.pareto_front`.

Everything returned is a plain frozen dataclass (or a DataFrame); nothing writes, and a SQLite
file that does not exist is an error (DatabaseNotFoundError), never a new empty database. The
command line prints what these return.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hpsearch._selection import (
    DevNoise,
    SplitSizes,
    dev_noise,
    pareto_front,
    rank_key,
    ranked,
    split_sizes,
    standard_error,
    within_noise,
)
from hpsearch.storage import (
    EpochRecord,
    FoldRecord,
    SearchRecord,
    SearchSummary,
    Storage,
    TrialRecord,
    TrialState,
    open_storage,
    parse_states,
)
from hpsearch.trainer import ADVICE

PANDAS_HINT = "to_pandas() needs pandas: pip install 'hpsearch[pandas]'"


def open(url: str | None = None) -> Results:
    """Open a results database for reading (``None``: $HPSEARCH_STORAGE, else the default).

    Raises:
        DatabaseNotFoundError: a SQLite file that does not exist (nothing is created).
        BadDatabaseURLError, DatabaseUnavailableError: as :func:`hpsearch.storage.open_storage`.
    """
    return Results(open_storage(url, create=False))


class Results:
    """A results database; use as a context manager or call :meth:`close`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def searches(self) -> list[SearchSummary]:
        """Every search with its counts, best value and duration, oldest first."""
        return self.storage.list_searches()

    def search_rows(self) -> list[dict[str, Any]]:
        """:meth:`searches` as flat dicts, each naming the objective its ``best`` value is of."""
        rows = []
        for s in self.searches():
            record = self.storage.get_search(s.id)
            rows.append(
                {
                    "name": s.name,
                    "status": s.status.value,
                    "trials": s.n_trials,
                    "complete": s.n_complete,
                    "pruned": s.n_pruned,
                    "failed": s.n_failed,
                    "running": s.n_running,
                    "best": s.best_value,
                    "objective": record.objectives[0],
                    "direction": s.directions[0],
                    "duration_s": round(s.duration_s, 3) if s.duration_s is not None else None,
                    "dataset": s.dataset,
                    "stopped": s.stop_reason,
                    "seeded_from": s.seeded_from,  # a warm start: {"from": [...], "used": n, ...}
                }
            )
        return rows

    def search(self, name: str) -> SearchView:
        """One search by name. Raises SearchNotFoundError."""
        return SearchView(self.storage, self.storage.get_search(name))

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Results({self.storage.url!r})"


class SearchView:
    """Reads one search."""

    def __init__(self, storage: Storage, record: SearchRecord) -> None:
        self.storage = storage
        self.record = record

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def objective(self) -> str:
        """The first objective's metric (``dev_accuracy``): what a trial's ``value`` is."""
        return self.record.objectives[0]

    def trials(
        self,
        *,
        where: Iterable[str] = (),
        sort: str | None = None,
        state: Iterable[TrialState | str] | None = None,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials as TrialRecords; filters/sort keys as for ``hpsearch trials`` (``--where``,
        ``--sort``); a setting is named in the user's word (``lambda``) whatever name an older
        database stored it under. Raises QueryError (a UserInputError) for a bad filter or
        state."""
        stored = self._stored_names()
        top = sort is None and limit is not None  # the "top K": ranked as every view ranks
        found = self.storage.query_trials(
            self.record.id,
            where=[_stored_word(w, stored) for w in where],
            sort=_stored_word(sort, stored),
            states=None if state is None else parse_states(state),
            limit=None if top else limit,
        )
        if top:
            found = sorted(found, key=lambda t: rank_key(t, self.record.directions))[:limit]
        return found

    def _stored_names(self) -> list[str]:
        kinds = getattr(self.storage, "hyperparameter_kinds", None)
        return list(kinds(self.record.id)) if kinds is not None else []

    def trial(self, number: int) -> TrialRecord:
        return self.storage.get_trial(self.record.id, number)

    def best(self) -> TrialRecord | None:
        """The best complete feasible trial, or None: by the first objective, ties by dev loss
        then trial number; for several objectives, the first trial of :meth:`pareto_front` in
        that order (the whole front is the answer there). With [search] constraints only
        feasible trials count (None when no trial met every constraint)."""
        front = self.pareto_front()
        return front[0] if front else None

    def ranked(self) -> list[TrialRecord]:
        """The complete trials with a finite objective, best first, as every view ranks them
        (infeasible ones, [search] constraints, after every feasible one)."""
        return ranked(self.storage.trials(self.record.id), self.record.directions)

    def pareto_front(self) -> list[TrialRecord]:
        """The non-dominated complete feasible trials, every objective in its direction (one
        objective: the trials tied at the best value), best first by the first objective."""
        return pareto_front(self.storage.trials(self.record.id), self.record.directions)

    def split_sizes(self) -> SplitSizes | None:
        """Samples in the train, dev and test splits the search's trials saw (None when the
        dataset cannot be loaded any more)."""
        return split_sizes(self.record)

    def dev_noise(self, order: list[TrialRecord] | None = None) -> DevNoise:
        """The dev split's size, the standard error of the best dev accuracy, the trials tied
        with the best within it, and the warnings to show beside a choice of trial."""
        sizes = self.split_sizes()
        return dev_noise(self.ranked() if order is None else order, sizes and sizes.dev)

    def epochs(self, number: int) -> list[EpochRecord]:
        """The learning curve of trial ``number`` (with [data] folds: the mean over folds)."""
        return self.storage.epochs(self.trial(number).id)

    def folds(self, number: int) -> list[FoldRecord]:
        """The folds of trial ``number`` in a cross-validated search ([data] folds): each fold's
        final metrics, by fold; the trial's own metrics are their mean (``dev_accuracy_std``:
        their spread). Empty for a search without folds or a trial that did not complete."""
        return self.storage.trial_folds(self.trial(number).id)

    def diagnosis(self, trial: TrialRecord | int) -> Diagnosis | None:
        """The bias/variance reading of a trial (a TrialRecord or its number): the stored one,
        with a gap between train and dev error within two standard errors of the dev error not
        counted as high variance (the dev split is too small to show it)."""
        sizes = self.split_sizes()
        return diagnosis(
            self.trial(trial) if isinstance(trial, int) else trial, n_dev=sizes and sizes.dev
        )

    def stats(self) -> SearchStats:
        """Best value and trial, shares of pruned and failed trials, time to the best, trials
        trained to the end, the dev split's size and noise, and the Pareto front."""
        trials = self.storage.trials(self.record.id)
        order = ranked(trials, self.record.directions)
        front = pareto_front(trials, self.record.directions)
        best = front[0] if front else None
        noise = self.dev_noise(order)
        total = len(trials)
        to_best = None
        if best is not None and best.finished_at is not None:
            to_best = (best.finished_at - self.record.created_at).total_seconds()

        def share(state: TrialState) -> float:
            return sum(t.state == state for t in trials) / total if total else 0.0

        return SearchStats(
            search=self.name,
            objective=self.objective,
            direction=self.record.directions[0],
            best=best.value if best else None,
            best_trial=best.number if best else None,
            trials=total,
            pruned_share=share(TrialState.PRUNED),
            failed_share=share(TrialState.FAILED),
            time_to_best_s=to_best,
            best_params=dict(best.params) if best else {},
            trained_to_end=sum(t.state == TrialState.COMPLETE for t in trials),
            n_dev=noise.n_dev,
            dev_standard_error=noise.standard_error,
            warnings=list(noise.warnings),
            objectives=list(self.record.objectives),
            directions=list(self.record.directions),
            pareto_front=[front_point(t, self.record.objectives) for t in front],
            feasible_trials=_feasible_count(trials),
        )

    def rows(self, *, epochs: bool = False) -> list[dict[str, Any]]:
        """Flat dicts for export: :func:`trial_row` per trial, or :func:`epoch_rows`."""
        found = self.storage.trials(self.record.id)
        return epoch_rows(self.storage, found) if epochs else [trial_row(t) for t in found]

    def to_pandas(self, *, epochs: bool = False) -> Any:
        """A DataFrame: one row per trial (hyperparameters as ``param_<name>`` columns), or with
        ``epochs`` one row per (trial, epoch). Raises ImportError without pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(PANDAS_HINT) from None
        return pd.DataFrame(self.rows(epochs=epochs))

    def __repr__(self) -> str:
        return f"SearchView({self.name!r})"


def trial_row(t: TrialRecord) -> dict[str, Any]:
    """A flat dict of a trial: columns, ``value``, then ``param_<name>`` per hyperparameter."""
    row = {
        k: v
        for k, v in dataclasses.asdict(t).items()
        if k not in ("params", "values", "environment", "error_text", "search_id", "id")
    }
    row["state"] = t.state.value
    row["fail_reason"] = t.fail_reason.value if t.fail_reason else None
    row["value"] = t.value
    if t.constraint_values is not None:  # one column, as a hyperparameter list is
        row["constraint_values"] = ",".join(map(repr, t.constraint_values))
    for k, v in sorted(t.params.items()):
        row[f"param_{_user_word(k)}"] = v if not isinstance(v, list) else ",".join(map(str, v))
    return row


def _feasible_count(trials: Iterable[TrialRecord]) -> int | None:
    """Complete trials that met every [search] constraint; None for a search without any."""
    judged = [t.feasible for t in trials if t.state == TrialState.COMPLETE]
    if all(f is None for f in judged):
        return None
    return sum(f is True for f in judged)


def epoch_rows(storage: Storage, trials: Iterable[TrialRecord]) -> list[dict[str, Any]]:
    """Learning curves in long form: one dict per (trial number, epoch)."""
    out = []
    for t in trials:
        for e in storage.epochs(t.id):
            out.append({"number": t.number, "state": t.state.value, **dataclasses.asdict(e)})
    return out


@dataclass(frozen=True)
class SearchStats:
    """One search summed up, as ``hpsearch compare`` shows it (shares are fractions)."""

    search: str
    objective: str
    direction: str
    best: float | None
    best_trial: int | None
    trials: int
    pruned_share: float
    failed_share: float
    time_to_best_s: float | None  # search created -> best trial finished
    best_params: dict[str, Any]
    trained_to_end: int = 0  # complete trials: neither pruned nor failed
    n_dev: int | None = None  # samples in the dev split (None: the dataset is gone)
    dev_standard_error: float | None = None  # of the best trial's dev accuracy
    warnings: list[str] = dataclasses.field(default_factory=list)
    objectives: list[str] = dataclasses.field(default_factory=list)
    directions: list[str] = dataclasses.field(default_factory=list)
    pareto_front: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    feasible_trials: int | None = None  # complete trials meeting every constraint (None: none)


def front_point(t: TrialRecord, objectives: Iterable[str]) -> dict[str, Any]:
    """A Pareto-front trial as a flat dict: its number, then each objective's value by name."""
    return {"number": t.number, **dict(zip(objectives, t.values, strict=False))}


@dataclass(frozen=True)
class Diagnosis:
    """A trial's bias/variance reading (errors are fractions: 1 - accuracy).

    ``stored`` is what the trainer wrote; ``diagnosis`` is that reading with a variance within
    two standard errors of the dev error not counted as high (``within_noise``), and ``advice``
    is for ``diagnosis``."""

    diagnosis: str
    train_error: float | None
    dev_error: float | None
    avoidable_bias: float | None
    variance: float | None
    advice: str
    stored: str = ""
    n_dev: int | None = None
    dev_standard_error: float | None = None  # of the dev error
    within_noise: bool = False  # the train/dev gap is within 2 standard errors of the dev error


def diagnosis(t: TrialRecord | None, *, n_dev: int | None = None) -> Diagnosis | None:
    """The bias/variance diagnosis stored with a trial (None when none was stored); given the
    dev split's size, a variance within two standard errors of the dev error is read as noise,
    not as high variance."""
    if t is None or not t.diagnosis:
        return None
    dev_error = None if t.dev_accuracy is None else 1 - t.dev_accuracy
    noise = "high variance" in t.diagnosis and within_noise(t.variance, dev_error, n_dev)
    reading = t.diagnosis
    if noise:
        reading = "high bias" if "high bias" in t.diagnosis else "good fit"
    return Diagnosis(
        diagnosis=reading,
        train_error=None if t.train_accuracy is None else 1 - t.train_accuracy,
        dev_error=dev_error,
        avoidable_bias=t.avoidable_bias,
        variance=t.variance,
        advice=ADVICE.get(reading, ""),
        stored=t.diagnosis,
        n_dev=n_dev,
        dev_standard_error=standard_error(dev_error, n_dev),
        within_noise=within_noise(t.variance, dev_error, n_dev),
    )


_LEADING_NAME = re.compile(r"^(\s*-?)([A-Za-z_][A-Za-z0-9_]*)")


def _stored_word(text: Any, stored: list[str]) -> Any:
    """A filter or sort key whose leading name is the user's word (``lambda < 0.01``) naming
    the setting as the database stores it (an older database says ``lambd``)."""
    from hpsearch.searcher import user_name

    if not isinstance(text, str):  # a parsed Filter/SortKey, or no sort
        return text

    def swap(m: re.Match[str]) -> str:
        name = m.group(2)
        if name in stored:
            return m.group(0)
        same = [s for s in stored if user_name(s) == user_name(name)]
        return m.group(1) + (same[0] if same else name)

    return _LEADING_NAME.sub(swap, text, count=1)


def _user_word(name: str) -> str:
    from hpsearch.searcher import user_name

    return user_name(name)
