"""The environment a trial ran in, as recorded with it, and what differs from this one.

Workers record :func:`environment` with every trial; a replay compares it with this process's
(:func:`environment_differences`) to name the likely cause of a difference. Imports neither Ray nor
Optuna: Ray's version is read from the installed package's metadata.
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

import hpsearch

# Entries that can change floating-point results, in the order they are reported.
_COMPARED = (
    ("numpy", "NumPy version"),
    ("blas.library", "BLAS library"),
    ("blas.version", "BLAS version"),
    ("blas.architecture", "BLAS kernel architecture"),
    ("blas_threads", "BLAS threads"),
    ("OPENBLAS_CORETYPE", "OPENBLAS_CORETYPE"),
    ("machine", "machine"),
    ("python", "Python version"),
    ("hpsearch", "hpsearch version"),
)


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment(threads: int) -> dict[str, Any]:
    """What a replay needs to know: library versions, BLAS library and its thread count."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "hpsearch": hpsearch.__version__,
        "ray": _installed("ray"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "blas_threads": threads,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            env["blas"] = {
                "library": blas[0].get("internal_api"),
                "version": blas[0].get("version"),
                "architecture": blas[0].get("architecture"),
                "threads": blas[0].get("num_threads"),
            }
    except Exception:  # threadpoolctl is best effort: never fail a trial over it
        env["blas"] = None
    return env


def recorded(env: dict[str, Any] | None, dotted: str) -> Any:
    """One entry of a recorded environment (``blas.version``), None when absent."""
    value: Any = env or {}
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def environment_differences(stored: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """Human lines for each recorded entry that differs, e.g. ``NumPy version: 2.3.1 -> 2.4.6``."""
    if not stored:
        return ["no environment was recorded for this trial"]
    out = []
    for key, label in _COMPARED:
        a, b = recorded(stored, key), recorded(now, key)
        if a != b:
            out.append(f"{label}: {a} (stored) -> {b} (now)")
    return out
