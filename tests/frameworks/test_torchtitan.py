"""torchtitan reader/writer, differential against torchtitan 0.3.0's own LRSchedulersContainer.

The real module ``torchtitan/components/optimizer/lr_scheduler.py`` is imported normally (with its
real dependencies tyro and spmd_types installed) and its ``Config.build`` drives a real torch
LambdaLR, stepped exactly as torchtitan's train loop does (optimizer.step(), then lr_schedulers.step()).
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_lr_close, require, run_cli
from lrplan.convert import convert
from lrplan.errors import InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.frameworks.torchtitan import from_job_config, parse_flags
from lrplan.spec import parse_spec

FMT = get("torchtitan")
PEAK = 3e-4

# (warmup_steps, decay_ratio, decay_type, min_lr_factor, training steps)
REAL_CASES = [
    (200, None, "linear", 0.0, 10_000),
    (2000, 0.2, "linear", 0.1, 12_000),
    (500, 0.2, "cosine", 0.1, 12_000),
    (1000, None, "cosine", 0.0, 10_000),
    (300, 0.25, "sqrt", 0.0, 10_001),
    (0, None, "cosine", 0.05, 10_000),
    (700, 0.9, "linear", 0.0, 10_000),  # warmup + decay > total: decay clamped to T - W
    (20_000, None, "linear", 0.0, 10_000),  # warmup > total: clamped to T
    (100, 0.0, "sqrt", 0.0, 10_000),  # no decay at all
    (10_001, None, "linear", 0.0, 10_000),  # warmup one step longer than the run: the clamp's boundary
    (100, 0.5, "cosine", 0.0, 10_003),  # T * ratio = 5001.5: torchtitan rounds (to 5002), not truncates
]


def real_torchtitan_lrs(W, ratio, dtype, factor, T, peak=PEAK):
    torch = require("torch")
    mod = require("torchtitan.components.optimizer.lr_scheduler")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=peak)  # any optimizer: torchtitan wraps each in a LambdaLR
    cfg = mod.LRSchedulersContainer.Config(warmup_steps=W, decay_ratio=ratio, decay_type=dtype,
                                           min_lr_factor=factor)
    container = cfg.build(optimizers=[opt], training_steps=T)
    out = np.empty(T)
    for k in range(T):  # torchtitan step s = k + 1 logs the LR it uses, then steps the schedulers
        out[k] = container.get_metrics()["lr/SGD"]
        opt.step()
        container.step()
    return out


def toml_text(W, ratio, dtype, factor, T, peak=PEAK) -> str:
    import tomli_w

    sched = {"warmup_steps": W, "decay_type": dtype, "min_lr_factor": factor}
    if ratio is not None:
        sched["decay_ratio"] = ratio
    return tomli_w.dumps({"optimizer": {"name": "AdamW", "lr": peak}, "lr_scheduler": sched,
                          "training": {"steps": T, "local_batch_size": 8}})


@pytest.mark.parametrize("case", REAL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_toml_reader_matches_real_torchtitan(case):
    theirs = real_torchtitan_lrs(*case)
    loaded = FMT.read(toml_text(*case), None, ReadOptions())
    assert_lr_close(lr(loaded.schedule, np.arange(case[-1])), theirs)


def test_flags_reader_matches_real_torchtitan():
    flags = ("--optimizer.lr 3e-4 --training.steps=12000 --lr_scheduler.warmup_steps 500 "
             "--lr_scheduler.decay_ratio 0.2 --lr_scheduler.decay_type cosine --lr_scheduler.min_lr_factor=0.1")
    assert FMT.detect(flags, None) >= 5
    loaded = FMT.read(flags, None, ReadOptions())
    assert_lr_close(lr(loaded.schedule, np.arange(12_000)), real_torchtitan_lrs(500, 0.2, "cosine", 0.1, 12_000))


def test_total_steps_decouples_schedule_from_run():
    torch = require("torch")
    mod = require("torchtitan.components.optimizer.lr_scheduler")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=PEAK)
    c = mod.LRSchedulersContainer.Config(warmup_steps=100, total_steps=20_000, decay_type="cosine").build(
        optimizers=[opt], training_steps=10_000)
    theirs = []
    for _ in range(10_000):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        c.step()
    cfg = {"lr_scheduler": {"warmup_steps": 100, "total_steps": 20_000, "decay_type": "cosine"},
           "optimizer": {"lr": PEAK}, "training": {"steps": 10_000}}
    assert_lr_close(lr(from_job_config(cfg).schedule, np.arange(10_000)), theirs)


def test_defaults_and_cli_fill_ins():
    loaded = FMT.read("[lr_scheduler]\nwarmup_steps = 10\n", None, ReadOptions(steps="1000", lr=1e-3))
    assert loaded.schedule.peak_lr == 1e-3 and loaded.schedule.total == 1000
    assert set(loaded.raw["_defaults_applied"]) == {"lr_scheduler.total_steps", "lr_scheduler.decay_ratio",
                                                   "lr_scheduler.decay_type", "lr_scheduler.min_lr_factor"}
    bare = FMT.read("[lr_scheduler]\n", None, ReadOptions())
    assert bare.schedule.peak_lr == 8e-4 and bare.schedule.total == 10_000  # torchtitan's own defaults
    assert loaded.step_name(0) == "torchtitan logs this LR at step 1"


def test_old_lr_min_name():
    loaded = from_job_config({"lr_scheduler": {"lr_min": 0.1, "warmup_steps": 2}, "training": {"steps": 10}})
    assert any("lr_min" in n for n in loaded.notes)
    assert lr(loaded.schedule, [10])[0] == pytest.approx(0.1 * 8e-4, rel=1e-15)


BAD = [
    ("[lr_scheduler]\ndecay_typ = 'cosine'\n", "unknown field lr_scheduler.decay_typ"),
    ("[lr_scheduler]\ndecay_type = 'cosin'\n", "decay_type must be linear, sqrt or cosine"),
    ("[lr_scheduler]\nwarmup_steps = -5\n", "lr_scheduler.warmup_steps: must be at least 0, got int -5"),
    ("[lr_scheduler]\nmin_lr_factor = nan\n", "lr_scheduler.min_lr_factor: must be a finite number, got float nan"),
    ("[lr_scheduler]\n[optimizer]\nlr = -1.0\n", "optimizer.lr: must be at least 0, got float -1.0"),
    ("[lr_scheduler]\n[training]\nsteps = 0\n", "training.steps: must be at least 1, got int 0"),
    ("[lr_scheduler]\nlr_min = 0.1\nmin_lr_factor = 0.1\n", "both lr_scheduler.lr_min and"),
    ("[lr_scheduler\n", "not valid TOML"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_configs(text, message):
    with pytest.raises(LrplanError) as e:
        FMT.read(text, None, ReadOptions())
    assert message in e.value.render()


def test_flag_parsing():
    assert parse_flags("--lr_scheduler.decay_ratio None --training.steps=5") == {
        "lr_scheduler": {"decay_ratio": None}, "training": {"steps": 5}}
    with pytest.raises(LrplanError, match="unexpected argument"):
        parse_flags("--lr_scheduler.warmup_steps 5 7")


# ---- writer --------------------------------------------------------------------------------------


def emit(schedule, **kw):
    return convert(schedule, "torchtitan", WriteOptions(source_label="test", version="0.0-test", **kw))


@pytest.mark.parametrize("case", REAL_CASES[:6], ids=lambda c: "-".join(map(str, c)))
def test_written_toml_runs_in_real_torchtitan(case):
    schedule = FMT.read(toml_text(*case), None, ReadOptions()).schedule
    cfg = tomllib.loads(emit(schedule).text)
    s = cfg["lr_scheduler"]
    theirs = real_torchtitan_lrs(s["warmup_steps"], s.get("decay_ratio"), s["decay_type"], s["min_lr_factor"],
                                 cfg["training"]["steps"], cfg["optimizer"]["lr"])
    assert_lr_close(lr(schedule, np.arange(case[-1])), theirs)


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 200_000), w=st.floats(0, 1), ratio=st.one_of(st.none(), st.floats(0, 1)),
       dtype=st.sampled_from(["linear", "sqrt", "cosine"]), factor=st.floats(0, 1),
       peak=st.floats(1e-6, 1e-1))
def test_round_trip_ir_toml_ir(T, w, ratio, dtype, factor, peak):
    cfg = {"lr_scheduler": {"warmup_steps": int(w * T), "decay_type": dtype, "min_lr_factor": factor,
                            "decay_ratio": ratio}, "optimizer": {"lr": peak}, "training": {"steps": T}}
    first = from_job_config(cfg).schedule
    second = FMT.read(emit(first).text, None, ReadOptions()).schedule
    assert second == first
    k = np.unique(np.linspace(0, T + 5, 400).astype(int))
    assert_lr_close(lr(second, k), lr(first, k))


@pytest.mark.parametrize("spec", ["cosine,min=0.1", "constant", "linear", "1-sqrt,min=0.2"])
def test_same_curve_in_another_form_is_written_exactly(spec):
    # e.g. cosine from step 0 is torchtitan's W = 0 (its step 0 is the one 'stable' step: cos(0) = 1 too)
    schedule = parse_spec(spec, steps="10k", lr=PEAK)
    w = emit(schedule)
    assert w.deviation is None and not any("approx" in n for n in w.notes)
    cfg = tomllib.loads(w.text)
    s = cfg["lr_scheduler"]
    theirs = real_torchtitan_lrs(s["warmup_steps"], s.get("decay_ratio"), s["decay_type"], s["min_lr_factor"],
                                 cfg["training"]["steps"], cfg["optimizer"]["lr"])
    assert_lr_close(lr(schedule, np.arange(10_000)), theirs)


@pytest.mark.parametrize("spec", ["warmup=2000,cosine,min=0.1", "warmup=100,exp-anneal", "warmup=500,1-sqrt",
                                  "restarts(cycle=1000)"])
def test_inexpressible(spec):
    with pytest.raises(InexpressibleError, match="torchtitan cannot express"):
        emit(parse_spec(spec, steps="10k", lr=PEAK))


def test_approx_reports_deviation():
    schedule = parse_spec("warmup=2000,cosine,min=0.1", steps="10k", lr=PEAK)
    w = emit(schedule, approx=True)
    cfg = tomllib.loads(w.text)
    assert cfg["lr_scheduler"] == {"warmup_steps": 2000, "decay_type": "cosine", "min_lr_factor": 0.1}
    nearest = from_job_config(cfg).schedule
    diff = np.abs(lr(schedule, np.arange(10_000)) - lr(nearest, np.arange(10_000)))
    assert (w.deviation.lr.worst, w.deviation.lr.worst_step) == (diff.max(), int(diff.argmax()))
    assert w.deviation.lr.worst == pytest.approx(PEAK / 2000)  # the (k+1)/W warmup vs k/W


@pytest.mark.parametrize("case", [REAL_CASES[1], REAL_CASES[3]], ids=["wsd_linear", "cosine"])
def test_golden(case, golden):
    schedule = FMT.read(toml_text(*case), None, ReadOptions()).schedule
    golden(f"torchtitan/{case[2]}_{case[1]}.toml", emit(schedule).text)


def test_cli_at_step_and_convert(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(toml_text(2, 0.8, "linear", 0.0, 10))
    r = run_cli("at-step", "3", str(job), "--json")
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout)["lr"] == pytest.approx(0.875 * PEAK, rel=1e-15)  # reference §3 table, step 4
    r = run_cli("convert", str(job), "--to", "torchtitan")
    assert r.returncode == 0, r.stderr
    # decay_ratio 0.8 of 10 steps = 8 = T - W, torchtitan's default when decay_ratio is unset
    assert tomllib.loads(r.stdout)["lr_scheduler"] == {"warmup_steps": 2, "decay_type": "linear",
                                                       "min_lr_factor": 0.0}


def test_cli_convert_spec_to_torchtitan_exit_3():
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "10k", "--lr", "3e-4", "--to", "torchtitan")
    assert r.returncode == 3 and "torchtitan cannot express" in r.stderr and "Traceback" not in r.stderr
