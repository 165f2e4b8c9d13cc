"""``import lrplan``: the Python API gives what the CLI prints, through the same code (same numbers, same
errors, the same exactness gate). Each expected value is the CLI's own output, run through its entry point
(conftest.run_cli), or a hand-checked number: never a value the API computed itself."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli

import lrplan

SPEC = "warmup=2000,cosine,min=0.1"
ARGS = ("--steps", "100k", "--lr", "3e-4")


@pytest.fixture(scope="module")
def plan():
    return lrplan.load(SPEC, steps="100k", lr=3e-4)


def test_import_lrplan_imports_nothing_heavy():
    code = ("import sys, lrplan; p = lrplan.load('warmup=10,cosine', steps=100); p.lr(5); "
            "print(','.join(m for m in ('numpy', 'torch', 'matplotlib', 'plotly', 'transformers', 'lightning') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_hand_checked_values(plan):
    # warmup: update k uses 3e-4 * k / 2000; the cosine starts at the peak; the last update is the floor's side
    assert plan.lr(0) == 0.0
    assert plan.lr(1000) == pytest.approx(1.5e-4, rel=1e-15)
    assert plan.lr(2000) == pytest.approx(3e-4, rel=1e-15)
    mid = 2000 + 49_000  # half-way through the 98,000-step cosine: (peak + floor) / 2
    assert plan.lr(mid) == pytest.approx((3e-4 + 3e-5) / 2, rel=1e-12)
    assert plan.lr(100_000) == pytest.approx(3e-5, rel=1e-12)
    assert plan.total_steps == 100_000 and plan.peak_lr == 3e-4
    assert [p.name for p in plan.phases] == ["warmup", "cosine"]
    assert (plan.phases[0].first_step, plan.phases[0].end_step) == (0, 2000)


def test_lr_at_step_matches_the_cli_at_every_key_step(plan):
    for k in (0, 1, 1999, 2000, 53210, 99_999, 100_000, 150_000):
        out = json.loads(run_cli("at-step", str(k), SPEC, *ARGS, "--json").stdout)
        assert plan.lr(k) == out["lr"], k  # the same code path: bit for bit


def test_vectorised_lr_equals_the_cli_table(plan):
    r = run_cli("table", SPEC, *ARGS, "--every", "997", "--format", "csv")
    rows = [line.split(",") for line in r.stdout.splitlines()[1:]]
    steps = np.array([int(row[0]) for row in rows])
    theirs = np.array([float(row[1]) for row in rows])
    assert len(steps) > 100
    assert np.array_equal(plan.lr(steps), theirs)
    assert np.array_equal(plan.lr(steps.astype(float)), theirs)


def test_table_text_is_the_cli_text(plan):
    for fmt in ("text", "csv", "json", "md"):
        assert plan.table(format=fmt) == run_cli("table", SPEC, *ARGS, "--format", fmt).stdout, fmt
    assert plan.table(at=[0, 1, "50%"], format="csv") == run_cli("table", SPEC, *ARGS, "--at", "0,1,50%",
                                                                  "--format", "csv").stdout
    assert plan.table(every=20_000, format="json") == run_cli("table", SPEC, *ARGS, "--every", "20000",
                                                               "--format", "json").stdout
    points = plan.table(at="0,2000")
    assert [(p.step, p.lr, p.phase) for p in points] == [(0, 0.0, "warmup"), (2000, plan.lr(2000), "cosine")]


def test_explain_lint_and_to_are_the_cli_outputs(plan):
    assert plan.explain() == run_cli("explain", SPEC, *ARGS).stdout
    lint = json.loads(run_cli("lint", SPEC, *ARGS, "--json").stdout)
    assert [(f.rule, f.severity, f.message) for f in plan.lint()] == \
        [(f["rule"], f["severity"], f["message"]) for f in lint["findings"]]
    for target in ("deepspeed", "megatron", "hf", "torch", "spec"):
        assert plan.to(target) == run_cli("convert", SPEC, *ARGS, "--to", target).stdout, target


def test_to_goes_through_the_gate():
    # torchtitan warms up with (k+1)/W, so lrplan's k/W warmup is not expressible: the gate refuses (exit 3)
    src = "warmup=100,constant,1-sqrt=20%"
    cli = run_cli("convert", src, "--steps", "1000", "--lr", "1e-3", "--to", "torchtitan")
    assert cli.returncode == 3
    with pytest.raises(lrplan.InexpressibleError) as e:
        lrplan.load(src, steps=1000, lr=1e-3).to("torchtitan")
    assert e.value.message in cli.stderr
    approx = lrplan.load(src, steps=1000, lr=1e-3).to("torchtitan", approx=True)
    assert approx == run_cli("convert", src, "--steps", "1000", "--lr", "1e-3", "--to", "torchtitan",
                             "--approx").stdout
    assert any("--approx" in n for n in approx.notes)


@pytest.mark.parametrize("source, kwargs, argv", [
    ("warmup=2000,cosne", {}, []),
    ("warmup=2000,cosine", {"lr": -1.0}, ["--lr", "-1"]),
    ("no/such/file.json", {}, []),
    ("llama3-405", {}, []),
])
def test_errors_are_the_cli_errors(source, kwargs, argv):
    cli = run_cli("explain", source, *argv)
    assert cli.returncode == 2
    with pytest.raises(lrplan.LrplanError) as e:
        lrplan.load(source, **kwargs)
    assert e.value.render() + "\n" == cli.stderr


def test_negative_steps_are_refused(plan):
    with pytest.raises(lrplan.LrplanError, match="0-based"):
        plan.lr(-1)
    with pytest.raises(lrplan.LrplanError, match="0-based"):
        plan.lr(np.array([0, -3]))


def test_facts_are_set_options():
    # an HF TrainingArguments JSON needs nothing; the --set fact reaches lint as the CLI's does
    src = json.dumps({"learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 10, "max_steps": 100})
    p = lrplan.load(src, fmt="hf")
    assert p.format == "hf" and p.total_steps == 100
    cli = json.loads(run_cli("at-step", "50", src, "--from", "hf", "--json").stdout)
    assert p.lr(50) == cli["lr"]


def test_diff(plan):
    same = lrplan.diff(plan, SPEC, steps="100k", lr=3e-4)
    assert same.equal and not same
    other = lrplan.diff(plan, "warmup=2000,cosine,min=0.2", steps="100k", lr=3e-4)
    cli = run_cli("diff", SPEC, "warmup=2000,cosine,min=0.2", *ARGS, "--json")
    assert cli.returncode == 1 and other and not other.equal
    assert other.as_dict() | {"a": None} == json.loads(cli.stdout) | {"a": None}  # A is a Plan here, not text
    assert str(other).splitlines()[2:] == cli_text_lines()[2:9]
    import lrplan.diff as library_module  # the module is still the library behind `lrplan diff`

    assert callable(library_module.compare)


def cli_text_lines():
    return run_cli("diff", SPEC, "warmup=2000,cosine,min=0.2", *ARGS, "--no-chart").stdout.splitlines()


def test_plan_round_trips_through_its_json(plan):
    again = lrplan.load(plan.to_json())
    assert again == plan and again.lr(53210) == plan.lr(53210)


def test_companions():
    p = lrplan.load("warmup=5,cosine,min=0.1,wd=[constant=50%(at=0.1),linear(to=0.01)],momentum=0.9", steps=40)
    assert p.peak_lr is None and p.weight_decay(0) == 0.1 and p.momentum(7) == 0.9
    # the linear half of the weight decay: 0.1 -> 0.01 over steps 20..40, so step 30 is half-way
    assert p.weight_decay(30) == pytest.approx(0.055, rel=1e-12)
    assert lrplan.load("warmup=5,cosine", steps=40).weight_decay(3) is None


def test_pictures(plan):
    fig = plan.figure()
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    assert x[0] == 0 and math.isclose(max(y), 3e-4, rel_tol=1e-12)
    assert np.array_equal(plan.lr(np.asarray(x)), np.asarray(y))  # the drawn points are the plan's values
    pfig = plan.plotly()
    ys = np.concatenate([np.asarray(t.y, dtype=float) for t in pfig.data])
    assert math.isclose(ys.max(), 3e-4, rel_tol=1e-12)


def test_notebook_view_is_offline(plan):
    import html as h
    import re

    page = h.unescape(re.fullmatch(r'<iframe srcdoc="(.*?)" style=.*', plan._repr_html_(), re.DOTALL).group(1))
    assert "<table>" in page and "Key points" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inline: no CDN, works air-gapped
    assert "plotly.js v" in page or "Plotly" in page
