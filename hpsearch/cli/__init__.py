"""The ``hpsearch`` command line: a thin layer over trainer, storage and searcher.

One module per group of commands (``_train``; ``_search``: validate, run, resume; ``_query``:
searches, trials, show, compare; ``_results``: export, report, replay, predict; ``_db``), all
printing through ``_render``. A command parses its flags, calls one function of the layer below
and renders what it returns. Exit codes (``_app``): 0 ok, 1 the work failed (an unreachable
database, a diverged network, a replay that differs), 2 a user's mistake, 130 Ctrl-C.
"""

from __future__ import annotations

import sys

from hpsearch.cli import _dashboard, _db, _query, _results, _search, _train  # noqa: F401
from hpsearch.cli._app import EXIT_INTERRUPTED, app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
