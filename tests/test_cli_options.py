"""Every CLI option through the installed entry point, each with a test that fails when it is ignored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

FIX = Path(__file__).parent / "fixtures" / "checkpoints"
SPEC = "warmup=100,cosine"
LAMBDA = str(FIX / "torch" / "LambdaLR.pt")  # its lambda is min(1, (k+1)/10): warmup=10(shift=1),constant
GOOD_PLAN = "warmup=10(shift=1),constant"
MEGATRON_FLAGS = "--lr 1e-3 --min-lr 1e-4 --lr-decay-style cosine --lr-warmup-iters 10 --train-iters 100"


def _json(r):
    assert r.returncode in (0, 5), r.stderr
    return json.loads(r.stdout)


# ---- global options -------------------------------------------------------------------------------

BROKEN = ("import sys, lrplan.sources as s\n"
          "def boom(*a, **k): raise ZeroDivisionError('planted bug')\n"
          "s.load = boom\n"
          "from lrplan.cli import main\n"
          "sys.argv = ['lrplan'] + sys.argv[1:]\n"
          "main()\n")


def _broken(*args):
    return subprocess.run([sys.executable, "-c", BROKEN, *args], capture_output=True, text=True, timeout=120)


def test_internal_error_path_is_short_and_exits_70():
    r = _broken("explain", SPEC, "--steps", "1000")
    assert r.returncode == 70
    assert "internal error (ZeroDivisionError: planted bug)" in r.stderr and "--traceback" in r.stderr
    assert "Traceback" not in r.stderr


def test_traceback_option_shows_the_traceback():
    r = _broken("--traceback", "explain", SPEC, "--steps", "1000")
    assert "Traceback (most recent call last)" in r.stderr and "ZeroDivisionError: planted bug" in r.stderr


def test_short_steps_option():
    a = _json(run_cli("at-step", "500", SPEC, "-n", "1000", "--json"))
    b = _json(run_cli("at-step", "500", SPEC, "-n", "2000", "--json"))
    assert a["total_steps"] == 1000 and b["total_steps"] == 2000 and a["lr"] != b["lr"]


def test_from_forces_the_reader(tmp_path):
    f = tmp_path / "flags.txt"
    f.write_text(MEGATRON_FLAGS + "\n")
    ok = run_cli("at-step", "50", str(f), "--from", "megatron", "--json")
    assert ok.returncode == 0, ok.stderr
    forced = run_cli("at-step", "50", str(f), "--from", "deepspeed", "--json")
    assert forced.returncode == 2 and "Traceback" not in forced.stderr  # DeepSpeed's reader refuses flags


def test_set_reaches_the_reader():
    flags = MEGATRON_FLAGS + " --global-batch-size 64 --micro-batch-size 4"
    ok = run_cli("explain", flags)
    assert ok.returncode == 0, ok.stderr
    bad = run_cli("explain", flags, "--set", "data_parallel_size=3")  # 64 % (4 * 3) != 0: Megatron asserts
    assert bad.returncode == 2 and "divisible" in bad.stderr


# ---- plot ----------------------------------------------------------------------------------------

def _chart_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if "┤" in ln or "│" in ln]


def test_plot_until_ends_the_axis():
    full = run_cli("plot", SPEC, "--steps", "1000", "--width", "40", "--height", "4")
    cut = run_cli("plot", SPEC, "--steps", "1000", "--until", "500", "--width", "40", "--height", "4")
    assert full.returncode == cut.returncode == 0
    axis = [ln for ln in cut.stdout.splitlines() if ln.strip().startswith("step")][0]
    assert axis.split()[-1] == "500"
    assert [ln for ln in full.stdout.splitlines() if ln.strip().startswith("step")][0].split()[-1] == "1k"


@pytest.mark.parametrize("height", [4, 9])
def test_plot_height_is_the_number_of_chart_rows(height):
    r = run_cli("plot", SPEC, "--steps", "1000", "--width", "40", "--height", str(height))
    assert len(_chart_lines(r.stdout)) == height


def test_plot_width_is_the_line_width():
    r = run_cli("plot", SPEC, "--steps", "1000", "--width", "50", "--height", "4")
    assert max(len(ln) for ln in _chart_lines(r.stdout)) == 50


# ---- diff ----------------------------------------------------------------------------------------

def test_diff_chart_options():
    base = ("diff", SPEC, "warmup=100,linear", "--steps", "1000")
    charts = run_cli(*base, "--width", "40", "--height", "3")
    none = run_cli(*base, "--no-chart")
    assert charts.returncode == none.returncode == 1
    assert "difference A − B" in charts.stdout and "difference A − B" not in none.stdout
    assert not _chart_lines(none.stdout.split("step ")[0]) and "┤" not in none.stdout
    assert max(len(ln) for ln in _chart_lines(charts.stdout)) == 40
    taller = run_cli(*base, "--width", "40", "--height", "6")
    assert len(_chart_lines(taller.stdout)) > len(_chart_lines(charts.stdout))


# ---- inspect -------------------------------------------------------------------------------------

def test_inspect_config_supplies_the_schedule():
    d = str(FIX / "torchtitan" / "step-5")
    bare = run_cli("inspect", d, "--json")
    given = run_cli("inspect", d, "--config", str(FIX / "torchtitan" / "job.toml"), "--json")
    assert any("--config" in m for m in _json(bare)["missing"])
    assert _json(given)["missing"] == []


def test_inspect_plan_and_steps():
    good = _json(run_cli("inspect", LAMBDA, "--plan", GOOD_PLAN, "--steps", "40", "--json"))
    bad = _json(run_cli("inspect", LAMBDA, "--plan", "warmup=10,constant", "--steps", "40", "--json"))
    assert good["check"]["match"] is True and bad["check"]["match"] is False
    plan = "warmup=25%(shift=1),cosine"  # --steps sizes the warmup: 5 of 20 steps, or 100 of 400
    short = _json(run_cli("inspect", LAMBDA, "--plan", plan, "--steps", "20", "--json"))
    long = _json(run_cli("inspect", LAMBDA, "--plan", plan, "--steps", "400", "--json"))
    assert short["check"]["recomputed"] != long["check"]["recomputed"]


# ---- resume --------------------------------------------------------------------------------------

def _resume_spec(*extra):
    r = run_cli("resume", LAMBDA, "--plan", "warmup=10%(shift=1),cosine", "--extend-to", "60", "--to", "spec", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_resume_plan_steps_lr():
    a = _resume_spec("--steps", "40")
    assert "total=60" in a and "cosine" in a
    assert _resume_spec("--steps", "50") != a  # --steps is the old run's length
    assert "peak=0.5" in _resume_spec("--steps", "40", "--lr", "0.5") and "peak=0.5" not in a


def test_resume_without_plan_is_refused():
    r = run_cli("resume", LAMBDA, "--extend-to", "60")
    assert r.returncode == 2 and "--plan" in r.stderr


def test_resume_config_supplies_the_schedule():
    d = str(FIX / "torchtitan" / "step-5")
    bare = run_cli("resume", d, "--extend-to", "20", "--to", "spec")
    given = run_cli("resume", d, "--extend-to", "20", "--to", "spec", "--config", str(FIX / "torchtitan" / "job.toml"))
    assert bare.returncode == 2 and "--config" in bare.stderr
    assert given.returncode == 0 and "total=20" in given.stdout


@pytest.mark.parametrize("target, marker", [
    ("lightning", "configure_optimizers"),
    ("optax", "optax."),
    ("deepspeed", "deepspeed"),
    ("spec", "total=12"),
])
def test_resume_to_targets(target, marker):
    r = run_cli("resume", str(FIX / "hf" / "checkpoint-6"), "--extend-to", "12", "--to", target)
    assert r.returncode == 0, r.stderr
    assert marker in r.stdout
    assert "TrainingArguments" not in r.stdout  # the checkpoint's own (HF) form was not emitted instead


def test_resume_to_torchtitan_refuses_with_the_nearest():
    r = run_cli("resume", str(FIX / "hf" / "checkpoint-6"), "--extend-to", "12", "--to", "torchtitan")
    assert r.returncode == 3 and "torchtitan" in r.stderr and "--approx" in r.stderr


# ---- the framework's step name past the end --------------------------------------------------------

@pytest.mark.parametrize("source", [str(FIX / "torchtitan" / "job.toml"), MEGATRON_FLAGS])
def test_steps_past_the_run_are_not_given_a_framework_step(source):
    r = run_cli("table", source, "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.splitlines()[1:] if ln]
    last = rows[-1]
    assert "after the run's last step" in last and "logs this LR" not in last
    assert "logs this LR" in rows[-2]
