"""The dashboard's front page: every search with its status, progress, running trials and best
value, refreshed every few seconds (optuna-dashboard's own study list shows names only).

Plain HTML from the server (no script, so it works under the strictest content policy); each
name links to the search's page in optuna-dashboard.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Any

REFRESH_S = 3

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;min-width:40em}
th,td{padding:.4em .8em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.running{color:#1565c0;font-weight:600}.finished{color:#2e7d32}
.failed,.interrupted{color:#c62828}p.note{color:#666;font-size:.9em}
.infeasible{color:#c62828;font-size:.85em}
"""


def _best(value: float | None) -> str:
    if value is None:
        return "-"
    return str(value) if not math.isfinite(value) else f"{value:.6g}"


def _infeasible(n: int) -> str:
    """A note beside the best value: trials that broke a [search] constraint (never the best)."""
    return f' <span class="infeasible">({int(n)} infeasible)</span>' if n else ""


def searches_page(rows: Iterable[dict[str, Any]]) -> bytes:
    """The page for rows of ``id, name, status, done, total, running, best, directions``."""
    body = []
    for r in rows:
        status = html.escape(str(r["status"]))
        total = f" / {r['total']}" if r.get("total") else ""
        body.append(
            "<tr>"
            f'<td><a href="/dashboard/studies/{int(r["id"])}">{html.escape(r["name"])}</a></td>'
            f'<td class="{status}">{status}</td>'
            f'<td class="n">{int(r["done"])}{total}</td>'
            f'<td class="n">{int(r["running"])}</td>'
            f'<td class="n">{_best(r["best"])}{_infeasible(r.get("infeasible", 0))}</td>'
            f"<td>{html.escape(', '.join(r['directions']))}</td>"
            "</tr>"
        )
    empty = '<tr><td colspan="6">no searches in this database yet</td></tr>'
    page = (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        f"<title>hpsearch dashboard</title><style>{_STYLE}</style></head><body>"
        "<h1>hpsearch: searches</h1>"
        "<table><thead><tr><th>search</th><th>status</th><th>done / planned</th>"
        "<th>running</th><th>best (feasible) value</th><th>direction</th></tr></thead><tbody>"
        + ("".join(body) or empty)
        + "</tbody></table>"
        f'<p class="note">Refreshed every {REFRESH_S} s. Read-only: nothing here changes a '
        'search. <a href="/dashboard">All studies in optuna-dashboard</a></p>'
        "</body></html>"
    )
    return page.encode()
