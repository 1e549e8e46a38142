"""What hpsearch's orchestration costs beyond training, measured in one run.

    python benchmarks/search_overhead.py [--trials 32] [--skip-tune] [--skip-scale] [--quick]

Prints, for N trials of a fixed, known training cost (the same network, epochs and data every
trial):
  * the training cost itself, measured in this process without Ray (the baseline);
  * wall time with 1 and 2 workers on local Ray, the parallel efficiency T1 / (2 * T2) and the
    orchestration overhead per trial (wall time beyond the workers' training seconds, database
    writes included) and the driver's own CPU time per trial;
  * the same trials through Ray Tune with OptunaSearch when ray[tune] is installed, as a ratio;
  * how the driver's ask cost grows with history (TPE with 1,000 and 10,000 earlier trials);
  * the driver's study side with 10,000 earlier trials and 128 ten-second trials in flight, asking
    in the loop and asking ahead in a sampler process: trials per second sustained, slots full;
  * a simulated larger cluster (ray.cluster_utils.Cluster nodes declaring 64 CPUs each) with 128
    trials in flight whose work is a sleep: the driver's cost per trial at that scale.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

SPACE = {"learning_rate": {"type": "categorical", "choices": [0.01]}}  # a fixed, known cost
TRAIN = {"epochs": 60, "layers": 1, "units": 64, "batch_size": 64, "optimizer": "adam"}


def _config(name: str, trials: int, workers: int, sampler: str = "random"):
    from hpsearch.searcher import parse_config

    return parse_config(
        {
            "search": {
                "name": name,
                "trials": trials,
                "workers": workers,
                "sampler": sampler,
                "pruner": "none",
                "seed": 0,
            },
            "data": {"dataset": "digits"},
            "train": dict(TRAIN),
            "space": SPACE,
        }
    )


def _token_dir() -> None:
    """Keep this run's Ray token out of ~/.ray (token authentication stays on)."""
    if "RAY_AUTH_TOKEN_PATH" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
        import secrets

        path = Path(tempfile.mkdtemp(prefix="hps-bench-")) / "auth_token"
        path.write_text(secrets.token_hex(32))
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)


def baseline_train_seconds(repeats: int = 5) -> float:
    """One trial's training, in this process: the cost every trial pays whatever runs it."""
    from threadpoolctl import threadpool_limits

    from hpsearch.trainer import TrainConfig, load_dataset, train

    data = load_dataset("digits")
    config = TrainConfig.from_dict({**TRAIN, "learning_rate": 0.01})
    times = []
    with threadpool_limits(1):
        for _ in range(repeats):
            t0 = time.perf_counter()
            train(config, data)
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_hpsearch(trials: int, workers: int, tmp: Path, sampler: str = "random") -> dict:
    from hpsearch.searcher import run_search
    from hpsearch.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp / f'bench-{workers}-{sampler}.db'}")
    config = _config(f"bench-{workers}-{sampler}", trials, workers, sampler)
    cpu0, t0 = time.process_time(), time.perf_counter()
    outcome = run_search(config, storage)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    train_s = sum(t.train_s or 0.0 for t in outcome.trials)
    storage.close()
    return {"wall": wall, "driver_cpu": cpu, "train_s": train_s, "trials": len(outcome.trials)}


def run_tune(trials: int, workers: int, tmp: Path) -> dict | None:
    try:
        from ray import tune
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        return None
    from hpsearch.trainer import TrainConfig, load_dataset, train

    data = load_dataset("digits")

    def trainable(params, data=None):
        from threadpoolctl import threadpool_limits

        config = TrainConfig.from_dict({**TRAIN, "learning_rate": params["learning_rate"]})
        with threadpool_limits(1):
            for m in train_epochs(config, data):
                tune.report({"dev_accuracy": m.dev_accuracy})

    def train_epochs(config, data):
        from hpsearch.trainer import iter_train

        yield from iter_train(config, data)

    del train
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), {"cpu": 1}),
        param_space={"learning_rate": tune.choice([0.01])},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(metric="dev_accuracy", mode="max", seed=0),
            num_samples=trials,
            max_concurrent_trials=workers,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp / "tune"), verbose=0),
    )
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        results = tuner.fit()
    wall = time.perf_counter() - t0
    return {"wall": wall, "trials": len(results)}


