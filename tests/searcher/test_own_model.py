"""Your own NumPy model ([train] entrypoint): the example's course-style network searched on the
session's Ray (params in the user's names, epochs streamed, pruned, replayed bit for bit, queried
like the built-in network); a raising model fails its trial with its text while the search goes
on; the definition's mistakes are one line naming the key."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hpsearch
from hpsearch.cli import app
from hpsearch.searcher import ConfigError, load_config, parse_config, replay_trial, run_search
from hpsearch.searcher._entrypoint import load_entrypoint
from hpsearch.searcher._own_model import iter_own
from hpsearch.storage import FailReason, TrialState, open_storage
from hpsearch.trainer import EPOCH_METRICS, load_dataset
from tests.cli_checks import one_error_line

EXAMPLE = Path(__file__).parents[2] / "examples" / "own_model"
runner = CliRunner()

# A model that breaks on one value of its own categorical setting, after one epoch.
BREAKS = """
def train(settings, data, *, seed):
    yield {"train_loss": 1.0, "train_accuracy": 0.5, "dev_loss": 1.0, "dev_accuracy": 0.5}
    if settings["flavour"] == "bad":
        raise RuntimeError("the bad flavour breaks the model")
    yield {"train_loss": 0.5, "train_accuracy": 0.8, "dev_loss": 0.6, "dev_accuracy": 0.75,
           "grad_norm": 0.25, "odd": float("nan")}
"""


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The example's folder, copied (its search.toml and mymodel.py)."""
    folder = tmp_path / "own_model"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder / "search.toml"


def _n_params(n_h: int, n_x: int = 64, n_y: int = 10) -> int:
    return n_h * n_x + n_h + n_y * n_h + n_y


def test_the_example_is_searched_pruned_replayed_and_queried(ray_local, example, tmp_path):
    # one trial at a time (so pruning decisions do not depend on timing), a pruner that stops
    # a trial below the 80th percentile of the earlier ones from epoch 2, once 2 have finished
    config = load_config(example).with_overrides(
        name="own-test",
        trials=6,
        workers=1,
        sampler="random",
        sampler_options={},
        pruner="percentile",
        pruner_options={"percentile": 80.0, "n_startup_trials": 2, "n_warmup_steps": 2},
    )
    url = f"sqlite:///{tmp_path / 'results.db'}"
    with open_storage(url) as store:
        outcome = run_search(config, store)
        trials = store.trials(store.get_search("own-test").id)
        assert len(trials) == 6 and outcome.failed == 0
        states = {t.number: t.state for t in trials}
        assert TrialState.PRUNED in states.values(), states
        assert TrialState.COMPLETE in states.values(), states
        for t in trials:
            assert set(t.params) == {"learning_rate", "n_h"}  # the user's own name: n_h
            epochs = store.epochs(t.id)
            assert [e.epoch for e in epochs] == list(range(1, t.epochs_run + 1))
            last = epochs[-1]
            assert (t.dev_loss, t.dev_accuracy) == (last.dev_loss, last.dev_accuracy)
            if t.number != outcome.best.number:  # the test split scores the chosen one only
                assert t.test_loss is None
            extra = t.environment["metrics"]  # the last epoch's other numbers
            assert set(extra) == {"mean_batch_cost"} and math.isfinite(extra["mean_batch_cost"])
            if t.state == TrialState.COMPLETE:
                assert t.epochs_run == 15 and t.n_params == _n_params(t.params["n_h"])
            else:
                assert 2 <= t.epochs_run < 15  # stopped between two epochs
        # the best trial's returned parameters, scored once by mymodel.evaluate on test
        best = next(t for t in trials if t.number == outcome.best.number)
        assert best.test_accuracy == outcome.best_test_accuracy and 0.5 < best.test_accuracy <= 1
        assert best.test_loss == outcome.best_test_loss and best.test_loss > 0
        pruned = next(t for t in trials if t.state == TrialState.PRUNED)
        complete = next(t for t in trials if t.state == TrialState.COMPLETE)
        for t in (complete, pruned):  # the entrypoint again, same seed and data: same bits
            r = replay_trial(store, "own-test", t.number)
            assert r.identical, r.mismatches
            assert r.epochs == t.epochs_run and r.replayed["dev_loss"] == t.dev_loss

    # queried like the built-in network: the user's names in columns, --where and --sort
    wide = sorted(t.params["n_h"] for t in trials if t.params["n_h"] >= 16)
    args = ["--format", "json", "--where", "n_h >= 16", "--sort", "n_h"]
    listed = runner.invoke(app, ["trials", "own-test", "--storage", url, *args])
    assert listed.exit_code == 0, listed.output
    assert [r["params"]["n_h"] for r in json.loads(listed.stdout)] == wide
    table = runner.invoke(app, ["trials", "own-test", "--storage", url], env={"COLUMNS": "200"})
    assert "n_h" in table.output.splitlines()[1], table.output
    best = hpsearch.open(url).search("own-test").best()
    assert best is not None and best.state == TrialState.COMPLETE
    shown = runner.invoke(app, ["show", "own-test", str(best.number), "--storage", url])
    assert shown.exit_code == 0 and "n_h" in shown.output, shown.output
    assert "  last epoch: mean_batch_cost 0." in shown.output  # its other numbers
    replayed = runner.invoke(app, ["replay", "own-test", str(best.number), "--storage", url])
    assert replayed.exit_code == 0 and "bit for bit" in replayed.output, replayed.output
    refused = runner.invoke(app, ["predict", "own-test", "--input", str(example), "--storage", url])
    assert "trains its own model (mymodel:train)" in one_error_line(refused)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A results database of each kind (PostgreSQL when HPSEARCH_TEST_POSTGRES_URL is set)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    from tests.pg_util import postgres_database

    with postgres_database() as pg:
        yield pg


