"""The lint rules: one small check each, on the IR plus the config's own fields (``Loaded.raw``).

Each rule is a row of :data:`RULES`: an id, a name, a severity, a one-line summary and a check that
returns findings. A check reads only :class:`Facts` (the schedule, the config fields as the user
wrote them, the defaults the reader filled), so rules work the same for every reader that fills
``raw`` with the framework's own field names. docs/lint.md has one entry per rule citing where the
pitfall is documented.
"""

from __future__ import annotations

import math

from ..evaluate import curve_value, lr_at
from ..ir import Segment
from ..frameworks.base import LintRule as Rule
from . import Facts

DECAY_KINDS = ("linear", "cosine", "poly", "1-sqrt", "exp-anneal")
FLOOR_TAIL = 0.05  # a floor held for more than this fraction of the run is worth a word
UNREACHED = 0.98  # a decay less than this far along at the last step never reaches its floor


def _decaying(seg: Segment, peak: float) -> bool:
    return seg.kind in DECAY_KINDS and seg.a.resolve(peak) > seg.b.resolve(peak)


# ---- LR001 the first update runs at LR 0 ------------------------------------------------------

GENERIC_FIRST_STEP_FIX = ("start the warmup above 0 (init=0.01) or shift it by one step "
                          "(warmup=W(shift=1,span=W+1), nanoGPT's (k+1)/(W+1))")


def _first_step_fix(fmt: str) -> str:
    from .. import frameworks

    fix = frameworks.get(fmt).first_step_fix if fmt in frameworks.MODULES else ""
    return fix or GENERIC_FIRST_STEP_FIX


def first_update_zero(f: Facts):
    if f.n is not None and f.n < 2:
        return []
    if lr_at(f.s, 0) != 0.0 or lr_at(f.s, 1) <= 0.0:
        return []
    fix = _first_step_fix(f.format)
    return [("the first update (step 0) runs at LR 0, so it changes nothing but the optimizer state", fix,
             None, 0)]


# ---- LR004 / LR005 decay ends before or after the run ------------------------------------------


def long_floor(f: Facts):
    if f.n is None or f.s.total is None:
        return []
    segs = f.s.lr.segments
    i = len(segs)
    while i > 0 and segs[i - 1].kind == "constant" and segs[i - 1].start < f.s.total:
        i -= 1
    if i == 0 or not _decaying(segs[i - 1], f.peak()):
        return []
    last = segs[i - 1]
    end = last.end if last.end is not None else math.inf
    if end >= f.s.total:
        return []
    k = f.step(end)
    tail = f.n - k
    if tail <= FLOOR_TAIL * f.n:
        return []
    floor = lr_at(f.s, k)
    return [(f"the decay ends at step {k} and the LR stays at its floor {floor:.4g} for the last {tail} steps"
             f" ({100 * tail / f.n:.0f}% of the run)",
             "end the decay at the last step (Megatron: --lr-decay-iters = --train-iters) unless the flat tail"
             " is intended", _decay_field(f), k)]


def floor_unreached(f: Facts):
    if f.n is None or f.s.total is None:
        return []
    x = f.s.total
    for seg in f.s.lr.segments:
        if seg.start <= x and (seg.end is None or x <= seg.end) and _decaying(seg, f.peak()) and seg.start < x:
            p = (x - seg.tau0) / seg.span_value
            if p < UNREACHED:
                last = lr_at(f.s, f.n - 1)
                floor = seg.b.resolve(f.peak())
                return [(f"training stops at step {f.n} with the decay {100 * p:.0f}% done: the last LR is"
                         f" {last:.4g}, not the floor {floor:.4g}",
                         "make the decay end at the last step (decay steps = training steps), or train longer",
                         _decay_field(f), f.n - 1)]
    return []


def _decay_field(f: Facts) -> str | None:
    for name in ("lr_decay_iters", "lr_decay_samples", "total_num_steps", "max_steps", "training.steps"):
        if f.get(name) is not None:
            return name
    return None


# ---- LR007 a WSD decay window that overlaps the warmup ------------------------------------------


def wsd_overlap(f: Facts):
    from . import hooks

    for hook in hooks("LR007"):  # a dialect's check on its own fields says it best
        raw = hook(f)
        if raw:
            return raw
    segs = f.s.lr.segments
    peak = f.peak()
    for prev, seg in zip(segs, segs[1:]):
        if not (prev.b.resolve(peak) > prev.a.resolve(peak) and _decaying(seg, peak)):
            continue
        top = curve_value(_alone(prev), peak, prev.end - prev.start, clamp=True)
        start_val = curve_value(_alone(seg), peak, 0.0, clamp=True)
        early = f.step(seg.start) - f.step(max(seg.tau0, 0.0))  # steps the decay is counted early
        if start_val < top * (1 - 1e-6) and early > 1:  # one step is a framework's index shift (DeepSpeed)
            k = f.step(seg.start)
            return [(f"the decay is counted from before the warmup ends: the LR drops from {top:.4g} to"
                     f" {start_val:.4g} at step {k}", "start the decay window after the warmup", None, k)]
    return []


