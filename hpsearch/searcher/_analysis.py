"""Optuna on stored searches: a study rebuilt in memory, parameter importances, Optuna export.

Our tables are the source of truth; Optuna's evaluators and plots need a ``Study``. It is rebuilt
here from the stored trials with the same ``frozen_trial``/``add_history`` the driver uses on
resume, so the importances see exactly the trials the sampler saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna

from hpsearch.errors import UserInputError
from hpsearch.searcher._definition import SearchConfig
from hpsearch.searcher._names import field_name, user_name
from hpsearch.searcher._optuna import add_history, stored_history
from hpsearch.storage import SearchRecord, Storage, TrialRecord, TrialState, mask_url, scrub

IMPORTANCE_EVALUATORS = ("fanova", "mdi", "ped")


@dataclass(frozen=True)
class StoredStudy:
    """A stored search as Optuna sees it."""

    record: SearchRecord
    config: SearchConfig
    study: optuna.Study
    trials: list[TrialRecord]  # every stored trial, by number


def external_name(config: SearchConfig, internal: str) -> str:
    """Optuna's parameter name -> the setting in users' words (``one_minus_beta1`` -> ``beta1``,
    ``units_l2`` -> ``units``, ``lambd`` -> ``lambda``)."""
    for spec in config.space:
        names = {spec.name, field_name(spec.name)}
        if internal in names or internal in {f"one_minus_{n}" for n in names}:
            return spec.name
        layer, _, index = internal.rpartition("_l")
        if spec.per_layer and layer in names and index.isdigit():
            return spec.name
    return user_name(internal)


def load_study(storage: Storage, search: str | int, *, with_curves: bool = True) -> StoredStudy:
    """An in-memory Optuna study holding every stored trial Optuna can represent.

    Trials keep their stored number in ``user_attrs["number"]``; with ``with_curves`` the
    objective's per-epoch values become intermediate values (single objective only).

    Raises:
        SearchNotFoundError: no such search.
    """
    record = storage.get_search(search)
    config = SearchConfig.from_stored(record)
    trials = storage.trials(record.id)
    study = optuna.create_study(study_name=record.name, directions=list(record.directions))
    history = stored_history(config, storage, trials, with_curves=with_curves)
    add_history(study, history)
    return StoredStudy(record=record, config=config, study=study, trials=trials)


def param_importances(
    stored: StoredStudy, *, evaluator: str = "fanova", seed: int = 0
) -> dict[str, float]:
    """Importance of each searched setting for the first objective, summing to 1 (largest
    first); per-layer parts (``units_l1``, ``units_l2``) add up under their setting.

    Empty when fewer than two complete trials, or the objective never varied.

    Raises:
        UserInputError: unknown evaluator.
    """
    from optuna.importance import (
        FanovaImportanceEvaluator,
        MeanDecreaseImpurityImportanceEvaluator,
        PedAnovaImportanceEvaluator,
    )

    makers = {
        "fanova": lambda: FanovaImportanceEvaluator(seed=seed),
        "mdi": lambda: MeanDecreaseImpurityImportanceEvaluator(seed=seed),
        "ped": lambda: PedAnovaImportanceEvaluator(),
    }
    if evaluator not in makers:
        raise UserInputError(
            f"--evaluator: expected one of {', '.join(IMPORTANCE_EVALUATORS)}, got {evaluator!r}"
        )
    study = stored.study
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished() and t.values]
    values = {t.values[0] for t in complete}
    if len(complete) < 2 or len(values) < 2:
        return {}
    target = (lambda t: t.values[0]) if len(study.directions) > 1 else None
    try:
        raw = optuna.importance.get_param_importances(
            study, evaluator=makers[evaluator](), target=target, normalize=True
        )
    except (ValueError, RuntimeError):  # e.g. an empty intersection search space
        return {}
    out: dict[str, float] = {}
    for name, value in raw.items():
        key = external_name(stored.config, name)
        out[key] = out.get(key, 0.0) + float(value)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def export_optuna(storage: Storage, search: str | int, url: str, *, name: str | None = None) -> int:
    """Write a stored search as a real Optuna study (``optuna.load_study`` opens it); returns the
    number of trials written. The study name defaults to the search's name; trial user attrs
    hold the stored number, seed, node and the final metrics.

    Raises:
        UserInputError: the study already exists at ``url``, or ``url`` is not a database URL.
    """
    stored = load_study(storage, search)
    study_name = name or stored.record.name
    try:
        target = optuna.create_study(
            storage=url, study_name=study_name, directions=list(stored.record.directions)
        )
    except optuna.exceptions.DuplicatedStudyError:
        raise UserInputError(
            f"--optuna: a study named {study_name!r} already exists in that storage"
        ) from None
    except (ValueError, ImportError) as e:
        raise UserInputError(
            f"--optuna {mask_url(url)!r}: not a usable Optuna storage URL ({scrub(str(e), url)})"
        ) from None
    except Exception as e:  # SQLAlchemy errors: unreachable server, bad credentials
        if type(e).__module__.startswith("sqlalchemy"):
            raise UserInputError(
                f"--optuna: cannot open the Optuna storage ({scrub(str(e), url)})"
            ) from None
        raise
    by_number = {t.number: t for t in stored.trials}
    frozen = []
    for ft in stored.study.get_trials(deepcopy=True):
        rec = by_number.get(ft.user_attrs.get("number"))
        if rec is not None:
            ft.user_attrs.update(_attrs(rec))
        frozen.append(ft)
    target.set_user_attr("hpsearch_search", stored.record.name)
    target.set_user_attr("objectives", list(stored.record.objectives))
    target.add_trials(frozen)
    return len(frozen)


def _attrs(t: TrialRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"hpsearch_state": t.state.value, "seed": t.seed, "node_id": t.node_id}
    for key in ("train_loss", "train_accuracy", "dev_loss", "dev_accuracy", "duration_s"):
        v = getattr(t, key)
        out[key] = v if v is None or math.isfinite(v) else str(v)
    out["epochs_run"] = t.epochs_run
    out["diagnosis"] = t.diagnosis
    if t.state == TrialState.FAILED and t.fail_reason is not None:
        out["fail_reason"] = t.fail_reason.value
    return out
