"""Small search definitions and stored trials shared by the command-line and query tests."""

from __future__ import annotations

import copy
from typing import Any

from hpsearch.storage import Storage, TrialOutcome, TrialState

# Iris on 2 workers, a few short trials: the definition most command-line tests run.
IRIS: dict[str, Any] = {
    "search": {
        "name": "iris",
        "trials": 3,
        "workers": 2,
        "sampler": "random",
        "pruner": "none",
        "seed": 7,
    },
    "data": {"dataset": "iris"},
    "train": {"epochs": 5, "layers": 1, "units": 8},
    "space": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3},
    },
}


def iris_definition(name: str = "iris", **sections: dict[str, Any]) -> dict[str, Any]:
    """:data:`IRIS` named ``name``; each keyword replaces keys of that section
    (``search={"trials": 7}``, ``space={...}`` replaces the whole space)."""
    doc = copy.deepcopy(IRIS)
    doc["search"]["name"] = name
    for section, values in sections.items():
        if section == "space":
            doc["space"] = copy.deepcopy(values)
        else:
            doc.setdefault(section, {}).update(values)
    return doc


def finished_trial(
    store: Storage,
    search: str,
    number: int,
    params: dict[str, Any],
    *,
    value: float | None = 0.9,
    state: TrialState = TrialState.COMPLETE,
    values: tuple[float, ...] | None = None,
    **fields: Any,
) -> int:
    """Start and finish one trial as the driver would (attempt 1); returns its id. ``values``
    gives every objective's value (a multi-objective search), else ``value`` is the only one."""
    tid = store.start_trial(search, number, params, seed=fields.pop("seed", None))
    if values is None:
        values = () if value is None else (value,)
    store.finish_trial(tid, TrialOutcome(state=state, values=values, **fields), attempt=1)
    return tid
