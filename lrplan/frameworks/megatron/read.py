"""Megatron-LM: command-line flags (and checkpoint ``args``) <-> Schedule IR.

Reader: flag string -> args dict (``megatron_flags``) -> checks (``megatron_args``) -> IR
(``megatron_build``). ``from_args`` is the entry point the checkpoint reader calls with the ``args``
Namespace of a Megatron checkpoint as a dict. Writer: ``megatron_write``.

Step convention (reference megatron-deepspeed.md §2.4): the scheduler is stepped after each successful
update by the running global batch, so update k (0-based) runs at eta(n_k) with n_k the samples
consumed before it, and Megatron logs that value "at iteration k" (after iteration k, 1-based).
"""

from __future__ import annotations

import re

from ...errors import LrplanError
from ...ir import Schedule
from ..base import Loaded, ReadOptions
from .args import (Resolved, check_levels, check_modes, check_plan, check_wd, data_parallel, era, fail, make_plan,
                   resolve_batch, with_defaults)
from .build import Plan, group_levels, lr_curve, main_levels, make_axis, wd_curve
from .flags import has_megatron_flags, parse_flags

WD_DESTS = ("weight_decay", "start_weight_decay", "end_weight_decay", "weight_decay_incr_style")


def step_name(k: int) -> str:
    if k <= 0:
        return "Megatron sets this LR when it builds the scheduler and uses it in iteration 1"
    return f"Megatron logs this LR at iteration {k} and uses it in iteration {k + 1}"


def _fill_from_opts(args: dict, opts: ReadOptions, notes: list[str]) -> dict:
    args = dict(args)
    if args.get("lr") is None:
        if opts.lr is None:
            raise LrplanError("no peak LR given", where="--lr", hint="add --lr to the flags or pass --lr PEAK")
        args["lr"] = opts.lr
        notes.append(f"peak LR {opts.lr:g} from --lr (the flags have none)")
    if args.get("train_iters") is None and args.get("train_samples") is None and opts.steps is not None:
        from ...quantity import parse_count

        n = parse_count(opts.steps, integer=True)
        args["train_iters"] = int(n)
        notes.append(f"--train-iters {int(n)} from --steps (the flags have neither --train-iters nor --train-samples)")
    return args


def resolve(args: dict, opts: ReadOptions, *, from_checkpoint: bool = False) -> tuple[Resolved, Plan]:
    notes: list[str] = []
    when = era(opts, args, from_checkpoint)
    a, defaults = with_defaults(_fill_from_opts(args, opts, notes))
    iteration_mode = check_modes(a, when)
    check_levels(a)
    G, batch, batch_notes = resolve_batch(a, iteration_mode, opts, when)
    notes += batch_notes
    if a["global_batch_size"] is None and a["step_batch_size_schedule"] is None:
        defaults.append("global_batch_size")
    plan = make_plan(a, iteration_mode, G)
    check_plan(a, plan, iteration_mode)
    if not iteration_mode:
        plan, length_note = run_length(plan, batch, a["train_samples"], when)
        notes += [length_note] if length_note else []
    return Resolved(a, defaults, iteration_mode, G, batch, notes), plan


