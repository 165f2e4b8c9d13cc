"""Evaluate a schedule: vectorised over numpy arrays, or one step with plain floats.

``lr(schedule, steps)`` takes any array of optimizer steps (0-based, up to 1e13) and returns the LR
each of those updates uses, as float64, with no Python loop per step: one pass per segment with a
mask. ``lr_at(schedule, step)`` gives one value without importing numpy (the fast ``at-step`` path);
both run the same formulas from :mod:`lrplan.shapes`.
"""

from __future__ import annotations

import math

from .batch import position
from .ir import Curve, Schedule, Segment
from .ops import math_ops, numpy_ops
from .shapes import SHAPES


def _segment_values(seg: Segment, peak: float, x, ops):
    sdef = SHAPES[seg.kind]
    a = seg.a.resolve(peak)
    b = seg.b.resolve(peak)
    return sdef.formula(a, b, x - seg.tau0, seg.span_value, dict(seg.params), ops)


def end_value(seg: Segment, peak: float, ops=math_ops) -> float:
    """The value held after the last segment ('hold'): the formula at p = 1."""
    sdef = SHAPES[seg.kind]
    a = seg.a.resolve(peak)
    b = seg.b.resolve(peak)
    if sdef.end_value is not None:
        return sdef.end_value(a, b, dict(seg.params))
    return float(sdef.formula(a, b, float(seg.span_value), seg.span_value, dict(seg.params), math_ops))


def curve_values(curve: Curve, peak: float, x, *, clamp: bool = True):
    """Values of ``curve`` at positions ``x`` (a numpy array)."""
    ops = numpy_ops()
    np = ops.np
    x = np.asarray(x, dtype=float)
    end = curve.end
    if end is not None and curve.after == "periodic":
        x = np.where(x >= end, np.mod(x, end), x)
    if x.ndim == 1 and (x.size < 2 or bool(np.all(x[1:] >= x[:-1]))):
        out = _sorted_values(curve, peak, x, ops)
    else:
        out = _masked_values(curve, peak, x, ops)
    if clamp:
        np.maximum(out, 0.0, out=out)
    return out


def _sorted_values(curve: Curve, peak: float, x, ops):
    """Sorted positions (the usual case): each segment is one contiguous slice, no masks or copies."""
    np = ops.np
    out = np.empty_like(x)
    end = curve.end
    stop = len(x) if end is None or curve.after == "continue" else int(np.searchsorted(x, end, side="left"))
    starts = [s.start for s in curve.segments[1:]]
    cuts = [0, *np.searchsorted(x[:stop], starts, side="left").tolist(), stop]
    for seg, lo, hi in zip(curve.segments, cuts, cuts[1:]):
        if hi > lo:
            out[lo:hi] = _segment_values(seg, peak, x[lo:hi], ops)
    if stop < len(x):
        out[stop:] = end_value(curve.segments[-1], peak, ops)
    return out


def _masked_values(curve: Curve, peak: float, x, ops):
    np = ops.np
    out = np.empty_like(x)
    end = curve.end
    starts = np.array([s.start for s in curve.segments])
    idx = np.searchsorted(starts, x, side="right") - 1
    np.maximum(idx, 0, out=idx)
    last = len(curve.segments) - 1
    beyond = (x >= end) if end is not None else np.zeros(x.shape, dtype=bool)
    for i, seg in enumerate(curve.segments):
        mask = (idx == i) & ~beyond
        if i == last and end is not None and curve.after == "continue":
            mask = idx == i
        if mask.any():
            out[mask] = _segment_values(seg, peak, x[mask], ops)
    if end is not None and curve.after == "hold" and beyond.any():
        out[beyond] = end_value(curve.segments[-1], peak, ops)
    return out


def curve_value(curve: Curve, peak: float, x: float, *, clamp: bool = True) -> float:
    """Value of ``curve`` at one position, with plain floats."""
    ops = math_ops
    end = curve.end
    if end is not None and x >= end:
        if curve.after == "hold":
            v = end_value(curve.segments[-1], peak, ops)
            return max(v, 0.0) if clamp else v
        if curve.after == "periodic":
            x = math.fmod(x, end)
    seg = curve.segments[0]
    for s in curve.segments:
        if s.start <= x:
            seg = s
    v = float(_segment_values(seg, peak, float(x), ops))
    return max(v, 0.0) if clamp else v


def lr(schedule: Schedule, steps, *, curve: Curve | None = None, clamp: bool = True):
    """LR used by each optimizer step in ``steps`` (numpy float64 array)."""
    np = numpy_ops().np
    steps = np.asarray(steps, dtype=float)
    x = position(schedule.axis, steps, numpy_ops())
    c = schedule.lr if curve is None else curve
    peak = schedule.peak if curve is None or curve is schedule.lr else 1.0
    out = curve_values(c, peak, x, clamp=clamp)
    if schedule.scale is not None and c is schedule.lr:  # the multiplier applies to the LR curve only
        out *= curve_values(schedule.scale, 1.0, x, clamp=False)
    return out


def lr_at(schedule: Schedule, step: float) -> float:
    """LR used by one optimizer step, without numpy."""
    return lr_at_position(schedule, position(schedule.axis, float(step), math_ops))


def lr_at_position(schedule: Schedule, x: float) -> float:
    """The LR at axis position ``x`` (samples or tokens consumed, or the step), the scale applied."""
    v = curve_value(schedule.lr, schedule.peak, x)
    return v if schedule.scale is None else v * curve_value(schedule.scale, 1.0, x, clamp=False)


def companion(schedule: Schedule, name: str):
    """The companion curve called ``name`` (weight_decay, momentum, or a group name)."""
    if name == "weight_decay":
        return schedule.weight_decay
    if name == "momentum":
        return schedule.momentum
    return dict(schedule.groups).get(name)


def companion_values(schedule: Schedule, name: str, steps):
    curve = companion(schedule, name)
    np = numpy_ops().np
    x = position(schedule.axis, np.asarray(steps, dtype=float), numpy_ops())
    return curve_values(curve, 1.0, x, clamp=False)
