"""The :class:`Storage` interface: every read and write of searches, trials, epochs and models.

Plain values go in and out (the dataclasses of :mod:`hpsearch.storage._records`); ORM objects never
leave this module. All access runs in :meth:`Storage.session`, which commits, rolls back, closes
and turns SQLAlchemy/driver errors into hpsearch's exceptions; :meth:`Storage._run` retries
transient errors (SQLite "database is locked", a dropped PostgreSQL connection) with back-off.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from numbers import Integral, Real
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hpsearch.errors import HpsearchError
from hpsearch.storage import _schema
from hpsearch.storage._errors import (
    BadDatabaseURLError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    LeaseHeldError,
    LeaseLostError,
    ModelNotFoundError,
    SearchExistsError,
    SearchNotFoundError,
    StorageError,
    TrialNotFoundError,
)
from hpsearch.storage._floats import (
    decode_floats,
    decode_list,
    encode_floats,
    encode_list,
    finite_or_none,
)
from hpsearch.storage._models import (
    EPOCH_FLOATS,
    TRIAL_FLOATS,
    EpochRow,
    FailReason,
    ModelRow,
    SearchRow,
    SearchStatus,
    TrialParamRow,
    TrialRow,
    TrialState,
    utcnow,
)
from hpsearch.storage._records import (
    EpochRecord,
    LeaseHolder,
    SearchRecord,
    SearchSummary,
    TrialOutcome,
    TrialRecord,
)
from hpsearch.storage._url import make_engine, mask_url, normalize_url, resolve_storage_url, scrub

log = logging.getLogger("hpsearch.storage")

T = TypeVar("T")
SearchRef = str | int  # a search's name, or its id
DIRECTIONS = ("minimize", "maximize")
TRIAL_ORDERS = ("number", "objective", "started_at", "finished_at")
SECRET_KEY_RE = re.compile(r"passw|secret|token|api[_-]?key|credential", re.IGNORECASE)
_OUTCOME_FLOATS = (
    "train_loss",
    "train_accuracy",
    "dev_loss",
    "dev_accuracy",
    "avoidable_bias",
    "variance",
    "startup_s",
    "train_s",
    "report_s",
)
_OUTCOME_OTHERS = ("epochs_run", "n_params", "diagnosis", "error_text", "diverged_epoch")
_RESULT_FIELDS = (
    *TRIAL_FLOATS,
    "epochs_run",
    "n_params",
    "diagnosis",
    "fail_reason",
    "error_text",
    "diverged_epoch",
    "objective",
    "objective_values",
    "finished_at",
    "nonfinite",
)
_PERMANENT_CONNECT = (
    "password authentication failed",
    "authentication failed",
    "no password supplied",
    "does not exist",
    "no pg_hba.conf entry",
    "unable to open database file",
    "invalid dsn",
    "invalid connection option",
)
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}


class _TransientError(DatabaseUnavailableError):
    """A retryable failure; :meth:`Storage._run` retries it, others see DatabaseUnavailableError."""


def open_storage(
    url: str | None = None,
    *,
    create: bool = True,
    max_retries: int = 5,
    retry_backoff_s: float = 0.05,
    create_schema: bool = True,
    sqlite_busy_timeout_s: float = 30.0,
) -> Storage:
    """Open the results database, creating hpsearch's schema at head in a fresh database.

    ``url``: ``None`` -> env ``HPSEARCH_STORAGE`` -> ``sqlite:///hpsearch.db``; ``postgresql://``
    means psycopg 3. With ``create=False`` (read-only commands) a SQLite file that does not exist
    is an error and nothing is created on disk. Transient errors are retried ``max_retries``
    times with exponential back-off starting at ``retry_backoff_s``; SQLite itself first waits
    up to ``sqlite_busy_timeout_s`` for a lock.

    Raises:
        BadDatabaseURLError: bad URL, unsupported driver, wrong password, unknown database.
        DatabaseUnavailableError: the server cannot be reached (after the retries).
        SchemaVersionError: the database is at another schema revision (run `hpsearch db upgrade`).
        DatabaseNotFoundError: ``create=False`` and the SQLite file does not exist.
    """
    parsed = normalize_url(resolve_storage_url(url))
    if not create:
        _require_sqlite_file(parsed)
    engine = make_engine(parsed, sqlite_busy_timeout_s=sqlite_busy_timeout_s)
    storage = Storage(engine, max_retries=max_retries, retry_backoff_s=retry_backoff_s)
    try:
        if create_schema:
            storage._run(lambda s: _schema.ensure_schema(s.connection(), storage.url))
        else:
            storage._run(lambda s: _schema.current_revision(s.connection()))
    except BaseException:
        storage.close()
        raise
    return storage


def _require_sqlite_file(url: URL) -> None:
    """Raise DatabaseNotFoundError when ``url`` names a SQLite file that does not exist."""
    if url.get_backend_name() != "sqlite" or url.query.get("uri") in ("true", "1"):
        return
    name = url.database
    if not name or name == ":memory:":
        return
    path = Path(name).expanduser().resolve()
    if not path.exists():
        raise DatabaseNotFoundError(
            f"database file not found: {path} (run a search first, or pass --storage)",
            field="storage",
        )


def upgrade_database(url: str | None = None) -> tuple[str | None, str]:
    """Migrate the database to the newest schema; returns (revision before, revision after).

    Raises:
        BadDatabaseURLError, DatabaseUnavailableError: as :func:`open_storage`.
        StorageError: the migration failed (the database is left at its old revision).
    """
    with open_storage(url, create_schema=False) as storage:

        def run(s: Session) -> tuple[str | None, str]:
            before = _schema.current_revision(s.connection())
            _schema.upgrade(s.connection())
            return before, _schema.head_revision()

        return storage._run(run)


def database_revision(url: str | None = None) -> tuple[str | None, str]:
    """(the database's schema revision or None if never created, this hpsearch's head revision).

    Raises:
        BadDatabaseURLError, DatabaseUnavailableError: as :func:`open_storage`.
    """
    with open_storage(url, create_schema=False) as storage:
        return storage.schema_revision(), _schema.head_revision()


class Storage:
    """hpsearch's results database. Open with :func:`open_storage`; use as a context manager or
    call :meth:`close`. One process (the search driver) writes; any number may read.

    Every method may also raise :class:`DatabaseUnavailableError` (the database stayed locked or
    unreachable after the retries) and :class:`StorageError` (any other database failure).
    Searches are named by ``search``: their name (``str``) or id (``int``).
    """

    def __init__(self, engine: Engine, *, max_retries: int = 5, retry_backoff_s: float = 0.05):
        if max_retries < 0:
            raise ValueError("The value of `max_retries` should be a non-negative integer.")
        self._engine = engine
        self._url: URL = engine.url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._max_retries = max_retries
        self._backoff = retry_backoff_s
        self._epoch_upsert: Any = None

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The storage URL with its password masked."""
        return mask_url(self._url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Storage({self.url!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on error, always close.

        Raises:
            DatabaseUnavailableError: locked database or lost connection (not retried here).
            BadDatabaseURLError: the server refused the URL (wrong password, unknown database).
            StorageError: any other SQLAlchemy/driver error (the original is chained).
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except HpsearchError:
            _quiet_rollback(session)
            raise
        except SQLAlchemyError as e:
            _quiet_rollback(session)
            raise self._translate(e) from e
        except BaseException:
            _quiet_rollback(session)
            raise
        finally:
            session.close()

    def _run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in :meth:`session`, retrying transient errors with exponential back-off."""
        for attempt in itertools.count():
            try:
                with self.session() as s:
                    return fn(s)
            except _TransientError as e:
                if attempt >= self._max_retries:
                    raise DatabaseUnavailableError(
                        f"database {self.url} unavailable after {attempt + 1} tries: {e}"
                    ) from e.__cause__
                delay = min(self._backoff * 2**attempt, 2.0) * (0.5 + random.random())
                log.info("database %s: %s; retrying in %.2fs", self.url, e, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, e: SQLAlchemyError) -> StorageError:
        orig = getattr(e, "orig", None)
        text = scrub(str(orig if orig is not None else e).strip().splitlines()[0], self._url)
        lowered = text.lower()
        if isinstance(e, DBAPIError):
            sqlstate = getattr(orig, "sqlstate", None)
            if any(p in lowered for p in _PERMANENT_CONNECT) and not isinstance(e, IntegrityError):
                return BadDatabaseURLError(f"database {self.url} refused the connection: {text}")
            if (
                e.connection_invalidated
                or "database is locked" in lowered
                or "database table is locked" in lowered
                or (
                    sqlstate is not None
                    and (sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES)
                )
                or (self.dialect == "postgresql" and type(e).__name__ == "OperationalError")
            ):
                return _TransientError(text)
        return StorageError(f"database {self.url}: {type(e).__name__}: {text}")

    def _db_now(self, s: Session) -> datetime:
        return _utc(s.execute(select(utcnow())).scalar_one())

    def schema_revision(self) -> str | None:
        """The database's schema revision (None when hpsearch's tables were never created)."""
        return self._run(lambda s: _schema.current_revision(s.connection()))

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
    ) -> SearchRecord:
        """Create a running search. Keys named like password/secret/token are dropped from
        ``config`` and passwords inside URL strings are masked before anything is stored.

        Raises:
            SearchExistsError: a search with this name exists.
            ValueError: empty/too long name, or objectives and directions that do not match.
        """
        if not name or len(name) > 200:
            raise ValueError("The value of `name` should be a non-empty string of <= 200 chars.")
        if not objectives or len(objectives) != len(directions):
            raise ValueError("`objectives` and `directions` should be non-empty and equally long.")
        if any(d not in DIRECTIONS for d in directions):
            raise ValueError(f"Each direction should be one of {DIRECTIONS}, got {directions}.")
        if hpsearch_version is None:
            from hpsearch import __version__ as hpsearch_version
        clean = strip_secrets(config)

        def run(s: Session) -> SearchRecord:
            if s.scalar(select(SearchRow.id).where(SearchRow.name == name)) is not None:
                raise SearchExistsError(f"a search named {name!r} already exists in {self.url}")
            row = SearchRow(
                name=name,
                status=SearchStatus.RUNNING,
                created_at=self._db_now(s),
                config=clean,
                objectives=list(objectives),
                directions=list(directions),
                sampler=sampler,
                pruner=pruner,
                seed=seed,
                dataset=dataset,
                hpsearch_version=hpsearch_version,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError as e:
                raise SearchExistsError(f"a search named {name!r} already exists") from e
            return _search_record(row)

        return self._run(run)

    def get_search(self, search: SearchRef) -> SearchRecord:
        """The search named ``search`` (or with that id).

        Raises:
            SearchNotFoundError: no such search.
        """
        return self._run(lambda s: _search_record(self._search_row(s, search)))

    def list_searches(self) -> list[SearchSummary]:
        """Every search, oldest first, with trial counts, best value and duration."""
        t = TrialRow

        def count(state: TrialState) -> Any:
            return func.coalesce(func.sum(case((t.state == state, 1), else_=0)), 0)

        complete_objective = case((t.state == TrialState.COMPLETE, t.objective))
        stmt = (
            select(
                SearchRow,
                func.count(t.id),
                count(TrialState.COMPLETE),
                count(TrialState.PRUNED),
                count(TrialState.FAILED),
                count(TrialState.RUNNING),
                func.min(complete_objective),
                func.max(complete_objective),
                func.max(t.finished_at),
            )
            .outerjoin(t, t.search_id == SearchRow.id)
            .group_by(SearchRow.id)
            .order_by(SearchRow.id)
        )

        def run(s: Session) -> list[SearchSummary]:
            out = []
            for row, n, n_ok, n_pruned, n_failed, n_run, lo, hi, last in s.execute(stmt):
                end = _utc(row.finished_at) or _utc(last)
                created = _utc(row.created_at)
                out.append(
                    SearchSummary(
                        id=row.id,
                        name=row.name,
                        status=row.status,
                        created_at=created,
                        finished_at=_utc(row.finished_at),
                        directions=tuple(row.directions),
                        n_trials=int(n),
                        n_complete=int(n_ok),
                        n_pruned=int(n_pruned),
                        n_failed=int(n_failed),
                        n_running=int(n_run),
                        best_value=lo if row.directions[0] == "minimize" else hi,
                        duration_s=(end - created).total_seconds() if end else None,
                        dataset=row.dataset,
                    )
                )
            return out

        return self._run(run)

    def set_search_status(self, search: SearchRef, status: SearchStatus | str) -> SearchRecord:
        """Set the status; a finished status stamps ``finished_at``, RUNNING clears it.

        Raises:
            SearchNotFoundError: no such search.
            ValueError: unknown status.
        """
        status = SearchStatus(status)

        def run(s: Session) -> SearchRecord:
            row = self._search_row(s, search)
            row.status = status
            row.finished_at = self._db_now(s) if status.is_finished() else None
            s.flush()
            return _search_record(row)

        return self._run(run)

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

    # --- lease (one live driver per search) ---------------------------------------------------

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
        dead = take_over or me

        def run(s: Session) -> SearchRecord:
            row = self._search_row(s, search)
            now = self._db_now(s)
            table = SearchRow.__table__
            result = s.execute(
                update(table)
                .where(
                    table.c.id == row.id,
                    or_(
                        table.c.lease_host.is_(None),
                        table.c.lease_expires_at < now,
                        and_(table.c.lease_host == me.host, table.c.lease_pid == me.pid),
                        and_(
                            table.c.lease_host == dead.host,
                            table.c.lease_pid == dead.pid,
                        ),
                    ),
                )
                .values(
                    lease_host=me.host,
                    lease_pid=me.pid,
                    lease_heartbeat_at=now,
                    lease_expires_at=now + timedelta(seconds=ttl_s),
                    lease_ttl_s=ttl_s,
                )
            )
            s.expire(row)
            if result.rowcount != 1:
                raise LeaseHeldError(_lease_message(row, now))
            if row.lease_host != me.host or row.lease_pid != me.pid:  # pragma: no cover
                raise LeaseHeldError(_lease_message(row, now))
            return _search_record(row)

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

        def run(s: Session) -> datetime:
            row = self._search_row(s, search)
            now = self._db_now(s)
            if row.lease_host != me.host or row.lease_pid != me.pid or row.lease_ttl_s is None:
                raise LeaseLostError(
                    f"search {row.name!r}: {me} no longer holds the lease"
                    + (f" ({_lease_message(row, now)})" if row.lease_host else "")
                )
            if ttl_s is not None:
                row.lease_ttl_s = ttl_s
            expires = now + timedelta(seconds=row.lease_ttl_s)
            row.lease_heartbeat_at, row.lease_expires_at = now, expires
            return expires

        return self._run(run)

    def release_lease(self, search: SearchRef, holder: LeaseHolder | None = None) -> bool:
        """Give the lease up; False when ``holder`` did not hold it (nothing changed).

        Raises:
            SearchNotFoundError: no such search.
        """
        me = holder or LeaseHolder.current()

        def run(s: Session) -> bool:
            row = self._search_row(s, search)
            if row.lease_host != me.host or row.lease_pid != me.pid:
                return False
            row.lease_host = row.lease_pid = row.lease_heartbeat_at = None
            row.lease_expires_at = row.lease_ttl_s = None
            return True

        return self._run(run)

    # --- trials ------------------------------------------------------------------------------

    def start_trial(
        self,
        search: SearchRef,
        number: int,
        params: Mapping[str, Any],
        *,
        attempt: int = 1,
        seed: int | None = None,
        node_id: str | None = None,
        worker_id: str | None = None,
        queue_s: float | None = None,
        startup_s: float | None = None,
        environment: Mapping[str, Any] | None = None,
        dataset_hash: str | None = None,
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
        param_json = _params_json(params)
        param_rows = [_param_row(k, v) for k, v in params.items()]

        def run(s: Session) -> int:
            search_id = self._search_row(s, search).id
            row = s.scalar(
                _for_update(
                    select(TrialRow).where(
                        TrialRow.search_id == search_id, TrialRow.number == number
                    )
                )
            )
            if row is not None and attempt < row.attempt:
                log.info("trial %s attempt %s is stale (stored %s)", number, attempt, row.attempt)
                return row.id
            now = self._db_now(s)
            if row is None:
                row = TrialRow(search_id=search_id, number=number)
                s.add(row)
            else:
                if attempt != row.attempt:
                    s.execute(delete(EpochRow.__table__).where(EpochRow.trial_id == row.id))
                for name in _RESULT_FIELDS:
                    setattr(row, name, None)
                s.execute(delete(TrialParamRow.__table__).where(TrialParamRow.trial_id == row.id))
            row.state, row.attempt, row.params, row.seed = (
                TrialState.RUNNING,
                attempt,
                param_json,
                seed,
            )
            row.started_at, row.node_id, row.worker_id = now, node_id, worker_id
            row.queue_s, row.startup_s = finite_or_none(queue_s), finite_or_none(startup_s)
            row.environment = dict(environment) if environment is not None else None
            row.dataset_hash = dataset_hash
            s.flush()
            if param_rows:
                s.execute(
                    TrialParamRow.__table__.insert(),
                    [{"trial_id": row.id, **p} for p in param_rows],
                )
            return row.id

        return self._run(run)

    def record_trial_start(
        self,
        trial_id: int,
        *,
        attempt: int,
        node_id: str | None = None,
        worker_id: str | None = None,
        queue_s: float | None = None,
        startup_s: float | None = None,
        environment: Mapping[str, Any] | None = None,
        dataset_hash: str | None = None,
    ) -> bool:
        """Add where and how a started trial runs (known once a worker picked it up), fenced by
        ``attempt``; arguments left None keep the stored value. False for a stale attempt.

        Raises:
            TrialNotFoundError: no such trial.
        """
        given = {
            "node_id": node_id,
            "worker_id": worker_id,
            "queue_s": finite_or_none(queue_s),
            "startup_s": finite_or_none(startup_s),
            "environment": dict(environment) if environment is not None else None,
            "dataset_hash": dataset_hash,
        }

        def run(s: Session) -> bool:
            if not _fence(s, trial_id, attempt, action="start details"):
                return False
            row = s.get_one(TrialRow, trial_id)
            for name, value in given.items():
                if value is not None:
                    setattr(row, name, value)
            return True

        return self._run(run)

    def set_test_metrics(self, trial_id: int, *, test_loss: float, test_accuracy: float) -> None:
        """Store the test-split score of a chosen trial (NaN/inf kept).

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> None:
            row = s.get(TrialRow, trial_id)
            if row is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            floats = decode_floats({n: getattr(row, n) for n in TRIAL_FLOATS}, row.nonfinite)
            floats.update(test_loss=test_loss, test_accuracy=test_accuracy)
            columns, row.nonfinite = encode_floats(floats, TRIAL_FLOATS)
            row.test_loss, row.test_accuracy = columns["test_loss"], columns["test_accuracy"]

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
        values: list[Any] = _epoch_rows(trial_id, epochs)
        if not values:
            return 0
        sql, order = self._epoch_statement()
        if order is not None:  # positional paramstyle (sqlite's qmark)
            values = [tuple(v[name] for name in order) for v in values]

        def run(s: Session) -> int:
            if not _fence(s, trial_id, attempt, action="epochs"):
                return 0
            s.connection().exec_driver_sql(sql, values)
            return len(values)

        return self._run(run)

    def _epoch_statement(self) -> tuple[str, tuple[str, ...] | None]:
        """The dialect's INSERT ... ON CONFLICT (trial_id, epoch) DO UPDATE, compiled once by
        SQLAlchemy Core; executed with the driver's executemany (no per-row bind processing: the
        values are plain floats, ints and strings already)."""
        if self._epoch_upsert is None:
            insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            stmt = insert(EpochRow.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["trial_id", "epoch"],
                set_={c: stmt.excluded[c] for c in (*EPOCH_FLOATS, "nonfinite")},
            )
            compiled = stmt.compile(dialect=self._engine.dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None
            self._epoch_upsert = (str(compiled), order)
        return self._epoch_upsert

    def finish_trial(self, trial_id: int, outcome: TrialOutcome, *, attempt: int) -> bool:
        """Record a trial's end, fenced by ``attempt``: returns False (and changes nothing) when
        the stored attempt is another one. Outcome fields left None keep the stored value; floats
        may be NaN/inf. ``duration_s`` is finish minus start on the database clock.

        Raises:
            TrialNotFoundError: no such trial.
            ValueError: ``outcome.state`` is RUNNING or unknown, or its ``fail_reason`` is unknown.
        """
        state = TrialState(outcome.state)
        if not state.is_finished():
            raise ValueError("The value of `state` should be complete, pruned or failed.")
        reason = FailReason(outcome.fail_reason) if outcome.fail_reason is not None else None
        given = {name: getattr(outcome, name) for name in _OUTCOME_FLOATS}
        others = {name: getattr(outcome, name) for name in _OUTCOME_OTHERS}
        others["fail_reason"] = reason
        values = tuple(outcome.values)

        def run(s: Session) -> bool:
            if not _fence(s, trial_id, attempt, action="finish"):
                return False
            row = s.get_one(TrialRow, trial_id)
            now = self._db_now(s)
            floats = decode_floats({n: getattr(row, n) for n in TRIAL_FLOATS}, row.nonfinite)
            floats.update({k: v for k, v in given.items() if v is not None})
            if floats.get("duration_s") is None and row.started_at is not None:
                floats["duration_s"] = (now - _utc(row.started_at)).total_seconds()
            columns, row.nonfinite = encode_floats(floats, TRIAL_FLOATS)
            for name, value in (
                columns | {k: v for k, v in others.items() if v is not None}
            ).items():
                setattr(row, name, value)
            row.state, row.finished_at = state, now
            if values:
                row.objective_values = encode_list(values)
                row.objective = finite_or_none(values[0])
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
            search_id = self._search_row(s, search).id
            rows = s.scalars(
                _for_update(
                    select(TrialRow)
                    .where(TrialRow.search_id == search_id, TrialRow.state == TrialState.RUNNING)
                    .order_by(TrialRow.number)
                )
            ).all()
            before = [_trial_record(r) for r in rows]
            now = self._db_now(s)
            for r in rows:
                r.state, r.fail_reason, r.finished_at = TrialState.FAILED, reason, now
                r.error_text = f"trial was still running: {reason.value}"
            return before

        return self._run(run)

    def trial_by_id(self, trial_id: int) -> TrialRecord:
        """The trial with that id.

        Raises:
            TrialNotFoundError: no such trial.
        """

        def run(s: Session) -> TrialRecord:
            row = s.get(TrialRow, trial_id)
            if row is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            return _trial_record(row)

        return self._run(run)

    def get_trial(self, search: SearchRef, number: int) -> TrialRecord:
        """Trial ``number`` of a search.

        Raises:
            SearchNotFoundError: no such search.
            TrialNotFoundError: the search has no trial with that number.
        """

        def run(s: Session) -> TrialRecord:
            row = self._search_row(s, search)
            trial = s.scalar(
                select(TrialRow).where(TrialRow.search_id == row.id, TrialRow.number == number)
            )
            if trial is None:
                raise TrialNotFoundError(f"search {row.name!r} has no trial number {number}")
            return _trial_record(trial)

        return self._run(run)

    def trials(
        self,
        search: SearchRef,
        *,
        states: Iterable[TrialState | str] | None = None,
        order_by: str = "number",
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials of a search. ``order_by``: number | objective (best first for the first
        objective's direction; no objective last) | started_at | finished_at.

        Raises:
            SearchNotFoundError: no such search.
            ValueError: unknown ``order_by`` or state.
        """
        if order_by not in TRIAL_ORDERS:
            raise ValueError(f"The value of `order_by` should be one of {TRIAL_ORDERS}.")
        wanted = None if states is None else [TrialState(x) for x in states]

        def run(s: Session) -> list[TrialRecord]:
            row = self._search_row(s, search)
            stmt = select(TrialRow).where(TrialRow.search_id == row.id)
            if wanted is not None:
                stmt = stmt.where(TrialRow.state.in_(wanted))
            if order_by == "objective":
                col = TrialRow.objective
                key = col.asc() if row.directions[0] == "minimize" else col.desc()
                stmt = stmt.order_by(key.nulls_last(), TrialRow.number)
            else:
                stmt = stmt.order_by(getattr(TrialRow, order_by), TrialRow.number)
            if limit is not None:
                stmt = stmt.limit(limit)
            return [_trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def top_trials(self, search: SearchRef, n: int = 10) -> list[TrialRecord]:
        """The ``n`` best COMPLETE trials with a finite first objective, best first (indexed).

        Raises:
            SearchNotFoundError: no such search.
        """

        def run(s: Session) -> list[TrialRecord]:
            row = self._search_row(s, search)
            col = TrialRow.objective
            stmt = (
                select(TrialRow)
                .where(
                    TrialRow.search_id == row.id,
                    TrialRow.state == TrialState.COMPLETE,
                    col.is_not(None),
                )
                .order_by(col.asc() if row.directions[0] == "minimize" else col.desc())
                .limit(n)
            )
            return [_trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def best_trial(self, search: SearchRef) -> TrialRecord | None:
        """The best COMPLETE trial by the first objective (finite values only), or None.

        Raises:
            SearchNotFoundError: no such search.
        """
        best = self.top_trials(search, 1)
        return best[0] if best else None

    def epochs(self, trial_id: int) -> list[EpochRecord]:
        """The learning curve of a trial, by epoch (empty when none was written).

        Raises:
            TrialNotFoundError: no such trial.
        """
        table = EpochRow.__table__
        stmt = select(table).where(table.c.trial_id == trial_id).order_by(table.c.epoch)

        def run(s: Session) -> list[EpochRecord]:
            rows = s.execute(stmt).all()
            if not rows and s.get(TrialRow, trial_id) is None:
                raise TrialNotFoundError(f"no trial with id {trial_id}")
            out = []
            for r in rows:
                m = r._mapping
                floats = decode_floats({n: m[n] for n in EPOCH_FLOATS}, m["nonfinite"])
                out.append(EpochRecord(epoch=m["epoch"], **floats))
            return out

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
                s.add(
                    ModelRow(
                        trial_id=trial_id, data=payload, size_bytes=len(payload), created_at=now
                    )
                )
            else:
                row.data, row.size_bytes, row.created_at = payload, len(payload), now

        self._run(run)

    def load_model(self, trial_id: int) -> bytes:
        """A trial's saved model bytes.

        Raises:
            ModelNotFoundError: no model saved for that trial.
        """

        def run(s: Session) -> bytes:
            data = s.scalar(select(ModelRow.data).where(ModelRow.trial_id == trial_id))
            if data is None:
                raise ModelNotFoundError(f"no saved model for trial id {trial_id}")
            return bytes(data)

        return self._run(run)

    def model_trial_ids(self, search: SearchRef) -> list[int]:
        """Ids of the trials of a search that have a saved model.

        Raises:
            SearchNotFoundError: no such search.
        """

        def run(s: Session) -> list[int]:
            row = self._search_row(s, search)
            stmt = (
                select(ModelRow.trial_id)
                .join(TrialRow, TrialRow.id == ModelRow.trial_id)
                .where(TrialRow.search_id == row.id)
                .order_by(TrialRow.number)
            )
            return list(s.scalars(stmt))

        return self._run(run)

    # --- helpers -----------------------------------------------------------------------------

    def _search_row(self, s: Session, search: SearchRef) -> SearchRow:
        if isinstance(search, bool) or not isinstance(search, str | int):
            raise TypeError("`search` should be a search name (str) or id (int).")
        column = SearchRow.name if isinstance(search, str) else SearchRow.id
        row = s.scalar(select(SearchRow).where(column == search))
        if row is None:
            names = list(s.scalars(select(SearchRow.name).order_by(SearchRow.id.desc()).limit(5)))
            known = f"; recent searches: {', '.join(names)}" if names else "; it has no searches"
            what = f"named {search!r}" if isinstance(search, str) else f"with id {search}"
            raise SearchNotFoundError(f"no search {what} in {self.url}{known}")
        return row

    # --- queries (filters and sort keys: hpsearch.storage._query) -----------------------------

    def query_trials(
        self,
        search: SearchRef,
        *,
        where: Iterable[Any] = (),
        sort: Any = None,
        states: Iterable[TrialState | str] | None = None,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """Trials of a search filtered, sorted and limited in SQL with bound parameters.

        ``where``: ``Filter`` objects or strings like ``'dropout > 0.3'``; ``sort``: a ``SortKey``
        or a string (``'dev_loss'``, ``'-dev_accuracy'``, ``'lambd:desc'``); names are trial
        columns or the search's hyperparameters. Without ``sort``, ``limit`` keeps the best
        trials by the first objective (the "top K"); otherwise trials come by number.

        Raises:
            SearchNotFoundError: no such search.
            QueryError: a malformed condition, an unknown name or a value of the wrong kind.
        """
        from hpsearch.storage import _query

        filters = _query.as_filters(where)
        key = _query.parse_sort(sort) if isinstance(sort, str) else sort
        wanted = None if states is None else [TrialState(x) for x in states]

        def run(s: Session) -> list[TrialRecord]:
            row = self._search_row(s, search)
            kinds = _query.param_kinds(s.execute(_query.param_kinds_query(row.id)).all())
            stmt = _query.trial_query(
                row.id,
                row.directions[0],
                kinds,
                where=filters,
                sort=key,
                states=wanted,
                limit=limit,
            )
            return [_trial_record(t) for t in s.scalars(stmt)]

        return self._run(run)

    def hyperparameter_kinds(self, search: SearchRef) -> dict[str, str]:
        """name -> number | text | bool | json for every hyperparameter stored in a search.

        Raises:
            SearchNotFoundError: no such search.
        """
        from hpsearch.storage import _query

        def run(s: Session) -> dict[str, str]:
            row = self._search_row(s, search)
            return _query.param_kinds(s.execute(_query.param_kinds_query(row.id)).all())

        return self._run(run)


# --- conversions -----------------------------------------------------------------------------


def strip_secrets(config: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of ``config`` without keys named like password/secret/token/api_key and
    with passwords masked inside URL strings."""
    dropped: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            out = {}
            for k, v in value.items():
                if SECRET_KEY_RE.search(str(k)):
                    dropped.append(f"{path}{k}")
                    continue
                out[str(k)] = clean(v, f"{path}{k}.")
            return out
        if isinstance(value, list | tuple):
            return [clean(v, path) for v in value]
        if isinstance(value, str):
            return scrub(value, None) if "://" in value or "password=" in value else value
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        return str(value)

    out = clean(config, "")
    if dropped:
        log.warning("not storing secret config keys: %s", ", ".join(dropped))
    return out


def _params_json(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, Real) and not isinstance(value, Integral) and not math.isfinite(value):
            raise ValueError(f"hyperparameter {name!r} should be finite, got {value}")
        out[str(name)] = json.loads(json.dumps(_plain(value)))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _param_row(name: str, value: Any) -> dict[str, Any]:
    value = _plain(value)
    row: dict[str, Any] = {"name": str(name), "value_float": None, "value_text": None}
    if value is None:
        row["kind"] = "none"
    elif isinstance(value, bool):
        row.update(kind="bool", value_float=float(value), value_text=str(value).lower())
    elif isinstance(value, int):
        row.update(kind="int", value_float=float(value))
    elif isinstance(value, float):
        row.update(kind="float", value_float=value)
    elif isinstance(value, str):
        row.update(kind="str", value_text=value)
    else:
        row.update(kind="json", value_text=json.dumps(value))
    return row


def _epoch_rows(trial_id: int, epochs: Iterable[Any]) -> list[dict[str, Any]]:
    try:
        return [_epoch_values(trial_id, e) for e in epochs]
    except AttributeError as e:
        raise TypeError(
            f"each epoch should have the attributes epoch, {', '.join(EPOCH_FLOATS)} (an "
            f"EpochRecord, or any object with those attributes): {e}"
        ) from e


def _epoch_values(trial_id: int, epoch: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trial_id": trial_id, "epoch": int(epoch.epoch), "nonfinite": None}
    marks: list[str] = []
    for name in EPOCH_FLOATS:
        value = getattr(epoch, name)
        if value is not None:
            value = float(value)
            if value - value != 0.0:  # NaN or +/-inf, without a function call per value
                marks.append(f"{name}={_kind(value)}")
                value = None
        out[name] = value
    if marks:
        out["nonfinite"] = ",".join(marks)
    return out


def _kind(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _search_record(row: SearchRow) -> SearchRecord:
    holder = LeaseHolder(row.lease_host, row.lease_pid) if row.lease_host else None
    return SearchRecord(
        id=row.id,
        name=row.name,
        status=row.status,
        created_at=_utc(row.created_at),
        finished_at=_utc(row.finished_at),
        config=dict(row.config),
        objectives=tuple(row.objectives),
        directions=tuple(row.directions),
        sampler=row.sampler,
        pruner=row.pruner,
        seed=row.seed,
        dataset=row.dataset,
        hpsearch_version=row.hpsearch_version,
        lease_holder=holder if holder and row.lease_pid is not None else None,
        lease_heartbeat_at=_utc(row.lease_heartbeat_at),
        lease_expires_at=_utc(row.lease_expires_at),
    )


def _trial_record(row: TrialRow) -> TrialRecord:
    floats = decode_floats({n: getattr(row, n) for n in TRIAL_FLOATS}, row.nonfinite)
    return TrialRecord(
        id=row.id,
        search_id=row.search_id,
        number=row.number,
        state=row.state,
        attempt=row.attempt,
        params=dict(row.params or {}),
        seed=row.seed,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        epochs_run=row.epochs_run,
        values=decode_list(row.objective_values),
        n_params=row.n_params,
        diagnosis=row.diagnosis,
        fail_reason=row.fail_reason,
        error_text=row.error_text,
        diverged_epoch=row.diverged_epoch,
        node_id=row.node_id,
        worker_id=row.worker_id,
        environment=dict(row.environment) if row.environment is not None else None,
        dataset_hash=row.dataset_hash,
        **floats,
    )


def _lease_message(row: SearchRow, now: datetime) -> str:
    left = (_utc(row.lease_expires_at) - now).total_seconds() if row.lease_expires_at else 0.0
    beat = _utc(row.lease_heartbeat_at)
    when = f"last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC, " if beat else ""
    return (
        f"search {row.name!r} is driven by host {row.lease_host} pid {row.lease_pid} "
        f"({when}lease expires in {max(left, 0.0):.0f}s); stop that driver or wait for its lease "
        "to expire"
    )


def _fence(s: Session, trial_id: int, attempt: int | None, *, action: str) -> bool:
    """Lock the trial's row and check the attempt fence: True when ``attempt`` is the stored
    attempt (or None: no fence), False (logged) for a stale one.

    Raises:
        TrialNotFoundError: no such trial.
    """
    stored = s.scalar(_for_update(select(TrialRow.attempt).where(TrialRow.id == trial_id)))
    if stored is None:
        raise TrialNotFoundError(f"no trial with id {trial_id}")
    if attempt is not None and attempt != stored:
        log.info("%s of trial %s attempt %s ignored (now %s)", action, trial_id, attempt, stored)
        return False
    return True


def _for_update(stmt: Select[Any]) -> Select[Any]:
    # row locks on PostgreSQL; SQLite ignores FOR UPDATE (its writes are serialised anyway)
    return stmt.with_for_update()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _quiet_rollback(session: Session) -> None:
    try:
        session.rollback()
    except SQLAlchemyError:  # the connection may be gone already
        log.debug("rollback failed", exc_info=True)
