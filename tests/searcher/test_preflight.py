"""What `validate` checks beyond the file itself (issues 12 and 16): memory and CPUs of this
machine, the packages a sampler needs, pruner warm-up, non-finite numbers, deep nesting, hostile
names; and the flags `run`/`resume` take for them."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.searcher import (
    ConfigError,
    check_search_name,
    default_memory_limit_mb,
    parse_config,
)
from tests.cli_checks import one_error_line

runner = CliRunner()

BASE: dict[str, Any] = {
    "search": {"name": "pre", "trials": 4},
    "data": {"dataset": "iris"},
    "train": {"epochs": 30},
    "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
}


def raw_with(**search: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    raw["search"].update(search)
    return raw


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def toml(search: str = "", rest: str = "") -> str:
    return (
        f'[search]\nname = "pre"\ntrials = 4\n{search}\n[data]\ndataset = "iris"\n'
        f"[train]\nepochs = 30\n{rest}"
    )


# --- contracts: database_patience and the memory limit --------------------------------------


def test_database_patience_defaults_to_ten_minutes_and_is_checked() -> None:
    assert parse_config(BASE).search.database_patience == 600
    assert parse_config(raw_with(database_patience=2.5)).search.database_patience == 2.5
    for bad in (-1, "soon", float("nan"), float("inf")):
        with pytest.raises(ConfigError) as info:
            parse_config(raw_with(database_patience=bad))
        assert info.value.field == "search.database_patience"
    stored = parse_config(raw_with(database_patience=30)).to_dict()
    assert parse_config(stored).search.database_patience == 30


def test_database_patience_flag_overrides_and_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path, toml())
    line = one_error_line(runner.invoke(app, ["run", str(path), "--database-patience", "-1"]))
    assert line.startswith("error: --database-patience: expected a number of seconds >= 0")
    line = one_error_line(runner.invoke(app, ["resume", "x", "--database-patience", "nan"]))
    assert line.startswith("error: --database-patience:")
    cfg = parse_config(BASE).with_overrides(database_patience=5.0)
    assert cfg.search.database_patience == 5.0


def test_default_memory_limit_is_this_machines_memory_minus_a_margin() -> None:
    total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    limit = default_memory_limit_mb()
    assert isinstance(limit, int)
    assert 256 <= limit <= total_mb - min(1024, total_mb // 2)


def test_validate_prints_the_memory_limit(tmp_path: Path) -> None:
    auto = runner.invoke(app, ["validate", str(write(tmp_path, toml()))])
    assert auto.exit_code == 0, auto.output
    expected = f"memory limit per trial: {default_memory_limit_mb():,} MiB (auto: this machine)"
    assert expected in auto.output.splitlines()
    given = runner.invoke(
        app, ["validate", str(write(tmp_path, toml("memory_limit_mb = 4000"), "m.toml"))]
    )
    assert "memory limit per trial: 4,000 MiB (search.memory_limit_mb)" in given.output


# --- refusals happen before a database is opened or Ray started -----------------------------


@pytest.fixture
def guarded(monkeypatch):
    """Opening storage or starting Ray for a refused input is a bug: make it fail loudly."""

    def no_storage(url):
        raise AssertionError(f"storage {url} opened although the input was invalid")

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray started although the input was invalid")

    monkeypatch.setattr("hpsearch.cli._app.open_store", no_storage)
    monkeypatch.setattr("hpsearch.searcher._run.ray_session", no_ray)


def refused(path: Path) -> str:
    """validate and run refuse ``path`` with the same one line, before storage or Ray."""
    line = one_error_line(runner.invoke(app, ["validate", str(path)]))
    ran = runner.invoke(app, ["run", str(path), "--storage", "sqlite:///never.db", "--quiet"])
    assert one_error_line(ran) == line
    return line


# --- issue 16, defect 10: non-finite numbers, deep nesting, other parse failures ------------

NON_FINITE = [
    ("sampler_options = { prior_weight = nan }", "", "search.sampler_options.prior_weight"),
    ("sampler_options = { consider_endpoints = inf }", "", "search.sampler_options"),
    ('pruner = "percentile"\npruner_options = { percentile = nan }', "", "search.pruner_options"),
    ("sampler_options = { a = { b = [1, -inf] } }", "", "search.sampler_options.a.b[1]"),
    ("", "learning_rate = nan\n", "train.learning_rate"),
    ("", "lambda = inf\n", "train.lambda"),
    ("", "decay_rate = -nan\n", "train.decay_rate"),
    ("", "[space]\ndropout = [0.1, nan]\n", "space.dropout[1]"),
    ("", "[space]\nbeta1 = { type = 'float', low = 0.8, high = inf }\n", "space.beta1.high"),
    ("", "[data]\nsplit = [0.7, nan, 0.3]\n", "data.split[1]"),
    ("trial_timeout = 1e999", "", "search.trial_timeout"),
]


@pytest.mark.parametrize(("search", "rest", "where"), NON_FINITE)
def test_non_finite_numbers_are_refused_where_written(
    tmp_path: Path, guarded, search: str, rest: str, where: str
) -> None:
    text = toml(search).replace('[data]\ndataset = "iris"\n', "") + rest
    if "[data]" not in rest:
        text += '[data]\ndataset = "iris"\n'
    line = refused(write(tmp_path, text))
    assert line.startswith(f"error: {where}"), line
    assert "finite" in line, line


def test_a_parsed_definition_never_holds_a_non_finite_number() -> None:
    """The stored form is JSON: NaN there came back as the string "nan" and broke resume."""
    for raw in (
        raw_with(sampler_options={"prior_weight": float("nan")}),
        raw_with(pruner_options={"n_warmup_steps": float("inf")}),
        {**copy.deepcopy(BASE), "train": {"epochs": 3, "learning_rate": float("nan")}},
    ):
        with pytest.raises(ConfigError, match="expected a finite number"):
            parse_config(raw)
    stored = json.dumps(parse_config(BASE).to_dict(), allow_nan=False)
    assert parse_config(json.loads(stored)) == parse_config(BASE)


def test_a_deeply_nested_table_is_one_line(tmp_path: Path, guarded) -> None:
    deep = "sampler_options = " + "{ a = " * 400 + "1" + " }" * 400
    line = refused(write(tmp_path, toml(deep)))
    assert line == f"error: {tmp_path / 's.toml'}: invalid TOML: tables or lists nested too deeply"
    lists = "sampler_options = { a = " + "[" * 3000 + "]" * 3000 + " }"
    assert "nested too deeply" in refused(write(tmp_path, toml(lists), "l.toml"))
    nested: dict[str, Any] = {"b": 1}
    for _ in range(5000):  # a stored definition (JSON) nested as deeply
        nested = {"a": nested}
    with pytest.raises(ConfigError, match=r"^search\.sampler_options: nested more than 32"):
        parse_config(raw_with(sampler_options=nested))


def test_other_parse_failures_are_one_line(tmp_path: Path, guarded) -> None:
    huge = refused(write(tmp_path, toml("trials = " + "1" * 5000)))  # int() digit limit
    assert huge.startswith(f"error: {tmp_path / 's.toml'}: invalid TOML")
    nul = toml().replace('dataset = "iris"', 'dataset = "a\\u0000.csv"')
    assert refused(write(tmp_path, nul, "n.toml")).startswith("error: data.dataset: ")
    big_seed = refused(write(tmp_path, toml("seed = 99999999999999999999"), "b.toml"))
    assert big_seed.startswith("error: search.seed: expected an integer <= 4294967295")


# --- issue 16, defect 11: hostile search names ----------------------------------------------

HOSTILE = [
    "a\x1b[2J",
    "x\x1b]0;title\x07",
    "nul\x00",
    "bel\x07",
    "del\x7f",
    "nel\x85",
    "a\nb",
    "a\tb",
]


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_control_characters_in_a_name_are_refused(tmp_path: Path, guarded, name: str) -> None:
    escaped = json.dumps(name)  # a TOML basic string holds them as \\uXXXX escapes
    line = refused(write(tmp_path, toml().replace('name = "pre"', f"name = {escaped}")))
    assert line.startswith("error: search.name: control character U+"), line
    ran = runner.invoke(app, ["run", str(write(tmp_path, toml(), "ok.toml")), "--name", name])
    assert one_error_line(ran).startswith("error: --name: control character U+")
    resumed = runner.invoke(app, ["resume", name])
    assert one_error_line(resumed).startswith("error: NAME: control character U+")


def test_names_are_stripped_the_same_way_everywhere() -> None:
    assert check_search_name("  digits  ") == "digits"
    assert parse_config(raw_with(name="  digits ")).search.name == "digits"
    assert parse_config(BASE).with_overrides(name=" other ").search.name == "other"
    assert check_search_name("naïve-名前 (2)") == "naïve-名前 (2)"  # printable Unicode is fine
    for bad in ("", "   ", "x" * 201, "a\u202eb", "a\u2028b", "a\udcffb", 7):
        with pytest.raises(ConfigError) as info:
            check_search_name(bad, field="--name")
        assert str(info.value).startswith("--name: ") and info.value.field == "--name"


def test_a_name_looked_up_with_spaces_finds_the_stored_one(tmp_path: Path, monkeypatch) -> None:
    seen: list[str] = []

    def stored_config(store, name, **kwargs):
        seen.append(name)
        raise ConfigError("stop here", field="NAME")

    monkeypatch.setattr("hpsearch.searcher.stored_config", stored_config)
    monkeypatch.setattr("hpsearch.cli._app.open_store", lambda url: None)
    runner.invoke(app, ["resume", "  digits  "])
    assert seen == ["digits"]


# --- issue 12: samplers that cannot crash a search ------------------------------------------


@pytest.fixture
def missing(monkeypatch):
    """Make ``find_spec`` report the named modules as not installed (nothing is imported)."""
    import importlib.util

    gone: set[str] = set()
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in gone else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return gone


def test_gp_without_torch_is_refused_naming_the_extra(tmp_path: Path, guarded, missing) -> None:
    missing.add("torch")
    line = refused(write(tmp_path, toml('sampler = "gp"')))
    assert line == (
        "error: search.sampler: the gp sampler needs torch, which is not installed; "
        "pip install 'hpsearch[gp]'"
    )


@pytest.mark.parametrize(
    ("sampler", "module"), [("gp", "scipy"), ("qmc", "scipy"), ("cmaes", "cmaes")]
)
def test_every_sampler_dependency_is_checked(
    tmp_path: Path, guarded, missing, sampler: str, module: str
) -> None:
    missing.add(module)
    line = refused(write(tmp_path, toml(f'sampler = "{sampler}"')))
    assert line.startswith(f"error: search.sampler: the {sampler} sampler needs ")
    assert f"{module}, which" in line or f"and {module}, which" in line, line
    assert f"pip install {module}" in line


@pytest.mark.parametrize(
    ("search", "where", "expected"),
    [
        ('sampler_options = { prior_weight = "2.0" }', "prior_weight", "a number"),
        ("sampler_options = { consider_endpoints = 1 }", "consider_endpoints", "true or false"),
        ('sampler = "cmaes"\nsampler_options = { sigma0 = "big" }', "sigma0", "a number"),
        ('sampler = "cmaes"\nsampler_options = { popsize = 1.5 }', "popsize", "an integer"),
        (
            'sampler = "nsga2"\nsampler_options = { mutation_prob = "x" }',
            "mutation_prob",
            "a number",
        ),
    ],
)
def test_options_optuna_leaves_untyped_are_checked_by_their_annotation(
    tmp_path: Path, guarded, search: str, where: str, expected: str
) -> None:
    """Optuna 5 gives these a None default, so a string passed the sampler's constructor and
    failed when the sampler first used it, after its start-up trials."""
    line = refused(write(tmp_path, toml(search)))
    assert line.startswith(f"error: search.sampler_options.{where}: expected {expected}"), line


def test_well_typed_options_pass(tmp_path: Path) -> None:
    search = "sampler_options = { prior_weight = 2, consider_endpoints = true }"
    ok = runner.invoke(app, ["validate", str(write(tmp_path, toml(search)))])
    assert ok.exit_code == 0, ok.output


def test_installed_dependencies_pass_without_importing_them(tmp_path, monkeypatch) -> None:
    """A found spec is enough (torch takes seconds to import; here it is not even installed,
    so importing it would fail the check)."""
    import importlib.util
    import sys

    numpy_spec, real = importlib.util.find_spec("numpy"), importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return numpy_spec if name == "torch" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    had_torch = "torch" in sys.modules
    ok = runner.invoke(app, ["validate", str(write(tmp_path, toml('sampler = "gp"')))])
    assert ok.exit_code == 0, ok.output
    assert ("torch" in sys.modules) == had_torch


def test_pyproject_has_a_gp_extra_with_torch() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(dep.startswith("torch") for dep in extras["gp"])
    assert not any(dep.startswith("torch") for dep in extras["dev"])


# --- issue 12: budgets that mean what they say (pruner warm-up) ------------------------------


def _first_pruned_epoch(config) -> int | None:
    """The epoch at which the configured pruner stops a poor trial after 8 good finished ones."""
    import optuna

    from hpsearch.searcher._optuna import make_pruner

    study = optuna.create_study(direction="maximize", pruner=make_pruner(config))
    for _ in range(8):
        good = study.ask()
        for s in range(1, 31):
            good.report(0.9, s)
            assert not good.should_prune()  # successive halving records its rungs here
        study.tell(good, 0.9)
    poor = study.ask()
    for s in range(1, 31):
        poor.report(0.1, s)
        if poor.should_prune():
            return s
    return None


@pytest.mark.parametrize("pruner", ["median", "percentile", "successive_halving", "hyperband"])
def test_a_pruner_without_warm_up_settings_never_prunes_at_epoch_1(pruner: str) -> None:
    config = parse_config(raw_with(pruner=pruner))  # 30 epochs, no pruner_options
    assert config.derived_options
    first = _first_pruned_epoch(config)
    assert first is not None and first >= 3, first  # it still prunes, but not at once


def test_warm_up_defaults_follow_the_epochs_and_start_up_trials() -> None:
    median = parse_config(raw_with(pruner="median")).search.pruner_options
    assert median == {"n_startup_trials": 5, "n_warmup_steps": 10}
    tpe = parse_config(raw_with(pruner="median", sampler_options={"n_startup_trials": 20}))
    assert tpe.search.pruner_options["n_startup_trials"] == 10
    hb = parse_config(raw_with(pruner="hyperband")).search.pruner_options
    assert hb == {"min_resource": 3, "max_resource": 30}
    given = parse_config(raw_with(pruner="median", pruner_options={"n_warmup_steps": 4}))
    assert given.search.pruner_options == {"n_warmup_steps": 4, "n_startup_trials": 5}
    assert given.derived_options == ("n_startup_trials",)
    searched = copy.deepcopy(BASE)
    searched["train"] = {}
    searched["search"]["pruner"] = "median"
    searched["space"]["epochs"] = {"type": "int", "low": 12, "high": 60}
    assert parse_config(searched).search.pruner_options["n_warmup_steps"] == 4
    stored = parse_config(raw_with(pruner="median")).to_dict()  # resume builds the same pruner
    assert parse_config(stored).search.pruner_options == median
    assert parse_config(raw_with(pruner="none")).search.pruner_options == {}


def test_the_default_pruner_is_successive_halving_with_a_derived_first_rung() -> None:
    default = parse_config(BASE)
    assert default.search.pruner == "successive_halving"
    assert default.search.pruner_options == {"min_resource": 3}  # a tenth of 30 epochs
    assert default.derived_options == ("min_resource",)
    assert _first_pruned_epoch(default) == 3  # the first rung, not epoch 1
    # stored searches keep the pruner they were made with: it is part of the stored definition
    stored = parse_config(raw_with(pruner="median")).to_dict()
    assert parse_config(stored).search.pruner == "median"


def test_validate_says_which_settings_it_derived(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write(tmp_path, toml()))])
    assert result.exit_code == 0
    assert (
        "pruner successive_halving: min_resource = 3 (derived: first rung at a tenth of "
        "30 epochs" in result.output
    )
    median = runner.invoke(app, ["validate", str(write(tmp_path, toml('pruner = "median"')))])
    assert (
        "pruner median: n_startup_trials = 5, n_warmup_steps = 10 (derived: warm-up a third of "
        "30 epochs" in median.output
    )


@pytest.mark.parametrize(
    "search",
    [
        'pruner = "median"\npruner_options = { n_warmup_steps = 0 }',
        'pruner = "percentile"\npruner_options = { n_warmup_steps = 1 }',
        'pruner = "successive_halving"\npruner_options = { min_resource = 1 }',
        'pruner = "successive_halving"\npruner_options = { min_resource = "auto" }',
        'pruner = "hyperband"\npruner_options = { min_resource = 1 }',
    ],
)
def test_validate_warns_when_the_settings_prune_at_epoch_1(tmp_path: Path, search: str) -> None:
    result = runner.invoke(app, ["validate", str(write(tmp_path, toml(search)))])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.output
    assert "search.pruner_options" in warnings[0] and "at epoch 1 of 30" in warnings[0]


def test_no_warning_for_settings_that_wait(tmp_path: Path) -> None:
    for search in (
        'pruner = "median"\npruner_options = { n_warmup_steps = 2 }',
        'pruner = "successive_halving"\npruner_options = { min_resource = 1, '
        "min_early_stopping_rate = 1 }",
        'pruner = "none"',
    ):
        result = runner.invoke(app, ["validate", str(write(tmp_path, toml(search)))])
        assert result.exit_code == 0, result.output
        assert "\nwarning:" not in result.output, result.output


# --- issue 16, defect 8 (validate side): more CPUs per trial than this machine has ----------


def test_validate_warns_when_a_trial_needs_more_cpus_than_this_machine(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))
    big = runner.invoke(
        app, ["validate", str(write(tmp_path, toml(f"cpus_per_trial = {cpus + 1}")))]
    )
    assert big.exit_code == 0, big.output
    assert (
        f"warning: search.cpus_per_trial = {cpus + 1} but this machine has {cpus} CPUs"
        in big.output
    )
    fits = runner.invoke(app, ["validate", str(write(tmp_path, toml("cpus_per_trial = 1")))])
    assert "cpus_per_trial" not in fits.output


# --- resume: a stored definition goes through the same checks --------------------------------


def _stored(tmp_path: Path, config: dict[str, Any], name: str = "pre") -> str:
    from hpsearch.storage import open_storage

    url = f"sqlite:///{tmp_path / 'results.db'}"
    with open_storage(url) as store:
        store.create_search(name, config=config, sampler=config["search"].get("sampler"))
    return url


def test_resume_refuses_a_sampler_whose_package_is_missing(tmp_path: Path, missing) -> None:
    missing.add("torch")
    url = _stored(tmp_path, parse_config(raw_with(sampler="gp")).to_dict())
    line = one_error_line(runner.invoke(app, ["resume", " pre ", "--storage", url]))
    assert line.startswith("error: search.sampler: the gp sampler needs torch")


def test_resume_of_a_definition_stored_with_nan_as_text_is_one_line(tmp_path: Path) -> None:
    """What older versions stored for `prior_weight = nan`: resume crashed with a TypeError."""
    stored = parse_config(BASE).to_dict()
    stored["search"]["sampler_options"] = {"prior_weight": "nan"}
    url = _stored(tmp_path, stored)
    line = one_error_line(runner.invoke(app, ["resume", "pre", "--storage", url]))
    assert line.startswith("error: search.sampler_options.prior_weight: expected a number")


def test_the_preflight_loads_no_ray() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from hpsearch.searcher import parse_config, preflight, definition_notes; "
        "c = parse_config({'search': {'name': 'x'}}); preflight(c); definition_notes(c); "
        "print('ray' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
