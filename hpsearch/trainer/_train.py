"""train(): mini-batch training with per-epoch metrics, early stopping and divergence checks.

Metrics per epoch, all measured after the epoch's steps with the network in evaluation mode
(no dropout, batch norm's running statistics), so they are exact for the parameters at the end
of the epoch:

- dev loss and accuracy: on the whole dev set, every epoch;
- train loss and accuracy: on a fixed, stratified subsample of the training set of
  ``TRAIN_METRICS_SAMPLES`` (10,000) samples -- the whole training set when it is not larger.
  The subsample is drawn once per train() call with a fixed seed (0, independent of the trial's
  seed, so every trial on the same data is measured on the same samples) and keeps each class's
  share.

Why a subsample and not the running mean of the mini-batch losses, which would cost nothing:
the running mean mixes the parameters of the whole epoch (early batches were scored by a
worse network) and, with dropout, scores a thinned network, so train loss > dev loss could
appear on a network that does not underfit; the train/dev gap that the bias/variance reading
(``_diagnosis``) and pruners rely on would be biased. The subsample is unbiased: its accuracy
is within about 0.5 percentage points (one standard error, <= sqrt(0.25 / 10,000)) of the whole
training set's, and it costs a forward pass over at most 10,000 samples instead of the whole
set (on 60,000 MNIST-sized samples this removes 5/6 of the evaluation).

The final :class:`TrainResult` reports the metrics of the epoch whose parameters it returns
(the last epoch, or the best one when early stopping restored it): the same subsample, not
a second pass over the whole training set. ``TrainResult.train_metrics_samples`` says how
many samples that was. For training sets of at most 10,000 samples nothing changes: the train
metrics are exact on the whole set, as before.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._config import TrainConfig
from ._conv_net import update_conv_running_stats
from ._diagnosis import BiasVariance, bias_variance
from ._errors import DivergedError, TrainerInputError
from ._flat import flatten_into_views
from ._init import is_decayed, is_trainable
from ._layers import update_running_stats
from ._network import Network
from ._optimizers import learning_rate_at, make_optimizer
from ._propagation import Workspace, backward_propagation, compute_cost, forward_propagation
from .data._split import subsample

# The metrics measured after every epoch (fields of EpochMetrics) and, for the returned network,
# at the end (fields of TrainResult): what a pruner can watch and what a replay compares.
EPOCH_METRICS = ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy")
# Train metrics are measured on at most this many training samples (see the module docstring).
TRAIN_METRICS_SAMPLES = 10_000


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch; losses are mean cross-entropy (no L2 term), evaluated without dropout.

    dev_* are measured on the whole dev set; train_* on a fixed stratified subsample of at most
    TRAIN_METRICS_SAMPLES (10,000) training samples (the whole training set when smaller),
    exactly, after the epoch's steps -- not a running mean over the mini-batches.
    """

    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epoch_s: float  # wall time of this epoch (training + evaluation)
    elapsed_s: float  # wall time since training started


@dataclass
class TrainResult:
    """What train() returns; the final metrics are those of the returned network.

    train_loss / train_accuracy are measured like EpochMetrics' (on train_metrics_samples
    training samples, the whole set when it has at most 10,000).
    """

    config: TrainConfig
    network: Network
    history: list[EpochMetrics]
    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epochs_run: int
    seconds: float
    stopped: str  # completed | early_stopping | callback
    best_epoch: int  # epoch with the lowest dev loss
    n_params: int
    bias_variance: BiasVariance
    train_metrics_samples: int = 0  # training samples the train metrics are measured on


