"""The search definition as values: the [search], [data], [train] and [space] sections, validated.

Built by :func:`hpsearch.searcher._parse.parse_config` (from a TOML file through ``load_config``,
or from the stored form through :meth:`SearchConfig.from_stored`). Settings keep the users' words
(``lambda``, not the trainer's ``lambd``): in [train], in each searched parameter's name, and so
in Optuna's parameter names and the stored trial params. Only where a ``TrainConfig`` is built are
they renamed, by :func:`hpsearch.searcher._names.trainer_settings`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpsearch.errors import UserInputError

SAMPLERS = ("tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2")
PRUNERS = ("none", "median", "percentile", "successive_halving", "hyperband")

# What a search may optimise (a trial reports each at its end), and the direction that makes
# each better by default. A pruner can watch those the trainer also measures every epoch
# (``hpsearch.trainer.EPOCH_METRICS``).
OBJECTIVES: dict[str, str] = {
    "dev_accuracy": "maximize",
    "dev_loss": "minimize",
    "train_accuracy": "maximize",
    "train_loss": "minimize",
    "n_params": "minimize",
    "train_seconds": "minimize",
}


# The settings that may take one value per layer (``per_layer = true``) -> the setting counting
# their entries and its trainer default: units and dropout per hidden layer, filters per conv block.
PER_LAYER: dict[str, tuple[str, int]] = {
    "units": ("layers", 2),
    "dropout": ("layers", 2),
    "filters": ("conv_blocks", 0),
}


class ConfigError(UserInputError):
    """A search definition that cannot run; the message names the key, ``field`` holds it
    (``space.learning_rate.low``)."""


@dataclass(frozen=True)
class ParamSpec:
    """One searched hyperparameter, named in the users' words (``lambda``).

    ``kind`` is float, int or categorical. ``one_minus_log`` samples ``1 - value`` on a log scale
    (momentum's beta: 0.9 -> 0.999 evenly over decades of 1 - beta). ``per_layer`` samples one
    value per hidden layer (units, dropout) or per conv block (filters), conditional on the
    number of layers or blocks (``PER_LAYER``).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    one_minus_log: bool = False
    per_layer: bool = False


@dataclass(frozen=True)
class WarmStart:
    """[search] warm_start = { from = ["digits-quick"], top = 10 }: the sampler learns from the
    compatible finished trials of earlier searches in the same database (see ``_seeding``);
    ``top``: their best configurations also run first. ``ignore_fixed``: settings whose fixed
    value may differ in an earlier trial (``epochs``), which is otherwise skipped."""

    sources: tuple[str, ...]  # search names, the file's ``from``
    top: int = 0
    ignore_fixed: tuple[str, ...] = ()  # users' words

    def to_dict(self) -> dict[str, Any]:
        """The file's shape."""
        out: dict[str, Any] = {"from": list(self.sources)}
        if self.top:
            out["top"] = self.top
        if self.ignore_fixed:
            out["ignore_fixed"] = list(self.ignore_fixed)
        return out


@dataclass(frozen=True)
class SearchSettings:
    """The [search] section."""

    name: str
    trials: int = 20  # trial budget: finished trials (complete, pruned or failed on their own)
    workers: int | None = None  # trials in flight; None = cluster CPUs // cpus_per_trial
    cpus_per_trial: int = 1  # Ray num_cpus per trial, and BLAS threads in the trial
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    # Asynchronous successive halving (ASHA, Ray Tune's default scheduler too): with TPE it
    # reaches a target accuracy sooner than the median pruner (benchmarks/search_quality.py),
    # as Optuna's own benchmarks found; median, percentile and hyperband stay one line away.
    pruner: str = "successive_halving"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] = ("dev_accuracy",)
    directions: tuple[str, ...] = ("maximize",)
    seed: int | None = 0
    trial_timeout: float = 0.0  # seconds; 0 = no limit
    retries: int = 1  # re-runs of a trial whose worker or node was lost
    memory_limit_mb: float = 0.0  # refuse trials estimated above this; 0 = auto (what a node has)
    database_patience: float = 600.0  # seconds to buffer results while the database is away
    # Stopping rules, each counted from the start of this run (run or resume): no new trial
    # starts once one holds; running trials finish. 0 / None: off.
    time_budget: float = 0.0  # seconds of wall clock
    target: float | None = None  # stop once the best objective reaches it (single objective)
    patience_trials: int = 0  # stop after this many finished trials without a better best
    # satisficing metrics: "n_params <= 100000" ... (see _constraints); the best trial is the
    # best feasible one
    constraints: tuple[str, ...] = ()
    warm_start: WarmStart | None = None  # earlier searches the sampler learns from


