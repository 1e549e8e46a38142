"""Learning curves drawn with characters, for ``hpsearch show`` (fits an 80-column terminal)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def text_plot(
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    width: int = 80,
    height: int = 12,
    x_label: str = "epoch",
) -> list[str]:
    """Lines of a plot of one or more series over epochs 1..n.

    ``series``: (name, mark character, values by epoch). Non-finite values are skipped; where two
    series fall on one cell the later mark wins. Every line is at most ``width`` characters.
    """
    values = [v for _, _, ys in series for v in ys if v is not None and math.isfinite(v)]
    n = max((len(ys) for _, _, ys in series), default=0)
    if not values or n == 0:
        return ["(no learning curve stored)"]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    label_w = max(len(_num(lo)), len(_num(hi))) + 1
    plot_w = max(10, width - label_w - 2)
    cols = min(plot_w, 4 * (n - 1) + 1) if n > 1 else 1
    grid = [[" "] * cols for _ in range(height)]
    for _, mark, ys in series:
        for i, y in enumerate(ys):
            if y is None or not math.isfinite(y):
                continue
            c = 0 if n == 1 else round(i * (cols - 1) / (n - 1))
            r = round((hi - y) / (hi - lo) * (height - 1))
            grid[r][c] = mark
    lines = []
    for r, row in enumerate(grid):
        if r == 0:
            label = _num(hi)
        elif r == height - 1:
            label = _num(lo)
        elif r == (height - 1) // 2:
            label = _num((hi + lo) / 2)
        else:
            label = ""
        lines.append(f"{label:>{label_w}} |{''.join(row)}".rstrip())
    lines.append(" " * label_w + " +" + "-" * cols)
    axis = f"1{x_label:^{max(cols - 1 - len(str(n)), 1)}}{n}"
    lines.append(" " * (label_w + 2) + axis[: max(cols, len(axis))])
    legend = "   ".join(f"{mark} {name}" for name, mark, _ in series)
    lines.append(" " * (label_w + 2) + legend)
    return [line[:width] for line in lines]


def _num(x: float) -> str:
    return f"{x:.3g}"
