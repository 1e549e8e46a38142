"""The fast median/percentile and successive-halving pruners decide as Optuna's do, report for
report."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest

import hpsearch.searcher._fast_pruner as fast
from hpsearch.searcher import parse_config
from hpsearch.searcher._config import ConfigError
from hpsearch.searcher._fast_halving import FastSuccessiveHalvingPruner
from hpsearch.searcher._optuna import make_pruner
from hpsearch.searcher._study import StudySide
from hpsearch.storage import TrialOutcome, TrialState
from hpsearch.trainer import EpochMetrics

State = optuna.trial.TrialState
DIST = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
# few distinct values, so ties, NaN and infinities come up often
POOL = [0.1, 0.2, 0.2, 0.3, 0.5, 0.7, 0.9, math.nan, math.inf, -math.inf]


def _value(rng: np.random.Generator) -> float:
    return float(rng.choice(POOL)) if rng.random() < 0.5 else float(rng.uniform())


def _curve(rng: np.random.Generator, steps: int) -> dict[int, float]:
    """Intermediate values at some steps (gaps included), some NaN or infinite."""
    return {s: _value(rng) for s in range(steps) if rng.random() < 0.8}


def _history(rng: np.random.Generator, n: int) -> list[optuna.trial.FrozenTrial]:
    """Finished trials already in a study before the first report: completed, pruned, failed;
    some with values recorded at successive halving's rungs (a study rebuilt mid-search)."""
    out = []
    for _ in range(n):
        state = State(rng.choice([State.COMPLETE, State.COMPLETE, State.PRUNED, State.FAIL]))
        rungs = int(rng.integers(0, 3)) if rng.random() < 0.5 else 0
        curve = _curve(rng, 8)
        if rng.random() < 0.1:  # a long trial: an "auto" first rung at its steps // 100
            curve[int(rng.integers(100, 400))] = float(rng.uniform())
        out.append(
            optuna.trial.create_trial(
                params={"x": float(rng.uniform())},
                distributions=DIST,
                state=state,
                value=float(rng.uniform()) if state == State.COMPLETE else None,
                intermediate_values=curve,
                system_attrs={
                    f"completed_rung_{r}": float(rng.choice(POOL[:7])) for r in range(rungs)
                },
            )
        )
    return out


def _pruners(
    rng: np.random.Generator,
) -> tuple[optuna.pruners.BasePruner, fast.FastPercentilePruner]:
    """Optuna's pruner and ours with the same random options (median or a percentile)."""
    options = {
        "n_startup_trials": int(rng.integers(0, 6)),
        "n_warmup_steps": int(rng.integers(0, 4)),
        "interval_steps": int(rng.integers(1, 4)),
        "n_min_trials": int(rng.integers(1, 8)),
    }
    if rng.random() < 0.4:
        return optuna.pruners.MedianPruner(**options), fast.FastPercentilePruner(50.0, **options)
    q = float(rng.choice([0.0, 10.0, 25.0, 33.3, 75.0, 100.0, rng.uniform(0, 100)]))
    return (
        optuna.pruners.PercentilePruner(q, **options),
        fast.FastPercentilePruner(q, **options),
    )


def _halving_pruners(
    rng: np.random.Generator,
) -> tuple[optuna.pruners.BasePruner, FastSuccessiveHalvingPruner]:
    """Optuna's successive halving and ours with the same random options."""
    options = {
        "min_resource": rng.choice(["auto", 1, 1, 2, 3]),
        "reduction_factor": int(rng.integers(2, 6)),
        "min_early_stopping_rate": int(rng.choice([0, 0, 1, 2])),
        "bootstrap_count": int(rng.choice([0, 0, 1, 3])),
    }
    if options["min_resource"] != "auto":
        options["min_resource"] = int(options["min_resource"])
    else:
        options["bootstrap_count"] = 0  # Optuna refuses a bootstrap count with "auto"
    return (
        optuna.pruners.SuccessiveHalvingPruner(**options),
        FastSuccessiveHalvingPruner(**options),
    )


