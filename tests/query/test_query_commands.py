"""`hpsearch searches/trials/show/compare/export/report/replay/predict` against a real search,
with every number printed checked against the database (Storage API or plain SQL)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import TrialState

runner = CliRunner()


def cli(db, *args: str):
    return runner.invoke(app, [*args, "--storage", db.url])


def sql(db, query: str, **params) -> list[tuple]:
    engine = create_engine(db.url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), params)]
    finally:
        engine.dispose()


def counts(db) -> tuple[int, int, int]:
    return (
        sql(db, "SELECT count(*) FROM hps_trials")[0][0],
        sql(db, "SELECT count(*) FROM hps_trial_params")[0][0],
        sql(db, "SELECT count(*) FROM hps_epochs")[0][0],
    )


def widest(output: str) -> int:
    return max(len(line) for line in output.splitlines())


# --- searches --------------------------------------------------------------------------------


def test_searches_lists_counts_and_best_from_the_database(search_db):
    result = cli(search_db, "searches", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert set(rows) == {"iris-q", "iris-q-b"}
    for name, r in rows.items():
        states = dict(
            sql(
                search_db,
                "SELECT t.state, count(*) FROM hps_trials t JOIN hps_searches s "
                "ON s.id = t.search_id WHERE s.name = :n GROUP BY t.state",
                n=name,
            )
        )
        assert int(r["trials"]) == sum(states.values()) == 7
        assert int(r["complete"]) == states.get("complete", 0)
        assert int(r["pruned"]) == states.get("pruned", 0)
        assert int(r["failed"]) == states.get("failed", 0)
        best = sql(
            search_db,
            "SELECT max(t.objective) FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id "
            "WHERE s.name = :n AND t.state = 'complete'",
            n=name,
        )[0][0]
        assert float(r["best"]) == best
        assert r["status"] == "finished" and float(r["duration_s"]) > 0
    table = cli(search_db, "searches")
    assert table.exit_code == 0 and widest(table.stdout) <= 80
    assert "iris-q-b" in table.stdout


# --- trials: filters, sort, top, state ------------------------------------------------------


def trials_json(db, *args: str) -> list[dict]:
    result = cli(db, "trials", db.name, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_trials_json_stays_compatible_and_matches_storage(search_db):
    rows = trials_json(search_db)
    stored = search_db.store.trials(search_db.name)
    assert [r["number"] for r in rows] == [t.number for t in stored]
    for r, t in zip(rows, stored, strict=True):
        assert {"number", "state", "params", "values", "dev_accuracy"} <= set(r)
        assert r["state"] == t.state.value and r["params"] == t.params
        assert r["dev_accuracy"] == t.dev_accuracy
        assert r["values"] == (list(t.values) if t.values else None)


def test_top_k_is_the_best_by_the_objective(search_db):
    rows = trials_json(search_db, "--top", "3")
    best = sql(
        search_db,
        "SELECT t.number FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id "
        "WHERE s.name = :n AND t.objective IS NOT NULL ORDER BY t.objective DESC, t.number "
        "LIMIT 3",
        n=search_db.name,
    )
    assert [r["number"] for r in rows] == [b[0] for b in best]


def test_where_on_a_hyperparameter_matches_plain_sql(search_db):
    dropouts = sorted(t.params["dropout"] for t in search_db.store.trials(search_db.name))
    cut = dropouts[len(dropouts) // 2]
    rows = trials_json(search_db, "--where", f"dropout > {cut!r}", "--sort", "-dropout")
    expected = sql(
        search_db,
        "SELECT t.number FROM hps_trials t JOIN hps_searches s ON s.id = t.search_id "
        "JOIN hps_trial_params p ON p.trial_id = t.id WHERE s.name = :n AND p.name = 'dropout' "
        "AND p.value_float > :cut ORDER BY p.value_float DESC",
        n=search_db.name,
        cut=cut,
    )
    assert [r["number"] for r in rows] == [e[0] for e in expected]
    assert 0 < len(rows) < len(dropouts)


def test_text_filter_state_filter_and_two_wheres_combine(search_db):
    trials = search_db.store.trials(search_db.name)
    rows = trials_json(search_db, "--where", "optimizer = adam", "--state", "complete")
    want = [
        t.number
        for t in trials
        if t.params["optimizer"] == "adam" and t.state == TrialState.COMPLETE
    ]
    assert [r["number"] for r in rows] == want
    rows = trials_json(search_db, "--where", "optimizer != adam", "--where", "units >= 10")
    want = [t.number for t in trials if t.params["optimizer"] != "adam" and t.params["units"] >= 10]
    assert [r["number"] for r in rows] == want
    rows = trials_json(search_db, "--sort", "learning_rate:desc", "--top", "2")
    lrs = sorted((t.params["learning_rate"] for t in trials), reverse=True)[:2]
    assert [r["params"]["learning_rate"] for r in rows] == lrs


@pytest.mark.parametrize(
    "bad",
    [
        "1; DROP TABLE hps_trials",
        "dropout > 0.1; DROP TABLE hps_trials --",
        "dropout > 0.1 OR 1=1",
        "nosuch > 1",
        "dropout > 'x'",
        "optimizer > adam",
        "state = exploded",
        "'; DELETE FROM hps_epochs; --",
        "",
    ],
)
def test_hostile_or_malformed_filters_get_one_line_and_touch_nothing(search_db, bad):
    before = counts(search_db)
    result = cli(search_db, "trials", search_db.name, "--where", bad)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --where")
    assert "Traceback" not in result.output
    assert counts(search_db) == before


def test_bad_sort_and_state_are_one_line_errors(search_db):
    for args in (["--sort", "nosuch"], ["--sort", "dropout;drop"], ["--state", "bogus"]):
        result = cli(search_db, "trials", search_db.name, *args)
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_trials_table_and_csv_fit_and_carry_full_values(search_db):
    table = cli(search_db, "trials", search_db.name)
    assert table.exit_code == 0 and widest(table.stdout) <= 80
    for t in search_db.store.trials(search_db.name):
        assert f"{t.params['units']}" in table.stdout
    result = cli(search_db, "trials", search_db.name, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    stored = {t.number: t for t in search_db.store.trials(search_db.name)}
    for r in rows:
        assert float(r["dropout"]) == stored[int(r["number"])].params["dropout"]


# --- show ------------------------------------------------------------------------------------


def test_show_prints_everything_about_a_trial(search_db):
    best = search_db.store.best_trial(search_db.name)
    result = cli(search_db, "show", search_db.name, str(best.number))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert widest(out) <= 80
    assert f"trial {best.number} of search 'iris-q': complete" in out
    assert f"{best.dev_accuracy:.4g}" in out and f"{best.train_loss:.4g}" in out
    assert best.params["optimizer"] in out
    assert "learning curve (accuracy)" in out and "* train" in out and "o dev" in out
    assert "bias/variance:" in out and "next step:" in out
    assert "seed " + str(best.seed) in out
    js = json.loads(
        cli(search_db, "show", search_db.name, str(best.number), "--format", "json").stdout
    )
    assert len(js["epochs"]) == len(search_db.store.epochs(best.id))
    assert js["dev_accuracy"] == best.dev_accuracy and js["advice"]
    missing = cli(search_db, "show", search_db.name, "999")
    assert missing.exit_code == 2 and "no trial number 999" in missing.stderr


# --- compare ---------------------------------------------------------------------------------


def test_compare_side_by_side(search_db):
    result = cli(search_db, "compare", "iris-q", "iris-q-b", "--format", "json")
    assert result.exit_code == 0, result.output
    cols = json.loads(result.stdout)
    for c in cols:
        best = search_db.store.best_trial(c["search"])
        trials = search_db.store.trials(c["search"])
        assert c["best"] == best.value and c["best_trial"] == best.number
        assert c["best_params"] == best.params
        assert c["trials"] == len(trials)
        pruned = sum(t.state == TrialState.PRUNED for t in trials) / len(trials)
        assert c["pruned_share"] == pytest.approx(pruned)
        assert c["time_to_best_s"] > 0
        if c["importance"]:
            assert set(c["importance"]) <= {"learning_rate", "dropout", "units", "optimizer"}
            assert sum(c["importance"].values()) == pytest.approx(1.0)
    table = cli(search_db, "compare", "iris-q", "iris-q-b", "iris-q")
    assert table.exit_code == 0 and widest(table.stdout) <= 80
    assert "time to best" in table.stdout and "importance" in table.stdout


# --- export ----------------------------------------------------------------------------------


def test_export_csv_json_and_epochs(search_db, tmp_path: Path):
    out = tmp_path / "t.csv"
    result = cli(search_db, "export", search_db.name, "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    stored = {t.number: t for t in search_db.store.trials(search_db.name)}
    assert len(rows) == len(stored)
    for r in rows:
        t = stored[int(r["number"])]
        assert float(r["param_learning_rate"]) == t.params["learning_rate"]
        if t.dev_loss is not None:
            assert float(r["dev_loss"]) == t.dev_loss
    js = json.loads(cli(search_db, "export", search_db.name, "--format", "json").stdout)
    assert [r["number"] for r in js] == sorted(stored)
    long = json.loads(
        cli(search_db, "export", search_db.name, "--format", "json", "--epochs").stdout
    )
    n_epochs = sql(
        search_db,
        "SELECT count(*) FROM hps_epochs e JOIN hps_trials t ON t.id = e.trial_id "
        "JOIN hps_searches s ON s.id = t.search_id WHERE s.name = :n",
        n=search_db.name,
    )[0][0]
    assert len(long) == n_epochs and {"number", "epoch", "dev_loss"} <= set(long[0])


def test_export_to_a_real_optuna_study(search_db, tmp_path: Path):
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = cli(search_db, "export", search_db.name, "--optuna", url, "--out", str(tmp_path / "x"))
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name=search_db.name, storage=url)
    stored = search_db.store.trials(search_db.name)
    assert len(study.trials) == len(stored)
    best = search_db.store.best_trial(search_db.name)
    assert study.best_value == best.value
    # on a tie (iris often reaches dev accuracy 1.0 twice) each side may pick another of the
    # equally best trials: Optuna's best must be one of them
    tied = {t.number for t in stored if t.state == TrialState.COMPLETE and t.value == best.value}
    assert study.best_trial.user_attrs["number"] in tied and best.number in tied
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == sum(t.state == TrialState.PRUNED for t in stored)
    # Optuna's own tools work on it
    assert optuna.importance.get_param_importances(study)
    again = cli(search_db, "export", search_db.name, "--optuna", url, "--out", str(tmp_path / "x"))
    assert again.exit_code == 2 and "already exists" in again.stderr


# --- report ----------------------------------------------------------------------------------


def test_report_is_one_self_contained_html_with_every_plot(search_db, tmp_path: Path):
    from hpsearch.searcher._report import SECTIONS

    out = tmp_path / "report.html"
    result = cli(search_db, "report", search_db.name, "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    for div_id, title in SECTIONS:
        assert f'id="{div_id}"' in page and title in page
    assert page.count("Plotly.newPlot(") == 5  # history, parallel, importance, curves, map
    # no external scripts, stylesheets or images: everything is inline
    assert not re.search(
        r"""<(script|link|img|iframe)[^>]+(src|href)\s*=\s*["']?(https?:)?//""", page
    )
    assert len(page) > 1_000_000  # the plotly.js bundle is inlined
    best = search_db.store.best_trial(search_db.name)
    assert f"best trial <b>{best.number}</b>" in page
    assert "Best Value" in page  # Optuna's running-best line in the history plot


