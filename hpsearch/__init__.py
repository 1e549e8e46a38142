"""hpsearch: distributed hyperparameter search for NumPy deep networks.

Optuna samples hyperparameters, Ray workers train the networks (:mod:`hpsearch.trainer`), and every
search, trial and epoch is kept in SQL (:mod:`hpsearch.storage`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "open"]


def __getattr__(name: str) -> Any:
    # ``hpsearch.open(url)`` (the notebook read API) loads SQLAlchemy only when first used, so
    # ``import hpsearch.trainer`` stays NumPy-only.
    if name == "open":
        from hpsearch._read_api import open as open_results

        return open_results
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