def run_length(plan: Plan, batch, train_samples: int, when) -> tuple[Plan, str | None]:
    """Sample mode: the iterations Megatron runs (``update_train_iters``, training.py) and the samples they
    consume, as the plan's total. Constant batch: ``train_samples // global_batch_size`` (the partial last
    batch is thrown away). Ramp-up (<= 0.17): iterations while consumed <= the ramp-up samples (and <=
    train_samples), then whole batches of the final size. Step schedule (0.18+): iterations while consumed <
    train_samples (the last one may overshoot)."""
    from dataclasses import replace

    from ...batch import samples_before
    from ...ir import ConstantBatch, RampupBatch
    from ...ops import math_ops

    def at(k: int) -> int:
        return int(samples_before(batch, float(k), math_ops))

    if isinstance(batch, ConstantBatch):
        n = train_samples // batch.size
        rule = f"train_samples // global_batch_size = {train_samples:,} // {batch.size:,} = {n:,} iterations"
    elif isinstance(batch, RampupBatch):
        limit = min(batch.ramp_samples, train_samples)
        k = _first_at_or_past(at, limit)
        n1 = k + 1 if at(k) == limit else k  # iterations that start at consumed <= limit
        c = at(n1)
        n = n1 + (max(0, train_samples - c) // batch.final)
        rule = (f"{n1:,} ramp-up iterations (consumed <= {limit:,}), then whole batches of {batch.final:,}:"
                f" {n:,} iterations")
    else:
        return plan, None  # step schedule: while consumed < train_samples, the first step at or past it
    total = at(n)
    if n <= 0:
        raise fail("train_samples", f"{train_samples:,} samples make no iteration at this batch size",
                   hint="raise --train-samples")
    note = None
    if total != train_samples:
        note = (f"Megatron runs {rule} ({when.name} update_train_iters), consuming {total:,} samples; the"
                f" last {train_samples - total:,} of --train-samples are never used")
    return replace(plan, total=total), note


def _first_at_or_past(at, x: int) -> int:
    """The first iteration k whose consumed samples at(k) >= x (at is increasing)."""
    lo, hi = 0, 1
    while at(hi) < x:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if at(mid) < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def from_args(args: dict, opts: ReadOptions = ReadOptions(), *, label: str = "Megatron args",
              from_checkpoint: bool = False) -> Loaded:
    """A Loaded schedule from Megatron's ``args`` (argparse dest names, as in a checkpoint's Namespace;
    ``from_checkpoint``: the Namespace tells which Megatron-LM era wrote it)."""
    args = {k: v for k, v in args.items()}
    r, plan = resolve(args, opts, from_checkpoint=from_checkpoint)
    a = r.args
    s_wd, e_wd = check_wd(a)
    init, peak, floor = main_levels(a["lr_warmup_init"], a["min_lr"])
    groups = ()
    if a["decoupled_lr"] is not None:
        g_min = a["decoupled_min_lr"] if a["decoupled_min_lr"] is not None else a["min_lr"]
        groups = (("embedding", lr_curve(plan, *group_levels(a["lr_warmup_init"], a["decoupled_lr"], g_min))),)
    wd = None
    if any(d in args and args[d] is not None for d in WD_DESTS):
        wd = wd_curve(plan, a["weight_decay_incr_style"], s_wd, e_wd)
    schedule = Schedule(lr_curve(plan, init, peak, floor), peak_lr=float(a["lr"]), total=float(plan.total),
                        axis=make_axis(r.batch, a["seq_length"]), weight_decay=wd, groups=groups)
    raw = dict(args)
    raw["_defaults_applied"] = r.defaults
    return Loaded(schedule, "megatron", label, tuple(r.notes + _notes(a, plan, r, opts)), step_name, raw)


def _notes(a: dict, plan: Plan, r: Resolved, opts: ReadOptions) -> list[str]:
    unit, G = ("iterations", r.G) if r.iteration_mode else ("samples", 1)
    out = []
    if a["lr_warmup_fraction"] is not None:
        out.append(f"warmup fraction {a['lr_warmup_fraction']:g} is taken of the decay length"
                   f" ({plan.D // G} {unit}), not of the training length: {plan.W / G:g} {unit}")
    if plan.W > 0 and a["lr_warmup_init"] == 0:
        out.append("the first update runs at LR 0 (--lr-warmup-init 0)")
    if plan.style == "WSD" and plan.S and plan.W > 0 and plan.D - plan.S < plan.W:
        out.append("the WSD anneal window starts inside the warmup: the LR jumps down when the warmup ends,"
                   " as in Megatron")
    if plan.style == "inverse-square-root":
        out.append(f"inverse-square-root drops to --min-lr after the decay length ({plan.D // G} {unit})")
    elif plan.style != "constant" and plan.D < plan.total:
        out.append(f"the LR reaches --min-lr at {plan.D // G} {unit} and stays there until the run ends")
    if plan.style == "constant" and plan.W == 0 and a["min_lr"]:
        out.append("--lr-decay-style constant ignores --min-lr and the decay length")
    if not r.iteration_mode:
        out.append("Megatron counts the schedule in samples: the LR of each iteration follows the samples"
                   " consumed before it")
    if a["iterations_to_skip"]:
        out.append("--iterations-to-skip: the scheduler does not advance on skipped iterations; lrplan's"
                   " curve assumes none are skipped")
    if a["decrease_batch_size_if_needed"] and data_parallel(a, opts)[0] is None:
        out.append("--decrease-batch-size-if-needed is not applied: the data-parallel size is unknown"
                   " (--set data_parallel_size=N applies it); lrplan assumes every batch size divides evenly")
    return out


def read(text: str, path, opts: ReadOptions) -> Loaded:
    args, notes = parse_flags(text, dict(opts.extra))
    if not args:
        where = str(path) if path else "the source"
        raise LrplanError(f"no Megatron schedule flags in {where}",
                          hint="expected flags like --lr 3e-4 --train-iters N")
    label = str(path) if path else _short(text)
    ld = from_args(args, opts, label=label)
    return Loaded(ld.schedule, ld.format, ld.label, tuple(notes) + ld.notes, ld.step_name, ld.raw)


def _short(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\\\r?\n", " ", text)).strip()


def detect(text: str, path) -> int:
    n = has_megatron_flags(text)
    if n == 0:
        return 0
    return 7 if n >= 2 else 5
