"""A dataset's three splits put back together, for the data tests."""

from __future__ import annotations

import numpy as np

from hpsearch.trainer.data import Dataset


def all_y(d: Dataset) -> np.ndarray:
    return np.concatenate([d.y_train, d.y_dev, d.y_test])


def all_X(d: Dataset) -> np.ndarray:
    return np.concatenate([d.X_train, d.X_dev, d.X_test], axis=1)


def n_samples(d: Dataset) -> int:
    return d.X_train.shape[1] + d.X_dev.shape[1] + d.X_test.shape[1]
