"""Every checkpoint format on fixtures made by the real frameworks (tests/fixtures/make_*.py).

expected.json beside each fixture holds what the real framework did (the LR every update used), recorded
when the fixture was made; lrplan's schedule recovered from the checkpoint must give the same LR at every
one of those updates. The torch schedulers are also stepped live for 10k updates where torch is installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.checkpoints import compare, load_checkpoint, looks_like_checkpoint, read_info
from lrplan.checkpoints.hf import log_history_rule
from lrplan.evaluate import lr

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints"
TITAN_TOML = str(FIX / "torchtitan" / "job.toml")


def _expected(name: str) -> dict:
    return json.loads((FIX / name / "expected.json").read_text())


def _curve(info, n: int):
    return lr(info.loaded.schedule, np.arange(n))


@pytest.mark.parametrize("layout", ["legacy", "torch_dist", "torch_dist/iter_0000010",
                                    "legacy/iter_0000010/mp_rank_00/model_optim_rng.pt"])
def test_megatron_layouts(layout):
    info = read_info(FIX / "megatron" / layout)
    exp = _expected("megatron")
    assert info.framework == "megatron"
    assert info.position["iteration"] == 10 and info.position["opt_param_scheduler.num_steps"] == 80
    assert info.next_step == 10
    used = exp["lr_used"] + exp["lr_used_after_save_uninterrupted"]
    assert_lr_close(_curve(info, len(used)), used)
    c = compare(info)
    assert c["match"] and c["stored"] == exp["lr_used_after_save_uninterrupted"][0]


def test_megatron_dcp_common_state_layout(tmp_path):
    """core >= 0.19: no common.pt; the common dict is torch.save([common]) in DCP entry common_state/shard_0_1."""
    require("torch")
    import io

    import torch
    import torch.distributed.checkpoint as dcp

    common = torch.load(FIX / "megatron/torch_dist/iter_0000010/common.pt", weights_only=False)
    buf = io.BytesIO()
    torch.save([common], buf)
    d = tmp_path / "iter_0000010"
    dcp.save({"common_state/shard_0_1": buf}, checkpoint_id=str(d), no_dist=True)  # what mcore passes DCP
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("10")
    info = read_info(tmp_path)
    assert "inside .distcp" in info.layout and info.next_step == 10 and compare(info)["match"]


def test_deepspeed():
    info = read_info(FIX / "deepspeed")
    exp = _expected("deepspeed")
    assert info.position["lr_scheduler.last_batch_iteration"] == 5 and info.position["global_steps"] == 6
    assert info.next_step == 6
    used = exp["lr_used_before_save"] + exp["lr_used_after_save_uninterrupted"]
    assert_lr_close(_curve(info, len(used)), used)
    assert compare(info)["match"]


def test_deepspeed_config_path_string(tmp_path):
    """DeepSpeed < 0.18.6 stored ds_config as the JSON path: the message says to pass --config."""
    import pickle
    import shutil
    import zipfile

    from lrplan.checkpoints import safepickle

    src = FIX / "deepspeed" / "global_step6" / "mp_rank_00_model_states.pt"
    state = safepickle.plain(safepickle.load_file(src))
    cfg = state["ds_config"]
    state = {k: v for k, v in state.items() if k not in ("module", "optimizer")}
    state["ds_config"] = "/somewhere/ds_config.json"
    d = tmp_path / "run" / "global_step6"
    d.mkdir(parents=True)
    (tmp_path / "run" / "latest").write_text("global_step6")
    with zipfile.ZipFile(d / "mp_rank_00_model_states.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
    r = run_cli("at-step", "7", str(tmp_path / "run"))
    assert r.returncode == 2 and "--config" in r.stderr, r.stderr
    (tmp_path / "ds.json").write_text(json.dumps(cfg))
    r = run_cli("at-step", "7", str(tmp_path / "run"), "--config", str(tmp_path / "ds.json"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lr"] == _expected("deepspeed")["lr_used_after_save_uninterrupted"][1]
    shutil.rmtree(d)


@pytest.mark.parametrize("which", ["hf", "hf/checkpoint-3", "hf/checkpoint-6"])
def test_hf(which):
    info = read_info(FIX / which)
    exp = _expected("hf")
    step = 3 if which.endswith("-3") else 6
    assert info.framework == "hf" and info.next_step == step and info.position["global_step"] == step
    assert_lr_close(_curve(info, 6), exp["lr_used"])
    assert compare(info)["match"]
    rule = log_history_rule(info)
    assert rule["entries"] == step and rule["match_new_rule"] == step  # transformers 5.23 logs at global_step k+1


def test_torchtitan():
    info = read_info(FIX / "torchtitan", config=TITAN_TOML)
    exp = _expected("torchtitan")
    assert info.next_step == 5 and info.position["lr_scheduler.last_epoch"] == 5
    assert_lr_close(_curve(info, 5), exp["lr_used"])
    r = run_cli("at-step", "3", str(FIX / "torchtitan"))
    assert r.returncode == 2 and "--config" in r.stderr


def test_lightning():
    info = read_info(FIX / "lightning" / "last.ckpt")
    exp = _expected("lightning")
    assert info.framework == "lightning" and info.next_step == 6
    assert_lr_close(_curve(info, 6), exp["lr_used"])
    assert compare(info)["match"]


TORCH_CLASSES = ["CosineAnnealingLR", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "PolynomialLR",
                 "ConstantLR", "SequentialLR"]


@pytest.mark.parametrize("name", TORCH_CLASSES)
def test_torch_scheduler_state_recorded(name):
    info = read_info(FIX / "torch" / f"{name}.pt")
    used = _expected("torch")["lr_used"][name]
    assert info.next_step == 5
    assert_lr_close(_curve(info, len(used)), used)
    assert compare(info)["match"]


def _maker():
    spec = importlib.util.spec_from_file_location("make_torch", FIX.parent / "make_torch_checkpoints.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.framework
@pytest.mark.parametrize("name", TORCH_CLASSES)
def test_torch_scheduler_live_10k(name):
    """Step the real torch scheduler 10k times; the schedule rebuilt from its saved state must agree."""
    require("torch")
    mod = _maker()
    opt = mod._opt()
    sched = mod._schedulers(None)[name](opt)
    used = []
    for _ in range(10_000):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    info = read_info(FIX / "torch" / f"{name}.pt")
    assert_lr_close(_curve(info, len(used)), used, rel=torch_rel(name))


def torch_rel(name: str) -> float:
    """CosineAnnealingLR (alone or in SequentialLR) updates recursively: measured drift from its closed form
    3.0e-12 / 2.7e-12 relative over 10k steps (torch 2.13); every other class stays within 2e-15."""
    return 5e-12 if name in ("CosineAnnealingLR", "SequentialLR") else 1e-12


@pytest.mark.parametrize("name", ["LambdaLR", "OneCycleLR"])
def test_torch_needs_plan(name):
    r = run_cli("at-step", "7", str(FIX / "torch" / f"{name}.pt"))
    assert r.returncode == 2 and "--plan" in r.stderr and "Traceback" not in r.stderr


def test_lambdalr_with_plan_checks_stored_lr():
    f = str(FIX / "torch" / "LambdaLR.pt")
    used = _expected("torch")["lr_used"]["LambdaLR"]
    # the fixture's lambda is min(1, (k+1)/10): the right plan is the torchtitan-style warmup (shift=1:
    # (k + 1) / 10), the wrong one the plain k/10 warmup
    good = run_cli("at-step", "8", f, "--plan", "warmup=10(shift=1),constant", "--steps", "40", "--lr", "3e-4",
                   "--json")
    bad = run_cli("at-step", "8", f, "--plan", "warmup=10,constant", "--steps", "40", "--lr", "3e-4", "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["lr"] == pytest.approx(used[8], rel=1e-12)
    assert json.loads(good.stdout)["check"]["match"] is True
    assert bad.returncode == 5, bad.stderr
    assert json.loads(bad.stdout)["check"]["match"] is False
    assert any("ahead" in c for c in json.loads(bad.stdout)["check"]["causes"])


def test_detection_and_load_checkpoint():
    assert looks_like_checkpoint(FIX / "hf") and looks_like_checkpoint(FIX / "megatron" / "legacy")
    assert not looks_like_checkpoint(FIX / "torchtitan" / "job.toml")
    ld = load_checkpoint(FIX / "deepspeed")
    assert ld.format == "deepspeed" and "next update is lrplan step 6" in ld.notes[0]


def test_plot_and_table_accept_checkpoints():
    r = run_cli("table", str(FIX / "megatron" / "legacy"), "--at", "0,4,10", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    values = [row["lr"] for row in rows["points"]]
    exp = _expected("megatron")["lr_used"]
    assert values == [exp[0], exp[4], _expected("megatron")["lr_used_after_save_uninterrupted"][0]]


def test_inspect_cli_text_and_json():
    r = run_cli("inspect", str(FIX / "hf"))
    assert r.returncode == 0, r.stderr
    assert "HF Trainer checkpoint (checkpoint-6)" in r.stdout and "logging rule transformers >= 4.51" in r.stdout
    j = json.loads(run_cli("inspect", str(FIX / "megatron" / "legacy"), "--json").stdout)
    assert j["framework"] == "megatron" and j["next_step"] == 10 and j["check"]["match"] is True
    assert j["schedule"].startswith("warmup=") and j["key_points"]


@pytest.mark.parametrize("step,expected_k", [("12", 12), ("iter:13", 12), ("update:12", 12), ("96samples", 12),
                                             ("samples:96", 12), ("1536tok", 12), ("1536 tokens", 12)])
def test_at_step_units(step, expected_k):
    r = run_cli("at-step", step, str(FIX / "megatron" / "legacy"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["step"] == expected_k
    exp = _expected("megatron")
    assert out["lr"] == pytest.approx((exp["lr_used"] + exp["lr_used_after_save_uninterrupted"])[12], rel=1e-12)


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy a torch.save file with its pickled dict changed (plain pickle inside a torch zip)."""
    import pickle
    import zipfile

    from lrplan.checkpoints import safepickle

    state = safepickle.plain(safepickle.load_file(src))
    change(state)
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))


