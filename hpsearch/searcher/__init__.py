"""The search: Optuna samples hyperparameters, Ray trains them, the driver records everything.

This is the only part of hpsearch that imports ray and optuna.
"""

from __future__ import annotations

from hpsearch.searcher._config import (
    ConfigError,
    DataSettings,
    ParamSpec,
    SearchConfig,
    SearchSettings,
    load_config,
    load_search_data,
    parse_config,
)
from hpsearch.searcher._driver import SearchInterrupted, SearchOutcome
from hpsearch.searcher._optuna import validate_optuna_settings
from hpsearch.searcher._progress import Progress
from hpsearch.searcher._run import ray_session, resume_search, run_search, stored_config

__all__ = [
    "ConfigError",
    "DataSettings",
    "ParamSpec",
    "Progress",
    "SearchConfig",
    "SearchInterrupted",
    "SearchOutcome",
    "SearchSettings",
    "load_config",
    "load_search_data",
    "parse_config",
    "ray_session",
    "resume_search",
    "run_search",
    "stored_config",
    "validate_optuna_settings",
]
