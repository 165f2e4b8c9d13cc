"""Resume answers against what the real frameworks did when resumed (recorded in the fixtures' expected.json
by tests/fixtures/make_*.py, and live where megatron-core / torch are installed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.checkpoints import read_info
from lrplan.checkpoints.extend import extend
from lrplan.checkpoints.report import at_step
from lrplan.evaluate import lr, lr_at
from lrplan.frameworks.base import ReadOptions

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints"
MEGATRON = FIX / "megatron" / "legacy"

# The flags of the fixture run (make_megatron_checkpoint.py megatron_args) and the changes it resumed with.
BASE_FLAGS = {"--lr": "3e-4", "--min-lr": "3e-5", "--lr-decay-style": "cosine", "--lr-warmup-iters": "4",
              "--train-iters": "40", "--lr-decay-iters": "40", "--global-batch-size": "8", "--micro-batch-size": "2",
              "--seq-length": "16", "--weight-decay": "0.01"}
CHANGES = {"same": {}, "lr_changed": {"--lr": "1e-4"}, "longer_override": {"--train-iters": "80",
                                                                          "--lr-decay-iters": "80"}}


def report(step, path, *, opts, plan, config):
    """What `lrplan at-step STEP CKPT [--plan P] [--config C]` reports (the CLI's own glue)."""
    from lrplan.sources import load

    new = load(plan, opts=opts) if plan is not None else None
    return at_step(step, read_info(path, opts, config=config, plan=new), plan=new, opts=opts)


def _expected(name):
    return json.loads((FIX / name / "expected.json").read_text())


def _flags_file(tmp_path, changes) -> str:
    flags = dict(BASE_FLAGS, **changes)
    f = tmp_path / "new_flags.txt"
    f.write_text(" ".join(f"{k} {v}" for k, v in flags.items()) + "\n")
    return str(f)


def _outcomes(tmp_path, case):
    out = report("10", MEGATRON, opts=ReadOptions(), plan=_flags_file(tmp_path, CHANGES[case]), config=None)
    return {o["how"]: o for o in out["resume"]}, out


def test_megatron_same_flags(tmp_path):
    real = _expected("megatron")["resume"]["same"]
    got, out = _outcomes(tmp_path, "same")
    assert got["default"]["first_lr"] == pytest.approx(real["next_lrs"][0], rel=1e-12)
    assert out["plan"]["jump"] == 0


def test_megatron_changed_lr_asserts_like_megatron(tmp_path):
    real = _expected("megatron")["resume"]
    got, out = _outcomes(tmp_path, "lr_changed")
    assert got["default (no flag)"]["error"] == "AssertionError: " + real["lr_changed"]["error"]
    ov = got["--override-opt_param-scheduler"]["first_lr"]
    assert ov == pytest.approx(real["lr_changed_override"]["next_lrs"][0], rel=1e-12)
    uc = got["--use-checkpoint-opt_param-scheduler"]["first_lr"]
    assert uc == pytest.approx(real["lr_changed_use_checkpoint"]["next_lrs"][0], rel=1e-12)
    assert got["--no-load-optim / --finetune"]["first_lr"] == real["no_load_optim"]["next_lrs"][0]


def test_megatron_longer_run_with_override(tmp_path):
    real = _expected("megatron")["resume"]["longer_override"]
    got, out = _outcomes(tmp_path, "longer_override")
    assert "total number of iterations" in got["default (no flag)"]["error"]
    assert got["--override-opt_param-scheduler"]["first_lr"] == pytest.approx(real["next_lrs"][0], rel=1e-12)
    assert out["plan"]["new_end"] == 80


@pytest.mark.framework
def test_megatron_live_load_state_dict(tmp_path):
    """The real OptimizerParamScheduler, fed the fixture's saved state, under each flag combination."""
    require("megatron.core")
    import importlib.util

    spec = importlib.util.spec_from_file_location("mk", FIX.parent / "make_megatron_checkpoint.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    import torch

    state = torch.load(MEGATRON / "iter_0000010/mp_rank_00/model_optim_rng.pt", weights_only=False)
    live = mk.resume_cases(state)
    for case in ("same", "lr_changed", "longer_override"):
        got, _ = _outcomes(tmp_path, case)
        if "error" in live[case]:
            assert got["default (no flag)"]["error"] == "AssertionError: " + live[case]["error"]
        else:
            key = "default" if case == "same" else "--override-opt_param-scheduler"
            assert got[key]["first_lr"] == pytest.approx(live[case]["next_lrs"][0], rel=1e-12)


def test_deepspeed_with_and_without_optimizer_states():
    real = _expected("deepspeed")["lr_used_after_resume"]
    out = report("6", FIX / "deepspeed", opts=ReadOptions(), plan=None, config=None)
    with_opt, without = out["resume"]
    assert with_opt["first_lr"] == real["with_optimizer"][0]
    assert without["first_lr"] == real["without_optimizer"][0]
    assert out["lr"] == real["with_optimizer"][0]


def test_hf_resume_from_checkpoint():
    real = _expected("hf")["lr_used_after_resume_from_checkpoint_3"]
    out = report("4", FIX / "hf" / "checkpoint-3", opts=ReadOptions(), plan=None, config=None)
    assert out["resume"][0]["first_lr"] == real[0]
    assert out["lr"] == pytest.approx(real[1], rel=1e-12)


def test_torchtitan_resume_uses_config():
    out = report("step:6", FIX / "torchtitan", opts=ReadOptions(), plan=None,
                 config=str(FIX / "torchtitan" / "job.toml"))
    assert out["step"] == 5 and out["lr"] == pytest.approx(lr_at(read_info(
        FIX / "torchtitan", config=str(FIX / "torchtitan" / "job.toml")).loaded.schedule, 5))


@pytest.mark.framework
@pytest.mark.parametrize("name", ["CosineAnnealingLR", "SequentialLR", "StepLR"])
def test_torch_load_state_dict_resume(name):
    """torch: a fresh scheduler + load_state_dict continues exactly where lrplan says."""
    require("torch")
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("mt", FIX.parent / "make_torch_checkpoints.py")
    mt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mt)
    opt = mt._opt()
    sched = mt._schedulers(None)[name](opt)
    sched.load_state_dict(torch.load(FIX / "torch" / f"{name}.pt", weights_only=True))
    for g in opt.param_groups:
        g["lr"] = sched.get_last_lr()[0]
    used = []
    for _ in range(10_000):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    info = read_info(FIX / "torch" / f"{name}.pt")
    out = report("5", FIX / "torch" / f"{name}.pt", opts=ReadOptions(), plan=None, config=None)
    assert out["resume"][0]["first_lr"] == used[0]
    ours = lr(info.loaded.schedule, np.arange(5, 5 + len(used)))
    # CosineAnnealingLR/SequentialLR update recursively: 3e-12 measured drift over 10k steps; others 2e-15
    assert_lr_close(ours, used, rel=5e-12 if name in ("CosineAnnealingLR", "SequentialLR") else 1e-12)


# ---- extend -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{}, {"wsd": 10}, {"rewarm": 5}, {"shape": "linear"}])
def test_extend_is_continuous_and_reaches_floor(kw):
    info = read_info(MEGATRON)
    s, r = info.loaded.schedule, info.next_step
    new = extend(s, r, 80, **kw)
    before = lr(s, np.arange(r + 1))
    assert_lr_close(lr(new, np.arange(r + 1)), before)  # identical up to and including the resume step
    assert lr_at(new, 80) == pytest.approx(3e-5, rel=1e-12)  # the old floor at the new end
    values = lr(new, np.arange(r, 80))
    if "rewarm" not in kw:
        assert np.all(np.diff(values) <= 1e-18)  # never climbs again
    else:
        assert values.max() == pytest.approx(3e-4, rel=1e-12)


def test_extend_refuses_a_scaled_schedule():
    """An extension of the LR curve alone would drop the restarts' ramps (axolotl jagged_restart_steps)."""
    from lrplan.errors import InexpressibleError
    from lrplan.spec import parse_spec

    s = parse_spec("warmup=100,cosine,scale=[constant=300,linear=100(from=0.01,to=1),constant],peak=1e-3",
                   steps="1000")
    with pytest.raises(InexpressibleError, match="scale curve"):
        extend(s, 350, 2000)


def test_extend_past_the_end_of_a_finished_run():
    info = read_info(FIX / "hf" / "checkpoint-6")  # cosine to 0 finished at step 6
    new = extend(info.loaded.schedule, 6, 12, rewarm=2)
    assert lr_at(new, 6) == 0 and lr_at(new, 8) == pytest.approx(1e-3) and lr_at(new, 12) == 0


def test_resume_cli_emits_a_config(tmp_path):
    r = run_cli("resume", str(MEGATRON), "--extend-to", "80", "--wsd", "10", "--to", "json")
    assert r.returncode == 0, r.stderr
    assert "override-opt_param-scheduler" in r.stderr
    r = run_cli("resume", str(MEGATRON), "--extend-to", "5")
    assert r.returncode == 2 and "not after the resume step" in r.stderr


def test_at_step_cli_plan_and_json(tmp_path):
    r = run_cli("at-step", "20", str(MEGATRON), "--plan", _flags_file(tmp_path, CHANGES["lr_changed"]))
    assert r.returncode == 0, r.stderr
    assert "fails: AssertionError" in r.stdout and "--override-opt_param-scheduler" in r.stdout
    j = json.loads(run_cli("at-step", "20", str(MEGATRON), "--json").stdout)
    assert j["step"] == 20 and j["next_step"] == 10


@pytest.mark.framework
@pytest.mark.slow
def test_hf_resume_with_a_changed_plan_matches_the_real_trainer(tmp_path):
    """Resume the fixture's checkpoint-3 with a new learning_rate and max_steps in a real Trainer."""
    require("transformers")
    import shutil
    import subprocess
    import sys

    plan = {"learning_rate": 2e-3, "lr_scheduler_type": "cosine", "warmup_steps": 2, "max_steps": 10}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    shutil.copytree(FIX / "hf" / "checkpoint-3", tmp_path / "run" / "checkpoint-3")
    code = f"""
import json, os, sys
sys.path.insert(0, {str(FIX.parent)!r})
import make_hf_checkpoint as m
from pathlib import Path
os.chdir({str(tmp_path)!r})
used = []
t = m._trainer(Path("run"), used)
t.args.learning_rate, t.args.max_steps = {plan['learning_rate']!r}, {plan['max_steps']!r}
t.train(resume_from_checkpoint="run/checkpoint-3")
print(json.dumps(used))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env=dict(__import__("os").environ, HF_HUB_OFFLINE="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    real = json.loads(r.stdout.strip().splitlines()[-1])  # LRs of updates 3..9
    assert len(real) == 7, real
    out = report("3", FIX / "hf" / "checkpoint-3", opts=ReadOptions(), plan=str(tmp_path / "plan.json"), config=None)
    assert out["resume"][0]["first_lr"] == real[0]
    follows = [p for p in out["plan"]["curve"] if p["step"] < 10]  # updates 4..9 ran in the real trainer
    assert len(follows) >= 3
    for p in follows[1:]:
        assert p["lr"] == pytest.approx(real[p["step"] - 3], rel=1e-12, abs=1e-18), p


@pytest.mark.framework
def test_megatron_new_batch_size_continues_from_saved_samples(tmp_path):
    """Resume with a new global batch size under --override-opt_param-scheduler: the real scheduler
    continues from the saved sample count (80) and adds 16 per iteration; lrplan's resumed curve must
    match it at every remaining iteration (not restart the new config's axis at step 0)."""
    require("megatron.core")
    import torch
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    from lrplan.checkpoints.info import at
    from lrplan.sources import load

    state = torch.load(MEGATRON / "iter_0000010/mp_rank_00/model_optim_rng.pt", weights_only=False)
    w = torch.nn.Parameter(torch.zeros(4, 4))
    opt = torch.optim.SGD([{"params": [w], "max_lr": 3e-4, "min_lr": 3e-5, "wd_mult": 1.0, "lr_mult": 1.0,
                            "is_decoupled_lr": False, "default_config": True}], lr=3e-4)
    opt.load_state_dict(state["optimizer"])
    gbs = 16
    sched = OptimizerParamScheduler(
        opt, init_lr=0.0, max_lr=3e-4, min_lr=3e-5, lr_warmup_steps=4 * gbs, lr_decay_steps=40 * gbs,
        lr_decay_style="cosine", start_wd=0.01, end_wd=0.01, wd_incr_steps=40 * gbs, wd_incr_style="constant",
        use_checkpoint_opt_param_scheduler=False, override_opt_param_scheduler=True)
    sched.load_state_dict(state["opt_param_scheduler"])
    real = []
    for _ in range(30):  # iterations 11..40 of the resumed run
        real.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(increment=gbs)
    flags = _flags_file(tmp_path, {"--global-batch-size": str(gbs)})
    info = read_info(MEGATRON, ReadOptions(), config=None, plan=load(flags))
    ours = [at(load(flags), info, k) for k in range(10, 40)]
    assert_lr_close(ours, real, steps=range(10, 40))
    out = report("10", MEGATRON, opts=ReadOptions(), plan=flags, config=None)
    curve = {p["step"]: p["lr"] for p in out["plan"]["curve"]}
    assert curve[10] == pytest.approx(real[0], rel=1e-12) == out["plan"]["new_lr_at_resume"]


@pytest.mark.parametrize("extra", [[], ["--wsd", "10"]])
def test_resume_to_megatron_refuses_and_says_why(extra):
    """Megatron cannot follow an extended curve from its checkpoint (peak/floor kept from the param groups
    up to core v0.19): an explicit exit 3 with the reason, and --approx gives the nearest flags."""
    r = run_cli("resume", str(MEGATRON), "--extend-to", "80", *extra, "--to", "megatron")
    assert r.returncode == 3, r.stderr
    assert "megatron cannot express the extended run exactly" in r.stderr
    assert "--override-opt_param-scheduler" in r.stderr and "--approx" in r.stderr and "Traceback" not in r.stderr
    a = run_cli("resume", str(MEGATRON), "--extend-to", "80", *extra, "--to", "megatron", "--approx")
    assert a.returncode == 0, a.stderr
    assert "--lr-decay-style" in a.stdout and "largest difference" in a.stderr


def test_a_checkpoint_module_without_resume_rules_gives_no_outcomes(monkeypatch):
    """A framework whose checkpoint module reads but has no resume rules (yet) reports none, never a KeyError."""
    import lrplan.checkpoints.torchtitan as titan
    from lrplan.checkpoints import outcomes

    info = read_info(FIX / "torchtitan", ReadOptions(), config=str(FIX / "torchtitan" / "job.toml"))
    assert outcomes(info, None, ReadOptions())  # with its rules
    monkeypatch.delattr(titan, "outcomes")
    assert outcomes(info, None, ReadOptions()) == []


def test_the_report_is_data_and_prints_nothing(capsys):
    out = report("6", FIX / "deepspeed", opts=ReadOptions(), plan=None, config=None)
    assert out["step"] == 6 and out["resume"]
    assert capsys.readouterr() == ("", "")
