"""The Ray task that trains one trial and streams its epochs back to the driver.

Workers never touch the database: they get plain settings (users' words, converted to trainer
fields once, here) and the dataset (from the object store), and yield the typed messages of
:mod:`hpsearch.searcher._messages`: one TrialStarted, EpochsDone as epochs end, then TrialDone or
TrialFailed. The driver records them.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import ray

from hpsearch.searcher._conv_fit import trial_misfit
from hpsearch.searcher._entrypoint import import_entrypoint
from hpsearch.searcher._environment import environment
from hpsearch.searcher._folds import iter_folds
from hpsearch.searcher._latency import predict_ms
from hpsearch.searcher._messages import (
    EpochsDone,
    TrialDone,
    TrialFailed,
    TrialStarted,
    WorkerMessage,
)
from hpsearch.searcher._names import trainer_settings
from hpsearch.searcher._own_model import iter_own

if TYPE_CHECKING:
    from hpsearch.trainer import EpochMetrics

# Epochs that end within this many seconds of the last message are sent together: a trial of
# 60 fast epochs costs the driver a few Ray messages instead of 60. Pruning waits at most this.
EPOCH_BATCH_S = 0.05


def trial_seed(search_seed: int | None, number: int) -> int:
    """The seed of trial `number`: fixed by the search seed, distinct per trial, same on retry."""
    base = 0 if search_seed is None else search_seed
    return int(np.random.SeedSequence([base, number]).generate_state(1, dtype=np.uint32)[0] >> 1)


def run_trial(
    data: Any,
    settings: dict[str, Any],
    *,
    number: int,
    attempt: int,
    threads: int,
    submitted_at: float,
    memory_limit_bytes: int = 0,
) -> Iterator[WorkerMessage]:
    """Train one trial (the body of the Ray task): yields TrialStarted, EpochsDone..., then
    TrialDone or TrialFailed. ``settings``: the whole trainer configuration in users' words."""
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
        yield TrialStarted(
            number=number,
            attempt=attempt,
            node_id=ctx.get_node_id() if ctx else None,
            worker_id=ctx.get_worker_id() if ctx else None,
            host=socket.gethostname(),
            pid=os.getpid(),
            queue_s=max(0.0, started - submitted_at),
            environment=environment(threads),
        )
        own = settings.get("entrypoint")  # your own model: [train] entrypoint
        try:
            config = TrainConfig.from_dict(trainer_settings(settings)) if not own else None
        except TrainerInputError as e:
            yield _failed("ERROR", f"invalid settings: {e}")
            return
        folds = data if isinstance(data, tuple) else None  # [data] folds: one dataset a fold
        one = folds[0] if folds else data
        n_x, n_classes = one.X_train.shape[0], one.n_classes
        image_shape = getattr(one, "image_shape", None)
        misfit = trial_misfit(config, image_shape)  # a sampled conv network too deep for the images
        if misfit:
            yield _failed("ERROR", f"invalid settings: {misfit}")
            return
        # the network, its optimizer state and one batch's activations, plus the row-major copy
        # of the training inputs that training makes for fast mini-batch gathers (every fold's)
        need = 0
        if config is not None:
            itemsize = 4 if config.dtype == "float32" else 8
            need = estimate_memory_bytes(
                config, n_x, n_classes, _batch(config, one), image_shape=image_shape
            )
            need += n_x * sum(d.X_train.shape[1] for d in folds or (data,)) * itemsize
        if memory_limit_bytes and need > memory_limit_bytes:
            yield _failed(
                "MEMORY",
                f"needs about {need / 2**20:.0f} MiB, limit {memory_limit_bytes / 2**20:.0f} MiB",
            )
            return
        train_start = time.time()
        pending: list[EpochMetrics] = []  # epochs not yet sent
        last_sent = time.monotonic()
        try:
            if own:
                fn = import_entrypoint(own)
                training = iter_own(fn, settings, data, seed=int(settings["seed"]))
            else:
                training = iter_folds(config, folds) if folds else iter_train(config, data)
            while True:
                try:
                    pending.append(next(training))
                except StopIteration as stop:
                    result = stop.value
                    break
                # Fast epochs travel together (one Ray message per EPOCH_BATCH_S at most);
                # slow ones one by one, as soon as they end.
                if time.monotonic() - last_sent >= EPOCH_BATCH_S:
                    yield EpochsDone(tuple(pending))
                    pending, last_sent = [], time.monotonic()
        except DivergedError as e:
            yield from _flush(pending)
            yield _failed(
                "DIVERGED", str(e), diverged_epoch=e.epoch, train_s=time.time() - train_start
            )
            return
        except MemoryError:
            yield from _flush(pending)
            yield _failed("MEMORY", "MemoryError while training")
            return
        except Exception as e:  # a bug or bad data inside one trial must not end the search
            yield from _flush(pending)
            tb = traceback.format_exception(type(e), e, e.__traceback__, limit=8)
            yield _failed("ERROR", "".join(tb)[-4000:])
            return
        yield from _flush(pending)
        bv = result.bias_variance
        train_s = time.time() - train_start
        # after train_s: not part of it; an own model has no Network to time (None)
        latency = predict_ms(result.network, one.X_dev) if result.network is not None else None
        yield TrialDone(
            train_loss=result.train_loss,
            train_accuracy=result.train_accuracy,
            dev_loss=result.dev_loss,
            dev_accuracy=result.dev_accuracy,
            epochs_run=result.epochs_run,
            stopped=result.stopped,
            best_epoch=result.best_epoch,
            n_params=result.n_params,
            diagnosis=bv.diagnosis,
            avoidable_bias=bv.avoidable_bias,
            variance=bv.variance,
            startup_s=train_start - started,
            train_s=train_s,
            model=result.network.to_npz_bytes() if result.network is not None else result.model,
            predict_ms=latency,
            dev_loss_std=getattr(result, "dev_loss_std", None),
            dev_accuracy_std=getattr(result, "dev_accuracy_std", None),
            folds=getattr(result, "folds", ()),
        )


