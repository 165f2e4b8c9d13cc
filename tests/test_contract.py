"""The dialect contract, driven by the registry: every reader x every writer, over every preset, a
schedule of every shape, every scheduler type each reader accepts, and generated schedules.

For each pair: a schedule written in the reader's dialect is read back, converted to the writer's, and
the artefact is read back again *independently of the gate* (by the target's reader, or for code by
running the whole emitted text with the real torch / jax / optax) and compared at every step of the run.
Or the conversion exits 3 naming what the target cannot express. A new dialect gets all of this, and
the detection and JSON-shape checks below, by being registered.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_lr_close, require, run_cli
from lrplan import exact, frameworks, presets
from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.keypoints import at_step_point, total_steps
from lrplan.sources import detect, load

READERS = frameworks.readers()
WRITERS = frameworks.writers()
CODE = ("torch", "lightning", "optax")  # writers whose artefact is code (hf and deepspeed may be, too)

# One schedule of every shape and axis lrplan knows, beside the published presets.
SHAPES = [
    "warmup=100,cosine,min=0.1,total=5000,peak=3e-4",
    "warmup=100(shape=log),linear,total=3000,peak=1e-3",
    "warmup=200(shift=1,span=201),constant,1-sqrt=20%,total=10k,peak=3e-4",
    "warmup=50,constant=1000,exp-anneal=500,min=0.01,total=1550,peak=3e-4",
    "constant=100,invsqrt(timescale=100),total=4000,peak=1e-3",
    "warmup=100,poly(power=2),min=0.05,total=4000,peak=3e-4",
    "multistep(at=2000|3000,gamma=0.316),total=4000,peak=3e-4",
    "warmup=100,restarts(cycle=900,mult=2),total=6000,peak=3e-4",
    "cyclic(up=200,down=300),min=0.1,total=2000,peak=3e-4",
    "exp(rate=0.5,every=500),total=3000,peak=3e-4",
    "onecycle,total=3000,peak=3e-4",
    "warmup=100(shape=quadratic),rex,min=0.1,total=3000,peak=3e-4",
    "warmup=100,cosine,min=0.1,total=3000",  # a multiplier: no peak LR
    "axis=samples,gbs=64,warmup=6400,cosine,min=0.1,total=640000,peak=3e-4",
    "axis=samples,gbs=64,rampup=16:16:64000,warmup=6400,cosine,min=0.1,total=640000,peak=3e-4",
    "axis=tokens,gbs=32,seq=1024,warmup=1Mtok,cosine,min=0.1,total=100Mtok,peak=3e-4",
]

# Every scheduler type each reader accepts, in the reader's own words (the contract runs them all).
NATIVE = {
    "megatron": [f"--lr 3e-4 --min-lr 3e-5 --lr-decay-style {style} --lr-warmup-iters 100 --train-iters 3000"
                 + (" --lr-wsd-decay-iters 500 --lr-wsd-decay-style " + wsd if style == "WSD" else "")
                 for style, wsd in (("constant", ""), ("linear", ""), ("cosine", ""), ("inverse-square-root", ""),
                                    ("WSD", "exponential"), ("WSD", "linear"), ("WSD", "cosine"),
                                    ("WSD", "minus_sqrt"))],
    "deepspeed": [json.dumps({"optimizer": {"type": "AdamW", "params": {"lr": 3e-4}},
                              "scheduler": {"type": kind, "params": params}}) for kind, params in (
        ("WarmupLR", {"warmup_num_steps": 100, "warmup_max_lr": 3e-4}),
        ("WarmupDecayLR", {"warmup_num_steps": 100, "warmup_max_lr": 3e-4, "total_num_steps": 2000}),
        ("WarmupCosineLR", {"warmup_num_steps": 100, "total_num_steps": 2000}),
        ("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": 3e-4, "cycle_first_step_size": 300}),
        ("LRRangeTest", {"lr_range_test_min_lr": 1e-4, "lr_range_test_step_size": 200,
                         "lr_range_test_step_rate": 5, "lr_range_test_staircase": False}))],
    "hf": [json.dumps({"learning_rate": 3e-4, "lr_scheduler_type": kind, "max_steps": 100, "warmup_steps": 10,
                       **({"lr_scheduler_kwargs": kw} if kw else {})}) for kind, kw in (
        ("constant", None), ("constant_with_warmup", None), ("linear", None), ("cosine", None),
        ("cosine_with_restarts", {"num_cycles": 2}), ("polynomial", {"power": 2.0}), ("inverse_sqrt", None),
        ("cosine_with_min_lr", {"min_lr_rate": 0.1}), ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1}),
        ("warmup_stable_decay", {"num_decay_steps": 20}))],
    "torchtitan": [f"[optimizer]\nlr = 3e-4\n[lr_scheduler]\nwarmup_steps = 10\ndecay_type = \"{d}\"\n"
                   f"min_lr_factor = 0.1\ndecay_ratio = 0.3\n[training]\nsteps = 200\n"
                   for d in ("linear", "sqrt", "cosine")],
    "nemo": [f"trainer:\n  max_steps: 300\nmodel:\n  optim:\n    name: adamw\n    lr: 3.0e-4\n    sched:\n"
             f"      name: {name}\n" + "".join(f"      {k}: {v}\n" for k, v in args.items()) for name, args in (
        ("CosineAnnealing", {"warmup_steps": 20, "min_lr": 3.0e-5}),
        ("CosineAnnealing", {"warmup_steps": 20, "constant_steps": 50, "min_lr": 3.0e-5}),
        ("WarmupAnnealing", {"warmup_ratio": 0.05, "min_lr": 1.0e-5}),
        ("WarmupPolicy", {"warmup_steps": 10}),
        ("WarmupHoldPolicy", {"warmup_steps": 10, "hold_steps": 100}),
        ("SquareAnnealing", {"warmup_steps": 10}),
        ("SquareRootAnnealing", {"warmup_ratio": 0.1, "min_lr": 1.0e-5}),
        ("InverseSquareRootAnnealing", {"warmup_steps": 25, "min_lr": 1.0e-6}),
        ("PolynomialDecayAnnealing", {"warmup_steps": 10, "power": 2.0, "min_lr": 1.0e-5}),
        ("PolynomialHoldDecayAnnealing", {"warmup_ratio": 0.05, "hold_ratio": 0.45, "power": 2.0, "min_lr": 1.0e-5}),
        ("WarmupHoldAnnealLinear", {"warmup_steps": 10, "hold_steps": 150, "min_lr": 0.0}),
        ("WarmupHoldAnnealOneMinusSquareRoot", {"warmup_steps": 10, "hold_steps": 150, "min_lr": 1.0e-5}),
        ("NoamAnnealing", {"d_model": 256, "warmup_steps": 40, "min_lr": 1.0e-6}),
        ("NoamHoldAnnealing", {"warmup_steps": 20, "hold_steps": 50, "decay_rate": 1.0, "min_lr": 1.0e-5}),
        ("T5InverseSquareRootAnnealing", {"constant_steps": 40}),
        ("StepLR", {"step_size": 50, "gamma": 0.5}))]
    + ["import nemo_run as run\nfrom nemo.lightning.pytorch.optim import " + cls + "\n\nrecipe.trainer.max_steps = 300\n"
       "recipe.optim.config.lr = 3e-4\nrecipe.optim.lr_scheduler = run.Config(" + cls + ", " + args + ")\n"
       for cls, args in (("CosineAnnealingScheduler", "warmup_steps=20, constant_steps=0, min_lr=3e-5"),
                         ("CosineAnnealingScheduler", "warmup_steps=20, constant_steps=50, min_lr=3e-5"),
                         ("WarmupHoldAnnealScheduler", "warmup_ratio=0.05, hold_ratio=0.45, min_lr=1e-5"))],
    "torchtune": ["optimizer:\n  _component_: torch.optim.AdamW\n  lr: 3.0e-4\nlr_scheduler:\n"
                  "  _component_: torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup\n"
                  f"  num_warmup_steps: {w}\n" + (f"  num_cycles: {c}\n" if c else "")
                  + "epochs: 2\nmax_steps_per_epoch: 150\ngradient_accumulation_steps: 4\n"
                  for w, c in ((20, None), (0, None), (10, 1.5))]
                 + ["optimizer:\n  _component_: torch.optim.AdamW\n  lr: 3.0e-4\nepochs: 1\nmax_steps_per_epoch: 300\n"],
    "axolotl": ["base_model: x\nmicro_batch_size: 2\ngradient_accumulation_steps: 4\nlearning_rate: 3.0e-4\n"
                "max_steps: 300\n" + "".join(f"{k}: {v}\n" for k, v in keys.items()) for keys in (
        {"lr_scheduler": "cosine", "warmup_ratio": 0.1},
        {"lr_scheduler": "cosine"},
        {"lr_scheduler": "linear", "warmup_steps": 20},
        {"lr_scheduler": "constant_with_warmup", "warmup_steps": 10},
        {"lr_scheduler": "cosine", "warmup_steps": 20, "cosine_min_lr_ratio": 0.1},
        {"lr_scheduler": "cosine", "warmup_steps": 20, "cosine_min_lr_ratio": 0.1, "cosine_constant_lr_ratio": 0.8},
        {"lr_scheduler": "one_cycle", "warmup_ratio": 0.3},
        {"lr_scheduler": "warmup_stable_decay", "warmup_steps": 20, "lr_scheduler_kwargs": "{num_decay_steps: 60}"},
        {"lr_scheduler": "rex", "warmup_steps": 20, "cosine_min_lr_ratio": 0.05},
        {"lr_scheduler": "rex", "warmup_ratio": 0.1},
        {"lr_scheduler": "cosine", "warmup_steps": 30, "lr_quadratic_warmup": "true"},
        {"lr_scheduler": "cosine", "warmup_steps": 20, "jagged_restart_steps": 100, "jagged_restart_anneal_steps": 5},
        {"lr_scheduler": "rex", "warmup_steps": 20, "cosine_min_lr_ratio": 0.1, "jagged_restart_steps": 70})],
    "composer": [f"max_duration: 300ba\noptimizer:\n  name: decoupled_adamw\n  lr: 3.0e-4\nscheduler:\n  name: {name}\n"
                 + "".join(f"  {k}: {v}\n" for k, v in args.items()) for name, args in (
        ("cosine_with_warmup", {"t_warmup": "20ba", "alpha_f": 0.1}),
        ("linear_decay_with_warmup", {"t_warmup": "0.1dur", "alpha_f": 0.0}),
        ("constant_with_warmup", {"t_warmup": "10ba"}),
        ("inv_sqrt_with_warmup", {"t_warmup": "20ba", "t_scale": "40ba", "t_cooldown": "60ba"}))]
    + [f"max_duration: 300ba\noptimizers:\n  decoupled_adamw:\n    lr: 3.0e-4\nschedulers:\n- {name}:\n"
       + "".join(f"    {k}: {v}\n" for k, v in args.items()) for name, args in (
        ("cosine_decay_with_warmup", {"t_warmup": "20ba", "alpha_f": 0.1}),
        ("polynomial_with_warmup", {"t_warmup": "20ba", "power": 2.0}),
        ("multistep_with_warmup", {"t_warmup": "10ba", "milestones": "[100ba, 200ba]", "gamma": 0.3}),
        ("cosine_decay", {"alpha_f": 0.05}), ("linear_decay", {"alpha_f": 0.1}), ("polynomial", {"power": 0.5}),
        ("multistep", {"milestones": "[100ba, 200ba]"}), ("step", {"step_size": "50ba", "gamma": 0.5}),
        ("exponential", {"gamma": 0.99, "decay_period": "10ba"}), ("constant", {"alpha": 0.5, "t_max": "100ba"}),
        ("cosine_warmrestart", {"t_0": "50ba", "t_mult": 2.0}))],
    "olmo-core": [json.dumps({"train_module": {"optim": {"lr": 3e-4}, "scheduler": {
        "lr_field": "lr", "initial_lr_field": "initial_lr", "units": "steps", **kw,
        "_CLASS_": f"olmo_core.optim.scheduler.{cls}", "type": name}},
        "trainer": {"max_duration": {"value": 300, "unit": "steps"}}}) for name, cls, kw in (
        ("cos_with_warmup", "CosWithWarmup", {"warmup": 20, "alpha_f": 0.1}),
        ("linear_with_warmup", "LinearWithWarmup", {"alpha_f": 0.0, "warmup_fraction": 0.05}),
        ("half_cos_with_warmup", "HalfCosWithWarmup", {"warmup": 30, "alpha_f": 0.1}),
        ("cos_with_warmup_and_linear_decay", "CosWithWarmupAndLinearDecay", {"warmup": 20, "decay_fraction": 0.2}),
        ("inv_sqrt_with_warmup", "InvSqrtWithWarmup", {"warmup": 25, "alpha_f": 0.0}),
        ("wsd", "WSD", {"warmup": 20, "decay": 60, "decay_fraction": None}),
        ("constant_with_warmup", "ConstantWithWarmup", {"warmup": 10}),
        ("constant", "ConstantScheduler", {}),
        ("sequential", "SequentialScheduler", {"schedulers": [{"type": "constant_with_warmup", "warmup": 10},
                                                              {"type": "linear_with_warmup", "warmup": 0}],
                                               "schedulers_max": [150]}),
        ("wsds", "WSDS", {"period_lengths": [150, 150], "warmup": 10, "decay_fraction": 0.1}))],
    # timm args.yaml (train.py's argparse dests; updates_per_epoch is lrplan's key for the loader length)
    "timm": ["sched: {}\nlr: 0.1\nepochs: {}\nwarmup_epochs: {}\nupdates_per_epoch: {}\n".format(*a) + extra
             for a, extra in (
        (("cosine", 30, 3, 10), "min_lr: 1.0e-5\n"), (("step", 30, 0, 10), "decay_epochs: 2.4\ndecay_rate: 0.9\n"),
        (("multistep", 30, 2, 10), "decay_milestones: [10, 20]\n"),
        (("cosine", 30, 3, 10), "sched_on_updates: true\nwarmup_prefix: true\n"),
        (("tanh", 30, 3, 10), "warmup_prefix: true\nmin_lr: 1.0e-4\n"), (("poly", 30, 0, 10), "decay_rate: 2.0\n"),
        (("constant", 30, 2, 10), ""), (("none", 30, 0, 10), ""),
        (("step", 30, 1, 10), "sched_on_updates: true\ndecay_epochs: 2.5\ndecay_rate: 0.5\n"))],
}


def _spec(text: str):
    from lrplan.spec import parse_spec

    return parse_spec(text)


LONG = 200_000  # presets longer than this run through every writer from the spec only (time)


def _sources(reader: str = "spec"):
    out = [(name, load(name).schedule) for name in presets.all_presets()]
    if reader != "spec":
        out = [(name, s) for name, s in out if (total_steps(s) or 0) <= LONG]
    return out + [(text, _spec(text)) for text in SHAPES]


@functools.lru_cache(maxsize=None)
def inputs(reader: str) -> tuple[tuple[str, str], ...]:
    """Texts in the reader's dialect: every source it can express exactly, and its native configs."""
    out = [(f"native {i}", t) for i, t in enumerate(NATIVE.get(reader, []))]
    for label, schedule in _sources(reader):
        try:
            opts = WriteOptions(source_label=label, variant=_text_variant(reader))
            out.append((label, convert(schedule, reader, opts).text))
        except LrplanError:  # inexpressible in this dialect, or a fact it needs (HF's learning_rate)
            continue
    return tuple(out)


