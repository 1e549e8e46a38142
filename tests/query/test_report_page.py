"""``hpsearch report`` on searches stored without Ray: every section under its own heading,
every trial's learning curve (pruned and failed too), a log axis for losses, the Pareto front of
a two-objective search, a sortable table of all trials, the importance caveat, one plotly.js copy,
nothing fetched from the network and stored text escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpsearch.cli import app
from hpsearch.storage import EpochRecord, FailReason, Storage, TrialState, open_storage
from tests.definitions import finished_trial, iris_definition

runner = CliRunner()
TWO = {"objective": ["dev_accuracy", "n_params"], "direction": ["maximize", "minimize"]}
EVIL = "<script>alert(1)</script>&"


def _curve(store: Storage, tid: int, n: int, start: float) -> None:
    store.add_epochs(
        tid,
        [
            EpochRecord(
                epoch=e,
                train_loss=start / (e + 1),
                train_accuracy=min(1.0, 0.5 + 0.1 * e),
                dev_loss=start / (e + 1) + 0.05,
                dev_accuracy=min(1.0, 0.45 + 0.1 * e),
            )
            for e in range(1, n + 1)
        ],
    )


def store_single(url: str, name: str = "one") -> dict[int, TrialState]:
    """Search ``name`` (dev accuracy up): trials 0-5 complete, 6 and 7 pruned after 2 epochs, 8
    failed after 1 epoch with an error text holding markup; every trial has stored epochs."""
    states: dict[int, TrialState] = {}
    with open_storage(url) as store:
        store.create_search(
            name, config=iris_definition(name), objectives=["dev_accuracy"],
            directions=["maximize"], dataset=EVIL,
        )  # fmt: skip
        for n in range(6):
            acc = 0.80 + 0.02 * n
            tid = finished_trial(
                store, name, n, {"learning_rate": 0.01 * (n + 1), "dropout": 0.05 * n},
                value=acc, dev_accuracy=acc, dev_loss=1 - acc, train_accuracy=acc + 0.05,
                train_loss=0.9 - acc, epochs_run=5,
            )  # fmt: skip
            _curve(store, tid, 5, 1.0 + n / 10)
            states[n] = TrialState.COMPLETE
        for n in (6, 7):
            tid = finished_trial(
                store, name, n, {"learning_rate": 0.5, "dropout": 0.1}, value=None,
                state=TrialState.PRUNED, epochs_run=2,
            )  # fmt: skip
            _curve(store, tid, 2, 3.0)
            states[n] = TrialState.PRUNED
        tid = finished_trial(
            store, name, 8, {"learning_rate": 0.9, "dropout": 0.2}, value=None,
            state=TrialState.FAILED, fail_reason=FailReason.ERROR, epochs_run=1,
            error_text=f"ValueError: {EVIL}",
        )  # fmt: skip
        _curve(store, tid, 1, 5.0)
        states[8] = TrialState.FAILED
    return states


def store_two(url: str, name: str = "two") -> list[int]:
    """Search ``name`` (dev accuracy up, parameters down): trials 1, 0 and 4 form the front (in
    rank order); 2 is beaten by 0, 3 by 1; 5 was pruned. Returns the front's numbers."""
    doc = iris_definition(name, search={**TWO, "sampler": "nsga2"})
    with open_storage(url) as store:
        store.create_search(
            name, config=doc, objectives=TWO["objective"], directions=TWO["direction"]
        )
        points = {0: (0.9, 1000), 1: (0.95, 5000), 2: (0.85, 1000), 3: (0.95, 6000), 4: (0.8, 500)}
        for number, (acc, n_params) in points.items():
            tid = finished_trial(
                store, name, number, {"learning_rate": 0.01 * (number + 1)},
                values=(acc, float(n_params)), dev_accuracy=acc, dev_loss=1 - acc,
                n_params=n_params, train_accuracy=1.0, train_loss=0.1, epochs_run=3,
            )  # fmt: skip
            _curve(store, tid, 3, 1.0)
        tid = finished_trial(
            store, name, 5, {"learning_rate": 0.3}, value=None, state=TrialState.PRUNED
        )
        _curve(store, tid, 1, 2.0)
    return [1, 0, 4]


