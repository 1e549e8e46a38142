"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Nothing is downloaded: Playwright is pointed at /usr/bin/chromium (``.ci/run`` installs Debian's
``chromium``); the tests skip with the reason when either is missing. Screenshots are written
to ``$TMPDIR/hpsearch-dashboard-*.png`` for a person to look at.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.dashboard import stored

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(tempfile.gettempdir())
LIVE_MS = 5000  # a trial that finishes shows within 5 s

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page; at the end, no JavaScript error may have reached its console."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15000)
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors in the console: {errors}"


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(SHOTS / f"hpsearch-dashboard-{name}.png"), full_page=True)


def test_lists_a_running_search_and_its_progress(serve, page):
    base = serve().base
    page.goto(base + "/")  # hpsearch's front page: status, progress, running, best value
    row = page.locator("tr", has_text=stored.SINGLE)
    cells = row.locator("td").all_inner_texts()
    assert cells[:5] == [stored.SINGLE, "running", "5 / 6", "1", "0.270728"], cells
    assert page.locator("tr", has_text=stored.MULTI).locator("td").nth(1).inner_text() == (
        "finished"
    )
    shot(page, "front")
    page.goto(base + "/dashboard")  # optuna-dashboard's own list
    page.get_by_text(stored.SINGLE).first.wait_for()
    page.get_by_text(stored.MULTI).first.wait_for()
    shot(page, "list")
    page.goto(base + "/")
    page.get_by_role("link", name=stored.SINGLE).click()
    page.wait_for_url("**/dashboard/studies/1")
    table = page.locator("table", has_text="progress")
    table.wait_for()
    text = table.inner_text()
    assert "running" in text and "5/6" in text, text
    page.locator("#graph-intermediate-values .legendtext", has_text="trial #5").first.wait_for()
    shot(page, "study")


def test_a_finished_trial_appears_without_reloading(serve, page):
    served = serve()
    page.goto(served.base + "/dashboard/studies/1/trials")
    page.get_by_text("Trial 5", exact=True).wait_for()
    assert page.get_by_text("Trial 6", exact=True).count() == 0
    stored.add_trial(served.store, stored.SINGLE, 6, epochs=4, scale=0.3)
    page.get_by_text("Trial 6", exact=True).wait_for(timeout=LIVE_MS)
    page.get_by_text("7 Trials").wait_for(timeout=LIVE_MS)
    shot(page, "new-trial")


def test_opening_a_trial_shows_its_learning_curve(serve, page):
    served = serve()
    page.goto(served.base + "/dashboard/studies/1/trials")
    page.get_by_text("Trial 2", exact=True).click()  # a pruned trial keeps its curve
    page.get_by_role("heading", name="Trial 2 (trial_id=3)").wait_for()
    values = page.locator("div", has_text="Intermediate Values").locator("xpath=..")
    curve = [e.epoch for e in served.store.epochs(3)]
    for epoch in curve:
        page.get_by_text(f"{epoch} ", exact=False).first.wait_for()
    assert values.count() > 0
    shot(page, "trial")
    page.goto(served.base + "/dashboard/studies/1")
    legend = page.locator("#graph-intermediate-values .legendtext")
    legend.filter(has_text="trial #2").first.wait_for()
    lines = page.locator("#graph-intermediate-values .scatterlayer .trace")
    assert lines.count() >= 5  # complete, pruned, failed and running trials: one curve each


def test_a_multi_objective_search_shows_its_pareto_front(serve, page):
    base = serve().base
    page.goto(base + "/dashboard/studies/2")
    page.get_by_text("Pareto Front").first.wait_for()
    points = page.locator("#graph-pareto-front .scatterlayer .point")
    points.nth(4).wait_for()
    assert points.count() == 5
    best = page.locator("div", has_text="Best Trials").last
    best.wait_for()
    for n in (1, 2, 4):
        page.get_by_text(f"Trial {n}", exact=True).first.wait_for()
    page.get_by_text("n_params").first.wait_for()  # objectives named as in the search
    shot(page, "pareto")


def test_a_request_without_the_token_is_refused(serve, browser):
    token = "browser-test-token-" + os.urandom(4).hex()
    base = serve(token=token).base
    context = browser.new_context()
    pg = context.new_page()
    try:
        response = pg.goto(base + "/dashboard")
        assert response is not None and response.status == 401
        assert "token is required" in pg.content() and token not in pg.content()
        response = pg.goto(base + f"/dashboard?token={token}")
        assert response is not None and response.status == 200
        assert "token=" not in pg.url  # the cookie carries it from here on
        pg.get_by_text(stored.SINGLE).first.wait_for(timeout=15000)
        shot(pg, "token")
    finally:
        context.close()


def test_deleting_from_the_page_is_refused_and_the_search_stays(serve, browser):
    served = serve()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    refused: list[int] = []
    pg.on("response", lambda r: refused.append(r.status) if r.request.method != "GET" else None)
    try:
        pg.goto(served.base + "/dashboard")
        card = pg.locator(".MuiCard-root", has_text=stored.SINGLE)
        card.locator("button").last.click()  # the bin icon
        pg.get_by_role("button", name="Yes").click()
        pg.get_by_text("Failed to delete study").wait_for(timeout=10000)
        shot(pg, "delete-refused")
    finally:
        context.close()
    assert refused == [405] and errors == []
    assert served.store.get_search(stored.SINGLE).name == stored.SINGLE
