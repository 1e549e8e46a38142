"""Honest selection on hand-made databases (no Ray): every view ranks ties the same way (first
objective, then dev loss, then trial number), shows the dev split's size with the standard error
of dev accuracy and warns on a small split or a tie within it, reads a train/dev gap within the
dev set's noise as noise, shows the same Pareto front for several objectives, and says how many
trials trained to the end."""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import hpsearch
from hpsearch.cli import app
from hpsearch.cli._summary import summary_lines
from hpsearch.searcher import parse_config
from hpsearch.storage import TrialState, open_storage
from tests.definitions import finished_trial, iris_definition

runner = CliRunner()
N_DEV = 23  # iris with the default split (0.7 / 0.15 / 0.15), seed 7


def cli(url: str, *args: str, columns: int = 200):
    return runner.invoke(app, [*args, "--storage", url], env={"COLUMNS": str(columns)})


def outcome_of(url: str, name: str) -> SimpleNamespace:
    """What ``run_search`` would hand the run summary, read back from the database."""
    with open_storage(url) as store:
        trials = store.trials(name)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    return SimpleNamespace(
        name=name,
        status="finished",
        complete=count[TrialState.COMPLETE],
        pruned=count[TrialState.PRUNED],
        failed=count[TrialState.FAILED],
        elapsed_s=1.0,
        trials=trials,
        best=None,
        best_test_accuracy=None,
        best_test_loss=None,
    )


def report_html(url: str, name: str, tmp_path) -> str:
    out = tmp_path / f"{name}.html"
    result = cli(url, "report", name, "--out", str(out), "--evaluator", "mdi")
    assert result.exit_code == 0, result.output
    return out.read_text()


