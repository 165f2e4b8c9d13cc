"""Megatron-LM dialect: differential tests against the real megatron-core scheduler, reader and writer
tables, golden files, hypothesis round trips and CLI transcripts.

The reference side uses the REAL ``megatron.core.optimizer_param_scheduler.OptimizerParamScheduler`` and
``megatron.core.num_microbatches_calculator`` (megatron-core 0.16.1) around a plain torch optimizer.
Flags are parsed for it by a plain ``argparse`` parser declared like Megatron-LM's (arguments.py,
core_v0.17.1; independent of lrplan's reader) and turned into constructor values the way
``get_optimizer_param_scheduler`` (megatron/training/training.py, core_v0.9 .. v0.17) does; the scheduler is
stepped by the running global batch after every update, as ``train_step`` does.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shlex

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lrplan.convert import convert
from lrplan.errors import InexpressibleError, LrplanError
from lrplan.evaluate import companion_values, lr
from lrplan.frameworks import megatron
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.spec import parse_spec
from conftest import assert_lr_close, require, run_cli

# ---- the reference: real megatron-core, stepped like Megatron-LM ---------------------------------


def megatron_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False)
    f = p.add_argument
    f("--lr", type=float)
    f("--min-lr", type=float, default=0.0)
    f("--lr-decay-style", default="linear", choices=["constant", "linear", "cosine", "inverse-square-root", "WSD"])
    f("--lr-wsd-decay-style", default="exponential", choices=["exponential", "linear", "cosine", "minus_sqrt"])
    for name in ("--lr-decay-iters", "--lr-decay-samples", "--lr-wsd-decay-iters", "--lr-wsd-decay-samples",
                 "--train-iters", "--train-samples", "--global-batch-size", "--micro-batch-size", "--seq-length"):
        f(name, type=int)
    f("--lr-warmup-fraction", type=float)
    f("--lr-warmup-iters", type=int, default=0)
    f("--lr-warmup-samples", type=int, default=0)
    f("--lr-warmup-init", type=float, default=0.0)
    f("--decoupled-lr", type=float)
    f("--decoupled-min-lr", type=float)
    f("--weight-decay", type=float, default=0.01)
    f("--start-weight-decay", type=float)
    f("--end-weight-decay", type=float)
    f("--weight-decay-incr-style", default="constant", choices=["constant", "linear", "cosine"])
    f("--rampup-batch-size", nargs=3, type=int)
    f("--step-batch-size-schedule", type=str)
    return p


def constructor_values(args) -> dict:
    """OptimizerParamScheduler kwargs, as get_optimizer_param_scheduler builds them."""
    G = args.global_batch_size
    if args.train_iters:
        decay_iters = args.lr_decay_iters if args.lr_decay_iters is not None else args.train_iters
        D = decay_iters * G
        N_wd = args.train_iters * G
        S = None if args.lr_wsd_decay_iters is None else args.lr_wsd_decay_iters * G
        W = args.lr_warmup_fraction * D if args.lr_warmup_fraction is not None else args.lr_warmup_iters * G
    else:
        D = args.lr_decay_samples if args.lr_decay_samples is not None else args.train_samples
        N_wd = args.train_samples
        S = args.lr_wsd_decay_samples
        W = args.lr_warmup_fraction * D if args.lr_warmup_fraction is not None else args.lr_warmup_samples
    if args.weight_decay_incr_style == "constant":  # validate_args
        start_wd = end_wd = args.weight_decay
    else:
        start_wd, end_wd = args.start_weight_decay, args.end_weight_decay
    return dict(init_lr=args.lr_warmup_init, max_lr=args.lr, min_lr=args.min_lr, lr_warmup_steps=W,
                lr_decay_steps=D, lr_decay_style=args.lr_decay_style, start_wd=start_wd, end_wd=end_wd,
                wd_incr_steps=N_wd, wd_incr_style=args.weight_decay_incr_style,
                use_checkpoint_opt_param_scheduler=False, override_opt_param_scheduler=False,
                wsd_decay_steps=S, lr_wsd_decay_style=args.lr_wsd_decay_style)


def batch_calculator(nmc, args, ramp: bool = True):
    """A megatron.core num-microbatches calculator for the flags (mbs = 1, DP = 1). ``ramp=False``: the
    Megatron-LM 0.18+ rule, which builds no ramp-up calculator whatever --rampup-batch-size says
    (init_num_microbatches_calculator, core_v0.18.0 .. v0.19.0)."""
    if args.step_batch_size_schedule is not None:
        cls = getattr(nmc, "StepBatchsizeNumMicroBatchesCalculator", None)
        if cls is not None:  # Megatron-LM v0.18+
            return cls(1, 1, False, 0, args.step_batch_size_schedule, args.seq_length)
        return _StepFallback(args.step_batch_size_schedule, args.seq_length)
    if args.rampup_batch_size is not None and ramp:
        start, incr, samples = args.rampup_batch_size
        return nmc.RampupBatchsizeNumMicroBatchesCalculator(args.global_batch_size, 1, 1, False, 0, start, incr,
                                                            samples)
    return nmc.ConstantNumMicroBatchesCalculator(args.global_batch_size, 1, 1, False, 0)


class _StepFallback:
    """megatron-core 0.16.1 predates StepBatchsizeNumMicroBatchesCalculator (Megatron-LM main,
    megatron/core/num_microbatches_calculator.py): the documented rule "size of the last threshold <=
    consumed samples, thresholds in tokens // seq_length", used only when the real class is absent."""

    def __init__(self, text: str, seq_length: int | None) -> None:
        mult = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
        entries = []
        for item in text.replace(",", " ").split():
            thr, bs = item.split(":")
            m = mult.get(thr[-1].upper(), 1)
            t = int(float(thr[:-1] if m != 1 else thr) * m)
            entries.append((t // seq_length if seq_length else t, int(bs)))
        self.entries = sorted(entries)
        self.size = self.entries[0][1]

    def update(self, consumed, consistency_check):
        self.size = [bs for thr, bs in self.entries if thr <= consumed][-1]

    def get_current_global_batch_size(self):
        return self.size


def run(flags: str, iterations: int, sched_mod, nmc, torch, ramp: bool = True):
    """Per-update (lr, wd, embedding lr) lists from the real scheduler, for ``iterations`` updates."""
    args = megatron_argparser().parse_known_args(shlex.split(flags))[0]
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "max_lr": args.lr, "min_lr": args.min_lr,
               "wd_mult": 1.0}]
    if args.decoupled_lr is not None:  # megatron/core/optimizer/__init__.py (0.16.1) decoupled override
        g = {"params": [torch.nn.Parameter(torch.zeros(1))], "max_lr": args.decoupled_lr, "wd_mult": 1.0}
        g["min_lr"] = args.decoupled_min_lr if args.decoupled_min_lr is not None else args.min_lr
        groups.append(g)
    opt = torch.optim.SGD(groups, lr=args.lr)
    sched = sched_mod.OptimizerParamScheduler(opt, **constructor_values(args))
    calc = batch_calculator(nmc, args, ramp)
    consumed = 0
    lrs, wds, emb = [], [], []
    for _ in range(iterations):
        lrs.append(opt.param_groups[0]["lr"])
        wds.append(opt.param_groups[0]["weight_decay"])
        emb.append(opt.param_groups[-1]["lr"])
        calc.update(consumed, False)  # update_num_microbatches at the start of the iteration
        gbs = calc.get_current_global_batch_size()
        consumed += gbs
        sched.step(increment=gbs)  # train_step: after a successful optimizer.step()
    return lrs, wds, emb


