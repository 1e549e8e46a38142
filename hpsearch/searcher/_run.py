"""Entry points: run or resume a search on local Ray or a Ray cluster."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import ray
from sqlalchemy.engine import make_url

from hpsearch.errors import UserInputError
from hpsearch.searcher import _watchdog
from hpsearch.searcher._config import SearchConfig, load_search_data, with_data_facts
from hpsearch.searcher._driver import Driver
from hpsearch.searcher._entrypoint import runtime_env
from hpsearch.searcher._local_ray import JoinedCluster, LocalRay, check_cpus
from hpsearch.searcher._optuna import validate_optuna_settings
from hpsearch.searcher._outcome import (
    OptunaFailed,
    RayDied,
    SearchInterrupted,
    SearchOutcome,
    SearchStopped,
)
from hpsearch.searcher._preflight import preflight
from hpsearch.searcher._progress import Progress
from hpsearch.searcher._seeding import load_seeding
from hpsearch.storage import (
    BadDatabaseURLError,
    DatabaseLostError,
    DatabaseUnavailableError,
    FailReason,
    LeaseHolder,
    SearchStatus,
    Storage,
    StorageError,
    TrialState,
)


@contextmanager
def ray_session(
    address: str | None, *, runtime_env: dict[str, Any] | None = None
) -> Iterator[LocalRay | JoinedCluster | None]:
    """Connect to Ray (start a local instance when no address), unless already connected.
    ``runtime_env``: the job's (an own model's code reaches every worker with it).

    Yields what the driver watches: the :class:`LocalRay` hpsearch started, or the
    :class:`JoinedCluster` it connected to (None when Ray was already initialised). A local Ray
    listens on the loopback interface only, with no dashboard; Ray's token authentication stays
    as Ray sets it (hpsearch never turns it off), and a token file hpsearch lets Ray use is
    readable by its owner only.
    """
    if ray.is_initialized():
        yield None
        return
    kwargs: dict[str, Any] = {
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address is None and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]  # set by `ray job submit` on the head node
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    local = address is None
    if local:
        kwargs.update(include_dashboard=False, address="local")
        _private_token_file()
    try:
        with _loopback_only(local):
            ray.init(address=kwargs.pop("address", address), **kwargs)
    except ConnectionError as e:
        raise UserInputError(
            f"--address {address}: cannot connect to a Ray cluster ({e})", field="address"
        ) from None
    except ValueError as e:
        raise UserInputError(f"--address {address}: {e}", field="address") from None
    try:
        yield LocalRay.started_here() if local else JoinedCluster.joined()
    finally:
        ray.shutdown()


@contextmanager
def _loopback_only(local: bool) -> Iterator[None]:
    """A local Ray binds every server (GCS, raylet, agents, workers, metrics) to 127.0.0.1.

    Ray does so when it runs "not as a cluster" (its macOS/Windows default): the node's address
    is then the loopback one, and its gRPC servers listen there only. The environment variable
    reaches the processes Ray starts; the constant, this already-imported process.
    """
    if not local:
        yield
        return
    from ray._private import ray_constants

    var = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    before_env, before = os.environ.get(var), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[var], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = before_env


def _private_token_file() -> None:
    """With token authentication on and no token given, Ray writes ``~/.ray/auth_token`` with the
    default umask (readable by all). Create it first, readable by its owner only (0600 in a 0700
    folder), and tighten an existing one that others can read."""
    mode = os.environ.get("RAY_AUTH_MODE", "token").lower()
    if mode != "token" or os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    path = Path.home() / ".ray" / "auth_token"
    folder_existed = path.parent.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not folder_existed:
        os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            os.chmod(path, 0o600)
        return
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))


@contextmanager
def _signals(driver: Driver) -> Iterator[None]:
    """SIGINT/SIGTERM stop launching, cancel running trials and record them."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(ValueError):  # ValueError: not the main thread
            previous[sig] = signal.signal(sig, driver.interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_search(
    config: SearchConfig,
    storage: Storage,
    *,
    address: str | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    data: Any = None,
) -> SearchOutcome:
    """Run (or continue) a search to its trial budget and return what it found.

    ``data``: the dataset from :func:`load_search_data`, when the caller already loaded it;
    otherwise it is loaded here, before anything is stored (a bad dataset stores nothing).
    Ray starts (or is joined) before anything is stored too, so a trial size no node can run
    stores nothing either.

    While the database is away, running trials go on and their results wait (see the
    recorder) for up to ``search.database_patience`` seconds; no new trial starts meanwhile.

    Raises:
        SearchInterrupted: Ctrl-C, once running trials are cancelled and recorded.
        SearchStopped: the local Ray (or the cluster's GCS) died, or the sampler or pruner
            failed; running trials are recorded to run again, the line names ``hpsearch resume``.
        DatabaseUnavailableError: the database stayed away longer than its patience (the line
            names ``hpsearch resume``).
        DatabaseLostError: the SQLite file was removed or replaced mid-search.
        BadDatabaseURLError: an in-memory database (results would vanish).
        UserInputError: ``search.cpus_per_trial`` beyond every node, a changed definition.
    """
    _refuse_memory_database(storage)
    preflight(config)  # the same refusals as `validate` for Python callers (missing packages...)
    validate_optuna_settings(config)
    data = data if data is not None else load_search_data(config)
    config = with_data_facts(config, data)  # feature names, classes, split sizes: stored
    progress = progress or Progress(quiet=True)
    t0 = time.monotonic()
    driver = Driver(config, storage, progress=progress, on_event=on_event, data=data)
    driver.recorder.check(resume=resume)  # refusals that need no Ray come before it starts
    seeding = load_seeding(config, storage, resume=resume)  # a warm start's unknown source too
    if warm_line := seeding and seeding.line():
        progress.event(warm_line)
    code = runtime_env(config.train)  # [train] entrypoint: the model's folder
    with ray_session(address, runtime_env=code) as ray_watch:
        check_cpus(config.search.cpus_per_trial)
        driver.runtime_env = code if ray_watch is None else None  # joined a Ray started before
        driver.prepare(resume=resume, seeding=seeding)
        pipe = None
        if ray_watch is not None:
            driver.health = ray_watch.dead
            pipe = _watchdog.start(
                url=storage.secret_url(),  # over a pipe, never on a command line
                search_id=driver.recorder.search_id,
                name=config.search.name,
                holder=dataclasses.asdict(LeaseHolder.current()),
                ray_pids=getattr(ray_watch, "pids", {}),
            )
        try:
            status, test = _drive(driver, config, storage, progress)
        finally:
            _watchdog.done(pipe)  # this driver recorded its own end
    search_id = driver.recorder.search_id
    trials = storage.trials(search_id)
    best = None
    if driver.best_number is not None:
        best = next((t for t in trials if t.number == driver.best_number), None)
    outcome = RunOutcome(
        stop_reason=driver.stop_reason if status == SearchStatus.FINISHED else None,
        warm_start=warm_line or None,
        name=config.search.name,
        status=status.value,
        complete=sum(t.state == TrialState.COMPLETE for t in trials),
        pruned=sum(t.state == TrialState.PRUNED for t in trials),
        failed=sum(t.state == TrialState.FAILED for t in trials),
        best=best,
        best_test_loss=test[0] if test else None,
        best_test_accuracy=test[1] if test else None,
        elapsed_s=time.monotonic() - t0,
        trials=trials,
    )
    if status == SearchStatus.INTERRUPTED:
        raise SearchInterrupted(outcome)
    return outcome


@dataclasses.dataclass
class RunOutcome(SearchOutcome):
    """A ``SearchOutcome`` with why the run stopped launching before its trial budget
    (a [search] time_budget, target or patience_trials; None: the budget was used) and what
    its warm start used."""

    stop_reason: str | None = None
    warm_start: str | None = None  # the warm start's line (``_seeding``), None without one


def _drive(
    driver: Driver, config: SearchConfig, storage: Storage, progress: Progress
) -> tuple[SearchStatus, tuple[float, float] | None]:
    """Run the driver's loop; leave the search and its trials in a truthful state whatever
    stops it (its status, running trials failed with a reason resume runs again, the lease)."""
    name, search_id = config.search.name, driver.recorder.search_id
    resume_hint = f"`hpsearch resume {name}` continues"
    status, stop, test = SearchStatus.FAILED, None, None
    write_end = True
    with _signals(driver):
        try:
            driver.run()
            status = SearchStatus.FINISHED
        except KeyboardInterrupt:
            driver.cancel_all(FailReason.INTERRUPTED)
            status = SearchStatus.INTERRUPTED
        except RayDied as e:
            driver.cancel_all(FailReason.INTERRUPTED, text=str(e), cancel=False)
            status = SearchStatus.INTERRUPTED
            stop = SearchStopped(
                f"{e}: search {name!r} stopped, running trials will run again; {resume_hint}"
            )
        except OptunaFailed as e:
            driver.cancel_all(FailReason.INTERRUPTED)
            stop = SearchStopped(
                f"{e}; search {name!r} stopped, finished trials are stored; {resume_hint}"
            )
        except DatabaseUnavailableError as e:
            # Patience ran out: running trials stay "running" in the database; the next start
            # (`hpsearch resume`) marks them and runs them again.
            driver.abandon()
            write_end = False
            stop = DatabaseUnavailableError(
                f"{e}; search {name!r} stopped, finished trials are stored: {resume_hint} "
                "once the database is back"
            )
        except DatabaseLostError as e:
            driver.abandon()
            write_end = False
            stop = DatabaseLostError(f"{e}; search {name!r} stopped")
        except Exception:  # a bug: say so in the database too, then let it surface
            driver.abandon()
            with suppress(StorageError):
                storage.set_search_status(search_id, SearchStatus.FAILED)
                storage.release_lease(search_id)
            raise
        finally:
            progress.stop()
            driver.study.close()  # ends the ask-ahead sampler process, if one ran
        if status == SearchStatus.FINISHED:
            test = driver.evaluate_best_on_test()
    if driver.recorder.away and write_end:  # the end's writes could not wait: best effort
        write_end = False
        stop = stop or DatabaseUnavailableError(f"database unavailable; {resume_hint}")
    if write_end:
        reason = driver.stop_reason if status == SearchStatus.FINISHED else None
        storage.set_search_status(search_id, status, stop_reason=reason)
        storage.release_lease(search_id)
    else:
        with suppress(StorageError):
            storage.set_search_status(search_id, SearchStatus.FAILED)
            storage.release_lease(search_id)
    if stop is not None:
        raise stop from None
    return status, test


def _refuse_memory_database(storage: Storage) -> None:
    """A search's results must outlive the process: no in-memory SQLite."""
    url = make_url(storage.url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise BadDatabaseURLError(
            f"storage {storage.url}: an in-memory database vanishes when the search ends; "
            "expected a file (sqlite:///results.db) or a server URL",
            field="storage",
        )


def stored_config(
    storage: Storage,
    name: str,
    *,
    trials: int | None = None,
    workers: int | None = None,
    time_budget: float | str | None = None,
) -> SearchConfig:
    """The definition a stored search was started with; budgets and workers may be changed."""
    return SearchConfig.from_stored(storage.get_search(name)).with_overrides(
        trials=trials, workers=workers, time_budget=time_budget
    )


def resume_search(
    name: str,
    storage: Storage,
    *,
    trials: int | None = None,
    workers: int | None = None,
    time_budget: float | str | None = None,
    **kw: Any,
) -> SearchOutcome:
    """Continue a stored search with the definition it was started with (a new time budget
    counts from this run's start)."""
    config = stored_config(storage, name, trials=trials, workers=workers, time_budget=time_budget)
    return run_search(config, storage, resume=True, **kw)
