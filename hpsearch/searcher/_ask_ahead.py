"""Sampling ahead in a separate process, so a long history does not slow the driver's loop.

With 10,000 earlier trials one TPE ask costs tens of milliseconds of Python that holds the GIL;
a driver keeping 128 ten-second trials running needs one ask every 78 ms on top of its Ray and
database work, so the asks move to a sampler process with its own copy of the study. The driver
sends it, in its own order, every tell and one ask request per trial it launches; the process
answers each request with the sampled parameters (Optuna's internal representation), which the
driver fixes on a trial of its own study (``enqueue_trial``: no sampling there), where the
pruner still runs.

What TPE sees changes in two ways, both said here because they change which settings it draws:
an ask answered ``DEPTH`` requests ahead was sampled before the tells that came after its
request; and past KEEP_BEST + KEEP_RECENT trials the process's TPE reads the best and the most
recent trials only (see :func:`kept`), which bounds an ask's cost. Every told trial still
reaches the process (and the driver's study, where the pruner reads the whole history).
Messages are handled in the order the driver sent them, so for one sequence of driver events
(as with one worker) the sampled settings are the same run after run: the sampler process is
seeded from the search seed and the history size, like a resumed run (``run_seed``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import weakref
from collections import deque
from typing import Any

import optuna

from hpsearch.searcher._config import SearchConfig

# Ask ahead once the study holds this many trials: below it an ask costs a few milliseconds and
# every tell should reach the sampler before the next ask (the settings of small searches, and
# of every search's first thousand trials, are exactly those of asking in the loop).
AHEAD_FROM = 1000
DEPTH = 16  # asks requested ahead of the launches: a burst of this many ends needs no wait
# What the sampler process's TPE reads once the history is longer: the best trials (TPE's
# "good" group is at most 25 of them) and the most recent ones (TPE already weighs older
# trials down), so an ask costs about what it costs at 1,000 trials however long the search.
KEEP_BEST = 250
KEEP_RECENT = 750
REBUILD_EVERY = 100  # tells between two rebuilds of the process's study
_SAMPLERS_AHEAD = ("tpe",)  # samplers whose ask cost grows with the history
FINISHED = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
)


def wanted(config: SearchConfig, history: int) -> bool:
    """True when this search should sample ahead with ``history`` trials in its study."""
    return config.search.sampler in _SAMPLERS_AHEAD and history >= AHEAD_FROM


class AskAhead:
    """A sampler process ``depth`` asks ahead of the driver (see the module docstring)."""

    def __init__(
        self,
        config: SearchConfig,
        history: list[optuna.trial.FrozenTrial],
        *,
        seed_count: int,
        depth: int | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")  # Ray's threads make fork unsafe
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve,
            args=(child, config, history, seed_count, (KEEP_BEST, KEEP_RECENT, REBUILD_EVERY)),
            daemon=True,
        )
        self._process.start()
        child.close()
        self._finalizer = weakref.finalize(self, _stop, self._conn, self._process)
        self._pending: deque[int] = deque()  # request ids sent, answers not yet read
        self._early: deque[tuple] = deque()  # answers read while waiting for something else
        self._next_id = 0
        for _ in range(DEPTH if depth is None else depth):
            self._request()

    def _request(self) -> None:
        self._conn.send(("ask", self._next_id))
        self._pending.append(self._next_id)
        self._next_id += 1

    def next(self) -> tuple[int, dict[str, Any]]:
        """The oldest sampled answer (waits for it) and one more request in its place:
        (the sampler process's trial id, the parameters in Optuna's internal names)."""
        self._request()
        want = self._pending.popleft()
        kind, got, params = self._early.popleft() if self._early else self._conn.recv()
        if kind == "error":
            raise RuntimeError(params)
        if got != want:  # an internal invariant: answers come in request order
            raise RuntimeError(f"sampler process answered request {got}, expected {want}")
        return got, params

    def tell(
        self,
        ask_id: int | None,
        params: dict[str, Any],
        distributions: dict[str, Any],
        state: optuna.trial.TrialState,
        values: list[float] | None,
        intermediate: dict[int, float],
        constraints: dict[str, float] | None = None,
    ) -> None:
        """One finished trial for the sampler's history (``ask_id`` None: not one it asked).
        ``intermediate``: its reported objective by step (TPE ranks pruned trials by them);
        ``constraints``: its [search] constraint values by name (TPE reads them too)."""
        message = ("tell", ask_id, params, distributions, state, values, intermediate)
        self._conn.send((*message, constraints or {}))

    def history_size(self) -> int:
        """How many finished trials the sampler process has received once it has read
        everything sent so far (a resumed or long study must see every told trial)."""
        self._conn.send(("size", None))
        while True:
            kind, got, payload = self._conn.recv()
            if kind == "size":
                return int(payload)
            # an answer to an ask request: keep it for next()
            self._early.append((kind, got, payload))

    def close(self) -> None:
        self._finalizer()


def _stop(conn: Any, process: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(("stop", None))
    conn.close()
    process.join(timeout=5)
    if process.is_alive():
        process.kill()


def kept(
    trials: list[optuna.trial.FrozenTrial], *, maximize: bool | None, best: int, recent: int
) -> list[optuna.trial.FrozenTrial]:
    """The history the sampler process's TPE reads: the ``best`` best complete trials and the
    ``recent`` most recent finished ones, in their order (all of them for several objectives,
    ``maximize`` None, or when there are no more than ``best + recent``)."""
    if maximize is None or len(trials) <= best + recent:
        return list(trials)
    complete = [i for i, t in enumerate(trials) if t.state == optuna.trial.TrialState.COMPLETE]
    complete.sort(key=lambda i: trials[i].values[0], reverse=maximize)
    # feasible trials first ([search] constraints; a stable sort keeps the order within each)
    complete.sort(key=lambda i: any(v > 0 for v in trials[i].constraints.values()))
    chosen = set(complete[:best]) | set(range(len(trials) - recent, len(trials)))
    return [trials[i] for i in sorted(chosen)]


def _serve(
    conn: Any, config: SearchConfig, history: list, seed_count: int, limits: tuple[int, int, int]
) -> None:
    """The sampler process: a study of its own, fed by the driver's messages in order."""
    from hpsearch.searcher._optuna import new_study

    sampler = _Sampler(config, new_study(config, stored=seed_count), history, limits)
    try:
        while sampler.handle(conn, conn.recv()):
            pass
    except (EOFError, BrokenPipeError):  # the driver is gone or closed us: nothing to do
        return


