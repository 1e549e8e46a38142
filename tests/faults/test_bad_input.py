"""Bad input (issue 6): every user mistake is one ``error:`` line and an exit code, never a
traceback, and nothing in the database changes.

Config files (random bytes and text, wrong types, out-of-range and contradictory values) go
through ``hpsearch validate`` and ``hpsearch run`` against a SQLite database that already holds a
search; ``run`` must refuse them before it opens the database or starts Ray. Then bad flags for
every command, bad dataset files (through ``train`` and through a config's ``data.dataset``) and
bad database URLs, whose password must never be printed or logged.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.searcher import parse_config
from hpsearch.searcher._config import SAMPLERS
from hpsearch.storage import open_storage
from hpsearch.trainer.data import write_idx
from tests.cli_checks import one_error_line
from tests.definitions import finished_trial
from tests.pg_util import postgres_server_url

runner = CliRunner()
PASSWORD = "secretpw"
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# A definition that validates; every test below breaks one thing in it.
VALID: dict[str, Any] = {
    "search": {
        "name": "bad-input",
        "trials": 2,
        "workers": 1,
        "cpus_per_trial": 1,
        "sampler": "tpe",
        "sampler_options": {"n_startup_trials": 2},
        "pruner": "median",
        "pruner_options": {"n_warmup_steps": 1},
        "objective": "dev_accuracy",
        "seed": 0,
        "trial_timeout": 60,
        "retries": 1,
        "memory_limit_mb": 0,
    },
    "data": {"dataset": "iris", "split": [0.7, 0.15, 0.15], "normalize": "standard"},
    "train": {"epochs": 2, "activation": "relu", "optimizer": "adam", "batch_size": 16},
    "space": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "layers": {"type": "int", "low": 1, "high": 2},
        "units": [8, 16],
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "beta1": {"type": "float", "low": 0.8, "high": 0.99, "one_minus_log": True},
    },
}
SECTIONS = ("search", "data", "train", "space")
# The head of an error line for a config mistake: a key path (`search.trials`, `[search]`,
# `space.learning_rate.low`, `train`), or the file itself for unreadable TOML.
KEY_HEAD = re.compile(r"^error: \[?(search|data|train|space)(\..*?)?\]?: ")
TOP_LEVEL_KEY = re.compile(
    r"^error: .+: unknown key \(expected one of data, search, space, train\)$"
)


# --- TOML writing (tomllib only reads) ---------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{ " + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + " }"
        )
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    lines = [
        f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)
    ]
    for k, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(k)}]")
            lines += [f"{toml_value(str(key))} = {toml_value(v)}" for key, v in table.items()]
    return "\n".join(lines) + "\n"


def copy_valid() -> dict[str, Any]:
    return json.loads(json.dumps(VALID))


def with_value(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy_valid()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


# --- the database that must not change ---------------------------------------------------------


def dump(url: str) -> dict[str, list[tuple]]:
    """Every row of every hps_* table (and which tables exist), in a stable order."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: dict[str, list[tuple]] = {"__tables__": [(n,) for n in sorted(meta.tables)]}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if name.startswith("hps_"):
                    rows = conn.execute(select(table)).all()
                    out[name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
        return out
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    """A SQLite database holding one search with one finished trial."""
    url = f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'results.db'}"
    cfg = parse_config(copy_valid())
    with open_storage(url) as store:
        store.create_search(
            "existing",
            config=cfg.to_dict(),
            objectives=["dev_accuracy"],
            directions=["maximize"],
            sampler="tpe",
            pruner="median",
            seed=0,
            dataset="iris",
        )
        finished_trial(store, "existing", 0, {"learning_rate": 0.01}, epochs_run=2)
    snapshot = dump(url)
    assert snapshot["hps_searches"] and snapshot["hps_trials"]
    return url


@pytest.fixture
def guarded(monkeypatch):
    """Opening storage or starting Ray for a refused config is a bug: make it fail loudly."""

    def no_storage(url):
        raise AssertionError(f"storage {url} opened although the input was invalid")

    def no_ray(address):
        raise AssertionError("Ray started although the input was invalid")

    monkeypatch.setattr("hpsearch.cli._app.open_store", no_storage)
    monkeypatch.setattr("hpsearch.cli._app.open_results", no_storage)
    monkeypatch.setattr("hpsearch.searcher._run.ray_session", no_ray)


