"""The report's HTML tables: the top trials, the Pareto front, and every trial in a table the
reader sorts by clicking a header (plain JavaScript inside the page, no network).

Every stored text (parameter values, diagnoses, error texts) is escaped here.
"""

from __future__ import annotations

import html
import math
from typing import Any

from hpsearch.searcher._names import user_settings
from hpsearch.storage import TrialRecord

# Clicking a header sorts that column; clicking it again reverses. Numbers compare as numbers
# (their value is in data-v), text as text; a missing value (data-v="": None, NaN, inf) stays
# last in both directions. The sort is stable, so sorting by state then by value groups them.
SORT_SCRIPT = """<script>
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { return cell.textContent; }
    if (v === "") { return null; }
    return Number(v);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (x === null || y === null) { return (x === null) - (y === null); }
          var c = (typeof x === "number" && typeof y === "number")
            ? x - y : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
</script>"""
_ERROR_CHARS = 160  # an error text is cut to its last line, this long; the whole text in a tooltip


def top_table(top: list[TrialRecord], objective: str, div_id: str) -> str:
    """The best trials, best first (the order of every other view)."""
    if not top:
        return f'<div id="{div_id}"><p>no complete trial yet</p></div>'
    names = sorted({k for t in top for k in t.params})
    marked = any(t.feasible is not None for t in top)  # [search] constraints
    head = ["#", objective, *(["feasible"] if marked else [])]
    head += ["train acc", "dev acc", "train loss", "dev loss", "epochs", "params", "predict ms"]
    head += [*names, "diagnosis"]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in top:
        cells = [
            t.number,
            t.value,
            *([feasible_text(t)] if marked else []),
            t.train_accuracy,
            t.dev_accuracy,
            t.train_loss,
            t.dev_loss,
            t.epochs_run,
            t.n_params,
            t.predict_ms,
            *(t.params.get(n) for n in names),
            t.diagnosis,
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in cells) + "</tr>")
    return f'<div id="{div_id}"><table>{"".join(rows)}</table></div>'


def pareto_table(front: list[TrialRecord], objectives: tuple[str, ...], directions: Any) -> str:
    """The Pareto front as a table: each trial with every objective and its settings."""
    names = sorted({k for t in front for k in user_settings(t.params)})
    head = ["#", *(f"{o} ({d})" for o, d in zip(objectives, directions, strict=True)), *names]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for t in front:
        shown = user_settings(t.params)
        cells = [t.number, *t.values, *(shown.get(n) for n in names)]
        rows.append("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in cells) + "</tr>")
    return f'<div id="pareto-front"><table>{"".join(rows)}</table></div>'


def all_trials_table(trials: list[TrialRecord], objectives: tuple[str, ...], div_id: str) -> str:
    """Every stored trial, by number, in a table sorted by clicking a header."""
    if not trials:
        return f'<div id="{div_id}"><p>no trial yet</p></div>'
    names = sorted({k for t in trials for k in user_settings(t.params)})
    marked = any(t.feasible is not None for t in trials)  # [search] constraints
    head = ["#", "state", *objectives, *(["feasible"] if marked else [])]
    head += ["train acc", "dev acc", "train loss", "dev loss"]
    head += ["epochs", "seconds", "params", "predict ms", *names, "diagnosis", "why it stopped"]
    heads = "".join(f'<th title="click to sort">{html.escape(h)}</th>' for h in head)
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        shown = user_settings(t.params)
        values = [t.values[i] if i < len(t.values) else None for i in range(len(objectives))]
        cells = [t.number, t.state.value, *values, *([feasible_text(t)] if marked else [])]
        cells += [t.train_accuracy, t.dev_accuracy]
        cells += [t.train_loss, t.dev_loss, t.epochs_run, t.duration_s, t.n_params, t.predict_ms]
        cells += [*(shown.get(n) for n in names), t.diagnosis]
        row = "".join(_cell(c) for c in cells) + _stop_cell(t)
        kind = t.state.value + (" infeasible" if t.feasible is False else "")
        rows.append(f'<tr class="{html.escape(kind)}">{row}</tr>')
    return (
        f'<div id="{div_id}"><table class="sortable"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(value: Any) -> str:
    """A cell whose number sorts numerically (data-v); a missing number sorts last."""
    if isinstance(value, bool) or (not isinstance(value, int | float) and value is not None):
        return f"<td>{html.escape(fmt(value))}</td>"
    if value is None or not math.isfinite(value):
        return f'<td data-v="">{html.escape(fmt(value))}</td>'
    return f'<td data-v="{value!r}">{html.escape(fmt(value))}</td>'


def _stop_cell(t: TrialRecord) -> str:
    """Why a trial failed: its reason and the last line of its error text (whole in a tooltip)."""
    if t.fail_reason is None and not t.error_text:
        return '<td data-v="">-</td>'
    reason = t.fail_reason.value if t.fail_reason is not None else ""
    lines = [ln for ln in (t.error_text or "").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    if len(last) > _ERROR_CHARS:
        last = last[: _ERROR_CHARS - 1] + "…"
    shown = f"{reason}: {last}" if reason and last else reason or last
    tip = html.escape(t.error_text or reason, quote=True)
    return f'<td class="error" title="{tip}">{html.escape(shown)}</td>'


def feasible_text(t: TrialRecord) -> str | None:
    """``yes`` / ``NO`` under [search] constraints (None: not judged, or no constraints)."""
    return None if t.feasible is None else ("yes" if t.feasible else "NO")


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
