"""``hpsearch report``: one self-contained HTML page about a search, readable offline.

Plots are plotly figures; plotly.js is inlined once at the top of the page (no CDN, no network).
Optuna draws the optimisation history and the parallel coordinates from the study rebuilt in
memory; importances come from Optuna's evaluator (see :mod:`hpsearch.searcher._analysis`); the
learning curves and the bias/variance map are drawn from our own tables.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

from hpsearch.searcher._analysis import StoredStudy, load_study, param_importances
from hpsearch.searcher._names import user_name, user_settings
from hpsearch.storage import Storage, TrialRecord, TrialState

# (div id, title): every section of the page, in order; tests look for each.
SECTIONS = (
    ("history", "Optimisation history"),
    ("parallel", "Parallel coordinates"),
    ("importance", "Hyperparameter importance"),
    ("curves", "Learning curves of the top trials"),
    ("bias-variance", "Bias / variance map"),
    ("top-trials", "Top trials"),
)
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def build_report(
    storage: Storage, search: str | int, *, top: int = 5, evaluator: str = "fanova"
) -> str:
    """The report of a search as one HTML document (a string).

    Raises:
        SearchNotFoundError: no such search.
    """
    import plotly.graph_objects as go

    from hpsearch import dev_noise, pareto_front, ranked, split_sizes

    stored = load_study(storage, search)
    record = stored.record
    objective = record.objectives[0]
    order = ranked(stored.trials, record.directions)  # as every view ranks them
    top_trials = order[:top]
    sizes = split_sizes(record)
    noise = dev_noise(order, sizes.dev if sizes else None)
    figures: dict[str, Any] = {
        "history": _history(stored, objective),
        "parallel": _parallel(stored, objective),
        "importance": _importance(stored, evaluator),
        "curves": _curves(storage, top_trials),
        "bias-variance": _bias_variance(stored.trials, objective),
    }
    parts = [_head(record.name), _summary(stored, top_trials), _noise(noise, sizes)]
    if len(record.objectives) > 1:
        front = pareto_front(stored.trials, record.directions)
        parts.append(_pareto(front, record.objectives, record.directions))
    first = True
    for div_id, title in SECTIONS:
        parts.append(f'<section><h2 id="{div_id}-title">{html.escape(title)}</h2>')
        if div_id == "top-trials":
            parts.append(_table(top_trials, objective, div_id))
        else:
            fig = figures[div_id]
            if isinstance(fig, str):  # a note instead of a plot (too few trials ...)
                fig = _empty_figure(go, fig)
            fig.update_layout(template="plotly_white", height=460, margin={"t": 40})
            parts.append(
                fig.to_html(
                    full_html=False,
                    include_plotlyjs=first,  # the whole plotly.js bundle, inline, once
                    div_id=div_id,
                    config={"displaylogo": False},
                )
            )
            first = False
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _head(name: str) -> str:
    title = html.escape(f"hpsearch report: {name}")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;margin:2em auto;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "th{background:#eee}section{margin-bottom:2em}"
        "</style></head><body>"
        f"<h1>{title}</h1>"
    )


def _summary(stored: StoredStudy, top: list[TrialRecord]) -> str:
    r = stored.record
    counts = {s: sum(t.state == s for t in stored.trials) for s in TrialState}
    best = top[0] if top else None
    lines = [
        f"dataset <b>{html.escape(str(r.dataset))}</b>, objective <b>{html.escape(r.objectives[0])}"
        f"</b> ({html.escape(r.directions[0])}), sampler {html.escape(str(r.sampler))}, "
        f"pruner {html.escape(str(r.pruner))}, status {html.escape(r.status.value)}",
        f"{len(stored.trials)} trials: {counts[TrialState.COMPLETE]} complete (trained to the "
        f"end), {counts[TrialState.PRUNED]} pruned, {counts[TrialState.FAILED]} failed",
    ]
    if best is not None:
        shown = user_settings(best.params)  # older searches stored trainer fields (lambd)
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(shown.items()))
        lines.append(
            f"best trial <b>{best.number}</b>: {html.escape(r.objectives[0])} = "
            f"<b>{_fmt(best.value)}</b>; {html.escape(params)}"
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


def _pareto(front: list[TrialRecord], objectives: tuple[str, ...], directions: Any) -> str:
    """The Pareto front as a table: each trial with every objective and its settings."""
    names = sorted({k for t in front for k in user_settings(t.params)})
    head = ["#", *(f"{o} ({d})" for o, d in zip(objectives, directions, strict=True)), *names]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in front:
        shown = user_settings(t.params)
        cells = [t.number, *t.values, *(shown.get(n) for n in names)]
        rows.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    title = f"Pareto front: {len(front)} trial(s) no other trial beats on every objective"
    return (
        f'<section><h2 id="pareto-front-title">{html.escape(title)}</h2>'
        f'<div id="pareto-front"><table>{"".join(rows)}</table></div></section>'
    )


def _history(stored: StoredStudy, objective: str) -> Any:
    import optuna

    if not _finished(stored):
        return "no finished trial yet"
    kwargs: dict[str, Any] = {"target_name": objective}
    if len(stored.study.directions) > 1:
        kwargs["target"] = lambda t: t.values[0]
    return optuna.visualization.plot_optimization_history(stored.study, **kwargs)


def _parallel(stored: StoredStudy, objective: str) -> Any:
    import optuna

    if not _finished(stored):
        return "no finished trial yet"
    kwargs: dict[str, Any] = {"target_name": objective}
    if len(stored.study.directions) > 1:
        kwargs["target"] = lambda t: t.values[0]
    fig = optuna.visualization.plot_parallel_coordinate(stored.study, **kwargs)
    for trace in fig.data:
        for dimension in getattr(trace, "dimensions", None) or ():
            dimension.label = user_name(dimension.label)  # lambd -> lambda
    return fig


def _importance(stored: StoredStudy, evaluator: str) -> Any:
    import plotly.graph_objects as go

    importances = param_importances(stored, evaluator=evaluator)
    if not importances:
        return "importance needs at least two complete trials with different objective values"
    names = list(importances)[::-1]  # largest at the top of a horizontal bar chart
    values = [importances[n] for n in names]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            text=[f"{v:.2f}" for v in values],
            marker_color="#1f77b4",
        )
    )
    fig.update_layout(xaxis_title=f"importance ({evaluator}, sums to 1)")
    return fig


def _curves(storage: Storage, top: list[TrialRecord]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not top:
        return "no complete trial yet"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for i, t in enumerate(top):
        epochs = storage.epochs(t.id)
        color = _PALETTE[i % len(_PALETTE)]
        x = [e.epoch for e in epochs]
        for col, metric in ((1, "loss"), (2, "accuracy")):
            for split, dash in (("train", "dash"), ("dev", "solid")):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=[_plot_value(getattr(e, f"{split}_{metric}")) for e in epochs],
                        mode="lines",
                        name=f"trial {t.number} {split}",
                        legendgroup=f"trial {t.number}",
                        showlegend=col == 1,
                        line={"color": color, "dash": dash},
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch")
    return fig


def _bias_variance(trials: list[TrialRecord], objective: str) -> Any:
    import plotly.graph_objects as go

    points = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and _finite(t.train_accuracy)
        and _finite(t.dev_accuracy)
        and _finite(t.value)
    ]
    if not points:
        return "no complete trial with train and dev accuracy yet"
    train_err = [1 - t.train_accuracy for t in points]
    dev_err = [1 - t.dev_accuracy for t in points]
    top = max([*train_err, *dev_err, 0.05]) * 1.05
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            line={"color": "#999", "dash": "dot"},
            name="dev error = train error",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=train_err,
            y=dev_err,
            mode="markers+text",
            text=[str(t.number) for t in points],
            textposition="top center",
            marker={
                "size": 11,
                "color": [t.value for t in points],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": objective},
            },
            customdata=[[t.number, t.diagnosis or ""] for t in points],
            hovertemplate="trial %{customdata[0]}<br>train error %{x:.3f}<br>"
            "dev error %{y:.3f}<br>%{customdata[1]}<extra></extra>",
            name="trials",
        )
    )
    fig.update_layout(
        xaxis_title="train error (avoidable bias, Bayes error taken as 0)",
        yaxis_title="dev error (above the diagonal: variance)",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def _table(top: list[TrialRecord], objective: str, div_id: str) -> str:
    if not top:
        return f'<div id="{div_id}"><p>no complete trial yet</p></div>'
    names = sorted({k for t in top for k in t.params})
    head = ["#", objective, "train acc", "dev acc", "train loss", "dev loss", "epochs"]
    head += [*names, "diagnosis"]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in top:
        cells = [
            t.number,
            t.value,
            t.train_accuracy,
            t.dev_accuracy,
            t.train_loss,
            t.dev_loss,
            t.epochs_run,
            *(t.params.get(n) for n in names),
            t.diagnosis,
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    return f'<div id="{div_id}"><table>{"".join(rows)}</table></div>'


def _empty_figure(go: Any, note: str) -> Any:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _finished(stored: StoredStudy) -> bool:
    return any(t.state.is_finished() and t.values for t in stored.study.get_trials(deepcopy=False))


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _plot_value(x: float | None) -> float | None:
    return x if _finite(x) else None


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
