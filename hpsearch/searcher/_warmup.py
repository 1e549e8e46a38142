"""Pruner warm-up: defaults derived from the search, and warnings for settings that prune early.

Optuna's own defaults let a pruner stop trials at the first epoch (the median pruner compares
after 0 warm-up steps; successive halving's first rung is at epoch 1 for short trainings), which
pruned 7 of 8 trials at epoch 1 of 60 in issue 12. When a definition leaves a warm-up setting
out, :func:`with_warmup_defaults` fills it from the number of epochs and the sampler's start-up
trials, so the pruner built from the parsed options uses it, and records which it filled (for
``validate``'s output). Epochs are 1-based: an epoch-``e`` report is step ``e``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hpsearch.searcher._definition import SearchConfig

# The settings that delay pruning, per pruner.
WARMUP_KEYS: dict[str, tuple[str, ...]] = {
    "median": ("n_startup_trials", "n_warmup_steps"),
    "percentile": ("n_startup_trials", "n_warmup_steps"),
    "successive_halving": ("min_resource",),
    "hyperband": ("min_resource", "max_resource"),
}
# Trials a sampler draws at random before it models anything (Optuna's defaults).
_SAMPLER_STARTUP = {"tpe": 10, "gp": 10}


def epoch_range(config: SearchConfig) -> tuple[int, int]:
    """(fewest, most) epochs a trial of this search trains: [train] epochs, the searched range,
    or the trainer's default."""
    spec = next((p for p in config.space if p.name == "epochs"), None)
    if spec is not None:
        values = spec.choices if spec.kind == "categorical" else (spec.low, spec.high)
        numbers = [int(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers:
            return max(1, min(numbers)), max(1, max(numbers))
    epochs = config.train.get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        from hpsearch.trainer import TrainConfig

        epochs = TrainConfig().epochs
    return epochs, epochs


def warmup_defaults(config: SearchConfig) -> dict[str, Any]:
    """The warm-up settings this search's pruner gets when the definition leaves them out."""
    s = config.search
    fewest, most = epoch_range(config)
    if s.pruner in ("median", "percentile"):
        startup = s.sampler_options.get("n_startup_trials", _SAMPLER_STARTUP.get(s.sampler, 0))
        startup = startup if isinstance(startup, int) and not isinstance(startup, bool) else 0
        return {
            # compare against at least 5 finished trials, or half the sampler's random start
            "n_startup_trials": max(5, startup // 2),
            # no trial stopped before about a third of its epochs (never at epoch 1)
            "n_warmup_steps": max(2, math.ceil(fewest / 3)),
        }
    if s.pruner in ("successive_halving", "hyperband"):
        # the first rung at about a tenth of the epochs, never at epoch 1 when there are more
        out: dict[str, Any] = {"min_resource": min(fewest, max(2, fewest // 10))}
        if s.pruner == "hyperband":
            out["max_resource"] = most
        return out
    return {}


def with_warmup_defaults(config: SearchConfig) -> SearchConfig:
    """``config`` with every warm-up setting it leaves out filled in (``derived_options`` names
    them); unchanged when the pruner is ``none`` or every setting is given."""
    options = config.search.pruner_options
    filled = {k: v for k, v in warmup_defaults(config).items() if k not in options}
    if not filled:
        return config
    search = dataclasses.replace(config.search, pruner_options={**options, **filled})
    return dataclasses.replace(config, search=search, derived_options=tuple(filled))


def derivation(config: SearchConfig) -> str:
    """How :func:`warmup_defaults` chose, in words, for ``validate``'s line."""
    fewest, most = epoch_range(config)
    epochs = f"{fewest} epochs" if fewest == most else f"{fewest}-{most} epochs"
    if config.search.pruner in ("median", "percentile"):
        how = f"warm-up a third of {epochs}, start-up from the {config.search.sampler} sampler's"
    else:
        how = f"first rung at a tenth of {epochs}"
    return f"derived: {how}; set search.pruner_options to choose"


def early_pruning_warning(config: SearchConfig) -> str | None:
    """One line when the given warm-up settings let the pruner stop a trial at epoch 1."""
    s = config.search
    options = {k: v for k, v in s.pruner_options.items() if k not in config.derived_options}
    fewest, most = epoch_range(config)
    if fewest < 2:
        return None  # a single epoch: nothing earlier to protect
    where = f"search.pruner_options for the {s.pruner} pruner"
    if s.pruner in ("median", "percentile"):
        steps = options.get("n_warmup_steps")
        if isinstance(steps, int) and steps <= 1:
            return (
                f"warning: {where}: n_warmup_steps = {steps} lets it stop trials at epoch 1 "
                f"of {fewest}; leave it out for {max(2, math.ceil(fewest / 3))} (a third)"
            )
    elif s.pruner in ("successive_halving", "hyperband") and "min_resource" in options:
        first = _first_rung(s.pruner, options, most)
        if first is not None and first <= 1:
            return (
                f"warning: {where}: min_resource = {options['min_resource']!r} lets it stop "
                f"trials at epoch 1 of {fewest}; leave it out for "
                f"{min(fewest, max(2, fewest // 10))} (a tenth)"
            )
    return None


def _first_rung(pruner: str, options: dict[str, Any], epochs: int) -> int | None:
    """The first epoch at which successive halving or hyperband may stop a trial."""
    minimum = options["min_resource"]
    if minimum == "auto":  # Optuna: the first finished trial's steps // 100, at least 1
        minimum = max(epochs // 100, 1)
    if not isinstance(minimum, int) or isinstance(minimum, bool):
        return None  # a wrong type is refused when the pruner is built
    if pruner == "successive_halving":
        rate = options.get("min_early_stopping_rate", 0)
        factor = options.get("reduction_factor", 4)
        if isinstance(rate, int) and isinstance(factor, int) and rate >= 0 and factor >= 2:
            return minimum * factor ** min(rate, 64)
    return minimum
