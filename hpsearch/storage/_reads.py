"""The read queries behind :class:`hpsearch.storage.Storage`'s listings, as ``select`` statements.

Each function builds a statement (or runs one in the caller's session); the filters and sort keys
typed by users are in :mod:`hpsearch.storage._query`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from hpsearch.storage._errors import SearchNotFoundError
from hpsearch.storage._models import EpochRow, ModelRow, SearchRow, TrialRow, TrialState

SearchRef = str | int  # a search's name, or its id
TRIAL_ORDERS = ("number", "objective", "started_at", "finished_at")


def by_objective(direction: str, *, descending: bool | None = None) -> list[Any]:
    """The one order of trials by their first objective, shared by every listing: feasible
    trials (or those of a search without constraints) before infeasible ones, then best first
    for ``direction`` (or as ``descending`` says), ties broken by dev_loss ascending, then by
    trial number; a missing (NULL, NaN) objective or dev_loss comes last."""
    if descending is None:
        descending = direction == "maximize"
    col = TrialRow.objective
    key = col.desc() if descending else col.asc()
    return [
        infeasible_last(),
        key.nulls_last(),
        TrialRow.dev_loss.asc().nulls_last(),
        TrialRow.number.asc(),
    ]


def infeasible_last() -> Any:
    """0 for a feasible trial (or one of a search without constraints: NULL), 1 for an
    infeasible one: ordered ascending, infeasible trials come after every other."""
    return case((TrialRow.feasible.is_(False), 1), else_=0).asc()


def search_row(s: Session, search: SearchRef, *, url: str) -> SearchRow:
    """The search named ``search`` (or with that id).

    Raises:
        SearchNotFoundError: no such search (the message names the recent ones).
        TypeError: ``search`` is neither a str nor an int.
    """
    if isinstance(search, bool) or not isinstance(search, str | int):
        raise TypeError("`search` should be a search name (str) or id (int).")
    if isinstance(search, str):
        search = search.strip()  # names are stored stripped (create_search): look up the same way
    column = SearchRow.name if isinstance(search, str) else SearchRow.id
    row = s.scalar(select(SearchRow).where(column == search))
    if row is None:
        names = list(s.scalars(select(SearchRow.name).order_by(SearchRow.id.desc()).limit(5)))
        known = f"; recent searches: {', '.join(names)}" if names else "; it has no searches"
        what = f"named {search!r}" if isinstance(search, str) else f"with id {search}"
        raise SearchNotFoundError(f"no search {what} in {url}{known}")
    return row


def searches_with_counts() -> Select[Any]:
    """Every search with (n, complete, pruned, failed, running, min and max objective of the
    complete feasible trials, last finish, infeasible trials), oldest first."""
    t = TrialRow

    def count(state: TrialState) -> Any:
        return func.coalesce(func.sum(case((t.state == state, 1), else_=0)), 0)

    # the best value is that of a feasible trial (or of any, in a search without constraints)
    complete_objective = case(
        ((t.state == TrialState.COMPLETE) & t.feasible.is_not(False), t.objective)
    )
    return (
        select(
            SearchRow,
            func.count(t.id),
            count(TrialState.COMPLETE),
            count(TrialState.PRUNED),
            count(TrialState.FAILED),
            count(TrialState.RUNNING),
            func.min(complete_objective),
            func.max(complete_objective),
            func.max(t.finished_at),
            func.coalesce(func.sum(case((t.feasible.is_(False), 1), else_=0)), 0),
        )
        .outerjoin(t, t.search_id == SearchRow.id)
        .group_by(SearchRow.id)
        .order_by(SearchRow.id)
    )


def trials(
    search: SearchRow,
    *,
    states: Sequence[TrialState] | None,
    order_by: str,
    limit: int | None,
) -> Select[Any]:
    """A search's trials; ``order_by`` one of :data:`TRIAL_ORDERS` (objective: best first for the
    first objective's direction, no objective last)."""
    stmt = select(TrialRow).where(TrialRow.search_id == search.id)
    if states is not None:
        stmt = stmt.where(TrialRow.state.in_(list(states)))
    if order_by == "objective":
        stmt = stmt.order_by(*by_objective(search.directions[0]))
    else:
        stmt = stmt.order_by(getattr(TrialRow, order_by), TrialRow.number)
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def top_trials(search: SearchRow, n: int) -> Select[Any]:
    """The ``n`` best COMPLETE trials with a finite first objective, best first, ties by
    dev_loss then number (:func:`by_objective`; the index serves the objective)."""
    return (
        select(TrialRow)
        .where(
            TrialRow.search_id == search.id,
            TrialRow.state == TrialState.COMPLETE,
            TrialRow.objective.is_not(None),
        )
        .order_by(*by_objective(search.directions[0]))
        .limit(n)
    )


def trial_number(search: SearchRow, number: int) -> Select[Any]:
    """Trial ``number`` of a search."""
    return select(TrialRow).where(TrialRow.search_id == search.id, TrialRow.number == number)


def running_trials(search_id: int) -> Select[Any]:
    """The RUNNING trials of a search by number, locked for update."""
    return (
        select(TrialRow)
        .where(TrialRow.search_id == search_id, TrialRow.state == TrialState.RUNNING)
        .order_by(TrialRow.number)
        .with_for_update()
    )


def epochs(trial_id: int) -> Select[Any]:
    """A trial's ``hps_epochs`` rows by epoch (Core rows: no ORM objects for a long curve)."""
    table = EpochRow.__table__
    return select(table).where(table.c.trial_id == trial_id).order_by(table.c.epoch)


def model_trial_ids(search_id: int) -> Select[Any]:
    """Ids of a search's trials that have a saved model, by trial number."""
    return (
        select(ModelRow.trial_id)
        .join(TrialRow, TrialRow.id == ModelRow.trial_id)
        .where(TrialRow.search_id == search_id)
        .order_by(TrialRow.number)
    )
