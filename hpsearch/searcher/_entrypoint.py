"""Your own NumPy model: ``[train] entrypoint = "mymodel:train"`` names what each trial runs.

The contract (``docs`` and ``examples/own_model/`` show it in use)::

    def train(settings: dict, data: Splits, *, seed: int) -> Iterator[dict[str, float]]:
        ...                       # seed every random draw from `seed` (replay calls it again)
        for epoch in range(settings["epochs"]):
            ...
            yield {"train_loss": ..., "train_accuracy": ..., "dev_loss": ..., "dev_accuracy": ...}
        return parameters         # optional: a dict of NumPy arrays; their size is n_params

- ``settings``: the [train] values and the sampled [space] values, in the definition's words
  (``entrypoint`` and ``code`` left out). Built-in names keep their meaning and checks
  (``learning_rate > 0``...); other names are yours, passed as written.
- ``data``: a :class:`Splits` (samples are columns: ``X_train`` (n_x, m), ``y_train`` (m,) int64
  class indices). The test split is not given: the search never chooses on it.
- one dict per epoch, with at least the four numbers above (the pruner watches them as they
  come, so a trial can be stopped between two epochs); other numbers are kept too: those of the
  trial's last epoch are stored in its ``environment`` JSON under ``metrics``.

The code reaches Ray's workers through the runtime environment (``code``, the definition's
folder by default, is the ``working_dir``); the driver imports it from that folder only to
check it (``validate``) and to replay a trial. Imports neither Ray nor Optuna.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.searcher._definition import ConfigError
from hpsearch.trainer import EPOCH_METRICS, BiasVariance, EpochMetrics, bias_variance

# [train] keys that say where the model is; never passed to it
OWN_KEYS = ("entrypoint", "code")
_ENTRYPOINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
# a name of the user's own parameter: stored as hps_trial_params.name (100 characters)
_PARAM_NAME = re.compile(r"^[A-Za-z_]\w{0,99}$")
LARGE_CODE_BYTES = 50 * 2**20  # a code folder above this is worth a warning (copied per node)
MAX_COUNTED_FILES = 10_000
_IMPORTED: set[str] = set()  # top-level names load_entrypoint imported from a code folder


@dataclass(frozen=True)
class Splits:
    """What the entrypoint trains on: the search's train and dev splits, normalised as for the
    built-in network. Samples are columns; labels are int64 class indices."""

    X_train: Any  # (n_x, m_train) float32 or float64 ([train] dtype)
    y_train: Any  # (m_train,) int64
    X_dev: Any  # (n_x, m_dev)
    y_dev: Any  # (m_dev,)
    n_classes: int
    classes: tuple[str, ...]  # the original label names
    feature_names: tuple[str, ...]

    @property
    def n_x(self) -> int:
        return int(self.X_train.shape[0])

    @classmethod
    def of(cls, data: Any) -> Splits:
        """The splits of a loaded ``Dataset`` (its test split left out)."""
        return cls(
            data.X_train,
            data.y_train,
            data.X_dev,
            data.y_dev,
            int(data.n_classes),
            tuple(str(c) for c in data.classes),
            tuple(data.feature_names),
        )


@dataclass(frozen=True)
class OwnEpoch(EpochMetrics):
    """One epoch of an own model: the stored columns, plus the other numbers it yielded."""

    extra: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class OwnResult:
    """How an own model's training ended, shaped as the trainer's ``TrainResult`` where the
    worker and replay read it: the last epoch's metrics."""

    train_loss: float
    train_accuracy: float
    dev_loss: float
    dev_accuracy: float
    epochs_run: int
    best_epoch: int  # the epoch with the lowest dev loss
    n_params: int | None  # the size of the returned parameters; None when none were returned
    bias_variance: BiasVariance
    stopped: str = "completed"
    network: Any = None  # no hpsearch network: no model is stored, predict does not apply


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
            raise ConfigError(f"{at}: no module {module_name!r}{where}", field=at) from None
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


