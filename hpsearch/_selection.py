"""How trials are ranked, which ones form the Pareto front, and how much the dev split can tell
apart: the one place every view (run summary, ``trials``, ``show``, ``compare``, the report and
``hpsearch.open``) takes them from, so they all agree.

- :func:`rank_key` orders trials as the storage does (``Storage.top_trials``): feasible trials
  first (``[search] constraints``; every trial of a search without constraints is feasible),
  then the first objective best first, ties by dev loss (ascending), then by trial number;
  trials without a finite first objective come last. The best trial is the best feasible one.
- :func:`pareto_front`: the complete feasible trials no other one dominates, every objective in
  its own direction (for one objective: the trials tied at the best value).
- :func:`dev_noise`: the dev split's size and the standard error of an accuracy measured on it,
  ``sqrt(p (1 - p) / n_dev)``, with the warnings a person choosing a trial should read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpsearch.storage import SearchRecord, TrialRecord, TrialState

SMALL_DEV = 100  # fewer dev samples than this: accuracies differ by chance by several points


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def is_feasible(t: TrialRecord) -> bool:
    """False only for a trial that broke a [search] constraint (None, no constraints: True)."""
    return t.feasible is not False


def rank_key(t: TrialRecord, directions: Sequence[str]) -> tuple[bool, int, float, int, float, int]:
    """Sort key, best first: feasible before infeasible, then first objective in its direction,
    then dev loss ascending, then trial number; a missing or non-finite objective or dev loss
    sorts after every real one."""
    value = t.value
    if _finite(value):
        v = -value if directions[0] == "maximize" else value  # type: ignore[operator]
        head = (0, v)
    else:
        head = (1, 0.0)
    loss = (0, t.dev_loss) if _finite(t.dev_loss) else (1, 0.0)
    infeasible = not is_feasible(t)
    return (infeasible, head[0], head[1], loss[0], loss[1], t.number)  # type: ignore[return-value]


def ranked(trials: Iterable[TrialRecord], directions: Sequence[str]) -> list[TrialRecord]:
    """The complete trials with a finite first objective, best first (:func:`rank_key`): the
    feasible ones, then the infeasible ones."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and _finite(t.value)]
    return sorted(done, key=lambda t: rank_key(t, directions))


def best_of(trials: Iterable[TrialRecord], directions: Sequence[str]) -> TrialRecord | None:
    """The best feasible trial by :func:`rank_key` (None without a complete feasible one)."""
    order = ranked(trials, directions)
    return order[0] if order and is_feasible(order[0]) else None


def _oriented(t: TrialRecord, directions: Sequence[str]) -> tuple[float, ...]:
    """The trial's objective values turned so that smaller is better for each."""
    return tuple(
        -float(v) if d == "maximize" else float(v)  # type: ignore[arg-type]
        for v, d in zip(t.values, directions, strict=True)
    )


