"""Optuna's side: samplers, pruners, and the in-memory study rebuilt from our tables.

Our tables are the source of truth. The driver keeps an in-memory Optuna study (asks and tells cost
well under a millisecond there, against tens of ms through Optuna's RDB storage) and rebuilds it
from the stored trials on resume with ``study.add_trials``, so the sampler sees every earlier trial.
"""

from __future__ import annotations

import inspect
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState as OptunaState

from hpsearch.searcher._config import ConfigError, SearchConfig
from hpsearch.searcher._constraints import optuna_constraints
from hpsearch.searcher._fast_halving import rung_values
from hpsearch.searcher._fast_pruner import fast_pruner
from hpsearch.searcher._space import grid_space, internal_params

CONSTRAINTS_KEY = "constraints"  # Optuna's system attribute (``Trial.set_constraint``)

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna").setLevel(logging.WARNING)

_SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}
_PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}
# Options that are code, not data: a TOML file cannot give them.
_NOT_FROM_FILE = {
    "search_space",
    "seed",
    "constraints_func",
    "gamma",
    "weights",
    "mutation",
    "crossover",
    "independent_sampler",
    "source_trials",
    "x0",
    "elite_population_selection_strategy",
    "child_generation_strategy",
    "after_trial_strategy",
}


def _checked_options(kind: str, name: str, factory: Callable[..., Any], options: dict) -> dict:
    params = inspect.signature(factory).parameters
    allowed = sorted(p for p in params if p not in _NOT_FROM_FILE)
    for key in options:
        if key not in allowed:
            raise ConfigError(
                f"search.{kind}_options.{key}: not an option of the {name} {kind} "
                f"(expected one of {', '.join(allowed) or 'none'})"
            )
        _check_option_type(f"search.{kind}_options.{key}", params[key].default, options[key])
    return options


def _check_option_type(where: str, default: Any, value: Any) -> None:
    """An option whose default is a boolean or a number takes the same kind of value (a string
    where Optuna counts trials would only fail later, in the middle of the search)."""
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    else:
        return
    if not ok:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")


def _quietly(factory: Callable[..., Any], **options: Any) -> Any:
    """Build a sampler or pruner without Optuna's experimental/deprecation warnings on stderr
    (the command line prints one line per problem)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return factory(**options)


def run_seed(search_seed: int | None, stored: int, warm: int = 0) -> int | None:
    """The sampler's seed for a run that starts with ``stored`` trials already stored.

    A new search's first run uses the search seed itself; every later run (resume, a larger
    budget) derives its own from the search seed and how many trials were stored, so it does not
    draw again the settings the earlier runs drew. Reproducible: same search, same seeds. (A trial's
    training seed depends only on its number: replay is unchanged.) ``warm``: trials of a warm
    start (``_seeding``) in the study; a warm-started run derives its own seed too, so it does
    not draw again what an earlier search with the same seed drew.
    """
    if search_seed is None or (stored == 0 and warm == 0):
        return search_seed
    entropy = [search_seed, stored, warm] if warm else [search_seed, stored]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)


def make_sampler(
    config: SearchConfig, *, stored: int = 0, warm: int = 0
) -> optuna.samplers.BaseSampler:
    """The configured Optuna sampler, seeded for a run that starts with ``stored`` trials (and
    ``warm`` ones of a warm start)."""
    s = config.search
    factory = _SAMPLERS[s.sampler]
    options = dict(_checked_options("sampler", s.sampler, factory, s.sampler_options))
    if s.sampler == "grid":
        options["search_space"] = grid_space(config)
    try:
        return _quietly(factory, seed=run_seed(s.seed, stored, warm), **options)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"search.sampler_options: {s.sampler}: {e}") from None


def make_pruner(config: SearchConfig, *, incremental: bool = False) -> optuna.pruners.BasePruner:
    """The configured Optuna pruner. ``incremental``: median, percentile and successive halving
    as the fast pruners (``_fast_pruner``, ``_fast_halving``), for a study whose every tell goes
    through ``StudySide.tell`` (which shows them each told trial); elsewhere Optuna's own, which
    reads the study each time."""
    s = config.search
    factory = _PRUNERS[s.pruner]
    options = _checked_options("pruner", s.pruner, factory, s.pruner_options)
    if s.pruner == "percentile" and "percentile" not in options:
        options = {"percentile": 25.0, **options}
    try:
        pruner = _quietly(factory, **options)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"search.pruner_options: {s.pruner}: {e}") from None
    if not incremental:
        return pruner
    return fast_pruner(s.pruner, options) or pruner  # the same decisions, O(log n)


def validate_optuna_settings(config: SearchConfig) -> None:
    """Build sampler and pruner once, so `hpsearch validate` catches bad options."""
    make_sampler(config)
    make_pruner(config)


def new_study(config: SearchConfig, *, stored: int = 0, warm: int = 0) -> optuna.Study:
    """An in-memory study with the configured sampler, pruner and directions; ``stored``: the
    trials already stored, ``warm``: a warm start's (see :func:`run_seed`)."""
    directions = list(config.search.directions)
    return optuna.create_study(
        study_name=config.search.name,
        sampler=make_sampler(config, stored=stored, warm=warm),
        pruner=make_pruner(config, incremental=True),  # StudySide tells it every trial
        directions=directions,
    )


