"""`hpsearch train` with conv blocks: the flags reach the config, the network line shows each
block's output shape, and shapes that do not fit are one error line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from tests.cli_checks import one_error_line

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["train", "--dataset", "digits", "--max-samples", "300", *args])


def test_conv_flags_reach_the_config_and_the_network_line():
    args = ("--conv-blocks", "2", "--filters", "4,6", "--kernel", "3", "--stride", "1")
    args += ("--padding", "same", "--pool", "avg", "--pool-size", "2", "--layers", "1")
    args += ("--units", "8", "--epochs", "2")
    result = _run(*args, "--format", "json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    config = report["config"]
    assert (config["conv_blocks"], config["filters"], config["pool"]) == (2, [4, 6], "avg")
    assert report["dataset"]["image_shape"] == [8, 8, 1]
    # 3x3 conv 1 -> 4 and 4 -> 6 channels, then 2x2x6 = 24 inputs -> 8 -> 10
    assert report["n_params"] == (9 * 4 + 4) + (9 * 4 * 6 + 6) + (24 * 8 + 8) + (8 * 10 + 10)
    table = _run(*args, "--quiet")
    assert table.exit_code == 0, table.output
    assert "network    8x8x1 -> 4x4x4 -> 2x2x6 -> 8 -> 10 (" in table.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--conv-blocks", "4"], "error: --conv-blocks: conv block 4: max pool 2x2 of a 1x1x16"),
        (["--conv-blocks", "1", "--kernel", "9", "--padding", "valid"], "conv block 1: a 9x9"),
        (["--conv-blocks", "2", "--filters", "4,x"], "error: --filters: expected one number"),
        (["--conv-blocks", "2", "--filters", "4,6,8"], "error: --filters: expected 2 entries"),
        (["--padding", "full"], "error: --padding: expected one of same | valid"),
        (["--pool", "min"], "error: --pool: expected one of max | avg | none"),
        (["--dataset", "iris", "--conv-blocks", "1"], "error: --conv-blocks: convolutional"),
    ],
)
def test_conv_shapes_and_values_that_do_not_fit_are_one_line(args, expected):
    line = one_error_line(_run(*args, "--epochs", "1", "--quiet"))
    assert line.startswith(expected) or expected in line, line
