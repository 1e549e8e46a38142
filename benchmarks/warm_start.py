"""Trials to reach an earlier search's best: a cold search against warm-started ones, on digits.

    python benchmarks/warm_start.py [--seeds 3] [--early 20] [--trials 20] [--epochs 5]

For each seed: an earlier TPE search of ``--early`` trials sets the mark (its best dev accuracy);
then three searches of ``--trials`` trials, each with a seed of their own, count the trials
until one of them reaches the mark (complete, dev accuracy >= the mark):
  cold:      a fresh TPE search (what running the search again without a warm start costs);
  warm:      [search] warm_start = { from = [the earlier search] }: TPE starts from its trials;
  warm+top3: the same with top = 3: the earlier search's 3 best configurations run first.
Every search uses one dataset split (loaded once, passed to every run, so the mark is measured
on the same dev samples), one worker (trials in order), no pruner, in one SQLite file. A search
that never reaches the mark counts as ``--trials + 1`` in the mean (and is marked ``>``). Prints
each seed's counts, the means, and the BLAS kernel. Trial counts, not times, are compared, so
the machine's load does not change them; the training itself is seeded, the sampler is too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 4, "high": 128, "log": True},
    "lambda": {"type": "float", "low": 1e-6, "high": 1.0, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 64, 256]},
}
ARMS = ("cold", "warm", "warm+top3")


def make_config(name: str, seed: int, trials: int, epochs: int, **search):
    from hpsearch.searcher import parse_config

    return parse_config(
        {
            "search": {
                "name": name,
                "trials": trials,
                "workers": 1,
                "sampler": "tpe",
                "pruner": "none",
                "seed": seed,
                **search,
            },
            "data": {"dataset": "digits"},
            "train": {"epochs": epochs, "activation": "relu", "optimizer": "adam"},
            "space": SPACE,
        }
    )


def trials_to_reach(storage, name: str, mark: float) -> int | None:
    """1 + the number of trials before the first complete one at or above ``mark``."""
    for i, t in enumerate(sorted(storage.trials(name), key=lambda t: t.number)):
        if t.state.value == "complete" and t.dev_accuracy is not None and t.dev_accuracy >= mark:
            return i + 1
    return None


def run_seed(storage, data, seed: int, early: int, trials: int, epochs: int) -> dict:
    from hpsearch.searcher import run_search

    first = f"early-{seed}"
    run_search(make_config(first, 100 + seed, early, epochs), storage, data=data)
    done = [t for t in storage.trials(first) if t.dev_accuracy is not None]
    mark = max(t.dev_accuracy for t in done if t.state.value == "complete")
    out: dict = {"mark": mark}
    for arm in ARMS:
        name = f"{arm}-{seed}"
        search = {}
        if arm != "cold":
            search["warm_start"] = {"from": [first], "top": 3 if arm.endswith("top3") else 0}
        run_search(make_config(name, 200 + seed, trials, epochs, **search), storage, data=data)
        out[arm] = trials_to_reach(storage, name, mark)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--early", type=int, default=20, help="trials of the earlier search")
    parser.add_argument("--trials", type=int, default=20, help="trials of each later search")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)

    import numpy as np  # loaded before threadpoolctl looks for its BLAS
    import ray
    from threadpoolctl import threadpool_info

    from hpsearch.searcher import load_search_data
    from hpsearch.storage import open_storage

    blas = {(i.get("internal_api"), i.get("version")) for i in threadpool_info()}
    print(f"BLAS: {sorted(blas)} (NumPy {np.__version__})")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    began = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = open_storage(f"sqlite:///{Path(tmp) / 'warm.db'}")
        data = load_search_data(make_config("split", 0, 1, args.epochs))  # one split for all
        for seed in range(args.seeds):
            r = run_seed(storage, data, seed, args.early, args.trials, args.epochs)
            results.append(r)
            shown = "  ".join(f"{a} {_shown(r[a], args.trials)}" for a in ARMS)
            print(f"seed {seed}: mark {r['mark']:.4f} (best of {args.early})  {shown}", flush=True)
        storage.close()
    ray.shutdown()
    means = {
        a: statistics.mean(r[a] if r[a] is not None else args.trials + 1 for r in results)
        for a in ARMS
    }
    print(
        f"mean trials to reach the earlier best over {args.seeds} seeds: "
        + "  ".join(f"{a} {means[a]:.1f}" for a in ARMS)
    )
    for a in ARMS[1:]:
        print(f"{a}: {means['cold'] / means[a]:.2f}x fewer trials than cold")
    print(f"({time.monotonic() - began:.0f} s in all; trial counts do not depend on the load)")
    return 0


def _shown(n: int | None, trials: int) -> str:
    return f">{trials}" if n is None else str(n)


if __name__ == "__main__":
    sys.exit(main())
