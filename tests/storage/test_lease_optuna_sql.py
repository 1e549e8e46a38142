"""Leases on the database clock, coexistence with Optuna's tables, the README's SQL examples."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import optuna
import pytest
from sqlalchemy import text

from hpsearch.storage import (
    EpochRecord,
    FailReason,
    LeaseHeldError,
    LeaseHolder,
    LeaseLostError,
    SearchNotFoundError,
    Storage,
    TrialOutcome,
    TrialState,
    open_storage,
)

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- sql-examples:start -->", "<!-- sql-examples:end -->"


def test_lease_acquire_renew_refuse_takeover_release(storage: Storage) -> None:
    storage.create_search("s", config={})
    me, other = LeaseHolder("hostA", 111), LeaseHolder("hostB", 222)
    held = storage.acquire_lease("s", me, ttl_s=30)
    assert held.lease_holder == me and held.lease_expires_at > held.lease_heartbeat_at
    assert storage.acquire_lease("s", me, ttl_s=30).lease_holder == me  # renewal by the holder
    with pytest.raises(LeaseHeldError, match=r"host hostA pid 111") as err:
        storage.acquire_lease("s", other, ttl_s=30)
    assert "expires in" in str(err.value)
    expiry = storage.heartbeat("s", me)
    assert expiry >= held.lease_expires_at
    with pytest.raises(LeaseLostError, match="hostB pid 222 no longer holds"):
        storage.heartbeat("s", other)
    assert not storage.release_lease("s", other)
    assert storage.release_lease("s", me)
    assert storage.get_search("s").lease_holder is None

    storage.acquire_lease("s", me, ttl_s=0.05)
    time.sleep(0.2)  # the holder died: its lease goes stale on the database clock
    assert storage.acquire_lease("s", other, ttl_s=30).lease_holder == other
    with pytest.raises(LeaseLostError, match="driven by host hostB pid 222"):
        storage.heartbeat("s", me)
    with pytest.raises(SearchNotFoundError):
        storage.acquire_lease("missing", me)
    with pytest.raises(ValueError, match="ttl_s"):
        storage.acquire_lease("s", me, ttl_s=0)


def test_lease_held_across_two_storages(backend_url: str) -> None:
    with open_storage(backend_url) as first, open_storage(backend_url) as second:
        first.create_search("s", config={})
        first.acquire_lease("s", ttl_s=60)  # this process
        me = LeaseHolder.current()
        # the refusal names the live holder, seen through another connection
        with pytest.raises(LeaseHeldError, match=f"host {me.host} pid {me.pid} "):
            second.acquire_lease("s", LeaseHolder("elsewhere", 1))
        assert second.get_search("s").lease_holder == me


def test_coexists_with_optuna_tables(backend_url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="opt", storage=backend_url)
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=3)
    with open_storage(backend_url) as st:
        sid = st.create_search("ours", config={"a": 1}).id
        tid = st.start_trial(sid, 0, {"x": 0.5})
        st.add_epochs(tid, [EpochRecord(1, 0.1, 0.9)])
        st.finish_trial(tid, TrialOutcome(TrialState.COMPLETE, values=(0.04,)), attempt=1)
        with st.session() as s:
            optuna_version = s.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            optuna_trials = s.execute(text("SELECT COUNT(*) FROM trials")).scalar_one()
        assert optuna_trials == 3 and optuna_version  # untouched by our migrations
    again = optuna.load_study(study_name="opt", storage=backend_url)
    again.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=2)
    assert len(again.trials) == 5
    with open_storage(backend_url) as st:  # our schema check still passes after Optuna wrote
        assert st.best_trial("ours").value == 0.04


def _sql_examples() -> list[str]:
    body = (ROOT / "README.md").read_text().split(START, 1)[1].split(END, 1)[0]
    return re.findall(r"```sql\n(.*?)```", body, flags=re.DOTALL)


def test_readme_has_sql_examples() -> None:
    assert len(_sql_examples()) >= 5


def test_readme_sql_examples_run_verbatim(storage: Storage) -> None:
    sid = storage.create_search("demo", config={}).id
    other = storage.create_search("other", config={}).id
    storage.start_trial(other, 0, {"learning_rate": 1.0})
    for n, (lr, act, loss) in enumerate(
        [(0.1, "relu", 0.5), (0.01, "tanh", 0.2), (0.001, "relu", 0.3)]
    ):
        tid = storage.start_trial(sid, n, {"learning_rate": lr, "layers": n + 1, "activation": act})
        storage.add_epochs(
            tid, [EpochRecord(e, loss + 1 / e, 0.5, loss + 2 / e, 0.4) for e in (1, 2, 3)]
        )
        outcome = TrialOutcome(
            TrialState.COMPLETE, values=(loss,), dev_loss=loss, dev_accuracy=1 - loss
        )
        storage.finish_trial(tid, outcome, attempt=1)
    bad = storage.start_trial(sid, 3, {"learning_rate": 10.0, "layers": 1, "activation": "relu"})
    storage.add_epochs(bad, [EpochRecord(1, math.nan, 0.1, math.inf, 0.1)])
    diverged = TrialOutcome(TrialState.FAILED, fail_reason=FailReason.DIVERGED, diverged_epoch=1)
    storage.finish_trial(bad, diverged, attempt=1)

    results = []
    with storage.session() as s:
        for sql in _sql_examples():
            results.append(s.execute(text(sql)).all())
    counts, top, side_by_side, by_activation, curve, failures, nonfinite = results[:7]
    assert [tuple(r[:3]) for r in counts] == [("demo", "running", 4), ("other", "running", 1)]
    assert [r[0] for r in top] == [1, 2, 0]
    best = side_by_side[0]
    assert (best[0], best[2], best[3], best[4]) == (1, 0.01, 2.0, "tanh")
    assert {r[0]: r[1] for r in by_activation} == {"relu": 2, "tanh": 1}
    assert [r[0] for r in curve] == [1, 2, 3] and curve[0][2] == pytest.approx(2.5)
    assert [tuple(r[:2]) for r in failures] == [("diverged", 1)]
    assert [tuple(r) for r in nonfinite] == [(3, 1, "train_loss=nan,dev_loss=inf")]


def test_top_trials_and_learning_curve_use_indexes(tmp_path) -> None:
    with open_storage(f"sqlite:///{tmp_path / 'plan.db'}") as st, st.session() as s:
        top = s.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT * FROM hps_trials WHERE search_id = 1 AND state = "
                "'complete' AND objective IS NOT NULL ORDER BY objective LIMIT 10"
            )
        ).all()
        curve = s.execute(
            text("EXPLAIN QUERY PLAN SELECT * FROM hps_epochs WHERE trial_id = 5 ORDER BY epoch")
        ).all()
    top_plan, curve_plan = " ".join(r[-1] for r in top), " ".join(r[-1] for r in curve)
    assert "ix_hps_trials_search_state_objective" in top_plan and "TEMP B-TREE" not in top_plan
    assert "USING" in curve_plan and "TEMP B-TREE" not in curve_plan and "SCAN" not in curve_plan
