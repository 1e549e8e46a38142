"""A small process that outlives a driver whose Ray took it down, and tells the truth for it.

When a local Ray's raylet goes (its agent was killed, say), Ray ends the driver's process at
once: no Python ``finally`` runs, the search and its trials would stay ``running`` under a dead
lease and the terminal would show no ``error:`` line. So a driver that started its own Ray also
starts this watchdog (``python -m hpsearch.searcher._watchdog``), sends it what it needs on its
stdin (one JSON line: the storage URL, the search, the lease holder, Ray's pids) and, once its
own end is recorded, the line ``done``. Should stdin close without ``done``, the driver died:
the watchdog names what died first, marks the search ``interrupted`` and its running trials
``interrupted`` (``hpsearch resume`` runs them again, with their retries intact), releases the
lease and prints one ``error:`` line on the driver's stderr.

It ignores Ctrl-C (the driver handles it and says ``done``) and loads nothing heavy until needed.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from typing import IO, Any

from hpsearch.searcher._local_ray import LocalRay

POLL_S = 0.05  # how often Ray's processes are looked at while the driver lives


def start(
    *, url: str, search_id: int, name: str, holder: dict[str, Any], ray_pids: dict[str, int]
) -> IO[str] | None:
    """Start the watchdog of this driver; returns the pipe to say ``done`` on (see :func:`done`).

    None when it cannot start (no harm: the driver works as before without it).
    """
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hpsearch.searcher._watchdog"],
            stdin=subprocess.PIPE,
            text=True,
            close_fds=True,
        )
        assert proc.stdin is not None
        info = {"url": url, "search_id": search_id, "name": name, "holder": holder}
        proc.stdin.write(json.dumps({**info, "ray_pids": ray_pids}) + "\n")
        proc.stdin.flush()
    except OSError:
        return None
    return proc.stdin


def done(pipe: IO[str] | None) -> None:
    """The driver recorded its own end: the watchdog leaves without a word."""
    if pipe is None:
        return
    try:
        pipe.write("done\n")
        pipe.close()
    except OSError:  # the watchdog is gone already
        pass


def _watch(info: dict[str, Any], rest: bytes) -> str | None:
    """Wait for ``done`` (None) or for stdin to close; then what died: the first of Ray's
    processes seen dead while the driver lived, else the driver itself."""
    ray = LocalRay(dict(info["ray_pids"])) if info["ray_pids"] else None
    first_dead: str | None = None
    while b"done" not in rest:
        readable, _, _ = select.select([0], [], [], POLL_S)
        if readable:
            chunk = os.read(0, 4096)
            if not chunk:  # closed without done: the driver died
                return first_dead or f"the driver (pid {info['holder']['pid']}) ended"
            rest += chunk
        elif ray is not None and first_dead is None:
            first_dead = ray.dead()
    return None


def _record(info: dict[str, Any], what: str) -> str:
    """Mark the search and its running trials interrupted (when the dead driver still holds its
    lease); the line to print."""
    from hpsearch.storage import (
        FailReason,
        LeaseHolder,
        SearchStatus,
        StorageError,
        open_storage,
    )

    name = info["name"]
    line = f"error: {what}: search {name!r} stopped"
    try:
        storage = open_storage(info["url"], max_retries=3)
        try:
            holder = LeaseHolder(**info["holder"])
            if storage.get_search(info["search_id"]).lease_holder != holder:
                return f"{line}; `hpsearch resume {name}` continues"
            storage.mark_running_trials(info["search_id"], reason=FailReason.INTERRUPTED)
            storage.set_search_status(info["search_id"], SearchStatus.INTERRUPTED)
            storage.release_lease(info["search_id"], holder)
        finally:
            storage.close()
    except (StorageError, OSError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        return f"{line} and could not be marked ({why}); `hpsearch resume {name}` continues"
    return f"{line}, running trials will run again; `hpsearch resume {name}` continues"


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    received = b""
    while b"\n" not in received:
        chunk = os.read(0, 65536)
        if not chunk:
            return 0
        received += chunk
    first, rest = received.split(b"\n", 1)
    info = json.loads(first)
    what = _watch(info, rest)
    if what is None:
        return 0
    print(_record(info, what), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
