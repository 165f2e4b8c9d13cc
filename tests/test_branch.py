"""``lrplan branch``: decays off one WSD stable phase, each emitted for a framework and run by that framework's
own scheduler code at every step (the helpers of tests/frameworks/: Megatron's OptimizerParamScheduler,
HF's get_scheduler from the parsed TrainingArguments, torchtitan's LRSchedulersContainer), and the resume
of a stable checkpoint into a branch run with real torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

sys.path.insert(0, str(Path(__file__).parent / "frameworks"))

from conftest import assert_lr_close, require, run_cli
from test_megatron import run as megatron_run

from lrplan.checkpoints.branch import branches
from lrplan.convert import convert
from lrplan.errors import LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks.base import WriteOptions
from lrplan.spec import parse_spec

STABLE = "warmup=500,constant,1-sqrt=10%,gbs=256,seq=2048"
PEAK = 3e-4


@pytest.fixture(scope="module")
def mcore():
    """megatron.core's scheduler and batch calculator, imported once (as tests/frameworks/test_megatron.py)."""
    torch = require("torch")
    return (require("megatron.core.optimizer_param_scheduler"), require("megatron.core.num_microbatches_calculator"),
            torch)


def stable(total="30k"):
    return parse_spec(STABLE, steps=total, lr=PEAK)


def test_branches_share_the_stable_phase_and_decay_at_the_end():
    found = branches(stable(), "40%,70%,100%", "10%", "1-sqrt")
    assert [(b.end, b.decay_start) for b in found] == [(12000, 10800), (21000, 18900), (30000, 27000)]
    s = stable()
    for b in found:  # the stable run's own curve until the decay starts, then 1 - sqrt(p) to 0
        k = np.arange(b.decay_start)
        assert_lr_close(lr(b.schedule, k), lr(s, k))
        d = b.end - b.decay_start
        j = np.arange(d)
        assert_lr_close(lr(b.schedule, b.decay_start + j), PEAK * (1 - np.sqrt(j / d)))
        assert b.tokens == b.end * 256 * 2048


@pytest.mark.parametrize("shape,style", [("1-sqrt", "minus_sqrt"), ("linear", "linear"), ("cosine", "cosine"),
                                         ("exp-anneal", "exponential")])
def test_megatron_wsd_branches_run_by_megatron(mcore, shape, style):
    for b in branches(stable(), "40%,100%", "10%", shape):
        text = convert(b.schedule, "megatron", WriteOptions(source_label=b.label)).text
        assert f"--lr-wsd-decay-style {style}" in text
        assert f"--lr-wsd-decay-iters {b.end - b.decay_start}" in text
        flags = " ".join(line.rstrip(" \\") for line in text.splitlines() if not line.startswith("#"))
        got, _, _ = megatron_run(flags, b.end, *mcore)
        assert_lr_close(lr(b.schedule, np.arange(b.end)), got, what=f"{b.label} {shape}")


def test_hf_warmup_stable_decay_branches_run_by_transformers(tmp_path):
    transformers = require("transformers")
    from test_hf import _trainer_lrs

    for b in branches(stable(), "40%,100%", "10%", "1-sqrt"):
        text = convert(b.schedule, "hf", WriteOptions(source_label=b.label, variant="yaml")).text
        path = tmp_path / f"{b.label}.yaml"
        path.write_text(text)
        (args,) = transformers.HfArgumentParser(transformers.TrainingArguments).parse_yaml_file(str(path))
        assert args.lr_scheduler_type == "warmup_stable_decay"
        assert_lr_close(lr(b.schedule, np.arange(b.end)), _trainer_lrs(args, b.end), what=b.label)