def refuse(path: Path, db_url: str) -> str:
    """validate and run both refuse ``path`` with the same one line; the database is unchanged."""
    before = dump(db_url)
    checked = runner.invoke(app, ["validate", str(path)])
    line = one_error_line(checked)
    ran = runner.invoke(app, ["run", str(path), "--storage", db_url, "--quiet"])
    assert one_error_line(ran) == line
    assert dump(db_url) == before
    return line


def write(tmp_path: Path, content: str | bytes, name: str = "search.toml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- config files --------------------------------------------------------------------------------


def test_the_valid_definition_passes_and_round_trips_through_toml(tmp_path):
    import tomllib

    text = to_toml(VALID)
    assert tomllib.loads(text) == VALID
    result = runner.invoke(app, ["validate", str(write(tmp_path, text))])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "'bad-input'" in result.output


@SETTINGS
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_bytes_and_text(tmp_path, db, guarded, content):
    path = write(tmp_path, content)
    line = refuse(path, db)
    # unreadable files are named; readable TOML that is not a definition names the key
    assert str(path) in line or KEY_HEAD.match(line) or TOP_LEVEL_KEY.match(line), line


TOML_BREAKERS = [
    '[search]\nname = "x"\ntrials = ',
    '[search]\nname = "x"\n[search]\nname = "y"\n',
    '[search\nname = "x"\n',
    '[search]\nname = "x\n',
    '[search]\nname = "x"\ntrials = 1\ntrials = 2\n',
    "[search]\nname = 'x'\nseed = 0x\n",
    '[search]\nname = "x"\nsplit = [0.7, 0.15,\n',
]


@pytest.mark.parametrize("text", TOML_BREAKERS)
def test_toml_syntax_errors_name_the_file(tmp_path, db, guarded, text):
    path = write(tmp_path, text)
    line = refuse(path, db)
    assert line.startswith(f"error: {path}: invalid TOML")


def test_not_utf8_missing_and_directory(tmp_path, db, guarded):
    line = refuse(write(tmp_path, b'[search]\nname = "\xff\xfe"\n'), db)
    assert "not a UTF-8 text file" in line and "search.toml" in line
    assert "not found" in refuse(tmp_path / "nope.toml", db)
    assert "not found" in refuse(tmp_path, db)


# Wrong types: each key gets values of every other type; the line must start with the key.
TYPED = {
    ("search", "name"): "text",
    ("search", "trials"): "int",
    ("search", "workers"): "int",
    ("search", "cpus_per_trial"): "int",
    ("search", "seed"): "int",
    ("search", "retries"): "int",
    ("search", "trial_timeout"): "number",
    ("search", "memory_limit_mb"): "number",
    ("search", "sampler"): "text",
    ("search", "pruner"): "text",
    ("search", "sampler_options"): "table",
    ("search", "pruner_options"): "table",
    ("search", "objective"): "text",
    ("data", "dataset"): "text",
    ("data", "split"): "list",
    ("data", "normalize"): "text",
    ("data", "label_column"): "text",
    ("data", "max_samples"): "int",
    ("space", "learning_rate", "low"): "number",
    ("space", "learning_rate", "high"): "number",
    ("space", "learning_rate", "log"): "bool",
    ("space", "layers", "low"): "int",
    ("space", "layers", "high"): "int",
    ("space", "beta1", "one_minus_log"): "bool",
    ("space", "learning_rate", "type"): "text",
}
SCALARS = {
    "text": st.text(max_size=10),
    "int": st.integers(-(2**40), 2**40),
    "number": st.floats(allow_nan=True, allow_infinity=True),
    "bool": st.booleans(),
    "list": st.lists(st.integers(0, 3), max_size=3),
    "table": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 3), min_size=1),
}


@st.composite
def wrong_type(draw):
    path = draw(st.sampled_from(sorted(TYPED)))
    expected = TYPED[path]
    kinds = [k for k in SCALARS if k != expected]
    if expected == "number":
        kinds.remove("int")  # an integer is a fine number
    value = draw(SCALARS[draw(st.sampled_from(kinds))])
    return path, value


