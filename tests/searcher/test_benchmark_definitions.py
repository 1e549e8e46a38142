"""The search definitions the benchmarks build are valid and their data loads.

A benchmark runs for minutes and is never part of the test suite, so a definition it builds
that the searcher refuses would only show when someone runs it (search_quality.py's Fashion-MNIST
problem once named its data as a path with ``:m=6000`` and never ran). This loads each one.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hpsearch.searcher import load_search_data

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize("problem", ["digits", "fashion"])
def test_search_quality_problems_load(problem: str) -> None:
    sq = _module("search_quality")
    _title, data, target = sq.PROBLEMS[problem]
    if problem == "fashion" and not sq.FASHION.exists():
        pytest.skip(f"{sq.FASHION} is missing (apt-get install dataset-fashion-mnist)")
    arms = {m: sq.method_config(m, f"check-{problem}", data, 3, 0) for m in sq.METHODS}
    arms["hpsearch_median"] = sq.method_config("hpsearch_median", "check", data, 3, 0)
    # (a) and (c) run successive halving set as Ray Tune's ASHA; the extra arm the median
    # pruner; random search samples at random and prunes nothing
    for method in ("hpsearch", "optuna"):
        assert (arms[method].search.sampler, arms[method].search.pruner) == (
            "tpe",
            "successive_halving",
        )
        assert arms[method].search.pruner_options == sq.ASHA_OPTIONS
    assert arms["hpsearch_median"].search.pruner_options == sq.MEDIAN_OPTIONS
    assert (arms["random"].search.sampler, arms["random"].search.pruner) == ("random", "none")
    config = arms["hpsearch"]
    loaded = load_search_data(config)
    n = loaded.X_train.shape[1] + loaded.X_dev.shape[1] + loaded.X_test.shape[1]
    if "max_samples" in data:
        assert n == pytest.approx(data["max_samples"], abs=10)
    assert 0.5 < target < 1.0
