"""Satisficing metrics: ``[search] constraints = ["n_params <= 100000", "predict_ms <= 1.0"]``.

The course's advice (course 3): optimise one metric, and require the others only to be good
enough. Each constraint is ``METRIC OP NUMBER``, METRIC one of :data:`CONSTRAINT_METRICS` (what a
trial measures by its end), OP one of ``<= < >= >``. A completed trial gets one value per
constraint in Optuna's convention: ``<= 0`` when it holds, else how far past the bound it is,
in the metric's own unit (``n_params - 100000``); ``feasible`` when every one holds. A metric
that could not be measured (NaN) fails its constraint.

Where they act: the values are set on the trial before Optuna's ``tell``
(``Trial.set_constraint``, read by the TPE, NSGA-II and GP samplers: Optuna's constrained
sampling); they are stored in ``hps_trials.constraint_values`` and ``feasible``; and every view
takes the best FEASIBLE trial (:mod:`hpsearch._selection`). Samplers that learn nothing from
results (random, grid, qmc) accept constraints, which then decide only the best trial; cmaes
learns from the objective but ignores constraints, so it is refused.

Imports neither Ray nor Optuna.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hpsearch.searcher._definition import ConfigError

KEY = "search.constraints"
# A trial's metrics known at its end, by the name a constraint uses.
CONSTRAINT_METRICS: dict[str, str] = {
    "n_params": "trained parameters",
    "predict_ms": "ms to label 1,000 dev samples on one thread",
    "train_seconds": "training time in seconds",
    "dev_accuracy": "dev accuracy (0-1)",
    "dev_loss": "dev loss",
    "train_accuracy": "train accuracy (0-1)",
    "train_loss": "train loss",
}
OPERATORS = ("<=", "<", ">=", ">")
# samplers that read the constraint values; those that learn nothing from results (random,
# grid, qmc) are allowed too (constraints then decide the best trial only)
CONSTRAINED_SAMPLERS = ("tpe", "nsga2", "gp")
REFUSED_SAMPLERS = ("cmaes",)

_FORM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*([^\w\s.+-]+)\s*(\S.*?)\s*")
_EXAMPLE = '"n_params <= 100000"'


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``: the trial must satisfy it to be feasible."""

    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        b = self.bound
        shown = str(int(b)) if b.is_integer() and abs(b) < 1e15 else repr(b)
        return f"{self.metric} {self.op} {shown}"

    def value(self, measured: float | None) -> float:
        """Optuna's constraint value: <= 0 when ``measured`` satisfies the constraint, else the
        distance past the bound (a strict bound met exactly is a tiny positive value); NaN for
        an unmeasured metric."""
        if measured is None or math.isnan(measured):
            return math.nan
        over = measured - self.bound if self.op in ("<=", "<") else self.bound - measured
        if over == 0 and self.op in ("<", ">"):
            return math.ulp(self.bound)
        return float(over)


def parse_constraints(raw: Any) -> tuple[Constraint, ...]:
    """``[search] constraints`` -> constraints; one ConfigError naming ``search.constraints``
    and what was expected for anything else."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise ConfigError(
            f"{KEY}: expected a list of conditions like {_EXAMPLE}, got {type(raw).__name__}",
            field=KEY,
        )
    return tuple(parse_constraint(text) for text in raw)


def parse_constraint(text: Any) -> Constraint:
    """``"n_params <= 100000"`` -> Constraint('n_params', '<=', 100000.0)."""
    if not isinstance(text, str):
        raise ConfigError(
            f"{KEY}: expected conditions as strings like {_EXAMPLE}, got {text!r}", field=KEY
        )
    match = _FORM.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{KEY}: {text!r}: expected METRIC OP NUMBER like {_EXAMPLE} "
            f"(OP one of {' '.join(OPERATORS)})",
            field=KEY,
        )
    metric, op, number = match.groups()
    if metric not in CONSTRAINT_METRICS:
        raise ConfigError(
            f"{KEY}: {text!r}: unknown metric {metric!r} (expected one of "
            f"{', '.join(CONSTRAINT_METRICS)})",
            field=KEY,
        )
    if op not in OPERATORS:
        raise ConfigError(
            f"{KEY}: {text!r}: bad operator {op!r} (expected one of {' '.join(OPERATORS)})",
            field=KEY,
        )
    try:
        bound = float(number)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise ConfigError(
            f"{KEY}: {text!r}: expected a finite number after {op}, got {number!r}", field=KEY
        )
    return Constraint(metric, op, bound)


def check_sampler(constraints: Sequence[Constraint], sampler: str) -> None:
    """Refuse a sampler that learns from results but ignores constraints."""
    if constraints and sampler in REFUSED_SAMPLERS:
        raise ConfigError(
            f"{KEY}: the {sampler} sampler ignores constraints while it learns from the "
            f"objective (expected sampler = one of {', '.join(CONSTRAINED_SAMPLERS)}, or "
            "random, grid or qmc, where constraints decide only the best trial)",
            field=KEY,
        )


def constraint_note(constraints: Sequence[Constraint], sampler: str) -> str | None:
    """What ``validate`` says about [search] constraints (None without any)."""
    if not constraints:
        return None
    shown = ", ".join(map(str, constraints))
    if sampler in CONSTRAINED_SAMPLERS:
        return (
            f"constraints {shown}: the {sampler} sampler steers by them; the best trial is "
            "the best feasible one"
        )
    return (
        f"constraints {shown}: the {sampler} sampler does not steer by them (only tpe, nsga2 "
        "and gp do); they decide the best trial, the best feasible one"
    )


def constraint_values(
    constraints: Sequence[Constraint], metric: Callable[[str], Any]
) -> tuple[float, ...] | None:
    """One value per constraint for a trial whose metrics ``metric(name)`` gives (None when
    the search has no constraints)."""
    if not constraints:
        return None
    return tuple(c.value(_float(metric(c.metric))) for c in constraints)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def optuna_constraints(
    constraints: Sequence[Constraint], values: Sequence[float | None] | None
) -> dict[str, float]:
    """The constraint values as Optuna's ``Trial.set_constraint`` takes them, keyed by the
    constraint's text; an unmeasured metric (NaN) is infinitely infeasible (Optuna refuses NaN).
    Empty without values (a trial that did not complete) or with a count that does not match."""
    if not values or len(values) != len(constraints):
        return {}
    return {
        str(c): math.inf if v is None or math.isnan(v) else float(v)
        for c, v in zip(constraints, values, strict=True)
    }


def dashboard_constraints(values: Sequence[float | None] | None) -> dict[str, Any]:
    """A stored trial's constraint values as Optuna's ``constraints`` system attribute (the
    list form optuna-dashboard reads to mark feasibility); a NaN or infinite value (an
    unmeasured metric) as a large finite one, still infeasible and valid JSON."""
    if values is None:
        return {}
    return {"constraints": [v if v is not None and math.isfinite(v) else 1e300 for v in values]}