# --- replay and predict ----------------------------------------------------------------------


def test_replay_matches_bit_for_bit(search_db):
    best = search_db.store.best_trial(search_db.name)
    result = cli(search_db, "replay", search_db.name, str(best.number), "--format", "json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["identical"] and r["dataset_checked"] and r["mismatches"] == []
    assert r["replayed"]["dev_accuracy"] == best.dev_accuracy
    assert r["replayed"]["train_loss"] == best.train_loss
    pruned = search_db.store.trials(search_db.name, states=["pruned"])
    if pruned:
        p = cli(search_db, "replay", search_db.name, str(pruned[0].number), "--format", "json")
        assert p.exit_code == 0 and json.loads(p.stdout)["epochs"] == pruned[0].epochs_run


def test_replay_reports_a_difference_and_the_environment(search_db, tmp_path: Path):
    if search_db.backend != "sqlite":
        pytest.skip("tampering runs on a copy of the SQLite file")
    path = Path(search_db.url.removeprefix("sqlite:///"))
    copy = tmp_path / "tampered.db"
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # the live file may keep recent pages in its WAL: copy through SQLite
    url = f"sqlite:///{copy}"
    best = search_db.store.best_trial(search_db.name)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE hps_epochs SET dev_loss = dev_loss + 1e-9 WHERE trial_id = :t AND epoch = 2"
            ),
            {"t": best.id},
        )
        env = dict(best.environment)
        env["numpy"] = "1.26.0"
        conn.execute(
            text("UPDATE hps_trials SET environment = :e WHERE id = :t"),
            {"e": json.dumps(env), "t": best.id},
        )
    engine.dispose()
    result = runner.invoke(app, ["replay", search_db.name, str(best.number), "--storage", url])
    assert result.exit_code == 1
    assert "DIFFERENT" in result.stdout and "epoch 2 dev_loss" in result.stdout
    assert "NumPy version: 1.26.0 (stored)" in result.stdout


