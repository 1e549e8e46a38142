"""Checks ``hpsearch validate`` (and ``run``, before anything starts) makes of a definition
against this machine: memory a trial may use, CPUs, and the optional packages a sampler needs.

Loads neither Ray nor Optuna, and never imports an optional dependency to see whether it is
there (``importlib.util.find_spec`` only).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from hpsearch.searcher._constraints import constraint_note
from hpsearch.searcher._conv_fit import fit_warnings
from hpsearch.searcher._definition import ConfigError, SearchConfig
from hpsearch.searcher._parse_seeding import seeding_note
from hpsearch.searcher._warmup import derivation, early_pruning_warning

# What Optuna needs for a sampler or pruner beyond hpsearch's own dependencies:
# (module, how to install it). Optuna 4.x/5.x: GPSampler imports torch and scipy on its first
# model fit (after its start-up trials, mid-search), QMCSampler scipy.stats.qmc, CmaEsSampler
# cmaes (both in hpsearch's dependencies, but a trimmed environment may lack them). TPE,
# random, grid, NSGA-II and our pruners need nothing more.
_NEEDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("sampler", "gp"): (("torch", "pip install 'hpsearch[gp]'"), ("scipy", "pip install scipy")),
    ("sampler", "qmc"): (("scipy", "pip install scipy"),),
    ("sampler", "cmaes"): (("cmaes", "pip install cmaes"),),
}

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


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken sys.modules entry
        return False


def check_dependencies(config: SearchConfig) -> None:
    """Refuse a sampler or pruner whose optional package is missing, before anything starts
    (the GP sampler would otherwise crash the search after its start-up trials).

    Raises:
        ConfigError: ``search.sampler: the gp sampler needs torch, which is not installed;
            pip install 'hpsearch[gp]'`` (field ``search.sampler`` or ``search.pruner``).
    """
    s = config.search
    for kind, name in (("sampler", s.sampler), ("pruner", s.pruner)):
        lacking = [(m, how) for m, how in _NEEDS.get((kind, name), ()) if not installed(m)]
        if lacking:
            modules = " and ".join(m for m, _ in lacking)
            verb = "is" if len(lacking) == 1 else "are"
            hints = "; ".join(dict.fromkeys(how for _, how in lacking))
            raise ConfigError(
                f"search.{kind}: the {name} {kind} needs {modules}, which {verb} not "
                f"installed; {hints}",
                field=f"search.{kind}",
            )


def preflight(config: SearchConfig) -> None:
    """Every check of a definition against this installation, for validate, run and resume:
    the packages its sampler or pruner needs, then the types of their options, then that a
    [train] entrypoint imports (in this process, from its folder) and is callable.

    Raises:
        ConfigError: one line naming the key (``search.sampler``, ``search.sampler_options.x``).
    """
    check_dependencies(config)
    check_option_types(config)
    if "entrypoint" in config.train:  # your own model: importable from its folder, callable
        from hpsearch.searcher._entrypoint import load_entrypoint

        load_entrypoint(config.train)


# An option's annotation in Optuna's signature -> the values a TOML file may give it.
_KINDS = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string"}


def check_option_types(config: SearchConfig) -> None:
    """Options whose default is None in Optuna (``prior_weight: float | None = None``) take the
    type their annotation names; a string there would pass the sampler's constructor and fail
    only when the sampler first uses it, mid-search. (Options with a typed default are checked
    when the sampler is built.)"""
    import inspect

    from hpsearch.searcher._optuna import _PRUNERS, _SAMPLERS

    s = config.search
    for kind, name, factory, options in (
        ("sampler", s.sampler, _SAMPLERS.get(s.sampler), s.sampler_options),
        ("pruner", s.pruner, _PRUNERS.get(s.pruner), s.pruner_options),
    ):
        params = inspect.signature(factory).parameters if factory is not None else {}
        for key, value in options.items():
            if key in params and not _fits(value, params[key].annotation):
                where = f"search.{kind}_options.{key}"
                kinds = [_KINDS[t] for t in _annotation_types(params[key].annotation)]
                raise ConfigError(
                    f"{where}: expected {' or '.join(kinds)} for the {name} {kind}, got {value!r}",
                    field=where,
                )


def _annotation_types(annotation: object) -> list[str]:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return [t.strip() for t in str(text).split("|") if t.strip() in _KINDS]


def _fits(value: object, annotation: object) -> bool:
    types = _annotation_types(annotation)
    if not types or ("None" in str(annotation) and value is None):
        return True  # an annotation we do not read (a callable, a dict): the sampler judges
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return (
        ("bool" in types and isinstance(value, bool))
        or ("int" in types and isinstance(value, int) and not isinstance(value, bool))
        or ("float" in types and number)
        or ("str" in types and isinstance(value, str))
    )


def this_machine_cpus() -> int:
    """CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def definition_notes(config: SearchConfig, data: Any = None) -> list[str]:
    """Lines ``validate`` prints after ``ok``: the memory limit, derived pruner settings, and
    warnings about what this machine, the settings or the loaded ``data`` (convolutional
    networks too deep for its images) make of the search (exit code stays 0)."""
    s = config.search
    lines = [memory_limit_line(config)]
    if config.derived_options:
        derived = ", ".join(f"{k} = {s.pruner_options[k]}" for k in config.derived_options)
        lines.append(f"pruner {s.pruner}: {derived} ({derivation(config)})")
    from hpsearch.searcher._entrypoint import code_note

    if note := code_note(config.train):
        lines[0] = "memory limit per trial: none (an own model's memory is not estimated)"
        lines.append(note)
    warning = early_pruning_warning(config)
    if warning:
        lines.append(warning)
    if note := constraint_note(config.constraints, s.sampler):  # [search] constraints
        lines.append(note)
    if note := seeding_note(config):
        lines.append(note)
    cpus = this_machine_cpus()
    if s.cpus_per_trial > cpus:
        lines.append(
            f"warning: search.cpus_per_trial = {s.cpus_per_trial} but this machine has {cpus} "
            "CPUs: a local search cannot start a trial (a Ray cluster needs a node that large)"
        )
    lines += fit_warnings(config, data)
    return lines
