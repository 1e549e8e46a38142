"""load_dataset's options, stratified splits, the normaliser, the fingerprint, make_dataset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpsearch.trainer._errors import DatasetError
from hpsearch.trainer.data import (
    Dataset,
    Normalizer,
    load_dataset,
    make_dataset,
    stratified_split,
)
from tests.trainer.splits import all_y, n_samples


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": (0.5, 0.2, 0.2)}, "split must be"),
        ({"split": (1.0, 0.0, 0.0)}, "split must be"),
        ({"split": "abc"}, "split must be"),
        ({"normalize": "zscore"}, "normalize must be one of standard, minmax, none"),
        ({"dtype": "float16"}, "dtype must be one of float32, float64"),
        ({"max_samples": 0}, "max_samples must be"),
        ({"max_samples": 2.5}, "max_samples must be"),
        ({"seed": "x"}, "seed must be an integer"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("iris", **kwargs)
    assert info.value.field == next(iter(kwargs))  # the option's name, for the caller's flag


def test_two_fractions_mean_no_test_split():
    d = load_dataset("iris", split=(0.8, 0.2))
    assert d.X_test.shape == (4, 0) and d.X_train.shape[1] == 120


def test_too_few_samples_for_the_split():
    X = np.arange(4.0)[None, :]
    with pytest.raises(DatasetError, match="too few samples") as info:
        make_dataset(X, np.array([0, 0, 1, 1]), split=(0.9, 0.05, 0.05))
    assert info.value.field == "split"
    d = make_dataset(np.arange(6.0)[None, :], np.array([0, 0, 0, 1, 1, 1]), split=(0.9, 0.05, 0.05))
    assert [len(d.y_train), len(d.y_dev), len(d.y_test)] == [2, 2, 2]  # each class everywhere


def test_split_is_a_stratified_partition():
    y = np.array([0] * 50 + [1] * 30 + [2] * 3)  # one tiny class
    X = np.arange(len(y), dtype=float)[None, :]  # each sample's value is its index
    parts = stratified_split(X, y, (0.7, 0.15, 0.15), seed=3)
    ids = np.concatenate([Xp[0] for Xp, _ in parts]).astype(int)
    assert sorted(ids.tolist()) == list(range(len(y)))  # disjoint and complete
    for Xp, yp in parts:
        np.testing.assert_array_equal(y[Xp[0].astype(int)], yp)  # labels travel with samples
        assert set(yp.tolist()) == {0, 1, 2}  # the 3-sample class is in every split
    counts = [np.bincount(yp, minlength=3) for _, yp in parts]
    assert counts[0].tolist()[:2] == [35, 21]
    again = stratified_split(X, y, (0.7, 0.15, 0.15), seed=3)
    other = stratified_split(X, y, (0.7, 0.15, 0.15), seed=4)
    np.testing.assert_array_equal(again[1][0], parts[1][0])
    assert not np.array_equal(other[1][0], parts[1][0])


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=6),
    train=st.floats(0.2, 0.8),
    seed=st.integers(0, 2**16),
)
def test_split_keeps_class_shares_within_one(counts, train, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    fractions = (train, (1 - train) / 2, (1 - train) / 2)
    parts = stratified_split(np.zeros((1, len(y))), y, fractions, seed=seed)
    sizes = np.array([np.bincount(yp, minlength=len(counts)) for _, yp in parts])  # (S, C)
    assert sizes.sum(axis=0).tolist() == counts
    shares = np.array(fractions)[:, None] * np.array(counts)[None, :]
    roomy = np.array(counts) * min(fractions) >= 1  # no class forced into a split
    assert np.all(np.abs(sizes - shares)[:, roomy] < 1 + 1e-9)
    assert np.all(sizes[:, np.array(counts) >= 3] > 0)  # every class of 3+ in every split
    totals = sizes.sum(axis=1)
    if roomy.all():  # a class forced into a small split (counts 3, 3 at 0.75) moves the totals
        assert np.all(np.abs(totals - len(y) * np.array(fractions)) <= len(counts))


def test_max_samples_is_a_stratified_subsample():
    d = load_dataset("digits", max_samples=300)
    assert n_samples(d) == 300
    per_class = np.bincount(all_y(d))
    assert per_class.min() >= 28 and per_class.max() <= 32
    assert load_dataset("digits", max_samples=300).fingerprint == d.fingerprint
    np.testing.assert_array_equal(load_dataset("digits", max_samples=300).X_dev, d.X_dev)
    assert n_samples(load_dataset("iris", max_samples=10_000)) == 150


def test_normaliser_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 300)) * [[1.0], [10.0], [0.1]] + [[5.0], [-2.0], [0.0]]
    y = np.arange(300) % 3
    raw = make_dataset(X, y, normalize="none", dtype="float64", seed=5)
    std = make_dataset(X, y, normalize="standard", dtype="float64", seed=5)
    mu = raw.X_train.mean(axis=1, keepdims=True)
    sd = raw.X_train.std(axis=1, keepdims=True)
    np.testing.assert_allclose(std.X_train, (raw.X_train - mu) / sd)
    np.testing.assert_allclose(std.X_dev, (raw.X_dev - mu) / sd)
    np.testing.assert_allclose(std.X_test, (raw.X_test - mu) / sd)
    # moving every dev/test sample far away changes nothing about the fitted statistics
    X_moved = X.copy()
    dev_test = np.isin(X[0], np.concatenate([raw.X_dev[0], raw.X_test[0]]))
    X_moved[:, dev_test] += 1000.0
    moved = make_dataset(X_moved, y, normalize="standard", dtype="float64", seed=5)
    np.testing.assert_allclose(moved.normalizer.shift, std.normalizer.shift)
    np.testing.assert_allclose(moved.normalizer.scale, std.normalizer.scale)
    assert moved.X_dev.mean() > 50  # dev is far out in the training scale, not re-centred


def test_minmax_and_constant_features():
    X = np.vstack([np.linspace(-3, 7, 100), np.full(100, 4.0)])
    d = make_dataset(X, np.arange(100) % 2, normalize="minmax", dtype="float64")
    assert d.X_train[0].min() == 0.0 and d.X_train[0].max() == 1.0
    assert np.all(d.X_train[1] == 0.0)  # constant: scale 1, no division by zero
    n = Normalizer.fit(X, "standard")
    assert n.shift.shape == (2, 1) and n.scale[1, 0] == 1.0


def test_fingerprint_is_stable_and_sensitive():
    base = load_dataset("iris").fingerprint
    assert load_dataset("iris").fingerprint == base
    assert len(base) == 64 and int(base, 16) >= 0
    for kwargs in (
        {"seed": 1},
        {"split": (0.6, 0.2, 0.2)},
        {"normalize": "minmax"},
        {"max_samples": 100},
        {"dtype": "float64"},
    ):
        assert load_dataset("iris", **kwargs).fingerprint != base, kwargs
    assert load_dataset("wine").fingerprint != base


def test_dataset_checks_its_shapes_and_describes_itself():
    d = load_dataset("flower")
    assert d.describe() == "flower: n_x=2, train 280 / dev 60 / test 60, 2 classes (0, 1)"
    s = d.summary()
    assert (s["n_train"], s["n_dev"], s["n_test"], s["normalize"]) == (280, 60, 60, "standard")
    with pytest.raises(DatasetError, match="X_dev must be"):
        Dataset(
            "bad",
            d.X_train,
            d.y_train,
            d.X_dev,
            d.y_dev[:-1],
            d.X_test,
            d.y_test,
            2,
            ("0", "1"),
            "f",
        )
    assert load_dataset("flower", dtype="float64").X_train.dtype == np.float64


def test_make_dataset_names_classes():
    X = np.arange(40.0)[None, :]
    d = make_dataset(X, np.arange(40) % 2, classes=("even", "odd"))
    assert d.classes == ("even", "odd") and d.n_classes == 2
    with pytest.raises(DatasetError, match="3 class names for 2 distinct labels"):
        make_dataset(X, np.arange(40) % 2, classes=("a", "b", "c"))