@pytest.fixture(scope="module")
def mcore():
    """Import megatron.core once per module (about 3 s)."""
    torch = require("torch")
    sched_mod = require("megatron.core.optimizer_param_scheduler")
    nmc = require("megatron.core.num_microbatches_calculator")
    return sched_mod, nmc, torch


def reference(mcore, flags: str, iterations: int, ramp: bool = True):
    return run(flags, iterations, *mcore, ramp=ramp)


def installed_version() -> str:
    """The megatron-core the differential tests run (its releases share Megatron-LM's core_vX.Y numbers)."""
    from importlib.metadata import version

    return version("megatron-core")


# ---- differential table: flag strings covering every style and counting mode ---------------------
LR = "--lr 3e-4 "
IT8 = " --global-batch-size 8 --micro-batch-size 1"
CASES = {
    "cosine": LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 100 --train-iters 12000" + IT8,
    "linear-to-zero": LR + "--lr-decay-style linear --lr-warmup-iters 500 --train-iters 12000 --global-batch-size 16",
    "default-style": LR + "--lr-warmup-iters 50 --train-iters 10000 --global-batch-size 3",
    "constant": LR + "--min-lr 1e-5 --lr-decay-style constant --lr-warmup-iters 300 --train-iters 11000"
                     " --global-batch-size 4",
    "constant-no-warmup": LR + "--lr-decay-style constant --train-iters 10000" + IT8,
    "fraction-of-decay": "--lr 2e-4 --min-lr 2e-5 --lr-decay-style cosine --lr-warmup-fraction 0.013"
                         " --lr-decay-iters 9000 --train-iters 12000 --global-batch-size 12",
    "warmup-init": LR + "--lr-warmup-init 1e-5 --min-lr 3e-5 --lr-decay-style linear --lr-warmup-iters 200"
                        " --train-iters 10500 --global-batch-size 32",
    "invsqrt-no-warmup": LR + "--min-lr 1e-5 --lr-decay-style inverse-square-root --lr-decay-iters 8000"
                              " --train-iters 10500" + IT8,
    "invsqrt-warmup": LR + "--min-lr 2e-5 --lr-decay-style inverse-square-root --lr-warmup-iters 400"
                           " --lr-decay-iters 9000 --train-iters 10500" + IT8,
    "decay-shorter-than-train": LR + "--min-lr 3e-5 --lr-decay-style linear --lr-warmup-iters 100"
                                     " --lr-decay-iters 6000 --train-iters 10000" + IT8,
    "wsd-overlap-warmup": LR + "--min-lr 3e-6 --lr-decay-style WSD --lr-wsd-decay-style cosine"
                               " --lr-wsd-decay-iters 9800 --lr-warmup-iters 400 --train-iters 10000"
                               " --global-batch-size 4",
    "wsd-fraction-overlap": LR + "--lr-decay-style WSD --lr-wsd-decay-style linear --lr-wsd-decay-iters 9990"
                                 " --lr-warmup-fraction 0.0123 --train-iters 10000 --global-batch-size 5",
    "wsd-zero-window": LR + "--min-lr 3e-5 --lr-decay-style WSD --lr-wsd-decay-iters 0 --lr-warmup-iters 100"
                            " --lr-decay-iters 8000 --train-iters 10000" + IT8,
    "samples-cosine": LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-samples 1000"
                           " --lr-decay-samples 90000 --train-samples 100003" + IT8,
    "samples-fraction": LR + "--lr-decay-style linear --lr-warmup-fraction 0.01 --train-samples 123457"
                             " --global-batch-size 10",
    "samples-invsqrt": LR + "--min-lr 1e-6 --lr-decay-style inverse-square-root --train-samples 90000"
                            " --global-batch-size 7",
    "rampup": LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-samples 5000 --train-samples 400000"
                   " --global-batch-size 32 --rampup-batch-size 8 8 60000",
    "rampup-uneven": LR + "--lr-decay-style WSD --lr-wsd-decay-samples 50000 --lr-warmup-samples 3001"
                          " --train-samples 300000 --global-batch-size 24 --rampup-batch-size 6 3 70001",
    # consumed samples reach the ramp-up length exactly (1856 = 8+16+...+56 + ...): megatron-core keeps the
    # ramp size there (consumed > R is the test), a '>=' would jump to 64 one iteration early
    "rampup-boundary": LR + "--lr-decay-style cosine --lr-warmup-samples 1000 --train-samples 400000"
                            " --global-batch-size 64 --rampup-batch-size 8 8 1856",
    "step-batch-schedule": LR + "--lr-decay-style cosine --lr-warmup-samples 2000 --train-samples 500000"
                                " --step-batch-size-schedule '0:8 100K:16 1M:32' --seq-length 64",
    "wd-cosine-decoupled": LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 100 --train-iters 10000"
                                " --weight-decay-incr-style cosine --start-weight-decay 0.01 --end-weight-decay 0.1"
                                " --decoupled-lr 1e-3 --decoupled-min-lr 1e-5" + IT8,
    "wd-linear-decoupled-default-min": LR + "--min-lr 3e-5 --lr-decay-style WSD --lr-wsd-decay-iters 2000"
                                            " --lr-warmup-iters 100 --train-iters 10000 --weight-decay-incr-style"
                                            " linear --start-weight-decay 0.0 --end-weight-decay 0.05"
                                            " --decoupled-lr 2e-4" + IT8,
    "wd-constant": LR + "--lr-decay-style cosine --lr-warmup-iters 10 --train-iters 10000 --weight-decay 0.1" + IT8,
}
for _style in ("exponential", "linear", "cosine", "minus_sqrt"):
    CASES["wsd-" + _style] = (LR + "--min-lr 3e-6 --lr-decay-style WSD --lr-wsd-decay-style " + _style
                              + " --lr-wsd-decay-iters 2000 --lr-warmup-iters 500 --train-iters 10500" + IT8)


