"""The live line says how many finished trials trained to the end (issue 12: pruned trials count
toward the budget, and nothing said how many networks were trained fully)."""

from __future__ import annotations

import io

from hpsearch.searcher import Progress


def test_the_line_says_how_many_trials_trained_to_the_end() -> None:
    out = io.StringIO()
    progress = Progress(stream=out, live=False)
    progress.start(total=16, done=0, counts={}, best=None)
    counts = {"complete": 3, "pruned": 7, "failed": 1}
    progress.update(done=11, running=2, counts=counts, best=0.93)
    last = out.getvalue().strip().splitlines()[-1]
    assert "trials 11/16 (3 trained to the end)" in last
    assert "pruned 7" in last and "failed 1" in last and "running 2" in last
