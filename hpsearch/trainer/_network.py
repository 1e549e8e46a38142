"""A trained network: parameters + config; prediction, evaluation and .npz persistence."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from ._config import TrainConfig
from ._errors import TrainerInputError
from ._init import initialize_parameters, is_trainable
from ._losses import output_labels, output_loss, output_proba
from ._propagation import NetSpec, predict_logits

FORMAT = "hpsearch.network/1"
EVAL_CHUNK = 512  # samples per forward pass at evaluation: activations stay in the caches


class Network:
    """Parameters ("W1", "b1", ..., "gamma1", "beta1", running "mu1", "var1") and their config.

    Prediction and evaluation never use dropout and use batch norm's running statistics.
    """

    def __init__(
        self, config: TrainConfig, params: dict[str, np.ndarray], n_x: int, n_classes: int
    ) -> None:
        self.config = config
        self.params = params
        self.n_x = n_x
        self.n_classes = n_classes
        self.spec = NetSpec.from_config(config)
        self.dtype = np.dtype(config.dtype)

    @classmethod
    def initialize(
        cls, config: TrainConfig, n_x: int, n_classes: int, rng: np.random.Generator
    ) -> Network:
        """A fresh network with randomly initialised weights (see ``_init``)."""
        params = initialize_parameters(
            config.layer_dims(n_x, n_classes),
            activation=config.activation,
            init=config.init,
            init_scale=config.init_scale,
            batch_norm=config.batch_norm,
            rng=rng,
            dtype=np.dtype(config.dtype),
        )
        return cls(config, params, n_x, n_classes)

    @property
    def n_params(self) -> int:
        """Number of trained values (running batch-norm statistics not counted)."""
        return sum(v.size for k, v in self.params.items() if is_trainable(k))

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Z_L (C, m) for X (n_x, m), computed in chunks of EVAL_CHUNK samples."""
        X = self._check_X(X)
        m = X.shape[1]
        if m <= EVAL_CHUNK:
            return predict_logits(X, self.params, self.spec)
        parts = [
            predict_logits(X[:, i : i + EVAL_CHUNK], self.params, self.spec)
            for i in range(0, m, EVAL_CHUNK)
        ]
        return np.concatenate(parts, axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(C, m) class probabilities; for 2 classes one row, P(class 1)."""
        with np.errstate(over="ignore"):
            return output_proba(self.logits(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(m,) int64 class indices."""
        return output_labels(self.logits(X))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on X (n_x, m), y (m,); no L2 term in the loss."""
        ZL = self.logits(X)
        with np.errstate(over="ignore", invalid="ignore"):
            loss = output_loss(ZL, y)
        accuracy = float(np.mean(output_labels(ZL) == y)) if y.size else float("nan")
        return loss, accuracy

    def copy(self) -> Network:
        return Network(
            self.config, {k: v.copy() for k, v in self.params.items()}, self.n_x, self.n_classes
        )

    # --- persistence: .npz with the arrays and a JSON string (never pickle) ---

    def to_npz_bytes(self) -> bytes:
        meta = {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "n_x": self.n_x,
            "n_classes": self.n_classes,
        }
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.array([json.dumps(meta)]), **self.params)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes, *, source: str = "network bytes") -> Network:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise TrainerInputError(f"{source}: not a saved hpsearch network (.npz): {e}") from e
        return cls._from_arrays(arrays, source)

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self.to_npz_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Network:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise TrainerInputError(f"{path}: cannot read the network file ({e.strerror})") from e
        return cls.from_npz_bytes(data, source=str(path))

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], source: str) -> Network:
        raw = arrays.pop("__meta__", None)
        try:
            meta = json.loads(str(raw[0]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            config = TrainConfig.from_dict(meta["config"])
            n_x, n_classes = int(meta["n_x"]), int(meta["n_classes"])
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise TrainerInputError(
                f"{source}: expected an hpsearch network .npz with a {FORMAT} header ({e})"
            ) from e
        expected = initialize_parameters(
            config.layer_dims(n_x, n_classes),
            activation=config.activation,
            init=config.init,
            init_scale=config.init_scale,
            batch_norm=config.batch_norm,
            rng=np.random.default_rng(0),
            dtype=np.dtype(config.dtype),
        )
        for name, like in expected.items():
            got = arrays.get(name)
            if got is None or got.shape != like.shape:
                shape = None if got is None else got.shape
                raise TrainerInputError(
                    f"{source}: parameter {name} expected shape {like.shape}, got {shape}"
                )
        params = {k: arrays[k].astype(config.dtype, copy=False) for k in expected}
        return cls(config, params, n_x, n_classes)

    def _check_X(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.n_x:
            raise TrainerInputError(
                f"X: expected shape ({self.n_x}, m) (features x samples), got {X.shape}"
            )
        return X if X.dtype == self.dtype else X.astype(self.dtype)