def _iterations(loaded) -> int:
    from lrplan.batch import step_of_position

    return max(10_050, int(step_of_position(loaded.schedule.axis, loaded.schedule.total)) + 50)


RAMP_CASES = ("rampup", "rampup-uneven", "rampup-boundary")


@pytest.mark.framework
@pytest.mark.parametrize("name", sorted(CASES))
def test_lr_matches_megatron_every_iteration(mcore, name):
    flags = CASES[name]
    # the ramp-up exists in the installed megatron-core (<= 0.17) only; the step schedule in 0.18+ only
    extra = (("megatron_version", installed_version()),) if name in RAMP_CASES else ()
    ld = megatron.FORMAT.read(flags, None, ReadOptions(extra=extra))
    n = _iterations(ld)
    ref_lr, ref_wd, ref_emb = reference(mcore, flags, n)
    steps = np.arange(n)
    assert_lr_close(lr(ld.schedule, steps), ref_lr, what=name + " lr")
    if ld.schedule.weight_decay is not None:
        assert_lr_close(companion_values(ld.schedule, "weight_decay", steps), ref_wd, what=name + " wd")
    if "--decoupled-lr" in flags:
        assert_lr_close(companion_values(ld.schedule, "embedding", steps), ref_emb, what=name + " embedding")


@pytest.mark.framework
@pytest.mark.framework
@pytest.mark.parametrize("name", RAMP_CASES)
def test_rampup_is_ignored_by_default_as_in_megatron_0_18(mcore, name):
    """The newest rules (0.18+): the batch is --global-batch-size from iteration 1, and the note says what
    Megatron-LM <= 0.17 would do instead."""
    ld = megatron.FORMAT.read(CASES[name], None, ReadOptions())
    n = _iterations(ld)
    ref_lr, _, _ = reference(mcore, CASES[name], n, ramp=False)
    assert_lr_close(lr(ld.schedule, np.arange(n)), ref_lr, what=name)
    note = next(x for x in ld.notes if x.startswith("--rampup-batch-size is ignored"))
    assert "Megatron-LM 0.19" in note and "0.17 and older would ramp the batch" in note


def test_rampup_with_train_iters_follows_the_era():
    flags = LR + "--lr-decay-style cosine --train-iters 1000 --global-batch-size 64 --rampup-batch-size 16 16 6400"
    ld = megatron.FORMAT.read(flags, None, ReadOptions())
    assert ld.schedule.axis.batch == megatron.build.constant_batch(64)
    assert any("would stop with \"expected no batch-size rampup for iteration-based training\"" in n
               for n in ld.notes)
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(flags, None, ReadOptions(extra=(("megatron_version", "core_v0.17.1"),)))
    assert e.value.where == "--rampup-batch-size" and "expected no batch-size rampup" in e.value.message
    assert "Megatron-LM 0.17 asserts" in e.value.message


def test_step_batch_schedule_is_not_a_flag_before_0_18():
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(CASES["step-batch-schedule"], None, ReadOptions(extra=(("megatron_version", "0.17"),)))
    assert e.value.where == "--step-batch-size-schedule" and "new in Megatron-LM 0.18" in e.value.message


@pytest.mark.parametrize("bad", ["abc", "1", "0.x"])
def test_bad_megatron_version_is_a_usage_error(bad):
    with pytest.raises(LrplanError, match="megatron_version= takes a version"):
        megatron.FORMAT.read(CASES["cosine"], None, ReadOptions(extra=(("megatron_version", bad),)))


def test_checkpoint_args_without_step_schedule_are_read_as_megatron_0_17():
    args = megatron.flags.parse_flags(CASES["rampup"])[0]
    ld = megatron.from_args(args, ReadOptions(), from_checkpoint=True)
    assert isinstance(ld.schedule.axis.batch, megatron.build.RampupBatch)
    assert any("no step_batch_size_schedule: written by Megatron-LM <= 0.17" in n for n in ld.notes)
    newer = megatron.from_args(dict(args, step_batch_size_schedule=None), ReadOptions(), from_checkpoint=True)
    assert newer.schedule.axis.batch == megatron.build.constant_batch(32)


# ---- data-parallel divisibility (Megatron's num-microbatches assertions) ---------------------------------
DP_FLAGS = ("--lr 3e-4 --train-iters 1000 --global-batch-size 1000 --micro-batch-size 2"
            " --tensor-model-parallel-size 8 --lr-decay-style cosine")


@pytest.mark.parametrize("extra, why", [((("data_parallel_size", "64"),), "--set data_parallel_size"),
                                        ((("world_size", "512"),), "--set world_size 512 // (TP 8 x PP 1 x CP 1)")])
def test_global_batch_not_divisible_by_micro_batch_times_dp(mcore, extra, why):
    _, nmc, _ = mcore
    with pytest.raises(AssertionError) as real:  # megatron-core itself refuses these sizes
        nmc.ConstantNumMicroBatchesCalculator(1000, 2, 64, False, 0)
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(DP_FLAGS, None, ReadOptions(extra=extra))
    assert e.value.where == "--global-batch-size" and str(real.value) in e.value.message
    assert f"(DP 64 from {why})" in e.value.message and "896 or 1024" in e.value.hint


def test_dp_from_checkpoint_args_and_unknown_dp_is_said():
    args = dict(megatron.flags.parse_flags(DP_FLAGS)[0], data_parallel_size=64)
    with pytest.raises(LrplanError, match="not divisible by micro batch size"):
        megatron.from_args(args, ReadOptions(), from_checkpoint=True)
    ld = megatron.FORMAT.read(DP_FLAGS, None, ReadOptions())
    assert any("data-parallel size is unknown" in n and "--set data_parallel_size=N" in n for n in ld.notes)
    assert megatron.FORMAT.read(DP_FLAGS, None, ReadOptions(extra=(("dp", "125"),))).schedule.total == 1000 * 1000


def test_world_size_not_divisible_by_model_parallel_sizes():
    with pytest.raises(LrplanError, match=r"world size \(100\) is not divisible by total_model_size"):
        megatron.FORMAT.read(DP_FLAGS, None, ReadOptions(extra=(("world_size", "100"),)))


