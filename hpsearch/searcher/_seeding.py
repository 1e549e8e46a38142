"""What a search starts from: the warm start's earlier trials and the configurations run first.

``[search] warm_start = { from = ["digits-quick"], top = 10 }``: at run start (and again at each
resume) the driver reads the named searches from the same database and keeps their compatible
finished trials. A trial is compatible when

- its search has the same objectives and directions, and the same [data] (dataset, split,
  normalisation, label column, sample cap, folds; the search seed, which shuffles the split,
  may differ);
- it is complete or pruned (a failed or running trial teaches the sampler nothing);
- every searched setting of the new space, read from the trial's params or, where its search
  fixed it, from that search's [train] (or the trainer's default), lies inside the new range or
  choices (``units`` per layer: one value per hidden layer, each inside);
- every setting the new search fixes (its [train], else the trainer's default) has the same
  value in the trial, except those named in ``warm_start.ignore_fixed`` (``["epochs"]`` to
  learn from a shorter search).

Kept trials become Optuna FrozenTrials under the NEW space's distributions (through
``_space.internal_params``, the one conversion of users' words to Optuna's names) with their
epoch curves, and are added to the study before its own history: the sampler learns from them
and the pruner compares against their curves. They are not trials of the new search (no rows;
they stay in their own search), do not count against its budget, and never become its best.
Resume builds the study afresh, so they are added once per run. ``top = N``: the N best kept
configurations run first (after the ``[[enqueue]]`` ones) as real trials of the new search;
configurations a stored trial of the search already ran are not run again.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from hpsearch._selection import ranked
from hpsearch.searcher._config import ConfigError, SearchConfig
from hpsearch.searcher._constraints import constraint_values
from hpsearch.searcher._names import field_name, user_name
from hpsearch.searcher._optuna import stored_history
from hpsearch.searcher._parse_seeding import spec_value
from hpsearch.storage import SearchNotFoundError, Storage, TrialRecord, TrialState

_PER_LAYER = ("units", "dropout")  # trainer settings that may hold one value per hidden layer
_DATA_KEYS = ("dataset", "split", "normalize", "label_column", "max_samples", "folds")


@dataclass
class Seeding:
    """A run's warm start (trials for the study, counts) and its configurations to run first."""

    sources: tuple[str, ...] = ()
    trials: list[optuna.trial.FrozenTrial] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> trials
    missing: tuple[str, ...] = ()  # sources gone since the search started (resume only)
    top: int = 0  # configurations of the warm start's best trials among ``configs``
    configs: list[dict[str, Any]] = field(default_factory=list)  # [[enqueue]], then top

    @property
    def used(self) -> int:
        return len(self.trials)

    def record(self) -> dict[str, Any] | None:
        """What ``hps_searches.seeded_from`` holds (None without a warm start)."""
        if not self.sources:
            return None
        out: dict[str, Any] = {
            "from": list(self.sources),
            "used": self.used,
            "skipped": {k: n for k, n in self.skipped.items() if n},
            "top": self.top,
        }
        if self.missing:
            out["missing"] = list(self.missing)
        return out

    def line(self) -> str | None:
        """``warm start: 42 trials from digits-quick, 7 skipped (outside the space: 5, other
        objective: 2)``; None without a warm start."""
        return describe(self.record())


def describe(seeded_from: dict[str, Any] | None) -> str | None:
    """The one line that tells a stored ``seeded_from`` (the run summary, ``hpsearch searches``)."""
    if not seeded_from:
        return None
    skipped = dict(seeded_from.get("skipped") or {})
    used = seeded_from.get("used", 0)
    text = f"warm start: {used} trial{'s' * (used != 1)} from {', '.join(seeded_from['from'])}"
    n = sum(skipped.values())
    text += f", {n} skipped"
    if n:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) + ")"
    for name in seeded_from.get("missing") or ():
        text += f", search {name!r} not found"
    top = seeded_from.get("top") or 0
    if top:
        text += f"; the {top} best configuration{'s' * (top != 1)} run first"
    return text


def load_seeding(config: SearchConfig, storage: Storage, *, resume: bool) -> Seeding | None:
    """The warm start and enqueued configurations of a run (None when the search has neither).

    Raises:
        ConfigError: ``search.warm_start.from`` names a search this database does not hold
            (on a resume a search deleted since is skipped and named in the line instead).
    """
    warm = config.search.warm_start
    if warm is None and not config.enqueue:
        return None
    seeding = Seeding(configs=[dict(c) for c in config.enqueue])
    if warm is None:
        return seeding
    seeding.sources = warm.sources
    kept: list[TrialRecord] = []
    missing = []
    for name in warm.sources:
        try:
            record = storage.get_search(name)
        except SearchNotFoundError:
            if not resume:
                raise ConfigError(
                    f"search.warm_start.from: no search named {name!r} in this database "
                    "(expected an earlier search; `hpsearch searches` lists them)",
                    field="search.warm_start.from",
                ) from None
            missing.append(name)
            continue
        kept += _compatible(config, record, storage.trials(record.id), seeding.skipped)
    seeding.missing = tuple(missing)
    # The sampler judges earlier trials by THIS search's constraints, computed from their
    # stored metrics (the source search may have had none, or others).
    kept = [dataclasses.replace(t, constraint_values=_constraint_values(config, t)) for t in kept]
    history = stored_history(config, storage, kept)
    seeding.trials = [t for t in history if t is not None]
    seeding.skipped["outside the space"] += len(history) - len(seeding.trials)
    if warm.top:
        usable = [t for t, h in zip(kept, history, strict=True) if h is not None]
        best = _best_configs(usable, config, warm.top, seeding.configs)
        seeding.top = len(best)
        seeding.configs += best
    return seeding