def test_replay_save_then_predict_labels_like_training(search_db, tmp_path: Path):
    from hpsearch.searcher import SearchConfig
    from hpsearch.searcher._replay import trial_dataset

    store = search_db.store
    best_id = store.best_trial(search_db.name).id
    target = next(t for t in store.trials(search_db.name, states=["complete"]) if t.id != best_id)
    engine = create_engine(search_db.url)
    with engine.begin() as conn:  # the driver keeps the models of improving trials: drop this one
        conn.execute(text("DELETE FROM hps_models WHERE trial_id = :t"), {"t": target.id})
    engine.dispose()
    record = store.get_search(search_db.name)
    # a stored definition (with the data facts its driver recorded) is read by from_stored
    data, _ = trial_dataset(SearchConfig.from_stored(record), record, target)
    # raw (un-normalised) dev inputs, rows as samples, with their labels
    norm = data.normalizer
    X_raw = (data.X_dev.astype(np.float64) * norm.scale + norm.shift).T
    np.savez(tmp_path / "dev.npz", X=X_raw, y=data.y_dev)

    args = ["predict", search_db.name, str(target.number), "--input", str(tmp_path / "dev.npz")]
    before = cli(search_db, *args)
    assert before.exit_code == 2 and "--save" in before.stderr
    saved = cli(search_db, "replay", search_db.name, str(target.number), "--save")
    assert saved.exit_code == 0 and "stored the replayed model" in saved.stdout
    assert target.id in store.model_trial_ids(search_db.name)
    after = cli(search_db, *args, "--format", "json")
    assert after.exit_code == 0, after.output
    labels = json.loads(after.stdout)
    assert len(labels) == data.X_dev.shape[1]
    got = np.array([row["class_index"] for row in labels])
    accuracy = float(np.mean(got == data.y_dev))
    assert abs(accuracy - target.dev_accuracy) <= 1 / len(got) + 1e-12
    assert "accuracy against the file's labels" in after.stderr
    assert "columns matched by position" in after.stderr  # an .npz has no column names
    best = cli(search_db, "predict", search_db.name, "--input", str(tmp_path / "dev.npz"))
    assert best.exit_code == 0 and best.stdout.startswith("row,label,class_index,confidence")
    bad = cli(search_db, "predict", search_db.name, "--input", str(tmp_path / "nope.csv"))
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_replay_of_unknown_trial_is_one_line(search_db):
    result = cli(search_db, "replay", search_db.name, "4242")
    assert result.exit_code == 2 and "no trial number 4242" in result.stderr
    assert math.isfinite(1.0)