@SETTINGS
@given(case=wrong_type())
def test_wrong_types_name_the_key(tmp_path, db, guarded, case):
    path, value = case
    key = ".".join(path)
    line = refuse(write(tmp_path, to_toml(with_value(path, value))), db)
    assert line.startswith(f"error: {key}") or line.startswith(f"error: {'.'.join(path[:2])}"), (
        key,
        value,
        line,
    )


# Out of range: (path, strategy of refused values).
OUT_OF_RANGE = {
    ("search", "trials"): st.integers(max_value=0),
    ("search", "workers"): st.integers(max_value=0),
    ("search", "cpus_per_trial"): st.integers(max_value=0),
    ("search", "seed"): st.integers(max_value=-1),
    ("search", "retries"): st.integers(max_value=-1),
    ("search", "trial_timeout"): st.floats(max_value=-1e-9) | st.just(math.inf),
    ("search", "memory_limit_mb"): st.floats(max_value=-1e-9) | st.just(math.nan),
    ("search", "sampler"): st.text(min_size=1, max_size=8).filter(lambda s: s not in SAMPLERS),
    ("search", "objective"): st.sampled_from(["accuracy", "loss", "dev-accuracy", ""]),
    ("data", "max_samples"): st.integers(max_value=9),
    ("data", "normalize"): st.sampled_from(["z", "Standard", "l2", ""]),
    ("data", "split"): st.lists(st.floats(0, 1), min_size=3, max_size=3).filter(
        lambda f: abs(sum(f) - 1) > 1e-3 or f[0] == 0 or f[1] == 0
    ),
    ("data", "dataset"): st.sampled_from(["", "   ", "mnist3", "digits:m=5", "flower:m=2"]),
    ("train", "epochs"): st.integers(max_value=0),
    ("train", "batch_size"): st.integers(max_value=-1),
    ("train", "activation"): st.sampled_from(["softplus", "ReLU", ""]),
    ("train", "optimizer"): st.sampled_from(["sgd", "Adam", "adamw"]),
    ("space", "layers", "low"): st.integers(min_value=2),  # low >= high
    ("space", "learning_rate", "low"): st.floats(max_value=0.0),  # log needs low > 0
    ("space", "dropout", "high"): st.floats(max_value=0.0),
    ("space", "beta1", "high"): st.floats(min_value=1.0, max_value=1e6),  # one_minus_log < 1
}


@st.composite
def out_of_range(draw):
    path = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
    return path, draw(OUT_OF_RANGE[path])


@SETTINGS
@given(case=out_of_range())
def test_out_of_range_values_name_the_key(tmp_path, db, guarded, case):
    path, value = case
    line = refuse(write(tmp_path, to_toml(with_value(path, value))), db)
    section, key = path[0], path[1]
    if section == "train":  # the trainer's own check, named through the [train] section
        assert line.startswith("error: train") and key in line, line
    else:
        assert line.startswith(f"error: {section}.{key}"), (path, value, line)


