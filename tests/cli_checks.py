"""The one check every command-line test makes of an expected failure."""

from __future__ import annotations

from typing import Any


def one_error_line(result: Any, code: int = 2) -> str:
    """The result is exactly one non-empty line ``error: ...`` (on stderr), no traceback, exit
    ``code`` (2: a user's mistake, 1: the work failed); returns the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}"
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert result.stdout.strip() == "", result.stdout
    assert result.exit_code == code, (result.exit_code, lines[0])
    return lines[0]
