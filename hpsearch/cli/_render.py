"""Everything the command line prints: tables, CSV, JSON, the training progress line and the
one-line error. Commands hand plain rows here; nothing here reads a database or computes a metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer

MAX_CELL = 60  # a table cell longer than this is shortened with "…"; headers are never cut
HEADERS = {"number": "#", "epochs_run": "epochs", "n_params": "params", "predict_ms": "ms/1k"}


# --- the one-line error ------------------------------------------------------------------------


def one_line(e: BaseException | str) -> str:
    """An error as one line (its text with whitespace folded; its type name if it has none),
    control characters shown escaped."""
    return printable(" ".join(str(e).split())) or type(e).__name__


# Bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source").
_BIDI = {0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escaped(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Stored text made safe for a terminal: every control character (C0, DEL, C1) and bidi
    override is shown escaped (``ESC`` as ``\\x1b``), so a search name, error text or parameter
    cannot move the cursor, clear the screen or retitle the window. CSV and JSON are data and
    are not passed through here."""
    if text.isprintable() or not text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif code < 0x20 or 0x7F <= code < 0xA0 or code in _BIDI:
            out.append(_escaped(ch))
        else:
            out.append(ch)
    return "".join(out)


def fold(text: str) -> str:
    """A long line folded to the terminal's width (at most 100), continuation lines indented."""
    width = min(terminal_width(), 100)
    if len(text) <= width:
        return text
    import textwrap

    return "\n".join(textwrap.wrap(text, width, subsequent_indent="  "))


def echo(text: str, *, wrap: bool = False) -> None:
    """Print plain output with any stored text in it escaped (:func:`printable`); with ``wrap``
    folded to the terminal's width (:func:`fold`)."""
    text = printable(text, keep_newlines=True)
    typer.echo(fold(text) if wrap else text)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr and exit: the single way commands report a mistake."""
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def check_choice(flag: str, value: str, allowed: Sequence[str]) -> None:
    """A flag whose value must be one of ``allowed`` (``--format``, ``--metric``)."""
    if value not in allowed:
        fail(f"{flag}: expected one of {', '.join(allowed)}, got {value!r}")


def check_at_least(flag: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        fail(f"{flag}: expected an integer >= {low}, got {value}")


# --- cells -------------------------------------------------------------------------------------


def cell(v: Any, *, digits: int = 4) -> str:
    """A value for a table: '-' for nothing, floats to ``digits`` significant digits."""
    if v is None:
        return "-"
    if isinstance(v, list | tuple):
        return ",".join(cell(x, digits=digits) for x in v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return printable(str(v))


def csv_cell(v: Any) -> str:
    """Full precision for CSV (repr round-trips a float exactly); '' for nothing."""
    if v is None:
        return ""
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return ",".join(csv_cell(x) for x in v)
    return repr(v) if isinstance(v, float) else str(v)


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.1f}s"
    if s < 7200:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"


def json_safe(value: Any) -> Any:
    """NaN and +/-inf spelled out (JSON has neither); dates as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(json_safe(value), indent=indent)


def echo_json(value: Any, *, indent: int | None = 2) -> None:
    typer.echo(json_text(value, indent=indent))


# --- tables ------------------------------------------------------------------------------------


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width when stdout is one, else 80 (pipes and files)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size((80, 24)).columns
    except (AttributeError, ValueError, OSError):
        pass
    return 80


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _numeric(values: Iterable[str]) -> bool:
    seen = False
    for v in values:
        if v == "-":
            continue
        try:
            float(v.rstrip("%s"))
        except ValueError:
            return False
        seen = True
    return seen


