"""Time to accuracy: hpsearch against Ray Tune, Optuna alone and random search, in one run.

    python benchmarks/search_quality.py [--seeds 5] [--budget 60] [--target 0.98] [--quick]
                                        [--problems digits,fashion]

The same search space (examples/digits_quick.toml's seven settings), the same trainer, the same
data split and the same epochs run under:
  (a) hpsearch: TPE + its default pruner, asynchronous successive halving, 2 workers on local
      Ray; its first rung and reduction factor are set as Ray Tune's ASHA below (4 and 4);
  (b) Ray Tune: OptunaSearch (TPE, same options) + ASHA, 2 concurrent trials, reuse_actors;
  (c) Optuna alone: TPE + the same successive halving in this one process (study.optimize, 1
      trial at a time);
  (d) hpsearch with the random sampler and no pruner, 2 workers;
  and on request (--methods), hpsearch_median: (a) with the median pruner (4 start-up trials,
  4 warm-up epochs), hpsearch's default before successive halving.
Each runs for a fixed wall budget per seed. A trial's score is the best dev accuracy among the
epochs it ran (pruned trials count with what they reached), dated when the trial ended. Printed
side by side, over seeds: the wall time to first reach the dev-accuracy target (median, and how
many seeds reached it within the budget) and the best dev accuracy at the budget (mean, std,
min..max); and the BLAS kernel. Clocks start when each method is called (start-up included).
A stratified 6,000-sample Fashion-MNIST subsample (target 0.85) runs too when Debian's
dataset-fashion-mnist is installed; --problems picks one.
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

FASHION = Path("/usr/share/datasets/fashion-mnist")
SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
    "layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 16, "high": 256, "log": True},
    "lambda": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    "beta1": {"type": "float", "low": 0.8, "high": 0.99, "one_minus_log": True},
}
TPE_OPTIONS = {"n_startup_trials": 6}
# (a)'s and (c)'s successive halving; Ray Tune's ASHAScheduler gets the same grace period
# (min_resource) and reduction factor in run_tune
ASHA_OPTIONS = {"min_resource": 4, "reduction_factor": 4}
MEDIAN_OPTIONS = {"n_startup_trials": 4, "n_warmup_steps": 4}  # hpsearch_median's
METHODS = ("hpsearch", "ray_tune", "optuna", "random")
EXTRA_METHODS = ("hpsearch_median",)  # on request: hpsearch with the median pruner
PRUNER_OF = {"hpsearch_median": "median", "random": "none"}  # the others: successive halving
PRUNER_OPTIONS = {"successive_halving": ASHA_OPTIONS, "median": MEDIAN_OPTIONS, "none": {}}
# --problems key -> (title, [data] table, dev-accuracy target); digits' target is --target
PROBLEMS = {
    "digits": ("digits", {"dataset": "digits"}, 0.98),
    "fashion": (
        "fashion-mnist (6,000 samples)",
        {"dataset": "fashion-mnist", "max_samples": 6000},  # a stratified subsample
        0.85,
    ),
}


def make_config(
    name: str,
    data: dict,
    epochs: int,
    seed: int,
    *,
    sampler: str = "tpe",
    pruner: str = "successive_halving",
):
    from hpsearch.searcher import parse_config

    tpe = sampler == "tpe"
    return parse_config(
        {
            "search": {
                "name": name,
                "trials": 100_000,  # the wall budget stops it
                "workers": 2,
                "sampler": sampler,
                "sampler_options": dict(TPE_OPTIONS) if tpe else {},
                "pruner": pruner,
                "pruner_options": dict(PRUNER_OPTIONS[pruner]),
                "objective": "dev_accuracy",
                "seed": seed,
            },
            "data": {**data, "split": [0.7, 0.15, 0.15], "normalize": "standard"},
            "train": {"epochs": epochs, "activation": "relu", "optimizer": "adam"},
            "space": SPACE,
        }
    )


def method_config(method: str, name: str, data: dict, epochs: int, seed: int):
    """The definition a method runs: random search samples at random and prunes nothing, the
    others use TPE and their pruner."""
    sampler = "random" if method == "random" else "tpe"
    pruner = PRUNER_OF.get(method, "successive_halving")
    return make_config(name, data, epochs, seed, sampler=sampler, pruner=pruner)


def train_config(config, settings: dict[str, Any], seed: int):
    from hpsearch.searcher._names import trainer_settings, user_settings
    from hpsearch.trainer import TrainConfig

    merged = {**user_settings(config.train), **settings, "seed": seed}
    return TrainConfig.from_dict(trainer_settings(merged))


# --- the four methods: each returns [(seconds since its start when a trial ended, score)] ------


def run_hpsearch(config, data, budget: float, tmp: Path) -> list[tuple[float, float]]:
    from hpsearch.searcher import run_search
    from hpsearch.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp / (config.search.name + '.db')}")
    ended: dict[int, float] = {}
    t0 = time.perf_counter()

    def on_event(kind: str, info: dict) -> None:
        if kind in ("complete", "pruned", "failed"):
            ended[info["number"]] = time.perf_counter() - t0

    timer = threading.Timer(budget, _thread.interrupt_main)
    timer.start()
    try:
        run_search(config, storage, on_event=on_event, data=data)
    except KeyboardInterrupt:  # a bare one, should it land outside the driver's handler
        pass
    except Exception as e:  # SearchInterrupted: the budget's Ctrl-C, trials recorded
        if type(e).__name__ != "SearchInterrupted":
            raise
    finally:
        timer.cancel()
    out = []
    for t in storage.trials(config.search.name):
        if t.number in ended:
            accs = [e.dev_accuracy for e in storage.epochs(t.id) if e.dev_accuracy is not None]
            out.append((ended[t.number], max(accs, default=0.0)))
    storage.close()
    return out


def run_optuna(config, data, budget: float) -> list[tuple[float, float]]:
    import optuna
    from threadpoolctl import threadpool_limits

    from hpsearch.searcher._optuna import make_pruner, make_sampler
    from hpsearch.searcher._space import suggest
    from hpsearch.trainer import iter_train

    study = optuna.create_study(
        direction="maximize", sampler=make_sampler(config), pruner=make_pruner(config)
    )
    out: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def objective(trial: optuna.Trial) -> float:
        tc = train_config(config, suggest(trial, config), seed=trial.number)
        best = 0.0
        try:
            for m in iter_train(tc, data):
                best = max(best, m.dev_accuracy)
                trial.report(m.dev_accuracy, m.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        finally:
            out.append((time.perf_counter() - t0, best))
        return best

    with threadpool_limits(1):
        study.optimize(objective, timeout=budget, catch=(Exception,))
    return out


class _Space:
    """Tune's define-by-run space: the same suggest() as hpsearch, the settings under "hps"
    (a class, so Tune can pickle its searcher's checkpoint)."""

    def __init__(self, config) -> None:
        self.config = config

    def __call__(self, trial) -> dict:
        from hpsearch.searcher._space import suggest

        return {"hps": suggest(trial, self.config)}


def run_tune(config, data, budget: float, tmp: Path) -> list[tuple[float, float]] | None:
    try:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        return None
    from hpsearch.searcher._optuna import make_sampler

    epochs = int(config.train["epochs"])

    def trainable(params, data=None):
        from threadpoolctl import threadpool_limits

        from hpsearch.trainer import iter_train

        tc = train_config(config, params["hps"], seed=0)
        with threadpool_limits(1):
            for m in iter_train(tc, data):
                tune.report({"dev_accuracy": m.dev_accuracy, "ended": time.time()})

    searcher = OptunaSearch(
        space=_Space(config), metric="dev_accuracy", mode="max", sampler=make_sampler(config)
    )
    scheduler = ASHAScheduler(
        metric="dev_accuracy",
        mode="max",
        max_t=epochs,
        grace_period=ASHA_OPTIONS["min_resource"],
        reduction_factor=ASHA_OPTIONS["reduction_factor"],
    )
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=-1,
            max_concurrent_trials=2,
            time_budget_s=budget,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp / "tune"), verbose=0),
    )
    t0 = time.time()
    with contextlib.redirect_stdout(sys.stderr):
        results = tuner.fit()
    out = []
    for r in results:
        df = r.metrics_dataframe
        if df is None or df.empty or "dev_accuracy" not in df:
            continue
        out.append((float(df["ended"].max()) - t0, float(df["dev_accuracy"].max())))
    return out


