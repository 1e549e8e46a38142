"""Checks ``hpsearch validate`` (and ``run``, before anything starts) makes of a definition
against this machine: memory a trial may use, CPUs, and the optional packages a sampler needs.

Loads neither Ray nor Optuna, and never imports an optional dependency to see whether it is
there (``importlib.util.find_spec`` only).
"""

from __future__ import annotations

import os
from pathlib import Path

from hpsearch.searcher._definition import SearchConfig

# Kept free for the driver, Ray and the system: a tenth of the memory, at least 1 GiB.
_MARGIN_SHARE = 0.10
_MARGIN_MIN_MB = 1024
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def default_memory_limit_mb() -> int:
    """What this machine can give one trial, in MiB: its physical memory (or its cgroup's
    limit, when lower) minus a margin of a tenth, at least 1 GiB. Never below 256 MiB.

    The driver uses Ray's view of a node's memory when it has one; this is the fallback and
    what ``validate`` reports for ``memory_limit_mb = 0`` (auto).
    """
    total = _physical_bytes()
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    total_mb = total // 2**20
    margin = max(_MARGIN_MIN_MB, int(total_mb * _MARGIN_SHARE))
    return max(256, total_mb - margin)


def _physical_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume a small one
        return 4 * 2**30


def memory_limit_line(config: SearchConfig) -> str:
    """``memory limit per trial: 22,000 MiB (auto: this machine)`` or the configured one."""
    limit = config.search.memory_limit_mb
    if limit > 0:
        return f"memory limit per trial: {limit:,.0f} MiB (search.memory_limit_mb)"
    return f"memory limit per trial: {default_memory_limit_mb():,} MiB (auto: this machine)"