def test_rampup_stage_not_divisible_is_megatrons_assertion(mcore):
    _, nmc, _ = mcore
    flags = (LR + "--lr-decay-style cosine --train-samples 100000 --global-batch-size 64 --micro-batch-size 4"
             " --rampup-batch-size 8 8 6400")
    calc = nmc.RampupBatchsizeNumMicroBatchesCalculator(64, 4, 4, False, 0, 8, 8, 6400)
    with pytest.raises(AssertionError) as real:
        calc.update(0, consistency_check=True)  # the first stage, 8, is not a multiple of 4 x 4
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(flags, None, ReadOptions(extra=(("megatron_version", "0.17"), ("dp", "4"))))
    assert e.value.where == "--rampup-batch-size"
    assert "current global batch size (8) is not divisible by micro-batch-size (4)" in e.value.message
    assert "current global batch size (8) is not divisible by micro-batch-size (4)" in str(real.value)


@pytest.mark.framework
def test_decrease_batch_size_if_needed_runs_like_megatron(mcore):
    """With a known DP the running batch is rounded down (960 of 1000) while the schedule counts 1000 per
    iteration: the LR of every update as the real calculator and scheduler give it."""
    sched_mod, nmc, torch = mcore
    flags = (LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 100 --train-iters 10000"
             " --global-batch-size 1000 --micro-batch-size 3 --decrease-batch-size-if-needed")
    ld = megatron.FORMAT.read(flags, None, ReadOptions(extra=(("data_parallel_size", "64"),)))
    args = megatron_argparser().parse_known_args(shlex.split(flags))[0]
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "max_lr": 3e-4, "min_lr": 3e-5,
                            "wd_mult": 1.0}], lr=3e-4)
    sched = sched_mod.OptimizerParamScheduler(opt, **constructor_values(args))
    calc = nmc.ConstantNumMicroBatchesCalculator(1000, 3, 64, True, 0)
    ref = []
    for _ in range(10_500):
        ref.append(opt.param_groups[0]["lr"])
        sched.step(increment=calc.get_current_running_global_batch_size())
    assert_lr_close(lr(ld.schedule, np.arange(10_500)), ref)
    assert any("each iteration consumes 960 samples" in n for n in ld.notes)


# ---- the run length: Megatron's own iteration count -------------------------------------------------------


def test_sample_mode_runs_train_samples_floor_divided_by_the_batch():
    """update_train_iters (training.py): train_samples // global_batch_size iterations, the partial batch
    thrown away (the GPT-3 175B flags of the issue: 146,484,375 // 1,536 = 95,367)."""
    from lrplan.keypoints import total_steps

    ld = megatron.FORMAT.read("--lr 6e-5 --train-samples 146484375 --global-batch-size 1536 --lr-decay-style"
                              " cosine --lr-warmup-samples 183105 --lr-decay-samples 126953125", None, ReadOptions())
    assert total_steps(ld.schedule) == 95_367
    assert any("the last 663 of --train-samples are never used" in n for n in ld.notes)
    r = run_cli("explain", "--lr 6e-5 --train-samples 146484375 --global-batch-size 1536 --lr-decay-style cosine")
    assert "95,367 optimizer steps" in r.stdout and "last step (step 95,366)" in r.stdout, r.stdout


@pytest.mark.framework
@pytest.mark.parametrize("ramp, train", [((8, 8, 6000), 400_000), ((6, 3, 70001), 300_000), ((16, 16, 1000), 900)])
def test_rampup_run_length_is_megatron_0_17s_loop(mcore, ramp, train):
    """The <= 0.17 rule: iterations while consumed <= the ramp-up samples (and <= train_samples), then whole
    final batches; consumed samples from the real ramp-up calculator."""
    from lrplan.keypoints import total_steps

    _, nmc, _ = mcore
    calc = nmc.RampupBatchsizeNumMicroBatchesCalculator(24 if ramp[1] == 3 else 32, 1, 1, False, 0, *ramp)
    gbs = calc.global_batch_size
    iterations, consumed = 0, 0
    while consumed <= ramp[2] and consumed <= train:  # update_train_iters, core_v0.17.1 training.py
        calc.update(consumed, False)
        consumed += calc.get_current_global_batch_size()
        iterations += 1
    if train > consumed:
        iterations += (train - consumed) // gbs
    flags = (LR + f"--lr-decay-style cosine --train-samples {train} --global-batch-size {gbs}"
             f" --rampup-batch-size {ramp[0]} {ramp[1]} {ramp[2]}")
    ld = megatron.FORMAT.read(flags, None, ReadOptions(extra=(("megatron_version", "0.17"),)))
    assert total_steps(ld.schedule) == iterations


def test_verified_trace_from_reference(mcore):
    # reference megatron-deepspeed.md §1.9: GBS 8, W 10 it, D 100 it, logged after iteration 99 = 3.0082e-5
    flags = ("--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 10 --train-iters 100"
             " --global-batch-size 8")
    ld = megatron.FORMAT.read(flags, None, ReadOptions())
    ref = reference(mcore, flags, 103)[0]
    assert_lr_close(lr(ld.schedule, np.arange(103)), ref)
    assert ref[0] == 0.0 and ref[10] == pytest.approx(3e-4) and ref[99] == pytest.approx(3.0082e-5, rel=1e-4)


# ---- reader: tables of what it accepts, what it rejects, what it says ----------------------------
SHELL = """#!/bin/bash
# pretraining launch
GPT_ARGS="--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine"
torchrun --nproc_per_node 8 pretrain_gpt.py \\
    --num-layers 24 --hidden-size 1024 \\
    --train-iters=12000 \\
    --lr-warmup-iters 100 --global-batch-size 8 --micro-batch-size 1 \\
    --use-flash-attn --eval-iters 10 --lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine
"""


def test_shell_script_reads_like_the_flag_string():
    a = megatron.FORMAT.read(SHELL, None, ReadOptions())
    b = megatron.FORMAT.read(CASES["cosine"], None, ReadOptions())
    steps = np.arange(12_100)
    assert_lr_close(lr(a.schedule, steps), lr(b.schedule, steps))
    assert a.raw["train_iters"] == 12000 and a.raw["lr_decay_style"] == "cosine"


def test_shell_variable_holding_flags_is_split():
    args, _ = megatron.flags.parse_flags('ARGS="--lr 1e-4 --train-iters 500" ; python x.py $ARGS')
    assert args == {"lr": 1e-4, "train_iters": 500}


