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

import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url
from tests.ray_cluster import RAY, client_env, two_node_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

BIN = Path(sys.executable).parent
HPSEARCH = str(BIN / "hpsearch")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_quick.toml"
FINISHED_STATES = {"complete", "pruned"}


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
    env = client_env(ray_token_path)
    storage_url = create_database() if postgres_server_url() else None
    password = None
    if storage_url:
        storage_url, password = _with_password(storage_url)
    head_env = dict(env)
    if storage_url:
        head_env["HPSEARCH_STORAGE"] = storage_url  # compose sets it from the password secret
    timings: dict[str, float] = {}
    try:
        logs = tmp_path_factory.mktemp("ray-logs")
        with two_node_cluster(env, logs, head_env=head_env) as procs:
            timings = procs.timings
            yield Cluster(
                gcs_address=procs.gcs_address,
                dashboard_url=procs.dashboard_url,
                head_id=procs.head_id,
                worker_id=procs.worker_id,
                env=env,
                storage_url=storage_url,
                password=password,
                timings=timings,
            )
    finally:
        if storage_url:
            drop_database(storage_url)
        print(
            "\ncluster timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()),
            file=sys.stderr,
        )


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