CONTRADICTIONS = [
    # (change to VALID, the key the message must start with)
    ({"search": {"objective": ["dev_accuracy", "dev_loss"]}}, "search.pruner"),
    (
        {
            "search": {
                "objective": ["dev_accuracy", "n_params"],
                "pruner": "none",
                "sampler": "cmaes",
            }
        },
        "search.sampler",
    ),
    ({"search": {"objective": "n_params"}}, "search.objective"),
    ({"search": {"objective": ["dev_loss", "dev_loss"], "pruner": "none"}}, "search.objective"),
    (
        {
            "search": {
                "objective": ["dev_loss", "n_params"],
                "direction": "minimize",
                "pruner": "none",
            }
        },
        "search.direction",
    ),
    ({"search": {"sampler": "grid"}}, "space.learning_rate"),
    (
        {"search": {"sampler_options": {"no_such_option": 1}}},
        "search.sampler_options.no_such_option",
    ),
    ({"search": {"pruner_options": {"n_warmup_steps": "five"}}}, "search.pruner_options"),
    (
        {"search": {"sampler_options": {"n_startup_trials": "ten"}}},
        "search.sampler_options.n_startup_trials",
    ),
    (
        {"search": {"sampler": "qmc", "sampler_options": {"qmc_type": "x"}}},
        "search.sampler_options",
    ),
    (
        {
            "search": {
                "sampler": "nsga2",
                "pruner": "none",
                "sampler_options": {"population_size": 1},
            }
        },
        "search.sampler_options",
    ),
    ({"train": {"learning_rate": 0.1}}, "train.learning_rate"),
    ({"train": {"seed": 3}}, "train.seed"),
    ({"train": {"lambda": 0.1, "l2": 0.2}}, "train"),
    ({"space": {"lambda": [0.1], "lambd": [0.2]}}, "space.lambd"),
    (
        {
            "space": {
                "learning_rate": {
                    "type": "float",
                    "low": 1e-3,
                    "high": 1e-2,
                    "log": True,
                    "step": 1e-3,
                }
            }
        },
        "space.learning_rate.step",
    ),
    (
        {
            "space": {
                "beta1": {
                    "type": "float",
                    "low": 0.8,
                    "high": 0.9,
                    "one_minus_log": True,
                    "log": True,
                }
            }
        },
        "space.beta1.one_minus_log",
    ),
    (
        {"space": {"layers": {"type": "int", "low": 1, "high": 3, "one_minus_log": True}}},
        "space.layers.one_minus_log",
    ),
    (
        {"space": {"layers": {"type": "categorical", "choices": [1, 2], "low": 1}}},
        "space.layers.low",
    ),
    (
        {"space": {"layers": {"type": "int", "low": 1, "high": 3, "choices": [1]}}},
        "space.layers.choices",
    ),
    ({"space": {"units": {"type": "categorical", "choices": []}}}, "space.units.choices"),
    ({"space": {"units": [8, 8]}}, "space.units.choices"),
    ({"space": {"units": [8, -1]}}, "space.units.choices"),
    (
        {"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 0.1}}},
        "space.learning_rate",
    ),
    (
        {"space": {"activation": {"type": "int", "low": 1, "high": 3, "per_layer": True}}},
        "space.activation.per_layer",
    ),
    ({"space": {"patience": {"type": "int", "low": -3, "high": 3}}}, "space"),
    ({"space": {"seed": [1, 2]}}, "space.seed"),
    ({"space": {"nosuch": [1, 2]}}, "space.nosuch"),
    ({"space": {"dropout": {"type": "float", "low": 0.5, "high": 2.0}}}, "space.dropout"),
    ({"space": {"lambda": [0.1, -1.0]}}, "space.lambd"),
    ({"data": {"split": [0.5, 0.5, 0.5]}}, "data.split"),
    ({"data": {"split": [1.0, 0.0, 0.0]}}, "data.split"),
    ({"search": {"nosuch": 1}}, "search.nosuch"),
    ({"data": {"path": "x.csv"}}, "data.path"),
]


def merged(change: dict[str, Any]) -> dict[str, Any]:
    doc = copy_valid()
    for section, values in change.items():
        if section == "space" and any(k in VALID["space"] for k in values):
            doc["space"].update(values)
        else:
            doc.setdefault(section, {}).update(values)
    return doc


@pytest.mark.parametrize(("change", "head"), CONTRADICTIONS, ids=lambda c: json.dumps(c)[:60])
def test_contradictory_values_name_the_key(tmp_path, db, guarded, change, head):
    line = refuse(write(tmp_path, to_toml(merged(change))), db)
    assert line.startswith(f"error: {head}"), line


def test_a_real_process_prints_one_line_and_no_warnings(tmp_path):
    """Under pytest, Python warnings are captured; a real process shows what a user sees."""
    import subprocess
    import sys

    doc = merged({"search": {"sampler": "qmc", "sampler_options": {"qmc_type": "x"}}})
    path = write(tmp_path, to_toml(doc))
    main = "from hpsearch.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", main, "validate", str(path)], capture_output=True, text=True
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: search.sampler_options: qmc")


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 2) | st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-2, 2), max_size=2),
)


