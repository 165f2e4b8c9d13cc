"""DeepSpeed dialect: differential tests against deepspeed.runtime.lr_schedules, writer, CLI, errors.

Reference values always come from stepping DeepSpeed's own classes the way its engine does
(``engine._take_model_step``: the optimizer update runs with the group's current lr, then
``lr_scheduler.step()``), never from re-typed formulas or lrplan's own output.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lrplan.convert import convert
from lrplan.errors import InexpressibleError, LrplanError
from lrplan.evaluate import companion_values, lr
from lrplan.frameworks import deepspeed as ds
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.spec import parse_spec
from conftest import assert_lr_close, require, run_cli

N = 12_000  # >= 10k steps per differential test
PEAK = 3e-4


def _quiet(ds_module) -> None:
    from deepspeed.utils import logger

    logger.setLevel(logging.ERROR)


def reference(config: dict, n: int = N, *, optimizer: str = "AdamW"):
    """LR (and beta1) used by updates 0..n-1, stepping DeepSpeed's class as its engine does."""
    torch = require("torch")
    lr_schedules = require("deepspeed.runtime.lr_schedules")
    _quiet(lr_schedules)
    param = torch.nn.Parameter(torch.zeros(2))
    opt_cls = getattr(torch.optim, optimizer)
    opt = opt_cls([param], lr=config.get("optimizer", {}).get("params", {}).get("lr", 1e-3))
    sched = getattr(lr_schedules, config["scheduler"]["type"])(opt, **config["scheduler"]["params"])
    lrs, betas = np.empty(n), np.empty(n)
    for k in range(n):
        group = opt.param_groups[0]
        lrs[k] = group["lr"]
        betas[k] = group["betas"][0] if "betas" in group else math.nan
        sched.step()
    return lrs, betas


def _ds(schedule, opts):
    return convert(schedule, "deepspeed", opts)


def cfg(kind: str, params: dict, lr_: float = PEAK) -> dict:
    return {"train_batch_size": 8, "optimizer": {"type": "AdamW", "params": {"lr": lr_}},
            "scheduler": {"type": kind, "params": params}}


# ---- differential: every class, both warmup types ------------------------------------------------

