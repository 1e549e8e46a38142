"""A results database with stored searches, and the dashboard served on 127.0.0.1 in a thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from hpsearch.storage import Storage, open_storage
from tests.dashboard import stored


@dataclass
class Served:
    """A running dashboard: its base URL and the database it reads (and tests write)."""

    base: str
    store: Storage
    url: str


@pytest.fixture
def results(tmp_path) -> Iterator[tuple[str, Storage]]:
    url = f"sqlite:///{tmp_path / 'results.db'}"
    store = open_storage(url)
    stored.fill(store)
    yield url, store
    store.close()


@pytest.fixture
def serve(results) -> Iterator[Callable[..., Served]]:
    """``serve(token=None) -> Served``: the dashboard on a free loopback port, its own
    read connection (as ``hpsearch dashboard`` opens it), stopped at the end of the test."""
    import waitress

    from hpsearch.searcher._dashboard import dashboard_app

    url, store = results
    stops: list[Callable[[], None]] = []

    def start(token: str | None = None) -> Served:
        reader = open_storage(url, purpose="read", create=False)
        app = dashboard_app(reader, token=token, refresh_s=0.5)
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4, ident=None)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()

        def stop() -> None:
            server.close()
            thread.join(timeout=5)
            reader.close()

        stops.append(stop)
        return Served(base=f"http://127.0.0.1:{server.effective_port}", store=store, url=url)

    yield start
    for stop in stops:
        stop()
