"""A whole Ray node lost mid-search, on a real two-node cluster of `ray start` processes.

The worker node is killed (SIGKILL to its raylet and everything it spawned) while a trial runs on
it. The trial runs again on the surviving node with the same hyperparameters, the search reaches
its budget, and no trial or epoch row is duplicated.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tomli_w

try:
    from tests.cluster.test_cluster_e2e import (
        _alive_nodes,
        _client_env,
        _free_ports,
        _node_ports,
        _start,
        _stop,
        _tree,
        _wait_started,
    )
except ImportError:  # pytest started from elsewhere than the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.cluster.test_cluster_e2e import (
        _alive_nodes,
        _client_env,
        _free_ports,
        _node_ports,
        _start,
        _stop,
        _tree,
        _wait_started,
    )

import contextlib

from hpsearch.storage import FailReason, TrialState, open_storage

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

HPSEARCH = str(Path(sys.executable).parent / "hpsearch")

CONFIG = {
    "search": {
        "name": "node-lost",
        "trials": 4,
        "workers": 2,
        "sampler": "random",
        "pruner": "none",
        "seed": 5,
        "retries": 1,
    },
    "data": {"dataset": "digits"},
    "train": {"epochs": 300, "layers": 1, "units": 64, "batch_size": 64},
    "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
}


def test_worker_node_lost_mid_search(ray_token_path: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    temp_dir = tempfile.mkdtemp(prefix="hps", dir="/tmp")
    env = _client_env(ray_token_path)
    gcs_port, dashboard_port, client_port = _free_ports(3)
    common = [
        "--num-cpus=1",
        "--node-ip-address=127.0.0.1",
        f"--temp-dir={temp_dir}",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
    ]
    nodes = []
    driver = None
    url = f"sqlite:///{tmp_path / 'r.db'}"
    try:
        head = _start(
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
            env,
            logs,
        )
        nodes.append(head)
        _wait_started(head)
        worker = _start(
            "worker", [f"--address=127.0.0.1:{gcs_port}", *common, *_node_ports()], env, logs
        )
        nodes.append(worker)
        _wait_started(worker)
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        deadline = time.monotonic() + 60
        alive = []
        while time.monotonic() < deadline and len(alive) < 2:
            alive = _alive_nodes(dashboard, env)
            time.sleep(0.5)
        assert len(alive) == 2
        worker_id = next(n["node_id"] for n in alive if not n["is_head_node"])
        head_id = next(n["node_id"] for n in alive if n["is_head_node"])

        cfg = tmp_path / "node-lost.toml"
        cfg.write_text(tomli_w.dumps(copy.deepcopy(CONFIG)))
        driver = subprocess.Popen(
            [
                HPSEARCH,
                "run",
                str(cfg),
                "--address",
                f"127.0.0.1:{gcs_port}",
                "--storage",
                url,
                "--quiet",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        storage = open_storage(url)

        def on_worker_node():
            try:
                trials = storage.trials("node-lost")
            except Exception:
                return None
            running = [
                t
                for t in trials
                if t.state == TrialState.RUNNING and t.node_id == worker_id and t.environment
            ]
            return running[0] if running else None

        deadline = time.monotonic() + 120
        victim = None
        while time.monotonic() < deadline and victim is None:
            victim = on_worker_node()
            time.sleep(0.1)
        assert victim is not None, "no trial ever ran on the worker node"
        killed_at = time.monotonic()
        for pid, _ in _tree(worker.proc.pid):  # the whole node: raylet, its workers, `ray start`
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, _ = driver.communicate(timeout=300)
        recovered_s = time.monotonic() - killed_at
        assert driver.returncode == 0, out.decode()[-3000:]

        trials = {t.number: t for t in storage.trials("node-lost")}
        assert sorted(trials) == [0, 1, 2, 3]  # budget met
        again = trials[victim.number]
        assert again.params == victim.params  # same hyperparameters
        assert again.attempt == victim.attempt + 1
        assert again.state == TrialState.COMPLETE, (again.state, again.error_text)
        assert again.node_id == head_id  # ran again on the node that survived
        assert len(storage.epochs(again.id)) == 300
        for t in trials.values():
            assert t.state == TrialState.COMPLETE or t.fail_reason == FailReason.WORKER_LOST
        rows = [(t.id, e.epoch) for t in trials.values() for e in storage.epochs(t.id)]
        assert len(rows) == len(set(rows))
        print(f"\nnode lost: search recovered {recovered_s:.1f} s after the kill", file=sys.stderr)
        listed = subprocess.run(
            [HPSEARCH, "trials", "node-lost", "--storage", url, "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert len(json.loads(listed.stdout)) == 4
    finally:
        if driver is not None and driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        _stop([n for n in nodes if n.proc.poll() is None] or nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)