class MiniBatchTrainer:
    """One network, its optimizer and the buffers reused at every step.

    The training inputs are kept as rows (m, n_x) so that gathering a shuffled mini-batch copies
    contiguous rows; the batch is then used as its transpose (n_x, b), a free view that the
    matrix products read directly.
    """

    def __init__(self, network: Network, *, dropout_rng: np.random.Generator) -> None:
        self.network = network
        self.config = network.config
        self.params = network.params
        self.spec = network.spec
        self.optimizer = make_optimizer(self.config)
        self.dropout_rng = dropout_rng
        # every trainable parameter a view into one flat buffer, every gradient a view into
        # another in the same order: the optimizer steps over one array (see _flat)
        names = [k for k in self.params if is_trainable(k)]
        self.layout, self.flat_params = flatten_into_views(self.params, names)
        self.flat_grads = np.empty_like(self.flat_params)
        self.grads = self.layout.views(self.flat_grads)
        self.workspace = Workspace()  # the products' outputs, reused every step
        # The L2 term's gradient (lambd / m) W is added by the optimizer, block by block while
        # each block is in cache (see update_flat); the backward pass leaves it out.
        self._backward_spec = dataclasses.replace(self.spec, lambd=0.0)
        self._decayed = [
            (offset, offset + int(np.prod(shape, dtype=np.int64)))
            for name, (offset, shape) in self.layout.slots.items()
            if is_decayed(name)
        ]
        self._batch: np.ndarray | None = None

    def step(self, X: np.ndarray, y: np.ndarray, learning_rate: float, epoch: int) -> None:
        """One gradient step on X (n_x, b), y (b,)."""
        ws = self.workspace
        ZL, caches = forward_propagation(X, self.params, self.spec, rng=self.dropout_rng, ws=ws)
        if not math.isfinite(float(ZL.sum())):  # NaN/inf logits: the cost is NaN/inf too
            raise DivergedError(epoch, compute_cost(ZL, y, self.params, self.spec))
        backward_propagation(ZL, y, self.params, caches, self._backward_spec, self.grads, ws)
        if self.spec.batch_norm:
            for l, cache in enumerate(caches[:-1], start=1):
                update_running_stats(self.params[f"mu{l}"], self.params[f"var{l}"], cache.bn)
            if caches.conv:
                update_conv_running_stats(self.params, caches.conv)
        lambd = self.spec.lambd
        decay = (lambd / ZL.shape[1], self._decayed) if lambd != 0.0 else None
        self.optimizer.update_flat(
            self.flat_params, self.flat_grads, learning_rate, self.layout, decay
        )

    def run_epoch(
        self,
        X_rows: np.ndarray,
        y: np.ndarray,
        learning_rate: float,
        epoch: int,
        rng: np.random.Generator,
    ) -> None:
        """One pass over X_rows (m, n_x), y (m,) in reshuffled mini-batches (last one partial)."""
        m = X_rows.shape[0]
        bs = self.config.batch_size or m
        if bs >= m:  # full batch: the order of the samples does not matter
            self.step(X_rows.T, y, learning_rate, epoch)
            return
        if self._batch is None:
            self._batch = np.empty((bs, X_rows.shape[1]), dtype=X_rows.dtype)
        perm = rng.permutation(m)
        for start in range(0, m, bs):
            idx = perm[start : start + bs]
            # mode="clip": unbuffered (mode="raise" copies through a temporary); idx is in range
            rows = np.take(X_rows, idx, axis=0, out=self._batch[: idx.size], mode="clip")
            self.step(rows.T, y[idx], learning_rate, epoch)


def train(
    config: TrainConfig,
    data: Any,
    *,
    on_epoch: Callable[[EpochMetrics], bool | None] | None = None,
) -> TrainResult:
    """Train a network on data.X_train/y_train, evaluating on data.X_dev/y_dev every epoch.

    ``data`` needs only X_train, y_train, X_dev, y_dev ((n_x, m) floats, (m,) int labels) and
    n_classes; a convolutional config (conv_blocks > 0) also needs data.image_shape.
    on_epoch(metrics) returning True stops training (stopped == "callback").
    With patience > 0, training stops after ``patience`` epochs without a lower dev loss and
    the returned network holds the parameters of the best epoch (restored); with patience = 0
    it holds the last epoch's. Raises DivergedError when the cost becomes NaN/inf.
    Same config and data give bit-identical parameters.
    """
    epochs = iter_train(config, data)
    try:
        metrics = next(epochs)
        while True:
            stop = bool(on_epoch(metrics)) if on_epoch is not None else False
            metrics = epochs.send(stop)
    except StopIteration as done:
        return done.value


