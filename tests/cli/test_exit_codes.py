"""The README's table of exit codes, checked against real commands: every code it lists is what
a real command returns for the case it names, with one ``error:`` line for each failure."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import open_storage
from tests.cli_checks import one_error_line
from tests.definitions import finished_trial, iris_definition

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def readme_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Exit codes") :]
    section = section[: section.index("\n## ")]
    return {int(c): m for c, m in re.findall(r"^\| (\d+) +\| (.+?) +\|$", section, re.M)}


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'codes.db'}"
    with open_storage(url) as store:
        store.create_search(
            "codes", config=iris_definition("codes"), objectives=["dev_accuracy"],
            directions=["maximize"],
        )  # fmt: skip
        finished_trial(store, "codes", 0, {"learning_rate": 0.01}, value=0.9, dev_accuracy=0.9)
    return url


def test_the_readme_lists_exactly_the_codes_the_command_line_uses():
    from hpsearch.cli import _app

    codes = readme_codes()
    assert set(codes) == {0, _app.EXIT_FAILED, _app.EXIT_USAGE, _app.EXIT_INTERRUPTED}
    assert "unreachable or unreadable" in codes[1] and "mistake" in codes[2]
    assert "Ctrl-C" in codes[130]


def test_0_done(db):
    for args in (["searches"], ["trials", "codes"], ["show", "codes", "0"]):
        result = runner.invoke(app, [*args, "--storage", db])
        assert result.exit_code == 0, result.output


def test_1_the_work_failed_an_unreadable_database_for_every_command(tmp_path):
    # a file that is no database: reading and upgrading commands agree on the code
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not an SQLite database at all, just text" * 100)
    url = f"sqlite:///{bad}"
    for args in (["searches"], ["trials", "x"], ["db", "upgrade"], ["db", "current"]):
        line = one_error_line(runner.invoke(app, [*args, "--storage", url]), code=1)
        assert "not a readable" in line, (args, line)


def test_1_the_work_failed_a_diverged_network():
    result = runner.invoke(app, [
        "train", "--dataset", "breast_cancer", "--normalize", "none", "--optimizer", "gd",
        "--learning-rate", "1e6", "--epochs", "5", "--quiet",
    ])  # fmt: skip
    assert "diverged" in one_error_line(result, code=1)


def test_2_a_users_mistake(db, tmp_path):
    cases = [
        ["trials", "nope", "--storage", db],  # search name
        ["show", "codes", "99", "--storage", db],  # trial number
        ["trials", "codes", "--format", "xml", "--storage", db],  # flag value
        ["searches", "--storage", "nosuchdb://x"],  # URL
        ["validate", str(tmp_path / "missing.toml")],  # file
    ]
    for args in cases:
        one_error_line(runner.invoke(app, args), code=2)


def test_130_interrupted_by_a_real_sigint(db, tmp_path):
    # the command waits inside its work (the database call is replaced by a sleep); SIGINT, as
    # Ctrl-C sends, ends it with 130 and no traceback
    ready = tmp_path / "ready"
    script = (
        "import sys, time, pathlib\n"
        "import hpsearch.cli._app as a\n"
        "def slow(url):\n"
        f"    pathlib.Path({str(ready)!r}).touch()\n"
        "    time.sleep(30)\n"
        "a.open_results = slow\n"
        "from hpsearch.cli import app\n"
        "app(['searches', '--storage', sys.argv[1]], prog_name='hpsearch')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # a shell's background job (CI) starts with SIGINT ignored, which Python inherits; a
        # terminal's Ctrl-C reaches a process whose SIGINT is at its default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate(timeout=5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # generous: CI machines can be loaded
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "error" not in err
