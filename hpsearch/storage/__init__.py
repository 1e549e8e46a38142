"""hpsearch's results database: searches, trials, learning curves and models in SQL.

SQLite (default ``sqlite:///hpsearch.db``) or PostgreSQL through psycopg 3
(``postgresql+psycopg://user:password@host/db``; ``postgresql://`` means the same). The URL comes
from the argument, else env ``HPSEARCH_STORAGE``, else the default; it is only ever shown masked.

Tables are prefixed ``hps_`` (``hps_searches``, ``hps_trials``, ``hps_trial_params``,
``hps_epochs``, ``hps_models``, view ``hps_trial_results``) and the Alembic version table is
``hps_alembic_version``, so they share a database with Optuna's own tables. The schema is created
at head in a fresh database; another revision raises :class:`SchemaVersionError` until
``hpsearch db upgrade`` is run. NaN and +/-inf survive the round trip on both backends.

How the Optuna study is persisted (decided from ``benchmarks/storage_speed.py``): Optuna's
RDBStorage on SQLite costs tens of milliseconds per ask+tell against tens of microseconds in
memory, and would duplicate every trial in a second schema. So **our tables are the source of
truth**: the search driver keeps an in-memory Optuna study and rebuilds it from these tables on
resume (``add_trial`` of every finished trial), and an export writes a real Optuna study
(``optuna.copy_study`` or ``create_study(storage=url)`` plus ``add_trial``) when one is wanted.

:func:`open_storage` opens for ``purpose="write"`` by default: an in-memory SQLite URL is refused
(it would vanish at exit) and the SQLite file is watched, so a file removed or replaced under a
running search raises :class:`DatabaseLostError` instead of writing where no one can read.
Concurrent first opens of one new database are serialised (SQLite ``BEGIN IMMEDIATE``,
PostgreSQL advisory lock). Trials ordered by objective always break ties by dev_loss, then trial
number (``top_trials``, ``best_trial``, ``query_trials``, ``trials``).

One process writes (the search driver); Ray workers never touch the database. A per-search lease
(:meth:`Storage.acquire_lease`, timed by the database clock) keeps a second driver off a live
search.

This package never imports ray or optuna, and knows no trainer words: an epoch is any object with
the ``hps_epochs`` column names as attributes, a trial's end one :class:`TrialOutcome`, and
hyperparameters are stored under the names they are given (the user's words).

Modules by role: ``_session`` (one transaction per call, retries, driver errors mapped),
``_lease`` (the lease SQL), ``_trials`` (trial writes and the attempt fence), ``_reads`` and
``_query`` (read statements, user filters), ``_convert`` (row <-> record), ``_reading`` and
``_storage`` (the :class:`Storage` API: thin methods), ``_open`` (opening and upgrading).
"""

from __future__ import annotations

from hpsearch.storage._convert import strip_secrets
from hpsearch.storage._errors import (
    BadDatabaseURLError,
    CorruptDatabaseError,
    DatabaseLostError,
    DatabaseNotFoundError,
    DatabaseUnavailableError,
    LeaseHeldError,
    LeaseLostError,
    ModelNotFoundError,
    SchemaVersionError,
    SearchExistsError,
    SearchNotFoundError,
    StorageError,
    TrialNotFoundError,
)
from hpsearch.storage._models import FailReason, SearchStatus, TrialState
from hpsearch.storage._open import database_revision, open_storage, upgrade_database
from hpsearch.storage._query import QueryError, parse_states
from hpsearch.storage._records import (
    EpochRecord,
    FoldRecord,
    LeaseHolder,
    SearchRecord,
    SearchSummary,
    TrialOutcome,
    TrialRecord,
    TrialStart,
)
from hpsearch.storage._schema import head_revision, known_revisions
from hpsearch.storage._storage import Storage
from hpsearch.storage._url import DEFAULT_URL, ENV_VAR, mask_url, resolve_storage_url, scrub

resolve_url = resolve_storage_url  # the name used in docs/CONTRACTS.md

__all__ = [
    "DEFAULT_URL",
    "ENV_VAR",
    "BadDatabaseURLError",
    "CorruptDatabaseError",
    "DatabaseLostError",
    "DatabaseNotFoundError",
    "DatabaseUnavailableError",
    "EpochRecord",
    "FailReason",
    "FoldRecord",
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "ModelNotFoundError",
    "QueryError",
    "SchemaVersionError",
    "SearchExistsError",
    "SearchNotFoundError",
    "SearchRecord",
    "SearchStatus",
    "SearchSummary",
    "Storage",
    "StorageError",
    "TrialNotFoundError",
    "TrialOutcome",
    "TrialRecord",
    "TrialStart",
    "TrialState",
    "database_revision",
    "head_revision",
    "known_revisions",
    "mask_url",
    "open_storage",
    "parse_states",
    "resolve_storage_url",
    "resolve_url",
    "scrub",
    "strip_secrets",
    "upgrade_database",
]