class _Sampler:
    """The sampler process's state: every finished trial, the study TPE reads (the kept part
    of them, rebuilt every ``every`` tells) and the trials it asked, by ask id."""

    def __init__(
        self, config: SearchConfig, study: optuna.Study, history: list, limits: tuple
    ) -> None:
        self.config = config
        self.best, self.recent, self.every = limits
        self.study = study
        self.all: list[optuna.trial.FrozenTrial] = list(history)
        self.asked: dict[int, optuna.Trial] = {}
        self.since = 0  # tells since the study was last rebuilt
        multi = config.multi_objective
        self.maximize = None if multi else config.search.directions[0] == "maximize"
        self.study.add_trials(self._kept())

    def _kept(self) -> list[optuna.trial.FrozenTrial]:
        return kept(self.all, maximize=self.maximize, best=self.best, recent=self.recent)

    def _rebuild(self) -> None:
        """A new study with the same sampler (its random state goes on) over the kept trials;
        trials asked before it are told as added trials."""
        old = self.study
        self.study = optuna.create_study(
            sampler=old.sampler, pruner=old.pruner, directions=old.directions
        )
        self.study.add_trials(self._kept())
        self.asked, self.since = {}, 0

    def handle(self, conn: Any, message: tuple) -> bool:
        from hpsearch.searcher._space import suggest

        kind = message[0]
        if kind == "size":
            conn.send(("size", None, len(self.all)))
        elif kind == "ask":
            try:
                trial = self.study.ask()
                suggest(trial, self.config)
                self.asked[message[1]] = trial
                conn.send(("ask", message[1], dict(trial.params)))
            except Exception as e:  # the driver reports a sampler's failure as its own
                conn.send(("error", message[1], f"{type(e).__name__}: {e}"))
        elif kind == "tell":
            self._tell(*message[1:])
        return kind != "stop"

    def _tell(self, ask_id, params, dists, state, values, intermediate, constraints) -> None:
        own = self.asked.pop(ask_id, None) if ask_id is not None else None
        if own is not None:
            for step, value in intermediate.items():
                own.report(value, step)
            for key, value in constraints.items():
                own.set_constraint(key, value)
            self.study.tell(own, values, state=state)
            self.all.append(self.study._storage.get_trial(own._trial_id))
        else:
            frozen = optuna.trial.create_trial(
                params=params,
                distributions=dists,
                state=state,
                values=values,
                intermediate_values=intermediate,
                system_attrs={f"constraints:{k}": v for k, v in constraints.items()},
            )
            self.study.add_trial(frozen)
            self.all.append(frozen)
        self.since += 1
        if self.since >= self.every and len(self.all) > self.best + self.recent:
            self._rebuild()
