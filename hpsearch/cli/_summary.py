"""The summary ``hpsearch run`` and ``resume`` print when a search ends.

Counts (and how many trials trained to the end), the top trials ranked as every other view ranks
them (first objective, then dev loss, then trial number), the dev split's size with the standard
error of dev accuracy and its warnings, the Pareto front for several objectives, and the best
trial's test result. The ranking, front and noise come from the read API's shared functions
(``hpsearch.ranked``, ``hpsearch.pareto_front``, ``hpsearch.dev_noise``), so this summary agrees
with ``trials --top``, ``trials --pareto``, the report and ``hpsearch.open(...).search(...)``.
"""

from __future__ import annotations

from typing import Any

from hpsearch.cli import _render


def summary(outcome: Any, cfg: Any, *, top: int = 5, data: Any = None) -> None:
    """Print the end-of-search summary of a ``SearchOutcome`` for its definition ``cfg``;
    ``data`` (the loaded dataset) saves counting the split sizes again."""
    for line in summary_lines(outcome, cfg, top=top, data=data):
        _render.echo(line)


def budget_line(outcome: Any) -> str:
    """``search 'x' finished: 8 complete, 7 pruned, 1 failed in 12.3 s; 8 of 16 trials trained
    to the end`` (pruned and failed trials stopped early)."""
    total = outcome.complete + outcome.pruned + outcome.failed
    return (
        f"search {outcome.name!r} {outcome.status}: {outcome.complete} complete, "
        f"{outcome.pruned} pruned, {outcome.failed} failed in {outcome.elapsed_s:.1f} s; "
        f"{outcome.complete} of {total} trials trained to the end"
    ) + (f"; stopped early, {stop}" if (stop := getattr(outcome, "stop_reason", None)) else "")


def summary_lines(outcome: Any, cfg: Any, *, top: int = 5, data: Any = None) -> list[str]:
    """The summary's lines (tables already laid out at the terminal's width)."""
    from hpsearch import best_of, dev_noise, pareto_front, ranked, sizes_of, split_sizes

    objectives = list(cfg.search.objectives)
    directions = list(cfg.search.directions)
    fold = _render.fold
    lines = [fold(budget_line(outcome))]
    if warm := getattr(outcome, "warm_start", None):  # what the sampler learnt from first
        lines.append(fold(warm))
    order = ranked(outcome.trials, directions)
    if order:
        lines += _table(order[:top], objectives, f"top trials by {objectives[0]}")
    sizes = sizes_of(data, cfg.data.folds) if data is not None else split_sizes(cfg.to_dict())
    noise = dev_noise(order, sizes.dev if sizes else None)
    if order:
        lines += [fold(noise.describe()), *map(fold, noise.warnings)]
    if len(objectives) > 1:
        front = pareto_front(outcome.trials, directions)
        title = f"Pareto front: {_render.plural(len(front), 'trial')} no other trial beats on "
        title += "every objective (" + ", ".join(objectives) + ")"
        lines += _table(front, objectives, title) if front else [title]
    lines += map(fold, _constraint_lines(cfg, order))
    lines += map(fold, _test_lines(outcome, best_of(outcome.trials, directions)))
    return lines


def _constraint_lines(cfg: Any, order: list[Any]) -> list[str]:
    """How many complete trials met every [search] constraint; none: there is no best."""
    constraints = list(getattr(cfg.search, "constraints", ()))
    if not constraints:
        return []
    ok = sum(t.feasible is not False for t in order)
    line = f"constraints {', '.join(constraints)}: {ok} of {len(order)} complete trials feasible"
    if order and not ok:
        line += "; no trial met every constraint, so there is no best trial"
    return [line]


def _table(trials: list[Any], objectives: list[str], title: str) -> list[str]:
    rows, cols = _render.trial_rows(trials, objectives[0], objectives)
    cols = [c for c in cols if c != "state"] + (["n_params"] if "n_params" not in cols else [])
    cols.insert(cols.index("n_params") + 1, "predict_ms")
    for r, t in zip(rows, trials, strict=True):
        r["n_params"], r["predict_ms"] = t.n_params, t.predict_ms
    heads = [_render.HEADERS.get(c, c) for c in cols]
    cells = [[_render.cell(r.get(c)) for c in cols] for r in rows]
    return _render.table_lines(heads, cells, width=_render.terminal_width(), title=title)


def _test_lines(outcome: Any, best: Any) -> list[str]:
    """The test split's result of the best trial (the driver scores it once, at the end)."""
    if best is None:
        return []
    if best.test_accuracy is not None:
        acc, loss, number = best.test_accuracy, best.test_loss, best.number
    elif outcome.best is not None and outcome.best_test_accuracy is not None:
        acc, loss, number = outcome.best_test_accuracy, outcome.best_test_loss, outcome.best.number
    else:
        return []
    line = f"best trial {number} on the test split: accuracy {acc:.4f}, loss {_render.cell(loss)}"
    if number != best.number:
        line += f" (trial {best.number} ranks first; its test split was not scored)"
    return [line]
