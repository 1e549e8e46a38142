"""The search definition: a TOML file with [search], [data], [train] and [space] sections.

This module loads it (``load_config``) and its dataset (``load_search_data``); the values live in
:mod:`._definition`, the parsing in :mod:`._parse` and :mod:`._parse_space`, re-exported here.
Loading never touches Ray, Optuna or the database.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hpsearch.searcher._definition import (
    OBJECTIVES,
    PRUNERS,
    SAMPLERS,
    ConfigError,
    DataSettings,
    ParamSpec,
    SearchConfig,
    SearchSettings,
)
from hpsearch.searcher._parse import parse_config

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "ConfigError",
    "DataSettings",
    "ParamSpec",
    "SearchConfig",
    "SearchSettings",
    "load_config",
    "load_search_data",
    "parse_config",
    "with_data_facts",
]

# A path written in a definition is a path if it says so: these end a file name we read.
_PATH_SUFFIXES = (".csv", ".npz")


def load_config(path: str | Path) -> SearchConfig:
    """Read and validate a TOML search definition. Raises ConfigError naming the key.

    A dataset path in [data] is relative to the definition's folder, not the current one, and is
    kept absolute (as it is stored with the search); built-in dataset names are left as they are.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} not found", field="config")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file", field="config") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}", field="config") from None
    except RecursionError:  # tomllib recurses once per nested table or list
        raise ConfigError(
            f"{p}: invalid TOML: tables or lists nested too deeply", field="config"
        ) from None
    except ValueError as e:  # TOMLDecodeError, and an integer of thousands of digits
        raise ConfigError(f"{p}: invalid TOML: {e}", field="config") from None
    data = raw.get("data")
    if isinstance(data, dict) and isinstance(data.get("dataset"), str):
        raw["data"] = data | {"dataset": resolve_dataset(data["dataset"], p.parent)}
    train = raw.get("train")
    if (
        isinstance(train, dict)
        and "entrypoint" in train
        and isinstance(train.get("code", "."), str)
    ):
        # your own model's folder (default: the definition's), kept absolute as it is stored
        code = (p.parent / train.get("code", ".")).resolve()
        if not code.is_dir():
            raise ConfigError(f"train.code: folder {str(code)!r} not found", field="train.code")
        raw["train"] = train | {"code": str(code)}
    return parse_config(raw, source=str(p))


def resolve_dataset(spec: str, folder: Path) -> str:
    """A [data] dataset as written in a definition in ``folder`` -> what the trainer loads.

    Built-in names (``digits``, ``flower:m=400``) win, as they do in the trainer, and are
    returned unchanged, as are absolute and ``~`` paths. Another relative path becomes absolute
    against ``folder``: when the file or folder exists there, or when the spec is plainly a path
    (a separator, ``.csv``/``.npz``, a leading ``.``), so a missing file's message names where it
    was looked for.
    """
    from hpsearch.trainer.data import BUILTIN_DATASETS

    if "\x00" in spec:  # no file can be named so; the path functions raise ValueError on it
        raise ConfigError(
            "data.dataset: a NUL character cannot be part of a name or path", field="data.dataset"
        )
    text = spec.strip()
    name = text.partition(":")[0].lower()
    builtin = {name, name.replace("-", "_"), name.replace("_", "-")} & set(BUILTIN_DATASETS)
    if not text or builtin or text.startswith("~") or Path(text).is_absolute():
        return spec
    candidate = folder / text
    looks_like_path = (
        "/" in text or "\\" in text or text.startswith(".") or text.lower().endswith(_PATH_SUFFIXES)
    )
    if candidate.exists() or looks_like_path:
        return str(candidate.resolve())
    return spec


def load_search_data(config: SearchConfig) -> Any:
    """The [data] section's dataset, loaded and split as every trial sees it.

    Called before a search is created, so a bad name or file is refused before anything is
    stored. Raises ConfigError ``data.dataset: <file>: <what is wrong>``, or one naming the
    conv block whose shapes do not fit the images (:func:`._conv_fit.check_network_fits`).
    """
    from hpsearch.searcher._conv_fit import check_network_fits
    from hpsearch.trainer import TrainerInputError, load_dataset

    d = config.data
    try:
        data = load_dataset(
            d.dataset,
            split=d.split,
            seed=config.search.seed or 0,
            normalize=d.normalize,
            label_column=d.label_column,
            max_samples=d.max_samples,
            dtype=str(config.train.get("dtype", "float32")),
        )
    except TrainerInputError as e:
        raise ConfigError(f"data.dataset: {e}", field="data.dataset") from None
    pooled = data.X_train.shape[1] + data.X_dev.shape[1]
    if d.folds is not None and d.folds > pooled:
        raise ConfigError(
            f"data.folds: expected at most {pooled} folds (the train and dev samples), "
            f"got {d.folds}",
            field="data.folds",
        )
    check_network_fits(config, data)
    return data


def with_data_facts(config: SearchConfig, data: Any) -> SearchConfig:
    """``config`` with the facts of its loaded dataset in [data] (stored with the search):
    feature names, classes, the image shape (images only) and split sizes (with folds:
    ``train`` is the mean training size of a fold, ``dev`` every sample scored across folds,
    ``folds`` each fold's size)."""
    import dataclasses

    from hpsearch.searcher._folds import fold_sizes

    sizes: dict[str, Any] = {
        "train": int(data.X_train.shape[1]),
        "dev": int(data.X_dev.shape[1]),
        "test": int(data.X_test.shape[1]),
    }
    k = config.data.folds
    if k:
        folds = fold_sizes(data, k, config.search.seed or 0)
        pooled = sum(folds)
        sizes = {
            "train": round(pooled - pooled / k),
            "dev": pooled,
            "test": sizes["test"],
            "folds": folds,
        }
    facts = dataclasses.replace(
        config.data,
        image_shape=tuple(data.image_shape) if data.image_shape else None,
        feature_names=tuple(data.feature_names),
        split_sizes=sizes,
        n_classes=int(data.n_classes),
        classes=tuple(str(c) for c in data.classes),
    )
    return dataclasses.replace(config, data=facts)