CASES = {
    "warmup-log": cfg("WarmupLR", {"warmup_min_lr": 1e-6, "warmup_max_lr": PEAK, "warmup_num_steps": 1000}),
    "warmup-linear": cfg("WarmupLR", {"warmup_min_lr": 0.0, "warmup_max_lr": PEAK, "warmup_num_steps": 777,
                                      "warmup_type": "linear"}),
    "warmup-default-max": cfg("WarmupLR", {"warmup_num_steps": 300}),
    "warmup-w1": cfg("WarmupLR", {"warmup_num_steps": 1, "warmup_type": "linear"}),
    "decay-log": cfg("WarmupDecayLR", {"total_num_steps": 10_000, "warmup_min_lr": 3e-5, "warmup_max_lr": PEAK,
                                       "warmup_num_steps": 500}),
    "decay-linear": cfg("WarmupDecayLR", {"total_num_steps": 9_000, "warmup_max_lr": PEAK, "warmup_num_steps": 2000,
                                          "warmup_type": "linear"}),
    "decay-defaults": cfg("WarmupDecayLR", {"total_num_steps": 11_000}),
    "decay-short": cfg("WarmupDecayLR", {"total_num_steps": 400, "warmup_num_steps": 400, "warmup_max_lr": PEAK}),
    "cosine-log": cfg("WarmupCosineLR", {"total_num_steps": 10_000, "warmup_num_steps": 500, "cos_min_ratio": 0.1}),
    "cosine-linear": cfg("WarmupCosineLR", {"total_num_steps": 10_000, "warmup_num_steps": 2000,
                                            "warmup_type": "linear", "warmup_min_ratio": 0.01, "cos_min_ratio": 0.0}),
    "cosine-defaults": cfg("WarmupCosineLR", {"total_num_steps": 11_500}),
    "cosine-t-le-w": cfg("WarmupCosineLR", {"total_num_steps": 50, "warmup_num_steps": 100,
                                            "warmup_type": "linear"}),
    "onecycle": cfg("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": PEAK, "cycle_first_step_size": 3000,
                                 "cycle_second_step_size": 4000, "decay_lr_rate": 0.5, "decay_step_size": 100,
                                 "decay_mom_rate": 0.001}),
    "onecycle-nodecay": cfg("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": PEAK, "cycle_first_step_size": 2500}),
    "onecycle-stairs": cfg("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": PEAK, "cycle_first_step_size": 3000,
                                        "cycle_first_stair_count": 7, "cycle_second_stair_count": 5,
                                        "decay_lr_rate": 0.1, "decay_step_size": 50}),
    "range": cfg("LRRangeTest", {"lr_range_test_min_lr": 1e-5, "lr_range_test_step_size": 100,
                                 "lr_range_test_step_rate": 0.5}),
    "range-stairs": cfg("LRRangeTest", {"lr_range_test_min_lr": 1e-5, "lr_range_test_step_size": 250,
                                        "lr_range_test_staircase": True}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reader_matches_deepspeed_every_step(name):
    config = CASES[name]
    ref_lr, ref_beta = reference(config)
    loaded = ds.from_config(copy.deepcopy(config), ReadOptions(steps=str(N)))
    steps = np.arange(N)
    assert_lr_close(lr(loaded.schedule, steps), ref_lr)
    if config["scheduler"]["type"] == "OneCycle":
        ours = companion_values(loaded.schedule, "momentum", steps)
        assert_lr_close(ours, ref_beta, rel=0.0, abs_=1e-15, what="beta1")


@pytest.mark.parametrize("n", [N, N + 100])  # a whole number of stairs, and not
def test_range_test_staircase_past_the_run_continues_like_deepspeed(n):
    """The step after the run (the table's "after the end" row) is the next stair, as DeepSpeed's own
    LRRangeTest gives if stepped once more."""
    config = CASES["range-stairs"]
    ref_lr, _ = reference(config, n + 1)
    loaded = ds.from_config(copy.deepcopy(config), ReadOptions(steps=str(n)))
    assert_lr_close(lr(loaded.schedule, np.arange(n + 1)), ref_lr)


def test_onecycle_without_betas_has_no_momentum():
    config = cfg("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": PEAK, "cycle_first_step_size": 4000})
    config["optimizer"]["type"] = "SGD"
    ref_lr, ref_beta = reference(config, optimizer="SGD")
    loaded = ds.from_config(config, ReadOptions())
    assert loaded.schedule.momentum is None and np.isnan(ref_beta).all()
    assert_lr_close(lr(loaded.schedule, np.arange(N)), ref_lr)
    assert any("no betas" in n for n in loaded.notes)


def test_auto_values_filled_from_cli_options():
    config = cfg("WarmupDecayLR", {"total_num_steps": "auto", "warmup_num_steps": "auto",
                                   "warmup_min_lr": "auto", "warmup_max_lr": "auto"})
    loaded = ds.from_config(config, ReadOptions(steps="10k", lr=PEAK, extra=(("warmup_num_steps", "500"),)))
    filled = cfg("WarmupDecayLR", {"total_num_steps": 10_000, "warmup_num_steps": 500, "warmup_min_lr": 0.0,
                                   "warmup_max_lr": PEAK})
    assert_lr_close(lr(loaded.schedule, np.arange(N)), reference(filled)[0])


# ---- conventions: step names, notes, raw ---------------------------------------------------------


def test_step_name_notes_and_raw():
    config = cfg("WarmupDecayLR", {"total_num_steps": 1000})
    loaded = ds.from_config(config, ReadOptions())
    assert loaded.step_name(0) == ("DeepSpeed runs update 0 with last_batch_iteration=-1; "
                                   "engine.global_steps is 1 after it")
    assert "warmup_max_lr defaulted to 0.001 and ignores optimizer.params.lr (WarmupDecayLR)" in loaded.notes
    assert any(n.startswith("warmup_type defaults to log") for n in loaded.notes)
    assert loaded.raw["scheduler"] == config["scheduler"]
    assert set(loaded.raw["_defaults_applied"]) == {
        "scheduler.params.warmup_min_lr", "scheduler.params.warmup_max_lr", "scheduler.params.warmup_num_steps",
        "scheduler.params.warmup_type", "scheduler.params.last_batch_iteration"}
    cosine = ds.from_config(cfg("WarmupCosineLR", {"total_num_steps": 2000}), ReadOptions())
    assert any("constructor value 0.0" in n for n in cosine.notes)


def test_no_scheduler_section_is_constant_optimizer_lr():
    loaded = ds.from_config({"optimizer": {"type": "AdamW", "params": {"lr": PEAK}}, "train_batch_size": 8},
                            ReadOptions(steps="1000"))
    assert_lr_close(lr(loaded.schedule, np.arange(1000)), np.full(1000, PEAK))
    assert any("no scheduler section" in n for n in loaded.notes)


