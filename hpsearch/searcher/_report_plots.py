"""The report's plotly figures. A function returns a figure, or a short note (a string) when
there is nothing to draw yet; :mod:`hpsearch.searcher._report` lays them out.

Optuna draws the history and the parallel coordinates from the study rebuilt in memory; the
learning curves, the bias/variance map and the Pareto scatter come from our own tables.
"""

from __future__ import annotations

import math
from typing import Any

from hpsearch.searcher._analysis import StoredStudy, param_importances
from hpsearch.searcher._names import user_name
from hpsearch.storage import Storage, TrialRecord, TrialState

MAX_CURVES = 300  # trials whose curves are drawn: one query each, four traces each
# colour says the state; dash says the split (dev solid, train dotted)
STATE_COLORS = {
    TrialState.COMPLETE: "#1f77b4",
    TrialState.PRUNED: "#ff7f0e",
    TrialState.FAILED: "#d62728",
}
_OTHER_COLOR = "#7f7f7f"  # running, waiting: a report made while the search runs


def history(stored: StoredStudy, objective: str) -> Any:
    import optuna

    if not _finished(stored):
        return "no finished trial yet"
    kwargs: dict[str, Any] = {"target_name": objective}
    if len(stored.study.directions) > 1:
        kwargs["target"] = lambda t: t.values[0]
    fig = optuna.visualization.plot_optimization_history(stored.study, **kwargs)
    values = [t.value for t in stored.trials if finite(t.value)]
    if "loss" in objective and values and min(values) > 0:
        fig.update_yaxes(type="log")  # losses span decades
    return fig


def parallel(stored: StoredStudy, objective: str) -> Any:
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


def importance(stored: StoredStudy, evaluator: str) -> Any:
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


def curves_to_draw(
    trials: list[TrialRecord], ranked: list[TrialRecord], cap: int
) -> list[TrialRecord]:
    """Every trial when there are at most ``cap``; else a share of the cap for each kind in
    proportion to its count: the best complete trials (ranked) and the other trials (pruned,
    failed, running) by number, so pruned curves stay visible in a large search."""
    seen = {t.number for t in ranked}
    rest = sorted((t for t in trials if t.number not in seen), key=lambda t: t.number)
    total = len(ranked) + len(rest)
    if total <= cap:
        return [*ranked, *rest]
    n_rest = min(len(rest), round(cap * len(rest) / total))
    n_ranked = min(len(ranked), cap - n_rest)
    return [*ranked[:n_ranked], *rest[: cap - n_ranked]]


def curves(
    storage: Storage, drawn: list[TrialRecord], top: set[int], trials: list[TrialRecord]
) -> Any:
    """Dev (solid) and train (dotted) loss and accuracy per epoch of every trial in ``drawn``,
    coloured by state; the trials in ``top`` drawn thicker. Loss on a log axis. The legend
    counts each state's curves (of how many ``trials`` when not all are drawn)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not drawn:
        return "no trial yet"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (log axis)", "accuracy"))
    states = sorted({t.state for t in drawn}, key=lambda s: list(TrialState).index(s))
    for state in states:  # one legend entry per state; clicking it hides the whole group
        n = sum(t.state == state for t in drawn)
        of = sum(t.state == state for t in trials)
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=f"{state.value} ({n})" if n == of else f"{state.value} ({n} of {of})",
                legendgroup=state.value,
                line={"color": STATE_COLORS.get(state, _OTHER_COLOR)},
            ),
            row=1,
            col=1,
        )
    positive = True
    for t in drawn:
        epochs = storage.epochs(t.id)
        x = [e.epoch for e in epochs]
        color = STATE_COLORS.get(t.state, _OTHER_COLOR)
        width, opacity = (2.5, 1.0) if t.number in top else (1.0, 0.55)
        for col, metric in ((1, "loss"), (2, "accuracy")):
            for split, dash in (("dev", "solid"), ("train", "dot")):
                y = [plot_value(getattr(e, f"{split}_{metric}")) for e in epochs]
                if col == 1:
                    positive &= all(v is None or v > 0 for v in y)
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        mode="lines+markers" if len(x) == 1 else "lines",
                        name=f"trial {t.number} {split}",
                        legendgroup=t.state.value,
                        showlegend=False,
                        opacity=opacity,
                        line={"color": color, "dash": dash, "width": width},
                        hovertemplate=f"trial {t.number} ({t.state.value}) {split} {metric}"
                        "<br>epoch %{x}: %{y:.4g}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch")
    if positive:
        fig.update_yaxes(type="log", row=1, col=1)
    return fig


def bias_variance(trials: list[TrialRecord], objective: str) -> Any:
    import plotly.graph_objects as go

    points = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and finite(t.train_accuracy)
        and finite(t.dev_accuracy)
        and finite(t.value)
    ]
    if not points:
        return "no complete trial with train and dev accuracy yet"
    train_err = [1 - t.train_accuracy for t in points]  # type: ignore[operator]
    dev_err = [1 - t.dev_accuracy for t in points]  # type: ignore[operator]
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


def pareto_scatter(
    trials: list[TrialRecord],
    front: list[TrialRecord],
    objectives: tuple[str, ...],
    directions: tuple[str, ...],
) -> Any:
    """The first two objectives of every complete trial, the front highlighted and joined."""
    import plotly.graph_objects as go

    points = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and len(t.values) >= 2 and all(map(finite, t.values[:2]))
    ]
    if not points:
        return "no complete trial with both objectives yet"
    on_front = {t.number for t in front}
    rest = [t for t in points if t.number not in on_front]
    line = sorted(front, key=lambda t: (t.values[0], t.values[1]))
    fig = go.Figure()
    for label, group, style in (
        ("other trials", rest, {"mode": "markers", "marker": {"color": "#aaa", "size": 8}}),
        (
            f"Pareto front ({len(front)})",
            line,
            {
                "mode": "lines+markers",
                "marker": {"color": "#d62728", "size": 11},
                "line": {"color": "#d62728"},
            },
        ),
    ):
        fig.add_trace(
            go.Scatter(
                x=[t.values[0] for t in group],
                y=[t.values[1] for t in group],
                name=label,
                customdata=[t.number for t in group],
                hovertemplate=f"trial %{{customdata}}<br>{objectives[0]} %{{x:.4g}}<br>"
                f"{objectives[1]} %{{y:.4g}}<extra></extra>",
                **style,
            )
        )
    fig.update_layout(
        xaxis_title=f"{objectives[0]} ({directions[0]})",
        yaxis_title=f"{objectives[1]} ({directions[1]})",
    )
    return fig


def empty_figure(note: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _finished(stored: StoredStudy) -> bool:
    return any(t.state.is_finished() and t.values for t in stored.study.get_trials(deepcopy=False))


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def plot_value(x: float | None) -> float | None:
    return x if finite(x) else None
