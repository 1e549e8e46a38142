"""Cross-validation for small data (`[data] folds = k`), on a real 5-fold search over
scikit-learn's wine (178 rows, the built-in `wine`) on the session's Ray: every trial reports the
mean and standard deviation over its folds and stores one row per fold, the pruner and the
stored curve see the mean over folds, the test split is scored once (the best trial, refitted on
train + dev), the dataset's facts are stored with the search, and a fold trial replays bit for
bit."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
from typer.testing import CliRunner

import hpsearch
from hpsearch.cli import app
from hpsearch.searcher import (
    ConfigError,
    SearchConfig,
    load_search_data,
    parse_config,
    replay_trial,
    run_search,
)
from hpsearch.searcher._folds import fold_datasets, fold_indices, iter_folds, refit
from hpsearch.storage import open_storage
from hpsearch.trainer import TrainConfig

NAME = "wine-5fold"
K = 5
runner = CliRunner()


def _config(**data):
    return parse_config(
        {
            "search": {"name": NAME, "trials": 3, "workers": 2, "pruner": "none", "seed": 7},
            "data": {"dataset": "wine", "folds": K, **data},
            "train": {"epochs": 6, "layers": 1, "units": 16, "batch_size": 16},
            "space": {"learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True}},
        }
    )


@pytest.fixture(scope="module")
def folds_search(ray_local, tmp_path_factory):
    """(storage URL, outcome) of a 3-trial 5-fold search over wine."""
    url = f"sqlite:///{tmp_path_factory.mktemp('folds') / 'folds.db'}"
    with open_storage(url) as store:
        outcome = run_search(_config(), store)
    return url, outcome


def test_each_trial_stores_its_folds_their_mean_and_spread(folds_search):
    url, outcome = folds_search
    assert outcome.complete == 3
    with open_storage(url) as store:
        for t in store.trials(NAME):
            folds = store.trial_folds(t.id)
            assert [f.fold for f in folds] == list(range(K))
            dev = [f.dev_accuracy for f in folds]
            assert t.dev_accuracy == pytest.approx(statistics.fmean(dev), abs=1e-12)
            assert t.dev_accuracy_std == pytest.approx(statistics.pstdev(dev), abs=1e-12)
            assert t.dev_loss == pytest.approx(statistics.fmean(f.dev_loss for f in folds))
            assert t.value == t.dev_accuracy  # the objective is the mean over folds
            # the stored curve is the mean over folds, epoch by epoch: its last epoch is the
            # mean of the folds' final metrics (no early stopping here)
            last = store.epochs(t.id)[-1]
            assert last.epoch == t.epochs_run == 6
            assert last.dev_accuracy == pytest.approx(statistics.fmean(dev), abs=1e-12)


def test_only_the_best_trial_is_scored_on_test_after_a_refit(folds_search):
    url, outcome = folds_search
    with open_storage(url) as store:
        trials = store.trials(NAME)
        scored = [t for t in trials if t.test_accuracy is not None]
        assert [t.number for t in scored] == [outcome.best.number]
        best = scored[0]
        assert outcome.best_test_accuracy == best.test_accuracy
        # the refit: the best settings on all 151 train + dev samples, scored on the 27 test
        config = SearchConfig.from_stored(store.get_search(NAME))
        data = load_search_data(config)
        settings = {**config.train, **best.params, "seed": best.seed}
        network = refit(settings, data, store.trial_folds(best.id), threads=1)
        loss, acc = network.evaluate(data.X_test, data.y_test)
        assert (float(loss), float(acc)) == (best.test_loss, best.test_accuracy)
        # ...and it is the model kept for the trial (what predict uses)
        assert store.load_model(best.id) == network.to_npz_bytes()


def test_the_dataset_facts_are_stored_and_read_back(folds_search, monkeypatch):
    url, _ = folds_search
    with open_storage(url) as store:
        record = store.get_search(NAME)
    data = record.config["data"]
    assert data["n_classes"] == 3 and len(data["classes"]) == 3
    assert len(data["feature_names"]) == 13 and data["feature_names"][0] == "alcohol"
    sizes = data["split_sizes"]
    assert sizes["test"] == 27 and sizes["dev"] == 151 == sum(sizes["folds"])
    assert max(sizes["folds"]) - min(sizes["folds"]) <= 1
    config = SearchConfig.from_stored(record)
    assert config.data.folds == K and config.data.feature_names[0] == "alcohol"

    # the read API takes them from the stored definition: the standard error counts every
    # sample scored across the folds (n = 151), no dataset reload
    def no_reload(config):
        raise AssertionError("the dataset was loaded again")

    monkeypatch.setattr("hpsearch._selection._load_sizes", no_reload)
    assert hpsearch.split_sizes(record) == hpsearch.SplitSizes(train=121, dev=151, test=27)


def test_views_show_mean_and_std_and_the_api_returns_folds(folds_search):
    url, outcome = folds_search
    n = outcome.best.number
    table = runner.invoke(app, ["trials", NAME, "--storage", url])
    assert table.exit_code == 0, table.output
    head = table.output.splitlines()[1].split()
    assert head[head.index("dev_accuracy") + 1] == "dev_accuracy_std"
    assert "dev split 151 samples" in table.output
    rows = json.loads(
        runner.invoke(app, ["trials", NAME, "--storage", url, "--format", "json"]).output
    )
    assert all(r["dev_accuracy_std"] is not None for r in rows)
    shown = runner.invoke(app, ["show", NAME, str(n), "--storage", url])
    assert shown.exit_code == 0, shown.output
    assert "folds: 5; dev accuracy" in shown.output and "fold 4:" in shown.output
    with hpsearch.open(url) as db:
        folds = db.search(NAME).folds(n)
    assert len(folds) == K and all(f.epochs_run == 6 for f in folds)


def test_a_fold_trial_replays_bit_for_bit(folds_search):
    url, outcome = folds_search
    with open_storage(url) as store:
        result = replay_trial(store, NAME, outcome.best.number)
    assert result.identical, result.mismatches
    assert result.epochs == 6


def test_folds_are_stratified_seeded_and_cover_train_and_dev_once():
    data = load_search_data(_config())
    y = np.concatenate([data.y_train, data.y_dev])
    a, b = fold_indices(y, K, 7), fold_indices(y, K, 7)
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))
    assert not all(np.array_equal(x, z) for x, z in zip(a, fold_indices(y, K, 8), strict=True))
    assert np.array_equal(np.sort(np.concatenate(a)), np.arange(y.shape[0]))
    for c in range(3):
        counts = [int((y[i] == c).sum()) for i in a]
        assert max(counts) - min(counts) <= 1
    folds = fold_datasets(data, K, 7)
    assert all(d.X_test.shape[1] == 0 for d in folds)  # the test split never enters a fold


def test_closing_the_mean_curve_stops_every_fold():
    """Epoch-major: a pruned trial (the stream closed after epoch 2) trained no fold further."""
    folds = fold_datasets(load_search_data(_config()), K, 7)
    config = TrainConfig.from_dict({"epochs": 50, "layers": 1, "units": 8, "seed": 1})
    stream = iter_folds(config, folds)
    assert [next(stream).epoch for _ in range(2)] == [1, 2]
    stream.close()
    assert stream.gi_frame is None


def test_folds_must_be_an_integer_of_two_or_more_and_facts_are_not_user_keys():
    for bad in (1, 0, 2.5, "5", True):
        with pytest.raises(ConfigError, match=r"data\.folds") as e:
            _config(folds=bad)
        assert e.value.field == "data.folds"
    with pytest.raises(ConfigError, match=r"data\.folds: expected at most 151"):
        load_search_data(_config(folds=500))
    with pytest.raises(ConfigError, match=r"data\.split_sizes: unknown key"):
        _config(split_sizes={"train": 1, "dev": 1, "test": 1})
    stored = _config().to_dict()
    stored["data"]["n_classes"] = 3
    assert SearchConfig.from_stored(stored).data.n_classes == 3
    assert _config().data.folds == K and parse_config({"search": {"name": "x"}}).data.folds is None


def test_a_folds_search_refuses_to_continue_as_a_plain_one(folds_search, ray_local):
    url, _ = folds_search
    plain = _config()
    plain = SearchConfig(
        search=plain.search,
        data=type(plain.data)(dataset="wine"),
        train=plain.train,
        space=plain.space,
    )
    with (
        open_storage(url) as store,
        pytest.raises(hpsearch.errors.UserInputError, match=r"\[data\]"),
    ):
        run_search(plain, store)