def test_warmup_lr_default_max_is_the_optimizer_lr_note():
    loaded = ds.from_config(CASES["warmup-default-max"], ReadOptions())
    assert any(n.startswith("warmup_max_lr defaulted to optimizer.params.lr") for n in loaded.notes)


@pytest.mark.parametrize("text,score", [
    (json.dumps(cfg("WarmupLR", {})), 8),
    (json.dumps({"optimizer": {"type": "Adam"}, "train_batch_size": 8}), 6),
    (json.dumps({"lrplan_ir": 1}), 0),
    ("warmup=100,cosine", 0),
])
def test_detect(text, score):
    assert ds.FORMAT.detect(text, None) == score


# ---- errors: what DeepSpeed would reject, and what lrplan needs -------------------------------------

ERRORS = [
    ({"scheduler": {"type": "WarmupCosinLR", "params": {}}}, "unknown scheduler.type 'WarmupCosinLR'",
     "did you mean 'WarmupCosineLR'?"),
    ({"scheduler": {"type": "CosineAnnealingLR", "params": {"T_max": 10}}}, "is a torch scheduler", None),
    ({"scheduler": {"type": "WarmupLR"}}, "scheduler.params is missing", None),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_max": 1e-3}}}, "WarmupLR has no parameter 'warmup_max'",
     "did you mean 'warmup_max_lr'?"),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 0}}}, "must be a positive integer, got int 0",
     None),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10.0}}}, "must be a positive integer", None),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_max_lr": float("nan")}}}, "finite number", None),
    ({"scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": -1e-4}}}, "must be at least 0, got float -0.0001",
     None),
    ({"scheduler": {"type": "WarmupLR", "params": {"last_batch_iteration": -2}}}, "must be at least -1", None),
    ({"scheduler": {"type": "WarmupDecayLR", "params": {}}}, "WarmupDecayLR needs total_num_steps", None),
    ({"scheduler": {"type": "WarmupDecayLR", "params": {"total_num_steps": "auto"}}},
     'scheduler.params.total_num_steps is "auto" (HF Transformers fills it): pass --steps N', None),
    ({"scheduler": {"type": "WarmupCosineLR", "params": {"total_num_steps": 10}}},
     "optimizer.params.lr is not set", "pass --lr PEAK"),
    ({"optimizer": {"params": {"lr": "auto"}}, "scheduler": {"type": "WarmupCosineLR",
                                                              "params": {"total_num_steps": 10}}},
     'optimizer.params.lr is "auto"', "pass --lr PEAK"),
    ({"scheduler": {"type": "WarmupLR", "params": {"last_batch_iteration": 99}}}, "resumes a schedule", None),
]


@pytest.mark.parametrize("config,message,hint", ERRORS)
def test_bad_configs(config, message, hint):
    with pytest.raises(LrplanError) as e:
        ds.from_config(config, ReadOptions())
    assert message in e.value.message
    if hint is not None:
        assert e.value.hint == hint


def test_deepspeed_rejects_what_lrplan_rejects():
    """The reader's rejections mirror DeepSpeed's own (0.19.8): check a few against the real classes."""
    torch = require("torch")
    lr_schedules = require("deepspeed.runtime.lr_schedules")
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(ValueError):
        lr_schedules.WarmupLR(opt, warmup_num_steps=0)
    with pytest.raises(TypeError):
        lr_schedules.WarmupLR(opt, warmup_max=1e-3)
    with pytest.raises(TypeError):
        lr_schedules.WarmupDecayLR(opt)


# ---- writer ----------------------------------------------------------------------------------------

WRITE_CASES = ["warmup-log", "warmup-linear", "decay-log", "decay-linear", "cosine-log", "cosine-linear",
               "onecycle", "onecycle-stairs", "range", "range-stairs"]


def _written_config(name: str) -> tuple[dict, dict]:
    loaded = ds.from_config(copy.deepcopy(CASES[name]), ReadOptions(steps=str(N)))
    text = _ds(loaded.schedule, WriteOptions(version="0.1.0", source_label=f"{name}.json")).text
    return loaded, json.loads(text)