def iter_train(config: TrainConfig, data: Any) -> Generator[EpochMetrics, bool | None, TrainResult]:
    """:func:`train` as a generator: yields each epoch's metrics as soon as it ends.

    ``send(True)`` asks to stop after the epoch just yielded (stopped == "callback"); the
    :class:`TrainResult` is the generator's return value (``StopIteration.value``). The search's
    Ray workers stream epochs to the driver this way.
    """
    if not isinstance(config, TrainConfig):
        raise TrainerInputError(f"train: expected a TrainConfig, got {type(config).__name__}")
    X_train, y_train, X_dev, y_dev, n_classes = _check_data(data, np.dtype(config.dtype))
    n_x = X_train.shape[0]
    init_rng, shuffle_rng, dropout_rng = np.random.default_rng(config.seed).spawn(3)
    # (n_H, n_W, n_C) of image datasets: each column of X is an image in C order
    image_shape = getattr(data, "image_shape", None)
    network = Network.initialize(config, n_x, n_classes, init_rng, image_shape=image_shape)
    trainer = MiniBatchTrainer(network, dropout_rng=dropout_rng)
    full_batch = config.batch_size == 0 or config.batch_size >= X_train.shape[1]
    # (m, n_x): rows are gathered per mini-batch (see MiniBatchTrainer); no copy for full batch
    # or when X_train already is a (n_x, m) view of row-major samples (as load_dataset gives)
    X_rows = X_train.T if full_batch else np.ascontiguousarray(X_train.T)
    X_metric, y_metric = _train_metric_samples(X_rows, y_train)

    history: list[EpochMetrics] = []
    best: EpochMetrics | None = None
    best_params: dict[str, np.ndarray] | None = None
    stopped = "completed"
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        lr = learning_rate_at(config, epoch - 1)
        # overflow in a diverging run is expected: it is detected and raised as DivergedError
        # (the errstate is not held across the yield below: it would leak into the caller)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            trainer.run_epoch(X_rows, y_train, lr, epoch, shuffle_rng)
            train_loss, train_acc = network.evaluate(X_metric, y_metric)
            dev_loss, dev_acc = network.evaluate(X_dev, y_dev)
        for loss in (train_loss, dev_loss):
            if not math.isfinite(loss):
                raise DivergedError(epoch, loss)
        now = time.perf_counter()
        metrics = EpochMetrics(
            epoch, train_loss, train_acc, dev_loss, dev_acc, now - t0, now - start
        )
        history.append(metrics)
        if best is None or dev_loss < best.dev_loss:
            best = metrics
            if config.patience:
                best_params = {k: v.copy() for k, v in network.params.items()}
        if (yield metrics):
            stopped = "callback"
            break
        if config.patience and epoch - best.epoch >= config.patience:
            stopped = "early_stopping"
            break

    assert best is not None
    final = history[-1]
    if best_params is not None and best.epoch != final.epoch:
        network.params.clear()
        network.params.update(best_params)
        final = best
    return TrainResult(
        config=config,
        network=network,
        history=history,
        train_loss=final.train_loss,
        train_accuracy=final.train_accuracy,
        dev_loss=final.dev_loss,
        dev_accuracy=final.dev_accuracy,
        epochs_run=len(history),
        seconds=time.perf_counter() - start,
        stopped=stopped,
        best_epoch=best.epoch,
        n_params=network.n_params,
        bias_variance=bias_variance(1.0 - final.train_accuracy, 1.0 - final.dev_accuracy),
        train_metrics_samples=int(y_metric.size),
    )


def _train_metric_samples(X_rows: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X (n_x, k), y (k,)): the fixed stratified subsample the train metrics are measured on."""
    if y.size <= TRAIN_METRICS_SAMPLES:
        return X_rows.T, y
    idx = subsample(y, TRAIN_METRICS_SAMPLES, np.random.default_rng(0))  # sorted
    return np.take(X_rows, idx, axis=0).T, y[idx]


def _check_data(
    data: Any, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The arrays train() uses, checked and cast to the training dtype."""
    try:
        n_classes = data.n_classes
        arrays = [data.X_train, data.y_train, data.X_dev, data.y_dev]
    except AttributeError as e:
        raise TrainerInputError(
            f"train data: expected X_train, y_train, X_dev, y_dev and n_classes ({e})"
        ) from e
    if not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise TrainerInputError(
            f"train data: n_classes expected an integer >= 2, got {n_classes!r}"
        )
    n = int(n_classes)
    X_train, y_train = _check_split("train", arrays[0], arrays[1], n, dtype, None)
    X_dev, y_dev = _check_split("dev", arrays[2], arrays[3], n, dtype, X_train.shape[0])
    return X_train, y_train, X_dev, y_dev, n


def _check_split(
    split: str, X: Any, y: Any, n_classes: int, dtype: np.dtype, n_x: int | None
) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or (n_x is not None and X.shape[0] != n_x) or X.shape[1] == 0:
        expected = f"({n_x if n_x is not None else 'n_x'}, m) with m >= 1"
        raise TrainerInputError(f"train data: X_{split} expected shape {expected}, got {X.shape}")
    if y.shape != (X.shape[1],) or not np.issubdtype(y.dtype, np.integer):
        raise TrainerInputError(
            f"train data: y_{split} expected {X.shape[1]} integer labels, got {y.dtype} {y.shape}"
        )
    if y.min() < 0 or y.max() >= n_classes:
        raise TrainerInputError(
            f"train data: y_{split} expected labels in [0, {n_classes - 1}], "
            f"got {y.min()}..{y.max()}"
        )
    if not np.issubdtype(X.dtype, np.number) or not _all_finite(X):
        raise TrainerInputError(f"train data: X_{split} expected finite numbers")
    return X.astype(dtype, copy=False), y.astype(np.int64, copy=False)


def _all_finite(X: np.ndarray) -> bool:
    """No NaN or inf in X: one summing pass (NaN and inf propagate into the sum); the full
    element-wise check only when the sum is not finite (possibly an overflow of finite values)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.sum(X))):
            return True
    return bool(np.isfinite(X).all())
