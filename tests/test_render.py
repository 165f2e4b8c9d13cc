"""Renderers checked by their data and their text, not their pixels (the browser test looks at pixels).

Expected LR values are hand-computed from the spec's meaning (design.md): for
``warmup=2000,cosine,min=0.1`` step k < 2000 uses k/2000, step 2000 the peak, and the cosine
0.1 + 0.45 (1 + cos(pi (k - 2000) / (N - 2000))) down to 0.1 at N.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from conftest import run_cli
from lrplan.frameworks.base import ReadOptions
from lrplan.ir import Curve, Level, Schedule, Segment
from lrplan.render import files, sample, terminal
from lrplan.sources import load

SPEC = "warmup=2000,cosine,min=0.1"


def sched(spec: str = SPEC, steps: str = "100k", lr: float | None = None) -> Schedule:
    return load(spec, opts=ReadOptions(steps=steps, lr=lr)).schedule


def cosine_ref(k: float, n: int, w: int = 2000, floor: float = 0.1) -> float:
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (k - w) / (n - w)))


# ---- decimation ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5_000, 100_000, 10_000_000])
def test_decimate_keeps_exact_values_at_phase_boundaries(n):
    x, y = sample.decimate(sched(steps=str(n)), n)
    got = dict(zip(x.tolist(), y.tolist()))
    assert got[0.0] == 0.0
    assert got[1999.0] == 1999 / 2000
    assert got[2000.0] == 1.0
    assert got[float(n - 1)] == pytest.approx(cosine_ref(n - 1, n), rel=1e-12)
    assert got[float(n)] == pytest.approx(0.1, rel=1e-12)
    assert np.all(np.diff(x) > 0)
    assert len(x) <= 4 * 2000 + 8


def test_decimate_keeps_boundaries_under_a_batch_ramp():
    # On a samples axis with Megatron's ramp-up, boundaries land on steps computed from the batch schedule.
    from lrplan.evaluate import lr

    s = load("warmup=64000,cosine,min=0.1,gbs=64,rampup=16:16:96000,axis=samples,total=6.4M",
             opts=ReadOptions()).schedule
    bounds = sample.boundary_steps(s)
    assert len(bounds) == 4
    x, y = sample.decimate(s, bounds[-1], buckets=100)
    got = dict(zip(x.tolist(), y.tolist()))
    exact = lr(s, np.array(bounds, dtype=float))
    assert [got[float(b)] for b in bounds] == exact.tolist()
    assert got[float(bounds[1])] == 1.0 and got[float(bounds[0])] < 1.0  # the first cosine step is the peak


def test_decimate_keeps_every_step_of_short_runs():
    x, y = sample.decimate(sched(steps="4000"), 4000)
    assert x.tolist() == list(range(4001))
    assert y[1000] == 0.5


def test_decimate_keeps_bucket_extremes():
    # A spike of one step inside a long run must survive decimation (bucket min/max).
    spike = lambda k: np.where(k == 7_654_321, 5.0, 1.0)  # noqa: E731
    x, y = sample.decimate_fn(spike, 10_000_000, 500, keep=[7_654_321])
    assert y.max() == 5.0 and x[np.argmax(y)] == 7_654_321


def test_phase_ids_name_each_step():
    s = sched()
    names = sample.phase_names(s)
    ids = sample.phase_ids(s, np.array([0, 1999, 2000, 99_999, 100_000, 10**9]))
    assert [names[i] for i in ids] == ["warmup", "warmup", "cosine", "cosine", "after end", "after end"]
    assert sample.runs_of(ids) == [(0, 0, 1), (1, 2, 3), (2, 4, 5)]


# ---- terminal chart --------------------------------------------------------------------------


def chart(series, k_max, **kw) -> str:
    return terminal.as_text(terminal.render(series, k_max, **kw))


def test_terminal_chart_fits_80_columns_with_lr_labels():
    s = sched(lr=3e-4)
    text = chart([terminal.Series(s, SPEC)], 100_000, width=80, boundaries=(2000, 100_000))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].lstrip().startswith("3.00e-4 ┤")  # the peak, in LR units
    assert lines[15].lstrip().startswith("0 ┤")
    assert "┴" in lines[16]  # phase boundaries on the axis
    assert lines[17].split() == ["step", "0", "25k", "50k", "75k", "100k"]


def test_terminal_overlay_has_a_legend_and_marks():
    a, b = sched(lr=3e-4), sched("warmup=2000,constant,1-sqrt=20%", lr=3e-4)
    text = chart([terminal.Series(a, "A"), terminal.Series(b, "B")], 100_000, width=80, marks=(50_000,))
    # as plain text (no colour) each curve keeps a glyph of its own, in the chart and in its legend line
    assert text.splitlines()[-2:] == ["  ⠿⠿ A", "  •• B"]
    body = "\n".join(text.splitlines()[:-2])
    assert "•" in body and any(0x2800 < ord(c) <= 0x28FF for c in body)
    assert "▲" in text and "┊" in text


def test_terminal_log_y_labels_span_decades():
    s = sched("warmup=10,exp(rate=0.5,every=1000)", steps="10k", lr=1e-3)
    lines = chart([terminal.Series(s, "e")], 10_000, width=80, log_y=True).splitlines()
    assert lines[0].lstrip().startswith("1.00e-3")
    bottom = float(lines[15].split("┤")[0])
    assert 0 < bottom < 1e-5


def test_terminal_difference_chart_labels_zero_and_negative_values():
    curves = [("d", lambda x: np.where(x < 500, 0.0, -2e-4 * x / 1000), [499, 500])]
    lines = terminal.as_text(terminal.render_curves(curves, 1000, width=60, height=8)).splitlines()
    assert lines[0].lstrip().startswith("0 ┤")
    assert lines[7].lstrip().startswith("-2.00e-4 ┤")
    assert lines[-1].split()[:2] == ["step", "0"]


def test_terminal_chart_of_10m_steps_is_legible():
    text = chart([terminal.Series(sched(steps="10M"), SPEC)], 10_000_000, width=80)
    assert "10M" in text.splitlines()[-1]
    assert sum(ch != " " and 0x2800 <= ord(ch) <= 0x28FF for ch in text) > 60


# ---- pages and files -------------------------------------------------------------------------


def test_plot_page_lines_carry_exact_boundaries_and_phases():
    s = sched(lr=3e-4)
    page = files.plot_page([terminal.Series(s, SPEC)], 100_000, marks=(50_000,))
    (line,) = page.panels[0].lines
    got = dict(zip(line.x.tolist(), line.y.tolist()))
    assert got[1999.0] == pytest.approx(3e-4 * 1999 / 2000, rel=1e-15)
    assert got[2000.0] == pytest.approx(3e-4, rel=1e-15)
    assert [p[0] for p in line.phases] == ["warmup", "cosine", "after end"]
    assert (2000, "cosine", "phase", 0) in page.panels[0].vlines
    assert (50_000, "step 50k", "mark", None) in page.panels[0].vlines
    keypoints, phases = page.tables
    assert ["1999", "0.00029985", "warmup", "last warmup step"] in keypoints.rows
    assert phases.rows[0][:6] == ["warmup", "linear", "0", "1999", "2000", "2.0%"]


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_images_are_written(tmp_path, suffix, magic):
    out = tmp_path / f"curve{suffix}"
    series = [terminal.Series(sched(steps="10M"), SPEC), terminal.Series(sched("constant", "10M"), "flat")]
    files.save_plot(series, out, k_max=10_000_000, log_y=suffix == ".svg", marks=(5_000_000,))
    assert out.read_bytes().startswith(magic)
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_svg_is_reproducible(tmp_path):
    series = [terminal.Series(sched(), SPEC)]
    files.save_plot(series, tmp_path / "a.svg", k_max=100_000)
    files.save_plot(series, tmp_path / "b.svg", k_max=100_000)
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def html_of(series, k_max, tmp_path, **kw) -> str:
    out = tmp_path / "p.html"
    files.save_plot(series, out, k_max=k_max, **kw)
    return out.read_text(encoding="utf-8")


def test_html_is_offline_with_hover_tables_and_phases(tmp_path):
    page = html_of([terminal.Series(sched(lr=3e-4), SPEC)], 100_000, tmp_path, marks=(50_000,))
    assert not re.search(r"<script[^>]*\bsrc=", page)  # nothing loaded from a CDN
    assert "Plotly.newPlot" in page and len(page) > 4_000_000  # plotly.js is inside
    data = page.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u002f", "/")  # JSON escapes
    assert "<b>warmup=2000,cosine,min=0.1</b><br>step %{x:,.0f}<br>LR %{y:.6g}<br>phase warmup<extra>" in data
    assert "<br>phase cosine<extra>" in data and "<br>phase after end<extra>" in data
    assert "<caption>Key points: warmup=2000,cosine,min=0.1</caption>" in page
    assert "<td>last warmup step</td>" in page
    assert "<caption>Phases: warmup=2000,cosine,min=0.1</caption>" in page


@pytest.mark.parametrize("n_series", [1, 6])
def test_html_stays_under_5_mb_for_10m_steps(tmp_path, n_series):
    series = [terminal.Series(sched(f"warmup={1000 * (i + 1)},cosine,min=0.1", "10M"), f"s{i}")
              for i in range(n_series)]
    page = html_of(series, 10_000_000, tmp_path)
    assert len(page.encode("utf-8")) < 5_000_000


def test_html_with_hundreds_of_phases_is_thinned_under_5_mb(tmp_path):
    segs = tuple(Segment("linear", i * 1000.0, (i + 1) * 1000.0, Level(1.0 if i % 2 else 0.2),
                         Level(0.2 if i % 2 else 1.0), label=f"p{i}") for i in range(400))
    s = Schedule(Curve(segs), total=400_000.0)
    page = html_of([terminal.Series(s, "saw")], 400_000, tmp_path)
    assert len(page.encode("utf-8")) < 5_000_000
    assert '"p0"' in page and '"p399"' in page  # the phase of each point travels as its hover text
    assert "<br>phase %{text}" in page.replace("\\u003c", "<").replace("\\u003e", ">")
    assert "more rows (see lrplan table)" in page


def test_unknown_suffix_lists_the_suffixes(tmp_path):
    r = run_cli("plot", SPEC, "--steps", "100k", "-o", str(tmp_path / "curve.gif"))
    assert r.returncode == 2
    assert "unknown output suffix '.gif'" in r.stderr
    assert "hint: use one of .png, .svg, .pdf, .html, .htm" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_plot_writes_files_but_never_over_an_input(tmp_path):
    plan = tmp_path / "plan.json"
    r = run_cli("convert", SPEC, "--steps", "100k", "--to", "json", "-o", str(plan))
    assert r.returncode == 0, r.stderr
    odd = tmp_path / "plan.html"  # an input whose name has an output suffix (read by content)
    odd.write_bytes(plan.read_bytes())
    before = odd.read_bytes()
    r = run_cli("plot", str(odd), "-o", str(odd))
    assert r.returncode == 2 and "refusing to overwrite the input" in r.stderr
    assert odd.read_bytes() == before
    r = run_cli("plot", str(plan), SPEC, "--steps", "100k", "-o", str(tmp_path / "c.png"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
