"""From the [space] section to Optuna suggestions and back to trainer settings.

Optuna sees "internal" parameter names and distributions: ``one_minus_beta1`` on a log scale for a
beta searched as 1 - beta, ``units_l1``, ``units_l2``... for units chosen per layer (and
``filters_l1``... per conv block), ``lambd``. They stay in this module: the rest of the search,
the results database and the worker see plain settings in users' words: ``beta1 = 0.987``,
``units = [128, 64]``, ``filters = [16, 32]``, ``lambda = 1e-4``.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpsearch.searcher._config import ParamSpec, SearchConfig
from hpsearch.searcher._definition import PER_LAYER
from hpsearch.searcher._names import field_name, user_settings


def _distribution(spec: ParamSpec) -> BaseDistribution:
    if spec.kind == "categorical":
        return CategoricalDistribution(list(spec.choices))
    if spec.one_minus_log:
        assert spec.low is not None and spec.high is not None
        return FloatDistribution(1.0 - spec.high, 1.0 - spec.low, log=True)
    if spec.kind == "int":
        return IntDistribution(
            int(spec.low), int(spec.high), log=spec.log, step=int(spec.step or 1)
        )
    return FloatDistribution(spec.low, spec.high, log=spec.log, step=spec.step)


def _internal_name(spec: ParamSpec) -> str:
    name = field_name(spec.name)
    return f"one_minus_{name}" if spec.one_minus_log else name


def _layer_count(config: SearchConfig, settings: dict[str, Any], spec: ParamSpec) -> int:
    """How many values a per-layer setting takes: the sampled (or fixed) number of hidden
    layers for units and dropout, of conv blocks for filters."""
    counter, default = PER_LAYER[field_name(spec.name)]
    return int(settings.get(counter, config.train.get(counter, default)))


def suggest(trial: optuna.Trial, config: SearchConfig) -> dict[str, Any]:
    """Ask Optuna for every searched setting; return them in users' words (searched ones only),
    as they are stored and shown."""
    out: dict[str, Any] = {}
    # layers and conv_blocks before the per-layer settings they count
    ordered = sorted(config.space, key=lambda s: (s.per_layer, s.name))
    for spec in ordered:
        if spec.per_layer:
            n = _layer_count(config, out, spec)
            name = field_name(spec.name)
            values = [_suggest_one(trial, f"{name}_l{i + 1}", spec) for i in range(n)]
            out[spec.name] = [_external_value(spec, v) for v in values]
            continue
        value = _suggest_one(trial, _internal_name(spec), spec)
        out[spec.name] = _external_value(spec, value)
    return user_settings(out)


def _suggest_one(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    dist = _distribution(spec)
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def _external_value(spec: ParamSpec, value: Any) -> Any:
    if spec.one_minus_log:
        return float(1.0 - value)
    if spec.kind == "int":
        return int(value)
    if spec.kind == "float":
        return float(value)
    return value


def internal_params(config: SearchConfig, params: dict[str, Any]) -> tuple[dict, dict]:
    """Optuna's view of stored settings: (params, distributions), for add_trial/enqueue.

    Stored names are users' words (``lambda``) or, in searches stored before, trainer fields
    (``lambd``): both are read.
    """
    by_field = {field_name(k): v for k, v in params.items()}
    values: dict[str, Any] = {}
    dists: dict[str, BaseDistribution] = {}
    for spec in config.space:
        name = field_name(spec.name)
        if name not in by_field:
            continue
        value = by_field[name]
        dist = _distribution(spec)
        if spec.per_layer:
            layer_values = value if isinstance(value, list) else [value]
            for i, v in enumerate(layer_values):
                values[f"{name}_l{i + 1}"] = v
                dists[f"{name}_l{i + 1}"] = dist
            continue
        if spec.one_minus_log:
            value = 1.0 - float(value)
            # Floating round trip may step a hair outside the range: clip to it.
            assert isinstance(dist, FloatDistribution)
            value = min(max(value, dist.low), dist.high)
        values[_internal_name(spec)] = value
        dists[_internal_name(spec)] = dist
    return values, dists


def grid_space(config: SearchConfig) -> dict[str, list[Any]]:
    """Every internal parameter's grid values, for Optuna's GridSampler."""
    grid: dict[str, list[Any]] = {}
    for spec in config.space:
        if spec.kind == "categorical":
            values: list[Any] = list(spec.choices)
        elif spec.kind == "int":
            values = list(range(int(spec.low), int(spec.high) + 1, int(spec.step or 1)))
        else:
            assert spec.step is not None and spec.low is not None and spec.high is not None
            n = round((spec.high - spec.low) / spec.step) + 1
            values = [
                spec.low + i * spec.step
                for i in range(n)
                if spec.low + i * spec.step <= spec.high + 1e-12
            ]
        if spec.per_layer:
            for i in range(_max_layers(config, spec)):
                grid[f"{field_name(spec.name)}_l{i + 1}"] = values
        else:
            grid[_internal_name(spec)] = values
    return grid


def _max_layers(config: SearchConfig, per_layer: ParamSpec) -> int:
    counter, default = PER_LAYER[field_name(per_layer.name)]
    for spec in config.space:
        if field_name(spec.name) == counter:
            return int(max(spec.choices) if spec.kind == "categorical" else spec.high)
    return int(config.train.get(counter, default))


def grid_size(config: SearchConfig) -> int:
    size = 1
    for values in grid_space(config).values():
        size *= len(values)
    return size
