"""A small read-only API for notebooks::

    import hpsearch
    db = hpsearch.open("sqlite:///hpsearch.db")
    db.searches()                         # SearchSummary per search
    s = db.search("digits-quick")
    s.trials(where=["dropout > 0.3"], sort="-dev_accuracy", limit=5)   # TrialRecords
    s.best(); s.epochs(7)                 # best TrialRecord, EpochRecords of trial 7
    s.to_pandas(); s.to_pandas(epochs=True)   # needs pip install 'hpsearch[pandas]'

Everything returned is a plain frozen dataclass (or a DataFrame); nothing writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from hpsearch.storage import (
    EpochRecord,
    SearchRecord,
    SearchSummary,
    Storage,
    TrialRecord,
    TrialState,
    open_storage,
)

PANDAS_HINT = "to_pandas() needs pandas: pip install 'hpsearch[pandas]'"


def open(url: str | None = None) -> Results:
    """Open a results database for reading (``None``: $HPSEARCH_STORAGE, else the default)."""
    return Results(open_storage(url))


class Results:
    """A results database; use as a context manager or call :meth:`close`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def searches(self) -> list[SearchSummary]:
        """Every search with its counts, best value and duration, oldest first."""
        return self.storage.list_searches()

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

    def trials(
        self,
        *,
        where: Iterable[str] = (),
        sort: str | None = None,
        state: Iterable[TrialState | str] | None = None,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials as TrialRecords; filters/sort keys as for ``hpsearch trials`` (``--where``,
        ``--sort``). Raises QueryError for a bad filter."""
        return self.storage.query_trials(
            self.record.id, where=list(where), sort=sort, states=state, limit=limit
        )

    def trial(self, number: int) -> TrialRecord:
        return self.storage.get_trial(self.record.id, number)

    def best(self) -> TrialRecord | None:
        """The best complete trial by the first objective, or None."""
        return self.storage.best_trial(self.record.id)

    def epochs(self, number: int) -> list[EpochRecord]:
        """The learning curve of trial ``number``."""
        return self.storage.epochs(self.trial(number).id)

    def to_pandas(self, *, epochs: bool = False) -> Any:
        """A DataFrame: one row per trial (hyperparameters as ``param_<name>`` columns), or with
        ``epochs`` one row per (trial, epoch). Raises ImportError without pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(PANDAS_HINT) from None
        if epochs:
            return pd.DataFrame(epoch_rows(self.storage, self.trials()))
        return pd.DataFrame([trial_row(t) for t in self.trials()])

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
    for k, v in sorted(t.params.items()):
        row[f"param_{k}"] = v if not isinstance(v, list) else ",".join(map(str, v))
    return row


def epoch_rows(storage: Storage, trials: Iterable[TrialRecord]) -> list[dict[str, Any]]:
    """Learning curves in long form: one dict per (trial number, epoch)."""
    out = []
    for t in trials:
        for e in storage.epochs(t.id):
            out.append({"number": t.number, "state": t.state.value, **dataclasses.asdict(e)})
    return out
