"""The search: Optuna samples hyperparameters, Ray trains them, the driver records everything.

This is the only part of hpsearch that imports ray and optuna, and it imports them only where
they are used: names are loaded on first access (PEP 562), so the search definition, the naming
of settings, replay and predict load neither Ray nor Optuna, and analysis/report load Optuna only
(``tests/test_architecture.py`` checks each).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# public name -> private module that defines it
_WHERE = {
    "StoredStudy": "_analysis",
    "export_optuna": "_analysis",
    "load_study": "_analysis",
    "param_importances": "_analysis",
    "load_config": "_config",
    "load_search_data": "_config",
    "OBJECTIVES": "_definition",
    "PRUNERS": "_definition",
    "SAMPLERS": "_definition",
    "ConfigError": "_definition",
    "DataSettings": "_definition",
    "ParamSpec": "_definition",
    "SearchConfig": "_definition",
    "SearchSettings": "_definition",
    "SearchInterrupted": "_outcome",
    "SearchOutcome": "_outcome",
    "SearchStopped": "_outcome",
    "HpsearchOptunaStorage": "_optuna_storage",
    "ReadOnlyStorageError": "_optuna_refused",
    "open_optuna_storage": "_optuna_storage",
    "serve_dashboard": "_dashboard",
    "dashboard_app": "_dashboard",
    "DashboardError": "_dashboard",
    "environment": "_environment",
    "environment_differences": "_environment",
    "field_name": "_names",
    "trainer_settings": "_names",
    "user_name": "_names",
    "user_settings": "_names",
    "validate_optuna_settings": "_optuna",
    "check_dependencies": "_preflight",
    "default_memory_limit_mb": "_preflight",
    "definition_notes": "_preflight",
    "memory_limit_line": "_preflight",
    "preflight": "_preflight",
    "check_search_name": "_names",
    "parse_config": "_parse",
    "with_seeding": "_parse_seeding",
    "Prediction": "_predict",
    "PredictionRow": "_predict",
    "predict_file": "_predict",
    "read_inputs": "_predict",
    "Progress": "_progress",
    "Splits": "_own_model",
    "Mismatch": "_replay",
    "ReplayError": "_replay",
    "ReplayResult": "_replay",
    "replay_trial": "_replay",
    "trial_dataset": "_replay",
    "trial_settings": "_replay",
    "build_report": "_report",
    "ray_session": "_run",
    "resume_search": "_run",
    "run_search": "_run",
    "stored_config": "_run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hpsearch.searcher' has no attribute {name!r}")
    value = getattr(import_module(f"hpsearch.searcher.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