def _alone(seg: Segment):
    from ..ir import Curve

    shifted = Segment(seg.kind, 0.0, None if seg.end is None else seg.end - seg.start, seg.a, seg.b, seg.params,
                      origin=seg.tau0 - seg.start, span=seg.span_value, label=seg.label)
    return Curve((shifted,))




# ---- LR010 a floor above the peak --------------------------------------------------------------


def floor_above_peak(f: Facts):
    peak = f.peak()
    for seg in f.s.lr.segments:
        for lv, name in ((seg.b, "floor"), (seg.a, "start")):
            if lv.resolve(peak) > peak * (1 + 1e-12):
                k = f.step(seg.start)
                return [(f"the {seg.label or seg.kind} phase has a {name} of {lv.resolve(peak):.4g}, above the"
                         f" peak LR {peak:.4g}", "the floor (min_lr) must be below the peak LR",
                         _first_present(f, ("min_lr", "warmup_min_lr", "lr_min", "cos_min_ratio")), k)]
    return []


def _first_present(f: Facts, names) -> str | None:
    return next((n for n in names if f.get(n) is not None), None)


# ---- LR011 a cosine that rises again ----------------------------------------------------------


def cosine_rises(f: Facts):
    curve = f.s.lr
    limit = f.s.total
    for i, seg in enumerate(curve.segments):
        if seg.kind != "cosine" or seg.a.resolve(f.peak()) <= seg.b.resolve(f.peak()):
            continue
        end = seg.end
        last = i == len(curve.segments) - 1
        if end is None or (last and curve.after == "continue"):
            end = limit if limit is not None else end
        if end is None:
            continue
        p_max = (min(end, limit if limit is not None else end) - seg.tau0) / seg.span_value
        turn = 1.0 / (2.0 * seg.param("cycles"))  # the cosine's minimum
        if p_max > turn * (1 + 1e-12) + 1.0 / seg.span_value:
            k = f.step(seg.tau0 + turn * seg.span_value)
            return [(f"the cosine reaches its minimum at step {k} and then rises again before the run ends",
                     "make the cosine span the whole decay (T_max / num_training_steps = the last step), or hold"
                     " the floor after it", None, k)]
    return []


# ---- LR012 a scheduler stepped per micro-batch -------------------------------------------------

# Formats whose trainer steps the scheduler once per optimizer step whatever the accumulation (HF Trainer,
# the DeepSpeed engine at the accumulation boundary, Megatron and torchtitan train loops). For plans
# (spec, IR JSON, presets) the user's loop steps it: --set gradient_accumulation_steps=N asks for the check.
STEPPED_BY_TRAINER = ("hf", "deepspeed", "megatron", "torchtitan")


def per_microbatch(f: Facts):
    accum = f.number("gradient_accumulation_steps", "accumulate_grad_batches", "gas")
    if accum is None:
        accum = _float(f.extra.get("gradient_accumulation_steps") or f.extra.get("accumulate_grad_batches"))
    ratio = _step_ratio(f)
    if ratio is not None:
        return [(f"the scheduler has been stepped {ratio:g}x per optimizer step (scheduler {f.number(*SCHED_STEPS):g},"
                 f" optimizer {f.number(*OPT_STEPS):g}): it runs once per micro-batch",
                 "call scheduler.step() once per optimizer step", None, None)]
    if not accum or accum <= 1 or f.format in STEPPED_BY_TRAINER:
        return []
    return [(f"gradient accumulation of {accum:g}: if scheduler.step() runs once per micro-batch, warmup and"
             f" decay run {accum:g}x too fast", "call scheduler.step() once per optimizer step (after"
             " optimizer.step()), and count total steps in optimizer steps", "gradient_accumulation_steps", None)]


SCHED_STEPS = ("scheduler.last_epoch", "lr_scheduler.last_epoch", "scheduler_steps")
OPT_STEPS = ("optimizer_steps", "global_step", "optimizer.step")


def _step_ratio(f: Facts) -> float | None:
    """Scheduler steps / optimizer steps when a checkpoint records both and the ratio is a whole number > 1."""
    sched, opt = f.number(*SCHED_STEPS), f.number(*OPT_STEPS)
    if not sched or not opt or sched < 2 * opt:
        return None
    r = sched / opt
    return r if abs(r - round(r)) < 0.01 else None


def _float(v) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


ERROR, WARNING = "error", "warning"

RULES: tuple[Rule, ...] = (
    Rule("LR001", "first-update-at-zero", WARNING, "the first update runs at LR 0", first_update_zero),
    Rule("LR004", "decay-ends-early", WARNING, "decay ends long before training ends (long floor)", long_floor),
    Rule("LR005", "floor-never-reached", WARNING, "training ends before the decay reaches its floor",
         floor_unreached),
    Rule("LR007", "decay-overlaps-warmup", WARNING, "a (WSD) decay window overlaps the warmup", wsd_overlap),
    Rule("LR010", "floor-above-peak", ERROR, "a floor above the peak LR", floor_above_peak),
    Rule("LR011", "cosine-rises-again", ERROR, "a cosine that rises again past its end", cosine_rises),
    Rule("LR012", "per-microbatch-stepping", WARNING, "scheduler likely stepped per micro-batch", per_microbatch),
)
