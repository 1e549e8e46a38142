"""The dependency rules of the layout: trainer is NumPy only, storage knows no Ray, and only the
searcher imports ray and optuna."""

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
