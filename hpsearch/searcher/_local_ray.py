"""What the Ray hpsearch runs on can give (CPUs, memory), and which process of a local Ray died.

When the raylet, the GCS or one of the raylet's agents of a local Ray dies, Ray's driver is not
told: the trials' streams simply stop (or the driver's core worker exits a minute later). The
driver asks :meth:`LocalRay.dead` about once a second and stops the search with one line naming
the process that died. Linux's ``/proc`` only: elsewhere nothing is watched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsearch.errors import UserInputError

# the processes a local Ray cannot run without, as Ray names them in its node's process table
_VITAL = ("gcs_server", "raylet")
# the raylet's agents, by a piece of their command line (Ray renames them once started): the
# raylet exits when one dies
_AGENTS = {
    "ray::DashboardAgent": "ray::DashboardAgent",
    "dashboard/agent.py": "ray::DashboardAgent",
    "ray::RuntimeEnvAgent": "ray::RuntimeEnvAgent",
    "runtime_env/agent": "ray::RuntimeEnvAgent",
}


@dataclass
class LocalRay:
    """The pids of the local Ray's vital processes, by name."""

    pids: dict[str, int]
    _next_scan: float = 0.0

    @classmethod
    def started_here(cls) -> LocalRay | None:
        """The Ray this process started with ``ray.init`` (None when it started none)."""
        from ray._private import worker

        node = getattr(worker, "_global_node", None)
        processes = getattr(node, "all_processes", None) or {}
        pids = {
            name: infos[0].process.pid
            for name, infos in processes.items()
            if name in _VITAL and infos and getattr(infos[0], "process", None) is not None
        }
        if not pids or not Path("/proc").is_dir():
            return None
        return cls(pids)

    def dead(self) -> str | None:
        """What was found dead ("the local Ray's raylet (pid 123) died"), else None."""
        self._find_agents()
        # all those found dead: several at once went down together, which one first is unknown
        dead = [f"{name} (pid {pid})" for name, pid in self.pids.items() if not _alive(pid)]
        if not dead:
            return None
        return f"the local Ray's {' and '.join(dead)} died"

    def _find_agents(self) -> None:
        """Add the raylet's agents once they are up (the raylet starts them after itself)."""
        raylet = self.pids.get("raylet")
        if raylet is None or all(a in self.pids for a in _AGENTS.values()):
            return
        if time.monotonic() < self._next_scan:  # a look through /proc at most once a second
            return
        self._next_scan = time.monotonic() + 1.0
        for pid in _children(raylet):
            cmdline = _cmdline(pid)
            for piece, name in _AGENTS.items():
                if piece in cmdline:
                    self.pids.setdefault(name, pid)


@dataclass
class JoinedCluster:
    """A Ray cluster hpsearch connected to: its GCS is asked every few seconds whether it still
    answers (a driver whose GCS is gone would otherwise wait, then exit without a word)."""

    address: str
    every_s: float = 5.0
    give_up_after: int = 3  # consecutive unanswered asks
    ask: Callable[[], object] | None = None  # default: a key lookup in the GCS's store
    _unanswered: int = 0
    _last: float = -1e9

    @classmethod
    def joined(cls) -> JoinedCluster:
        import ray

        return cls(ray.get_runtime_context().gcs_address)

    def dead(self) -> str | None:
        """What stopped answering, once the GCS missed ``give_up_after`` asks in a row."""
        if time.monotonic() - self._last < self.every_s:
            return None
        self._last = time.monotonic()
        try:
            (self.ask or _ask_gcs)()
        except Exception:
            self._unanswered += 1
        else:
            self._unanswered = 0
        if self._unanswered < self.give_up_after:
            return None
        return f"the Ray cluster's GCS at {self.address} stopped answering"


def _ask_gcs() -> object:
    from ray._private import worker

    return worker.global_worker.gcs_client.internal_kv_exists(b"hpsearch", None, timeout=3)


def _alive(pid: int) -> bool:
    """Running (a killed child of this process stays a zombie until reaped: that is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def check_cpus(cpus_per_trial: int) -> None:
    """Refuse a trial size no node of the Ray cluster can run (it would wait forever).

    Raises:
        UserInputError: field ``search.cpus_per_trial``.
    """
    import ray

    largest = max(
        (n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0
    )
    if cpus_per_trial > largest:
        raise UserInputError(
            f"search.cpus_per_trial = {cpus_per_trial}: no Ray node has that many CPUs "
            f"(the largest has {largest:g}); expected at most {largest:g}",
            field="search.cpus_per_trial",
        )


def auto_memory_limit_bytes(cpus_per_trial: int) -> int:
    """``memory_limit_mb = 0``: what a trial's node can give, from Ray's ``memory`` resource of
    the smallest node that can run a trial (else this machine's, ``default_memory_limit_mb``)."""
    import ray

    from hpsearch.searcher._preflight import default_memory_limit_mb

    memory = [
        n["Resources"]["memory"]
        for n in ray.nodes()
        if n.get("Alive")
        and n["Resources"].get("CPU", 0.0) >= cpus_per_trial
        and n["Resources"].get("memory")
    ]
    return int(min(memory)) if memory else default_memory_limit_mb() * 2**20
