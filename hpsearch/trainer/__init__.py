"""The trainer: L-layer dense networks in plain NumPy, following Ng's Deep Learning courses 1-2.

Samples are columns (X is (n_x, m)); W[l] is (n_l, n_{l-1}), b[l] is (n_l, 1). Importing this
package pulls in nothing but NumPy and the standard library.
"""

from __future__ import annotations

from ._config import DTYPES, TrainConfig
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
    "estimate_memory_bytes",
    "gradient_check",
    "iter_train",
    "load_dataset",
    "stratified_split",
    "train",
]
