"""The read half of :class:`hpsearch.storage.Storage`: searches, trials, curves, models, queries.

:class:`Reader` is a base of :class:`~hpsearch.storage.Storage` (which adds the writes); it is not
used on its own. The statements are built in :mod:`~hpsearch.storage._reads` and
:mod:`~hpsearch.storage._query`, the records in :mod:`~hpsearch.storage._convert`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hpsearch.storage import _convert, _query, _reads
from hpsearch.storage._errors import ModelNotFoundError, TrialNotFoundError
from hpsearch.storage._models import FoldRow, ModelRow, SearchRow, TrialRow, TrialState
from hpsearch.storage._records import (
    EpochRecord,
    FoldRecord,
    SearchRecord,
    SearchSummary,
    TrialRecord,
)
from hpsearch.storage._session import Database

SearchRef = _reads.SearchRef  # a search's name (str), or its id (int)


class Reader(Database):
    """Every read of the results database (see :class:`~hpsearch.storage.Storage`)."""

    def _search_row(self, s: Session, search: SearchRef) -> SearchRow:
        return _reads.search_row(s, search, url=self.url)

    def get_search(self, search: SearchRef) -> SearchRecord:
        """The search named ``search`` (or with that id).

        Raises:
            SearchNotFoundError: no such search.
        """
        return self._run(lambda s: _convert.search_record(self._search_row(s, search)))

    def list_searches(self) -> list[SearchSummary]:
        """Every search, oldest first, with trial counts, best value and duration."""
        stmt = _reads.searches_with_counts()
        return self._run(
            lambda s: [_convert.search_summary(r[0], tuple(r[1:])) for r in s.execute(stmt)]
        )

    def trial_by_id(self, trial_id: int) -> TrialRecord:
        """The trial with that id.

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> TrialRecord:
            row = s.get(TrialRow, trial_id)
            if row is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            return _convert.trial_record(row)

        return self._run(run)

    def get_trial(self, search: SearchRef, number: int) -> TrialRecord:
        """Trial ``number`` of a search.

        Raises:
            SearchNotFoundError: no such search.
            TrialNotFoundError: the search has no trial with that number.
        """

        def run(s: Session) -> TrialRecord:
            row = self._search_row(s, search)
            trial = s.scalar(_reads.trial_number(row, number))
            if trial is None:
                raise TrialNotFoundError(f"search {row.name!r} has no trial number {number}")
            return _convert.trial_record(trial)

        return self._run(run)

    def trials(
        self,
        search: SearchRef,
        *,
        states: Iterable[TrialState | str] | None = None,
        order_by: str = "number",
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials of a search. ``order_by``: number | objective (best first for the first
        objective's direction, ties by dev_loss then number; no objective last) | started_at |
        finished_at.

        Raises:
            SearchNotFoundError: no such search.
            ValueError: unknown ``order_by`` or state.
        """
        if order_by not in _reads.TRIAL_ORDERS:
            raise ValueError(f"The value of `order_by` should be one of {_reads.TRIAL_ORDERS}.")
        wanted = None if states is None else [TrialState(x) for x in states]

        def run(s: Session) -> list[TrialRecord]:
            row = self._search_row(s, search)
            stmt = _reads.trials(row, states=wanted, order_by=order_by, limit=limit)
            return [_convert.trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def top_trials(self, search: SearchRef, n: int = 10) -> list[TrialRecord]:
        """The ``n`` best COMPLETE trials with a finite first objective, best first (feasible
        ones before infeasible ones); ties by dev_loss (ascending, NaN last), then trial number
        (the order every view shares).

        Raises:
            SearchNotFoundError: no such search.
        """

        def run(s: Session) -> list[TrialRecord]:
            stmt = _reads.top_trials(self._search_row(s, search), n)
            return [_convert.trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def best_trial(self, search: SearchRef) -> TrialRecord | None:
        """The best COMPLETE trial by the first objective (finite values only), or None; of tied
        trials, the one with the lowest dev_loss, then the lowest number. In a search with
        constraints, the best feasible one (None when no trial is feasible).

        Raises:
            SearchNotFoundError: no such search.
        """
        best = self.top_trials(search, 1)
        return best[0] if best and best[0].feasible is not False else None

    def epochs(self, trial_id: int) -> list[EpochRecord]:
        """The learning curve of a trial, by epoch (empty when none was written).

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> list[EpochRecord]:
            rows = s.execute(_reads.epochs(trial_id)).all()
            if not rows and s.get(TrialRow, trial_id) is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            return [_convert.epoch_record(r._mapping) for r in rows]

        return self._run(run)

    def trial_folds(self, trial_id: int) -> list[FoldRecord]:
        """A cross-validated trial's folds ([data] folds), by fold; empty for other trials.

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> list[FoldRecord]:
            rows = s.scalars(
                select(FoldRow).where(FoldRow.trial_id == trial_id).order_by(FoldRow.fold)
            ).all()
            if not rows and s.get(TrialRow, trial_id) is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            return [
                FoldRecord(
                    fold=r.fold,
                    train_loss=r.train_loss,
                    train_accuracy=r.train_accuracy,
                    dev_loss=r.dev_loss,
                    dev_accuracy=r.dev_accuracy,
                    epochs_run=r.epochs_run,
                )
                for r in rows
            ]

        return self._run(run)

    def load_model(self, trial_id: int) -> bytes:
        """A trial's saved model bytes.

        Raises:
            ModelNotFoundError: no model saved for that trial.
        """

        def run(s: Session) -> bytes:
            data = s.scalar(select(ModelRow.data).where(ModelRow.trial_id == trial_id))
            if data is None:
                raise ModelNotFoundError(f"no saved model for trial id {trial_id}")
            return bytes(data)

        return self._run(run)

    def model_trial_ids(self, search: SearchRef) -> list[int]:
        """Ids of the trials of a search that have a saved model.

        Raises:
            SearchNotFoundError: no such search.
        """
        return self._run(
            lambda s: list(s.scalars(_reads.model_trial_ids(self._search_row(s, search).id)))
        )

    # --- queries (filters and sort keys: hpsearch.storage._query) -----------------------------

    def query_trials(
        self,
        search: SearchRef,
        *,
        where: Iterable[Any] = (),
        sort: Any = None,
        states: Iterable[TrialState | str] | None = None,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials of a search filtered, sorted and limited in SQL with bound parameters.

        ``where``: ``Filter`` objects or strings like ``'dropout > 0.3'``; ``sort``: a ``SortKey``
        or a string (``'dev_loss'``, ``'-dev_accuracy'``, ``'lambda:desc'``); names are trial
        columns or the search's hyperparameters (as stored: the user's words). Without ``sort``,
        ``limit`` keeps the best trials by the first objective (the "top K"); otherwise trials
        come by number. Ordered by the objective, ties come by dev_loss (ascending), then trial
        number, NULL/NaN last: the same order as :meth:`top_trials` and :meth:`best_trial`.

        Raises:
            SearchNotFoundError: no such search.
            QueryError: a malformed condition, an unknown name or a value of the wrong kind.
        """
        filters = _query.as_filters(where)
        key = _query.parse_sort(sort) if isinstance(sort, str) else sort
        wanted = None if states is None else [TrialState(x) for x in states]

        def run(s: Session) -> list[TrialRecord]:
            row = self._search_row(s, search)
            kinds = _query.param_kinds(s.execute(_query.param_kinds_query(row.id)).all())
            stmt = _query.trial_query(
                row.id,
                row.directions[0],
                kinds,
                where=filters,
                sort=key,
                states=wanted,
                limit=limit,
            )
            return [_convert.trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def hyperparameter_kinds(self, search: SearchRef) -> dict[str, str]:
        """name -> number | text | bool | json for every hyperparameter stored in a search.

        Raises:
            SearchNotFoundError: no such search.
        """

        def run(s: Session) -> dict[str, str]:
            row = self._search_row(s, search)
            return _query.param_kinds(s.execute(_query.param_kinds_query(row.id)).all())

        return self._run(run)