def test_the_command_line_brings_the_code_to_a_cluster_it_joins(ray_local, example, tmp_path):
    """``hpsearch run --address``: its own driver process joins the cluster with the example's
    folder as the job's runtime environment (what a run on a local Ray of its own does too)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    address = ray_local.get_runtime_context().gcs_address
    hpsearch_cli = str(Path(sys.executable).parent / "hpsearch")
    args = ["run", str(example), "--storage", url, "--address", address, "--trials", "3"]
    done = subprocess.run([hpsearch_cli, *args, "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on the test split: accuracy" in done.stdout  # mymodel.evaluate, once
    with open_storage(url) as store:
        trials = store.trials(store.get_search("own-model").id)
    assert len(trials) == 3 and all(set(t.params) == {"learning_rate", "n_h"} for t in trials)
    assert all(t.state == TrialState.COMPLETE for t in trials)  # 3 < the pruner's startup


def test_a_model_that_raises_fails_its_trial_with_its_text(
    ray_local, tmp_path, definition_file, url
):
    (tmp_path / "breaks.py").write_text(BREAKS)
    path = definition_file(
        {
            "search": {"name": "breaks", "trials": 2, "workers": 2, "sampler": "grid"},
            "data": {"dataset": "iris"},
            "train": {"entrypoint": "breaks:train"},
            "space": {"flavour": ["good", "bad"]},
        }
    )
    with open_storage(url) as store:
        outcome = run_search(load_config(path), store)
        trials = {t.params["flavour"]: t for t in store.trials(store.get_search("breaks").id)}
        assert (outcome.complete, outcome.failed) == (1, 1)
        bad, good = trials["bad"], trials["good"]
        assert bad.state == TrialState.FAILED and bad.fail_reason == FailReason.ERROR
        assert "RuntimeError: the bad flavour breaks the model" in bad.error_text
        assert len(store.epochs(bad.id)) == 1  # the epoch it yielded before is kept
        assert good.state == TrialState.COMPLETE and good.epochs_run == 2
        assert good.n_params is None and good.dev_accuracy == 0.75  # it returned no parameters
        assert outcome.best_test_accuracy is None and good.test_accuracy is None  # no evaluate
        assert good.environment["metrics"] == {"grad_norm": 0.25, "odd": "nan"}  # JSON: no NaN
        assert "metrics" not in bad.environment  # its last epoch had no other numbers
        assert replay_trial(store, "breaks", bad.number).identical  # the epoch it ran

        # the code changed since: the replay runs the file as it is now and says what differs
        (tmp_path / "breaks.py").write_text(BREAKS.replace('== "bad"', '!= "nothing"'))
        r = replay_trial(store, "breaks", good.number)
        assert not r.identical
        assert "(raised RuntimeError: the bad flavour breaks the model)" in r.mismatches[0].what


# The first attempt kills its worker process (a lost worker); the retry trains. Or it hangs.
LOST_OR_HANGS = """
import os, time

