"""Megatron ``args`` (argparse dest names) -> Schedule IR.

Follows ``get_optimizer_param_scheduler`` (megatron/training/training.py, unchanged core_v0.9 ..
v0.17) and ``OptimizerParamScheduler.get_lr``/``get_wd`` (megatron/core/optimizer_param_scheduler.py,
megatron-core 0.16.1). Megatron's scheduler counts *samples*: every boundary is converted to samples
(iterations x global batch size) and the scheduler advances by the running global batch after each
update. So the IR lives on ``Axis(unit="samples")`` with Megatron's batch schedule, and every
boundary is the exact integer (or, for ``--lr-warmup-fraction``, float) Megatron uses.

Megatron's rules, per position n (samples consumed before the update):
- warmup ``n <= W`` (inclusive) when ``W > 0``: ``init + (max - init) * n / W``;
- ``constant``: max from then on (the decay length and --min-lr are ignored);
- every other style: ``n > D`` -> min (for inverse-square-root this is a drop);
- ``inverse-square-root``: ``max(min, max * sqrt(max(W, 1)) / sqrt(max(n, 1)))``;
- linear/cosine over ``r = (n - W) / (D - W)``; WSD anneals over ``q = (n - (D - S)) / S`` after
  ``n > D - S``, even when ``D - S`` lies inside the warmup (the LR then jumps when warmup ends).
Inclusive cuts (``n <= W`` before a jump, ``n > D``) become segment boundaries at ``floor(x) + 1``:
positions are whole samples, so that is the first position past ``x``, and ``span``/``origin`` keep
Megatron's own progress variable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...ir import ONE, ZERO, Axis, ConstantBatch, Curve, Level, RampupBatch, Segment, StepBatch
from .tables import WSD_SHAPE


@dataclass(frozen=True)
class Plan:
    """The scheduler's constructor values, in samples (what Megatron passes to the class)."""

    W: float  # lr_warmup_steps (float with --lr-warmup-fraction)
    D: int  # lr_decay_steps
    S: int | None  # wsd_decay_steps
    N_wd: int  # wd_incr_steps
    total: int  # planned samples (train_iters x G, or train_samples)
    style: str
    wsd_style: str


def _level(value: float, companion: bool = False) -> Level:
    # Companion curves (LR groups, weight decay) take absolute levels only, zero included (ir.py).
    return ZERO if value == 0 and not companion else Level(float(value), absolute=True)


def _tail_end(start: float, total: float) -> float | None:
    return float(total) if total > start else None


def lr_curve(plan: Plan, init: Level, peak: Level, floor: Level) -> Curve:
    """Megatron's LR for one param group as IR segments (see the module docstring)."""
    W, D = plan.W, plan.D
    A = None if plan.S is None else D - plan.S
    overlap = plan.style == "WSD" and W > 0 and plan.S and A < W
    segs: list[Segment] = []
    pos = 0.0
    if W > 0:
        # Inclusive warmup matters only where the next phase does not start at max (WSD overlap).
        pos = float(math.floor(W) + 1) if overlap else float(W)
        # ir.Schedule rejects a "warmup" longer than the run; Megatron allows it (W < D only).
        label = "warmup" if pos <= plan.total else "warmup-past-end"
        segs.append(Segment("linear", 0.0, pos, init, peak, span=float(W) if pos != W else None, label=label))
    segs.extend(_body(plan, pos, A, peak, floor))
    return Curve(tuple(segs), after="hold")


def _body(plan: Plan, pos: float, A: float | None, peak: Level, floor: Level) -> list[Segment]:
    D, total, style = float(plan.D), plan.total, plan.style
    past_d = float(math.floor(D) + 1)  # first whole sample with n > D
    if style == "constant":
        return [Segment("constant", pos, _tail_end(pos, total), peak, label="constant")]
    if style in ("linear", "cosine"):
        return [Segment(style, pos, D, peak, floor, label="decay")]
    if style == "inverse-square-root":
        out = []
        if pos == 0:  # W = 0: max(n, 1) keeps n = 0 at max, then max / sqrt(n)
            out.append(Segment("constant", 0.0, 1.0, peak, label="warmup"))
            pos = 1.0
        out.append(Segment("invsqrt", pos, past_d, peak, floor, params=(("timescale", pos),), label="decay"))
        return out + [Segment("constant", past_d, _tail_end(past_d, total), floor, label="min")]
    # WSD
    kind = WSD_SHAPE[plan.wsd_style]
    if plan.S == 0:  # the anneal branch is never reached: max until D, then the past-D drop
        return [Segment("constant", pos, past_d, peak, label="stable"),
                Segment("constant", past_d, _tail_end(past_d, total), floor, label="min")]
    if pos >= D:  # a warmup ending at D leaves only the past-D rule
        return [Segment("constant", D, _tail_end(D, total), floor, label="min")]
    out = []
    if A > pos:
        out.append(Segment("constant", pos, float(A), peak, label="stable"))
        pos = float(A)
    origin = None if A == pos else float(A)
    span = None if A == pos else float(plan.S)
    return out + [Segment(kind, pos, D, peak, floor, origin=origin, span=span, label="decay")]


def wd_curve(plan: Plan, style: str, start: float, end: float) -> Curve:
    """Megatron's weight decay: start -> end over N_wd samples, then end (get_wd, v0.16.1)."""
    if style == "constant":
        return Curve((Segment("constant", 0.0, _tail_end(0.0, plan.total), Level(float(end), True), label="wd"),))
    seg = Segment(style, 0.0, float(plan.N_wd), Level(float(start), True), Level(float(end), True), label="wd")
    return Curve((seg,), after="hold")


def main_levels(init: float, min_lr: float) -> tuple[Level, Level, Level]:
    """Levels of the default param groups: init and min absolute (they are flags), max = the peak."""
    return _level(init), ONE, _level(min_lr)


def group_levels(init: float, max_lr: float, min_lr: float) -> tuple[Level, Level, Level]:
    return _level(init, True), Level(float(max_lr), True), _level(min_lr, True)


def make_axis(batch, seq_length: int | None) -> Axis:
    return Axis("samples", batch, seq_len=seq_length)


def rampup_batch(values: tuple[int, int, int], final: int) -> RampupBatch:
    start, incr, ramp = values
    return RampupBatch(int(start), int(incr), int(ramp), int(final))


def constant_batch(size: int) -> ConstantBatch:
    return ConstantBatch(int(size))


def step_batch(entries: list[tuple[int, int]]) -> StepBatch:
    return StepBatch(tuple((int(t), int(b)) for t, b in entries))