def _failed(reason: str, text: str, **kw: Any) -> TrialFailed:
    # storage (and SQLAlchemy with it) is loaded in a worker only when one of its trials fails
    from hpsearch.storage import FailReason

    return TrialFailed(FailReason[reason], text, **kw)


def _flush(pending: list[EpochMetrics]) -> Iterator[EpochsDone]:
    if pending:
        yield EpochsDone(tuple(pending))


def _batch(config: Any, data: Any) -> int:
    m = data.X_train.shape[1]
    return m if config.batch_size <= 0 else min(config.batch_size, m)


def remote_trial(cpus: int, *, runtime_env: dict[str, Any] | None = None) -> Any:
    """The Ray remote function: a streaming generator, with Ray's own retries off.

    Retries happen at the driver (same hyperparameters, attempt + 1) so that every write is fenced
    by its attempt; a Ray-level retry would re-run the whole generator behind the driver's back.
    ``runtime_env``: each task's (an own model's code, when Ray was started before the search).
    """
    task = ray.remote(num_returns="streaming", max_retries=0, num_cpus=cpus)(run_trial)
    return task.options(runtime_env=uploaded(runtime_env)) if runtime_env else task


def uploaded(runtime_env: dict[str, Any]) -> dict[str, Any]:
    """``runtime_env`` with its local ``working_dir`` uploaded to the cluster (a ``gcs://`` URI,
    named by the folder's content: unchanged code is uploaded once).

    A task may not name a local folder (Ray uploads those only for ``ray.init``), so a search
    that joins a Ray started before it does what ``ray.init`` does (Ray's own, private, helper).
    """
    import logging

    from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

    return upload_working_dir_if_needed(
        dict(runtime_env), include_gitignore=True, logger=logging.getLogger("hpsearch")
    )
