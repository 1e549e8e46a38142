"""One order of trials by objective everywhere: ties by dev_loss (ascending, NaN last), then by
trial number, for both directions and both backends (issue 12)."""

from __future__ import annotations

import math

import pytest

from hpsearch.storage import Storage, TrialOutcome, TrialState

# (objective, dev_loss) by trial number; 0.5 is tied four ways, one of them without a dev_loss
TRIALS = [(0.5, 0.9), (0.5, 0.3), (0.7, 0.1), (0.5, math.nan), (0.5, 0.3), (None, 0.01)]
# the tied four by dev_loss then number: 1 and 4 (0.3), 0 (0.9), 3 (NaN last)
TIED = [1, 4, 0, 3]


def _search(storage: Storage, direction: str) -> str:
    name = f"ties-{direction}"
    storage.create_search(name, config={}, directions=(direction,))
    for number, (value, dev_loss) in reversed(list(enumerate(TRIALS))):  # stored out of order
        tid = storage.start_trial(name, number, {"x": number})
        values = () if value is None else (value,)
        state = TrialState.FAILED if value is None else TrialState.COMPLETE
        outcome = TrialOutcome(state, values=values, dev_loss=dev_loss)
        storage.finish_trial(tid, outcome, attempt=1)
    return name


def _numbers(trials: list) -> list[int]:
    return [t.number for t in trials]


@pytest.mark.parametrize(
    ("direction", "order"), [("minimize", [*TIED, 2]), ("maximize", [2, *TIED])]
)
def test_every_objective_order_breaks_ties_by_dev_loss_then_number(
    storage: Storage, direction: str, order: list[int]
) -> None:
    name = _search(storage, direction)
    assert _numbers(storage.top_trials(name, 10)) == order
    assert storage.best_trial(name).number == order[0]
    assert _numbers(storage.query_trials(name, limit=10)) == [*order, 5]  # top K, no value last
    assert _numbers(storage.trials(name, order_by="objective")) == [*order, 5]
    best_first = "-value" if direction == "maximize" else "value"
    assert _numbers(storage.query_trials(name, sort=best_first)) == [*order, 5]


def test_ties_are_broken_the_same_way_whatever_the_sort_direction(storage: Storage) -> None:
    name = _search(storage, "minimize")
    worst_first = _numbers(storage.query_trials(name, sort="-value"))
    assert worst_first == [2, *TIED, 5]  # the objective reversed; ties still by dev_loss, number
