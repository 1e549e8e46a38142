"""Seeded, stratified splits: every class keeps its share in train, dev and test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpsearch.trainer._errors import DatasetError


def _allocate(y: np.ndarray, fractions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples per (class, split): each class within 1 of its share, split sizes near target.

    Every split with a positive fraction gets at least one sample of each class that has at
    least as many samples as there are such splits.
    """
    per_class = np.bincount(y)  # (C,)
    shares = per_class[:, None] * fractions[None, :]  # (C, S)
    counts = np.floor(shares).astype(np.int64)
    targets = len(y) * fractions
    for c in rng.permutation(len(per_class)):
        for _ in range(per_class[c] - counts[c].sum()):
            room = counts[c] < np.ceil(shares[c] - 1e-9)
            need = np.where(room, targets - counts.sum(axis=0), -np.inf)
            counts[c, int(np.argmax(need))] += 1
    positive = fractions > 0
    for c in range(len(per_class)):
        if per_class[c] < positive.sum():
            continue
        for s in np.flatnonzero(positive & (counts[c] == 0)):
            counts[c, int(np.argmax(counts[c]))] -= 1
            counts[c, s] += 1
    return counts


def stratified_indices(
    y: np.ndarray, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Sample indices of each part (one array per fraction), each part shuffled."""
    fractions = np.asarray(fractions, dtype=np.float64)
    counts = _allocate(y, fractions, rng)  # (C, S)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for c in range(counts.shape[0]):
        members = rng.permutation(np.flatnonzero(y == c))
        cuts = np.cumsum(counts[c])[:-1]
        for s, chunk in enumerate(np.split(members, cuts)):
            parts[s].append(chunk)
    return [rng.permutation(np.concatenate(p)).astype(np.intp) for p in parts]


def stratified_split(
    X: np.ndarray, y: np.ndarray, fractions: Sequence[float], seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split columns of ``X`` (n_x, m) and labels ``y`` (m,) into ``len(fractions)`` parts.

    Seeded and stratified: each class keeps its proportion in every part (within one sample)
    and appears in every part with a positive fraction when it has enough samples.
    ``y`` must hold class indices 0..C-1. Returns ``[(X_part, y_part), ...]``.
    """
    y = np.asarray(y)
    if X.shape[1] != y.shape[0]:
        raise DatasetError(f"X has {X.shape[1]} samples (columns) but y has {y.shape[0]}")
    rng = np.random.default_rng(seed)
    return [(X[:, ix], y[ix]) for ix in stratified_indices(y, fractions, rng)]


def subsample(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified choice of ``k`` of the ``len(y)`` samples, in their original order."""
    if k >= len(y):
        return np.arange(len(y))
    keep, _ = stratified_indices(y, (k / len(y), 1 - k / len(y)), rng)
    return np.sort(keep)
