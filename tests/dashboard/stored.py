"""Searches stored without Ray for the dashboard tests: a running single-objective search and a
finished two-objective one, written through the same Storage calls the driver makes."""

from __future__ import annotations

import math
from typing import Any

from hpsearch.searcher import parse_config
from hpsearch.storage import (
    EpochRecord,
    SearchStatus,
    Storage,
    TrialOutcome,
    TrialStart,
    TrialState,
)
from tests.definitions import iris_definition

SINGLE = "live-iris"
MULTI = "pareto-iris"


def create(store: Storage, name: str, *, objectives: tuple[str, ...], trials: int = 6) -> int:
    """A search as the driver creates it (definition, objectives, directions)."""
    search: dict[str, Any] = {"trials": trials, "objective": list(objectives)}
    if len(objectives) > 1:
        search["sampler"] = "nsga2"
    cfg = parse_config(iris_definition(name, search=search))
    s = cfg.search
    rec = store.create_search(
        name,
        config=cfg.to_dict(),
        objectives=list(s.objectives),
        directions=list(s.directions),
        sampler=s.sampler,
        pruner=s.pruner,
        seed=s.seed,
        dataset=cfg.data.dataset,
    )
    return rec.id


def curve(n: int, scale: float) -> list[EpochRecord]:
    """A falling dev loss and rising accuracy, ``n`` epochs."""
    return [
        EpochRecord(
            epoch=i + 1,
            train_loss=scale * math.exp(-0.3 * i),
            train_accuracy=1 - 0.5 * math.exp(-0.3 * i),
            dev_loss=scale * math.exp(-0.25 * i) + 0.05,
            dev_accuracy=1 - 0.6 * math.exp(-0.25 * i),
            epoch_s=0.01,
            elapsed_s=0.01 * (i + 1),
        )
        for i in range(n)
    ]


def add_trial(
    store: Storage,
    name: str,
    number: int,
    *,
    state: TrialState = TrialState.COMPLETE,
    epochs: int = 5,
    scale: float = 1.0,
    values: tuple[float, ...] | None = None,
    **fields: Any,
) -> int:
    """Start a trial, write its curve, and finish it in ``state`` (RUNNING: left running)."""
    params = {"learning_rate": 0.001 * (number + 1), "dropout": 0.05 * (number % 6)}
    tid = store.start_trial(name, number, params, seed=number, start=TrialStart(node_id="node-a"))
    points = curve(epochs, scale)
    store.add_epochs(tid, points, attempt=1)
    if state is TrialState.RUNNING:
        return tid
    last = points[-1]
    if values is None:
        values = (last.dev_loss,)
    store.finish_trial(
        tid,
        TrialOutcome(
            state=state,
            values=values if state is TrialState.COMPLETE else (),
            epochs_run=epochs,
            train_loss=last.train_loss,
            train_accuracy=last.train_accuracy,
            dev_loss=last.dev_loss,
            dev_accuracy=last.dev_accuracy,
            diagnosis="high variance",
            train_s=0.05 * epochs,
            **fields,
        ),
        attempt=1,
    )
    return tid


def fill(store: Storage) -> None:
    """SINGLE: 3 complete, 1 pruned, 1 failed, 1 running; MULTI: 5 complete (finished)."""
    from hpsearch.storage import FailReason

    create(store, SINGLE, objectives=("dev_loss",))
    add_trial(store, SINGLE, 0, scale=1.0)
    add_trial(store, SINGLE, 1, scale=0.6)
    add_trial(store, SINGLE, 2, state=TrialState.PRUNED, epochs=2, scale=2.0)
    add_trial(store, SINGLE, 3, state=TrialState.FAILED, epochs=3, fail_reason=FailReason.DIVERGED)
    add_trial(store, SINGLE, 4, scale=0.8)
    add_trial(store, SINGLE, 5, state=TrialState.RUNNING, epochs=2, scale=0.7)
    create(store, MULTI, objectives=("dev_loss", "n_params"), trials=5)
    points = [(0.3, 900), (0.2, 1500), (0.5, 400), (0.4, 1000), (0.25, 700)]
    for i, (loss, size) in enumerate(points):
        add_trial(store, MULTI, i, values=(loss, float(size)), scale=loss)
    store.set_search_status(MULTI, SearchStatus.FINISHED)
