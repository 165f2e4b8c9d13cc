"""Megatron checkpoints whose ``args`` are silent on the schedule, or at odds with the saved scheduler.

The oracle is megatron-core's own ``OptimizerParamScheduler``: a real scheduler is built and stepped the way
Megatron-LM's loop steps it (``step(increment=global_batch)`` after each update), its ``state_dict`` is
saved inside a checkpoint dict whose ``args`` lack the schedule flags, and lrplan's schedule rebuilt from
that state must give the LR the real scheduler gives at every iteration. Where args and state disagree,
the real ``load_state_dict`` decides what each resume flag does.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.checkpoints import compare, read_info, safepickle
from lrplan.checkpoints.megatron import outcomes
from lrplan.evaluate import lr
from lrplan.frameworks.base import ReadOptions

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "megatron"
LEGACY = FIX / "legacy/iter_0000010/mp_rank_00/model_optim_rng.pt"
WARMUP_DESTS = ("lr_warmup_iters", "lr_warmup_samples", "lr_warmup_fraction")


def _save(root: Path, state: dict, iteration: int) -> Path:
    """A legacy-layout Megatron checkpoint holding ``state`` (plain pickle inside a torch zip)."""
    d = root / f"iter_{iteration:07d}" / "mp_rank_00"
    d.mkdir(parents=True)
    with zipfile.ZipFile(d / "model_optim_rng.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
    (root / "latest_checkpointed_iteration.txt").write_text(str(iteration))
    return root


def _legacy(change) -> dict:
    state = safepickle.plain(safepickle.load_file(LEGACY))
    change(state)
    return state


def _expected() -> list[float]:
    exp = json.loads((FIX / "expected.json").read_text())
    return exp["lr_used"] + exp["lr_used_after_save_uninterrupted"]


def _drop(*dests):
    def change(st):
        for d in dests:
            st["args"].pop(d, None)
    return change


@pytest.mark.parametrize("dests,named", [(WARMUP_DESTS, "--lr-warmup-iters"), (("lr", "min_lr"), "--lr, --min-lr"),
                                         (("lr_decay_style",), "--lr-decay-style")])
def test_silent_args_rebuilt_from_the_saved_scheduler(tmp_path, dests, named):
    """Before: the missing warmup was taken as 0 (or the missing --lr was an error) and the stored LR
    disagreed (exit 5). The fixture was made by megatron-core 0.16.1 (make_megatron_checkpoint.py)."""
    root = _save(tmp_path, _legacy(_drop(*dests)), 10)
    info = read_info(root)
    used = _expected()
    assert_lr_close(lr(info.loaded.schedule, np.arange(len(used))), used)
    assert compare(info)["match"] is True
    assert any("rebuilt from the saved opt_param_scheduler" in n and named in n for n in info.notes)
    r = run_cli("at-step", "12", str(root), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lr"] == pytest.approx(used[12], rel=1e-12) and out["check"]["match"] is True
    r = run_cli("at-step", "12", str(root))
    assert r.returncode == 0 and "rebuilt from the saved opt_param_scheduler" in r.stderr


def test_no_args_needs_the_global_batch_size(tmp_path):
    root = _save(tmp_path, _legacy(lambda st: st.pop("args")), 10)
    r = run_cli("inspect", str(root))
    assert r.returncode == 0 and "--set global_batch_size=N" in r.stdout
    r = run_cli("at-step", "12", str(root))
    assert r.returncode == 2 and "--set global_batch_size=N" in r.stderr
    r = run_cli("at-step", "12", str(root), "--set", "global_batch_size=8", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lr"] == pytest.approx(_expected()[12], rel=1e-12) and out["check"]["match"] is True
    assert any("assumed --lr-warmup-init 0" in n for n in out["notes"])
    # a wrong batch size moves the position (80 samples = 5 iterations of 16), and the iteration says so
    r = run_cli("at-step", "12", str(root), "--set", "global_batch_size=16", "--json")
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["next_step"] == 5
    assert any("checkpoint is at iteration 10: check --set global_batch_size" in n for n in out["notes"])


def _real(**kw):
    """A real megatron-core OptimizerParamScheduler around a one-group SGD (the group keys mcore sets)."""
    require("megatron.core")
    import torch
    from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([{"params": [w], "max_lr": kw["max_lr"], "min_lr": kw["min_lr"], "wd_mult": 1.0,
                            "lr_mult": 1.0, "is_decoupled_lr": False, "default_config": True}], lr=kw["max_lr"])
    kw.setdefault("init_lr", 0.0)
    kw.setdefault("start_wd", 0.1)
    kw.setdefault("end_wd", 0.1)
    kw.setdefault("wd_incr_style", "constant")
    kw.setdefault("use_checkpoint_opt_param_scheduler", False)  # the class defaults to True; Megatron-LM passes
    # args.use_checkpoint_opt_param_scheduler, False unless the flag is given (training.py)
    return opt, OptimizerParamScheduler(opt, **kw)


def _trace(sched_kw: dict, G: int, n: int) -> list[float]:
    opt, sched = _real(**sched_kw)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        sched.step(increment=G)
    return out


CASES = {  # name -> (scheduler kwargs in samples, global batch, args the checkpoint keeps)
    "cosine": (dict(max_lr=3e-4, min_lr=3e-5, lr_warmup_steps=2000 * 16, lr_decay_steps=12_000 * 16,
                    lr_decay_style="cosine", wd_incr_steps=12_500 * 16), 16, {"global_batch_size": 16}),
    "warmup-fraction": (dict(max_lr=1e-3, min_lr=0.0, lr_warmup_steps=0.0123 * 10_000 * 32,
                             lr_decay_steps=10_000 * 32, lr_decay_style="linear", wd_incr_steps=11_000 * 32), 32,
                        {"global_batch_size": 32}),
    "wsd": (dict(max_lr=2e-4, min_lr=2e-5, lr_warmup_steps=500 * 8, lr_decay_steps=11_000 * 8, lr_decay_style="WSD",
                 wsd_decay_steps=3000 * 8, lr_wsd_decay_style="cosine", wd_incr_steps=11_000 * 8), 8,
            {"global_batch_size": 8, "lr_wsd_decay_iters": 3000, "lr_wsd_decay_style": "cosine"}),
}


@pytest.mark.framework
@pytest.mark.parametrize("name", list(CASES))
def test_rebuilt_schedule_against_megatron_core_10k(tmp_path, name):
    kw, G, kept = CASES[name]
    opt, sched = _real(**kw)
    at = 4000
    for _ in range(at):
        opt.step()
        sched.step(increment=G)
    state = {"iteration": at, "checkpoint_version": 3.0, "args": dict(kept), "opt_param_scheduler": sched.state_dict(),
             "optimizer": {"optimizer": {"param_groups": [dict(g, params=[0]) for g in opt.state_dict()["param_groups"]]}}}
    info = read_info(_save(tmp_path, state, at))
    n = 12_500
    assert info.next_step == at and compare(info)["match"] is True
    assert_lr_close(lr(info.loaded.schedule, np.arange(n)), _trace(kw, G, n))


def _disagreeing(tmp_path) -> tuple[Path, dict]:
    """The saving run kept an older scheduler: its args say a 2-iteration warmup, the state holds 4 (x 8)."""
    state = _legacy(lambda st: st["args"].update(lr_warmup_iters=2))
    return _save(tmp_path, state, 10), state


@pytest.mark.framework
def test_args_at_odds_with_the_state_follow_megatron_load_state_dict(tmp_path):
    root, state = _disagreeing(tmp_path)
    info = read_info(root)
    used = _expected()
    assert_lr_close(lr(info.loaded.schedule, np.arange(len(used))), used)  # the state is what ran
    assert compare(info)["match"] is True
    results = {o.how: o for o in outcomes(info, None, ReadOptions())}
    a = state["args"]
    cls = dict(max_lr=a["lr"], min_lr=a["min_lr"], lr_warmup_steps=a["lr_warmup_iters"] * 8,
               lr_decay_steps=a["lr_decay_iters"] * 8, lr_decay_style=a["lr_decay_style"],
               wd_incr_steps=a["train_iters"] * 8, start_wd=a["start_weight_decay"], end_wd=a["end_weight_decay"],
               wd_incr_style=a["weight_decay_incr_style"])
    _, sched = _real(**cls)
    with pytest.raises(AssertionError) as e:
        sched.load_state_dict(state["opt_param_scheduler"])
    assert results["default (no flag)"].error == f"AssertionError: {e.value}"
    for how, flag in (("--use-checkpoint-opt_param-scheduler", "use_checkpoint_opt_param_scheduler"),
                      ("--override-opt_param-scheduler", "override_opt_param_scheduler")):
        opt, sched = _real(**cls, **{flag: True})
        sched.load_state_dict(state["opt_param_scheduler"])
        assert results[how].first_lr == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12), how
    assert results["--use-checkpoint-opt_param-scheduler"].first_lr != results["--override-opt_param-scheduler"].first_lr
    r = run_cli("at-step", "10", str(root))
    assert r.returncode == 0 and "disagree" in r.stderr and "for warmup iterations do not match" in r.stdout


@pytest.mark.framework
def test_weight_decay_at_odds_follows_the_saved_state(tmp_path):
    """The args say linear 0.01 -> 0.1; the state holds constant 0.01, which --use-checkpoint keeps in force
    (after the first update after the load, which load_state_dict steps with the args' values)."""
    from lrplan.evaluate import companion_values

    state = _legacy(lambda st: st["args"].update(end_weight_decay=0.1, weight_decay_incr_style="linear"))
    info = read_info(_save(tmp_path, state, 10))
    assert any("end weight decay" in n for n in info.notes)
    a = state["args"]
    cls = {"max_lr": a["lr"], "min_lr": a["min_lr"], "lr_warmup_steps": a["lr_warmup_iters"] * 8,
           "lr_decay_steps": a["lr_decay_iters"] * 8, "lr_decay_style": a["lr_decay_style"],
           "wd_incr_steps": a["train_iters"] * 8, "start_wd": 0.01, "end_wd": 0.1, "wd_incr_style": "linear",
           "use_checkpoint_opt_param_scheduler": True}
    opt, sched = _real(**cls)
    sched.load_state_dict(state["opt_param_scheduler"])
    used = []
    for _ in range(25):
        used.append(opt.param_groups[0]["weight_decay"])
        sched.step(increment=8)
    ours = companion_values(info.loaded.schedule, "weight_decay", np.arange(10, 35))
    assert used[0] != pytest.approx(0.01)  # the quirk: the first update after the load runs at the args' value
    assert_lr_close(ours[1:], used[1:], what="weight decay")
    how = {o.how: o for o in outcomes(info, None, ReadOptions())}
    assert "first update after the load runs at it" in how["--use-checkpoint-opt_param-scheduler"].note
