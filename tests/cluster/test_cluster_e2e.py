"""The cluster path end to end, on real processes: the topology of docker/compose.yaml on loopback.

One module-wide two-node Ray cluster (``ray start --head`` plus a second ``ray start --address``
node, one CPU each, token authentication on) that is isolated from the test session's own Ray:
explicit ports, its own ``--temp-dir``, its own process groups. Searches then run through it the
two ways users run them: a driver connecting with ``--address``, and ``ray job submit`` to the
head, which finds ``HPSEARCH_STORAGE`` in its environment (as in compose, so the job's command
line holds no database password) and writes to a throw-away PostgreSQL database. Results are
read back with ``hpsearch trials --format json`` from another process.

Teardown stops exactly the processes started here (never ``ray stop``, which would kill every
Ray on the machine) and checks that none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url
except ImportError:  # pytest started from elsewhere than the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")
HPSEARCH = str(BIN / "hpsearch")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_quick.toml"
STARTED = "Ray runtime started"
FINISHED_STATES = {"complete", "pruned"}


@dataclass
class Node:
    """One ``ray start --block`` process (its own session and process group) and its log."""

    name: str
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    gcs_address: str  # host:port for `hpsearch run --address`
    dashboard_url: str  # http://host:port for `ray job submit --address`
    head_id: str
    worker_id: str
    env: dict[str, str]  # for clients: token auth on, no RAY_ADDRESS / HPSEARCH_STORAGE
    storage_url: str | None  # the PostgreSQL database the head's jobs write to, if configured
    password: str | None  # its password, which no output may show
    timings: dict[str, float] = field(default_factory=dict)


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


def _client_env(token_path: Path) -> dict[str, str]:
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


def _tree(root: int) -> set[tuple[int, str]]:
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
        procs |= _tree(node.proc.pid)
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


def _with_password(url: str) -> tuple[str, str | None]:
    """``url`` with a password in it, and that password, so the test can check it is never
    printed: the server's own password when the URL has one, else a random one when the server
    accepts it (trust authentication ignores it); (url, None) otherwise."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        return url, str(parsed.password)
    candidate = parsed.set(password=f"pw-{secrets.token_hex(8)}")
    engine = create_engine(candidate)
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception:
        return url, None
    finally:
        engine.dispose()
    return candidate.render_as_string(hide_password=False), str(candidate.password)


@pytest.fixture(scope="module")
def cluster(ray_token_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("ray-logs")
    # Unix socket paths must stay under ~107 characters: a short temp dir, shared by both nodes
    # (Ray allows one per node; sharing it is what ray.cluster_utils.Cluster does on one host).
    temp_dir = tempfile.mkdtemp(prefix="hps", dir="/tmp")
    env = _client_env(ray_token_path)
    storage_url = create_database() if postgres_server_url() else None
    password = None
    if storage_url:
        storage_url, password = _with_password(storage_url)
    head_env = dict(env)
    if storage_url:
        head_env["HPSEARCH_STORAGE"] = storage_url  # compose sets it from the password secret
    gcs_port, dashboard_port, client_port = _free_ports(3)
    nodes: list[Node] = []
    timings: dict[str, float] = {}
    began = time.perf_counter()
    try:
        common = [
            "--num-cpus=1",
            "--node-ip-address=127.0.0.1",
            f"--temp-dir={temp_dir}",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
        ]
        nodes.append(
            _start(
                "head",
                [
                    "--head",
                    f"--port={gcs_port}",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={dashboard_port}",
                    f"--ray-client-server-port={client_port}",
                    *common,
                    *_node_ports(),
                ],
                head_env,
                logs,
            )
        )
        _wait_started(nodes[0])
        nodes.append(
            _start(
                "worker",
                [f"--address=127.0.0.1:{gcs_port}", *common, *_node_ports()],
                env,
                logs,
            )
        )
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
        head = next(n for n in alive if n["is_head_node"])
        worker = next(n for n in alive if not n["is_head_node"])
        timings["cluster start"] = time.perf_counter() - began
        yield Cluster(
            gcs_address=f"127.0.0.1:{gcs_port}",
            dashboard_url=dashboard_url,
            head_id=head["node_id"],
            worker_id=worker["node_id"],
            env=env,
            storage_url=storage_url,
            password=password,
            timings=timings,
        )
    finally:
        stopping = time.perf_counter()
        survivors = _stop(nodes)
        leftovers = _left_running(temp_dir)
        timings["cluster stop"] = time.perf_counter() - stopping
        shutil.rmtree(temp_dir, ignore_errors=True)
        if storage_url:
            drop_database(storage_url)
        print(
            "\ncluster timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
            file=sys.stderr,
        )
        assert not survivors, f"processes survived teardown: {survivors}"
        assert not leftovers, f"processes of the test cluster still running: {leftovers}"


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout_s: float) -> str:
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    assert out.returncode == 0, (
        f"{' '.join(args[:3])} ... exited {out.returncode}\n"
        f"stdout:\n{out.stdout[-3000:]}\nstderr:\n{out.stderr[-3000:]}"
    )
    return out.stdout + out.stderr


