"""The :class:`Storage` interface: every read and write of searches, trials, epochs and models.

Plain values go in and out (the dataclasses of :mod:`hpsearch.storage._records`); ORM objects never
leave the package. Each method checks its arguments, then runs one unit of work through the
session plumbing of :mod:`~hpsearch.storage._session`; the SQL lives by role in
:mod:`~hpsearch.storage._lease`, :mod:`~hpsearch.storage._trials`, :mod:`~hpsearch.storage._reads`
and :mod:`~hpsearch.storage._query`, the row <-> record conversions in
:mod:`~hpsearch.storage._convert`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib import metadata
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hpsearch.storage import _convert, _lease, _reads, _trials
from hpsearch.storage._errors import SearchExistsError, TrialNotFoundError
from hpsearch.storage._models import (
    FailReason,
    ModelRow,
    SearchRow,
    SearchStatus,
    TrialRow,
    TrialState,
)
from hpsearch.storage._reading import Reader
from hpsearch.storage._records import (
    LeaseHolder,
    SearchRecord,
    TrialOutcome,
    TrialRecord,
    TrialStart,
)

SearchRef = _reads.SearchRef  # a search's name (str), or its id (int)
DIRECTIONS = ("minimize", "maximize")


def _installed_version() -> str | None:
    """The installed hpsearch's version (storage imports nothing of hpsearch outside it)."""
    try:
        return metadata.version("hpsearch")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return None


