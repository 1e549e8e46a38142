"""The search definition: valid files parse, every mistake is one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.searcher import (
    ConfigError,
    SearchConfig,
    load_config,
    load_search_data,
    parse_config,
    trainer_settings,
)
from hpsearch.searcher._optuna import make_pruner, make_sampler
from hpsearch.searcher._space import internal_params, suggest
from hpsearch.trainer import TrainConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BASE = {
    "search": {"name": "t", "trials": 4},
    "data": {"dataset": "iris"},
    "train": {"epochs": 3},
    "space": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 3},
        "units": {"type": "int", "low": 4, "high": 64, "log": True, "per_layer": True},
        "lambda": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "batch_size": [16, 32, 64],
        "beta1": {"type": "float", "low": 0.8, "high": 0.999, "one_minus_log": True},
    },
}


def with_change(path: str, value: object) -> dict:
    raw = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


DELETE = object()


def test_examples_validate() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        config = load_config(path)
        make_sampler(config)
        make_pruner(config)
        assert config.search.trials >= 1


def test_six_searchable_and_beta_as_one_minus_log() -> None:
    config = parse_config(BASE)
    names = {p.name for p in config.space}
    assert {"learning_rate", "layers", "units", "lambda", "dropout", "batch_size"} <= names
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen_layers = set()
    for _ in range(30):
        trial = study.ask()
        params = suggest(trial, config)
        # units: one per hidden layer, conditional on the number of layers
        assert len(params["units"]) == params["layers"]
        seen_layers.add(params["layers"])
        assert 0.8 <= params["beta1"] <= 0.999
        assert 1e-4 <= params["learning_rate"] <= 1e-1
        dists = trial.distributions
        assert dists["learning_rate"].log and dists["lambd"].log
        assert dists["one_minus_beta1"].log  # momentum's beta searched as 1 - beta, log scale
        internal, _ = internal_params(config, params)
        assert internal["one_minus_beta1"] == pytest.approx(1 - params["beta1"])
        study.tell(trial, 0.5)
    assert seen_layers == {1, 2, 3}


def test_round_trip_through_stored_form() -> None:
    config = parse_config(BASE)
    again = parse_config(config.to_dict())
    assert again == config


def test_from_stored_reads_a_record_or_its_dict() -> None:
    config = parse_config(BASE)
    stored = config.to_dict()
    record = SimpleNamespace(config=stored)  # a SearchRecord as far as from_stored cares
    assert SearchConfig.from_stored(stored).to_dict() == stored
    assert SearchConfig.from_stored(record).to_dict() == stored
    assert SearchConfig.from_stored(record).source == "database"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("search.colour", "red", "search.colour: unknown key"),
        ("space.learning_rate.low", 0.5, "space.learning_rate: expected low < high"),
        ("space.lambda.low", 0.0, "space.lambda.low: expected a value > 0 with log = true"),
        ("search.trials", "ten", "search.trials: expected an integer"),
        ("search.trials", 0, "search.trials: expected an integer >= 1"),
        ("search.sampler", "bayes", "search.sampler: expected one of"),
        ("search.pruner", 3, "search.pruner: expected a string"),
        ("space.units.type", "integer", "space.units.type: expected one of"),
        ("space.dropout.high", "0.5", "space.dropout.high: expected a number"),
        ("space.momentum", {"type": "float", "low": 0, "high": 1}, "space.momentum: unknown"),
        ("train.optimiser", "adam", "train.optimiser: unknown trainer setting"),
        ("train.learning_rate", 0.1, "set in both [train] and [space]"),
        ("data.split", [0.5, 0.5], "data.split: expected three fractions"),
        ("data.split", [0.5, 0.4, 0.4], "data.split: expected [train, dev, test] fractions"),
        ("search.name", DELETE, "search.name: missing"),
        ("search.objective", "f1", "search.objective: expected one of"),
        ("search.sampler_options", {"n_startup": 3}, "search.sampler_options.n_startup"),
        ("space.beta1.high", 1.0, "space.beta1: one_minus_log needs"),
        ("train.activation", "swish", "activation"),
    ],
)
def test_mistakes_name_the_key(path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        config = parse_config(with_change(path, value))
        make_sampler(config)
        make_pruner(config)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_multi_objective_refuses_pruning() -> None:
    raw = with_change("search.objective", ["dev_accuracy", "n_params"])
    with pytest.raises(ConfigError, match=r"search\.pruner: pruning needs a single objective"):
        parse_config(raw)
    raw["search"]["pruner"] = "none"
    raw["search"]["sampler"] = "nsga2"
    config = parse_config(raw)
    assert config.search.directions == ("maximize", "minimize")


def test_grid_needs_steps() -> None:
    raw = with_change("search.sampler", "grid")
    with pytest.raises(ConfigError, match="the grid sampler needs choices or a step"):
        parse_config(raw)


def test_validate_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(EXAMPLES / "digits_quick.toml")])
    assert ok.exit_code == 0, ok.output
    assert "ok" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[search]\nname = "x"\ntrials = -1\n')
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert "search.trials: expected an integer >= 1" in result.output
    assert "Traceback" not in result.output
    broken = tmp_path / "broken.toml"
    broken.write_text("[search\nname=")
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 2 and "invalid TOML" in result.output


@pytest.mark.parametrize("word", ["lambda", "l2", "lambd"])
def test_the_users_word_is_kept_and_merges_with_sampled_params(word: str) -> None:
    raw = with_change(f"train.{word}", 0.25)
    del raw["space"]["lambda"]
    config = parse_config(raw)
    assert config.train["lambda"] == 0.25 and "lambd" not in config.train
    assert config.to_dict()["train"]["lambda"] == 0.25
    # the driver's merge: [train] defaults, then the sampled params in users' words
    settings = trainer_settings({**config.train, "learning_rate": 0.01, "seed": 3})
    built = TrainConfig.from_dict(settings)
    assert (built.lambd, built.learning_rate, built.epochs) == (0.25, 0.01, 3)
    raw = copy.deepcopy(BASE)
    raw["space"][word] = raw["space"].pop("lambda")
    assert [p.name for p in parse_config(raw).space].count("lambda") == 1


def test_an_older_stored_definition_saying_lambd_reads_the_same() -> None:
    new = parse_config(BASE)
    stored = new.to_dict()
    stored["space"]["lambd"] = stored["space"].pop("lambda")
    assert SearchConfig.from_stored(stored).to_dict() == new.to_dict()
    del stored["space"]["lambd"]
    stored["train"]["lambd"] = 0.0
    config = SearchConfig.from_stored(stored)
    assert config.train["lambda"] == 0.0 and "lambd" not in config.train


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("space.learning_rate.low", 0.5, "space.learning_rate"),
        ("space.lambda.low", 0.0, "space.lambda.low"),
        ("search.trials", 0, "search.trials"),
        ("train.optimiser", "adam", "train.optimiser"),
        ("train.learning_rate", 0.1, "train.learning_rate"),
        ("data.split", [0.5, 0.5], "data.split"),
        ("space.units", [8, -1], "space.units.choices"),
        ("search.colour", "red", "search.colour"),
    ],
)
def test_errors_carry_their_field(path: str, value: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_change(path, value))
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_a_dataset_path_is_relative_to_the_definition(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40))
    (folder / "data" / "my.csv").write_text("a,b,label\n" + rows + "\n")
    (folder / "search.toml").write_text(
        '[search]\nname = "rel"\n[data]\ndataset = "data/my.csv"\n[train]\nepochs = 1\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "project" / "search.toml")
    assert Path(config.data.dataset) == (folder / "data" / "my.csv").resolve()
    assert load_search_data(config).X_train.shape[0] == 2
    (folder / "digits").mkdir()  # a folder named like a built-in: the built-in wins
    builtin = folder / "builtin.toml"
    builtin.write_text('[search]\nname = "b"\n[data]\ndataset = "flower:m=40"\n')
    assert load_config(builtin).data.dataset == "flower:m=40"
    builtin.write_text('[search]\nname = "b"\n[data]\ndataset = "digits"\n')
    assert load_config(builtin).data.dataset == "digits"
    missing = folder / "missing.toml"
    missing.write_text('[search]\nname = "m"\n[data]\ndataset = "nope.csv"\n')
    with pytest.raises(ConfigError) as info:
        load_search_data(load_config(missing))
    assert str(folder / "nope.csv") in str(info.value) and info.value.field == "data.dataset"


def test_overrides_replace_search_keys_and_are_checked() -> None:
    config = parse_config(BASE)
    again = config.with_overrides(trials=9, workers=None, name="other")
    assert (again.search.trials, again.search.name) == (9, "other")
    assert (again.space, again.train, again.data) == (config.space, config.train, config.data)
    assert config.with_overrides(trials=None) is config
    with pytest.raises(ConfigError) as info:
        config.with_overrides(trials=0)
    assert info.value.field == "search.trials"
    with pytest.raises(ConfigError, match="grid sampler needs choices or a step"):
        config.with_overrides(sampler="grid")