def _replay(seed: int, pruners=_pruners) -> tuple[int, int]:
    """One random run through two studies, Optuna's pruner and ours: the same history, then
    trials in flight reporting in an interleaved order (skipped steps, NaN, infinities) and
    ending as complete, pruned or failed. Every decision must agree, and so must the rung
    values successive halving records on the trial; returns how many decisions were True and
    False."""
    rng = np.random.default_rng(seed)
    direction = str(rng.choice(["minimize", "maximize"]))
    reference, ours = pruners(rng)
    studies = [optuna.create_study(direction=direction, pruner=p) for p in (reference, ours)]
    history = _history(rng, int(rng.integers(0, 30)))
    for study in studies:
        study.add_trials(history)
    running: list[tuple[list[optuna.Trial], list[int]]] = []  # (trial in each study, next step)
    decisions = {True: 0, False: 0}
    for _ in range(400):
        if len(running) < 6 and (not running or rng.random() < 0.3):
            running.append(([s.ask() for s in studies], [0]))
        i = int(rng.integers(len(running)))
        trials, step = running[i]
        if rng.random() < 0.8:  # one more report, sometimes a few steps on
            step[0] += int(rng.choice([0, 1, 1, 2]))
            value = _value(rng)
            got = []
            for t in trials:
                t.report(value, step[0])
                got.append(t.should_prune())
            assert got[0] == got[1], (seed, direction, step[0], value)
            attrs = [
                s._storage.get_trial(t._trial_id).system_attrs
                for s, t in zip(studies, trials, strict=True)
            ]
            assert attrs[0] == attrs[1], (seed, attrs)
            decisions[got[0]] += 1
            step[0] += 1
            if not got[0] and rng.random() > 0.15:
                continue
            end = State.PRUNED if got[0] else State(rng.choice([State.COMPLETE, State.FAIL]))
        else:
            end = State(rng.choice([State.COMPLETE, State.PRUNED, State.FAIL]))
        value = [float(rng.uniform())] if end == State.COMPLETE else None
        for study, t in zip(studies, trials, strict=True):
            study.tell(t, value, state=end)
        frozen = studies[1]._storage.get_trial(trials[1]._trial_id)
        fast.told(studies[1], frozen)
        running.pop(i)
    return decisions[True], decisions[False]


@pytest.mark.parametrize("seeds", [range(0, 40), range(40, 80)])
def test_every_decision_is_optunas(seeds):
    pruned = kept = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's pruner: numpy's all-NaN slice warning
        for seed in seeds:
            p, k = _replay(seed)
            pruned, kept = pruned + p, kept + k
    assert pruned > 500 and kept > 500  # both answers came up often enough to mean something


@pytest.mark.parametrize("seeds", [range(0, 40), range(40, 80)])
def test_every_successive_halving_decision_is_optunas(seeds):
    pruned = kept = 0
    for seed in seeds:
        p, k = _replay(seed, _halving_pruners)
        pruned, kept = pruned + p, kept + k
    assert pruned > 500 and kept > 500


def test_the_percentile_is_numpys_to_the_last_bit():
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3000):
            values = [_value(rng) for _ in range(int(rng.integers(0, 12)))]
            q = float(rng.choice([0.0, 25.0, 50.0, 75.0, 100.0, rng.uniform(0, 100)]))
            want = float(np.nanpercentile(np.array(values, dtype=float), q)) if values else math.nan
            got = fast.linear_percentile(sorted(v for v in values if not math.isnan(v)), q)
            assert got == want or (math.isnan(got) and math.isnan(want)), (values, q)


