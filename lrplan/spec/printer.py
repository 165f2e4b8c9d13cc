"""Schedule IR -> canonical spec text, such that ``parse_spec(print_spec(s)) == s``.

Canonical means: every phase with its length, arguments only where they differ from what the parser
would assume (the same default tables as :mod:`lrplan.spec.parser`), then the options. The most
common decay target becomes ``min=``, as users write it.
"""

from __future__ import annotations

import math
from collections import Counter

from ..ir import ONE, ZERO, Curve, Level, RampupBatch, Schedule, Segment, StepBatch
from ..shapes import SHAPES
from .phases import end_level
from .words import DEFAULT_FROM, DEFAULT_TO, WARMUP_SHAPES
from ..quantity import format_number as num


def print_spec(s: Schedule) -> str:
    floor = _choose_floor(s)
    items = _curve_items(s.lr, floor, companion=False, total=s.total)
    if floor is not None:
        items.append(("min_lr=" if floor.absolute else "min=") + num(floor.value))
    if s.lr.after != "hold":
        items.append("after=" + s.lr.after)
    if s.peak_lr is not None:
        items.append("peak=" + num(s.peak_lr))
    if s.total is not None:
        items.append("total=" + num(s.total))
    items.extend(_axis_items(s))
    for name, curve in (("wd", s.weight_decay), ("momentum", s.momentum)):
        if curve is not None:
            items.append(f"{name}=" + _companion(curve, s.total))
    for gname, curve in s.groups:
        items.append(f"group.{gname}=" + _companion(curve, s.total))
    if s.scale is not None:
        items.append("scale=" + _companion(s.scale, s.total, relative=True))
    return ",".join(items)


def _companion(curve: Curve, total, *, relative: bool = False) -> str:
    segs = curve.segments
    if (len(segs) == 1 and segs[0].kind == "constant" and segs[0].end is None and curve.after == "hold"
            and segs[0].origin is None and segs[0].span is None and not segs[0].label):
        return num(segs[0].a.value)
    inner = _curve_items(curve, None, companion=not relative, total=total)
    if curve.after != "hold":
        inner.append("after=" + curve.after)
    return "[" + ",".join(inner) + "]"


def _choose_floor(s: Schedule) -> Level | None:
    targets = [seg.b for seg in s.lr.segments if DEFAULT_TO.get(seg.kind) == "min" and seg.label != "warmup"
               and seg.a.absolute == seg.b.absolute and seg.b.value < seg.a.value]
    if not targets:
        return None
    best, _ = Counter(targets).most_common(1)[0]
    if best == ZERO:
        return None
    top = s.peak_lr if best.absolute else 1.0
    if best.value > top:  # the parser refuses a floor above the peak
        return None
    return best


def _curve_items(curve: Curve, floor: Level | None, *, companion: bool, total) -> list[str]:
    zero = Level(0.0, True) if companion else ZERO
    min_level = floor if floor is not None else zero
    current = zero if companion else ONE
    out = []
    last = len(curve.segments) - 1
    for i, seg in enumerate(curve.segments):
        out.append(_segment(seg, current, min_level, zero, companion, open_needs_word=total is not None,
                            is_last=i == last))
        current = end_level(seg, companion)
    return out


def _segment(seg: Segment, current: Level, min_level: Level, zero: Level, companion: bool,
             *, open_needs_word: bool, is_last: bool) -> str:
    warmup = seg.label == "warmup" and seg.kind in WARMUP_SHAPES and seg.end is not None  # warmup= needs a length
    word = "warmup" if warmup else seg.kind
    args: list[str] = []
    if warmup and seg.kind != "linear":
        args.append("shape=" + seg.kind)
    if seg.label and not warmup:
        args.append("label=" + seg.label)
    defaults = {"current": current, "min": min_level, "one": ONE if not companion else Level(1.0, True),
                "zero": zero}
    a_default = zero if warmup else defaults[DEFAULT_FROM.get(seg.kind, "current")]
    b_default = (ONE if not companion else Level(1.0, True)) if warmup else \
        defaults[DEFAULT_TO.get(seg.kind, "zero")]
    if seg.a != a_default:
        args.append(_level("at" if seg.kind == "constant" else "from", seg.a, companion))
    params = dict(seg.params)
    if SHAPES[seg.kind].uses_to:
        bounded_implied = seg.kind == "exp" and seg.b != b_default
        if seg.b != b_default or seg.kind == "swa":  # swa always names its SWA LR (the spec requires it)
            args.append(_level("to", seg.b, companion))
        if seg.kind == "exp" and params["bounded"] != bounded_implied:
            args.append("bounded=" + ("true" if params["bounded"] else "false"))
    for p in SHAPES[seg.kind].params:
        v = params[p.name]
        if p.name in ("bounded",) or seg.kind == "multistep":
            continue
        if seg.kind == "restarts" and p.name == "cycle" and seg.length() == v:
            continue
        if seg.kind == "cyclic" and p.name in ("up", "down"):
            args.append(f"{p.name}={num(v)}")
            continue
        if v == p.default and not (seg.kind in ("restarts", "invsqrt") and p.name in ("cycle", "timescale")):
            continue
        if p.kind == "bool":
            args.append(f"{p.name}={'true' if v else 'false'}")
        elif p.kind == "choice":
            args.append(f"{p.name}={v}")
        else:
            args.append(f"{p.name}={num(v)}")
    if seg.kind == "multistep":
        ms, gs = params["milestones"], params["gammas"]
        if ms:
            args.append("at=" + "|".join(_milestone(seg.start, m) for m in ms))
            args.append("gamma=" + ("|".join(num(g) for g in gs) if len(set(gs)) > 1 else num(gs[0])))
    if seg.origin is not None:
        shift = seg.start - seg.origin
        args.append("shift=" + ("-" + num(-shift) if shift < 0 else num(shift)))
    if seg.span is not None:
        args.append("span=" + num(seg.span))
    text = word
    if seg.end is None:
        if open_needs_word or not is_last:
            text += "=open"
    else:
        text += "=" + num(_length(seg.start, seg.end))
    if args:
        text += "(" + ",".join(args) + ")"
    return text


def _level(name: str, lv: Level, companion: bool) -> str:
    suffix = "_lr" if lv.absolute and not companion else ""
    return f"{name}{suffix}={num(lv.value)}"


def _length(start: float, end: float) -> float:
    """A length L with start + L == end exactly (what the parser will compute)."""
    L = end - start
    for _ in range(8):
        got = start + L
        if got == end:
            return L
        L = math.nextafter(L, math.inf if got < end else -math.inf)
    raise ValueError(f"cannot print a segment from {start!r} to {end!r} exactly")


def _milestone(start: float, m: float) -> str:
    """An absolute position P with P - start == m exactly, else the offset form "+m"."""
    P = start + m
    for _ in range(8):
        got = P - start
        if got == m:
            return num(P)
        P = math.nextafter(P, math.inf if got < m else -math.inf)
    return "+" + num(m)


def _axis_items(s: Schedule) -> list[str]:
    ax = s.axis
    out = []
    if ax.unit != "steps":
        out.append("axis=" + ax.unit)
    b = ax.batch
    if isinstance(b, RampupBatch):
        out.append(f"gbs={b.final}")
        out.append(f"rampup={b.start}:{b.increment}:{b.ramp_samples}")
    elif isinstance(b, StepBatch):
        out.append("bsched=" + "|".join(f"{t}:{size}" for t, size in b.entries))
    elif b is not None:
        out.append(f"gbs={b.size}")
    if ax.seq_len is not None:
        out.append(f"seq={ax.seq_len}")
    return out