def test_mismatch_one_step_off_is_a_warning_with_cause(tmp_path):
    f = tmp_path / "sched.pt"
    _rewrite(FIX / "torch" / "CosineAnnealingLR.pt", f, lambda st: st.update(last_epoch=6))
    r = run_cli("inspect", str(f), "--json")
    assert r.returncode == 5, r.stderr
    check = json.loads(r.stdout)["check"]
    assert check["match"] is False and any("behind" in c for c in check["causes"])
    r = run_cli("inspect", str(f))
    assert "warning: stored LR" in r.stdout and "likely:" in r.stdout


def test_megatron_double_stepped_scheduler(tmp_path):
    d = tmp_path / "iter_0000010" / "mp_rank_00"
    d.mkdir(parents=True)

    def double(st):
        st["opt_param_scheduler"]["num_steps"] = 160  # load_state_dict then step(num_steps) again

    _rewrite(MEGATRON_FILE, d / "model_optim_rng.pt", double)
    r = run_cli("inspect", str(tmp_path / "iter_0000010"), "--json")
    assert r.returncode == 5, r.stderr
    out = json.loads(r.stdout)
    assert any("double-stepped" in n for n in out["notes"])
    assert any("double-stepped" in c for c in out["check"]["causes"])


MEGATRON_FILE = FIX / "megatron/legacy/iter_0000010/mp_rank_00/model_optim_rng.pt"


