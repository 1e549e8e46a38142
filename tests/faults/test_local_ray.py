"""The local Ray that `hpsearch run` starts for itself: closed to other users, and its death told.

Each test runs `hpsearch run` as a subprocess with its own local Ray (never the test session's
shared one) and breaks or inspects that Ray: its listeners are on loopback only, its token file
is its owner's, and when its raylet, GCS or an agent is killed the driver stops with one line and
leaves the search and its trials in a state `resume` continues from.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from hpsearch.storage import FailReason, SearchStatus, TrialState, open_storage
from tests.faults.test_faults import BASE, running_pid, wait_for
from tests.ray_cluster import process_tree

pytestmark = pytest.mark.timeout(120)

HPSEARCH = str(Path(sys.executable).parent / "hpsearch")
LOOPBACK = ("127.", "[::ffff:127.", "[::1]", "::1")


def _start(tmp_path: Path, name: str, env: dict[str, str]) -> subprocess.Popen:
    raw = copy.deepcopy(BASE)
    raw["search"].update(name=name, trials=2, workers=2)
    raw["train"].update(epochs=3000, units=64)
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(raw))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    return subprocess.Popen(
        [HPSEARCH, "run", str(path), "--storage", url, "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _own_ray_env(home: Path) -> dict[str, str]:
    """A search that starts its own Ray, with Ray's default token file under ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env.update(HOME=str(home), RAY_AUTH_MODE="token", OPENBLAS_NUM_THREADS="1")
    return env


def _in_session(sid: int) -> set[int]:
    """Every live process of Unix session ``sid``: the driver starts one (start_new_session)
    and all of its Ray (GCS, raylet, agents, trial workers) stays in it, even the agents a
    killed raylet orphans, which the process tree misses once they are re-parented, and the
    trial workers, which have process groups of their own that ``killpg`` misses."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":
                    found.add(int(entry.name))
    return found


@contextlib.contextmanager
def _killed_at_exit(proc: subprocess.Popen):
    """Reap the search's whole Ray session, whatever happened, and check nothing is left: a
    killed raylet orphans its agents, and orphans left running break the next Ray started on
    this machine (they were the cause of a flaky failure in a later case)."""
    try:
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 30
        while (left := _in_session(proc.pid)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        names = {}
        for pid in left:
            with contextlib.suppress(OSError):
                names[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
        assert not names, f"processes of the search's Ray session left running: {names}"


def _ray_processes(driver: int) -> dict[int, str]:
    """pid -> name of the driver's descendants (Ray's GCS, raylet, agents, workers)."""
    out = {}
    for pid, _ in process_tree(driver):
        with contextlib.suppress(OSError):
            out[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
    return out


def _listeners(pids: set[int]) -> list[str]:
    """The local addresses of the TCP sockets those processes listen on."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, timeout=30).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append(line.split()[3])
    return found


def test_local_ray_listens_on_loopback_only_and_its_token_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = _start(tmp_path, "closed", _own_ray_env(home))
    with _killed_at_exit(proc):
        storage = open_storage(f"sqlite:///{tmp_path / 'r.db'}")
        wait_for(lambda: running_pid(storage, "closed", 0, 1), 90, "a trial running")
        ray_pids = set(_ray_processes(proc.pid)) | {proc.pid}
        listening = _listeners(ray_pids)
        assert listening  # Ray's servers are up
        outside = [a for a in listening if not a.startswith(LOOPBACK)]
        assert not outside, f"listening beyond loopback: {outside}"
    token = home / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE(token.parent.stat().st_mode) == 0o700


# the raylet and the GCS: the driver sees them die; the dashboard agent: Ray ends the driver's
# process at once (the raylet goes with its agent) and the driver's watchdog tells
@pytest.mark.parametrize("victim", ["raylet", "gcs_server", "ray::DashboardA"])
def test_local_ray_killed_stops_with_one_line(tmp_path: Path, victim: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = _start(tmp_path, "doomed", _own_ray_env(home))
    with _killed_at_exit(proc):
        storage = open_storage(f"sqlite:///{tmp_path / 'r.db'}")
        wait_for(lambda: running_pid(storage, "doomed", 0, 1), 90, "a trial running")
        (pid,) = [p for p, name in _ray_processes(proc.pid).items() if name == victim]
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - killed_at
    print(f"\n{victim} killed: driver stopped {stopped_s:.1f} s later", file=sys.stderr)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert victim in errors[0] and "hpsearch resume doomed" in errors[0]
    assert "Traceback" not in err
    assert proc.returncode == 1
    search = storage.get_search("doomed")
    assert search.status == SearchStatus.INTERRUPTED and search.lease_holder is None
    trials = storage.trials("doomed")
    assert trials and all(t.state != TrialState.RUNNING for t in trials)
    lost = [t for t in trials if t.state == TrialState.FAILED]
    assert lost and all(t.fail_reason == FailReason.INTERRUPTED for t in lost)
