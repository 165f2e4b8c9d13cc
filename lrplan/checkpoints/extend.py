"""``lrplan resume --extend-to N``: continue a run past its planned end with the LR continuous at the resume.

The old curve is kept up to the resume step r (the checkpoint's next update); from r the LR goes from
its current value L to the old floor by step N with the old decay's shape (or ``--shape``), or, with
``--wsd DECAY``, holds L and anneals over the last DECAY steps, or, with ``--rewarm W``, climbs back to
the peak over W steps first (Ibrahim et al. 2024 "Simple and Scalable Strategies to Continually
Pre-train"). Update r uses exactly L in every variant except --rewarm, where it starts the climb at L.
"""

from __future__ import annotations

from ..batch import position
from ..errors import InexpressibleError, LrplanError
from ..evaluate import lr_at
from ..ir import ZERO, Curve, Level, Schedule, Segment
from ..ops import math_ops

DECAY_KINDS = ("cosine", "linear", "1-sqrt", "poly", "exp-anneal")


def _pos(s: Schedule, k: float) -> float:
    return float(position(s.axis, float(k), math_ops)) if s.axis.unit != "steps" else float(k)


def _clip(curve: Curve, peak: float, x: float) -> list[Segment]:
    """The old curve's segments before position x (the last one cut at x, its formula unchanged)."""
    from ..evaluate import curve_value

    out = []
    for s in curve.segments:
        if s.start >= x:
            break
        end = x if s.end is None or s.end > x else s.end
        span = s.span_value if (s.span is not None or s.end is not None) else None
        out.append(Segment(s.kind, s.start, end, s.a, s.b, s.params, origin=s.tau0, span=span, label=s.label))
    if out and out[-1].end < x:  # the run went past the planned end: the held value until x
        held = curve_value(curve, peak, out[-1].end, clamp=False)
        out.append(Segment("constant", out[-1].end, x, Level(max(held, 0.0) / peak), label="hold"))
    return out


def _old_decay(curve: Curve) -> tuple[str, tuple, Level]:
    for s in reversed(curve.segments):
        if s.kind in DECAY_KINDS and s.a.value > s.b.value:
            return s.kind, s.params, s.b
    return "linear", (), ZERO


def extend(s: Schedule, r: int, n: int, *, shape: str | None = None, wsd: int | None = None,
           rewarm: int | None = None) -> Schedule:
    if n <= r:
        raise LrplanError(f"--extend-to {n} is not after the resume step {r}")
    if any(v is not None and v <= 0 for v in (wsd, rewarm)):
        raise LrplanError("--wsd and --rewarm take a positive number of steps")
    if (wsd or 0) + (rewarm or 0) >= n - r:
        raise LrplanError(f"the extension from step {r} to {n} is too short for the requested phases")
    if s.scale is not None:
        raise InexpressibleError("the schedule's LR is multiplied by a scale curve (per-restart ramps such as "
                                 "axolotl's jagged_restart_steps): an extension would drop the restarts",
                                 hint="extend the run's own config (e.g. raise max_steps) instead")
    kind, params, floor = _old_decay(s.lr)
    if shape is not None:
        if shape not in DECAY_KINDS:
            raise LrplanError(f"--shape must be one of {', '.join(DECAY_KINDS)}, got {shape!r}")
        kind, params = shape, ()
    if kind == "cosine":
        params = tuple((k, v) for k, v in params if k == "exponent")
    peak = s.peak
    L = Level(lr_at(s, r) / peak)
    xr, xn = _pos(s, r), _pos(s, n)
    segs = _clip(s.lr, peak, xr)
    start, level = xr, L
    if rewarm:
        x = _pos(s, r + rewarm)
        segs.append(Segment("linear", start, x, level, Level(1.0), label="rewarm"))
        start, level = x, Level(1.0)
    if wsd:
        x = _pos(s, n - wsd)
        if x > start:
            segs.append(Segment("constant", start, x, level, label="stable"))
            start = x
    segs.append(Segment(kind, start, xn, level, floor, params, label="decay"))
    return Schedule(Curve(tuple(segs)), peak_lr=s.peak_lr, total=xn, axis=s.axis, weight_decay=s.weight_decay,
                    momentum=s.momentum)