def _value_at(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    return out


ALL_PATHS = _paths(VALID)


@SETTINGS
@given(
    path=st.sampled_from(ALL_PATHS),
    op=st.sampled_from(["replace", "delete", "add"]),
    value=JUNK,
    new_key=st.text(min_size=1, max_size=8),
)
def test_random_mutations_are_accepted_or_refused_in_one_line(
    tmp_path, db, guarded, path, op, value, new_key
):
    doc = copy_valid()
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if op == "replace":
        if value is None:  # TOML has no null: leave the key out instead
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    elif op == "delete":
        del parent[path[-1]]
    elif isinstance(parent[path[-1]], dict) and new_key not in parent[path[-1]]:
        parent[path[-1]][new_key] = 1 if value is None else value
    else:
        return
    path_ = write(tmp_path, to_toml(doc))
    checked = runner.invoke(app, ["validate", str(path_)])
    if checked.exit_code == 0:  # still valid (e.g. an optional key removed): nothing to refuse
        lines = checked.output.splitlines()  # the ok line, then notes (memory limit, warnings)
        assert ": ok" in lines[0] and not any(line.startswith("error") for line in lines)
        return
    line = refuse(path_, db)
    assert KEY_HEAD.match(line) or TOP_LEVEL_KEY.match(line), line


@SETTINGS
@given(low=st.floats(-1e6, 1e6), gap=st.floats(0, 1e6))
def test_float_range_with_low_not_below_high(tmp_path, db, guarded, low, gap):
    doc = with_value(("space", "dropout"), {"type": "float", "low": low + gap, "high": low})
    line = refuse(write(tmp_path, to_toml(doc)), db)
    assert line.startswith("error: space.dropout"), line


# Where a non-finite number can be written: every key of the valid definition, and a new key in
# each table (an option of a sampler or pruner, a [train] setting, a [space] spec's key).
TABLE_PATHS = [p for p in ALL_PATHS if isinstance(_value_at(VALID, p), dict)]


@SETTINGS
@given(
    path=st.sampled_from(ALL_PATHS + [(*p, "extra") for p in TABLE_PATHS]),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
    nested=st.integers(0, 2),
)
def test_non_finite_numbers_anywhere_name_their_key(tmp_path, db, guarded, path, value, nested):
    """NaN or an infinity anywhere (alone, in a list, in a table) is refused at validate and run,
    naming the key it was written under (issue 16, defect 10)."""
    wrapped: Any = [1.0, value] if nested == 1 else {"x": value} if nested == 2 else value
    line = refuse(write(tmp_path, to_toml(with_value(path, wrapped))), db)
    assert line.startswith(f"error: {'.'.join(path)}"), (path, wrapped, line)


# --- command-line flags ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "ok.toml"
    path.write_text(to_toml(VALID), encoding="utf-8")
    return path


FLAG_CASES = [
    # (arguments; {CFG} is a valid definition, {DB} the database), text the line must contain
    ("run {CFG} --storage {DB} --trials -1", "--trials"),
    ("run {CFG} --storage {DB} --trials 0", "--trials"),
    ("run {CFG} --storage {DB} --trials abc", "--trials"),
    ("run {CFG} --storage {DB} --trials 1.5", "--trials"),
    ("run {CFG} --storage {DB} --workers 0", "--workers"),
    ("run {CFG} --storage {DB} --workers -3", "--workers"),
    ("run {CFG} --storage {DB} --seed -1", "--seed"),
    ("run {CFG} --storage {DB} --seed x", "--seed"),
    ("run {CFG} --storage {DB} --name ", "name"),
    ("run {CFG} --storage {DB} --bogus", "--bogus"),
    ("run {CFG} --storage {DB} --trials", "--trials"),
    ("run", "CONFIG"),
    ("run {CFG} extra --storage {DB}", "extra"),
    ("resume existing --storage {DB} --trials 0", "--trials"),
    ("resume existing --storage {DB} --workers -1", "--workers"),
    ("resume existing --storage {DB} --trials many", "--trials"),
    ("resume nosuch --storage {DB}", "nosuch"),
    ("resume", "NAME"),
    ("trials existing --storage {DB} --format xml", "--format"),
    ("trials existing --storage {DB} --format", "--format"),
    ("trials nosuch --storage {DB}", "nosuch"),
    ("trials existing --storage {DB} --nope", "--nope"),
    ("trials", "NAME"),
    ("validate", "CONFIG"),
    ("validate {CFG} {CFG}", "argument"),
    ("validate --strict {CFG}", "--strict"),
    ("train --epochs -1", "--epochs"),
    ("train --epochs ten", "--epochs"),
    ("train --learning-rate abc", "--learning-rate"),
    ("train --learning-rate -0.1", "--learning-rate"),
    ("train --units 8,x", "--units"),
    ("train --units 0", "--units"),
    ("train --dropout 1.5", "--dropout"),
    ("train --split 0.5,0.6,0.2", "--split"),
    ("train --split a,b", "--split"),
    ("train --format xml", "--format"),
    ("train --normalize zscore", "--normalize"),
    ("train --dtype float16", "--dtype"),
    ("train --activation softplus", "--activation"),
    ("train --optimizer sgd", "--optimizer"),
    ("train --batch-size -5", "--batch-size"),
    ("train --layers -1", "--layers"),
    ("train --max-samples 1", "--max-samples"),
    ("train --dataset nosuchset", "nosuchset"),
    ("train --dataset moons:m=abc", "moons"),
    ("train --nope", "--nope"),
    ("searches --storage {DB} --format xml", "--format"),
    ("show existing x --storage {DB}", "number"),
    ("show existing 99 --storage {DB}", "99"),
    ("show existing -1 --storage {DB}", "-1"),
    ("show existing 0 --metric speed --storage {DB}", "--metric"),
    ("show existing 0 --format xml --storage {DB}", "--format"),
    ("compare --storage {DB}", "names"),
    ("compare existing nosuch --storage {DB}", "nosuch"),
    ("compare existing --evaluator magic --storage {DB}", "--evaluator"),
    ("export existing --format xml --storage {DB}", "--format"),
    ("export nosuch --storage {DB}", "nosuch"),
    ("export existing --out {MISSING}/x.csv --storage {DB}", "--out"),
    ("export existing --optuna notaurl --storage {DB}", "--optuna"),
    ("report existing --top 0 --storage {DB} --out {MISSING}.html", "--top"),
    ("report existing --evaluator nope --storage {DB} --out {MISSING}.html", "--evaluator"),
    ("report existing --out {MISSING}/r.html --storage {DB}", "--out"),
    ("replay existing x --storage {DB}", "number"),
    ("replay existing 99 --storage {DB}", "99"),
    ("replay existing 0 --format xml --storage {DB}", "--format"),
    ("predict existing 0 --format xml --storage {DB}", "--format"),
    ("predict existing 0 --input {MISSING}.npz --storage {DB}", "model"),
    ("predict nosuch --storage {DB}", "--input"),
    ("db upgrade --storage {DB} --bogus", "--bogus"),
    ("db nosuch", "nosuch"),
    ("nosuch", "nosuch"),
]


@pytest.mark.parametrize(("args", "needle"), FLAG_CASES, ids=[c[0][:50] for c in FLAG_CASES])
def test_bad_flags(db, config_file, guarded_flags, args, needle):
    missing = config_file.parent / "missing" / "dir"
    argv = args.replace("{CFG}", str(config_file)).replace("{DB}", db)
    argv = argv.replace("{MISSING}", str(missing)).split(" ")
    if argv[-1] == "" and argv[-2] == "--name":  # `--name ''`
        argv[-1] = ""
    before = dump(db)
    line = one_error_line(runner.invoke(app, argv))
    assert needle.lower() in line.lower(), line
    assert dump(db) == before
    assert not missing.parent.exists()


@pytest.fixture
def guarded_flags(monkeypatch):
    """Flag mistakes never start Ray (storage may be opened to look a search up)."""

    def no_ray(address):
        raise AssertionError("Ray started for a bad flag")

    monkeypatch.setattr("hpsearch.searcher._run.ray_session", no_ray)


def test_trials_query_flags(db, guarded_flags):
    """--top/--sort/--state/--where: bad values are one line, exit 2, nothing changes."""
    cases = [
        (["--top", "-1"], "--top"),
        (["--top", "x"], "--top"),
        (["--sort", "no_such_column"], "sort"),
        (["--state", "exploded"], "state"),
        (["--where", "dropout >>> 0.3"], "where"),
        (["--where", ""], "where"),
    ]
    for extra, needle in cases:
        before = dump(db)
        line = one_error_line(runner.invoke(app, ["trials", "existing", "--storage", db, *extra]))
        assert needle in line.lower(), (extra, line)
        assert dump(db) == before


# --- dataset files ------------------------------------------------------------------------------


def _idx_folder(root: Path, truncate: str | None = None) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(60, 4, 4), dtype=np.uint8)
    y = np.arange(60, dtype=np.uint8) % 3
    for split in ("train", "t10k"):
        write_idx(root / f"{split}-images-idx3-ubyte", X)
        write_idx(root / f"{split}-labels-idx1-ubyte", y)
    if truncate:
        victim = root / truncate
        victim.write_bytes(victim.read_bytes()[:-17])
    return root


