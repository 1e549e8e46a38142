"""The trainer: L-layer dense networks in plain NumPy, following Ng's Deep Learning courses 1-2,
optionally after convolutional blocks (course 4).

Samples are columns (X is (n_x, m)); W[l] is (n_l, n_{l-1}), b[l] is (n_l, 1). Conv block k has
filters Wc{k} (f, f, n_C_prev, n_C) and biases bc{k} (1, 1, 1, n_C) and works on images in the
course's layout (m, n_H, n_W, n_C); a column of X is one image flattened in C order. Importing
this package pulls in nothing but NumPy and the standard library.
"""

from __future__ import annotations

from ._config import DTYPES, TrainConfig
from ._conv_shapes import conv_output_shapes
from ._diagnosis import ADVICE, BiasVariance, bias_variance
from ._errors import DatasetError, DivergedError, TrainerError, TrainerInputError
from ._gradcheck import gradient_check
from ._memory import estimate_memory_bytes
from ._network import Network
from ._train import EPOCH_METRICS, EpochMetrics, TrainResult, iter_train, train
from .data import (
    LABEL_COLUMNS,
    NORMALIZERS,
    Dataset,
    Normalizer,
    load_dataset,
    stratified_split,
)

__all__ = [
    "ADVICE",
    "DTYPES",
    "EPOCH_METRICS",
    "LABEL_COLUMNS",
    "NORMALIZERS",
    "BiasVariance",
    "Dataset",
    "DatasetError",
    "DivergedError",
    "EpochMetrics",
    "Network",
    "Normalizer",
    "TrainConfig",
    "TrainResult",
    "TrainerError",
    "TrainerInputError",
    "bias_variance",
    "conv_output_shapes",
    "estimate_memory_bytes",
    "gradient_check",
    "iter_train",
    "load_dataset",
    "stratified_split",
    "train",
]