def test_megatron_torch_dcp_flattened_layout(tmp_path):
    """--ckpt-format torch_dcp: DCP flattens the dict, each scheduler field is its own bytes entry."""
    require("torch")
    import torch
    import torch.distributed.checkpoint as dcp

    st = torch.load(MEGATRON_FILE, weights_only=False)
    d = tmp_path / "iter_0000010"
    dcp.save({"args": st["args"], "iteration": 10, "checkpoint_version": 3.0,
              "opt_param_scheduler": st["opt_param_scheduler"]}, checkpoint_id=str(d), no_dist=True)
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("10\n")
    info = read_info(tmp_path)
    assert info.framework == "megatron" and info.next_step == 10
    assert info.position["opt_param_scheduler.num_steps"] == 80
    exp = _expected("megatron")
    assert_lr_close(_curve(info, 10), exp["lr_used"])


def test_legacy_non_zip_torch_file(tmp_path):
    """torch.save(..., _use_new_zipfile_serialization=False): magic, protocol, sys_info, then the object."""
    require("torch")
    import torch

    st = torch.load(MEGATRON_FILE, weights_only=False)
    d = tmp_path / "iter_0000010" / "mp_rank_00"
    d.mkdir(parents=True)
    torch.save(st, d / "model_optim_rng.pt", _use_new_zipfile_serialization=False)
    info = read_info(tmp_path / "iter_0000010")
    assert info.next_step == 10 and compare(info)["match"]


def test_hf_training_args_with_enum_pickled_by_name(tmp_path, monkeypatch):
    """Python 3.12+ (and 3.11.0-2 for str enums) pickles SchedulerType.COSINE as getattr(SchedulerType,
    'COSINE'): the same checkpoint written that way reads to the same schedule, and no getattr runs."""
    import pickletools
    import shutil

    torch = require("torch")
    require("transformers")
    from transformers.trainer_utils import SchedulerType

    d = tmp_path / "checkpoint-6"
    shutil.copytree(FIX / "hf" / "checkpoint-6", d)
    args = torch.load(d / "training_args.bin", weights_only=False)
    monkeypatch.setattr(SchedulerType, "__reduce_ex__", lambda self, proto: (getattr, (type(self), self.name)))
    torch.save(args, d / "training_args.bin")
    with __import__("zipfile").ZipFile(d / "training_args.bin") as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(pkl)]
    assert ("GLOBAL", "__builtin__ getattr") in ops and ("BINUNICODE", "COSINE") in ops  # the by-name form
    info = read_info(d)
    assert info.loaded is not None
    assert_lr_close(_curve(info, 6), _expected("hf")["lr_used"])
    assert compare(info)["match"]
