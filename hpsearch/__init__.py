"""hpsearch: distributed hyperparameter search for NumPy deep networks.

Optuna samples hyperparameters, Ray workers train the networks (:mod:`hpsearch.trainer`), and every
search, trial and epoch is kept in SQL (:mod:`hpsearch.storage`).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