def _stored_trials(name: str, storage: str, env: dict[str, str], cwd: Path) -> list[dict]:
    args = [HPSEARCH, "trials", name, "--storage", storage, "--format", "json"]
    out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _assert_spread_over_both_nodes(trials: list[dict], cluster: Cluster, budget: int) -> None:
    assert len(trials) == budget, [t["number"] for t in trials]
    assert sorted(t["number"] for t in trials) == list(range(budget))
    states = {t["number"]: t["state"] for t in trials}
    assert set(states.values()) <= FINISHED_STATES, states
    assert any(t["state"] == "complete" for t in trials), states
    nodes = {t["node_id"] for t in trials}
    assert nodes == {cluster.head_id, cluster.worker_id}, (
        f"trials ran on {nodes}; cluster nodes are head {cluster.head_id} "
        f"and worker {cluster.worker_id}"
    )
    for t in trials:
        assert t["worker_id"], t
        assert t["epochs_run"] >= 1, t


def test_job_api_needs_the_token(cluster: Cluster) -> None:
    """Token auth is on: the job API refuses a request without the token; compose's
    health-check endpoint answers without one."""
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.dashboard_url}/api/jobs/", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{cluster.dashboard_url}/api/gcs_healthz", timeout=10) as r:
        assert r.status == 200


def test_driver_with_address_runs_trials_on_both_nodes(cluster: Cluster, tmp_path: Path) -> None:
    """`hpsearch run --address host:port` from outside the cluster; SQLite, since only the
    driver writes."""
    storage = f"sqlite:///{tmp_path / 'cluster.db'}"
    began = time.perf_counter()
    output = _run(
        [
            HPSEARCH,
            "run",
            str(EXAMPLE),
            "--address",
            cluster.gcs_address,
            "--trials",
            "6",
            "--storage",
            storage,
        ],
        cluster.env,
        tmp_path,
        timeout_s=240,
    )
    cluster.timings["search via --address"] = time.perf_counter() - began
    assert "search 'digits-quick' finished" in output, output[-2000:]
    trials = _stored_trials("digits-quick", storage, cluster.env, tmp_path)
    _assert_spread_over_both_nodes(trials, cluster, budget=6)


def test_job_submission_writes_to_postgres_from_both_nodes(
    cluster: Cluster, tmp_path: Path
) -> None:
    """`ray job submit -- hpsearch run ...` against the head, as in docker/README.md: the job's
    driver runs on the head and takes the database URL from the head's HPSEARCH_STORAGE."""
    if cluster.storage_url is None:
        pytest.skip(SKIP_REASON)
    workdir = tmp_path / "job"
    workdir.mkdir()
    shutil.copy(EXAMPLE, workdir / EXAMPLE.name)
    began = time.perf_counter()
    output = _run(
        [
            RAY,
            "job",
            "submit",
            "--address",
            cluster.dashboard_url,
            "--working-dir",
            str(workdir),
            "--",
            "hpsearch",
            "run",
            EXAMPLE.name,
            "--name",
            "e2e-pg",
            "--trials",
            "6",
        ],
        cluster.env,
        tmp_path,
        timeout_s=300,
    )
    cluster.timings["search via ray job submit"] = time.perf_counter() - began
    assert "search 'e2e-pg' finished" in output, output[-2000:]
    assert "succeeded" in output, output[-2000:]
    if cluster.password:  # the job's output shows the database URL masked, never the password
        assert cluster.password not in output
        assert ":***@" in output, output[-2000:]
    trials = _stored_trials("e2e-pg", cluster.storage_url, cluster.env, tmp_path)
    _assert_spread_over_both_nodes(trials, cluster, budget=6)
