"""What `validate` checks beyond the file itself (issues 12 and 16): memory and CPUs of this
machine, the packages a sampler needs, pruner warm-up, non-finite numbers, deep nesting, hostile
names; and the flags `run`/`resume` take for them."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.searcher import ConfigError, default_memory_limit_mb, parse_config
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
