"""Real multi-process Ray clusters on loopback for tests: `ray start --block` nodes, each in its
own process group, isolated from the test session's own Ray (explicit ports, a short temp dir of
their own, token authentication on), and stopped exactly: never with `ray stop`, which would end
every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")
STARTED = "Ray runtime started"


@dataclass
class Node:
    """One ``ray start --block`` process (its own session and process group) and its log."""

    name: str
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_ports(n: int) -> list[int]:
    """n distinct ports free right now (held together while choosing, so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_env(token_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RAY_ADDRESS", "HPSEARCH_STORAGE", "RAY_AUTH_TOKEN", "RAY_API_SERVER_ADDRESS")
    }
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token_path),
        RAY_USAGE_STATS_ENABLED="0",
        # the job entrypoint (`hpsearch run`) runs on the head with the head's PATH
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _node_ports() -> list[str]:
    agent, agent_grpc, metrics, runtime_env, node_manager, object_manager = _free_ports(6)
    return [
        f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--metrics-export-port={metrics}",
        f"--runtime-env-agent-port={runtime_env}",
        f"--node-manager-port={node_manager}",
        f"--object-manager-port={object_manager}",
    ]


def _start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Node:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [RAY, "start", "--block", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stopped as a group, never by name
        )
    return Node(name, proc, log)


def _wait_started(node: Node, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if node.log.exists() and STARTED in node.log.read_text(errors="replace"):
            return
        if node.proc.poll() is not None:
            code = node.proc.returncode
            pytest.fail(f"`ray start` ({node.name}) exited with {code}:\n{node.tail()}")
        time.sleep(0.25)
    pytest.fail(f"`ray start` ({node.name}) not up after {timeout_s:.0f} s:\n{node.tail()}")


def _alive_nodes(dashboard_url: str, env: dict[str, str]) -> list[dict]:
    out = subprocess.run(
        [RAY, "list", "nodes", "--address", dashboard_url, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode != 0:
        return []
    try:
        nodes = json.loads(out.stdout)
    except json.JSONDecodeError:
        return []
    return [n for n in nodes if n.get("state") == "ALIVE"]


def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, start time, state) for every live process, read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, ppid, start = fields[0], int(fields[1]), fields[19]
        if state not in ("Z", "X"):  # zombies are gone, only not reaped yet
            table[int(entry.name)] = (ppid, start, state)
    return table


def process_tree(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of ``root`` and all its descendants: a pid plus its start time names
    one process, so a recycled pid is never mistaken for ours."""
    table = _proc_table()
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.add((pid, table[pid][1]))
            todo += [child for child, (ppid, _, _) in table.items() if ppid == pid]
    return found


def _alive(procs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    table = _proc_table()
    return {(pid, start) for pid, start in procs if pid in table and table[pid][1] == start}


def _stop(nodes: list[Node], grace_s: float = 20.0) -> list[int]:
    """Stop the given nodes (workers first) and everything they spawned; return what survived.

    SIGTERM to ``ray start --block`` alone makes it shut its node down in order (sending it to
    the whole group makes the GCS hang); whatever is still there after ``grace_s`` is killed.
    """
    procs: set[tuple[int, str]] = set()
    for node in reversed(nodes):  # the worker node before the head
        procs |= process_tree(node.proc.pid)
        if node.proc.poll() is None:
            node.proc.send_signal(signal.SIGTERM)
            try:
                node.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)  # its leader is alive: the group is ours
                node.proc.wait(timeout=30)
    for pid, _ in _alive(procs):  # Ray's workers live in process groups of their own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return sorted(pid for pid, _ in _alive(procs))


def _left_running(temp_dir: str) -> list[str]:
    """Processes whose command line names our temp dir (what `ps` would show of our cluster)."""
    found = []
    for pid in _proc_table():
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if temp_dir.encode() in cmdline and pid != os.getpid():
            found.append(f"{pid} {cmdline[:120].decode(errors='replace')}")
    return found


@dataclass
class TwoNodes:
    """A running head + worker-node cluster (one CPU each)."""

    head: Node
    worker: Node
    gcs_address: str  # host:port for `hpsearch run --address`
    dashboard_url: str  # http://host:port for `ray job submit --address`
    head_id: str
    worker_id: str
    temp_dir: str
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def two_node_cluster(
    env: dict[str, str], logs: Path, *, head_env: dict[str, str] | None = None
) -> Iterator[TwoNodes]:
    """Start a head and a second node, wait until both are alive, stop both on exit and check
    that nothing of theirs is left running."""
    # Unix socket paths must stay under ~107 characters: a short temp dir, shared by both nodes
    # (Ray allows one per node; sharing it is what ray.cluster_utils.Cluster does on one host).
    temp_dir = tempfile.mkdtemp(prefix="hps", dir="/tmp")
    gcs_port, dashboard_port, client_port = _free_ports(3)
    nodes: list[Node] = []
    timings: dict[str, float] = {}
    began = time.perf_counter()
    common = [
        "--num-cpus=1",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
    ]
    try:
        head_args = [
            "--head",
            f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard_port}",
            f"--ray-client-server-port={client_port}",
            *common,
            *_node_ports(),
        ]
        nodes.append(_start("head", head_args, head_env or env, logs))
        _wait_started(nodes[0])
        worker_args = [f"--address=127.0.0.1:{gcs_port}", *common, *_node_ports()]
        nodes.append(_start("worker", worker_args, env, logs))
        _wait_started(nodes[1])
        dashboard_url = f"http://127.0.0.1:{dashboard_port}"
        deadline = time.monotonic() + 60
        alive: list[dict] = []
        while time.monotonic() < deadline:
            alive = _alive_nodes(dashboard_url, env)
            if len(alive) == 2:
                break
            time.sleep(0.5)
        assert len(alive) == 2, f"expected 2 alive nodes, got {alive}\n{nodes[1].tail()}"
        timings["cluster start"] = time.perf_counter() - began
        yield TwoNodes(
            head=nodes[0],
            worker=nodes[1],
            gcs_address=f"127.0.0.1:{gcs_port}",
            dashboard_url=dashboard_url,
            head_id=next(n["node_id"] for n in alive if n["is_head_node"]),
            worker_id=next(n["node_id"] for n in alive if not n["is_head_node"]),
            temp_dir=temp_dir,
            timings=timings,
        )
    finally:
        stopping = time.perf_counter()
        survivors = _stop([n for n in nodes if n.proc.poll() is None] or nodes)
        leftovers = _left_running(temp_dir)
        timings["cluster stop"] = time.perf_counter() - stopping
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not survivors, f"processes survived teardown: {survivors}"
        assert not leftovers, f"processes of the test cluster still running: {leftovers}"
