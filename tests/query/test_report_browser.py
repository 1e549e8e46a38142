"""The report in Debian's headless Chromium, offline: the plots draw, clicking a header of the
table of all trials sorts it (numbers numerically, missing values last both ways), and no
JavaScript error is raised. Skips visibly when /usr/bin/chromium is not installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.query.test_report_page import report, store_single

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="Debian's chromium is not installed"
)
ERRORS = (
    "<script>window.__errors = [];"
    "window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });"
    "</script>"
)
PROBE = """<script>
(function () {
  function order() {
    return Array.prototype.map.call(
      document.querySelectorAll("#all-trials tbody tr"),
      function (r) { return Number(r.cells[0].textContent); });
  }
  function click(name) {
    Array.prototype.find.call(document.querySelectorAll("#all-trials th"),
      function (h) { return h.textContent === name; }).click();
    return order();
  }
  var seen = {asc: click("dev_accuracy"), desc: click("dev_accuracy"), state: click("state"),
              number: click("#")};
  seen.errors = window.__errors;
  seen.plots = document.querySelectorAll(".js-plotly-plot .main-svg").length;
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(seen);
  document.body.appendChild(out);
})();
</script>"""


def test_the_report_draws_and_sorts_in_chromium(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    store_single(url)
    page = report(url, "one", tmp_path)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + ERRORS, 1).replace("</body>", PROBE))
    done = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
            "--dump-dom", probed.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    seen = json.loads(dom[dom.index('<pre id="probe">') + 16 : dom.index("</pre>")])
    assert seen["errors"] == []
    assert seen["plots"] >= 5  # history, parallel, importance, curves, bias/variance
    assert seen["asc"] == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # no dev accuracy (6, 7, 8): last
    assert seen["desc"] == [5, 4, 3, 2, 1, 0, 6, 7, 8]  # ... in both directions
    assert seen["state"] == [5, 4, 3, 2, 1, 0, 8, 6, 7]  # text, stable: complete, failed, pruned
    assert seen["number"] == [0, 1, 2, 3, 4, 5, 6, 7, 8]  # numbers numerically
