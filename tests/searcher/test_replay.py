"""Replay and predict without Ray: a trial stored by hand (as an older version stored it, params
saying ``lambd``) replays bit for bit; predictions carry their label and confidence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hpsearch.errors import UserInputError
from hpsearch.searcher import (
    Prediction,
    SearchConfig,
    environment,
    environment_differences,
    load_search_data,
    parse_config,
    predict_file,
    read_inputs,
    replay_trial,
    trainer_settings,
    trial_settings,
)
from hpsearch.searcher._analysis import external_name
from hpsearch.storage import TrialOutcome, TrialStart, TrialState, open_storage
from hpsearch.trainer import TrainConfig, train

DEFINITION = {
    "search": {"name": "replay-me", "trials": 1, "pruner": "none", "seed": 3},
    "data": {"dataset": "iris"},
    "train": {"epochs": 3, "layers": 1, "units": 6, "batch_size": 32},
    "space": {"lambda": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}},
}


def _older_stored_form() -> dict:
    """The definition as versions before the naming fix stored it: trainer fields (lambd)."""
    stored = parse_config(DEFINITION).to_dict()
    stored["space"]["lambd"] = stored["space"].pop("lambda")
    return stored


@pytest.mark.parametrize("word", ["lambd", "lambda"])
def test_trial_settings_rebuild_what_the_worker_got(word: str) -> None:
    config = SearchConfig.from_stored(_older_stored_form())
    trial = SimpleNamespace(number=0, seed=11, params={word: 0.5})
    settings = trial_settings(config, trial)
    assert settings["lambda"] == 0.5 and "lambd" not in settings
    built = TrainConfig.from_dict(trainer_settings(settings))
    assert (built.lambd, built.seed, built.epochs, built.units) == (0.5, 11, 3, 6)


def test_a_trial_without_seed_names_the_trial() -> None:
    config = parse_config(DEFINITION)
    with pytest.raises(UserInputError) as info:
        trial_settings(config, SimpleNamespace(number=4, seed=None, params={}))
    assert info.value.field == "trial" and "trial 4 has no stored seed" in str(info.value)


@pytest.fixture
def stored_trial(tmp_path: Path):
    """A search stored in the older form, one trial trained here with params saying lambd."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    config = SearchConfig.from_stored(_older_stored_form())
    data = load_search_data(config)
    settings = {**config.train, "lambd": 0.01, "seed": 5}
    with threadpool_limits(limits=1):
        result = train(TrainConfig.from_dict(trainer_settings(settings)), data)
    with open_storage(url) as store:
        record = store.create_search(
            "replay-me",
            config=_older_stored_form(),
            objectives=["dev_accuracy"],
            directions=["maximize"],
        )
        tid = store.start_trial(
            record.id,
            0,
            {"lambd": 0.01},
            seed=5,
            start=TrialStart(environment=environment(1), dataset_hash=data.fingerprint),
        )
        store.add_epochs(tid, result.history)
        outcome = TrialOutcome(
            state=TrialState.COMPLETE,
            values=(result.dev_accuracy,),
            epochs_run=result.epochs_run,
            train_loss=result.train_loss,
            train_accuracy=result.train_accuracy,
            dev_loss=result.dev_loss,
            dev_accuracy=result.dev_accuracy,
            n_params=result.n_params,
        )
        store.finish_trial(tid, outcome, attempt=1)
    return url, data, result


def test_a_trial_stored_with_lambd_replays_bit_for_bit(stored_trial) -> None:
    url, data, result = stored_trial
    with open_storage(url) as store:
        r = replay_trial(store, "replay-me", 0, save=True)
        assert r.identical, r.mismatches
        assert r.dataset_checked and r.epochs == result.epochs_run and r.model_saved
        assert r.replayed["dev_loss"] == result.dev_loss

        X_raw = data.X_dev * data.normalizer.scale + data.normalizer.shift
        labelled = predict_file(store, "replay-me", _npz(url, X_raw.T, data.y_dev))
    assert labelled.accuracy == pytest.approx(result.dev_accuracy)
    rows = labelled.rows
    assert [r.row for r in rows] == list(range(data.X_dev.shape[1]))
    assert all(r.label == labelled.classes[r.class_index] for r in rows)
    assert all(1 / len(labelled.classes) <= r.confidence <= 1 for r in rows)


@pytest.mark.parametrize("with_model", [0, 1])
def test_predict_takes_the_tied_best_trial_that_has_a_model(stored_trial, with_model) -> None:
    url, data, result = stored_trial
    with open_storage(url) as store:
        first = store.get_trial("replay-me", 0)
        tid = store.start_trial(first.search_id, 1, {"lambd": 0.01}, seed=5)
        same = TrialOutcome(state=TrialState.COMPLETE, values=first.values, epochs_run=3)
        store.finish_trial(tid, same, attempt=1)
        model_of = first.id if with_model == 0 else tid
        store.save_model(model_of, result.network.to_npz_bytes())
        labelled = predict_file(store, "replay-me", _npz(url, data.X_dev.T, data.y_dev))
    assert labelled.number == with_model