def train(settings, data, *, seed):
    yield {"train_loss": 1.0, "train_accuracy": 0.5, "dev_loss": 1.0, "dev_accuracy": 0.5}
    if settings["mode"] == "hangs":
        time.sleep(600)
    if not os.path.exists(settings["marker"]):
        open(settings["marker"], "w").close()
        os._exit(1)
    yield {"train_loss": 0.5, "train_accuracy": 0.8, "dev_loss": 0.6, "dev_accuracy": 0.75}
"""


@pytest.mark.parametrize("mode", ["dies_once", "hangs"])
def test_retries_and_timeouts_apply_to_an_own_model(ray_local, tmp_path, definition_file, mode):
    (tmp_path / "lost.py").write_text(LOST_OR_HANGS)
    path = definition_file(
        {
            "search": {"name": mode, "trials": 1, "pruner": "none", "retries": 1}
            | ({"trial_timeout": 5} if mode == "hangs" else {}),
            "data": {"dataset": "iris"},
            "train": {"entrypoint": "lost:train", "marker": str(tmp_path / "marker")},
            "space": {"mode": [mode]},
        }
    )
    with open_storage(f"sqlite:///{tmp_path / 'r.db'}") as store:
        run_search(load_config(path), store)
        (t,) = store.trials(store.get_search(mode).id)
    if mode == "dies_once":  # the same trial again, same settings and seed: it trains
        assert (t.state, t.attempt, t.epochs_run) == (TrialState.COMPLETE, 2, 2)
    else:
        assert t.state == TrialState.FAILED and t.fail_reason == FailReason.TIMEOUT
        assert "trial_timeout of 5 s" in t.error_text


# --- the definition ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        ("nosuchmodule:train", "train.entrypoint: no module 'nosuchmodule' in "),
        ("mymodel:nosuchfunction", "train.entrypoint: module 'mymodel' has no function"),
        ("mymodel:NOT_CALLABLE", "train.entrypoint: mymodel.NOT_CALLABLE is not callable"),
        ("mymodel", "train.entrypoint: expected 'module:function'"),
    ],
)
def test_validate_names_a_missing_module_or_function(example, entrypoint, expected) -> None:
    text = example.read_text().replace('"mymodel:train"', f'"{entrypoint}"')
    example.write_text(text)
    mymodel = example.parent / "mymodel.py"
    mymodel.write_text(mymodel.read_text() + "\nNOT_CALLABLE = 3\n")
    line = one_error_line(runner.invoke(app, ["validate", str(example)]))
    assert line.startswith(f"error: {expected}"), line


def test_a_code_folder_that_does_not_exist_is_one_line(example) -> None:
    example.write_text(example.read_text().replace("[train]", '[train]\ncode = "src"'))
    line = one_error_line(runner.invoke(app, ["validate", str(example)]))
    assert line == f"error: train.code: folder {str(example.parent / 'src')!r} not found"


def test_a_predict_ms_constraint_on_an_own_model_is_one_line(example) -> None:
    text = example.read_text().replace("[search]", '[search]\nconstraints = ["predict_ms <= 1"]')
    example.write_text(text)
    line = one_error_line(runner.invoke(app, ["validate", str(example)]))
    assert line.startswith("error: search.constraints: predict_ms is measured on hpsearch's own")


def test_validate_accepts_the_example_and_its_code_is_stored_absolute(example) -> None:
    result = runner.invoke(app, ["validate", str(example)])
    assert result.exit_code == 0 and "searches learning_rate, n_h" in result.output
    assert f"own model: mymodel:train from {example.parent} (Ray copies" in result.output
    stored = load_config(example).to_dict()["train"]
    assert stored["entrypoint"] == "mymodel:train" and stored["code"] == str(example.parent)


def _own(space: dict, **train) -> dict:
    return {
        "search": {"name": "own", "pruner": "none"},
        "train": {"entrypoint": "mymodel:train", **train},
        "space": space,
    }


def test_own_names_are_allowed_only_with_an_entrypoint() -> None:
    space = {"n_h": {"type": "int", "low": 2, "high": 8}, "learning_rate": [0.1, 0.01]}
    config = parse_config(_own(space, momentum_kind="nesterov"))
    assert [p.name for p in config.space] == ["n_h", "learning_rate"]
    assert config.train["momentum_kind"] == "nesterov"
    built_in = _own(space)
    del built_in["train"]["entrypoint"]
    with pytest.raises(ConfigError) as e:
        parse_config(built_in)
    assert e.value.field == "space.n_h" and "unknown trainer setting" in str(e.value)


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_own({"learning_rate": {"type": "float", "low": -1.0, "high": 1.0}}), "space"),
        (_own({}, epochs=0), "train.epochs"),  # built-in names keep their checks
        (_own({"seed": [1, 2]}), "space.seed"),
        (_own({"bad-name": [1, 2]}), "space.bad-name"),
        (_own({}, code=3), "train.code"),
        ({**_own({}), "data": {"folds": 3}}, "data.folds"),
    ],
)
def test_definition_mistakes_name_the_key(doc, field) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert e.value.field.startswith(field) and "\n" not in str(e.value), str(e.value)


# --- the contract ------------------------------------------------------------------------------


def _run(*epochs) -> list:
    def fn(settings, data, *, seed):
        yield from epochs

    data = load_dataset("iris")
    return list(iter_own(fn, {}, data, seed=0))


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        ({"train_loss": 1.0}, "epoch 1: train_accuracy, dev_loss, dev_accuracy missing"),
        ([1.0, 2.0], "epoch 1: the entrypoint yielded list; expected a dict"),
        (dict.fromkeys(EPOCH_METRICS, "x"), "epoch 1: 'train_loss' is str"),
    ],
)
def test_what_the_entrypoint_yields_is_checked(epoch, expected) -> None:
    with pytest.raises(TypeError, match=expected):
        _run(epoch)


def test_numpy_numbers_and_nan_are_kept_and_no_epoch_is_an_error() -> None:
    values = dict.fromkeys(EPOCH_METRICS, np.float32(0.5)) | {"dev_loss": float("nan"), "x": 2}
    (epoch,) = _run(values)
    assert math.isnan(epoch.dev_loss) and epoch.train_loss == 0.5 and epoch.extra == (("x", 2.0),)
    with pytest.raises(ValueError, match="yielded no epoch"):
        _run()


def test_the_entrypoint_is_imported_from_its_own_folder(tmp_path) -> None:
    for name, value in (("a", 1), ("b", 2)):  # two folders, each with its own same-named module
        (tmp_path / name).mkdir()
        (tmp_path / name / "samename.py").write_text(
            f"def train(s, d, *, seed):\n    return {value}\n"
        )
    for name, value in (("a", 1), ("b", 2), ("a", 1)):
        fn = load_entrypoint({"entrypoint": "samename:train", "code": str(tmp_path / name)})
        assert fn({}, None, seed=0) == value