def table_lines(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int, title: str = ""
) -> list[str]:
    """Plain-text table lines, each at most ``width`` characters where the columns allow.

    Headers are printed whole. Columns that do not fit continue in further blocks that repeat
    the first column (the trial number or the label), so no value is cut off the screen.
    """
    headers = [printable(h) for h in headers]  # stored text (a search name) can be a header
    rows = [[printable(c) for c in r] for r in rows]
    first = max([len(headers[0])] + [len(r[0]) for r in rows]) if headers else 0
    limit = max(8, min(MAX_CELL, width - first - 2))  # a cell fits beside the first column
    cells = [
        [_short(c, max(limit, len(h))) for c, h in zip(row, headers, strict=True)] for row in rows
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    right = [_numeric(r[i] for r in cells) for i in range(len(headers))]
    blocks: list[list[int]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        if blocks[-1] and blocks[-1] != [0] and used + 2 + w > width:
            blocks.append([0])
            used = widths[0]
        used = w if not blocks[-1] else used + 2 + w
        blocks[-1].append(i)

    def line(values: Sequence[str], block: list[int]) -> str:
        parts = [
            values[i].rjust(widths[i]) if right[i] else values[i].ljust(widths[i]) for i in block
        ]
        return "  ".join(parts).rstrip()

    out = [printable(title)] if title else []
    for k, block in enumerate(blocks):
        if k:
            out.append("")
        out.append(line(headers, block))
        out.append("  ".join("-" * widths[i] for i in block))
        out += [line(row, block) for row in cells]
    return out


def emit(
    rows: Sequence[Mapping[str, Any]],
    cols: Sequence[str],
    fmt: str,
    *,
    title: str = "",
    headers: Mapping[str, str] | None = None,
    digits: int = 3,
) -> None:
    """Rows as a table fitting the terminal, as CSV (full precision) or as a JSON list."""
    if fmt == "json":
        echo_json([{c: r.get(c) for c in cols} for r in rows])
        return
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([csv_cell(r.get(c)) for c in cols] for r in rows)
        typer.echo(buf.getvalue(), nl=False, color=True)  # data: never strip escapes
        return
    names = {**HEADERS, **(headers or {})}
    heads = [names.get(c, c) for c in cols]
    cells = [[cell(r.get(c), digits=digits) for c in cols] for r in rows]
    for text in table_lines(heads, cells, width=terminal_width(), title=title):
        typer.echo(text)


def csv_text(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(cols), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: csv_cell(r.get(c)) for c in cols})
    return buf.getvalue()


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of the rows, in first-seen order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def write_or_print(text: str, out: Path | None) -> bool:
    """Print ``text`` to stdout (``out`` None) or write it to ``out``; True when written."""
    if out is None:
        typer.echo(text, nl=False, color=True)  # data, as written
        return False
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        fail(f"--out {out}: cannot write ({e.strerror})")
    return True


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("h") else f"{n} {word}s"


def labelled(rows: Iterable[tuple[str, str]], *, width: int = 10) -> None:
    for label, text in rows:
        typer.echo(f"{label:<{width}} {text}")


# --- training progress ---------------------------------------------------------------------------


class EpochPrinter:
    """Per-epoch progress of ``hpsearch train``: a bar on a terminal; off a terminal one line
    every ``every_s`` seconds (and the first and last epoch), not one per epoch."""

    def __init__(self, total: int, *, to_stderr: bool, every_s: float = 5.0) -> None:
        from rich.console import Console

        self.total = total
        self.to_stderr = to_stderr
        self.every_s = every_s
        self._last = -math.inf
        self._bar: Any = None
        console = Console(stderr=to_stderr)
        if console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
            )
            self._task = self._bar.add_task("training", total=total)

    def line(self, m: Any) -> str:
        return (
            f"epoch {m.epoch}/{self.total}  train loss {m.train_loss:.4f} acc "
            f"{m.train_accuracy:.4f}  dev loss {m.dev_loss:.4f} acc {m.dev_accuracy:.4f}  "
            f"{m.epoch_s:.2f}s"
        )

    def __call__(self, m: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=self.line(m))
            return
        now = time.monotonic()
        if m.epoch in (1, self.total) or now - self._last >= self.every_s:
            self._last = now
            typer.echo(self.line(m), err=self.to_stderr)

    def __enter__(self) -> EpochPrinter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def no_progress(_m: Any) -> None:
    """The callback of --quiet."""


ProgressCallback = Callable[[Any], None]


# --- trials as rows --------------------------------------------------------------------------


def failure(t: Any) -> str | None:
    """Why a trial failed, short: ``diverged: training diverged at epoch 3 (cost nan)``."""
    if t.fail_reason is None:
        return None
    lines = [ln.strip() for ln in (t.error_text or "").splitlines() if ln.strip()]
    return t.fail_reason.value + (f": {lines[-1][:120]}" if lines else "")


def trial_rows(
    trials: Sequence[Any], objective: str, objectives: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns) of a trial listing: number, state, the objective's value under the
    objective's name (every objective's, for several), dev accuracy when it is not one of them,
    epochs, every hyperparameter in the user's words, and why a trial failed when one did; in a
    search with [search] constraints, ``feasible`` (yes / no) after the objectives."""
    from hpsearch.searcher import user_name

    names = sorted({user_name(k) for t in trials for k in t.params})
    shown = list(objectives) if len(objectives) > 1 else [objective]
    metrics = shown + (["dev_accuracy"] if "dev_accuracy" not in shown else [])
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.value}
        values = list(t.values) if t.values else [t.value]
        row.update({m: values[i] if i < len(values) else None for i, m in enumerate(shown)})
        if "dev_accuracy" not in shown:
            row["dev_accuracy"] = t.dev_accuracy
        row["dev_accuracy_std"] = getattr(t, "dev_accuracy_std", None)  # [data] folds: spread
        row["feasible"] = feasible_cell(t)
        row["epochs_run"] = t.epochs_run
        row.update({user_name(k): v for k, v in t.params.items()})
        row["failure"] = failure(t)
        rows.append(row)
    folds = ["dev_accuracy_std"] if any(r["dev_accuracy_std"] is not None for r in rows) else []
    feasible = ["feasible"] if any(r["feasible"] is not None for r in rows) else []
    cols = ["number", "state", *metrics, *folds, *feasible, "epochs_run", *names]
    if any(r["failure"] for r in rows):
        cols.append("failure")
    return rows, cols


def feasible_cell(t: Any) -> str | None:
    """``yes`` / ``no`` for a trial of a search with [search] constraints, None otherwise."""
    feasible = getattr(t, "feasible", None)
    return None if feasible is None else ("yes" if feasible else "no")