def ask_cost(history: int, asks: int = 5) -> float:
    """Seconds per ask+tell of the driver's TPE study after `history` finished trials."""

    from hpsearch.searcher._optuna import new_study
    from hpsearch.searcher._space import suggest

    config = _config("asks", 10, 1, sampler="tpe")
    raw = config.to_dict()
    raw["train"] = {"epochs": 10}
    raw["space"] = {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "units": {"type": "int", "low": 8, "high": 256, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    }
    from hpsearch.searcher import parse_config

    config = parse_config(raw)
    study = new_study(config)
    from driver_scale import synthetic_history  # benchmarks/, beside this script

    study.add_trials(synthetic_history(history))
    t0 = time.perf_counter()
    for _ in range(asks):
        trial = study.ask()
        suggest(trial, config)
        study.tell(trial, 0.5)
    return (time.perf_counter() - t0) / asks


def scale_run(trials: int, in_flight: int, sleep_s: float) -> dict:
    """Many trials in flight on a simulated bigger cluster; each trial's work is a sleep."""
    import ray
    from ray.cluster_utils import Cluster

    import hpsearch.searcher._worker as worker
    from hpsearch.searcher._messages import EpochsDone, TrialDone, TrialStarted
    from hpsearch.trainer import EpochMetrics, TrainConfig, load_dataset, train

    # a real (tiny) model, so the search's final test-split evaluation has one to load
    model = train(TrainConfig(layers=0, epochs=1), load_dataset("digits")).network.to_npz_bytes()

    def sleeping_trial(data, settings, *, number, attempt, threads, submitted_at, **_):
        started = time.time()
        ctx = ray.get_runtime_context()
        yield TrialStarted(
            number=number,
            attempt=attempt,
            node_id=ctx.get_node_id(),
            worker_id=ctx.get_worker_id(),
            host="sim",
            pid=os.getpid(),
            queue_s=max(0.0, started - submitted_at),
            environment={},
        )
        epochs = int(settings.get("epochs", 2))
        for e in range(1, epochs + 1):
            time.sleep(sleep_s / epochs)
            epoch = EpochMetrics(
                epoch=e,
                train_loss=1.0 / e,
                train_accuracy=0.5,
                dev_loss=1.0 / e,
                dev_accuracy=0.5 + 0.01 * e,
                epoch_s=sleep_s / epochs,
                elapsed_s=time.time() - started,
            )
            yield EpochsDone((epoch,))
        yield TrialDone(
            train_loss=0.5,
            train_accuracy=0.5,
            dev_loss=0.5,
            dev_accuracy=0.5 + 0.01 * epochs,
            epochs_run=epochs,
            stopped="completed",
            best_epoch=epochs,
            n_params=1,
            diagnosis="good fit",
            avoidable_bias=0.0,
            variance=0.0,
            startup_s=0.0,
            train_s=time.time() - started,
            model=model,
        )

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": in_flight // 2}, connect=False
    )
    cluster.add_node(num_cpus=in_flight - in_flight // 2)
    original = worker.run_trial
    worker.run_trial = sleeping_trial
    try:
        ray.init(address=cluster.address, logging_level=logging.ERROR, log_to_driver=False)
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory() as d:
            from hpsearch.searcher import parse_config, run_search
            from hpsearch.storage import open_storage

            raw = _config("scale-warm-up", in_flight, in_flight).to_dict()
            raw["train"]["epochs"] = 2
            storage = open_storage(f"sqlite:///{Path(d) / 'scale.db'}")
            # a first wave starts the worker processes: on 2 real cores, starting 128 Python
            # workers takes Ray tens of seconds, which is not the driver's cost
            run_search(parse_config(raw), storage)
            raw["search"].update(name="scale", trials=trials)
            cpu0, t0 = time.process_time(), time.perf_counter()
            outcome = run_search(parse_config(raw), storage)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            storage.close()
    finally:
        worker.run_trial = original
        ray.shutdown()
        cluster.shutdown()
    ideal = sleep_s * trials / in_flight
    return {"wall": wall, "ideal": ideal, "driver_cpu": cpu, "trials": len(outcome.trials)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument(
        "--epochs",
        type=int,
        default=TRAIN["epochs"],
        help="epochs per trial: sets the fixed training cost",
    )
    parser.add_argument("--skip-tune", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 8 short trials, no Ray Tune, short histories, a 4-trial scale run",
    )
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.skip_tune = 8, 10, True
    _token_dir()
    TRAIN["epochs"] = args.epochs
    import ray

    n = args.trials
    base = baseline_train_seconds()
    print(f"training cost of one trial (no Ray, this process): {base * 1e3:.1f} ms")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ray.init(
            num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
        run_hpsearch(4, 2, tmp)  # warm-up: worker processes, imports
        one = run_hpsearch(n, 1, tmp)
        two = run_hpsearch(n, 2, tmp)
        tpe = run_hpsearch(n, 2, tmp, sampler="tpe")
        tune = None if args.skip_tune else run_tune(n, 2, tmp)
        ray.shutdown()
    over1 = (one["wall"] - one["train_s"]) / n
    over2 = (two["wall"] * 2 - two["train_s"]) / n
    eff = one["wall"] / (2 * two["wall"])
    print(f"\n{n} trials, hpsearch on local Ray (SQLite, random sampler):")
    print(f"  1 worker : {one['wall']:.2f} s wall, {one['train_s']:.2f} s training in workers")
    print(f"  2 workers: {two['wall']:.2f} s wall, {two['train_s']:.2f} s training in workers")
    print(f"  parallel efficiency T1/(2*T2): {eff:.2f}   (target >= 0.9)")
    print(f"  orchestration overhead per trial, 1 worker : {over1 * 1e3:.1f} ms (target <= 15)")
    print(f"  orchestration overhead per trial, 2 workers: {over2 * 1e3:.1f} ms (worker-seconds)")
    print(
        f"  driver CPU per trial: {one['driver_cpu'] / n * 1e3:.1f} ms (1 worker), "
        f"{two['driver_cpu'] / n * 1e3:.1f} ms (2 workers), "
        f"{tpe['driver_cpu'] / n * 1e3:.1f} ms (2 workers, TPE)"
    )
    if tune is not None:
        tune_over = (tune["wall"] * 2 - two["train_s"]) / n
        print(f"\nRay Tune + OptunaSearch, same {n} trials, 2 concurrent, reuse_actors:")
        print(
            f"  {tune['wall']:.2f} s wall; overhead per trial {tune_over * 1e3:.0f} ms; "
            f"hpsearch is {tune['wall'] / two['wall']:.1f}x faster end to end"
        )
    elif args.skip_tune:
        print("\nRay Tune comparison skipped (--skip-tune)")
    else:
        print("\nRay Tune not installed (pip install 'ray[tune]'): comparison skipped")
    print("\ndriver cost per ask+tell with TPE, by history:")
    for h in (0, 200) if args.quick else (0, 1000, 10000):
        print(f"  {h:>6} earlier trials: {ask_cost(h) * 1e3:8.1f} ms")
    if not args.skip_scale:
        history, duration = (1500, 10.0) if args.quick else (10_000, 30.0)
        print(
            f"\ndriver's study side, {history} earlier trials, 128 ten-second trials in flight "
            f"(TPE + median pruner, 5 reports per trial; Ray and the database left out):"
        )
        from driver_scale import driver_scale

        for ahead in (False, True):
            r = driver_scale(history, 128, 10.0, duration, ahead=ahead)
            how = "asking ahead in a sampler process" if ahead else "asking in the loop       "
            print(
                f"  {how}: first wave {r['first_wave_s']:.1f} s; then {r['rate']:.1f} trials/s "
                f"(needed {r['needed']:.1f}), slots {r['full']:.0%} full, driver-loop CPU "
                f"{r['driver_cpu_ms']:.1f} ms per trial"
            )
        trials, in_flight = (8, 4) if args.quick else (512, 128)
        s = scale_run(trials=trials, in_flight=in_flight, sleep_s=1.0)
        print(
            f"\nsimulated cluster: 2 nodes x {in_flight // 2} CPUs, {in_flight} trials in flight, "
            f"{trials} sleeping trials:"
        )
        print(
            f"  {s['wall']:.2f} s wall vs {s['ideal']:.2f} s ideal "
            f"(efficiency {s['ideal'] / s['wall']:.2f}); "
            f"driver CPU {s['driver_cpu'] / s['trials'] * 1e3:.1f} ms per trial"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
