"""What running a search returns, and the ways a run stops before its budget.

Plain values and exceptions, without Ray or Optuna: the command line renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpsearch.errors import HpsearchError

if TYPE_CHECKING:
    from hpsearch.storage import TrialRecord


class OptunaFailed(HpsearchError):
    """The sampler or the pruner raised mid-search: the search stops (``resume`` continues)."""


class RayDied(HpsearchError):
    """A vital process of the local Ray that hpsearch started died."""


class SearchInterrupted(HpsearchError):
    """Ctrl-C (SIGINT/SIGTERM) stopped the search; what finished is stored."""

    def __init__(self, outcome: SearchOutcome) -> None:
        super().__init__(f"search {outcome.name!r} interrupted")
        self.outcome = outcome


@dataclass
class SearchOutcome:
    """What ``run_search`` returns: the search's name, counts and best trial."""

    name: str
    status: str
    complete: int
    pruned: int
    failed: int
    best: TrialRecord | None
    best_test_accuracy: float | None
    best_test_loss: float | None
    elapsed_s: float
    trials: list[TrialRecord]


class SearchStopped(HpsearchError):
    """The search stopped before its budget for a reason outside it (the local Ray died, the
    sampler or pruner failed); what finished is stored and ``hpsearch resume`` continues."""


def one_line(e: BaseException) -> str:
    """An exception as one line: its type and its message's first line."""
    first = str(e).strip().splitlines()[:1]
    return f"{type(e).__name__}: {first[0]}" if first else type(e).__name__