class Storage(Reader):
    """hpsearch's results database. Open with :func:`open_storage`; use as a context manager or
    call :meth:`close`. One process (the search driver) writes; any number may read.

    Every method may also raise :class:`DatabaseUnavailableError` (the database stayed locked or
    unreachable after the retries), :class:`DatabaseLostError` (the SQLite file was removed or
    replaced since it was opened for writing: not retried), :class:`CorruptDatabaseError` and
    :class:`StorageError` (any other database failure).
    Searches are named by ``search``: their name (``str``) or id (``int``). The reads are
    inherited from :class:`~hpsearch.storage._reading.Reader`; this class adds the writes.
    """

    _epoch_upsert: tuple[str, tuple[str, ...] | None] | None = None  # compiled once, on first use

    # --- searches ----------------------------------------------------------------------------

    def create_search(
        self,
        name: str,
        *,
        config: Mapping[str, Any],
        objectives: Sequence[str] = ("dev_loss",),
        directions: Sequence[str] = ("minimize",),
        sampler: str | None = None,
        pruner: str | None = None,
        seed: int | None = None,
        dataset: str | None = None,
        hpsearch_version: str | None = None,
        seeded_from: Mapping[str, Any] | None = None,
    ) -> SearchRecord:
        """Create a running search. Keys named like password/secret/token are dropped from
        ``config`` and passwords inside URL strings are masked before anything is stored.
        ``seeded_from``: where a warm start came from (JSON-able; see :meth:`set_seeded_from`).

        Raises:
            SearchExistsError: a search with this name exists.
            ValueError: empty/too long name, or objectives and directions that do not match.
        """
        name = name.strip() if isinstance(name, str) else name  # looked up stripped too
        if not name or len(name) > 200:
            raise ValueError("The value of `name` should be a non-empty string of <= 200 chars.")
        if not objectives or len(objectives) != len(directions):
            raise ValueError("`objectives` and `directions` should be non-empty and equally long.")
        if any(d not in DIRECTIONS for d in directions):
            raise ValueError(f"Each direction should be one of {DIRECTIONS}, got {directions}.")
        if hpsearch_version is None:
            hpsearch_version = _installed_version()
        values = {
            "name": name,
            "status": SearchStatus.RUNNING,
            "config": _convert.strip_secrets(config),
            "objectives": list(objectives),
            "directions": list(directions),
            "sampler": sampler,
            "pruner": pruner,
            "seed": seed,
            "dataset": dataset,
            "hpsearch_version": hpsearch_version,
            "seeded_from": _convert.params_json(seeded_from) if seeded_from else None,
        }

        def run(s: Session) -> SearchRecord:
            if s.scalar(select(SearchRow.id).where(SearchRow.name == name)) is not None:
                raise SearchExistsError(f"a search named {name!r} already exists in {self.url}")
            row = SearchRow(created_at=self._db_now(s), **values)
            s.add(row)
            try:
                s.flush()
            except IntegrityError as e:
                raise SearchExistsError(f"a search named {name!r} already exists") from e
            return _convert.search_record(row)

        return self._run(run)

    def set_search_status(
        self, search: SearchRef, status: SearchStatus | str, *, stop_reason: str | None = None
    ) -> SearchRecord:
        """Set the status; a finished status stamps ``finished_at``, RUNNING clears it.
        ``stop_reason`` says why a search stopped before its trial budget (None: it did not).

        Raises:
            SearchNotFoundError: no such search.
            ValueError: unknown status.
        """
        status = SearchStatus(status)

        def run(s: Session) -> SearchRecord:
            row = self._search_row(s, search)
            row.status = status
            row.finished_at = self._db_now(s) if status.is_finished() else None
            row.stop_reason = stop_reason
            s.flush()
            return _convert.search_record(row)

        return self._run(run)

    def set_seeded_from(self, search: SearchRef, seeded_from: Mapping[str, Any] | None) -> None:
        """Record where a search's warm start came from, e.g. ``{"from": ["digits-quick"],
        "used": 42, "skipped": {"outside the space": 5}, "top": 10}`` (None: not seeded).

        Raises:
            SearchNotFoundError: no such search.
        """
        value = _convert.params_json(seeded_from) if seeded_from else None

        def run(s: Session) -> None:
            self._search_row(s, search).seeded_from = value

        self._run(run)

    def delete_search(self, search: SearchRef) -> None:
        """Delete a search with its trials, parameters, epochs and models.

        Raises:
            SearchNotFoundError: no such search.
        """

        def run(s: Session) -> None:
            search_id = self._search_row(s, search).id
            # ON DELETE CASCADE removes the children in the database (no ORM loading)
            s.execute(delete(SearchRow.__table__).where(SearchRow.id == search_id))

        self._run(run)

    # --- lease (one live driver per search; SQL in _lease) ------------------------------------

    def acquire_lease(
        self,
        search: SearchRef,
        holder: LeaseHolder | None = None,
        ttl_s: float = 60.0,
        *,
        take_over: LeaseHolder | None = None,
    ) -> SearchRecord:
        """Take the search's lease for ``ttl_s`` seconds of the database clock; a lease already
        held by ``holder`` is renewed, a stale one (expired) is taken over, and so is one held by
        ``take_over`` (a holder the caller knows is dead, e.g. a process gone on this host).

        Raises:
            LeaseHeldError: another holder's lease has not expired (host and pid in the message).
            SearchNotFoundError: no such search.
            ValueError: ``ttl_s`` is not positive.
        """
        if not ttl_s > 0:
            raise ValueError("The value of `ttl_s` should be a positive number of seconds.")
        me = holder or LeaseHolder.current()

        def run(s: Session) -> SearchRecord:
            row = self._search_row(s, search)
            _lease.acquire(s, row, self._db_now(s), me=me, dead=take_over or me, ttl_s=ttl_s)
            return _convert.search_record(row)

        return self._run(run)

    def heartbeat(
        self, search: SearchRef, holder: LeaseHolder | None = None, ttl_s: float | None = None
    ) -> datetime:
        """Extend ``holder``'s lease by ``ttl_s`` (default: the ttl it was acquired with);
        returns the new expiry (database clock, UTC).

        Raises:
            LeaseLostError: ``holder`` does not hold the lease any more.
            SearchNotFoundError: no such search.
        """
        me = holder or LeaseHolder.current()
        return self._run(
            lambda s: _lease.heartbeat(
                self._search_row(s, search), self._db_now(s), me=me, ttl_s=ttl_s
            )
        )

    def release_lease(self, search: SearchRef, holder: LeaseHolder | None = None) -> bool:
        """Give the lease up; False when ``holder`` did not hold it (nothing changed).

        Raises:
            SearchNotFoundError: no such search.
        """
        me = holder or LeaseHolder.current()
        return self._run(lambda s: _lease.release(self._search_row(s, search), me=me))

    # --- trials (SQL in _trials; every write of a running trial is fenced by its attempt) -----

    def start_trial(
        self,
        search: SearchRef,
        number: int,
        params: Mapping[str, Any],
        *,
        attempt: int = 1,
        seed: int | None = None,
        start: TrialStart | None = None,
    ) -> int:
        """Record that trial ``number`` of a search runs, idempotent on (search, number); returns
        the trial's id (the same id for every attempt).

        A new attempt (retry) of an existing trial resets the same row to RUNNING, clears its
        results and its epochs; the same attempt again just refreshes it; an older attempt than
        the stored one changes nothing.

        Raises:
            SearchNotFoundError: no such search.
            ValueError: negative number, attempt < 1, or a non-finite float parameter.
        """
        if number < 0 or attempt < 1:
            raise ValueError("`number` should be >= 0 and `attempt` >= 1.")
        param_json = _convert.params_json(params)
        param_rows = [_convert.param_row(k, v) for k, v in params.items()]
        details = _trials.start_details(start, seed=seed)

        def run(s: Session) -> int:
            search_id = self._search_row(s, search).id
            return _trials.start(
                s,
                search_id,
                number,
                attempt=attempt,
                params=param_json,
                param_rows=param_rows,
                details=details,
                now=self._db_now(s),
            )

        return self._run(run)

    def record_trial_start(self, trial_id: int, start: TrialStart, *, attempt: int) -> bool:
        """Add where and how a started trial runs (known once a worker picked it up), fenced by
        ``attempt``; fields left None keep the stored value. False for a stale attempt.

        Raises:
            TrialNotFoundError: no such trial.
        """
        details = _trials.start_details(start)
        return self._run(lambda s: _trials.record_start(s, trial_id, attempt, details))

    def set_test_metrics(self, trial_id: int, *, test_loss: float, test_accuracy: float) -> None:
        """Store the test-split score of a chosen trial (NaN/inf kept).

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> None:
            row = s.get(TrialRow, trial_id)
            if row is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            floats = _convert.trial_floats(row)
            floats.update(test_loss=test_loss, test_accuracy=test_accuracy)
            _convert.set_trial_floats(row, floats)

        self._run(run)

    def add_epochs(
        self, trial_id: int, epochs: Iterable[Any], *, attempt: int | None = None
    ) -> int:
        """Write learning-curve rows in ONE batched insert; an existing (trial, epoch) row is
        overwritten (upsert). Each epoch is any object with attributes named as the
        ``hps_epochs`` columns (``epoch``, ``train_loss``, ``train_accuracy``, ``dev_loss``,
        ``dev_accuracy``, ``epoch_s``, ``elapsed_s``), e.g. an :class:`EpochRecord`. With
        ``attempt``, rows of a stale attempt are ignored. Returns the number of rows written.

        Raises:
            TrialNotFoundError: no such trial.
            TypeError: an epoch lacks one of those attributes.
        """
        values: list[Any] = _convert.epoch_rows(trial_id, epochs)
        if not values:
            return 0
        if self._epoch_upsert is None:
            self._epoch_upsert = _trials.epoch_upsert(self._engine.dialect)
        sql, order = self._epoch_upsert
        if order is not None:  # positional paramstyle (sqlite's qmark)
            values = [tuple(v[name] for name in order) for v in values]

        def run(s: Session) -> int:
            if not _trials.fence(s, trial_id, attempt, action="epochs"):
                return 0
            s.connection().exec_driver_sql(sql, values)
            return len(values)

        return self._run(run)

    def finish_trial(
        self, trial_id: int, outcome: TrialOutcome, *, attempt: int, folds: Sequence[Any] = ()
    ) -> bool:
        """Record a trial's end, fenced by ``attempt``: returns False (and changes nothing) when
        the stored attempt is another one. Outcome fields left None keep the stored value; floats
        may be NaN/inf. ``duration_s`` is finish minus start on the database clock. ``folds``
        (``FoldRecord``s, [data] folds) replace the trial's ``hps_trial_folds`` rows.

        Raises:
            TrialNotFoundError: no such trial.
            ValueError: ``outcome.state`` is RUNNING or unknown, or its ``fail_reason`` is unknown.
        """
        _trials.check_outcome(outcome)

        def run(s: Session) -> bool:
            if not _trials.fence(s, trial_id, attempt, action="finish"):
                return False
            _trials.finish(s.get_one(TrialRow, trial_id), outcome, self._db_now(s))
            if folds:
                _trials.write_folds(s, trial_id, folds)
            return True

        return self._run(run)

    def mark_running_trials(
        self, search: SearchRef, reason: FailReason | str = FailReason.DRIVER_LOST
    ) -> list[TrialRecord]:
        """Mark every RUNNING trial of a search FAILED with ``reason`` (on resume after a driver
        died); returns them as they were before (number, params, attempt) for re-queueing.

        Raises:
            SearchNotFoundError: no such search.
        """
        reason = FailReason(reason)

        def run(s: Session) -> list[TrialRecord]:
            rows = s.scalars(_reads.running_trials(self._search_row(s, search).id)).all()
            before = [_convert.trial_record(r) for r in rows]
            now = self._db_now(s)
            for r in rows:
                r.state, r.fail_reason, r.finished_at = TrialState.FAILED, reason, now
                r.error_text = f"trial was still running: {reason.value}"
            return before

        return self._run(run)

    # --- models ------------------------------------------------------------------------------

    def save_model(self, trial_id: int, data: bytes) -> None:
        """Keep a trial's model parameters (the trainer's ``.npz`` bytes), replacing older ones.

        Raises:
            TrialNotFoundError: no such trial.
        """
        payload = bytes(data)

        def run(s: Session) -> None:
            if s.get(TrialRow, trial_id) is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            now = self._db_now(s)
            row = s.get(ModelRow, trial_id)
            if row is None:
                row = ModelRow(trial_id=trial_id)
                s.add(row)
            row.data, row.size_bytes, row.created_at = payload, len(payload), now

        self._run(run)
