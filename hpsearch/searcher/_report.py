"""``hpsearch report``: one self-contained HTML page about a search, readable offline.

Every section has one heading and an id (a contents list at the top links them). Plots are
plotly figures (:mod:`hpsearch.searcher._report_plots`); plotly.js is inlined ONCE, in one script
tag at the top of the page, and no figure carries another copy (no CDN, no network). Tables come
from :mod:`hpsearch.searcher._report_tables`; the table of all trials sorts by clicking a header.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from hpsearch.searcher import _report_plots as plots
from hpsearch.searcher._analysis import StoredStudy, load_study
from hpsearch.searcher._names import user_settings
from hpsearch.searcher._report_tables import (
    SORT_SCRIPT,
    all_trials_table,
    fmt,
    pareto_table,
    top_table,
)
from hpsearch.storage import Storage, TrialRecord, TrialState

# (div id, title): the sections every report has, in order; tests look for each. A search with
# several objectives also has a Pareto front section (PARETO) after the summary.
SECTIONS = (
    ("history", "Optimisation history"),
    ("parallel", "Parallel coordinates"),
    ("importance", "Hyperparameter importance"),
    ("curves", "Learning curves of every trial"),
    ("bias-variance", "Bias / variance map"),
    ("top-trials", "Top trials"),
    ("all-trials", "All trials"),
)
SUMMARY = ("summary", "Summary")
PARETO = ("pareto-scatter", "Pareto front")
IMPORTANCE_MIN_TRIALS = 20  # below this many complete trials, importances get a caveat
_CSS = (
    "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
    "th{background:#eee}section{margin-bottom:2em}"
    "table.sortable th{cursor:pointer;user-select:none}"
    "th[aria-sort=ascending]::after{content:' \\25B2'}"
    "th[aria-sort=descending]::after{content:' \\25BC'}"
    "tr.pruned td:nth-child(2){color:#ff7f0e}tr.failed td:nth-child(2){color:#d62728}"
    "td.error{text-align:left;max-width:28em;overflow:hidden;text-overflow:ellipsis;"
    "white-space:nowrap}"
    ".caveat{background:#fff4e0;border-left:4px solid #ff7f0e;padding:.4em .8em}"
    "nav ul{columns:2;font-size:14px}"
)


def build_report(
    storage: Storage, search: str | int, *, top: int = 5, evaluator: str = "fanova"
) -> str:
    """The report of a search as one HTML document (a string).

    Raises:
        SearchNotFoundError: no such search.
    """
    from hpsearch import dev_noise, pareto_front, ranked, split_sizes

    stored = load_study(storage, search)
    record = stored.record
    objective = record.objectives[0]
    order = ranked(stored.trials, record.directions)  # as every view ranks them
    top_trials = order[:top]
    sizes = split_sizes(record)
    noise = dev_noise(order, sizes.dev if sizes else None)
    drawn = plots.curves_to_draw(stored.trials, order, plots.MAX_CURVES)
    figures: dict[str, Any] = {
        "history": plots.history(stored, objective),
        "parallel": plots.parallel(stored, objective),
        "importance": plots.importance(stored, evaluator),
        "curves": plots.curves(storage, drawn, {t.number for t in top_trials}, stored.trials),
        "bias-variance": plots.bias_variance(stored.trials, objective),
    }
    notes = {
        "importance": _importance_caveat(stored),
        "curves": _curves_note(drawn, len(stored.trials), len(top_trials)),
    }
    sections: list[tuple[str, str, str]] = [
        (*SUMMARY, _summary(stored, top_trials) + _noise(noise, sizes))
    ]
    if len(record.objectives) > 1:
        front = pareto_front(stored.trials, record.directions)
        title = f"{PARETO[1]}: {len(front)} trial(s) no other trial beats on every objective"
        scatter = plots.pareto_scatter(
            stored.trials, front, record.objectives, tuple(record.directions)
        )
        body = _figure(scatter, PARETO[0])
        body += pareto_table(front, record.objectives, record.directions)
        sections.append((PARETO[0], title, body))
    for div_id, title in SECTIONS:
        if div_id == "top-trials":
            body = top_table(top_trials, objective, div_id)
        elif div_id == "all-trials":
            body = "<p>Click a column header to sort; click again to reverse.</p>"
            body += all_trials_table(stored.trials, record.objectives, div_id)
        else:
            body = notes.get(div_id, "") + _figure(figures[div_id], div_id)
        sections.append((div_id, title, body))
    parts = [_head(record.name, sections)]
    for div_id, title, body in sections:
        parts.append(
            f'<section id="{div_id}-section"><h2 id="{div_id}-title">{html.escape(title)}</h2>'
            f"{body}</section>"
        )
    parts += [SORT_SCRIPT, "</body></html>"]
    return "\n".join(parts)


def _figure(fig: Any, div_id: str) -> str:
    """A figure (or a note drawn as an empty figure) without its own copy of plotly.js."""
    if isinstance(fig, str):  # a note instead of a plot (too few trials ...)
        fig = plots.empty_figure(fig)
    fig.update_layout(template="plotly_white", height=460, margin={"t": 40})
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,  # the one copy is in the page's head
        div_id=div_id,
        config={"displaylogo": False},
    )


def _head(name: str, sections: list[tuple[str, str, str]]) -> str:
    from plotly.offline import get_plotlyjs

    title = html.escape(f"hpsearch report: {name}")
    contents = "".join(
        f'<li><a href="#{div_id}-section">{html.escape(t)}</a></li>' for div_id, t, _ in sections
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_CSS}</style>"
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f"<script>{get_plotlyjs()}</script>"  # the whole plotly.js bundle, inline, once
        f"</head><body><h1>{title}</h1>"
        f'<nav id="contents"><ul>{contents}</ul></nav>'
    )


def _summary(stored: StoredStudy, top: list[TrialRecord]) -> str:
    r = stored.record
    counts = {s: sum(t.state == s for t in stored.trials) for s in TrialState}
    best = top[0] if top and top[0].feasible is not False else None  # the best feasible one
    lines = [
        f"dataset <b>{html.escape(str(r.dataset))}</b>, objective <b>{html.escape(r.objectives[0])}"
        f"</b> ({html.escape(r.directions[0])}), sampler {html.escape(str(r.sampler))}, "
        f"pruner {html.escape(str(r.pruner))}, status {html.escape(r.status.value)}",
        f"{len(stored.trials)} trials: {counts[TrialState.COMPLETE]} complete (trained to the "
        f"end), {counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAILED]} failed",
    ]
    if best is not None:
        shown = user_settings(best.params)  # older searches stored trainer fields (lambd)
        params = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(shown.items()))
        lines.append(
            f"best trial <b>{best.number}</b>: {html.escape(r.objectives[0])} = "
            f"<b>{fmt(best.value)}</b>; {html.escape(params)}"
        )
    constraints = (r.config.get("search") or {}).get("constraints") or []
    if constraints:
        ok = sum(t.feasible is True for t in stored.trials)
        lines.append(
            f"constraints {html.escape(', '.join(constraints))}: {ok} of "
            f"{counts[TrialState.COMPLETE]} complete trials feasible (the best trial is the "
            "best feasible one; infeasible ones are marked NO)"
        )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"<small>generated {made}; opens offline (plotly.js is inlined)</small>")
    return "<p>" + "<br>".join(lines) + "</p>"


def _noise(noise: Any, sizes: Any) -> str:
    """The split sizes, the standard error of dev accuracy and the selection warnings."""
    lines = [html.escape(noise.describe())]
    if sizes is not None:
        lines[0] += f" (train {sizes.train}, test {sizes.test})"
    lines += [f"<b>{html.escape(w)}</b>" for w in noise.warnings]
    return '<p id="dev-noise">' + "<br>".join(lines) + "</p>"


def _importance_caveat(stored: StoredStudy) -> str:
    """A warning above importances computed from fewer than about 20 complete trials."""
    n = sum(t.state == TrialState.COMPLETE and plots.finite(t.value) for t in stored.trials)
    if n >= IMPORTANCE_MIN_TRIALS:
        return ""
    return (
        f'<p class="caveat" id="importance-caveat">Computed from only {n} complete trial(s): '
        f"with fewer than about {IMPORTANCE_MIN_TRIALS}, importances change a lot from one "
        "search to the next. Read them as a hint, not a ranking.</p>"
    )


def _curves_note(drawn: list[TrialRecord], total: int, top: int) -> str:
    text = (
        "Dev solid, train dotted; colour by state (complete blue, pruned orange, failed red); "
        f"the top {top} trial(s) drawn thicker. Click a state in the legend to hide or show it."
    )
    if len(drawn) < total:
        complete = sum(t.state == TrialState.COMPLETE for t in drawn)
        text += (
            f" <b>{len(drawn)} of {total} trials drawn</b>: the best {complete} complete "
            f"trial(s) and the first {len(drawn) - complete} of the others by number, in "
            "proportion to their counts; <code>hpsearch export --epochs</code> has every curve."
        )
    return f'<p id="curves-note">{text}</p>'
