"""The dependency rules of the layout (docs/ARCHITECTURE.md): trainer is NumPy only, storage knows
neither Ray nor the trainer, only the searcher imports ray and optuna (and only where it must), the
command line uses public names only, and no module grows past about 400 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hpsearch"


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_trainer_loads_only_numpy_and_the_standard_library() -> None:
    loaded = _loaded_after("import hpsearch.trainer")
    ours = {"__main__", "hpsearch", "numpy", "_distutils_hack"}
    third_party = loaded - set(sys.stdlib_module_names) - ours
    assert third_party == set()


def test_storage_loads_no_ray_or_optuna() -> None:
    loaded = _loaded_after("import hpsearch.storage")
    assert not loaded & {"ray", "optuna"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_searcher_imports_ray_and_optuna() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0]
        if part == "searcher":
            continue
        used = _imports(path) & {"ray", "optuna"}
        if used:
            offenders.append(f"{path.relative_to(PACKAGE)}: {sorted(used)}")
    assert offenders == []


def test_trainer_imports_nothing_else_of_hpsearch() -> None:
    for path in (PACKAGE / "trainer").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                outside = node.module.startswith("hpsearch") and not node.module.startswith(
                    "hpsearch.trainer"
                )
                assert not outside, f"{path.name}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("hpsearch") for a in node.names), path.name


def _hpsearch_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every absolute ``hpsearch...`` import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("hpsearch"):
                found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("hpsearch")]
    return found


def test_storage_imports_neither_trainer_nor_searcher() -> None:
    for path in (PACKAGE / "storage").rglob("*.py"):
        for module, _ in _hpsearch_imports(path):
            assert module.split(".")[1:2] in (["storage"], ["errors"]), f"{path.name}: {module}"


def test_the_command_line_imports_no_private_module_of_another_package() -> None:
    offenders = []
    for path in (PACKAGE / "cli").rglob("*.py"):
        for module, names in _hpsearch_imports(path):
            parts = module.split(".")
            if parts[1:2] == ["cli"]:
                continue
            private = [p for p in parts[1:] if p.startswith("_")] + [
                n for n in names if n.startswith("_")
            ]
            if private:
                offenders.append(f"{path.relative_to(PACKAGE)}: {module} {names}")
    assert offenders == []


def test_the_command_line_starts_without_ray_or_optuna() -> None:
    assert not _loaded_after("import hpsearch.cli") & {"ray", "optuna"}


def test_definition_naming_replay_and_predict_load_neither_ray_nor_optuna() -> None:
    names = "load_config, parse_config, SearchConfig, user_name, replay_trial, predict_file"
    loaded = _loaded_after(f"from hpsearch.searcher import {names}")
    assert not loaded & {"ray", "optuna"}


def test_constraints_seeding_and_own_model_definitions_load_neither_ray_nor_optuna() -> None:
    modules = ("_constraints", "_latency", "_entrypoint", "_own_model", "_parse_seeding")
    code = "; ".join(f"import hpsearch.searcher.{m}" for m in modules)
    assert not _loaded_after(code) & {"ray", "optuna"}


def test_analysis_and_report_load_optuna_but_not_ray() -> None:
    loaded = _loaded_after("from hpsearch.searcher import load_study, build_report")
    assert "optuna" in loaded
    assert "ray" not in loaded


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    long = {name: n for name, n in sizes.items() if n > 420}
    assert long == {}