def read(reader: str, text: str):
    return frameworks.get(reader).read(text, None, ReadOptions())


def _code_lr_at(text: str, writer: str):
    """Run the whole emitted text with the real framework and return its LR of update k."""
    if writer == "optax" or "import optax" in text:
        require("jax")
        require("optax")
        ns: dict = {}
        exec(compile(text, "<emitted>", "exec"), ns)
        fn = ns["schedule"]

        def vector(k):
            return np.asarray(fn(np.asarray(k, dtype=np.float64)), dtype=float)

        vector.vectorised = True
        return vector
    torch = require("torch")
    ns = {"optimizer": torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)}
    exec(compile(text, "<emitted>", "exec"), ns)
    if "lr_at" in ns:
        return ns["lr_at"]
    # a torch built-in class (OneCycleLR): stepped for real, as a training loop does, for its whole run
    sched, opt = ns["scheduler"], ns["optimizer"]
    lrs, moms = [], []
    for k in range(sched.total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        if k < sched.total_steps - 1:
            sched.step()

    def lr_at(k):  # past its run OneCycleLR cannot step: its last value
        return lrs[min(int(k), len(lrs) - 1)]

    lr_at.momentum = moms  # OneCycleLR cycles the momentum too: checked against lrplan's curve
    return lr_at


def readback(writer: str, text: str, source):
    """The artefact's curve, read without the gate: the target's reader, or its code run for real."""
    fmt = frameworks.get(writer)
    is_code = writer in CODE or (writer in ("hf", "deepspeed") and text.lstrip().startswith("#")
                                 and "import torch" in text)
    if is_code:
        return _code_lr_at(text, writer), True
    back = fmt.read(text, None, ReadOptions(lr=source.peak)).schedule
    if back.total is None and source.total is not None and writer == "deepspeed":
        back = back.with_(total=float(total_steps(source)))  # WarmupLR leaves the run length to the user
    return back, False


def check_pair(reader: str, writer: str, label: str, text: str) -> str:
    """'exact', 'refused' or 'refused-companions' (the target has no weight-decay / momentum / group
    curves) for one input; fails the test otherwise."""
    ld = read(reader, text)
    try:
        written = convert(ld.schedule, writer, WriteOptions(source_label=label))
    except InexpressibleError as e:
        assert e.exit_code == ExitCode.INEXPRESSIBLE and e.message.strip(), (reader, writer, label)
        s = ld.schedule
        return "refused-companions" if (s.weight_decay or s.momentum or s.groups) else "refused"
    except LrplanError as e:  # a fact the target needs and the source lacks (HF's learning_rate, a run length)
        assert e.exit_code == ExitCode.USAGE and e.hint, (reader, writer, label, e.message)
        assert ld.schedule.peak_lr is None or ld.schedule.total is None, (reader, writer, label, e.message)
        return "needs a fact"
    back, is_code = readback(writer, written.text, ld.schedule)
    momentum = getattr(back, "momentum", None) if callable(back) else None  # a stepped OneCycleLR
    curves = ("lr",) if momentum is not None else None
    cmp = exact.compare(ld.schedule, back, probe=is_code, curves=curves)  # code: the gate ran every step
    assert cmp.exact, f"{reader} -> {writer}, {label}: {cmp.describe('lrplan', writer)}"
    if momentum is not None:
        from lrplan.evaluate import companion_values

        assert_lr_close(np.asarray(momentum), companion_values(ld.schedule, "momentum", np.arange(len(momentum))),
                        what=f"{reader} -> {writer}, {label}: momentum")
    return "exact"


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_to_every_writer(reader, writer):
    results = [check_pair(reader, writer, label, text) for label, text in inputs(reader)]
    assert results, f"no input could be written in the {reader} dialect"
    if writer in ("spec", "json", "torch", "lightning", "optax"):  # exact for every schedule lrplan has
        assert "refused" not in results, f"{reader} -> {writer} refused an input"


def test_every_reader_has_inputs_beyond_its_native_types():
    for reader in READERS:
        assert len(inputs(reader)) >= max(len(NATIVE.get(reader, [])), 1), reader


@pytest.mark.parametrize("writer", [w for w in WRITERS if frameworks.get(w).read is not None])
def test_emitted_text_is_detected_as_its_dialect(writer):
    """What a writer emits is read back as that dialect without --from (detection of every registered format)."""
    seen = 0
    native = [(label, read(writer, text).schedule) for label, text in inputs(writer) if label.startswith("native")]
    for label, schedule in native + _sources():
        try:
            text = convert(schedule, writer, WriteOptions(source_label=label, variant=_text_variant(writer))).text
        except LrplanError:
            continue
        assert detect(text, None) == writer, (writer, label)
        seen += 1
    assert seen > 0


def _text_variant(writer: str):
    return {"hf": "yaml", "deepspeed": "json"}.get(writer)


@pytest.mark.parametrize("reader", READERS)
def test_json_shapes_of_every_reader(reader, tmp_path):
    """`table --format json` and `at-step --json` keep their stable shape for a source in every dialect."""
    label, text = inputs(reader)[0]
    path = tmp_path / ("source" + frameworks.get(reader).suffix)
    path.write_text(text)
    r = run_cli("table", str(path), "--from", reader, "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["format"] == reader and doc["points"] and all({"step", "lr"} <= set(p) for p in doc["points"])
    r = run_cli("at-step", "1", str(path), "--from", reader, "--json")
    assert r.returncode == 0, r.stderr
    point = json.loads(r.stdout)
    assert point["step"] == 1 and point["lr"] == at_step_point(read(reader, text), "1")["lr"]


def test_the_silently_different_conversion_is_refused(tmp_path):
    """DeepSpeed's own LR-range-test tutorial config (min 1e-4, step size 200, rate 5, no staircase) has no
    torchtitan equivalent: it exits 3 with the reason, where `steps = 1` and a different curve were once printed."""
    config = {"optimizer": {"type": "Adam", "params": {"lr": 1e-4}},
              "scheduler": {"type": "LRRangeTest", "params": {"lr_range_test_min_lr": 1e-4,
                                                              "lr_range_test_step_size": 200,
                                                              "lr_range_test_step_rate": 5,
                                                              "lr_range_test_staircase": False}}}
    path = tmp_path / "ds_range_test.json"
    path.write_text(json.dumps(config))
    for steps in ((), ("--steps", "5000")):
        r = run_cli("convert", str(path), "--to", "torchtitan", *steps)
        assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "", r.stderr
        assert "error: torchtitan" in r.stderr and "Traceback" not in r.stderr


GENERATED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def practitioner_specs(draw):
    """Schedules as people write them: a warmup, maybe a stable phase, a decay, a floor, a run length."""
    total = draw(st.integers(200, 50_000))
    shape = draw(st.sampled_from(["linear", "log", "cosine", "1-sqrt"]))
    warm = draw(st.integers(0, total // 10).filter(lambda w: w != 1 or shape != "log"))  # log(1) = 0: ir refuses it
    decay = draw(st.sampled_from(["cosine", "linear", "1-sqrt", "poly(power=2)", "exp-anneal", "constant"]))
    stable = draw(st.sampled_from([0, 0, total // 5]))
    floor = draw(st.sampled_from([0.0, 0.1, 0.01]))
    peak = draw(st.sampled_from(["3e-4", "1e-3", None]))
    parts = ([f"warmup={warm}(shape={shape})"] if warm else []) + ([f"constant={stable}"] if stable else [])
    parts += [decay, f"min={floor:g}", f"total={total}"] + ([f"peak={peak}"] if peak else [])
    return ",".join(parts)


@GENERATED
@given(spec=practitioner_specs(), writer=st.sampled_from(WRITERS))
def test_generated_schedules_convert_exactly_or_are_refused(spec, writer):
    check_pair("spec", writer, spec, spec)