# A block copied out of a launch script: the last line keeps its continuation, one continuation has a blank
# after it, and the values come from shell variables set earlier in the paste, a default, or --set.
PASTED = """LR=3e-4
MIN_LR=3e-5
GPT_ARGS="--lr-decay-style cosine \\
    --lr $LR --min-lr ${MIN_LR} \\ 
    --lr-warmup-iters ${WARMUP:-100} \\
    --train-iters $TRAIN_ITERS --global-batch-size 8"
torchrun pretrain_gpt.py $GPT_ARGS \\
    --micro-batch-size 1 \\"""


def test_pasted_block_with_continuations_and_shell_variables():
    ld = megatron.FORMAT.read(PASTED, None, ReadOptions(extra=(("TRAIN_ITERS", "12000"),)))
    same = megatron.FORMAT.read(CASES["cosine"], None, ReadOptions())
    assert ld.raw["train_iters"] == 12000 and ld.raw["lr_warmup_iters"] == 100 and ld.raw["min_lr"] == 3e-5
    steps = np.arange(12_100)
    assert_lr_close(lr(ld.schedule, steps), lr(same.schedule, steps))
    assert any("${WARMUP} is not set here: its default '100' is used" in n for n in ld.notes)


def test_unset_shell_variable_is_named_with_how_to_supply_it():
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(PASTED, None, ReadOptions())
    assert e.value.where == "--train-iters" and "$TRAIN_ITERS" in e.value.message
    assert "--set TRAIN_ITERS=VALUE" in e.value.hint
    r = run_cli("explain", "--from", "megatron", "--", PASTED)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--train-iters: takes the value of $TRAIN_ITERS" in r.stderr, r.stderr
    r = run_cli("explain", "--from", "megatron", "--set", "TRAIN_ITERS=12000", "--", PASTED)
    assert r.returncode == 0 and "12,000 optimizer steps" in r.stdout, r.stderr


@pytest.mark.parametrize("text", ["--lr 3e-4 --train-iters 1000 --lr-decay-style cosine \\",
                                  "--lr 3e-4 \\\n --train-iters 1000 \\  \n --lr-decay-style cosine \\ "])
def test_trailing_line_continuation_is_accepted(text):
    args, _ = megatron.flags.parse_flags(text)
    assert args == {"lr": 3e-4, "train_iters": 1000, "lr_decay_style": "cosine"}


@pytest.mark.parametrize("source", ['--lr "3e-4 --train-iters 10', "--lr_scheduler.warmup_steps '10",
                                    '--learning_rate 1e-4 --lr_scheduler_type "cosine'])
def test_an_open_quote_is_a_located_error_in_every_flag_dialect(source):
    r = run_cli("explain", "--", source)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert "no closing quotation" in r.stderr and "each ' and \" needs its pair" in r.stderr, r.stderr


def test_raw_defaults_notes_and_step_name():
    ld = megatron.FORMAT.read("--lr 3e-4 --lr-warmup-fraction 0.001 --lr-decay-iters 430000 --train-iters 500000"
                       " --global-batch-size 1024", None, ReadOptions())
    assert ld.raw["lr_warmup_fraction"] == 0.001
    assert {"min_lr", "lr_decay_style", "lr_warmup_init"} <= set(ld.raw["_defaults_applied"])
    assert ("warmup fraction 0.001 is taken of the decay length (430000 iterations), not of the training length:"
            " 430 iterations") in ld.notes
    assert "the first update runs at LR 0 (--lr-warmup-init 0)" in ld.notes
    assert ld.step_name(53210) == "Megatron logs this LR at iteration 53210 and uses it in iteration 53211"
    assert ld.schedule.axis.unit == "samples" and ld.schedule.axis.batch.size == 1024


def test_from_args_accepts_checkpoint_namespace_values():
    # A sample-mode checkpoint's args carry the derived train_iters and filled-in lr_decay_samples, and
    # validate_args has set start/end weight decay to --weight-decay for the constant style.
    args = dict(lr=3e-4, min_lr=3e-5, lr_decay_style="cosine", lr_warmup_samples=1000, lr_warmup_iters=0,
                lr_decay_samples=90000, train_samples=100003, train_iters=12500, global_batch_size=8,
                micro_batch_size=1, lr_decay_iters=None, lr_warmup_fraction=None, lr_warmup_init=0.0,
                weight_decay=0.1, start_weight_decay=0.1, end_weight_decay=0.1, weight_decay_incr_style="constant",
                rampup_batch_size=None, lr_wsd_decay_style="exponential", lr_wsd_decay_iters=None,
                lr_wsd_decay_samples=None, decoupled_lr=None, decoupled_min_lr=None, seq_length=2048,
                some_model_arg=24)
    ld = megatron.from_args(args, ReadOptions())
    ref = megatron.FORMAT.read(CASES["samples-cosine"], None, ReadOptions())
    steps = np.arange(12_600)
    assert_lr_close(lr(ld.schedule, steps), lr(ref.schedule, steps))
    assert ld.raw["some_model_arg"] == 24