@pytest.mark.parametrize("name", WRITE_CASES)
def test_written_config_runs_in_deepspeed(name):
    """Emitted JSON, parsed by DeepSpeed's own DeepSpeedConfig, builds a scheduler with the same curve."""
    config_mod = require("deepspeed.runtime.config")
    loaded, emitted = _written_config(name)
    emitted["train_batch_size"] = 8  # the user's own config supplies batch sizes
    parsed = config_mod.DeepSpeedConfig(emitted)
    rebuilt = {"optimizer": {"params": parsed.optimizer_params},
               "scheduler": {"type": parsed.scheduler_name, "params": parsed.scheduler_params}}
    ref_lr, ref_beta = reference(rebuilt)
    steps = np.arange(N)
    assert_lr_close(lr(loaded.schedule, steps), ref_lr)
    if loaded.schedule.momentum is not None:
        assert_lr_close(companion_values(loaded.schedule, "momentum", steps), ref_beta, rel=0.0, abs_=1e-15,
                        what="beta1")


@pytest.mark.parametrize("name", ["warmup-log", "cosine-log", "onecycle", "range"])
def test_golden_from_deepspeed(name, golden):
    loaded = ds.from_config(copy.deepcopy(CASES[name]), ReadOptions(steps=str(N)))
    golden(f"deepspeed/{name}.json", _ds(loaded.schedule, WriteOptions(version="0.1.0",
                                                                        source_label=f"{name}.json")).text)


def test_constant_spec_is_exact_and_golden(golden):
    schedule = parse_spec("constant", steps="20000", lr=PEAK)
    written = _ds(schedule, WriteOptions(version="0.1.0", source_label="constant"))
    assert written.deviation is None
    golden("deepspeed/constant.json", written.text)
    ref_lr, _ = reference(json.loads(written.text), 20_000)
    assert_lr_close(lr(schedule, np.arange(20_000)), ref_lr)


def test_spec_warmup_cosine_is_inexpressible_as_json():
    schedule = parse_spec("warmup=2000,cosine,min=0.1", steps="100k", lr=PEAK)
    with pytest.raises(InexpressibleError) as e:
        _ds(schedule, WriteOptions(version="0.1.0", source_label="spec", variant="json"))
    assert "one-step lag" in e.value.message
    assert '"type":"WarmupCosineLR"' in e.value.message
    assert "--variant python" in e.value.hint


def test_approx_emits_nearest_with_true_deviation(golden):
    schedule = parse_spec("warmup=2000,cosine,min=0.1", steps="100k", lr=PEAK)
    written = _ds(schedule, WriteOptions(approx=True, version="0.1.0", source_label="warmup=2000,cosine,min=0.1",
                                         variant="json"))
    golden("deepspeed/warmup-cosine-approx.json", written.text)
    n = 100_010
    ref_lr, _ = reference(json.loads(written.text), n)
    diff = np.abs(lr(schedule, np.arange(n)) - ref_lr)
    size, step = written.deviation.lr.worst, written.deviation.lr.worst_step
    assert size == pytest.approx(diff.max(), rel=1e-9) and step == int(np.argmax(diff))


@pytest.mark.parametrize("spec", ["warmup=2000,cosine,min=0.1", "warmup=500,stable=5000,cosine,min=0",
                                  "warmup=500,linear,min=0.1"])
def test_python_variant_is_exact(spec, golden):
    torch = require("torch")
    schedule = parse_spec(spec, steps="12000", lr=PEAK)
    written = _ds(schedule, WriteOptions(variant="python", version="0.1.0", source_label=spec))
    if spec.startswith("warmup=2000"):
        golden("deepspeed/warmup-cosine-client.py", written.text)
    namespace: dict = {}
    exec(compile(written.text, "<emitted>", "exec"), namespace)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)  # the factory sets PEAK_LR
    sched = namespace["make_lr_scheduler"](opt)
    got = np.empty(N)
    for k in range(N):  # the engine: update with the current lr, then step the scheduler
        got[k] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert_lr_close(got, lr(schedule, np.arange(N)))


def test_writer_refuses_weight_decay_and_other_axes():
    schedule = parse_spec("warmup=100,cosine", steps="1000", lr=PEAK)
    from lrplan.ir import Curve, Level, Segment

    wd = Curve((Segment("constant", 0.0, None, Level(0.1, absolute=True)),))
    for variant in (None, "json", "python"):
        with pytest.raises(InexpressibleError, match="weight-decay"):
            _ds(schedule.with_(weight_decay=wd), WriteOptions(variant=variant))


