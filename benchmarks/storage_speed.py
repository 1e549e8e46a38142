"""Storage speed: epoch rows written per second and query latency, against baselines measured in
the same run; and the per-trial cost of Optuna's in-memory vs RDB storage (why hpsearch keeps an
in-memory study and its own tables as the source of truth).

    python benchmarks/storage_speed.py [--pg postgresql+psycopg://user@host/db] [--trials 10000]

PostgreSQL runs too when --pg or env HPSEARCH_TEST_POSTGRES_URL names a server (a throw-away
database is created and dropped). Targets: add_epochs >= 100,000 rows/s on SQLite; "top 10 trials
by objective" and "learning curve of one trial" < 50 ms with 10,000 trials / 300,000 epochs.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpsearch.storage import EpochRecord, TrialOutcome, TrialState, open_storage  # noqa: E402
from hpsearch.storage._models import EpochRow  # noqa: E402
from tests.pg_util import create_database, drop_database, postgres_server_url  # noqa: E402

EPOCHS_PER_TRIAL = 30


def _curve(n: int, rng: random.Random) -> list[EpochRecord]:
    base = rng.uniform(0.2, 2.0)
    return [
        EpochRecord(
            e, base / e, 1 - base / (e + 1), base / e + 0.05, 0.9 - base / (e + 2), 0.01, 0.01 * e
        )
        for e in range(1, n + 1)
    ]


def _best_ms(fn: Callable[[], object], repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def bench_backend(label: str, url: str, n_trials: int) -> None:
    print(f"\n== {label}: {n_trials} trials x {EPOCHS_PER_TRIAL} epochs ==")
    rng = random.Random(0)
    with open_storage(url) as st:
        sid = st.create_search("bench", config={}).id
        began = time.perf_counter()
        ids = [
            st.start_trial(sid, n, {"learning_rate": 10 ** rng.uniform(-4, -1), "layers": 2})
            for n in range(n_trials)
        ]
        start_s = time.perf_counter() - began

        curves = [_curve(EPOCHS_PER_TRIAL, rng) for _ in ids]
        rows = 0
        began = time.perf_counter()
        for tid, curve in zip(ids, curves, strict=True):
            st.add_epochs(tid, curve)  # one call per trial (30 rows): the driver's typical batch
            rows += len(curve)
        per_trial_s = time.perf_counter() - began

        # bigger batches, as the driver's periodic flush writes them (many trials at once)
        extra = [st.start_trial(sid, n_trials + k, {"k": k}) for k in range(100)]
        big = [(tid, _curve(1000, rng)) for tid in extra]
        began = time.perf_counter()
        for tid, curve in big:
            st.add_epochs(tid, curve)
        big_s = time.perf_counter() - began
        big_rows = sum(len(c) for _, c in big)

        for tid in ids:
            outcome = TrialOutcome(
                TrialState.COMPLETE, values=(rng.uniform(0.05, 1.0),), epochs_run=30
            )
            st.finish_trial(tid, outcome, attempt=1)

        # baselines on the same database: batched ORM objects, one commit per row
        orm_tid = st.start_trial(sid, n_trials + 500, {})
        orm_rows = [
            EpochRow(trial_id=orm_tid, epoch=e, train_loss=1.0 / e, dev_loss=1.0 / e)
            for e in range(1, 5001)
        ]
        began = time.perf_counter()
        with st.session() as s:
            s.add_all(orm_rows)
        orm_rate = len(orm_rows) / (time.perf_counter() - began)

        one_tid = st.start_trial(sid, n_trials + 501, {})
        n_single = 200
        began = time.perf_counter()
        for e in range(1, n_single + 1):
            with st.session() as s:
                s.add(EpochRow(trial_id=one_tid, epoch=e, train_loss=1.0 / e))
        single_rate = n_single / (time.perf_counter() - began)

        batch_rate = rows / per_trial_s
        big_rate = big_rows / big_s
        print(f"start_trial                      {n_trials / start_s:10,.0f} trials/s")
        print(f"add_epochs, 30 rows per call     {batch_rate:10,.0f} rows/s")
        print(
            f"add_epochs, 1000 rows per call   {big_rate:10,.0f} rows/s   (target >= 100k, SQLite)"
        )
        orm_x, single_x = big_rate / orm_rate, big_rate / single_rate
        print(f"baseline ORM add_all + commit    {orm_rate:10,.0f} rows/s   (x{orm_x:.1f})")
        print(f"one commit per row (baseline)    {single_rate:10,.0f} rows/s   (x{single_x:.0f})")

        mid = ids[len(ids) // 2]
        top_ms = _best_ms(lambda: st.top_trials(sid, 10))
        curve_ms = _best_ms(lambda: st.epochs(mid))
        with st.session() as s:
            from sqlalchemy import text

            n_epochs = s.execute(text("SELECT COUNT(*) FROM hps_epochs")).scalar_one()
        print(f"query latency, {n_trials + 102:,} trials / {n_epochs:,} epoch rows (median of 20):")
        print(f"  top 10 trials by objective     {top_ms:8.2f} ms   (target < 50)")
        print(f"  learning curve of one trial    {curve_ms:8.2f} ms   (target < 50)")


def bench_optuna(tmpdir: Path) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("\n== Optuna: per-trial cost, to decide how the study is persisted ==")

    def ask_tell(storage: object, n: int) -> float:
        study = optuna.create_study(storage=storage)
        began = time.perf_counter()
        for _ in range(n):
            trial = study.ask()
            x = trial.suggest_float("x", -1, 1)
            study.tell(trial, x * x)
        return (time.perf_counter() - began) / n

    def report(storage: object, n: int, epochs: int) -> float:
        study = optuna.create_study(storage=storage)
        began = time.perf_counter()
        for _ in range(n):
            trial = study.ask()
            for e in range(1, epochs + 1):
                trial.report(1.0 / e, e)
            study.tell(trial, 0.1)
        return (time.perf_counter() - began) / (n * epochs)

    mem = ask_tell(None, 200)
    rdb = ask_tell(f"sqlite:///{tmpdir / 'optuna_asktell.db'}", 200)
    print(f"ask+tell, in-memory storage      {1e6 * mem:10,.0f} us/trial")
    print(
        f"ask+tell, RDBStorage on SQLite   {1e6 * rdb:10,.0f} us/trial   (x{rdb / mem:.0f} memory)"
    )
    rep_mem = report(None, 5, 30)
    rep_rdb = report(f"sqlite:///{tmpdir / 'optuna_report.db'}", 5, 30)
    print(f"trial.report, in-memory          {1 / rep_mem:10,.0f} rows/s")
    print(f"trial.report, RDBStorage SQLite  {1 / rep_rdb:10,.0f} rows/s")
    print(
        "decision: hpsearch's tables are the source of truth; the driver keeps an in-memory "
        "Optuna study rebuilt from them on resume; an export writes a real Optuna study."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument(
        "--pg", default=None, help="PostgreSQL server URL (a throw-away db is made)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        bench_backend("SQLite (file, WAL)", f"sqlite:///{tmpdir / 'bench.db'}", args.trials)
        server = args.pg or postgres_server_url()
        if server:
            if server.startswith(("postgresql://", "postgres://")):
                server = "postgresql+psycopg://" + server.split("://", 1)[1]
            url = create_database(server)
            try:
                bench_backend("PostgreSQL (psycopg 3)", url, args.trials)
            finally:
                drop_database(url)
        else:
            print("\n(PostgreSQL skipped: pass --pg URL or set HPSEARCH_TEST_POSTGRES_URL)")
        bench_optuna(tmpdir)


if __name__ == "__main__":
    main()
