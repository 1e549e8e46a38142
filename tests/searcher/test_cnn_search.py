"""Convolutional networks searched like the rest: the space (filters per conv block), refusals
before start, a real CNN search on digits (stored params, parameter counts, fail-fast trials
that do not fit), replay bit for bit, predict, and a digits CNN above 98.5% test accuracy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.errors import UserInputError
from hpsearch.searcher import (
    ConfigError,
    SearchConfig,
    definition_notes,
    load_search_data,
    parse_config,
    predict_file,
    replay_trial,
    run_search,
)
from hpsearch.searcher._analysis import external_name
from hpsearch.searcher._space import grid_space, internal_params, suggest
from hpsearch.storage import FailReason, TrialState, open_storage
from hpsearch.trainer import Network, TrainConfig, load_dataset, train
from tests.cli_checks import one_error_line

# A small CNN search on digits (8x8x1): one or two 3x3 blocks, or four, which pool 8x8 images
# below one pixel (8 -> 4 -> 2 -> 1 -> 0): those trials fail at once with the trainer's line.
DIGITS_CNN: dict[str, Any] = {
    "search": {
        "name": "digits-cnn",
        "trials": 6,
        "workers": 2,
        "sampler": "random",
        "pruner": "none",
        "seed": 0,  # random sampler: 2, 1, 4, 4, 1, 1 blocks
    },
    "data": {"dataset": "digits", "max_samples": 600},
    "train": {"epochs": 3, "layers": 1, "units": 16, "batch_size": 32, "kernel": 3},
    "space": {
        "conv_blocks": [1, 2, 4],
        "filters": {"type": "int", "low": 2, "high": 6, "per_layer": True},
        "pool": ["max", "avg"],
        "learning_rate": {"type": "float", "low": 3e-3, "high": 1e-2, "log": True},
    },
}


def _definition(**sections: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(DIGITS_CNN)
    for section, values in sections.items():
        if section == "space":
            doc["space"] = copy.deepcopy(values)
        else:
            doc[section].update(values)
    return doc


# --- the space ------------------------------------------------------------------------------


def test_filters_are_sampled_one_per_conv_block_and_round_trip() -> None:
    config = parse_config(DIGITS_CNN)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = suggest(trial, config)
        assert len(params["filters"]) == params["conv_blocks"], params
        assert all(2 <= f <= 6 for f in params["filters"])
        TrainConfig.from_dict(params)  # stored words are the trainer's fields
        seen.add(params["conv_blocks"])
        values, dists = internal_params(config, params)
        assert values == {k: v for k, v in trial.params.items()}, (values, trial.params)
        assert set(dists) == set(values)
    assert seen == {1, 2, 4}
    conv_only = {k: v for k, v in DIGITS_CNN["space"].items() if k != "learning_rate"}
    grid = grid_space(parse_config(_definition(space=conv_only)))  # a grid needs no float range
    assert [k for k in grid if k.startswith("filters_")] == [f"filters_l{i}" for i in (1, 2, 3, 4)]
    assert external_name(config, "filters_l3") == "filters"
    # the stored definition says per_layer and reads back the same
    stored = config.to_dict()
    assert stored["space"]["filters"]["per_layer"] is True
    assert parse_config(stored) == config


def test_conv_settings_are_checked_where_they_are_written() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_definition(train={"padding": "full"}))
    assert info.value.field == "train.padding" and "same | valid" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_config(_definition(space={"stride": {"type": "int", "low": 0, "high": 3}}))
    assert info.value.field == "space.stride"
    with pytest.raises(ConfigError) as info:
        parse_config(
            _definition(space={"stride": {"type": "int", "low": 1, "high": 3, "per_layer": True}})
        )
    assert info.value.field == "space.stride.per_layer"
    with pytest.raises(ConfigError) as info:
        parse_config(_definition(space={"filters": [8, 0]}))
    assert info.value.field == "space.filters.choices"
    # the image shape is a fact of the data, recorded by the driver, not a user's setting
    with pytest.raises(ConfigError) as info:
        parse_config(_definition(data={"image_shape": [8, 8, 1]}))
    assert info.value.field == "data.image_shape"


# --- refusals before start --------------------------------------------------------------------


def test_a_fixed_network_too_deep_for_the_images_is_one_error_line(definition_file) -> None:
    doc = _definition(train={"conv_blocks": 4, "filters": 8}, space={})
    runner = CliRunner()
    for command in ("validate", "run"):
        line = one_error_line(runner.invoke(app, [command, str(definition_file(doc))]))
        assert line.startswith("error: train.conv_blocks: conv block 4: max pool 2x2 of a 1x1x8 ")
        assert "8x8x1 images of digits" in line
    # kernel larger than the image with valid padding: named by the convolution
    doc = _definition(train={"conv_blocks": 1, "kernel": 9, "padding": "valid"}, space={})
    line = one_error_line(runner.invoke(app, ["validate", str(definition_file(doc))]))
    assert "conv block 1: a 9x9 filter" in line and "8x8x1 input" in line


def test_convolutions_on_tabular_data_are_one_error_line(definition_file) -> None:
    doc = _definition(data={"dataset": "iris", "max_samples": None})
    doc["data"].pop("max_samples")
    line = one_error_line(CliRunner().invoke(app, ["validate", str(definition_file(doc))]))
    assert line.startswith("error: space.conv_blocks: convolutional blocks need image data")
    assert "iris has no image shape" in line


def test_a_space_too_deep_only_at_its_corner_is_a_warning(definition_file) -> None:
    result = CliRunner().invoke(app, ["validate", str(definition_file(DIGITS_CNN))])
    assert result.exit_code == 0, result.output
    warning = [ln for ln in result.output.splitlines() if ln.startswith("warning: space:")]
    assert len(warning) == 1, result.output
    assert "conv_blocks = 4" in warning[0] and "conv block 4" in warning[0]
    # a space in which no convolutional network fits is refused
    doc = _definition(space={"conv_blocks": [4, 5]})
    with pytest.raises(ConfigError, match="not even the smallest: conv block 4") as info:
        load_search_data(parse_config(doc))
    assert info.value.field == "space"
    # the gentlest corner fits, the deepest does not: no error, one warning
    space = {"conv_blocks": [1, 4], "kernel": [3, 5], "padding": ["same", "valid"]}
    doc = _definition(space=space)
    doc["train"].pop("kernel")
    config = parse_config(doc)
    notes = definition_notes(config, load_search_data(config))
    assert sum(n.startswith("warning: space:") for n in notes) == 1, notes


# --- a real search ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn_search(ray_local, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('cnn') / 'cnn.db'}"
    config = parse_config(DIGITS_CNN)
    with open_storage(url) as store:
        outcome = run_search(config, store)
    return url, outcome


def test_a_cnn_search_stores_conv_params_counts_and_fail_fast_trials(cnn_search) -> None:
    url, _ = cnn_search
    store = open_storage(url)
    record = store.get_search("digits-cnn")
    assert record.config["data"]["image_shape"] == [8, 8, 1]
    assert SearchConfig.from_stored(record).data.image_shape == (8, 8, 1)
    trials = store.trials("digits-cnn")
    assert len(trials) == 6
    by_state = {s: [t for t in trials if t.state == s] for s in TrialState}
    complete, failed = by_state[TrialState.COMPLETE], by_state[TrialState.FAILED]
    assert complete and failed, [(t.number, t.state, t.params) for t in trials]
    for t in complete:
        assert set(t.params) == {"conv_blocks", "filters", "pool", "learning_rate"}
        assert (
            t.params["conv_blocks"] in (1, 2)
            and len(t.params["filters"]) == t.params["conv_blocks"]
        )
        # the stored count includes the conv weights: 3x3 filters over the previous channels
        filters = t.params["filters"]
        channels = [1, *filters]
        conv = sum(
            3 * 3 * c_in * c_out + c_out for c_in, c_out in zip(channels, filters, strict=False)
        )
        side = 8 // 2 ** len(filters)
        dense = (side * side * filters[-1]) * 16 + 16 + 16 * 10 + 10
        assert t.n_params == conv + dense, (t.params, t.n_params)
    for t in failed:
        assert t.params["conv_blocks"] == 4
        assert t.fail_reason == FailReason.ERROR and t.epochs_run in (None, 0)
        assert t.error_text.startswith("invalid settings: conv block 4: ")
        assert "\n" not in t.error_text and "Traceback" not in t.error_text


def test_a_cnn_trial_replays_bit_for_bit_and_predicts(cnn_search, tmp_path: Path) -> None:
    url, _ = cnn_search
    store = open_storage(url)
    best = store.best_trial(store.get_search("digits-cnn").id)
    replay = replay_trial(store, "digits-cnn", best.number)
    assert replay.identical and replay.dataset_checked, replay.mismatches
    assert replay.network.image_shape == (8, 8, 1)
    # predict from images as a user has them: (m, 8, 8) raw pixels in an .npz
    raw = load_dataset("digits", max_samples=600, seed=0, normalize="none")
    images = raw.X_test.T.reshape(-1, 8, 8)
    np.savez(tmp_path / "digits.npz", X=images, y=raw.y_test)
    prediction = predict_file(store, "digits-cnn", tmp_path / "digits.npz")
    network = Network.from_npz_bytes(store.load_model(best.id))
    data = load_search_data(parse_config(DIGITS_CNN))
    assert (prediction.indices == network.predict(data.X_test)).all()
    assert prediction.accuracy == pytest.approx(best.test_accuracy)
    # the same pixels in another image shape are other images: refused, naming both shapes
    np.savez(tmp_path / "wide.npz", X=images.reshape(-1, 4, 16))
    with pytest.raises(UserInputError, match="images of 4x16x1, but the model of trial"):
        predict_file(store, "digits-cnn", tmp_path / "wide.npz")


# --- a digits CNN that reaches the course's mark ----------------------------------------------


def test_a_digits_cnn_reaches_98_5_percent_test_accuracy() -> None:
    """conv 3x3 same 16 -> max pool 2 -> conv 3x3 32 -> max pool 2 -> 64 -> 10, Adam, batch
    32, 30 epochs: three candidates chosen on dev, the chosen one scored once on test."""
    data = load_dataset("digits")
    assert data.image_shape == (8, 8, 1)
    base = {"conv_blocks": 2, "filters": (16, 32), "layers": 1, "units": 64}
    base |= {"batch_size": 32, "epochs": 30, "optimizer": "adam"}
    candidates = [
        base | {"learning_rate": 1e-3},
        base | {"learning_rate": 1e-3, "dropout": 0.3},
        base | {"learning_rate": 2e-3, "lambd": 1e-3},
    ]
    results = []
    with threadpool_limits(limits=1):
        for settings in candidates:
            results.append(train(TrainConfig(**settings), data))
    chosen = max(results, key=lambda r: (r.dev_accuracy, -r.dev_loss))
    _, test_accuracy = chosen.network.evaluate(data.X_test, data.y_test)
    assert test_accuracy >= 0.985, (test_accuracy, [r.dev_accuracy for r in results])


def test_the_memory_limit_counts_the_conv_buffers() -> None:
    """A limit above what the dense head alone needs, below what the conv blocks need (their
    im2col buffers and activations): the trial fails with a MEMORY reason, before training."""
    from hpsearch.searcher._worker import run_trial
    from hpsearch.trainer import estimate_memory_bytes

    data = load_dataset("digits", max_samples=300)
    settings = {"conv_blocks": 2, "filters": [32, 64], "layers": 1, "units": 16, "epochs": 1}
    config = TrainConfig.from_dict(settings)
    batch = config.batch_size
    head = TrainConfig(layers=1, units=16, epochs=1)  # the same dense head on the 64 pixels
    dense = estimate_memory_bytes(head, 64, 10, batch)
    conv = estimate_memory_bytes(config, 64, 10, batch, image_shape=(8, 8, 1))
    assert conv > 2 * dense
    limit = (dense + conv) // 2
    messages = list(run_trial(data, settings, number=0, attempt=1, threads=1, submitted_at=0.0,
                              memory_limit_bytes=limit))  # fmt: skip
    end = messages[-1]
    assert type(end).__name__ == "TrialFailed" and end.fail_reason == FailReason.MEMORY, end
    assert len(messages) == 2  # started, then refused: no epoch ran
