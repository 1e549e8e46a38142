"""Sampling ahead in a separate process (StudySide past AHEAD_FROM trials)."""

from __future__ import annotations

import pytest

import hpsearch.searcher._ask_ahead as ask_ahead
from hpsearch.searcher import parse_config
from hpsearch.searcher._study import StudySide
from hpsearch.storage import FailReason, TrialOutcome, TrialRecord, TrialState
from hpsearch.trainer import EpochMetrics

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "units": {"type": "int", "low": 8, "high": 256, "log": True},
}


def _config(sampler: str = "tpe"):
    return parse_config(
        {
            "search": {
                "name": "ahead",
                "trials": 100,
                "sampler": sampler,
                "sampler_options": {"n_startup_trials": 3} if sampler == "tpe" else {},
                "pruner": "median",
                "seed": 7,
            },
            "data": {"dataset": "digits"},
            "train": {"epochs": 3},
            "space": SPACE,
        }
    )


@pytest.fixture
def ahead_small(monkeypatch):
    """Ask ahead from the 6th finished trial on, 2 asks ahead (the real values: 1,000 and 16)."""
    monkeypatch.setattr(ask_ahead, "AHEAD_FROM", 6)
    monkeypatch.setattr(ask_ahead, "DEPTH", 2)


def _score(settings: dict) -> float:
    """A deterministic objective of the settings: the best learning rate is 1e-2."""
    import math

    return 1.0 - abs(math.log10(settings["learning_rate"]) + 2.0) / 3.0


def _run(side: StudySide, trials: int) -> list[dict]:
    """The driver's sequence with one worker: ask, report each epoch, tell."""
    seen_settings = []
    for _ in range(trials):
        a = side.ask()
        seen_settings.append(a.settings)
        value = _score(a.settings)
        seen: dict[int, float] = {}
        for e in (1, 2, 3):
            side.report(a.otrial, EpochMetrics(e, 1.0, value, 1.0, value, 0.1, 0.1 * e), seen)
        outcome = TrialOutcome(state=TrialState.COMPLETE, values=(value,), dev_loss=1.0 - value)
        side.tell(a.otrial, a.number, outcome)
    return seen_settings


def test_asking_ahead_is_reproducible_and_starts_past_the_threshold(ahead_small):
    runs = []
    for _ in range(2):
        side = StudySide(_config())
        try:
            runs.append(_run(side, 12))
            assert side._ahead is not None  # the sampler process answered the last asks
        finally:
            side.close()
    assert runs[0] == runs[1]  # same events, same settings: the process reads them in order
    # below the threshold the settings are exactly those of asking in the loop
    plain = StudySide(_config())
    ask_ahead.AHEAD_FROM = 10**9
    try:
        assert _run(plain, 6) == runs[0][:6]
    finally:
        plain.close()


def test_a_resumed_study_sends_every_stored_and_told_trial_to_the_sampler(ahead_small):
    class NoEpochs:
        def epochs(self, trial_id: int) -> list:
            return []

    def record(n: int, state: TrialState, **kw) -> TrialRecord:
        lr = 10 ** (-4 + 3 * n / 10)
        params = {"learning_rate": lr, "units": 8 + n}
        return TrialRecord(
            id=n + 1, search_id=1, number=n, state=state, attempt=1, params=params, **kw
        )

    stored = [record(n, TrialState.COMPLETE, values=(0.5 + 0.01 * n,)) for n in range(8)]
    stored.append(record(8, TrialState.PRUNED))
    stored.append(record(9, TrialState.FAILED, fail_reason=FailReason.DRIVER_LOST))
    side = StudySide(_config())
    try:
        side.rebuild(NoEpochs(), stored)
        _run(side, 5)  # the requeued trial 9 first (asked here), then 4 from the process
        assert side._ahead is not None
        # the sampler sees what the driver's study holds: the 10 stored (the driver-lost one as
        # a failure, as before) and the 5 told since, the requeued one included
        here = side.study.get_trials(deepcopy=False, states=ask_ahead.FINISHED)
        assert side._ahead.history_size() == len(here) == 10 + 5
    finally:
        side.close()


def test_random_search_never_starts_a_sampler_process(ahead_small):
    side = StudySide(_config("random"))
    try:
        _run(side, 8)
        assert side._ahead is None
    finally:
        side.close()


def test_kept_holds_the_best_and_the_most_recent_trials_in_order():
    import optuna

    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    values = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5]
    trials = [
        optuna.trial.create_trial(params={"x": v}, distributions=dist, value=v) for v in values
    ]
    got = ask_ahead.kept(trials, maximize=True, best=2, recent=2)
    assert [t.value for t in got] == [0.9, 0.8, 0.4, 0.5]
    got = ask_ahead.kept(trials, maximize=False, best=2, recent=2)
    assert [t.value for t in got] == [0.1, 0.2, 0.4, 0.5]
    assert ask_ahead.kept(trials, maximize=None, best=2, recent=2) == trials
    assert ask_ahead.kept(trials, maximize=True, best=4, recent=3) == trials


def test_a_bounded_sampler_keeps_asking_and_counts_every_told_trial(ahead_small, monkeypatch):
    monkeypatch.setattr(ask_ahead, "KEEP_BEST", 2)
    monkeypatch.setattr(ask_ahead, "KEEP_RECENT", 3)
    monkeypatch.setattr(ask_ahead, "REBUILD_EVERY", 2)
    side = StudySide(_config())
    try:
        settings = _run(side, 16)  # 10 answered by the process, rebuilt every 2 tells
        assert len({s["learning_rate"] for s in settings}) == 16
        assert side._ahead.history_size() == 16
    finally:
        side.close()