BAD = {
    "--lr 3e-4 --lr-decay-stlye cosine --train-iters 100":
        ("--lr-decay-stlye: unknown flag", "did you mean '--lr-decay-style'?"),
    "--lr 3e-4 --lr-decay-style cosin --train-iters 100": ("--lr-decay-style: invalid choice 'cosin'",
                                                            "did you mean 'cosine'?"),
    "--lr 3e-4 --train-iters 1e5": ("--train-iters: takes an integer, got '1e5'", None),
    "--lr nan --train-iters 100": ("--lr: must be a finite number, got 'nan'", None),
    "--lr 3e-4 --lr-decay-style cosine": ("--train-iters: either --train-iters or --train-samples is required", None),
    "--lr 3e-4 --train-iters 100 --lr-warmup-iters 100": (
        "--lr-decay-iters: the warmup (100 samples) must be shorter than the decay length (100 samples):"
        " Megatron asserts lr_warmup_steps < lr_decay_steps", None),
    "--lr 3e-4 --train-iters 100 --lr-warmup-samples 10": (
        "--lr-warmup-samples: is a sample-mode flag but --train-iters selects iteration mode", None),
    "--lr 3e-4 --train-iters 100 --lr-warmup-fraction 0.1 --lr-warmup-iters 5": (
        "--lr-warmup-iters: can only specify one of --lr-warmup-fraction and --lr-warmup-iters", None),
    "--lr 3e-4 --min-lr 1e-3 --train-iters 100": ("--min-lr: 0.001 is above --lr 0.0003: Megatron asserts min_lr <= lr",
                                                   None),
    "--lr 3e-4 --lr-decay-style WSD --train-iters 100": (
        "--lr-wsd-decay-iters: is required with --lr-decay-style WSD (the anneal length)", None),
    "--lr 3e-4 --train-iters 100 --start-weight-decay 0.1": (
        "--start-weight-decay: is not allowed with --weight-decay-incr-style constant", None),
    "--lr 3e-4 --train-iters 100 --weight-decay-incr-style linear --start-weight-decay 0.1": (
        "--end-weight-decay: is required with --weight-decay-incr-style linear", None),
    "--lr 3e-4 --train-iters 100 --weight-decay-incr-style linear --start-weight-decay 0.1 --end-weight-decay 0.01": (
        "--end-weight-decay: 0.01 is below the start 0.1: Megatron's weight decay can only increase", None),
    "--lr 3e-4 --train-iters 100 --warmup 10": ("--warmup: was removed from Megatron-LM", None),
    "--lr 3e-4 --train-samples 1000 --lr-decay-style cosine": (
        "--global-batch-size: is needed in sample mode (the LR per iteration depends on it)", None),
    "--lr 3e-4 --train-samples 1000 --step-batch-size-schedule '10:8 100:16'": (
        "--step-batch-size-schedule: the first threshold must be 0", None),
    "--lr 3e-4 --train-iters 100 --rampup-batch-size 8 8": (
        "--rampup-batch-size: takes 3 integers (start increment samples), got 2", None),
    "--train-iters 100": ("--lr: no peak LR given", None),
}


# Megatron-LM <= 0.17's ramp-up rules (0.18+ ignores --rampup-batch-size, so these are not errors there)
BAD_0_17 = {
    "--lr 3e-4 --train-iters 100 --rampup-batch-size 8 8 100 --global-batch-size 16": (
        "--rampup-batch-size: expected no batch-size rampup for iteration-based training (Megatron-LM 0.17"
        " asserts this)", "Megatron-LM 0.18 and later ignore --rampup-batch-size"),
    "--lr 3e-4 --train-samples 1000 --global-batch-size 16 --rampup-batch-size 8 3 100": (
        "--rampup-batch-size: --global-batch-size 16 minus the start 8 must be a positive multiple of the"
        " increment 3", None),
}


@pytest.mark.parametrize("flags", sorted(BAD) + sorted(BAD_0_17))
def test_bad_flags_give_located_errors(flags):
    message, hint = BAD[flags] if flags in BAD else BAD_0_17[flags]
    extra = (("megatron_version", "0.17"),) if flags in BAD_0_17 else ()
    with pytest.raises(LrplanError) as e:
        megatron.FORMAT.read(flags, None, ReadOptions(extra=extra))
    assert e.value.where + ": " + e.value.message == message
    if hint:
        assert hint in e.value.hint


def test_cli_options_fill_missing_lr_and_length():
    ld = megatron.FORMAT.read("--lr-decay-style cosine --lr-warmup-iters 10", None, ReadOptions(steps="1k", lr=1e-3))
    assert ld.schedule.peak_lr == 1e-3 and ld.schedule.total == 1000
    assert any("from --lr" in n for n in ld.notes)


def test_detect_scores():
    assert megatron.FORMAT.detect(SHELL, None) >= 5
    assert megatron.FORMAT.detect("--lr 3e-4 --train-iters 10", None) == 7
    assert megatron.FORMAT.detect("warmup=2000,cosine", None) == 0
    assert megatron.FORMAT.detect('{"scheduler": {"type": "WarmupLR"}}', None) == 0
    assert megatron.FORMAT.detect("--learning_rate 3e-4 --num_train_epochs 3", None) == 0


