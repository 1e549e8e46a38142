"""The trainer's exceptions. The trainer is usable on its own, so it has its own root."""

from __future__ import annotations


class TrainerError(Exception):
    """Root of every error the trainer raises on purpose."""


class TrainerInputError(TrainerError, ValueError):
    """A bad setting or file from the user; the message is one line naming the field.

    ``field`` is the setting's name (``learning_rate``, ``split``) or None for a file's content,
    so callers map it to their own flag or key without reading the message's text.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DatasetError(TrainerInputError):
    """A dataset that cannot be loaded: missing, malformed, NaN, one class only, ..."""


class DivergedError(TrainerError):
    """The cost became NaN or infinite: training stops instead of returning garbage metrics."""

    def __init__(self, epoch: int, loss: float) -> None:
        super().__init__(f"training diverged at epoch {epoch} (cost {loss})")
        self.epoch = epoch
        self.loss = loss