def report(url: str, name: str, tmp_path: Path) -> str:
    out = tmp_path / f"{name}.html"
    result = runner.invoke(
        app, ["report", name, "--out", str(out), "--storage", url, "--evaluator", "mdi"]
    )
    assert result.exit_code == 0, result.output
    return out.read_text()


def figure(page: str, div_id: str) -> tuple[list[dict], dict]:
    """The data and layout of the plotly figure drawn in ``div_id``."""
    start = page.index(f'Plotly.newPlot(                        "{div_id}",')
    rest = page[page.index("[", start) :]
    decoder = json.JSONDecoder()
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip(" ,\n"))
    return data, layout


def all_trials_rows(page: str) -> list[tuple[str, str]]:
    """(number, state) of each row of the table of all trials, in page order."""
    block = page[page.index('<div id="all-trials">') :]
    block = block[: block.index("</table>")]
    return re.findall(r'<tr class="(\w+)"><td data-v="(\d+)">', block)


@pytest.fixture
def single(tmp_path) -> tuple[str, dict[int, TrialState]]:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    return url, store_single(url)


@pytest.fixture
def two(tmp_path) -> tuple[str, list[int]]:
    url = f"sqlite:///{tmp_path / 'two.db'}"
    return url, store_two(url)


def test_every_section_has_one_heading_and_an_id(single, tmp_path):
    from hpsearch.searcher._report import SECTIONS, SUMMARY

    page = report(single[0], "one", tmp_path)
    sections = [SUMMARY, *SECTIONS]
    for div_id, title in sections:
        assert page.count(f'<section id="{div_id}-section"><h2 id="{div_id}-title">') == 1
        assert f">{title}</h2>" in page and f'href="#{div_id}-section"' in page
    assert page.count("<section ") == page.count("<h2 ") == len(sections)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # every id once
    assert 'id="pareto' not in page  # one objective: no Pareto section


def test_every_trials_curve_is_drawn_and_its_state_shows(single, tmp_path):
    url, states = single
    page = report(url, "one", tmp_path)
    data, layout = figure(page, "curves")
    named: dict[str, dict] = {}
    for t in data:
        named.setdefault(t["name"], t)  # a trial's loss trace comes before its accuracy trace
    colors: dict[TrialState, set[str]] = {}
    for number, state in states.items():
        for split in ("dev", "train"):
            traces = [t for t in data if t["name"] == f"trial {number} {split}"]
            assert len(traces) == 2  # loss and accuracy
            assert {t["legendgroup"] for t in traces} == {state.value}
            colors.setdefault(state, set()).update(t["line"]["color"] for t in traces)
    assert all(len(c) == 1 for c in colors.values()) and len(set.union(*colors.values())) == 3
    assert {"complete (6)", "pruned (2)", "failed (1)"} <= set(named)
    assert named["trial 6 dev"]["x"] == [1, 2]  # a pruned trial's curve stops where it stopped
    assert named["trial 8 train"]["y"] == [2.5]  # a failed trial's single epoch
    # losses on a log axis (the loss subplot is the first); accuracy stays linear
    assert layout["yaxis"]["type"] == "log" and layout["yaxis2"].get("type") != "log"
    assert '"type":"log"' in page
    assert "of 9 trials drawn" not in page


def test_too_many_curves_are_capped_and_the_page_says_so(single, tmp_path, monkeypatch):
    from hpsearch.searcher import _report_plots

    monkeypatch.setattr(_report_plots, "MAX_CURVES", 3)
    page = report(single[0], "one", tmp_path)
    data, _ = figure(page, "curves")
    drawn = [t["name"] for t in data if t["name"].endswith(" dev")][::2]
    # a share for each kind: the 2 best of the 6 complete trials, the first of the 3 others
    assert drawn == ["trial 5 dev", "trial 4 dev", "trial 6 dev"]
    assert {"complete (2 of 6)", "pruned (1 of 2)"} == {t["name"] for t in data if "(" in t["name"]}
    assert "3 of 9 trials drawn</b>: the best 2 complete trial(s) and the first 1 of" in page