# ---- the real engine: deepspeed.initialize on CPU, in a subprocess (it initialises torch.distributed) ----

ENGINE_SCRIPT = r"""
import json, logging, os, sys
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1], RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
import torch, deepspeed
from deepspeed.utils import logger
logger.setLevel(logging.ERROR)
jobs, out = json.load(sys.stdin), []
for job in jobs:
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    # A client torch optimizer: a JSON "optimizer" type would JIT-build FusedAdam on CPU.
    opt = torch.optim.AdamW(model.parameters(), lr=job["lr"])
    kwargs = {}
    if "client" in job:
        ns = {}
        exec(compile(job["client"], "<emitted>", "exec"), ns)
        kwargs["lr_scheduler"] = ns["make_lr_scheduler"]
    engine, *_ = deepspeed.initialize(model=model, optimizer=opt, config=job["config"], **kwargs)
    used, x = [], torch.ones(1, 2)
    for update in range(job["updates"]):
        used.append(engine.optimizer.param_groups[0]["lr"])  # what this update's optimizer.step() uses
        for _ in range(job["config"]["gradient_accumulation_steps"]):
            engine.backward(engine(x).sum())
            engine.step()
    out.append({"used": used, "global_steps": engine.global_steps})
print("RESULT " + json.dumps(out))
"""


