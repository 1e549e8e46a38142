"""The user's words for settings, both ways: one place owns the naming.

The course (and the search file) says ``lambda`` for the L2 strength; Python reserves that word,
so the trainer's field is ``lambd``. Users see and type their word everywhere: the search file,
stored parameter names, table columns, ``--where``/``--sort``, exports. Only the trainer's
``TrainConfig`` sees its field names, converted once by :func:`trainer_settings`.

Search names are checked here too (:func:`check_search_name`), the one rule every command that
stores or looks up a name applies.

Imports only the standard library and the definition's error type: the command line uses it
without loading Ray or Optuna.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from hpsearch.searcher._definition import ConfigError

MAX_NAME_LENGTH = 200
# Unicode categories a name may not hold: control characters (ESC, BEL, NUL, newline, tab...),
# surrogates (undecodable bytes from a command line), line and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
# Formatting characters that reorder or hide what a terminal shows (bidirectional overrides).
_REFUSED_FORMATS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}

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


def check_search_name(name: Any, *, field: str = "search.name") -> str:
    """A search name as stored and looked up: surrounding spaces stripped (``" a "`` is ``a``
    everywhere), 1-200 characters, none of them a control character (Unicode category Cc:
    ESC, BEL, NUL, newline, tab...), a surrogate, a line separator or a bidirectional override.

    Every command that stores a name or looks one up calls this, so both see the same name.

    Raises:
        ConfigError: ``field`` names what held the name (``search.name``, ``--name``, ``NAME``).
    """
    if not isinstance(name, str):
        raise ConfigError(f"{field}: expected a search name (a string)", field=field)
    for c in name:  # before stripping: str.strip() would drop some (U+0085, U+001C-U+001F)
        if unicodedata.category(c) in _REFUSED_CATEGORIES or c in _REFUSED_FORMATS:
            raise ConfigError(
                f"{field}: control character U+{ord(c):04X} not allowed in a search name "
                "(expected printable characters)",
                field=field,
            )
    text = name.strip()
    if not text or len(text) > MAX_NAME_LENGTH:
        raise ConfigError(
            f"{field}: expected 1-{MAX_NAME_LENGTH} printable characters, "
            f"got {len(text)} after stripping spaces",
            field=field,
        )
    return text
