"""The Ray task that trains one trial and streams its epochs back to the driver.

Workers never touch the database: they get plain settings and the dataset (from the object store),
and yield plain dicts — one "start" message, one "epoch" message per epoch, and one final message
("done", "diverged", "refused" or "error"). The driver records them.
"""

from __future__ import annotations

import os
import platform
import socket
import time
import traceback
from typing import Any

import numpy as np
import ray

import hpsearch

# Epochs that end within this many seconds of the last message are sent together: a trial of
# 60 fast epochs costs the driver a few Ray messages instead of 60. Pruning waits at most this.
EPOCH_BATCH_S = 0.05


def trial_seed(search_seed: int | None, number: int) -> int:
    """The seed of trial `number`: fixed by the search seed, distinct per trial, same on retry."""
    base = 0 if search_seed is None else search_seed
    return int(np.random.SeedSequence([base, number]).generate_state(1, dtype=np.uint32)[0] >> 1)


def environment(threads: int) -> dict[str, Any]:
    """What a replay needs to know: library versions, BLAS library and its thread count."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hpsearch": hpsearch.__version__,
        "ray": ray.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "blas_threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            env["blas"] = {
                "library": blas[0].get("internal_api"),
                "version": blas[0].get("version"),
                "architecture": blas[0].get("architecture"),
                "threads": blas[0].get("num_threads"),
            }
    except Exception:  # threadpoolctl is best effort: never fail a trial over it
        env["blas"] = None
    return env


def run_trial(
    data: Any,
    settings: dict[str, Any],
    *,
    number: int,
    attempt: int,
    threads: int,
    submitted_at: float,
    memory_limit_bytes: int = 0,
) -> Any:
    """Train one trial; a generator of plain-dict messages (the body of the Ray task)."""
    started = time.time()
    from threadpoolctl import threadpool_limits

    from hpsearch.trainer import (
        DivergedError,
        TrainConfig,
        TrainerInputError,
        estimate_memory_bytes,
        iter_train,
    )

    with threadpool_limits(limits=threads):
        ctx = ray.get_runtime_context() if ray.is_initialized() else None
        yield {
            "kind": "start",
            "number": number,
            "attempt": attempt,
            "node": ctx.get_node_id() if ctx else None,
            "worker": ctx.get_worker_id() if ctx else None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started,
            "queue_s": max(0.0, started - submitted_at),
            "env": environment(threads),
        }
        try:
            config = TrainConfig.from_dict(settings)
        except TrainerInputError as e:
            yield {"kind": "error", "reason": "error", "text": f"invalid settings: {e}"}
            return
        n_x, n_classes = data.X_train.shape[0], data.n_classes
        # the network, its optimizer state and one batch's activations, plus the row-major copy
        # of the training inputs that training makes for fast mini-batch gathers
        itemsize = 4 if config.dtype == "float32" else 8
        need = estimate_memory_bytes(config, n_x, n_classes, _batch(config, data))
        need += n_x * data.X_train.shape[1] * itemsize
        if memory_limit_bytes and need > memory_limit_bytes:
            yield {
                "kind": "refused",
                "reason": "memory",
                "text": f"needs about {need / 2**20:.0f} MiB, "
                f"limit {memory_limit_bytes / 2**20:.0f} MiB",
            }
            return
        train_start = time.time()
        pending: list[dict[str, Any]] = []  # epochs not yet sent
        last_sent = time.monotonic()
        try:
            training = iter_train(config, data)
            while True:
                try:
                    m = next(training)
                except StopIteration as stop:
                    result = stop.value
                    break
                pending.append(
                    {
                        "epoch": m.epoch,
                        "train_loss": m.train_loss,
                        "train_accuracy": m.train_accuracy,
                        "dev_loss": m.dev_loss,
                        "dev_accuracy": m.dev_accuracy,
                        "epoch_s": m.epoch_s,
                        "elapsed_s": m.elapsed_s,
                    }
                )
                # Fast epochs travel together (one Ray message per EPOCH_BATCH_S at most);
                # slow ones one by one, as soon as they end.
                if time.monotonic() - last_sent >= EPOCH_BATCH_S:
                    yield {"kind": "epochs", "epochs": pending}
                    pending, last_sent = [], time.monotonic()
        except DivergedError as e:
            yield from _flush(pending)
            yield {
                "kind": "diverged",
                "reason": "diverged",
                "epoch": e.epoch,
                "text": str(e),
                "train_s": time.time() - train_start,
            }
            return
        except MemoryError:
            yield from _flush(pending)
            yield {"kind": "refused", "reason": "memory", "text": "MemoryError while training"}
            return
        except Exception as e:  # a bug or bad data inside one trial must not end the search
            yield from _flush(pending)
            tb = traceback.format_exception(type(e), e, e.__traceback__, limit=8)
            yield {"kind": "error", "reason": "error", "text": "".join(tb)[-4000:]}
            return
        yield from _flush(pending)
        bv = result.bias_variance
        yield {
            "kind": "done",
            "train_loss": result.train_loss,
            "train_accuracy": result.train_accuracy,
            "dev_loss": result.dev_loss,
            "dev_accuracy": result.dev_accuracy,
            "epochs_run": result.epochs_run,
            "stopped": result.stopped,
            "best_epoch": result.best_epoch,
            "n_params": result.n_params,
            "diagnosis": bv.diagnosis,
            "avoidable_bias": bv.avoidable_bias,
            "variance": bv.variance,
            "train_s": time.time() - train_start,
            "startup_s": train_start - started,
            "model": result.network.to_npz_bytes(),
        }


def _flush(pending: list[dict[str, Any]]) -> Any:
    if pending:
        yield {"kind": "epochs", "epochs": pending}


def _batch(config: Any, data: Any) -> int:
    m = data.X_train.shape[1]
    return m if config.batch_size <= 0 else min(config.batch_size, m)


def remote_trial(cpus: int) -> Any:
    """The Ray remote function: a streaming generator, with Ray's own retries off.

    Retries happen at the driver (same hyperparameters, attempt + 1) so that every write is fenced
    by its attempt; a Ray-level retry would re-run the whole generator behind the driver's back.
    """
    return ray.remote(num_returns="streaming", max_retries=0, num_cpus=cpus)(run_trial)