def test_two_objectives_show_the_pareto_front_as_a_scatter_and_a_table(two, tmp_path):
    url, front = two
    page = report(url, "two", tmp_path)
    assert page.count('<section id="pareto-scatter-section">') == 1
    assert "Pareto front: 3 trial(s)" in page
    data, layout = figure(page, "pareto-scatter")
    by_name = {t["name"]: t for t in data}
    assert sorted(by_name["Pareto front (3)"]["customdata"]) == sorted(front)
    assert sorted(by_name["other trials"]["customdata"]) == [2, 3]
    assert layout["xaxis"]["title"]["text"] == "dev_accuracy (maximize)"
    assert layout["yaxis"]["title"]["text"] == "n_params (minimize)"
    block = page[page.index('<div id="pareto-front">') :]
    block = block[: block.index("</table>")]
    assert [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", block)] == front


def test_the_table_of_all_trials_lists_every_trial_and_sorts(single, tmp_path):
    from hpsearch.searcher._report_tables import SORT_SCRIPT

    url, states = single
    page = report(url, "one", tmp_path)
    rows = all_trials_rows(page)
    assert [(int(n), s) for s, n in rows] == [(n, states[n].value) for n in sorted(states)]
    assert '<table class="sortable"><thead>' in page and page.count(SORT_SCRIPT) == 1
    block = page[page.index('<div id="all-trials">') :]
    row6 = block[block.index('<tr class="pruned"><td data-v="6">') :]
    row6 = row6[: row6.index("</tr>")]
    assert '<td data-v="">-</td>' in row6  # a pruned trial's missing value sorts last
    assert '<td data-v="0.9">0.9</td>' in block  # numbers carry their value for the sort


def test_importances_from_few_trials_carry_a_caveat(single, two, tmp_path):
    page = report(single[0], "one", tmp_path)
    assert 'id="importance-caveat"' in page and "only 6 complete trial(s)" in page
    url = f"sqlite:///{tmp_path / 'many.db'}"
    with open_storage(url) as store:
        store.create_search(
            "many", config=iris_definition("many"), objectives=["dev_accuracy"],
            directions=["maximize"],
        )  # fmt: skip
        for n in range(20):
            finished_trial(
                store, "many", n, {"learning_rate": 0.001 * (n + 1), "dropout": 0.01 * n},
                value=0.5 + 0.01 * n, dev_accuracy=0.5 + 0.01 * n, epochs_run=1,
            )  # fmt: skip
    assert "importance-caveat" not in report(url, "many", tmp_path)


def test_one_copy_of_plotly_js_no_network_and_escaped_text(single, two, tmp_path):
    from plotly.offline import get_plotlyjs

    library = get_plotlyjs()
    banner = library[: library.index("*/")]  # "/**\n* plotly.js v4.1.1\n* Copyright ..."
    for url, name in ((single[0], "one"), (two[0], "two")):
        page = report(url, name, tmp_path)
        assert page.count(banner) == 1 and page.count(library[-2000:]) == 1
        assert len(page.encode()) < len(library.encode()) + 300_000  # the figures are small
        assert not re.search(
            r"""<(script|link|img|iframe)[^>]+(src|href)\s*=\s*["']?(https?:)?//""", page
        )
        assert not re.search(r"<script[^>]*\bsrc=", page)  # every script is inline
    page = report(single[0], "one", tmp_path)
    assert EVIL not in page  # dataset name and error text are shown escaped
    assert "dataset <b>&lt;script&gt;alert(1)&lt;/script&gt;&amp;</b>" in page
    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt;&amp;" in page
