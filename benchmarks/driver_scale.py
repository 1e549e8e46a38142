"""The driver's study side at scale: trials per second it sustains, asking in the loop or ahead.

    python benchmarks/driver_scale.py [--history 10000] [--slots 128] [--trial-s 10] [--duration 30]
        [--only loop|ahead] [--pruner both|fast|optuna] [--kind successive_halving|median|both]

A simulated cluster without Ray: ``slots`` trials in flight, each a fixed wall time; every one
that ends is reported (5 epochs; successive halving, the default pruner, with rungs at epochs 1,
2 and 4, or the median pruner), told and replaced by a new ask, as the driver loop does. Prints,
for asking in the loop and asking ahead in a sampler process: the first wave's time, the trials
per second sustained after it against the rate the slots need, how full the slots stayed (the
share of slot-seconds in the window with a trial running: a trial that ended and waits for the
loop counts as an empty slot), the loop's own CPU per trial and the time per report (report +
should_prune). With ``--pruner both`` (the default) each mode runs with Optuna's pruner first
(the baseline), then with hpsearch's incremental one (``_fast_pruner``, ``_fast_halving``: the
same decisions). (Ray's and the database's cost per trial come on top: `search_overhead.py`'s
scale run.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def synthetic_history(n: int, *, epochs: int = 0, seed: int = 0, rungs: int = 0) -> list:
    """``n`` finished trials over the benchmark space (learning rate, units, dropout) with random
    values and, when ``epochs`` > 0, random intermediate values: the history a sampler sees;
    with ``rungs`` > 0, each has recorded a random value at its first 1 to ``rungs``
    successive-halving rungs, as those pruned at each rung and those that went on would have."""
    import optuna

    rng = np.random.default_rng(seed)
    dists = {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "units": optuna.distributions.IntDistribution(8, 256, log=True),
        "dropout": optuna.distributions.FloatDistribution(0.0, 0.5),
    }
    return [
        optuna.trial.create_trial(
            params={
                "learning_rate": float(10 ** rng.uniform(-4, -1)),
                "units": int(rng.integers(8, 257)),
                "dropout": float(rng.uniform(0, 0.5)),
            },
            distributions=dists,
            value=float(rng.uniform()),
            intermediate_values={e: float(rng.uniform()) for e in range(1, epochs + 1)},
            system_attrs={
                f"completed_rung_{r}": float(rng.uniform())
                for r in range(int(rng.integers(1, rungs + 1)) if rungs else 0)
            },
        )
        for _ in range(n)
    ]


def driver_scale(
    history: int,
    slots: int,
    trial_s: float,
    duration: float,
    *,
    ahead: bool,
    fast: bool = True,
    epochs: int = 5,
    kind: str = "successive_halving",
) -> dict:
    """The driver's study side under a simulated cluster: ``slots`` trials in flight, each
    ``trial_s`` seconds of wall time, after ``history`` earlier trials (TPE + the ``kind`` of
    pruner, ``epochs`` reports per trial). Every ended trial is reported, told and replaced by a
    new ask, as the driver loop does; Ray and the database are left out (their cost per trial is the
    scale run's "driver CPU"). Returns the trials per second sustained and how full the slots
    stayed after the first wave (``ahead``: sampling in a separate process past 1,000 trials;
    ``fast``: hpsearch's incremental pruner, else Optuna's)."""
    import heapq

    import hpsearch.searcher._ask_ahead as ask_ahead
    import hpsearch.searcher._fast_pruner as fast_pruner
    from hpsearch.searcher import parse_config
    from hpsearch.searcher._study import StudySide
    from hpsearch.storage import TrialOutcome, TrialState
    from hpsearch.trainer import EpochMetrics

    config = parse_config(
        {
            "search": {
                "name": "scale-sim",
                "trials": 10**9,
                "workers": slots,
                "sampler": "tpe",
                "pruner": kind,
                # every epoch a rung or a median check: the heaviest use of each
                "pruner_options": {"n_warmup_steps": 1}
                if kind == "median"
                else {"min_resource": 1, "reduction_factor": 2},
                "seed": 0,
            },
            "data": {"dataset": "digits"},
            "train": {"epochs": epochs},
            "space": {
                "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "units": {"type": "int", "low": 8, "high": 256, "log": True},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            },
        }
    )
    fast_pruner.ENABLED = fast
    side = StudySide(config)
    fast_pruner.ENABLED = True
    rungs = 3 if kind == "successive_halving" else 0  # at epochs 1, 2 and 4
    side.study.add_trials(synthetic_history(history, epochs=epochs, rungs=rungs))
    rng = np.random.default_rng(1)  # the simulated trials' epoch values
    side.next_number = history
    saved = ask_ahead.AHEAD_FROM
    ask_ahead.AHEAD_FROM = ask_ahead.AHEAD_FROM if ahead else 10**12
    try:
        t0 = time.perf_counter()
        running: list[tuple[float, int, object]] = []
        for _ in range(slots):  # the first wave
            a = side.ask()
            heapq.heappush(running, (time.perf_counter() + trial_s, a.number, a))
        filled = time.perf_counter()
        window0, idle, told, cpu0 = filled + trial_s, 0.0, 0, time.process_time()
        reports, report_s = 0, 0.0
        while time.perf_counter() < window0 + duration:
            end, _, a = running[0]
            now = time.perf_counter()
            if end > now:
                time.sleep(min(end - now, 0.05))
                continue
            heapq.heappop(running)
            seen: dict[int, float] = {}
            for e in range(1, epochs + 1):
                value = float(rng.uniform())
                metrics = EpochMetrics(e, 1.0, value, 1.0, value, 0.1, 0.1 * e)
                r0 = time.perf_counter()
                prune = side.report(a.otrial, metrics, seen)
                reports, report_s = reports + 1, report_s + time.perf_counter() - r0
                if prune:
                    break
            if prune:
                outcome = TrialOutcome(state=TrialState.PRUNED, values=(), dev_loss=1.0)
            else:
                outcome = TrialOutcome(state=TrialState.COMPLETE, values=(value,), dev_loss=1.0)
            side.tell(a.otrial, a.number, outcome)
            nxt = side.ask()
            launched = time.perf_counter()
            if launched > window0:  # counted: the trials relaunched inside the window
                told += 1
                idle += launched - max(end, window0)  # the slot stood empty until the launch
            heapq.heappush(running, (launched + trial_s, nxt.number, nxt))
        stop = time.perf_counter()
        cpu, span = time.process_time() - cpu0, stop - window0
        # slots whose trial has ended but that the loop has not reached yet stand empty too
        idle += sum(stop - max(end, window0) for end, _, _ in running if end < stop)
    finally:
        ask_ahead.AHEAD_FROM = saved
        side.close()
    return {
        "first_wave_s": filled - t0,
        "rate": told / span,
        "needed": slots / trial_s,
        "full": 1.0 - idle / (slots * span),
        "driver_cpu_ms": cpu / max(told, 1) * 1e3,
        "told": told,
        "report_ms": report_s / max(reports, 1) * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--slots", type=int, default=128)
    parser.add_argument("--trial-s", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--only", choices=("loop", "ahead"))
    parser.add_argument(
        "--pruner",
        choices=("both", "fast", "optuna"),
        default="both",
        help="Optuna's pruner (the baseline), hpsearch's incremental one, or both in turn",
    )
    parser.add_argument(
        "--kind",
        choices=("successive_halving", "median", "both"),
        default="successive_halving",
        help="the pruner: successive halving (hpsearch's default), median, or both in turn",
    )
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine)")
    pruners = {"both": (False, True), "fast": (True,), "optuna": (False,)}[args.pruner]
    kinds = ("successive_halving", "median") if args.kind == "both" else (args.kind,)
    names = {"successive_halving": "SuccessiveHalvingPruner", "median": "MedianPruner"}
    for kind in kinds:
        for ahead in (False, True):
            if args.only and args.only != ("ahead" if ahead else "loop"):
                continue
            for fast in pruners:
                r = driver_scale(
                    args.history,
                    args.slots,
                    args.trial_s,
                    args.duration,
                    ahead=ahead,
                    fast=fast,
                    kind=kind,
                )
                how = "asking ahead in a sampler process" if ahead else "asking in the loop"
                which = f"incremental {kind} pruner" if fast else f"Optuna's {names[kind]}"
                print(
                    f"{args.history} earlier trials, {args.slots} x {args.trial_s:g} s trials, "
                    f"{how}, {which}: first wave {r['first_wave_s']:.1f} s; then "
                    f"{r['rate']:.2f} trials/s (needed {r['needed']:.1f}), slots {r['full']:.1%} "
                    f"full, loop CPU {r['driver_cpu_ms']:.1f} ms per trial, "
                    f"report+should_prune {r['report_ms']:.3f} ms ({r['told']} trials)",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
