"""The trainer's public names: one owner per constant, the data package re-exported."""

from __future__ import annotations

import dataclasses

import pytest

import hpsearch.trainer as trainer
import hpsearch.trainer.data as data
from hpsearch.trainer import DatasetError, TrainConfig, TrainerInputError


def test_data_package_exports_what_it_lists_and_the_trainer_re_exports_it():
    for name in data.__all__:
        assert hasattr(data, name), name
    for name in ("Dataset", "Normalizer", "load_dataset", "stratified_split", "NORMALIZERS"):
        assert getattr(trainer, name) is getattr(data, name)
    assert trainer.LABEL_COLUMNS is data.LABEL_COLUMNS
    for name in trainer.__all__:
        assert hasattr(trainer, name), name


def test_epoch_metrics_name_fields_of_every_epoch_and_of_the_result():
    epoch_fields = {f.name for f in dataclasses.fields(trainer.EpochMetrics)}
    result_fields = {f.name for f in dataclasses.fields(trainer.TrainResult)}
    assert set(trainer.EPOCH_METRICS) <= epoch_fields & result_fields


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_one_dtypes_list_for_the_config_and_the_data(dtype):
    ok = dtype in trainer.DTYPES
    try:
        TrainConfig(dtype=dtype)
        config_ok = True
    except TrainerInputError as e:
        config_ok = False
        assert e.field == "dtype"
    try:
        data.load_dataset("moons:m=40", dtype=dtype)
        data_ok = True
    except DatasetError as e:
        data_ok = False
        assert e.field == "dtype"
    assert config_ok == data_ok == ok


def test_normalizers_are_the_normalizer_kinds():
    X = data.make_moons(20)[0]
    for kind in trainer.NORMALIZERS:
        assert data.Normalizer.fit(X, kind).kind == kind
    with pytest.raises(DatasetError, match="normalize must be one of") as info:
        data.Normalizer.fit(X, "zscore")
    assert info.value.field == "normalize"