def test_predict_without_the_best_model_takes_the_next_tied_trial_in_the_shared_order(
    stored_trial,
) -> None:
    """Ties on the objective rank by dev_loss, then number, in every view: of tied trials with a
    model, predict labels with the first in that order, not the lowest number."""
    url, data, result = stored_trial
    with open_storage(url) as store:
        first = store.get_trial("replay-me", 0)
        for number, dev_loss in ((1, first.dev_loss / 2), (2, first.dev_loss / 4)):
            tid = store.start_trial(first.search_id, number, {"lambd": 0.01}, seed=5)
            tied = TrialOutcome(
                state=TrialState.COMPLETE, values=first.values, epochs_run=3, dev_loss=dev_loss
            )
            store.finish_trial(tid, tied, attempt=1)
            if number == 1:
                store.save_model(tid, result.network.to_npz_bytes())
        store.save_model(first.id, result.network.to_npz_bytes())
        assert store.best_trial("replay-me").number == 2  # lowest dev_loss, and no model
        labelled = predict_file(store, "replay-me", _npz(url, data.X_dev.T, data.y_dev))
    assert labelled.number == 1


def _npz(url: str, X: np.ndarray, y: np.ndarray) -> Path:
    path = Path(url.removeprefix("sqlite:///")).with_name("inputs.npz")
    np.savez(path, X=X, y=y)
    return path


def test_confidence_is_the_chosen_class_probability() -> None:
    two = Prediction(
        search="s",
        number=0,
        labels=["b", "a"],
        indices=np.array([1, 0]),
        probabilities=np.array([[0.9, 0.2]]),  # P(class 1)
        classes=("a", "b"),
    )
    assert two.confidence.tolist() == pytest.approx([0.9, 0.8])
    assert [(r.label, r.class_index) for r in two.rows] == [("b", 1), ("a", 0)]
    three = Prediction(
        search="s",
        number=0,
        labels=["c"],
        indices=np.array([2]),
        probabilities=np.array([[0.1], [0.2], [0.7]]),
        classes=("a", "b", "c"),
    )
    assert three.rows[0].confidence == pytest.approx(0.7)


def test_inputs_are_read_like_training_data_and_errors_name_the_flag(tmp_path: Path) -> None:
    csv_file = tmp_path / "in.csv"
    csv_file.write_text("a,b,label\n1,2,0\n3,4,1\n")
    X, labels = read_inputs(csv_file, 2)
    assert X.shape == (2, 2) and labels == ["0", "1"]
    X, labels = read_inputs(csv_file, 3)  # every column a feature: no labels
    assert X.shape == (3, 2) and labels is None
    X, labels = read_inputs(csv_file, 2, label_column="species")  # not in this file: "label"
    assert X.shape == (2, 2) and labels == ["0", "1"]
    with pytest.raises(UserInputError) as info:
        read_inputs(csv_file, 5)
    assert info.value.field == "input" and str(info.value).startswith(f"--input {csv_file}")
    with pytest.raises(UserInputError, match="no such file"):
        read_inputs(tmp_path / "nope.csv", 2)


def test_environment_differences_name_what_changed() -> None:
    now = environment(1)
    assert environment_differences(now, now) == []
    older = now | {"numpy": "1.26.0"}
    assert environment_differences(older, now) == [
        f"NumPy version: 1.26.0 (stored) -> {now['numpy']} (now)"
    ]


def test_optuna_names_map_back_to_the_users_words() -> None:
    config = parse_config(
        DEFINITION
        | {
            "space": {
                "lambda": [0.1, 0.2],
                "beta1": {"type": "float", "low": 0.8, "high": 0.99, "one_minus_log": True},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5, "per_layer": True},
            }
        }
    )
    names = ["lambd", "lambda", "one_minus_beta1", "dropout_l2", "other"]
    assert [external_name(config, n) for n in names] == [
        "lambda",
        "lambda",
        "beta1",
        "dropout",
        "other",
    ]


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_replay_and_predict_load_neither_ray_nor_optuna() -> None:
    loaded = _loaded_after(
        "from hpsearch.searcher import replay_trial, predict_file, environment, load_config; "
        "environment(1)"
    )
    assert not loaded & {"ray", "optuna"}


def test_analysis_and_report_load_optuna_but_not_ray() -> None:
    loaded = _loaded_after("from hpsearch.searcher import build_report, load_study, export_optuna")
    assert "optuna" in loaded and "ray" not in loaded