def table_numbers(page: str, div_id: str) -> list[int]:
    block = page[page.index(f'<div id="{div_id}">') :]
    block = block[: block.index("</table>")]
    return [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", block)]


@pytest.fixture
def tied(tmp_path) -> str:
    """Search 'tie': trials 0, 1 and 2 share the best dev accuracy 0.96; 1 and 2 also share the
    lowest dev loss, so the order is 1, 2, 0, then 3 (0.90); trial 4 was pruned. Trial 5 has
    the widest train/dev gap of the lot, still within two standard errors on 23 dev samples."""
    url = f"sqlite:///{tmp_path / 'tie.db'}"
    with open_storage(url) as store:
        store.create_search(
            "tie",
            config=iris_definition("tie"),
            objectives=["dev_accuracy"],
            directions=["maximize"],
        )
        for number, acc, loss in (
            (0, 0.96, 0.30),
            (1, 0.96, 0.20),
            (2, 0.96, 0.20),
            (3, 0.90, 0.1),
        ):
            finished_trial(
                store, "tie", number, {"learning_rate": 0.01 * (number + 1)}, value=acc,
                dev_accuracy=acc, dev_loss=loss, train_accuracy=1.0, epochs_run=5,
            )  # fmt: skip
        finished_trial(
            store, "tie", 4, {"learning_rate": 0.5}, value=None, state=TrialState.PRUNED,
            epochs_run=1,
        )  # fmt: skip
        finished_trial(
            store, "tie", 5, {"learning_rate": 0.2}, value=0.88, dev_accuracy=0.88, dev_loss=0.4,
            train_accuracy=0.99, epochs_run=5, diagnosis="high variance", avoidable_bias=0.01,
            variance=0.11,
        )  # fmt: skip
    return url


def test_ties_are_broken_the_same_way_in_all_four_views(tied, tmp_path):
    expected = [1, 2, 0, 3, 5]
    view = hpsearch.open(tied).search("tie")
    assert [t.number for t in view.ranked()] == expected
    assert view.best().number == 1
    top = cli(tied, "trials", "tie", "--top", "3", "--format", "json")
    assert top.exit_code == 0, top.output
    assert [r["number"] for r in json.loads(top.stdout)] == expected[:3]
    lines = summary_lines(outcome_of(tied, "tie"), parse_config(iris_definition("tie")), top=3)
    start = lines.index("top trials by dev_accuracy")
    summary = [int(ln.split()[0]) for ln in lines[start + 3 : start + 6]]
    assert summary == expected[:3]
    assert table_numbers(report_html(tied, "tie", tmp_path), "top-trials") == expected
    compare = cli(tied, "compare", "tie", "--format", "json", "--evaluator", "mdi")
    assert json.loads(compare.stdout)[0]["best_trial"] == 1


def test_the_dev_split_size_its_standard_error_and_the_warnings_are_shown(tied, tmp_path):
    se = math.sqrt(0.96 * 0.04 / N_DEV)
    stats = hpsearch.open(tied).search("tie").stats()
    assert stats.n_dev == N_DEV and stats.dev_standard_error == pytest.approx(se)
    assert len(stats.warnings) == 2  # a small split, and three trials tied within 1 SE
    assert "only 23 samples" in stats.warnings[0] and "(1, 2, 0)" in stats.warnings[1]
    said = f"dev split {N_DEV} samples; dev accuracy ±{se:.3f} (1 standard error)"
    outputs = {
        "trials": cli(tied, "trials", "tie").stdout,
        "compare": cli(tied, "compare", "tie", "--evaluator", "mdi").stdout,
        "summary": "\n".join(
            summary_lines(outcome_of(tied, "tie"), parse_config(iris_definition("tie")))
        ),
        "report": report_html(tied, "tie", tmp_path),
    }
    for where, text in outputs.items():
        flat = " ".join(text.split())
        assert "only 23 samples" in flat, where
        assert "within one standard error" in flat, where
        if where != "compare":
            assert said in flat, where
    table = " ".join(outputs["compare"].split())
    assert f"dev samples {N_DEV}" in table and f"dev acc ±1 SE {se:.2g}" in table
    show = cli(tied, "show", "tie", "1")
    assert show.exit_code == 0, show.output
    flat = " ".join(show.stdout.split())
    assert f"dev {N_DEV}" in flat and f"0.9600 ± {se:.4f} (1 standard error)" in flat
    assert "warning: only 23 dev samples" in flat
    shown = json.loads(cli(tied, "show", "tie", "1", "--format", "json").stdout)
    assert shown["n_dev"] == N_DEV and shown["dev_accuracy_se"] == pytest.approx(se)


def test_a_gap_within_the_dev_noise_is_not_high_variance(tied):
    # trial 5: train error 1%, dev error 12% (variance 11 points); on 23 dev samples one standard
    # error of the dev error is 6.8 points, so the gap is within two of them
    bv = hpsearch.open(tied).search("tie").diagnosis(5)
    assert bv.stored == "high variance" and bv.within_noise
    assert bv.diagnosis == "good fit" and bv.n_dev == N_DEV
    assert bv.dev_standard_error == pytest.approx(math.sqrt(0.12 * 0.88 / N_DEV))
    flat = " ".join(cli(tied, "show", "tie", "5").stdout.split())
    assert "bias/variance: good fit (" in flat
    assert "noise, not high variance (stored reading: high variance)" in flat
    assert "on only 23 dev samples this reading is uncertain" in flat


def test_the_summary_says_how_many_trials_trained_to_the_end(tied):
    lines = summary_lines(outcome_of(tied, "tie"), parse_config(iris_definition("tie")))
    first = " ".join(lines[0].split())  # folded at the terminal's width
    assert first.startswith("search 'tie' finished: 5 complete, 1 pruned, 0 failed")
    assert first.endswith("5 of 6 trials trained to the end")
    flat = " ".join(cli(tied, "compare", "tie", "--evaluator", "mdi").stdout.split())
    assert "trained to end 5" in flat


# --- several objectives ------------------------------------------------------------------------

TWO = {"objective": ["dev_accuracy", "n_params"], "direction": ["maximize", "minimize"]}


@pytest.fixture
def two_objectives(tmp_path) -> str:
    """Search 'nsga' (dev accuracy up, parameters down): trials 1 (0.95, 5000), 0 (0.9, 1000)
    and 4 (0.8, 500) form the front; 2 is beaten by 0, 3 by 1; 5 was pruned."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    doc = iris_definition("nsga", search={**TWO, "sampler": "nsga2"})
    with open_storage(url) as store:
        store.create_search(
            "nsga", config=doc, objectives=TWO["objective"], directions=TWO["direction"]
        )
        points = {0: (0.9, 1000), 1: (0.95, 5000), 2: (0.85, 1000), 3: (0.95, 6000), 4: (0.8, 500)}
        for number, (acc, n_params) in points.items():
            finished_trial(
                store, "nsga", number, {"learning_rate": 0.01 * (number + 1)},
                values=(acc, float(n_params)), dev_accuracy=acc, dev_loss=1 - acc,
                n_params=n_params, train_accuracy=1.0, epochs_run=5,
            )  # fmt: skip
        finished_trial(
            store, "nsga", 5, {"learning_rate": 0.3}, value=None, state=TrialState.PRUNED
        )
    return url, doc


def test_the_pareto_front_is_the_same_in_every_view(two_objectives, tmp_path):
    url, doc = two_objectives
    front = [1, 0, 4]
    view = hpsearch.open(url).search("nsga")
    assert [t.number for t in view.pareto_front()] == front
    assert view.best().number == 1
    assert [p["number"] for p in view.stats().pareto_front] == front
    listed = cli(url, "trials", "nsga", "--pareto", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [r["number"] for r in json.loads(listed.stdout)] == front
    assert [r["values"] for r in json.loads(listed.stdout)] == [
        [0.95, 5000.0],
        [0.9, 1000.0],
        [0.8, 500.0],
    ]
    table = cli(url, "trials", "nsga", "--pareto")
    head = next(ln for ln in table.stdout.splitlines() if ln.split()[:1] == ["#"]).split()
    assert {"dev_accuracy", "params"} <= set(head)  # n_params is headed "params"
    lines = summary_lines(outcome_of(url, "nsga"), parse_config(doc))
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Pareto front: 3 trials"))
    assert [int(ln.split()[0]) for ln in lines[start + 3 : start + 6]] == front
    assert "(dev_accuracy, n_params)" in lines[start]
    assert table_numbers(report_html(url, "nsga", tmp_path), "pareto-front") == front
    compare = cli(url, "compare", "nsga", "--evaluator", "mdi")
    assert "#1 (0.95, 5000); #0 (0.9, 1000); #4 (0.8, 500)" in compare.stdout


def test_pareto_front_of_one_objective_is_the_tie_at_the_best(tied):
    assert [t.number for t in hpsearch.open(tied).search("tie").pareto_front()] == [1, 2, 0]
