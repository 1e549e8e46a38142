"""How much memory a training run needs, to refuse trials that would not fit."""

from __future__ import annotations

import numpy as np

from ._config import TrainConfig
from ._conv_shapes import ConvBlock, ImageShape, conv_blocks

OPTIMIZER_STATES = {"gd": 1, "momentum": 2, "rmsprop": 2, "adam": 3}  # arrays per parameter


def estimate_memory_bytes(
    config: TrainConfig,
    n_x: int,
    n_classes: int,
    batch_size: int,
    *,
    image_shape: ImageShape | None = None,
) -> int:
    """Bytes for the parameters, their gradients, the optimizer state (and scratch buffer) and
    the activations of one mini-batch of ``batch_size`` samples, forward and backward; for a
    convolutional config (image_shape needed) also the conv filters and each block's padded
    input, im2col buffer, activations and pooling arrays, forward and backward.

    Not counted: the dataset itself (train() keeps one extra row-major copy of X_train unless
    it already is one, as load_dataset gives it), the copy of the fixed subsample the train
    metrics are measured on (at most 10,000 samples x n_x) and evaluation, which runs in chunks
    of 512 samples (fewer for conv networks, whose chunk keeps im2col near 32 MB).
    Raises TrainerInputError when the conv blocks do not fit the image (see conv_output_shapes).
    """
    itemsize = np.dtype(config.dtype).itemsize
    blocks = conv_blocks(config, image_shape)
    n_flat = int(np.prod(blocks[-1].out_shape)) if blocks else n_x
    dims = config.layer_dims(n_flat, n_classes)
    n_params = sum(dims[l] * dims[l - 1] + 2 * dims[l] for l in range(1, len(dims)))
    n_params += sum(b.f * b.f * b.in_shape[2] * b.conv_shape[2] + b.conv_shape[2] for b in blocks)
    # params + grads + optimizer state (+ 1 scratch buffer each) + best-params copy
    per_param = 2 + OPTIMIZER_STATES[config.optimizer] + (1 if config.patience else 0)
    # per hidden unit and sample: Z, A, dA/dZ; + batch-norm Z_hat/Z~ + dropout mask/output
    per_unit = 3 + (2 if config.batch_norm else 0) + (2 if any(config.dropout_rates) else 0)
    hidden = sum(dims[1:-1])
    per_sample = 2 * n_x + per_unit * hidden + 3 * dims[-1]
    if blocks:  # the flattened features and their gradient, then each block
        per_sample += 2 * n_flat + sum(_block_values(b, config.batch_norm) for b in blocks)
    return int(itemsize * (per_param * n_params + batch_size * per_sample))


def _block_values(b: ConvBlock, batch_norm: bool) -> int:
    """Values per sample one conv block keeps or creates in a training step."""
    n_H, n_W, n_C = b.conv_shape
    cols = n_H * n_W * b.f * b.f * b.in_shape[2]  # im2col rows
    padded = (b.in_shape[0] + sum(b.pad)) * (b.in_shape[1] + sum(b.pad)) * b.in_shape[2]
    later = b.index > 1  # block 1 computes no gradient for its input image
    conv_px = n_H * n_W * n_C  # Z / A, dA from pooling, dZ, a pooling temporary
    conv_px_arrays = 4 + (3 if batch_norm else 0)  # + batch norm's Z_hat, Z~ and its dZ
    out_px = b.out_shape[0] * b.out_shape[1] * n_C  # pooled output, argmax, dA part
    return (
        cols
        + later * n_H * n_W * b.in_shape[2]  # one kernel offset's part of dcols
        + padded * ((sum(b.pad) > 0) + later)
        + conv_px_arrays * conv_px
        + (3 * out_px if b.pool != "none" else 0)
    )