def _config(pruner: str, options: dict):
    return parse_config(
        {
            "search": {
                "name": "fast-pruner",
                "trials": 100,
                "sampler": "random",
                "pruner": pruner,
                "pruner_options": options,
                "direction": "maximize",
                "seed": 3,
            },
            "data": {"dataset": "digits"},
            "train": {"epochs": 4},
            "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        }
    )


def test_median_and_percentile_are_replaced_and_the_others_are_not(monkeypatch):
    assert isinstance(
        make_pruner(_config("median", {}), incremental=True), fast.FastPercentilePruner
    )
    p = make_pruner(
        _config("percentile", {"percentile": 40.0, "n_min_trials": 3}), incremental=True
    )
    assert isinstance(p, fast.FastPercentilePruner)
    assert (p._percentile, p._n_min_trials) == (40.0, 3)
    assert make_pruner(_config("median", {}), incremental=True)._percentile == 50.0
    sha = make_pruner(_config("successive_halving", {"reduction_factor": 3}), incremental=True)
    assert isinstance(sha, FastSuccessiveHalvingPruner) and sha._reduction_factor == 3
    assert sha._min_resource == 2  # the warm-up default derived from 4 epochs (never epoch 1)
    plain = make_pruner(_config("successive_halving", {}))  # not the driver's study: Optuna's
    assert isinstance(plain, optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(
        make_pruner(_config("hyperband", {}), incremental=True), optuna.pruners.HyperbandPruner
    )
    monkeypatch.setattr(fast, "ENABLED", False)
    assert isinstance(
        make_pruner(_config("median", {}), incremental=True), optuna.pruners.MedianPruner
    )


def test_bad_options_are_still_one_line_about_the_option():
    with pytest.raises(ConfigError, match=r"search\.pruner_options: percentile: .*Percentile"):
        make_pruner(_config("percentile", {"percentile": 120.0}), incremental=True)
    with pytest.raises(ConfigError, match="interval_steps"):
        make_pruner(_config("median", {"interval_steps": 0}), incremental=True)


def _drive(side: StudySide, seed: int) -> list[bool]:
    """The driver's calls with 3 trials in flight, ending in turn: report each epoch (stop
    when pruned), tell. Returns every decision."""
    rng = np.random.default_rng(seed)
    decisions: list[bool] = []
    flight = [(side.ask(), {}) for _ in range(3)]
    for n in range(60):
        asked, seen = flight.pop(0)
        pruned = False
        for e in range(1, 5):
            v = float(rng.uniform()) if n % 11 else math.nan
            pruned = side.report(asked.otrial, EpochMetrics(e, 1.0, v, 1.0, v, 0.1, 0.1), seen)
            decisions.append(pruned)
            if pruned:
                break
        state = TrialState.PRUNED if pruned else TrialState.COMPLETE
        outcome = TrialOutcome(state=state, values=() if pruned else (v,), dev_loss=1.0)
        side.tell(asked.otrial, asked.number, outcome)
        flight.append((side.ask(), {}))
    return decisions


@pytest.mark.parametrize(
    ("pruner", "options"),
    [
        ("median", {"n_startup_trials": 3, "n_min_trials": 2}),
        ("successive_halving", {"min_resource": 1, "reduction_factor": 2}),
    ],
)
def test_the_driver_s_study_side_decides_the_same_with_either(monkeypatch, pruner, options):
    config = _config(pruner, options)
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for enabled in (True, False):
            monkeypatch.setattr(fast, "ENABLED", enabled)
            side = StudySide(config)
            runs.append(_drive(side, 5))
            side.close()
    assert runs[0] == runs[1]
    assert any(runs[0]) and not all(runs[0])


def test_rung_values_are_what_the_trial_recorded_as_it_ran():
    from hpsearch.searcher._fast_halving import rung_values

    options = {"min_resource": 2, "reduction_factor": 2}
    curve = {e: e / 10 for e in range(1, 10)}  # epochs 1..9
    assert rung_values(curve, options) == {
        "completed_rung_0": 0.2,  # epoch 2
        "completed_rung_1": 0.4,  # epoch 4
        "completed_rung_2": 0.8,  # epoch 8
    }
    # a missing epoch: the first reported at or after the rung, as the pruner saw it
    assert rung_values({1: 0.1, 3: 0.3}, options) == {"completed_rung_0": 0.3}
    assert rung_values({1: 0.1}, options) == {}  # ended before the first rung
    assert rung_values(curve, {"min_resource": "auto"}) == {}
    late = rung_values(curve, {**options, "min_early_stopping_rate": 1})
    assert late == {"completed_rung_0": 0.4, "completed_rung_1": 0.8}


def test_a_rebuilt_study_halves_against_the_stored_trials(monkeypatch):
    # Resume rebuilds the in-memory study from stored trials; their rung values must come back,
    # else the first trial after a resume competes with nobody and is always promoted.
    from hpsearch.searcher._optuna import add_history, frozen_trial, new_study

    config = _config("successive_halving", {"min_resource": 2, "reduction_factor": 2})
    for enabled in (True, False):  # our pruner and Optuna's see the same rebuilt rungs
        monkeypatch.setattr(fast, "ENABLED", enabled)
        study = new_study(config)
        good = {1: 0.8, 2: 0.9, 3: 0.9, 4: 0.95}
        history = [
            frozen_trial(
                config,
                params={"learning_rate": 0.01},
                state="complete",
                values=[0.95],
                intermediate=good,
                number=n,
            )
            for n in range(6)
        ]
        assert history[0].system_attrs["completed_rung_0"] == 0.9
        assert add_history(study, history) == 6
        poor = study.ask()
        poor.report(0.1, 1)
        assert not poor.should_prune()  # before the first rung
        poor.report(0.1, 2)
        assert poor.should_prune()  # the worst of 7 at epoch 2