@dataclass(frozen=True)
class DataSettings:
    """The [data] section: which dataset and how it is split."""

    dataset: str = "digits"  # a built-in name or a path (absolute once loaded from a file)
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)
    normalize: str = "standard"
    label_column: str | None = None
    max_samples: int | None = None
    folds: int | None = None  # k-fold cross-validation over train + dev; None: the plain split
    # Facts about the loaded data, recorded by the driver at run start and stored with the
    # search (read back by ``from_stored``, refused in a user's file): not compared.
    feature_names: tuple[str, ...] | None = field(default=None, compare=False)
    split_sizes: dict[str, Any] | None = field(default=None, compare=False)
    n_classes: int | None = field(default=None, compare=False)
    classes: tuple[str, ...] | None = field(default=None, compare=False)
    image_shape: tuple[int, ...] | None = field(default=None, compare=False)  # (h, w, c)


# the DataSettings fields a driver records, not a user
DATA_FACTS = ("feature_names", "split_sizes", "n_classes", "classes", "image_shape")


@dataclass(frozen=True)
class SearchConfig:
    """A whole search definition, validated."""

    search: SearchSettings
    data: DataSettings
    train: dict[str, Any]  # fixed trainer settings, in the users' words (``lambda``)
    space: tuple[ParamSpec, ...]
    source: str = ""  # the file it came from, for messages
    # [[enqueue]]: configurations (searched settings, users' words) evaluated first, in order
    enqueue: tuple[dict[str, Any], ...] = ()
    # pruner_options the definition left out and parsing filled in (warm-up defaults, named for
    # `validate`); not part of what the definition means, so not compared
    derived_options: tuple[str, ...] = field(default=(), compare=False)

    @property
    def multi_objective(self) -> bool:
        return len(self.search.objectives) > 1

    @property
    def constraints(self) -> tuple[Any, ...]:
        """[search] constraints, parsed (``_constraints.Constraint``); empty without any."""
        from hpsearch.searcher._constraints import parse_constraint

        return tuple(parse_constraint(c) for c in self.search.constraints)

    def to_dict(self) -> dict[str, Any]:
        """The definition in the file's own shape, JSON-able; ``parse_config`` reads it back.

        Stored with the search. It holds no secrets: the storage URL is never part of it.
        """
        search = dataclasses.asdict(self.search)
        if self.search.warm_start is not None:
            search["warm_start"] = self.search.warm_start.to_dict()
        search["objective"] = list(search.pop("objectives"))
        search["direction"] = list(search.pop("directions"))
        search = {k: v for k, v in search.items() if v is not None}
        for off in ("time_budget", "patience_trials", "constraints"):  # off: not written
            if not search[off]:  # (as in older stored forms)
                del search[off]
        if "constraints" in search:
            search["constraints"] = list(search["constraints"])
        data = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(self.data).items()
        }
        out = {
            "search": search,
            "data": {k: v for k, v in data.items() if v is not None},
            "train": {k: list(v) if isinstance(v, tuple) else v for k, v in self.train.items()},
            "space": {p.name: _spec_dict(p) for p in self.space},
        }
        if self.enqueue:  # none: not written (older stored forms)
            out["enqueue"] = [
                {k: list(v) if isinstance(v, tuple) else v for k, v in c.items()}
                for c in self.enqueue
            ]
        return out

    @classmethod
    def from_stored(cls, stored: Any) -> SearchConfig:
        """The definition stored with a search (a ``SearchRecord`` or its ``config`` dict).

        The one place a stored definition is parsed: resume, replay, predict and analysis all
        come through here, so older stored forms (``lambd`` for ``lambda``) read the same way.

        Raises:
            ConfigError: the stored definition is not valid with this version of hpsearch.
        """
        from hpsearch.searcher._parse import parse_config

        raw = stored if isinstance(stored, Mapping) else stored.config
        return parse_config(dict(raw), source="database", stored=True)

    def with_overrides(self, **overrides: Any) -> SearchConfig:
        """A copy with [search] fields replaced (command-line flags win over the file); only
        the [search] section and the checks that involve it run again.

        Raises:
            ConfigError: an override is not a valid value for its [search] key.
        """
        from hpsearch.searcher._parse import replace_search

        given = {k: v for k, v in overrides.items() if v is not None}
        return replace_search(self, given) if given else self


def _spec_dict(p: ParamSpec) -> dict[str, Any]:
    """One [space] entry in the file's shape."""
    spec: dict[str, Any] = {"type": p.kind}
    if p.kind == "categorical":
        spec["choices"] = list(p.choices)
    else:
        spec["low"], spec["high"] = p.low, p.high
        if p.log:
            spec["log"] = True
        if p.step is not None:
            spec["step"] = p.step
        if p.one_minus_log:
            spec["one_minus_log"] = True
    if p.per_layer:
        spec["per_layer"] = True
    return spec