def test_real_engine_json_and_client_scheduler(tmp_path, deepspeed_ops):
    require("deepspeed")
    import subprocess
    import sys

    updates = 300
    base = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 2}
    ds_json = cfg("WarmupCosineLR", {"total_num_steps": 250, "warmup_num_steps": 40, "warmup_type": "linear",
                                     "warmup_min_ratio": 0.1, "cos_min_ratio": 0.05})
    spec = parse_spec("warmup=40,cosine,min=0.05", steps="250", lr=PEAK)
    client = _ds(spec, WriteOptions(variant="python", version="0.1.0", source_label="spec")).text
    jobs = [{"lr": PEAK, "updates": updates, "config": dict(base, scheduler=ds_json["scheduler"])},
            {"lr": 1.0, "updates": updates, "config": dict(base), "client": client}]
    port = str(29500 + os.getpid() % 1000)
    r = subprocess.run([sys.executable, "-c", ENGINE_SCRIPT, port], input=json.dumps(jobs), capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    line = next((x for x in r.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, r.stderr[-3000:]
    from_json, from_client = json.loads(line[len("RESULT "):])
    steps = np.arange(updates)
    assert from_json["global_steps"] == updates
    ours = lr(ds.from_config(ds_json, ReadOptions()).schedule, steps)
    assert_lr_close(ours, from_json["used"])
    assert_lr_close(lr(spec, steps), from_client["used"])


# ---- hypothesis round trips: DS config -> IR -> DS config -> same curve -----------------------------

warmup_params = st.fixed_dictionaries({
    "warmup_num_steps": st.integers(1, 400),
    "warmup_type": st.sampled_from(["log", "linear"]),
})


@st.composite
def ds_configs(draw):
    kind = draw(st.sampled_from(["WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest"]))
    lr_ = draw(st.sampled_from([1e-4, 3e-4, 6e-4, 1e-3]))
    if kind in ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR"):
        p = dict(draw(warmup_params))
        if kind != "WarmupLR":
            p["total_num_steps"] = p["warmup_num_steps"] + draw(st.integers(1, 1500))
        if kind == "WarmupCosineLR":
            p["warmup_min_ratio"] = draw(st.sampled_from([0.0, 0.01, 0.1]))
            p["cos_min_ratio"] = draw(st.sampled_from([0.0, 1e-4, 0.1]))
        else:
            p["warmup_min_lr"] = draw(st.sampled_from([0.0, 1e-6, 3e-5]))
            p["warmup_max_lr"] = lr_
    elif kind == "OneCycle":
        s1 = draw(st.integers(1, 500))
        p = {"cycle_min_lr": lr_ / 10, "cycle_max_lr": lr_, "cycle_first_step_size": s1,
             "cycle_second_step_size": draw(st.integers(1, 500)),
             "decay_lr_rate": draw(st.sampled_from([0.0, 0.5])), "decay_step_size": draw(st.integers(0, 100)),
             "decay_mom_rate": draw(st.sampled_from([0.0, 0.01])),
             "cycle_first_stair_count": draw(st.sampled_from([0, 0, 3])),
             "cycle_second_stair_count": draw(st.sampled_from([None, 2]))}
    else:
        p = {"lr_range_test_min_lr": lr_ / 100, "lr_range_test_step_size": draw(st.integers(1, 300)),
             "lr_range_test_step_rate": draw(st.sampled_from([0.5, 1.0, 2.0])),
             "lr_range_test_staircase": draw(st.booleans())}
    return cfg(kind, p, lr_)


# Cases hypothesis found: a OneCycle momentum one float rounding apart (within 1e-12), and a WarmupCosineLR
# whose cosine is a single step (total_num_steps = W'+1, which total_num_steps W' also gives) - the writer
# must keep the run's own total.
ONE_CYCLE = {"cycle_min_lr": 1e-05, "cycle_max_lr": 0.0001, "cycle_first_step_size": 1,
             "cycle_second_step_size": 289, "decay_lr_rate": 0.0, "decay_step_size": 0, "decay_mom_rate": 0.0,
             "cycle_first_stair_count": 0, "cycle_second_stair_count": 2}
SHORT_COSINE = {"warmup_num_steps": 1, "warmup_type": "log", "total_num_steps": 3, "warmup_min_ratio": 0.0,
                "cos_min_ratio": 0.0}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds_configs())
@example(cfg("OneCycle", ONE_CYCLE, 1e-4))
@example(cfg("WarmupCosineLR", SHORT_COSINE, 1e-4))
def test_round_trip_through_deepspeed_json(config):
    first = ds.from_config(copy.deepcopy(config), ReadOptions(steps="3000")).schedule
    text = _ds(first, WriteOptions(version="0.1.0", source_label="hypothesis")).text
    second = ds.from_config(json.loads(text), ReadOptions(steps="3000")).schedule
    steps = np.arange(3000)
    assert_lr_close(lr(second, steps), lr(first, steps))
    if first.momentum is not None:
        assert_lr_close(companion_values(second, "momentum", steps), companion_values(first, "momentum", steps),
                        what="beta1")


# ---- CLI -------------------------------------------------------------------------------------------


def test_cli_table_matches_deepspeed(tmp_path):
    config = CASES["cosine-log"]
    path = tmp_path / "ds_config.json"
    path.write_text(json.dumps(config))
    r = run_cli("table", str(path), "--at", "0,1,2,500,10000", "--format", "json")
    assert r.returncode == 0, r.stderr
    points = json.loads(r.stdout)["points"]
    ref_lr, _ = reference(config, 10_001)
    assert [p["step"] for p in points] == [0, 1, 2, 500, 10000]
    assert_lr_close([p["lr"] for p in points], ref_lr[[0, 1, 2, 500, 10000]])
    assert "first update uses the constructor value" in r.stderr


def test_cli_convert_exit_3_then_approx(tmp_path):
    args = ("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "deepspeed",
            "--variant", "json")
    r = run_cli(*args)
    assert r.returncode == 3, r.stderr
    assert "one-step lag" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*args, "--approx")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scheduler"]["type"] == "WarmupCosineLR"
    assert "--approx: largest difference" in r.stderr


def test_cli_convert_round_trip_from_stdin():
    text = json.dumps(CASES["decay-linear"])
    r = run_cli("convert", "-", "--to", "deepspeed", input=text)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scheduler"] == {"type": "WarmupDecayLR", "params": {
        "total_num_steps": 9000, "warmup_min_lr": 0.0, "warmup_max_lr": PEAK, "warmup_num_steps": 2000,
        "warmup_type": "linear"}}


def test_cli_auto_without_steps_is_a_clear_error():
    text = json.dumps(cfg("WarmupDecayLR", {"total_num_steps": "auto"}))
    r = run_cli("table", "-", input=text)
    assert r.returncode == 2
    assert 'scheduler.params.total_num_steps is "auto"' in r.stderr and "Traceback" not in r.stderr


def test_an_explicit_default_last_batch_iteration_is_read():
    """Script-generated configs write the default "last_batch_iteration": -1; it is DeepSpeed's own default."""
    params = {"warmup_num_steps": 100, "warmup_max_lr": PEAK, "last_batch_iteration": -1}
    explicit = ds.from_config(cfg("WarmupLR", params), ReadOptions(steps="1000")).schedule
    implicit = ds.from_config(cfg("WarmupLR", {"warmup_num_steps": 100, "warmup_max_lr": PEAK}),
                              ReadOptions(steps="1000")).schedule
    assert explicit == implicit
