"""Dashboard speed: does watching a search slow its writer, and how fast is the trials API at size.

    python benchmarks/dashboard_speed.py [--trials 10000] [--epochs 30] [--pg URL] [--seconds 4]

1. Writer slowdown (issue 11: within 10%): the benchmark process writes epochs as the driver does
   (start a trial, one ``add_epochs`` per epoch, finish it after 30) into a running search on
   SQLite, in alternating phases without and with ``hpsearch dashboard`` (a separate process,
   serving on 127.0.0.1) polled by a client every 1 s (the page polls every 2-5 s) on the
   trials API of that very search, asking for the trials it lacks as the page does; it prints
   each phase's epochs/s and the ratio of the medians (3 phases each, alternating, so the
   load of a shared machine hits both alike).
2. Latency at size (issue 11: p95 < 300 ms): 10,000 trials / 300,000 epochs (8 left running), the
   trials API ``GET /api/studies/<id>?after=<finished>`` as the page polls it (re-reads running
   and new trials only), a full load with nothing cached (``after=0``: every trial and curve
   read once; the server does this in the background at start-up), a warm full load (the page's
   first request) and the study list; p50/p95 over repeated requests, over HTTP to a
   waitress server in a child process. SQLite always; PostgreSQL with --pg or
   $HPSEARCH_TEST_POSTGRES_URL (a throw-away database, dropped at the end).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpsearch.storage import EpochRecord, TrialOutcome, TrialState, open_storage  # noqa: E402
from tests.pg_util import create_database, drop_database, postgres_server_url  # noqa: E402

NAME = "bench"
RUNNING = 8


def _config(trials: int) -> dict:
    from hpsearch.searcher import parse_config

    doc = {
        "search": {"name": NAME, "trials": trials, "objective": "dev_loss", "seed": 0},
        "data": {"dataset": "iris"},
        "train": {"epochs": 30},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        },
    }
    return parse_config(doc).to_dict()


def _epoch(e: int, base: float) -> EpochRecord:
    return EpochRecord(e, base / e, 1 - base / (e + 1), base / e + 0.05, 0.9 - base / (e + 2))


def populate(url: str, n_trials: int, n_epochs: int) -> None:
    """A running search: n_trials trials of n_epochs epochs, the last RUNNING still running."""
    rng = random.Random(0)
    st = open_storage(url)
    st.create_search(NAME, config=_config(n_trials), objectives=["dev_loss"])
    t0 = time.perf_counter()
    for n in range(n_trials):
        params = {"learning_rate": 10 ** rng.uniform(-4, -1), "dropout": rng.uniform(0, 0.5)}
        tid = st.start_trial(NAME, n, params, seed=n)
        base = rng.uniform(0.2, 2.0)
        st.add_epochs(tid, [_epoch(e, base) for e in range(1, n_epochs + 1)], attempt=1)
        if n < n_trials - RUNNING:
            st.finish_trial(
                tid,
                TrialOutcome(TrialState.COMPLETE, values=(base / n_epochs + 0.05,)),
                attempt=1,
            )
    print(
        f"  stored {n_trials:,} trials / {n_trials * n_epochs:,} epochs in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    st.close()


def _serve(url: str, port_q: mp.Queue, poll_s: float, stop: mp.Event) -> None:
    """Child process: the dashboard on 127.0.0.1 and, with poll_s > 0, a client polling it."""
    import threading

    import waitress

    from hpsearch.searcher._dashboard import dashboard_app

    reader = open_storage(url, purpose="read", create=False)
    # refresh_s=0: every poll really re-reads running and new trials (the server's default
    # is 1 s), so these figures are the worst case
    server = waitress.create_server(
        dashboard_app(reader, refresh_s=0.0), host="127.0.0.1", port=0, threads=4, ident=None
    )
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{server.effective_port}"
    port_q.put(base)
    have = 0  # finished trials the "page" holds: it asks for the rest, as the page does
    while not stop.is_set():
        if poll_s > 0:
            with urllib.request.urlopen(f"{base}/api/studies/1?after={have}", timeout=120) as r:
                trials = json.loads(r.read())["trials"]
            done = [t["state"] not in ("Running", "Waiting") for t in trials]
            have += done.index(False) if False in done else len(done)
        stop.wait(poll_s if poll_s > 0 else 0.2)
    server.close()


def _get(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
    return time.perf_counter() - t0


def _start(url: str, poll_s: float) -> tuple[mp.Process, mp.Event, str]:
    q: mp.Queue = mp.Queue()
    stop = mp.Event()
    proc = mp.Process(target=_serve, args=(url, q, poll_s, stop), daemon=True)
    proc.start()
    return proc, stop, q.get(timeout=120)


def _stop(proc: mp.Process, stop: mp.Event) -> None:
    stop.set()
    proc.join(timeout=30)
    if proc.is_alive():
        proc.terminate()


def writer_slowdown(seconds: float) -> None:
    print(f"\n== writer slowdown: epochs/s in {seconds:.0f}-second phases (SQLite) ==")
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'w.db'}"
        populate(url, 200, 30)  # a search already under way
        st = open_storage(url)
        state = {"n": 10_000}

        def write_for(limit: float) -> float:
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < limit:
                n = state["n"] = state["n"] + 1
                tid = st.start_trial(NAME, n, {"learning_rate": 0.01, "dropout": 0.1})
                for e in range(1, 31):
                    st.add_epochs(tid, [_epoch(e, 1.0)], attempt=1)
                    done += 1
                st.finish_trial(tid, TrialOutcome(TrialState.COMPLETE, values=(0.1,)), attempt=1)
            return done / (time.perf_counter() - t0)

        rates: dict[str, list[float]] = {"without": [], "with": []}
        for phase in ("without", "with") * 3:
            proc = stop = None
            if phase == "with":
                proc, stop, base = _start(url, poll_s=1.0)
                _get(f"{base}/api/studies/1?after=0")  # the page is open already
            rates[phase].append(write_for(seconds))
            if proc is not None:
                _stop(proc, stop)
            print(f"  {phase:8s} dashboard  {rates[phase][-1]:8,.0f} epochs/s")
        st.close()
        ratio = statistics.median(rates["with"]) / statistics.median(rates["without"])
        print(f"  with / without (medians) = {ratio:.3f} (target >= 0.90)")


def _p(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, math.ceil(q * len(xs)) - 1)]


def latency(label: str, url: str, n_trials: int, n_epochs: int, repeats: int) -> None:
    print(
        f"\n== trials API latency, {label}: {n_trials:,} trials / {n_trials * n_epochs:,} "
        f"epochs, {RUNNING} running =="
    )
    populate(url, n_trials, n_epochs)
    proc, stop, base = _start(url, poll_s=0.0)
    try:
        cold = _get(f"{base}/api/studies/1?after=0")
        print(
            f"  full load, nothing cached (after=0)     {cold * 1000:8.0f} ms  "
            "(hpsearch dashboard warms this up in the background at start-up)"
        )
        finished = n_trials - RUNNING
        rows = [
            ("poll as the page does (after=finished)", f"/api/studies/1?after={finished}"),
            ("study list", "/api/studies"),
            ("full load (warm, after=0)", "/api/studies/1?after=0"),
        ]
        for what, path in rows:
            n = repeats if "after=0" not in path else max(5, repeats // 10)
            times = [_get(base + path) for _ in range(n)]
            print(
                f"  {what:40s} p50 {_p(times, 0.5) * 1000:6.0f} ms  "
                f"p95 {_p(times, 0.95) * 1000:6.0f} ms  ({n} requests)"
            )
    finally:
        _stop(proc, stop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--pg", default=None)
    ap.add_argument("--skip-writer", action="store_true")
    args = ap.parse_args()
    if not args.skip_writer:
        writer_slowdown(args.seconds)
    with tempfile.TemporaryDirectory() as d:
        latency("SQLite", f"sqlite:///{Path(d) / 'l.db'}", args.trials, args.epochs, args.repeats)
    server = args.pg or postgres_server_url()
    if server:
        url = create_database(server)
        try:
            latency("PostgreSQL", url, args.trials, args.epochs, args.repeats)
        finally:
            drop_database(url)


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
