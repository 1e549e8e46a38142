"""Entry points: run or resume a search on local Ray or a Ray cluster."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import ray

from hpsearch.errors import UserInputError
from hpsearch.searcher._config import SearchConfig, load_search_data
from hpsearch.searcher._driver import Driver, SearchInterrupted, SearchOutcome
from hpsearch.searcher._optuna import validate_optuna_settings
from hpsearch.searcher._progress import Progress
from hpsearch.storage import (
    DatabaseUnavailableError,
    FailReason,
    SearchStatus,
    Storage,
    StorageError,
    TrialState,
)


@contextmanager
def ray_session(address: str | None) -> Iterator[None]:
    """Connect to Ray (start a local instance when no address), unless already connected.

    Ray's token authentication stays as Ray sets it: hpsearch never turns it off.
    """
    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address is None and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]  # set by `ray job submit` on the head node
    if address is None:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise UserInputError(
            f"--address {address}: cannot connect to a Ray cluster ({e})"
        ) from None
    except ValueError as e:
        raise UserInputError(f"--address {address}: {e}") from None
    try:
        yield
    finally:
        ray.shutdown()


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

    Raises SearchInterrupted after Ctrl-C, once running trials are cancelled and recorded.
    """
    validate_optuna_settings(config)
    data = data if data is not None else load_search_data(config)
    progress = progress or Progress(quiet=True)
    t0 = time.monotonic()
    driver = Driver(config, storage, progress=progress, on_event=on_event, data=data)
    driver.prepare(resume=resume)
    search_id = driver.recorder.search_id
    status = SearchStatus.FAILED
    db_down: DatabaseUnavailableError | None = None
    try:
        with ray_session(address), _signals(driver):
            try:
                driver.run()
                status = SearchStatus.FINISHED
            except KeyboardInterrupt:
                driver.cancel_all(FailReason.INTERRUPTED)
                status = SearchStatus.INTERRUPTED
            except DatabaseUnavailableError as e:
                # Retries with back-off ran out: stop cleanly. Running trials stay "running" in
                # the database; `hpsearch resume` marks them and runs them again.
                driver.abandon()
                db_down = e
            finally:
                progress.stop()
            test = driver.evaluate_best_on_test() if status == SearchStatus.FINISHED else None
    finally:
        if db_down is None:
            storage.set_search_status(search_id, status)
            storage.release_lease(search_id)
        else:
            with suppress(StorageError):
                storage.set_search_status(search_id, SearchStatus.FAILED)
                storage.release_lease(search_id)
    if db_down is not None:
        raise DatabaseUnavailableError(
            f"{db_down}; search {config.search.name!r} stopped, finished trials are stored: "
            f"`hpsearch resume {config.search.name}` continues once the database is back"
        ) from None
    trials = storage.trials(search_id)
    best = None
    if driver.best_number is not None:
        best = next((t for t in trials if t.number == driver.best_number), None)
    outcome = SearchOutcome(
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


def stored_config(
    storage: Storage, name: str, *, trials: int | None = None, workers: int | None = None
) -> SearchConfig:
    """The definition a stored search was started with; budget and workers may be raised."""
    return SearchConfig.from_stored(storage.get_search(name)).with_overrides(
        trials=trials, workers=workers
    )


def resume_search(
    name: str, storage: Storage, *, trials: int | None = None, workers: int | None = None, **kw: Any
) -> SearchOutcome:
    """Continue a stored search with the definition it was started with."""
    config = stored_config(storage, name, trials=trials, workers=workers)
    return run_search(config, storage, resume=True, **kw)
