"""The user's words for settings, both ways: one place owns the naming.

The course (and the search file) says ``lambda`` for the L2 strength; Python reserves that word,
so the trainer's field is ``lambd``. Users see and type their word everywhere: the search file,
stored parameter names, table columns, ``--where``/``--sort``, exports. Only the trainer's
``TrainConfig`` sees its field names, converted once by :func:`trainer_settings`.

Imports nothing: the command line uses it without loading Ray or Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# trainer field -> the word users see
USER_NAMES: dict[str, str] = {"lambd": "lambda"}
# every word a user may write -> trainer field
FIELD_NAMES: dict[str, str] = {
    "lambda": "lambd",
    "l2": "lambd",
    "lambd": "lambd",
    "hidden_layers": "layers",
}


def user_name(name: str) -> str:
    """The word shown to users for a trainer field or an alias (``lambd`` -> ``lambda``)."""
    field = FIELD_NAMES.get(name, name)
    return USER_NAMES.get(field, field)


def field_name(name: str) -> str:
    """The trainer field for a user's word or alias (``lambda``, ``l2`` -> ``lambd``)."""
    return FIELD_NAMES.get(name, name)


def user_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Trainer settings renamed to the users' words (for storage and display)."""
    return {user_name(k): v for k, v in settings.items()}


def trainer_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings in users' words renamed to trainer fields (for ``TrainConfig.from_dict``)."""
    return {field_name(k): v for k, v in settings.items()}
