"""The exception root shared by storage, searcher and the command line.

The trainer stays importable on its own and has its own root,
:class:`hpsearch.trainer.TrainerError`.
"""

from __future__ import annotations


class HpsearchError(Exception):
    """Root of every error hpsearch raises on purpose."""


class UserInputError(HpsearchError, ValueError):
    """Bad input from the user (config, flags, files, URLs): shown as one line, exit code 2.

    ``field`` names what was wrong (``space.learning_rate.low``, ``storage``, ``trial``) so the
    command line can point at its own flag without reading the message's text.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
