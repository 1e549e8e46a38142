"""hpsearch: distributed hyperparameter search for NumPy deep networks.

Optuna samples hyperparameters, Ray workers train the networks (:mod:`hpsearch.trainer`), and every
search, trial and epoch is kept in SQL (:mod:`hpsearch.storage`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
# How every view ranks trials, finds the Pareto front and measures the dev split's noise
# (hpsearch._selection): public so the command line and notebooks use the same functions.
_SELECTION = (
    "SMALL_DEV",
    "DevNoise",
    "SplitSizes",
    "best_of",
    "dev_noise",
    "is_feasible",
    "pareto_front",
    "rank_key",
    "ranked",
    "sizes_of",
    "split_sizes",
    "standard_error",
    "within_noise",
)
__all__ = ["__version__", "open", *_SELECTION]


def __getattr__(name: str) -> Any:
    # ``hpsearch.open(url)`` (the notebook read API) loads SQLAlchemy only when first used, so
    # ``import hpsearch.trainer`` stays NumPy-only.
    if name == "open":
        from hpsearch._read_api import open as open_results

        return open_results
    if name in _SELECTION:
        import hpsearch._selection

        return getattr(hpsearch._selection, name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