def _npz(path: Path, X: Any, y: Any) -> Path:
    np.savez(path, X=X, y=y)
    return path


BAD_DATASETS = {
    # name -> (builder(tmp_path) -> path, text the error must contain besides the file name)
    "truncated_idx_images": (
        lambda d: _idx_folder(d / "idx_images", "train-images-idx3-ubyte"),
        "train-images-idx3-ubyte",
    ),
    "truncated_idx_labels": (
        lambda d: _idx_folder(d / "idx_labels", "t10k-labels-idx1-ubyte"),
        "t10k-labels-idx1-ubyte",
    ),
    "csv_text_in_numbers": (
        lambda d: write(d, "a,b,label\n1,2,0\n3,4,1\n5,six,0\n7,8,1\n", "text.csv"),
        "six",
    ),
    "csv_nan": (lambda d: write(d, "a,b,label\n1,2,0\n3,nan,1\n5,6,0\n", "nan.csv"), "nan"),
    "csv_inf": (lambda d: write(d, "a,b,label\n1,2,0\n3,inf,1\n5,6,0\n", "inf.csv"), "inf"),
    "csv_missing_cell": (lambda d: write(d, "a,b,label\n1,2,0\n3,,1\n5,6,0\n", "gap.csv"), "empty"),
    "csv_ragged_row": (lambda d: write(d, "a,b,label\n1,2,0\n3,1\n5,6,0\n", "ragged.csv"), "line"),
    "csv_one_class": (
        lambda d: write(d, "a,b,label\n1,2,7\n3,4,7\n5,6,7\n8,9,7\n", "one.csv"),
        "one class",
    ),
    "csv_header_only": (lambda d: write(d, "a,b,label\n", "header.csv"), "no data"),
    "csv_no_label_column": (lambda d: write(d, "a,b\n1,2\n3,4\n", "nolabel.csv"), "label"),
    "csv_binary_garbage": (lambda d: write(d, b"\x00\xff\xfe" * 50, "garbage.csv"), "garbage.csv"),
    "npz_one_class": (lambda d: _npz(d / "one.npz", np.ones((20, 3)), np.zeros(20)), "one class"),
    "npz_mismatched": (lambda d: _npz(d / "mism.npz", np.ones((20, 3)), np.arange(19) % 2), "19"),
    "npz_nan": (
        lambda d: _npz(d / "nanx.npz", np.where(np.eye(20, 3) > 0, np.nan, 1.0), np.arange(20) % 2),
        "nan",
    ),
    "npz_no_y": (lambda d: (np.savez(d / "noy.npz", X=np.ones((4, 2))), d / "noy.npz")[1], "'y'"),
    "npz_not_zip": (lambda d: write(d, b"PK\x03\x04 not really", "fake.npz"), "npz"),
    "npz_empty_file": (lambda d: write(d, b"", "empty.npz"), "empty"),
    "unknown_suffix": (lambda d: write(d, "1,2,3\n", "data.txt"), "unsupported"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    root = tmp_path_factory.mktemp("bad-data")
    return {name: (build(root), needle) for name, (build, needle) in BAD_DATASETS.items()}


@pytest.mark.parametrize("name", sorted(BAD_DATASETS))
def test_bad_dataset_files_through_train(bad_files, name):
    path, needle = bad_files[name]
    result = runner.invoke(app, ["train", "--dataset", str(path), "--epochs", "1", "--quiet"])
    line = one_error_line(result)
    assert path.name in line and needle.lower() in line.lower(), line


@pytest.mark.parametrize("name", sorted(BAD_DATASETS))
def test_bad_dataset_files_through_a_search_definition(tmp_path, db, guarded, bad_files, name):
    path, needle = bad_files[name]
    doc = with_value(("data", "dataset"), str(path))
    line = refuse(write(tmp_path, to_toml(doc)), db)
    assert line.startswith("error: data.dataset: "), line
    assert path.name in line and needle.lower() in line.lower(), line


# --- database URLs ------------------------------------------------------------------------------


def _pg_host_port() -> tuple[str, int] | None:
    server = postgres_server_url()
    if not server:
        return None
    u = make_url(server)
    return u.host or "127.0.0.1", u.port or 5432


def _bad_urls(tmp: Path) -> list[tuple[str, int, str]]:
    """(url, exit code, text the line must contain)."""
    urls = [
        (f"mysql+nosuch://u:{PASSWORD}@db.example/x", 2, "unsupported"),
        (f"mysql://u:{PASSWORD}@db.example/x", 2, "unsupported"),
        (f"oracle+cx://u:{PASSWORD}@h/x", 2, "unsupported"),
        ("not a url", 2, "not a database url"),
        (f"://u:{PASSWORD}@", 2, "not a database url"),
        (f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db", 1, "unavailable"),
        (f"sqlite:///{tmp}/missing/dir/x.db", 2, "unable to open"),
    ]
    pg = _pg_host_port()
    if pg:
        host, port = pg
        urls += [
            (f"postgresql+psycopg://hps_no_such_role:{PASSWORD}@{host}:{port}/postgres", 2, "role"),
            (f"postgresql://postgres:{PASSWORD}@{host}:{port}/hps_no_such_db", 2, "hps_no_such_db"),
        ]
    return urls


READ_ONLY = ("trials", "searches", "show", "export")


def test_bad_database_urls_are_one_line_and_never_show_the_password(
    tmp_path, db, config_file, guarded_flags, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    urls = _bad_urls(tmp_path)
    if _pg_host_port() is None:
        print("PostgreSQL auth cases skipped: HPSEARCH_TEST_POSTGRES_URL is unset")
    commands = [
        ["db", "current"],
        ["db", "upgrade"],
        ["trials", "existing"],
        ["searches"],
        ["show", "existing", "0"],
        ["export", "existing"],
        ["resume", "existing"],
        ["run", str(config_file), "--quiet"],
    ]
    checked = 0
    for url, code, needle in urls:
        for command in commands:
            if code == 1 and command[0] not in ("trials", "run", "db"):
                continue  # the 1.5 s of retries once per command family is enough
            result = runner.invoke(app, [*command, "--storage", url])
            expected = [needle]
            if url.startswith("sqlite") and command[0] in READ_ONLY:
                expected = ["not found", "/missing/dir/x.db"]  # the file named, none created
            elif url.startswith("sqlite") and command == ["db", "current"]:
                assert result.exit_code == 0 and "no hpsearch tables yet" in result.output
                continue
            line = one_error_line(result, code)
            assert all(e in line.lower() for e in expected), (url, command, line)
            assert PASSWORD not in line
            checked += 1
        # db url parses without connecting: masked, or refused in one line
        shown = runner.invoke(app, ["db", "url", "--storage", url])
        assert PASSWORD not in shown.output
        assert shown.exit_code in (0, 2), shown.output
    # a second database named for `export --optuna`
    for url, _code, _needle in urls:
        args = ["export", "existing", "--storage", db, "--optuna", url]
        line = one_error_line(runner.invoke(app, args))
        assert line.startswith("error: --optuna") and PASSWORD not in line, line
    # the same through the environment variable
    monkeypatch.setenv("HPSEARCH_STORAGE", f"mysql+nosuch://u:{PASSWORD}@db.example/x")
    line = one_error_line(runner.invoke(app, ["trials", "existing"]))
    assert "unsupported" in line and PASSWORD not in line
    assert PASSWORD not in caplog.text
    assert not (tmp_path / "missing").exists()  # no directory was created for the SQLite path
    assert checked >= 40