_STATE = {
    "complete": OptunaState.COMPLETE,
    "pruned": OptunaState.PRUNED,
    "failed": OptunaState.FAIL,
}


def optuna_state(state: Any, values: Sequence[float | None] | None) -> OptunaState | None:
    """Optuna's state for one of ours (a ``TrialState`` or its value): complete -> COMPLETE (FAIL
    when an objective is missing or not finite), pruned -> PRUNED, failed -> FAIL; None for a
    trial still running. The one mapping, for finished trials and stored ones alike."""
    ostate = _STATE.get(getattr(state, "value", state))
    if ostate == OptunaState.COMPLETE and not _finite(values):
        return OptunaState.FAIL
    return ostate


def _finite(values: Sequence[float | None] | None) -> bool:
    return bool(values) and all(v is not None and math.isfinite(v) for v in values)


def frozen_trial(
    config: SearchConfig,
    *,
    params: dict[str, Any],
    state: Any,
    values: Sequence[float | None] | None,
    intermediate: dict[int, float],
    number: int = 0,
    constraints: Sequence[float | None] | None = None,
) -> optuna.trial.FrozenTrial | None:
    """An Optuna FrozenTrial for one stored trial (None when Optuna cannot hold it), with its
    [search] constraint values (``constraints``) where the sampler reads them."""
    ostate = optuna_state(state, values)
    if ostate is None:
        return None
    internal, dists = internal_params(config, params)
    try:
        for name, dist in dists.items():
            if not dist._contains(dist.to_internal_repr(internal[name])):
                return None  # stored under another space: keep it out of the sampler
    except (ValueError, TypeError):
        return None
    ok_values = [float(v) for v in values] if ostate == OptunaState.COMPLETE else None
    curve = {k: v for k, v in intermediate.items() if math.isfinite(v)}
    system_attrs = {
        f"{CONSTRAINTS_KEY}:{k}": v
        for k, v in optuna_constraints(config.constraints, constraints).items()
    }
    if config.search.pruner == "successive_halving":  # what it recorded at each rung
        system_attrs |= rung_values(curve, config.search.pruner_options)
    return optuna.trial.create_trial(
        params=internal,
        distributions=dists,
        values=ok_values,
        state=ostate,
        intermediate_values=curve,
        user_attrs={"number": number},
        system_attrs=system_attrs,
    )


def add_history(study: optuna.Study, trials: Iterable[optuna.trial.FrozenTrial | None]) -> int:
    """Give the sampler every earlier trial; returns how many were added."""
    kept = [t for t in trials if t is not None]
    if kept:
        study.add_trials(kept)
    return len(kept)


def stored_history(
    config: SearchConfig, storage: Any, trials: Iterable[Any], *, with_curves: bool = True
) -> list[optuna.trial.FrozenTrial | None]:
    """Optuna's view of stored trials: params, state, values and (single objective) each
    epoch's objective as an intermediate value, so pruners compare against earlier curves."""
    metric = config.search.objectives[0]
    out = []
    for t in trials:
        intermediate: dict[int, float] = {}
        if with_curves and not config.multi_objective and t.state.value in ("complete", "pruned"):
            for e in storage.epochs(t.id):
                v = getattr(e, metric, None)
                if v is not None and math.isfinite(v):
                    intermediate[e.epoch] = v
        out.append(
            frozen_trial(
                config,
                params=t.params,
                state=t.state,
                values=list(t.values) if t.values else None,
                intermediate=intermediate,
                number=t.number,
                constraints=t.constraint_values,
            )
        )
    return out
