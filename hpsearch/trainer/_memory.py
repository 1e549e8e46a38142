"""How much memory a training run needs, to refuse trials that would not fit."""

from __future__ import annotations

import numpy as np

from ._config import TrainConfig

OPTIMIZER_STATES = {"gd": 1, "momentum": 2, "rmsprop": 2, "adam": 3}  # arrays per parameter


def estimate_memory_bytes(config: TrainConfig, n_x: int, n_classes: int, batch_size: int) -> int:
    """Bytes for the parameters, their gradients, the optimizer state (and scratch buffer) and
    the activations of one mini-batch of ``batch_size`` samples, forward and backward.

    Not counted: the dataset itself (train() keeps one extra row-major copy of X_train unless
    it already is one, as load_dataset gives it), the copy of the fixed subsample the train
    metrics are measured on (at most 10,000 samples x n_x) and evaluation, which runs in chunks
    of 512 samples.
    """
    itemsize = np.dtype(config.dtype).itemsize
    dims = config.layer_dims(n_x, n_classes)
    n_params = sum(dims[l] * dims[l - 1] + 2 * dims[l] for l in range(1, len(dims)))
    # params + grads + optimizer state (+ 1 scratch buffer each) + best-params copy
    per_param = 2 + OPTIMIZER_STATES[config.optimizer] + (1 if config.patience else 0)
    # per hidden unit and sample: Z, A, dA/dZ; + batch-norm Z_hat/Z~ + dropout mask/output
    per_unit = 3 + (2 if config.batch_norm else 0) + (2 if any(config.dropout_rates) else 0)
    hidden = sum(dims[1:-1])
    activations = batch_size * (2 * n_x + per_unit * hidden + 3 * dims[-1])
    return int(itemsize * (per_param * n_params + activations))
