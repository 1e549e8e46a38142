"""Live progress: a rich status line on a terminal, plain log lines otherwise, or nothing."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _fmt_s(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Trials done/total and how many of them trained to the end (complete: not pruned, not
    failed), running, pruned, failed, best so far, elapsed and ETA.

    ``running`` counts the trials in flight (handed to a worker and not ended yet); of those,
    ``starting`` have not yet been picked up by their worker, and the line says how many.
    """

    def __init__(
        self, *, quiet: bool = False, stream: TextIO | None = None, live: bool | None = None
    ):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.live = (not quiet) and (self.stream.isatty() if live is None else live)
        self._t0 = time.monotonic()
        self._total = 0
        self._done_at_start = 0
        self._status: Any = None
        self._console: Any = None
        self._last_key: tuple[Any, ...] | None = None

    def start(self, *, total: int, done: int, counts: dict[str, int], best: float | None) -> None:
        self._t0 = time.monotonic()
        self._total = total
        self._done_at_start = done
        if self.quiet:
            return
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.stream)
            self._status = self._console.status(self._line(done, 0, 0, counts, best))
            self._status.start()
        else:
            self._emit(self._line(done, 0, 0, counts, best), _key(done, counts, best))

    def _line(
        self, done: int, running: int, starting: int, counts: dict[str, int], best: float | None
    ) -> str:
        elapsed = time.monotonic() - self._t0
        finished_here = done - self._done_at_start
        eta = None
        if finished_here > 0 and self._total > done:
            eta = elapsed / finished_here * (self._total - done)
        elif self._total <= done:
            eta = 0.0
        best_s = "-" if best is None else f"{best:.4g}"
        running_s = f"{running} ({starting} starting)" if starting else f"{running}"
        return (
            f"trials {done}/{self._total} ({counts.get('complete', 0)} trained to the end)  "
            f"running {running_s}  "
            f"pruned {counts.get('pruned', 0)}  failed {counts.get('failed', 0)}  "
            f"best {best_s}  elapsed {_fmt_s(elapsed)}  eta {_fmt_s(eta)}"
        )

    def update(
        self,
        *,
        done: int,
        running: int,
        counts: dict[str, int],
        best: float | None,
        starting: int = 0,
    ) -> None:
        if self.quiet:
            return
        line = self._line(done, running, starting, counts, best)
        if self.live and self._status is not None:
            self._status.update(line)
        elif _key(done, counts, best) != self._last_key:
            self._emit(line, _key(done, counts, best))  # a line per ended trial, not per launch

    def event(self, text: str) -> None:
        """A notable event (a failure, a retry): printed above the live line or as a log line."""
        if self.quiet:
            return
        if self.live and self._console is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def _emit(self, line: str, key: tuple[Any, ...]) -> None:
        self._last_key = key
        print(line, file=self.stream, flush=True)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _key(done: int, counts: dict[str, int], best: float | None) -> tuple[Any, ...]:
    """What changes when a trial ends (not when one starts)."""
    return done, counts.get("pruned", 0), counts.get("failed", 0), best