# --- running it -----------------------------------------------------------------------------------


def iter_own(
    fn: Callable[..., Any], settings: Mapping[str, Any], data: Any, *, seed: int
) -> Generator[OwnEpoch, None, OwnResult]:
    """Run the entrypoint, as the trainer's ``iter_train`` runs the built-in network: one
    :class:`OwnEpoch` per yielded dict (numbered from 1, timed here), then the result.

    Raises:
        TypeError: it yields something other than a dict of numbers with the four metrics.
        ValueError: it yields no epoch. Whatever it raises itself passes through.
    """
    epochs = fn(own_settings(settings), Splits.of(data), seed=seed)
    if not isinstance(epochs, Iterator):
        raise TypeError(
            f"the entrypoint returned {type(epochs).__name__}; expected it to yield one dict of "
            "metrics per epoch"
        )
    began = last = time.perf_counter()
    history: list[OwnEpoch] = []
    while True:
        try:
            values = next(epochs)
        except StopIteration as stop:
            params = stop.value
            break
        now = time.perf_counter()
        epoch = _epoch(len(history) + 1, values, epoch_s=now - last, elapsed_s=now - began)
        history.append(epoch)
        last = now
        yield epoch
    if not history:
        raise ValueError("the entrypoint yielded no epoch")
    final = history[-1]
    best = min(history, key=lambda e: (math.isnan(e.dev_loss), e.dev_loss))
    return OwnResult(
        train_loss=final.train_loss,
        train_accuracy=final.train_accuracy,
        dev_loss=final.dev_loss,
        dev_accuracy=final.dev_accuracy,
        epochs_run=final.epoch,
        best_epoch=best.epoch,
        n_params=_n_params(params),
        bias_variance=bias_variance(1.0 - final.train_accuracy, 1.0 - final.dev_accuracy),
    )


def _epoch(number: int, values: Any, *, epoch_s: float, elapsed_s: float) -> OwnEpoch:
    if not isinstance(values, Mapping):
        raise TypeError(
            f"epoch {number}: the entrypoint yielded {type(values).__name__}; expected a dict "
            f"with {', '.join(EPOCH_METRICS)}"
        )
    missing = [k for k in EPOCH_METRICS if k not in values]
    if missing:
        raise TypeError(
            f"epoch {number}: {', '.join(missing)} missing from what the entrypoint yielded "
            f"(expected {', '.join(EPOCH_METRICS)}; got {', '.join(map(str, values)) or 'none'})"
        )
    numbers = {str(k): _number(number, k, v) for k, v in values.items()}
    extra = tuple((k, v) for k, v in numbers.items() if k not in EPOCH_METRICS and k != "epoch")
    return OwnEpoch(
        number,
        *(numbers[k] for k in EPOCH_METRICS),
        epoch_s=epoch_s,
        elapsed_s=elapsed_s,
        extra=extra,
    )


def _number(epoch: int, key: Any, value: Any) -> float:
    try:
        if isinstance(value, bool | str | bytes):
            raise TypeError
        return float(value)  # Python and NumPy numbers, 0-d arrays
    except (TypeError, ValueError):
        raise TypeError(
            f"epoch {epoch}: {key!r} is {type(value).__name__} {value!r:.40}; expected a number"
        ) from None


def _n_params(params: Any) -> int | None:
    if isinstance(params, Mapping):
        sizes = [getattr(v, "size", None) for v in params.values()]
        if sizes and all(isinstance(s, int) for s in sizes):
            return int(sum(sizes))
    return None


def stored_metrics(extra: tuple[tuple[str, float], ...]) -> dict[str, float | str]:
    """The last epoch's other numbers as stored in the trial's environment JSON (NaN and
    infinities as the strings "nan", "inf", "-inf": JSON has no such numbers)."""
    return {k: v if math.isfinite(v) else str(v) for k, v in extra}
