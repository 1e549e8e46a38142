"""Security (issue 6): Ray's token authentication stays on, nothing is unpickled from the
database or from disk, database passwords are never printed, logged or stored, and user text
reaches SQL only as bound parameters.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import MetaData, create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from typer.testing import CliRunner

import hpsearch
from hpsearch.cli import app
from hpsearch.searcher import parse_config
from hpsearch.storage import open_storage
from hpsearch.trainer import Network, TrainConfig, TrainerInputError, load_dataset, train
from tests.cli_checks import one_error_line
from tests.definitions import finished_trial
from tests.pg_util import postgres_database

runner = CliRunner()
PACKAGE = Path(hpsearch.__file__).parent
REPO = PACKAGE.parent
PASSWORD = "secretpw"
INJECTION = "x'; DROP TABLE hps_trials; --"


def code_files() -> list[Path]:
    """hpsearch's code and the files that start Ray for it (docker, Makefile, benchmarks)."""
    files = sorted(PACKAGE.rglob("*.py"))
    for folder in ("docker", "benchmarks", "examples"):
        if (REPO / folder).is_dir():
            files += sorted(p for p in (REPO / folder).rglob("*") if p.is_file())
    files += [p for p in (REPO / "Makefile", REPO / "pyproject.toml") if p.is_file()]
    return [p for p in files if p.suffix not in (".md", ".npz", ".png", ".html")]


# --- (1) Ray token authentication stays on --------------------------------------------------------

AUTH_OFF = [
    re.compile(r"RAY_AUTH_MODE['\"\]]*\s*[:=,\s]\s*['\"]?(disabled|none|off|0|false)\b", re.I),
    re.compile(r"AuthenticationMode\s*\.\s*(DISABLED|NONE)", re.I),
    re.compile(r"auth_mode['\"]?\s*[:=]\s*['\"]?(disabled|none|off)", re.I),
    re.compile(r"(disable|no)[_-]?(token[_-]?)?auth", re.I),
    re.compile(r"(pop|del|unsetenv)\W+\s*['\"]?RAY_AUTH_(MODE|TOKEN)", re.I),
]


def test_the_auth_patterns_catch_what_they_are_meant_to():
    for line in (
        'os.environ["RAY_AUTH_MODE"] = "disabled"',
        "RAY_AUTH_MODE=disabled ray start --head",
        "ENV RAY_AUTH_MODE disabled",
        "os.environ.setdefault('RAY_AUTH_MODE', 'disabled')",
        "mode = AuthenticationMode.DISABLED",
        "ray.init(_system_config={'auth_mode': 'disabled'})",
        "ray start --head --disable-auth",
        "os.environ.pop('RAY_AUTH_TOKEN', None)",
        "unset RAY_AUTH_MODE; unsetenv RAY_AUTH_MODE",
    ):
        assert any(p.search(line) for p in AUTH_OFF), line
    assert not any(p.search('os.environ.setdefault("RAY_AUTH_MODE", "token")') for p in AUTH_OFF)


def test_nothing_in_hpsearch_turns_ray_auth_off():
    files = code_files()
    assert len(files) > 20
    hits = [
        f"{p.relative_to(REPO)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if any(pattern.search(line) for pattern in AUTH_OFF)
    ]
    assert hits == []


def test_the_session_cluster_refuses_a_client_without_its_token(ray_local, tmp_path):
    from ray._private.authentication import authentication_utils as auth

    assert auth.is_token_auth_enabled()
    assert auth.get_authentication_mode() == auth.AuthenticationMode.TOKEN
    gcs = ray_local.get_runtime_context().gcs_address
    client = (
        "import sys, ray; ray.init(address=sys.argv[1], logging_level=40);"
        "print('CONNECTED', ray.cluster_resources().get('CPU'), flush=True)"
    )
    procs = {}
    for name, token in (("wrong", secrets.token_hex(32)), ("right", None)):
        env = dict(os.environ)
        if token is not None:
            (tmp_path / name).write_text(token)
            env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / name)  # right: the session's own file
        env.pop("RAY_ADDRESS", None)
        out = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-c", client, gcs], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        procs[name] = (proc, out)
    try:
        deadline = time.monotonic() + 90
        refused = connected = False
        while time.monotonic() < deadline and not (refused and connected):
            time.sleep(0.3)
            refused = "InvalidAuthToken" in (tmp_path / "wrong.log").read_text(errors="replace")
            connected = "CONNECTED" in (tmp_path / "right.log").read_text(errors="replace")
        wrong_log = (tmp_path / "wrong.log").read_text(errors="replace")
        assert refused, wrong_log[-2000:]
        assert "CONNECTED" not in wrong_log
        assert connected, (tmp_path / "right.log").read_text(errors="replace")[-2000:]
    finally:
        for proc, out in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            out.close()