def test_torchtitan_decay_ratio_branches_run_by_torchtitan():
    from test_torchtitan import real_torchtitan_lrs

    s = parse_spec("warmup=500(shift=1),constant,linear=20%", steps="30k", lr=PEAK)  # torchtitan's (k+1)/W
    for b in branches(s, "40%,100%", "20%", "linear"):
        text = convert(b.schedule, "torchtitan", WriteOptions(source_label=b.label)).text
        cfg = tomllib.loads(text)
        sc = cfg["lr_scheduler"]
        assert sc["decay_ratio"] == pytest.approx(0.2)
        got = real_torchtitan_lrs(sc["warmup_steps"], sc["decay_ratio"], sc["decay_type"], sc["min_lr_factor"],
                                  cfg["training"]["steps"], peak=cfg["optimizer"]["lr"])
        assert_lr_close(lr(b.schedule, np.arange(b.end)), got, what=b.label)


def test_resume_a_stable_checkpoint_into_a_branch(tmp_path):
    """A torch LambdaLR checkpoint of the stable run at update 9000 (--plan: the stable run), branched: the
    emitted torch code resumed there follows the branch at every later update."""
    torch = require("torch")
    spec = "warmup=500,constant"
    plan = parse_spec(spec, steps="30k", lr=PEAK)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, k / 500))
    for _ in range(9000):
        opt.step()
        sched.step()
    ckpt = tmp_path / "stable.pt"
    torch.save({"optimizer": opt.state_dict(), "lr_scheduler": sched.state_dict()}, ckpt)
    out = tmp_path / "branches"
    r = run_cli("branch", str(ckpt), "--plan", spec, "--steps", "30k", "--lr", str(PEAK), "--at", "12k,20k",
                "--decay", "10%", "--to", "torch", "-o", str(out))
    assert r.returncode == 0, r.stderr
    for end in (12_000, 20_000):
        text = (out / f"branch-{end}.py").read_text()
        assert "RESUME_STEP = 9000" in text
        fresh = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
        ns = {"optimizer": fresh}
        exec(compile(text, "<emitted>", "exec"), ns)
        got = np.empty(end - 9000)
        for i in range(end - 9000):
            got[i] = fresh.param_groups[0]["lr"]
            fresh.step()
            ns["scheduler"].step()
        (b,) = branches(plan, str(end), "10%", "1-sqrt")
        assert_lr_close(lr(b.schedule, np.arange(9000, end)), got, what=f"branch {end}")


def test_cli_overlay_plot_and_budgets(tmp_path):
    png = tmp_path / "branches.png"
    r = run_cli("branch", STABLE, "--steps", "30k", "--lr", "3e-4", "--at", "40%,70%,100%", "--to", "hf",
                "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert png.stat().st_size > 10_000
    assert r.stdout.count("lr_scheduler_type: warmup_stable_decay") == 3
    assert "branch@21000: stable until step 18900, 2100-step 1-sqrt decay, 21000 steps, 11.01B tokens" in r.stderr


@pytest.mark.parametrize("args,message", [
    (("--at", "1%"), "the branch ending at 300 would start its 30-step decay at 270, before the stable phase starts"),
    (("--at", "100%", "--decay", "0.1%x"), "--decay"),
    (("--at", "50%", "--shape", "wiggle"), "--shape must be one of 1-sqrt, linear, cosine, exp-anneal, poly"),
])
def test_cli_errors(args, message):
    r = run_cli("branch", STABLE, "--steps", "30k", "--lr", "3e-4", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_needs_a_stable_phase():
    with pytest.raises(LrplanError, match="branch needs a stable"):
        branches(parse_spec("warmup=100,cosine", steps="10k"), "50%", "10%")


def test_a_scaled_schedule_is_refused_not_branched_without_its_scale():
    """A branch built from the LR curve alone would drop the multiplier (twice the LR here)."""
    r = run_cli("branch", "warmup=100,constant,1-sqrt=10%,scale=0.5,peak=1e-3", "--steps", "1000", "--at", "100%",
                "--decay", "10%", "--to", "spec")
    assert r.returncode == 3 and "scale curve" in r.stderr and not r.stdout
