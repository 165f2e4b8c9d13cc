"""Logs as SOURCEs of ``plot`` and ``diff``: logged points drawn over the planned curve, checked by their data;
``diff`` with a log on one side compares at every logged step, as ``check`` does."""

from __future__ import annotations

import json
import re

import numpy as np
from conftest import run_cli
from logruns import runs_fixture  # noqa: F401  (the session's real runs)

from lrplan import logs
from lrplan.render.logs import overlay_page
from lrplan.render.terminal import Series
from lrplan.sources import load

PLAN = ("warmup=5,cosine", "--steps", "16", "--lr", "1e-3")


def test_overlay_page_has_the_logged_points(runs):
    s = logs.read(runs / "hf" / "restarted" / "trainer_state.json")
    from lrplan.frameworks.base import ReadOptions

    plan = load("warmup=5,cosine", opts=ReadOptions(steps="16", lr=1e-3))
    page = overlay_page([Series(plan.schedule, "plan")], [s], 16, html=True)
    lines = page.panels[0].lines
    assert [ln.points for ln in lines] == [False, True]
    assert lines[1].x.tolist() == list(range(16)) and np.array_equal(lines[1].y, s.lr)


def test_plot_log_and_plan_terminal_and_files(runs, tmp_path):
    log = str(runs / "hf" / "restarted" / "runs")
    r = run_cli("plot", log, *PLAN, "--width", "60", "--height", "8")
    assert r.returncode == 0, r.stderr
    assert "(logged)" in r.stdout and "warmup=5,cosine" in r.stdout and "•" in r.stdout
    out = tmp_path / "overlay.html"
    r = run_cli("plot", log, *PLAN, "-o", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    traces = [json.loads(f'"{t}"') for t in re.findall(r'"mode":"markers","name":"([^"]+)"', html)]
    assert traces == [f"{log} [train/learning_rate] (logged)"]  # one markers trace: the log's points
    png = tmp_path / "overlay.png"
    assert run_cli("plot", log, *PLAN, "-o", str(png)).returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_plot_logs_alone(runs, tmp_path):
    out = tmp_path / "two.svg"
    r = run_cli("plot", str(runs / "hf" / "ga1" / "trainer_state.json"), str(runs / "lightning" / "run"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    svg = out.read_text()
    assert "lr-AdamW" in svg and "learning_rate" in svg


def test_plot_names_the_log_inside_an_output_dir(runs):
    """An HF output directory is a checkpoint SOURCE; when it cannot give a schedule, the error points at its logs."""
    r = run_cli("plot", str(runs / "hf" / "restarted"))
    assert r.returncode == 2 and "pass the log itself (trainer_state.json, runs/, mlruns/)" in r.stderr


def test_diff_with_a_log(runs):
    plan_first = run_cli("diff", "warmup=5,cosine", str(runs / "hf" / "restarted" / "trainer_state.json"), "--steps",
                         "16", "--lr", "1e-3", "--json")
    assert plan_first.returncode == 1, plan_first.stderr
    data = json.loads(plan_first.stdout)
    assert [d["name"] for d in data["diagnoses"]] == ["warmup restarted"] and data["agree"] == 10
    same = run_cli("diff", str(runs / "hf" / "ga2" / "runs"), *PLAN, "--no-chart")
    assert same.returncode == 0 and "on plan" in same.stdout
    both = run_cli("diff", str(runs / "hf" / "ga1" / "trainer_state.json"), str(runs / "hf" / "ga2" / "runs"))
    assert both.returncode == 2 and "both A and B are training logs" in both.stderr


def test_a_log_is_not_a_schedule(runs):
    r = run_cli("at-step", "3", str(runs / "hf" / "ga1" / "runs"))
    assert r.returncode == 2 and "is a training log (tensorboard), not a schedule" in r.stderr
    assert "lrplan fit LOG" in r.stderr
