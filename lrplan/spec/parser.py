"""Spec text -> Schedule IR.

The language is documented in docs/spec.md. In short: comma-separated *phases* in order
(``warmup=2000``, ``cosine``, ``constant=80%``, ...) and *options* (``min=0.1``, ``peak=3e-4``,
``total=100k``, ...). One phase may leave out its length and takes what is left of the total.
Phases start where the previous one ended unless given ``from=``; decays go to ``min`` unless given
``to=``. Every error carries the span of the offending token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import ScheduleError, SpecError, did_you_mean
from ..ir import (AFTER_POLICIES, ONE, UNITS, ZERO, Axis, ConstantBatch, Curve, Level, RampupBatch,
                  Schedule, Segment, StepBatch)
from ..quantity import QuantityError, parse_float, parse_quantity
from .syntax import Item, Value, parse_items
from .words import LR_OPTIONS, PHASE_WORDS


@dataclass
class _Ctx:
    """Parser state: the spec text, and the options the phases read."""

    src: str
    companion: bool = False  # levels are absolute (weight decay, momentum, groups)
    total: float | None = None
    axis: Axis = field(default_factory=Axis)
    peak: float | None = None
    min_level: Level = ZERO
    init_level: Level = ZERO
    current_length: float | None = None  # length of the phase being built
    onecycle_momentum: Curve | None = None

    def fail(self, message: str, node, hint: str | None = None) -> SpecError:
        return SpecError(message, source=self.src, span=(node.start, max(node.end, node.start + 1)), hint=hint)

    def per_unit(self) -> dict[str, Fraction]:
        out: dict[str, Fraction] = {}
        b, seq = self.axis.batch, self.axis.seq_len
        if self.axis.unit == "tokens":
            out["tok"] = Fraction(1)
            out["samples"] = Fraction(1, seq)
        elif self.axis.unit == "samples":
            out["samples"] = Fraction(1)
            if seq:
                out["tok"] = Fraction(seq)
        elif isinstance(b, ConstantBatch):
            out["samples"] = Fraction(b.size)
            if seq:
                out["tok"] = Fraction(b.size * seq)
        return out

    def quantity(self, v: Value, *, allow_pct: bool = True) -> float:
        try:
            q = parse_quantity(v.text)
            if q.unit == "%" and not allow_pct:
                raise QuantityError("a percentage is not allowed here")
            return q.resolve(total=self.total, per_unit=self.per_unit())
        except QuantityError as e:
            hint = "pass --steps N (or total=N in the spec)" if "total" in str(e) else None
            raise self.fail(str(e), v, hint) from None

    def number(self, v: Value) -> float:
        try:
            return parse_float(v.text)
        except QuantityError as e:
            raise self.fail(str(e), v) from None

    def level(self, arg: Item, absolute: bool) -> Level:
        if arg.value is None:
            raise self.fail(f"{arg.name} needs a value", arg)
        x = self.number(arg.value)
        try:
            return Level(x, absolute or self.companion)
        except ScheduleError as e:
            raise self.fail(e.message, arg.value) from None


def parse_spec(src: str, *, steps: str | float | None = None, lr: float | None = None) -> Schedule:
    """Parse a spec; ``steps`` (CLI ``--steps``) and ``lr`` (``--lr``) fill what the spec leaves out."""
    items = parse_items(src)
    ctx = _Ctx(src)
    phases, options = _split(items, ctx, LR_OPTIONS)
    _axis_options(options, ctx)
    ext_total = _external_total(steps, ctx)
    if "total" in options or "steps" in options:
        node = options.get("total") or options.get("steps")
        ctx.total = _positive(ctx, node, ctx.quantity(_need_value(ctx, node), allow_pct=False))
        if ext_total is not None and ext_total != ctx.total:
            raise ctx.fail(f"the spec says total={node.value.text} but --steps gives {ext_total:g}", node.value)
    else:
        ctx.total = ext_total
    peak_node = options.get("peak") or options.get("lr")
    if peak_node is not None:
        ctx.peak = _positive(ctx, peak_node, ctx.number(_need_value(ctx, peak_node)))
    elif lr is not None:
        ctx.peak = lr
    _level_options(options, ctx)
    after = "hold"
    if "after" in options:
        node = _need_value(ctx, options["after"])
        if node.text not in AFTER_POLICIES:
            raise ctx.fail(f"after must be one of {', '.join(AFTER_POLICIES)}", node,
                           hint=did_you_mean(node.text, AFTER_POLICIES, noun="policy"))
        after = node.text
    if not phases:
        raise SpecError("the spec has no phase", source=src, span=(0, len(src)),
                        hint="add one, e.g. warmup=2000,cosine")
    curve = _build_curve(phases, ctx, after)
    companions = {}
    for name in ("wd", "momentum"):
        if name in options:
            companions[name] = _companion(options[name], ctx)
    groups = tuple((node.name[len("group."):], _companion(node, ctx)) for key, node in options.items()
                   if key.startswith("group."))
    scale = _companion(options["scale"], ctx, relative=True) if "scale" in options else None
    try:
        return Schedule(lr=curve, peak_lr=ctx.peak, total=ctx.total, axis=ctx.axis,
                        weight_decay=companions.get("wd"),
                        momentum=companions.get("momentum", ctx.onecycle_momentum), groups=groups, scale=scale)
    except ScheduleError as e:
        raise SpecError(e.message, source=src, span=(0, len(src)), hint=e.hint) from None


def _need_value(ctx: _Ctx, node: Item) -> Value:
    if node.value is None:
        raise ctx.fail(f"{node.name} needs a value ({node.name}=...)", node)
    return node.value


def _positive(ctx: _Ctx, node: Item, x: float) -> float:
    if not x > 0:
        raise ctx.fail(f"{node.name} must be positive", node.value or node)
    return x


def _split(items: list[Item], ctx: _Ctx, option_words) -> tuple[list[Item], dict[str, Item]]:
    phases, options = [], {}
    for it in items:
        if it.name in PHASE_WORDS:
            phases.append(it)
        elif it.name in option_words or it.name.startswith("group."):
            if it.name in options:
                raise ctx.fail(f"option {it.name!r} is given twice", it)
            if it.args:
                raise ctx.fail(f"option {it.name!r} takes no arguments", it)
            options[it.name] = it
        else:
            raise ctx.fail(f"unknown phase or option {it.name!r}", it.name_node,
                           hint=did_you_mean(it.name, PHASE_WORDS + tuple(option_words), noun="word"))
    return phases, options


def _external_total(steps, ctx: _Ctx) -> float | None:
    if steps is None:
        return None
    from ..batch import steps_total
    from ..errors import LrplanError

    try:
        return steps_total(steps, ctx.axis)
    except LrplanError as e:
        raise SpecError(e.message) from None


def _axis_options(options: dict[str, Item], ctx: _Ctx) -> None:
    unit = "steps"
    if "axis" in options:
        v = _need_value(ctx, options["axis"])
        if v.text not in UNITS:
            raise ctx.fail(f"axis must be one of {', '.join(UNITS)}", v, hint=did_you_mean(v.text, UNITS))
        unit = v.text
    batch = None
    seq = None
    if "seq" in options:
        seq = _int(ctx, _need_value(ctx, options["seq"]))
    if "gbs" in options:
        batch = ConstantBatch(_int(ctx, _need_value(ctx, options["gbs"])))
    if "rampup" in options:
        v = _need_value(ctx, options["rampup"])
        parts = v.text.split(":")
        if len(parts) != 3:
            raise ctx.fail("rampup takes START:INCREMENT:SAMPLES", v)
        if batch is None:
            raise ctx.fail("rampup needs the final batch size (gbs=N)", v)
        nums = [_int(ctx, Value(p, v.start, v.end)) for p in parts]
        try:
            batch = RampupBatch(nums[0], nums[1], nums[2], batch.size)
        except ScheduleError as e:
            raise ctx.fail(e.message, v) from None
    if "bsched" in options:
        v = _need_value(ctx, options["bsched"])
        if batch is not None:
            raise ctx.fail("bsched replaces gbs; give one of them", v)
        entries = []
        for part in v.text.split("|"):
            thr, _, size = part.partition(":")
            if not size:
                raise ctx.fail("bsched takes THRESHOLD:SIZE|THRESHOLD:SIZE...", v)
            try:
                q = parse_quantity(thr)
                if q.unit == "tok":
                    if seq is None:
                        raise QuantityError("token thresholds need seq=N")
                    samples = int(q.value) // seq  # Megatron converts tokens with // seq_length
                elif q.unit in ("", "samples"):
                    samples = int(q.value)
                else:
                    raise QuantityError(f"bad threshold {thr!r}")
            except QuantityError as e:
                raise ctx.fail(str(e), v) from None
            entries.append((samples, _int(ctx, Value(size, v.start, v.end))))
        try:
            batch = StepBatch(tuple(entries))
        except ScheduleError as e:
            raise ctx.fail(e.message, v) from None
    try:
        ctx.axis = Axis(unit, batch, seq)
    except ScheduleError as e:
        node = options.get("axis") or next(iter(options.values()))
        raise ctx.fail(e.message, node, hint="add gbs=N (and seq=N for tokens)") from None


def _int(ctx: _Ctx, v: Value) -> int:
    try:
        q = parse_quantity(v.text)
    except QuantityError as e:
        raise ctx.fail(str(e), v) from None
    if q.unit or q.value.denominator != 1 or q.value <= 0:
        raise ctx.fail(f"expected a positive whole number, got {v.text!r}", v)
    return int(q.value)


def _level_options(options: dict[str, Item], ctx: _Ctx) -> None:
    for ratio_name, abs_name, attr in (("min", "min_lr", "min_level"), ("init", "init_lr", "init_level")):
        for name, absolute in ((ratio_name, False), (abs_name, True)):
            if name not in options:
                continue
            node = options[name]
            if ratio_name in options and abs_name in options:
                raise ctx.fail(f"give {ratio_name} (a ratio of the peak) or {abs_name} (an LR), not both", node)
            lv = ctx.level(node, absolute)
            peak = ctx.peak
            if absolute and peak is None:
                raise ctx.fail(f"{name} is an absolute LR; it needs the peak", node, hint="pass --lr PEAK or peak=...")
            value = lv.resolve(peak if peak is not None else 1.0)
            top = peak if peak is not None else 1.0
            if value > top:
                what = "floor" if ratio_name == "min" else "warmup start"
                raise ctx.fail(f"the {what} {node.value.text} is above the peak", node.value,
                               hint=f"{ratio_name}= is a ratio of the peak (0..1); {abs_name}= is an LR")
            setattr(ctx, attr, lv)


def _phase_lengths(phases: list[Item], ctx: _Ctx) -> list[float | None]:
    lengths: list[float | None] = []
    missing: list[int] = []
    for i, ph in enumerate(phases):
        if ph.name == "warmup" and ph.value is None:
            raise ctx.fail("warmup needs a length (warmup=2000, warmup=1%)", ph)
        if ph.value is None:
            missing.append(i)
            lengths.append(None)
        elif ph.value.text == "open":
            if i != len(phases) - 1:
                raise ctx.fail("only the last phase can be open-ended", ph.value)
            lengths.append(math.inf)
        else:
            if ph.value.items is not None:
                raise ctx.fail("a phase length is a number, not [...]", ph.value)
            L = ctx.quantity(ph.value)
            if not L > 0:
                raise ctx.fail(f"the length of {ph.name} must be positive", ph.value)
            lengths.append(L)
    if len(missing) > 1:
        raise ctx.fail("only one phase can leave out its length", phases[missing[1]],
                       hint=f"give {phases[missing[1]].name} a length, e.g. {phases[missing[1]].name}=10%")
    known = sum(x for x in lengths if x is not None and x != math.inf)
    if ctx.total is not None:
        for ph, L in zip(phases, lengths):
            if ph.name == "warmup" and L is not None and L > ctx.total:
                raise ctx.fail(f"warmup={ph.value.text} is longer than the whole schedule ({ctx.total:g})",
                               ph.value, hint="shorten the warmup or raise --steps")
    if missing:
        i = missing[0]
        if ctx.total is not None:
            rest = ctx.total - known
            if not rest > 0:
                raise ctx.fail(f"no room left for {phases[i].name}: the other phases already take "
                               f"{known:g} of {ctx.total:g}", phases[i], hint="shorten them or raise --steps")
            lengths[i] = rest
        elif i == len(phases) - 1:
            lengths[i] = math.inf
        else:
            raise ctx.fail(f"{phases[i].name} has no length and the total is unknown", phases[i],
                           hint="pass --steps N, or give it a length")
    return lengths


def _build_curve(phases: list[Item], ctx: _Ctx, after: str) -> Curve:
    from .phases import build_phase, end_level
    from .swa import build_with_start

    swa = build_with_start(phases, ctx, after, _build_curve, build_phase, end_level)  # swa(start=...) cuts the phases before it
    if swa is not None:
        return swa
    lengths = _phase_lengths(phases, ctx)
    segments: list[Segment] = []
    pos = 0.0
    current = ctx.init_level if ctx.companion else ONE
    for ph, L in zip(phases, lengths):
        end = None if L == math.inf else pos + L
        ctx.current_length = None if end is None else L
        new, current = build_phase(ph, pos, end, current, ctx)
        segments.extend(new)
        if end is None:
            break
        pos = end
    try:
        return Curve(tuple(segments), after)
    except ScheduleError as e:
        raise ctx.fail(e.message, phases[-1]) from None


def _companion(node: Item, ctx: _Ctx, *, relative: bool = False) -> Curve:
    """``wd=``/``momentum=``/``group.X=`` (absolute levels), or ``scale=`` (``relative``: a multiplier of the
    LR curve, levels are ratios, it starts from 1 and decays to 0 unless told, as the LR curve's phases do)."""
    v = _need_value(ctx, node)
    sub = _Ctx(ctx.src, companion=not relative, total=ctx.total, axis=ctx.axis, peak=None if relative else ctx.peak,
               min_level=Level(0.0, not relative), init_level=Level(0.0, not relative))
    if v.items is None:
        x = ctx.number(v)
        try:
            return Curve((Segment("constant", 0.0, None, Level(x, not relative), Level(0.0, not relative)),))
        except ScheduleError as e:
            raise ctx.fail(e.message, v) from None
    phases, options = _split(v.items, sub, ("after",))
    after = "hold"
    if "after" in options:
        av = _need_value(sub, options["after"])
        if av.text not in AFTER_POLICIES:
            raise sub.fail(f"after must be one of {', '.join(AFTER_POLICIES)}", av)
        after = av.text
    if not phases:
        raise sub.fail(f"{node.name} needs at least one phase", v)
    curve = _build_curve(phases, sub, after)
    if relative and any(lv.absolute for s in curve.segments for lv in (s.a, s.b)):
        raise ctx.fail("scale multiplies the LR: its levels are ratios (from=, to=, at=), not LRs (from_lr= ...)", v)
    return curve