# --- reading the runs --------------------------------------------------------------------------


def time_to(target: float, trials: list[tuple[float, float]], budget: float) -> float | None:
    hits = [t for t, s in trials if s >= target and t <= budget]
    return min(hits) if hits else None


def best_at(trials: list[tuple[float, float]], budget: float) -> float:
    return max((s for t, s in trials if t <= budget), default=0.0)


def blas_description() -> str:
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    parts = [
        f"{i['internal_api']} {i.get('version')} kernel={i.get('architecture')} "
        f"threads={i.get('num_threads')}"
        for i in libs
    ]
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    return f"{'; '.join(parts) or 'unknown'} (OPENBLAS_CORETYPE={coretype})"


def report(name: str, target: float, budget: float, runs: dict[str, list]) -> None:
    print(f"\n{name}: target dev accuracy {target:g}, wall budget {budget:g} s per run")
    print(
        f"  {'method':<15} {'seeds':>5} {'reached':>7} {'median s to target':>19} "
        f"{'(min..max)':>15} {'best dev acc at budget: mean':>29} {'std':>6} {'(min..max)':>15} "
        f"{'trials':>6}"
    )
    medians: dict[str, float | None] = {}
    means: dict[str, float] = {}
    for method, per_seed in runs.items():
        if not per_seed:
            print(f"  {method:<15} not run (not installed)")
            continue
        times = [time_to(target, trials, budget) for trials in per_seed]
        reached = [t for t in times if t is not None]
        # a seed that never reached the target counts as the budget (a lower bound on its time)
        capped = [t if t is not None else budget for t in times]
        best = [best_at(trials, budget) for trials in per_seed]
        medians[method] = statistics.median(capped) if reached else None
        means[method] = statistics.fmean(best)
        std = statistics.stdev(best) if len(best) > 1 else 0.0
        med = f"{statistics.median(capped):.1f}" if reached else f">{budget:g}"
        n_trials = statistics.fmean(len(trials) for trials in per_seed)
        print(
            f"  {method:<15} {len(per_seed):>5} {len(reached):>7} {med:>19} "
            f"{f'({min(capped):.1f}..{max(capped):.1f})':>15} {means[method]:>29.4f} {std:>6.4f} "
            f"{f'({min(best):.4f}..{max(best):.4f})':>15} {n_trials:>6.0f}"
        )
    for ours in ("hpsearch", "hpsearch_median"):
        if medians.get(ours) and medians.get("ray_tune"):
            ratio = medians[ours] / medians["ray_tune"]
            print(f"  time to target, {ours} / Ray Tune (medians): {ratio:.2f}  (target <= 0.5)")
    if "hpsearch" in means and "random" in means:
        d = means["hpsearch"] - means["random"]
        print(f"  best at budget, hpsearch - random (means): {d:+.4f}  (target > 0)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=60.0, help="wall seconds per run")
    parser.add_argument(
        "--target",
        type=float,
        default=0.98,
        help="digits dev accuracy target (0.97 falls to the first random trials)",
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"some of {', '.join(METHODS + EXTRA_METHODS)}",
    )
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ...")
    parser.add_argument(
        "--problems",
        default="digits,fashion",
        help="digits, fashion (a 6,000-sample Fashion-MNIST subsample, when installed), or both",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, a 20-second budget")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.budget = 2, 20.0
    methods = [m for m in args.methods.split(",") if m]
    sys.path.insert(0, str(Path(__file__).parent))
    from search_overhead import _token_dir

    _token_dir()
    import ray

    from hpsearch.searcher import load_search_data

    print(f"numpy BLAS: {blas_description()}")
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the start")
    wanted = {p for p in args.problems.split(",") if p}
    if unknown := wanted - set(PROBLEMS):
        parser.error(f"--problems: expected digits and/or fashion, got {', '.join(unknown)}")
    problems = []
    for key in PROBLEMS:
        title, data, target = PROBLEMS[key]
        if key not in wanted:
            continue
        if key == "fashion" and not FASHION.exists():
            print(f"fashion: skipped, {FASHION} is missing (apt-get install dataset-fashion-mnist)")
            continue
        problems.append((title, data, args.target if key == "digits" else target))
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            for title, dataset, target in problems:
                runs: dict[str, list] = {m: [] for m in methods}
                data = load_search_data(make_config("x", dataset, args.epochs, 0))
                # warm-up: Ray's worker processes and imports, paid once and by nobody
                run_hpsearch(make_config("warm", dataset, 2, 0), data, 5.0, tmp)
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    for method in methods:
                        name = f"{method}-{seed}-{len(runs[method])}-{dataset['dataset'][:6]}"
                        config = method_config(method, name, dataset, args.epochs, seed)
                        if method in ("hpsearch", "random", "hpsearch_median"):
                            trials = run_hpsearch(config, data, args.budget, tmp)
                        elif method == "optuna":
                            trials = run_optuna(config, data, args.budget)
                        else:
                            trials = run_tune(config, data, args.budget, tmp)
                        if trials is None:
                            continue
                        runs[method].append(trials)
                        print(
                            f"  [{title} seed {seed}] {method}: {len(trials)} trials, best "
                            f"{best_at(trials, args.budget):.4f}, to target "
                            f"{time_to(target, trials, args.budget)}",
                            file=sys.stderr,
                        )
                report(title, target, args.budget, runs)
    finally:
        ray.shutdown()
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end (the machine is shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
