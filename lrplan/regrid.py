"""Move a schedule from a samples/tokens axis onto optimizer steps, exactly, when the batch is constant.

Megatron's schedules live on samples (W and D are iterations x global batch); DeepSpeed, HF, optax and
torchtitan count optimizer steps. With a constant batch of G samples (G * seq tokens) step k sits at
position k * G, so:

- a segment boundary x becomes ceil(x / G): the same integer steps fall on each side of it;
- an origin, span or position parameter (every, timescale, cycle, up, down, milestones) must be an
  exact multiple of G: then every progress ratio (k*G - o) / s equals (k - o/G) / (s/G) bit for bit;
- shapes whose value is not a ratio of positions (DeepSpeed's log ramp, cyclic exp_range's
  gamma ** tau) cannot move.

``to_steps`` returns None when any of this fails; writers then keep refusing, never approximate.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .ir import Axis, ConstantBatch, Curve, Schedule, Segment

POSITION_PARAMS = ("every", "timescale", "cycle", "up", "down")
SPAN_SHAPES = ("linear", "cosine", "poly", "1-sqrt", "exp-anneal", "rex", "quadratic")  # formulas that read tau / span


def to_steps(s: Schedule) -> Schedule | None:
    if s.axis.unit == "steps":
        return s
    if not isinstance(s.axis.batch, ConstantBatch):
        return None
    unit = s.axis.batch.size * (s.axis.seq_len if s.axis.unit == "tokens" else 1)
    sources = (s.lr, s.weight_decay, s.momentum, s.scale)
    curves = [_curve(c, unit) if c is not None else None for c in sources]
    groups = [(name, _curve(c, unit)) for name, c in s.groups]
    if any(c is None for c, src in zip(curves, sources) if src is not None) \
            or any(c is None for _, c in groups):
        return None
    total = None if s.total is None else float(math.ceil(s.total / unit))
    try:
        return Schedule(curves[0], peak_lr=s.peak_lr, total=total, axis=Axis(), weight_decay=curves[1],
                        momentum=curves[2], groups=tuple(groups), scale=curves[3])
    except ValueError:
        return None


def _exact(x: float | None, unit: int) -> float | None | bool:
    """x / unit when exact (False when not)."""
    if x is None:
        return None
    q = x / unit
    return q if q * unit == x and q == math.floor(q) else False


def _curve(c: Curve, unit: int) -> Curve | None:
    segs: list[Segment] = []
    for seg in c.segments:
        if seg.kind == "log" or (seg.kind == "cyclic" and seg.param("mode") == "exp_range"):
            return None
        start = float(math.ceil(seg.start / unit))
        end = None if seg.end is None else float(math.ceil(seg.end / unit))
        tau0 = start if seg.kind == "constant" else _exact(seg.tau0, unit)  # a constant never reads tau
        uses_span = seg.kind in SPAN_SHAPES and (seg.span is not None or seg.end is not None)
        span = _exact(seg.span_value, unit) if uses_span else None
        if tau0 is False or span is False:
            return None
        params = dict(seg.params)
        for name in POSITION_PARAMS:
            if name in params:
                params[name] = _exact(params[name], unit)
                if params[name] is False:
                    return None
        if "milestones" in params:
            ms = [_exact(seg.tau0 + m, unit) for m in params["milestones"]]
            if any(m is False for m in ms):
                return None
            params["milestones"] = tuple(m - tau0 for m in ms)
        if end is not None and end <= start:
            continue  # no integer step falls inside this segment any more
        segs.append(replace(seg, start=start, end=end, params=tuple(params.items()),
                            origin=None if tau0 == start else tau0,
                            span=None if span is None or (end is not None and span == end - start) else span))
    if not segs or segs[0].start != 0:
        return None
    if any(prev.end != nxt.start for prev, nxt in zip(segs, segs[1:])):
        return None
    return Curve(tuple(segs), c.after)
