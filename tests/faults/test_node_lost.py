"""A whole Ray node lost mid-search, on a real two-node cluster of `ray start` processes.

The worker node is killed (SIGKILL to its raylet and everything it spawned) while a trial runs on
it. The trial runs again on the surviving node with the same hyperparameters, the search reaches
its budget, and no trial or epoch row is duplicated.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from hpsearch.storage import FailReason, TrialState, open_storage
from tests.ray_cluster import client_env, process_tree, two_node_cluster

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
    env = client_env(ray_token_path)
    url = f"sqlite:///{tmp_path / 'r.db'}"
    driver = None
    with two_node_cluster(env, logs) as cluster:
        try:
            cfg = tmp_path / "node-lost.toml"
            cfg.write_text(tomli_w.dumps(copy.deepcopy(CONFIG)))
            driver = subprocess.Popen(
                [
                    *(HPSEARCH, "run", str(cfg), "--address", cluster.gcs_address),
                    *("--storage", url, "--quiet"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            storage = open_storage(url)
            victim = _wait_for_trial_on(storage, cluster.worker_id)
            killed_at = time.monotonic()
            for pid, _ in process_tree(cluster.worker.proc.pid):  # raylet, its workers, `ray start`
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            out, _ = driver.communicate(timeout=300)
            recovered_s = time.monotonic() - killed_at
            assert driver.returncode == 0, out.decode()[-3000:]
        finally:
            if driver is not None and driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
                driver.wait()

    trials = {t.number: t for t in storage.trials("node-lost")}
    assert sorted(trials) == [0, 1, 2, 3]  # budget met
    again = trials[victim.number]
    assert again.params == victim.params  # same hyperparameters
    assert again.attempt == victim.attempt + 1
    assert again.state == TrialState.COMPLETE, (again.state, again.error_text)
    assert again.node_id == cluster.head_id  # ran again on the node that survived
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


def _wait_for_trial_on(storage, node_id: str, timeout_s: float = 120.0):
    """The first trial seen running on the given node (once its worker reported in)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            trials = storage.trials("node-lost")
        except Exception:  # the driver has not created the search yet
            trials = []
        for t in trials:
            if t.state == TrialState.RUNNING and t.node_id == node_id and t.environment:
                return t
        time.sleep(0.1)
    raise AssertionError("no trial ever ran on the worker node")