def test_readme_says_how_the_token_is_shared():
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Security") :]
    for needle in ("ray get-auth-token", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN", "ray job submit"):
        assert needle in section, needle


# --- (2) nothing is unpickled ---------------------------------------------------------------------


class _Trap:
    """Unpickling this touches a marker file: proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def trap_npz(marker: Path, **arrays: Any) -> bytes:
    """An .npz whose ``X`` (or given arrays) hold a pickled object that would touch ``marker``."""
    buf = io.BytesIO()
    trap = np.empty(2, dtype=object)
    trap[0] = trap[1] = _Trap(marker)
    np.savez(buf, **{"X": trap, **arrays})  # object arrays are pickled on save
    return buf.getvalue()


def test_the_trap_fires_when_pickle_is_allowed(tmp_path):
    marker = tmp_path / "pwned"
    with np.load(io.BytesIO(trap_npz(marker)), allow_pickle=True) as npz:
        npz["X"]
    assert marker.exists()  # so its absence below means hpsearch never unpickled


def test_a_model_file_with_a_pickled_object_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    meta = np.array([json.dumps({"format": "x"})])
    blob = trap_npz(marker, __meta__=meta, W1=np.empty(1, dtype=object))
    with pytest.raises(TrainerInputError, match="not a saved hpsearch network"):
        Network.from_npz_bytes(blob)
    path = tmp_path / "model.npz"
    path.write_bytes(blob)
    with pytest.raises(TrainerInputError, match=re.escape(str(path))):
        Network.load(path)
    assert not marker.exists()


@pytest.fixture
def iris_search(tmp_path):
    """A SQLite database with a search on iris and one complete trial (no model yet)."""
    url = f"sqlite:///{tmp_path / 'sec.db'}"
    cfg = parse_config(
        {
            "search": {"name": "iris-sec", "trials": 1, "pruner": "none"},
            "data": {"dataset": "iris"},
            "train": {"epochs": 2},
            "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
        }
    )
    with open_storage(url) as store:
        store.create_search(
            "iris-sec", config=cfg.to_dict(), objectives=["dev_accuracy"], directions=["maximize"]
        )
        tid = finished_trial(store, "iris-sec", 0, {"learning_rate": 0.01}, seed=0, epochs_run=2)
    return url, tid


def test_a_stored_model_blob_with_a_pickled_object_is_refused(tmp_path, iris_search):
    url, tid = iris_search
    marker = tmp_path / "pwned"
    with open_storage(url) as store:
        store.save_model(tid, trap_npz(marker, __meta__=np.array(["{}"])))
    good = tmp_path / "in.npz"
    np.savez(good, X=np.ones((3, 4)))
    result = runner.invoke(
        app, ["predict", "iris-sec", "0", "--input", str(good), "--storage", url]
    )
    line = one_error_line(result)
    assert "model of trial 0" in line and "not a saved hpsearch network" in line
    assert not marker.exists()


def test_user_npz_files_with_pickled_objects_are_refused(tmp_path, iris_search):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    evil.write_bytes(trap_npz(marker, y=np.arange(2)))
    # as a dataset for `train`
    line = one_error_line(runner.invoke(app, ["train", "--dataset", str(evil), "--quiet"]))
    assert str(evil) in line
    # as a search's dataset
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[search]\nname = "s"\n[data]\ndataset = "{evil}"\n')
    line = one_error_line(runner.invoke(app, ["validate", str(cfg)]))
    assert line.startswith("error: data.dataset:") and str(evil) in line
    # as the input of `predict`, with a real model stored
    url, tid = iris_search
    data = load_dataset("iris")
    network = train(TrainConfig(layers=1, units=4, epochs=1), data).network
    with open_storage(url) as store:
        store.save_model(tid, network.to_npz_bytes())
    ok = tmp_path / "ok.npz"
    np.savez(ok, X=data.X_dev.T)
    result = runner.invoke(app, ["predict", "iris-sec", "0", "--input", str(ok), "--storage", url])
    assert result.exit_code == 0, result.output  # the model itself loads fine
    result = runner.invoke(
        app, ["predict", "iris-sec", "0", "--input", str(evil), "--storage", url]
    )
    assert str(evil) in one_error_line(result)
    assert not marker.exists()


FORBIDDEN = re.compile(
    r"^\s*(import|from)\s+(pickle|cPickle|_pickle|cloudpickle|dill|joblib|shelve|marshal)\b"
    r"|\bpickle\.loads?\(|cloudpickle|allow_pickle\s*=\s*True|\btorch\.load\(|\bread_pickle\("
    r"|\byaml\.(unsafe_)?load\(|\bmarshal\.loads?\(|\beval\(|\bexec\(",
    re.MULTILINE,
)


def test_no_pickle_or_eval_in_hpsearch():
    hits = [
        f"{p.relative_to(REPO)}: {m.group(0).strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for m in FORBIDDEN.finditer(p.read_text())
    ]
    assert hits == []
    assert FORBIDDEN.search("x = np.load(f, allow_pickle=True)")
    assert FORBIDDEN.search("import cloudpickle")


def test_every_numpy_load_forbids_pickle():
    calls = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            f = node.func
            if f.attr == "load" and isinstance(f.value, ast.Name) and f.value.id in ("np", "numpy"):
                calls += 1
                flags = {k.arg: k.value for k in node.keywords}
                value = flags.get("allow_pickle")
                assert isinstance(value, ast.Constant) and value.value is False, (
                    f"{path.relative_to(REPO)}:{node.lineno}: np.load without allow_pickle=False"
                )
    assert calls >= 2  # the dataset reader and the network reader at least


# --- (3) passwords: never printed, logged or stored -----------------------------------------------


def dump_text(url: str) -> str:
    """Every value of every hps_* table, as text."""
    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        parts = []
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                if name.startswith("hps_"):
                    for row in conn.execute(select(table)):
                        parts += [name, *map(repr, row)]
        return "\n".join(parts)
    finally:
        engine.dispose()


def test_secrets_in_a_config_are_not_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with open_storage(url) as store:
        store.create_search(
            "s",
            config={
                "search": {"name": "s"},
                "note": {"password": PASSWORD, "api_token": PASSWORD},
                "db": f"postgresql+psycopg://u:{PASSWORD}@h/db",
            },
        )
    text = dump_text(url)
    assert "'s'" in text and "postgresql+psycopg://u:***@h/db" in text
    assert PASSWORD not in text


def test_db_commands_print_urls_masked(monkeypatch):
    url = f"postgresql+psycopg://alice:{PASSWORD}@db.example:5432/results"
    result = runner.invoke(app, ["db", "url", "--storage", url])
    assert result.exit_code == 0 and "alice:***@db.example" in result.output
    monkeypatch.setenv("HPSEARCH_STORAGE", url)
    result = runner.invoke(app, ["db", "url"])
    assert result.exit_code == 0 and PASSWORD not in result.output and "***" in result.output


@pytest.mark.postgres
def test_real_search_on_postgres_keeps_the_password_out(ray_local, tmp_path, caplog):
    """A real 2-trial search through a URL with a password: not in any table, output or log."""
    caplog.set_level(logging.DEBUG)
    cfg = tmp_path / "search.toml"
    cfg.write_text(
        "[search]\n"
        f"name = {json.dumps(INJECTION)}\n"
        'trials = 2\nworkers = 2\nsampler = "random"\npruner = "none"\nseed = 1\n'
        '[data]\ndataset = "iris"\n'
        "[train]\nepochs = 2\nlayers = 1\nunits = 8\n"
        '[space]\nlearning_rate = { type = "float", low = 1e-3, high = 1e-1, log = true }\n'
    )
    with postgres_database() as base:
        url = make_url(base).set(password=PASSWORD).render_as_string(hide_password=False)
        assert PASSWORD in url
        outputs = []
        upgraded = runner.invoke(app, ["db", "upgrade", "--storage", url])
        assert upgraded.exit_code == 0, upgraded.output
        # through the environment, as the README recommends (flags show up in `ps`)
        ran = runner.invoke(app, ["run", str(cfg)], env={"HPSEARCH_STORAGE": url})
        assert ran.exit_code == 0, ran.output
        assert "***@" in ran.output  # the URL is shown, masked
        listed = runner.invoke(app, ["trials", INJECTION, "--storage", url, "--format", "json"])
        assert listed.exit_code == 0, listed.output
        assert len(json.loads(listed.stdout)) == 2
        searches = runner.invoke(app, ["searches", "--storage", url, "--format", "json"])
        assert searches.exit_code == 0, searches.output
        outputs += [upgraded.output, ran.output, listed.output, searches.output]
        stored = dump_text(url)
        assert repr(INJECTION) in stored or json.dumps(INJECTION) in stored
        engine = create_engine(url)
        try:
            meta = MetaData()
            meta.reflect(engine)
            assert {"hps_searches", "hps_trials", "hps_epochs"} <= set(meta.tables)
            with engine.connect() as conn:
                trials = conn.execute(select(meta.tables["hps_trials"])).all()
                epochs = conn.execute(select(meta.tables["hps_epochs"])).all()
            assert len(trials) == 2 and len(epochs) >= 2
        finally:
            engine.dispose()
    assert PASSWORD not in stored
    assert "postgresql" not in stored  # the storage URL is not part of the stored definition
    for text in outputs:
        assert PASSWORD not in text
    assert PASSWORD not in caplog.text
    session_dir = Path(ray_local._private.worker._global_node.get_session_dir_path())
    for log_file in (session_dir / "logs").rglob("*"):
        if log_file.is_file() and log_file.stat().st_size < 50_000_000:
            assert PASSWORD.encode() not in log_file.read_bytes(), log_file


# --- (4) user text reaches SQL as bound parameters ------------------------------------------------


class StatementSpy:
    """Records every SQL statement text and its parameters, on every engine."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.parameters: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)
        self.parameters.append(repr(parameters))


@pytest.fixture
def spy():
    recorder = StatementSpy()
    event.listen(Engine, "before_cursor_execute", recorder)
    yield recorder
    event.remove(Engine, "before_cursor_execute", recorder)


NASTY = [
    INJECTION,
    "Robert'); DROP TABLE hps_searches;--",
    '" OR 1=1 --',
    "%",
    "_",
    "a' OR 'a'='a",
]


def test_search_names_go_through_bound_parameters(tmp_path, spy):
    url = f"sqlite:///{tmp_path / 'inj.db'}"
    cfg = {"search": {"name": "x"}, "data": {"dataset": "iris"}}
    with open_storage(url) as store:
        for name in NASTY:
            store.create_search(name, config=cfg)
        store.start_trial(INJECTION, 0, {"optimizer": "adam'; DROP TABLE hps_epochs; --"})
    before = dump_text(url)
    for name in NASTY:
        result = runner.invoke(app, ["trials", name, "--storage", url, "--format", "json"])
        assert result.exit_code == 0, (name, result.output)
    listed = runner.invoke(app, ["searches", "--storage", url, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    names = {s.get("name") for s in json.loads(listed.stdout)}
    assert set(NASTY) <= names  # '%' and '_' are names, not wildcards
    line = one_error_line(runner.invoke(app, ["trials", "nope' OR '1'='1", "--storage", url]))
    assert "no search named" in line
    assert dump_text(url) == before  # every table still there, unchanged
    for name in NASTY:
        if len(name) > 2:
            assert not any(name in s for s in spy.statements), name
            assert any(name in p for p in spy.parameters), name


def test_where_filters_go_through_bound_parameters(tmp_path, spy):
    url = f"sqlite:///{tmp_path / 'where.db'}"
    with open_storage(url) as store:
        store.create_search("w", config={"search": {"name": "w"}})
        for n, opt in enumerate(["adam", "gd", "adam'; DROP TABLE hps_trials; --"]):
            finished_trial(
                store, "w", n, {"optimizer": opt, "dropout": 0.1 * n}, value=0.5 + n / 10
            )
    before = dump_text(url)
    evil = "adam'; DROP TABLE hps_trials; --"

    def rows(*where: str) -> list[dict]:
        args = ["trials", "w", "--storage", url, "--format", "json"]
        for w in where:
            args += ["--where", w]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (where, result.output)
        return json.loads(result.stdout)

    assert [r["number"] for r in rows('optimizer = "' + evil + '"')] == [2]
    assert [r["number"] for r in rows("optimizer = adam")] == [0]
    assert [r["number"] for r in rows("dropout > 0.15")] == [2]
    assert not any(evil in s for s in spy.statements)
    assert any(evil in p for p in spy.parameters)
    for bad in ("optimizer = adam OR 1=1", "dropout > 0; DROP TABLE hps_trials", "1=1 --"):
        result = runner.invoke(app, ["trials", "w", "--storage", url, "--where", bad])
        assert result.exit_code in (0, 2), result.output
        if result.exit_code == 2:
            one_error_line(result)
        else:
            assert "DROP" not in " ".join(spy.statements[-5:])
    assert dump_text(url) == before