# ---- writer: spec -> flags -> (our reader, the real scheduler) -----------------------------------
def _shell_argv(text: str) -> list[str]:
    """The argv bash itself makes of the emitted snippet (comments, quotes, line continuations)."""
    import subprocess

    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    out = subprocess.run(["bash", "-c", "printf '%s\\n' " + body], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


WRITE_CASES = {  # spec, --steps, extra flags the user adds (the writer leaves GBS to them in iteration mode)
    "cosine-spec": ("warmup=2000,cosine,min=0.1", "100k", " --global-batch-size 16"),
    "wsd-1-sqrt": ("warmup=2000,constant,1-sqrt=20%", "12k", " --global-batch-size 8"),
    "1-sqrt-after-warmup": ("warmup=500,1-sqrt", "12k", " --global-batch-size 8"),
    "exp-anneal": ("warmup=500,constant,exp-anneal=3000,min=0.01", "12k", " --global-batch-size 8"),
    "linear": ("warmup=1000,linear", "12k", " --global-batch-size 8"),
    "constant": ("warmup=100,constant", "12k", " --global-batch-size 8"),
    # a warmup as long as the run: --lr-decay-iters must lie past it (Megatron asserts warmup < decay)
    "warmup-is-the-run": ("warmup=10000", "10k", " --global-batch-size 8"),
    # a (k + 1) / W warmup (torchtitan, Schedule-Free): W - 1 warmup iterations from peak / W
    "shifted-warmup-constant": ("warmup=100(shift=1),constant", "12k", " --global-batch-size 8"),
    "shifted-warmup-cosine": ("warmup=100(shift=1),cosine,min=0.1", "12k", " --global-batch-size 8"),
    "invsqrt": ("warmup=400,invsqrt(timescale=400),min=0.01", "12k", " --global-batch-size 8"),
    "no-warmup-cosine": ("cosine,min=0.1", "10k", " --global-batch-size 2"),
    "samples-axis": ("warmup=1001,cosine,axis=samples,gbs=8", "11k", ""),
    "steps-gbs": ("warmup=100,cosine,min=0.1,gbs=8", "12k", ""),
    "tokens-axis": ("warmup=2048000,cosine,min=0.1,axis=tokens,seq=2048,gbs=8", "12k", ""),
    "samples-step-batch": ("warmup=3000,cosine,axis=samples,bsched=0:8|1000:16,seq=64", "12k", ""),
    "samples-rampup": ("warmup=100,cosine,min=0.1,axis=samples,rampup=8:8:6000,gbs=32", "12k", ""),
    "samples-wsd-rampup": ("warmup=100,constant,exp-anneal=60000,axis=samples,rampup=8:8:6000,gbs=32", "12k", ""),
}


@pytest.mark.framework
@pytest.mark.parametrize("name", sorted(WRITE_CASES))
def test_written_flags_run_in_megatron_like_the_spec(mcore, name):
    spec, steps, user = WRITE_CASES[name]
    schedule = parse_spec(spec, steps=steps, lr=3e-4)
    # a ramp-up is written for the installed megatron-core (<= 0.17); 0.18+ ignores --rampup-batch-size
    facts = (("megatron_version", installed_version()),) if "rampup" in spec else ()
    text = convert(schedule, "megatron", WriteOptions(version="0.1.0", source_label=spec, facts=facts)).text
    flags = shlex.join(_shell_argv(text)) + user
    from lrplan.batch import step_of_position

    n = int(step_of_position(schedule.axis, schedule.total))  # the run: equivalence is promised up to its end
    assert n >= 10_000
    k = np.arange(n + 1)
    ours = lr(schedule, k)
    back = megatron.FORMAT.read(flags, None, ReadOptions(extra=facts)).schedule
    assert_lr_close(lr(back, k), ours, what=name + " reader")
    assert_lr_close(ours, reference(mcore, flags, len(k))[0], what=name + " megatron")


def test_a_rampup_is_refused_for_megatron_0_18_and_written_for_0_17():
    spec = "warmup=100,cosine,min=0.1,axis=samples,rampup=8:8:6000,gbs=32"
    r = run_cli("convert", spec, "--steps", "12k", "--lr", "3e-4", "--to", "megatron")
    assert r.returncode == 3, r.stderr
    assert "Megatron-LM 0.19 ignores --rampup-batch-size" in r.stderr
    assert "--set megatron_version=0.17" in r.stderr
    r = run_cli("convert", spec, "--steps", "12k", "--lr", "3e-4", "--to", "megatron", "--set", "megatron_version=0.17")
    assert r.returncode == 0, r.stderr
    assert "--rampup-batch-size 8 8 6000" in r.stdout


def test_spec_example_from_the_brief_is_iteration_flags():
    text = convert(parse_spec("warmup=2000,cosine,min=0.1", steps="100k", lr=3e-4), "megatron",
                          WriteOptions(version="0.1.0", source_label="warmup=2000,cosine,min=0.1")).text
    assert _shell_argv(text) == ["--train-iters", "100000", "--lr", "0.0003", "--min-lr", "3e-05",
                                 "--lr-decay-style", "cosine", "--lr-warmup-iters", "2000"]
    assert text.startswith("# lrplan 0.1.0: ")


INEXPRESSIBLE = {
    "warmup=100(shape=log),cosine": "a log warmup",
    "warmup=100,poly(power=2)": "a polynomial decay",
    "warmup=100,cosine=4900,after=periodic": "a periodic (repeating) curve",  # repeats inside the run
    "warmup=100,cosine,momentum=0.9": "a momentum schedule",
    "warmup=100,cosine,min=0.1,rampup=8:8:6000,gbs=32": "a schedule on optimizer steps with a changing batch size",
    "constant=1,invsqrt(timescale=1)": "an inverse-square-root decay without warmup on optimizer steps",
    "warmup=100,cosine(cycles=1)": "a cosine with cycles or exponent other than a half cosine",
}


# Structural refusals (no Megatron flag has the part at all) are the whole message; a shape Megatron
# approximates names the part first, then the nearest flags and how far they are (the gate measured it).
STRUCTURAL = {"a momentum schedule", "a schedule on optimizer steps with a changing batch size"}


@pytest.mark.parametrize("spec", sorted(INEXPRESSIBLE))
def test_inexpressible_names_the_part(spec):
    with pytest.raises(InexpressibleError) as e:
        convert(parse_spec(spec, steps="10k", lr=3e-4), "megatron", WriteOptions())
    if INEXPRESSIBLE[spec] in STRUCTURAL:
        assert e.value.message == INEXPRESSIBLE[spec]
    else:
        head = (f"Megatron-LM cannot express this schedule exactly: {INEXPRESSIBLE[spec]}; "
                "the nearest (--lr-decay-style ")
        assert e.value.message.startswith(head) and re.search(r"differs by [0-9.e-]+ at step \d+ \(first at step", e.value.message)


def test_a_repeat_after_the_run_is_not_part_of_it():
    """after=periodic only matters past the last step: over the run the plain flags are exact."""
    schedule = parse_spec("warmup=100,cosine,after=periodic", steps="10k", lr=3e-4)
    other = megatron.FORMAT.read(convert(schedule, "megatron", WriteOptions()).text, None, ReadOptions()).schedule
    assert_lr_close(lr(other, np.arange(10_000)), lr(schedule, np.arange(10_000)))


def test_ratio_floor_without_peak_is_inexpressible_and_zero_floor_is_not():
    with pytest.raises(InexpressibleError) as e:
        convert(parse_spec("warmup=100,cosine,min=0.1", steps="10k"), "megatron", WriteOptions())
    assert "an LR floor given as a ratio with no peak LR" in e.value.message and "--lr" in e.value.hint
    text = convert(parse_spec("warmup=100,cosine", steps="10k"), "megatron", WriteOptions()).text
    assert "# the schedule has no peak LR: add --lr PEAK" in text and "--lr" not in _shell_argv(text)


def test_approx_reports_the_real_largest_deviation():
    schedule = parse_spec("warmup=100,poly(power=2)", steps="10k", lr=3e-4)
    w = convert(schedule, "megatron", WriteOptions(approx=True))
    dev, at = w.deviation.lr.worst, w.deviation.lr.worst_step
    other = megatron.FORMAT.read(shlex.join(_shell_argv(w.text)), None, ReadOptions()).schedule
    k = np.arange(10_001)
    diff = np.abs(lr(schedule, k) - lr(other, k))
    assert dev == pytest.approx(diff.max(), rel=1e-12) and diff[at] == diff.max() and 0 < dev < 3e-4


# ---- golden files -------------------------------------------------------------------------------
GOLDEN = {
    "cosine": ("warmup=2000,cosine,min=0.1", "100k"),
    "wsd-1-sqrt": ("warmup=2000,constant,1-sqrt=20%", "100k"),
    "samples": ("warmup=1001,cosine,min=0.1,axis=samples,gbs=8", "50k"),
    "weight-decay": ("warmup=2000,linear,wd=0.1", "100k"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_golden(case, golden):
    spec, steps = GOLDEN[case]
    text = convert(parse_spec(spec, steps=steps, lr=3e-4), "megatron", WriteOptions(version="0.1.0", source_label=spec)).text
    golden("megatron/" + case + ".sh", text)


def test_golden_of_megatron_flags(golden):
    ld = megatron.FORMAT.read(CASES["wd-cosine-decoupled"], None, ReadOptions())
    golden("megatron/wd-cosine-decoupled.sh",
           convert(ld.schedule, "megatron", WriteOptions(version="0.1.0", source_label="flags")).text)


# ---- hypothesis: Megatron-expressible IR -> flags -> IR, curves agree ------------------------------
@st.composite
def megatron_flags(draw):
    sample_mode = draw(st.booleans())
    G = draw(st.integers(1, 64))
    T = draw(st.integers(20, 3000))
    style = draw(st.sampled_from(["constant", "linear", "cosine", "inverse-square-root", "WSD"]))
    D = draw(st.integers(2, T + 500))
    W = draw(st.integers(0, D - 1))
    peak = draw(st.sampled_from([3e-4, 1e-3, 6e-5]))
    flags = ["--lr", repr(peak), "--lr-decay-style", style]
    if draw(st.booleans()):
        flags += ["--min-lr", repr(peak * draw(st.sampled_from([0.1, 0.01, 0.5])))]
    if W and draw(st.booleans()):
        flags += ["--lr-warmup-init", repr(peak * 0.05)]
    u, m = ("samples", G) if sample_mode else ("iters", 1)
    flags += ["--train-" + u, str(T * m), "--lr-decay-" + u, str(D * m), "--global-batch-size", str(G)]
    if draw(st.booleans()):
        flags += ["--lr-warmup-fraction", repr(W / D)]
    else:
        flags += ["--lr-warmup-" + u, str(W * m)]
    if style == "WSD":
        flags += ["--lr-wsd-decay-style", draw(st.sampled_from(["exponential", "linear", "cosine", "minus_sqrt"])),
                  "--lr-wsd-decay-" + u, str(draw(st.integers(0, D + 5)) * m)]
    if draw(st.booleans()):
        flags += ["--weight-decay-incr-style", draw(st.sampled_from(["linear", "cosine"])),
                  "--start-weight-decay", "0.01", "--end-weight-decay", "0.1"]
    if draw(st.booleans()):
        flags += ["--decoupled-lr", repr(peak * 2)]
    return shlex.join(flags)


# Found by hypothesis: fraction * decay length = 106.00000000000001, so iteration 106 is still warmup; a
# fraction printed with fewer digits (0.51207729468599) moves it into the decay.
WSD_FRACTION = ("--lr 0.0003 --lr-decay-style WSD --train-iters {} --lr-decay-iters 207 --global-batch-size 1"
                " --lr-warmup-fraction 0.5120772946859904 --lr-wsd-decay-style exponential --lr-wsd-decay-iters 102")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(megatron_flags())
@example(WSD_FRACTION.format(105))
@example(WSD_FRACTION.format(107))
def test_round_trip_flags_ir_flags(flags):
    ld = megatron.FORMAT.read(flags, None, ReadOptions())
    text = convert(ld.schedule, "megatron", WriteOptions()).text
    back = megatron.FORMAT.read(shlex.join(_shell_argv(text)), None, ReadOptions()).schedule
    k = np.arange(int(ld.schedule.total) + 2)
    assert_lr_close(lr(back, k), lr(ld.schedule, k))
    for name in ["weight_decay"] * (ld.schedule.weight_decay is not None) + [g for g, _ in ld.schedule.groups]:
        assert_lr_close(companion_values(back, name, k), companion_values(ld.schedule, name, k), what=name)


# ---- CLI transcripts -----------------------------------------------------------------------------
def test_cli_plot_flags():
    r = run_cli("plot", CASES["cosine"])
    assert r.returncode == 0, r.stderr
    assert "the first update runs at LR 0" in r.stderr


def test_cli_convert_to_megatron():
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "megatron")
    assert r.returncode == 0, r.stderr
    assert _shell_argv(r.stdout)[:2] == ["--train-iters", "100000"]


def test_cli_convert_inexpressible_exits_3():
    r = run_cli("convert", "warmup=100(shape=log),cosine", "--steps", "10k", "--lr", "3e-4", "--to", "megatron")
    assert r.returncode == 3 and "a log warmup" in r.stderr


def test_cli_misspelt_flag_exits_2_with_suggestion():
    r = run_cli("at-step", "10", "--", "--lr 3e-4 --lr-decay-stlye cosine --train-iters 100")
    assert r.returncode == 2
    assert "did you mean '--lr-decay-style'?" in r.stderr and "Traceback" not in r.stderr


def test_cli_reads_a_flags_file(tmp_path):
    path = tmp_path / "train.sh"
    path.write_text(SHELL)
    r = run_cli("at-step", "100", str(path), "--json")
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout)["lr"] == pytest.approx(3e-4)


def test_an_lr_group_megatron_lacks_is_named_under_approx():
    """A second LR group has no Megatron flag: refused, and --approx names it missing instead of crashing."""
    spec = "warmup=100,cosine,min=0.1,group.head=[warmup=100(to=6e-4),cosine(to=6e-5)]"
    schedule = parse_spec(spec, steps="10k", lr=3e-4)
    with pytest.raises(InexpressibleError, match="group"):
        convert(schedule, "megatron", WriteOptions())
    w = convert(schedule, "megatron", WriteOptions(approx=True))
    assert w.deviation.lr.exact and any("group head" in n for n in w.notes)


@pytest.mark.framework
@pytest.mark.parametrize("style", ["linear", "cosine"])
def test_weight_decay_is_shown_by_table_at_step_and_explain(mcore, style):
    """The weight-decay companion is not only written back: table, at-step and explain show it, with
    megatron-core's own value at each update."""
    flags = (LR + "--min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 100 --train-iters 1000 --start-weight-decay"
             f" 0.01 --end-weight-decay 0.1 --weight-decay-incr-style {style}" + IT8)
    _, wds, _ = reference(mcore, flags, 1000)
    r = run_cli("table", flags, "--every", "37", "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and all("weight_decay" in row for row in rows)
    for row in rows:
        k = int(row["step"])
        if k < 1000:
            assert float(row["weight_decay"]) == pytest.approx(wds[k], rel=1e-12, abs=1e-18)
    at = json.loads(run_cli("at-step", "500", flags, "--json").stdout)
    assert at["companions"]["weight_decay"] == pytest.approx(wds[500], rel=1e-12)
    ex = run_cli("explain", flags)
    assert "Weight decay (a companion curve" in ex.stdout and "0.01" in ex.stdout
