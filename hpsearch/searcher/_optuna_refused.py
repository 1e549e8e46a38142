"""Every write Optuna's storage interface offers, refused: the dashboard's storage is read-only.

Notes, deleting a study, renaming, ``tell``, attributes: each raises
:class:`ReadOnlyStorageError` with one line saying so, and nothing reaches hpsearch's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hpsearch.errors import HpsearchError


class ReadOnlyStorageError(HpsearchError):
    """A write through the dashboard's storage: hpsearch's tables are read-only there."""


def _refuse(what: str) -> ReadOnlyStorageError:
    return ReadOnlyStorageError(
        f"{what}: the hpsearch dashboard is read-only (searches are changed only by "
        "`hpsearch run`/`resume`; notes, deletes and tells are not stored)"
    )


class RefusedWrites:
    """The write half of ``optuna.storages.BaseStorage``, every method refusing."""

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        raise _refuse("create a study")

    def delete_study(self, study_id: int) -> None:
        raise _refuse("delete a study")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        raise _refuse("set a study attribute")

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        raise _refuse("set a study attribute (notes included)")

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        raise _refuse("create a trial")

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        raise _refuse("set a trial parameter")

    def set_trial_state_values(
        self, trial_id: int, state: OptunaState, values: Sequence[float] | None = None
    ) -> bool:
        raise _refuse("tell a trial")

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate: float) -> None:
        raise _refuse("report an intermediate value")

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        raise _refuse("set a trial attribute")

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        raise _refuse("set a trial attribute (notes included)")
