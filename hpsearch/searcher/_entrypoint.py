"""Your own NumPy model: ``[train] entrypoint = "mymodel:train"`` names what each trial runs.

The contract (``docs`` and ``examples/own_model/`` show it in use)::

    def train(settings: dict, data: Splits, *, seed: int) -> Iterator[dict[str, float]]:
        # Splits: hpsearch.searcher.Splits (for type hints; nothing needs importing)
        ...                       # seed every random draw from `seed` (replay calls it again)
        for epoch in range(settings["epochs"]):
            ...
            yield {"train_loss": ..., "train_accuracy": ..., "dev_loss": ..., "dev_accuracy": ...}
        return parameters         # optional: a dict of NumPy arrays; their size is n_params

    def evaluate(parameters: dict, X, y) -> tuple[float, float]:   # optional, same module
        ...                       # (loss, accuracy): the chosen trial's score on the test split

- ``settings``: the [train] values and the sampled [space] values, in the definition's words
  (``entrypoint`` and ``code`` left out). Built-in names keep their meaning and checks
  (``learning_rate > 0``...); other names are yours, passed as written.
- ``data``: a :class:`Splits` (samples are columns: ``X_train`` (n_x, m), ``y_train`` (m,) int64
  class indices). The test split is not given: the search never chooses on it.
- one dict per epoch, with at least the four numbers above (the pruner watches them as they
  come, so a trial can be stopped between two epochs); other numbers are kept too: those of the
  trial's last epoch are stored in its ``environment`` JSON under ``metrics``.
- the returned parameters of the best trial are stored (.npz, never pickled); once the search
  ends, the module's ``evaluate`` scores them on the test split, as the course uses it: once,
  for the chosen model. Without ``evaluate`` the test split stays unused.

The code reaches Ray's workers through the runtime environment (``code``, the definition's
folder by default, is the ``working_dir``); the driver imports it from that folder only to
check it (``validate``) and to replay a trial. This module parses and imports the entrypoint;
:mod:`._own_model` runs it. Imports neither Ray, Optuna nor the trainer.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hpsearch.searcher._definition import ConfigError

# [train] keys that say where the model is; never passed to it
OWN_KEYS = ("entrypoint", "code")
_ENTRYPOINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
# a name of the user's own parameter: stored as hps_trial_params.name (100 characters)
_PARAM_NAME = re.compile(r"^[A-Za-z_]\w{0,99}$")
LARGE_CODE_BYTES = 50 * 2**20  # a code folder above this is worth a warning (copied per node)
MAX_COUNTED_FILES = 10_000
_IMPORTED: set[str] = set()  # top-level names load_entrypoint imported from a code folder


# --- the definition ------------------------------------------------------------------------------


def check_entrypoint(value: Any) -> str:
    """``train.entrypoint`` as written: ``module:function`` (``pkg.module:function``)."""
    if not isinstance(value, str) or not _ENTRYPOINT.match(value.strip()):
        raise ConfigError(
            f"train.entrypoint: expected 'module:function' such as 'mymodel:train', got {value!r}",
            field="train.entrypoint",
        )
    return value.strip()


def check_param_name(key: str, where: str) -> None:
    """A name of the user's own setting: a Python identifier of at most 100 characters."""
    if not _PARAM_NAME.match(key) or key in OWN_KEYS:
        raise ConfigError(
            f"{where}: expected a setting name of letters, digits and _ (at most 100, not "
            f"{' or '.join(OWN_KEYS)}), got {key!r}",
            field=where,
        )


def runtime_env(train: Mapping[str, Any]) -> dict[str, Any] | None:
    """Ray's runtime environment that brings the model's folder to every worker (None: no
    entrypoint, or no folder given: the module is importable as it is)."""
    code = train.get("code") if "entrypoint" in train else None
    return {"working_dir": str(code)} if code else None


def code_note(train: Mapping[str, Any]) -> str | None:
    """What ``validate`` says of an own model: where it comes from and what Ray copies."""
    if "entrypoint" not in train:
        return None
    code = train.get("code")
    if not code:
        return f"own model: {train['entrypoint']} (imported as it is: no folder is copied)"
    files, size = _folder_size(Path(code))
    many = "+" if files > MAX_COUNTED_FILES else ""
    note = (
        f"own model: {train['entrypoint']} from {code} (Ray copies this folder to every "
        f"worker: {min(files, MAX_COUNTED_FILES)}{many} files, {size / 2**20:.1f}{many} MiB)"
    )
    if size > LARGE_CODE_BYTES or many:
        note += (
            "; warning: large, give [train] code a folder of its own or list the rest in .rayignore"
        )
    return note


def _folder_size(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder``, counting stops past ``MAX_COUNTED_FILES`` files."""
    files = size = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            files += 1
            with suppress(OSError):
                size += (Path(root) / name).stat().st_size
            if files > MAX_COUNTED_FILES:
                return files, size
    return files, size


def own_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What the entrypoint receives: every setting but the entrypoint's own keys and the seed."""
    return {k: v for k, v in settings.items() if k not in (*OWN_KEYS, "seed")}


# --- importing it ---------------------------------------------------------------------------------


def load_entrypoint(train: Mapping[str, Any]) -> Callable[..., Any]:
    """The entrypoint's function, imported afresh in this process from ``train.code``
    (validate, replay: the code as it is now, even if a module of that name was imported before).

    Raises:
        ConfigError: ``train.entrypoint: ...`` a missing module or function, a module that fails
            to import, or a name that is not a function.
    """
    spec = check_entrypoint(train["entrypoint"])
    code = train.get("code")
    with _on_path(code):
        if code:
            _forget(spec.partition(":")[0])
        return _function(spec, where=f" in {code}" if code else "")


def import_entrypoint(spec: str) -> Callable[..., Any]:
    """The entrypoint's function, in a Ray worker (its working directory holds the code)."""
    try:
        return _function(spec, where=f" in {Path.cwd()}")
    except ConfigError as e:  # the trial fails with the same text the driver would have said
        raise ImportError(str(e)) from None


def _function(spec: str, *, where: str) -> Callable[..., Any]:
    module_name, _, name = spec.partition(":")
    at = "train.entrypoint"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and f"{module_name}.".startswith(f"{e.name}."):  # itself
            file = module_name.replace(".", "/") + ".py"
            raise ConfigError(
                f"{at}: no module {module_name!r}{where} (expected {file} there)", field=at
            ) from None
        raise ConfigError(f"{at}: importing {module_name!r} failed: {e}", field=at) from None
    except Exception as e:  # its own code failed while importing (a SyntaxError, an error...)
        raise ConfigError(
            f"{at}: importing {module_name!r} failed: {type(e).__name__}: {e}", field=at
        ) from None
    if not hasattr(module, name):
        raise ConfigError(f"{at}: module {module_name!r} has no function {name!r}", field=at)
    fn = getattr(module, name)
    if not callable(fn):
        raise ConfigError(
            f"{at}: {module_name}.{name} is not callable (a {type(fn).__name__})", field=at
        )
    return fn


@contextmanager
def _on_path(folder: str | None) -> Iterator[None]:
    if not folder:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def _forget(module_name: str) -> None:
    """Drop a module this function imported before (its top package and every module under it)
    from ``sys.modules``: two definitions may each have a ``mymodel.py``, and a replay must run
    the file as it is now. Modules imported otherwise (NumPy...) are never dropped."""
    top = module_name.split(".")[0]
    if top in _IMPORTED:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
    elif top not in sys.modules:  # about to be imported from the code folder, by us
        _IMPORTED.add(top)
    importlib.invalidate_caches()