def pending(configs: Iterable[dict[str, Any]], stored: Sequence[TrialRecord]) -> list[dict]:
    """The configurations no stored trial of the search ran yet (a resume runs the rest)."""
    return [c for c in configs if not any(same_settings(c, t.params) for t in stored)]


def same_settings(given: dict[str, Any], params: dict[str, Any]) -> bool:
    """True when ``params`` (stored, users' words or older trainer names) hold every setting of
    ``given`` with the same value."""
    stored = {user_name(k): v for k, v in params.items()}
    return all(k in stored and _equal(v, stored[k]) for k, v in given.items())


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        a = list(a) if isinstance(a, list | tuple) else [a]
        b = list(b) if isinstance(b, list | tuple) else [b]
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


# --- compatibility --------------------------------------------------------------------------------


def _compatible(
    config: SearchConfig, record: Any, trials: Sequence[TrialRecord], skipped: Counter[str]
) -> list[TrialRecord]:
    """The trials of one earlier search the new one can learn from, their params in the new
    space's terms (users' words, per-layer values as lists); the others counted in ``skipped``."""
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    skipped["failed or running"] += len(trials) - len(finished)
    s = config.search
    if (tuple(record.objectives), tuple(record.directions)) != (s.objectives, s.directions):
        skipped["other objective"] += len(finished)
        return []
    try:
        source = SearchConfig.from_stored(record)
    except ConfigError:
        skipped["unreadable definition"] += len(finished)
        return []
    if _data_key(source) != _data_key(config):
        skipped["other data"] += len(finished)
        return []
    warm = s.warm_start
    ignore = {field_name(k) for k in warm.ignore_fixed} if warm is not None else set()
    searched = {field_name(p.name) for p in config.space}
    wanted = _effective(config.train)
    fixed = {k: v for k, v in wanted.items() if k not in searched | ignore | {"seed"}}
    out = []
    for t in finished:
        settings = _effective(source.train, t.params)
        if any(not _same_fixed(k, v, settings) for k, v in fixed.items()):
            skipped["other fixed settings"] += 1
            continue
        params = _in_space(config, settings)
        if params is None:
            skipped["outside the space"] += 1
            continue
        out.append(dataclasses.replace(t, params=params))
    return out


def _data_key(config: SearchConfig) -> tuple[Any, ...]:
    return tuple(getattr(config.data, k) for k in _DATA_KEYS)


def _effective(train: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trial's every trainer setting (trainer field names): the defaults, then the fixed
    ones, then the searched ones."""
    from hpsearch.trainer import TrainConfig

    out = TrainConfig().to_dict()
    out.update({field_name(k): v for k, v in train.items()})
    out.update({field_name(k): v for k, v in (params or {}).items()})
    return out


def _same_fixed(name: str, value: Any, settings: dict[str, Any]) -> bool:
    """True when the trial's setting is the new search's fixed ``value`` (one value for every
    hidden layer equals that value once per layer of the trial)."""
    if name in _PER_LAYER:
        layers = int(settings.get("layers", 2))
        return _equal(_per_layer(value, layers), _per_layer(settings.get(name), layers))
    return _equal(value, settings.get(name))


def _per_layer(value: Any, layers: int) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value] * layers


def _in_space(config: SearchConfig, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The searched settings of a trial as the new space holds them, or None when one is
    outside it."""
    layers = int(settings.get("layers", 2))
    out: dict[str, Any] = {}
    try:
        for spec in config.space:
            value = settings.get(field_name(spec.name))
            if spec.per_layer:
                out[spec.name] = [spec_value(spec, v) for v in _per_layer(value, layers)]
            elif isinstance(value, list | tuple):  # one value per layer, all the same: one value
                if len(set(map(repr, value))) != 1:
                    return None
                out[spec.name] = spec_value(spec, value[0])
            else:
                out[spec.name] = spec_value(spec, value)
    except (ValueError, TypeError):
        return None
    return out


def _best_configs(
    trials: Sequence[TrialRecord], config: SearchConfig, n: int, already: Sequence[dict]
) -> list[dict[str, Any]]:
    """The ``n`` best distinct configurations of complete ``trials`` (the shared ranking),
    leaving out those already to run."""
    out: list[dict[str, Any]] = []
    for t in ranked(trials, config.search.directions):
        if len(out) == n:
            break
        if not any(same_settings(c, t.params) for c in [*already, *out]):
            out.append(dict(t.params))
    return out


def _constraint_values(config: SearchConfig, trial: TrialRecord) -> tuple[float, ...] | None:
    """The new search's constraint values for an earlier trial (None: none, or not complete)."""
    if trial.state != TrialState.COMPLETE:
        return None

    def metric(name: str) -> float | None:
        return trial.train_s if name == "train_seconds" else getattr(trial, name, None)

    return constraint_values(config.constraints, metric)