def _dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def pareto_front(trials: Iterable[TrialRecord], directions: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated complete feasible trials (every objective finite), ordered by
    :func:`rank_key`; infeasible trials take no part ([search] constraints).

    With one objective this is every trial tied at the best value.
    """
    n = len(directions)
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and is_feasible(t)
        and len(t.values) == n
        and all(_finite(v) for v in t.values)
    ]
    points = [(t, _oriented(t, directions)) for t in done]
    front = [t for t, p in points if not any(_dominates(q, p) for _, q in points)]
    return sorted(front, key=lambda t: rank_key(t, directions))


@dataclass(frozen=True)
class SplitSizes:
    """How many samples each split of a search's data holds."""

    train: int
    dev: int
    test: int


def standard_error(accuracy: float | None, n: int | None) -> float | None:
    """Standard error of an accuracy measured on ``n`` samples: ``sqrt(p (1 - p) / n)``.

    At p = 0 or 1 the formula gives 0; one sample (1/n) is then the smallest difference the split
    can show, and that is returned instead (a perfect score on 25 samples is not exact)."""
    if accuracy is None or not n or not math.isfinite(accuracy):
        return None
    spread = accuracy * (1 - accuracy)
    return math.sqrt(spread / n) if spread > 0 else 1.0 / n


@dataclass(frozen=True)
class DevNoise:
    """What the dev split can tell apart, measured at the best trial's dev accuracy."""

    n_dev: int | None
    best_accuracy: float | None
    standard_error: float | None  # of dev accuracy (a fraction)
    tied: tuple[int, ...]  # trial numbers whose dev accuracy is within 1 SE of the best's
    warnings: tuple[str, ...]

    def describe(self) -> str:
        """One line: ``dev split 23 samples; dev accuracy ±0.083 (1 SE)``."""
        if self.n_dev is None:
            return "dev split size unknown (the dataset could not be loaded)"
        text = f"dev split {self.n_dev} samples"
        if self.standard_error is not None:
            text += f"; dev accuracy ±{self.standard_error:.3f} (1 standard error)"
        return text


def dev_noise(order: Sequence[TrialRecord], n_dev: int | None) -> DevNoise:
    """Noise of the dev split for trials ranked best first (:func:`ranked`): its size, the
    standard error of the best trial's dev accuracy, the feasible trials tied with it within one
    standard error, and warnings for a small split or such a tie."""
    order = [t for t in order if is_feasible(t)]
    best = order[0] if order else None
    acc = best.dev_accuracy if best is not None else None
    se = standard_error(acc, n_dev)
    warnings: list[str] = []
    if n_dev is not None and n_dev < SMALL_DEV:
        warnings.append(
            f"warning: the dev split has only {n_dev} samples (under {SMALL_DEV}): one sample "
            f"is {100 / n_dev:.1f} points of accuracy, so close trials differ by chance"
        )
    tied: tuple[int, ...] = ()
    if se is not None and acc is not None:
        tied = tuple(
            t.number
            for t in order
            if _finite(t.dev_accuracy) and acc - t.dev_accuracy <= se + 1e-12  # type: ignore[operator]
        )
        if len(tied) > 1:
            shown = ", ".join(map(str, tied[:10])) + (", ..." if len(tied) > 10 else "")
            warnings.append(
                f"warning: {len(tied)} trials ({shown}) are within one standard error "
                f"(±{se:.3f}) of the best dev accuracy: the dev split cannot tell them apart; "
                f"ties go to the lower dev loss, then the lower trial number"
            )
    return DevNoise(
        n_dev=n_dev, best_accuracy=acc, standard_error=se, tied=tied, warnings=tuple(warnings)
    )


def within_noise(variance: float | None, dev_error: float | None, n_dev: int | None) -> bool:
    """True when a train/dev gap is no larger than two standard errors of the dev error: the
    dev split is too small for it to mean high variance."""
    se = standard_error(dev_error, n_dev)
    return variance is not None and se is not None and variance <= 2 * se


_SIZES: dict[str, SplitSizes | None] = {}


def split_sizes(search: SearchRecord | Mapping[str, Any]) -> SplitSizes | None:
    """The split sizes of a search's data (a search record or its stored definition): stored
    with the search when its driver recorded them (``config["data"]["split_sizes"]``), else
    counted by loading the dataset with the stored settings (milliseconds for the built-in
    sets; remembered per process). None when the dataset cannot be loaded any more."""
    import json

    config = search if isinstance(search, Mapping) else search.config
    data = config.get("data") or {}
    stored = data.get("split_sizes") if isinstance(data, Mapping) else None
    if isinstance(stored, Mapping) and {"train", "dev", "test"} <= set(stored):
        return SplitSizes(int(stored["train"]), int(stored["dev"]), int(stored["test"]))
    key = json.dumps([config.get("data"), (config.get("search") or {}).get("seed")], default=str)
    if key not in _SIZES:
        _SIZES[key] = _load_sizes(config)
    return _SIZES[key]


def sizes_of(data: Any, folds: int | None = None) -> SplitSizes:
    """The split sizes of a loaded dataset (samples are columns). With ``folds`` (k-fold
    cross-validation over train + dev): ``dev`` is every train and dev sample (each is scored
    once, in its fold: the n of the standard error of the mean accuracy over folds), ``train``
    the mean size a fold trains on."""
    train, dev = int(data.X_train.shape[1]), int(data.X_dev.shape[1])
    if folds:
        train, dev = round((train + dev) - (train + dev) / folds), train + dev
    return SplitSizes(train=train, dev=dev, test=int(data.X_test.shape[1]))


def _load_sizes(config: Mapping[str, Any]) -> SplitSizes | None:
    from hpsearch.errors import HpsearchError
    from hpsearch.searcher import SearchConfig, load_search_data
    from hpsearch.trainer import TrainerError

    try:
        stored = SearchConfig.from_stored(dict(config))
        return sizes_of(load_search_data(stored), stored.data.folds)
    except (HpsearchError, TrainerError, OSError, ValueError):
        return None
