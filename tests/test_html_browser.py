"""The HTML reports of `plot` and `diff`, opened in a real headless Chromium (issue 5 part 5).

Each page is loaded offline from a file:// URL. The test checks that
- the plot rendered: the screenshot's plot area holds pixels of the line colours (a page whose
  plotly.js failed to load is white there), and plotly built its SVG layers;
- the page raised no JavaScript error: an error collector is injected into a copy of the page
  (window 'error' and 'unhandledrejection' events, console.error) and its findings are written into the
  DOM, read back with --dump-dom; Chromium's own log (--enable-logging=stderr) must not say "Uncaught".
A probe page that throws proves the collector catches errors.

Chromium comes from the system (`apt-get install chromium`; .ci/run installs it). As with require():
missing on CI is a failure, missing on a developer machine is a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import run_cli

SPEC = "warmup=2000,cosine,min=0.1"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1000,700", "--virtual-time-budget=5000")
BLUE, RED = (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28)  # the first two line colours (render/files.py PALETTE)

COLLECT = """<script>window.__lrplanErrors = [];
window.addEventListener("error", function (e) { window.__lrplanErrors.push("Uncaught " + e.message); });
window.addEventListener("unhandledrejection", function (e) { window.__lrplanErrors.push("rejection " + e.reason); });
(function () { var orig = console.error; console.error = function () {
  window.__lrplanErrors.push(Array.prototype.join.call(arguments, " ")); orig.apply(console, arguments); }; })();
</script>"""
REPORT = """<script>window.addEventListener("load", function () { setTimeout(function () {
  var p = document.createElement("pre"); p.id = "lrplan-js-report";
  p.textContent = JSON.stringify({errors: window.__lrplanErrors,
                                  svg: document.querySelectorAll(".main-svg").length});
  document.body.appendChild(p); }, 1000); });</script>"""


@pytest.fixture(scope="module")
def chromium():
    exe = os.environ.get("LRPLAN_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is needed for the browser test and is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return exe


def browse(exe: str, page, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    cmd = [exe, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)


def open_page(exe: str, page, tmp_path) -> tuple[dict, object, str]:
    """Load an instrumented copy of ``page`` once: (JS report, screenshot path, Chromium's log)."""
    html = page.read_text(encoding="utf-8")
    probe = page.with_name("instrumented-" + page.name)
    head = html.index("<head>") + len("<head>")
    end = html.rindex("</body>")
    probe.write_text(html[:head] + COLLECT + html[head:end] + REPORT + html[end:], encoding="utf-8")
    shot = tmp_path / (page.stem + ".png")
    r = browse(exe, probe, tmp_path, "--dump-dom", f"--screenshot={shot}", "--enable-logging=stderr", "--v=0")
    found = re.search(r'<pre id="lrplan-js-report">(.*?)</pre>', r.stdout, re.S)
    assert found, f"the page never finished loading; chromium said: {r.stderr[-2000:]}"
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text), shot, r.stderr


def colour_pixels(png, colour, box) -> int:
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB").crop(box), dtype=int)
    return int(np.all(np.abs(img - np.array(colour)) <= 40, axis=-1).sum())


def check_page(exe: str, page, tmp_path, colours) -> None:
    report, shot, log = open_page(exe, page, tmp_path)
    assert report["errors"] == []
    assert "Uncaught" not in log, log[-2000:]
    assert report["svg"] >= 2  # plotly drew its SVG layers
    assert shot.exists(), f"no screenshot; chromium said: {log[-2000:]}"
    box = (60, 100, 960, 700)  # the plot area of a 1000x700 window, below the title
    for colour in colours:
        assert colour_pixels(shot, colour, box) > 300, f"no line of colour {colour} rendered in {page.name}"


def test_plot_report_renders_without_errors(chromium, tmp_path):
    page = tmp_path / "plot.html"
    r = run_cli("plot", SPEC, "warmup=2000,constant,1-sqrt=20%", "--steps", "100k", "--lr", "3e-4",
                "--mark", "50k", "-o", str(page))
    assert r.returncode == 0, r.stderr
    check_page(chromium, page, tmp_path, [BLUE, RED])


def test_plot_report_of_10m_steps_renders(chromium, tmp_path):
    page = tmp_path / "long.html"
    r = run_cli("plot", SPEC, "--steps", "10M", "--log-y", "-o", str(page))
    assert r.returncode == 0, r.stderr
    check_page(chromium, page, tmp_path, [BLUE])


def test_diff_report_renders_without_errors(chromium, tmp_path):
    page = tmp_path / "diff.html"
    r = run_cli("diff", SPEC, "warmup=2000,constant,1-sqrt=20%", "--steps", "100k", "--lr", "3e-4", "-o", str(page))
    assert r.returncode == 1, r.stderr  # they differ
    check_page(chromium, page, tmp_path, [BLUE, RED])


def test_the_error_collector_catches_errors(chromium, tmp_path):
    page = tmp_path / "probe.html"
    page.write_text("<!DOCTYPE html><html><head></head><body><script>throw new Error('lrplan-probe');</script>"
                    "</body></html>", encoding="utf-8")
    report, shot, log = open_page(chromium, page, tmp_path)
    assert any("lrplan-probe" in e for e in report["errors"])
    assert "Uncaught Error: lrplan-probe" in log
    assert report["svg"] == 0
    assert colour_pixels(shot, BLUE, (0, 0, 1000, 700)) == 0  # and the pixel check sees a blank page
