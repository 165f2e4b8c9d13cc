"""One spec phase -> IR segments (the table of phase words and their arguments)."""

from __future__ import annotations

from ..errors import ScheduleError, did_you_mean
from ..ir import ONE, ZERO, Level, Segment
from ..shapes import ALIASES, SHAPES
from .words import BOOL_WORDS, COMMON_ARGS, DEFAULT_FROM, DEFAULT_TO, EXTRA_ARGS, POSITION_PARAMS, WARMUP_SHAPES
from ..quantity import QuantityError, parse_quantity
from .syntax import Item, Value

def build_phase(ph: Item, start: float, end: float | None, current: Level, ctx) -> tuple[list[Segment], Level]:
    if ph.name == "onecycle":
        from .onecycle import build_onecycle

        return build_onecycle(ph, start, end, current, ctx)
    if ph.name == "swa":
        from .swa import normalize

        ph = normalize(ph, ctx)
    kind = "linear" if ph.name == "warmup" else ALIASES.get(ph.name, ph.name)
    if ph.name == "warmup":
        shape_arg = next((a for a in ph.args if a.name == "shape" and a.value is not None), None)
        if shape_arg is not None and shape_arg.value.text in WARMUP_SHAPES:
            kind = shape_arg.value.text
    args = _args(ph, kind, ctx)
    label = "warmup" if ph.name == "warmup" else ""
    if "shape" in args:
        v = args["shape"].value
        if v is None or v.text not in WARMUP_SHAPES:
            raise ctx.fail("warmup shape must be one of " + ", ".join(WARMUP_SHAPES), v or args["shape"],
                           hint=did_you_mean(v.text, WARMUP_SHAPES) if v else None)
        kind = v.text
    if "label" in args:
        label = _text(args["label"], ctx)

    a = _default_level(DEFAULT_FROM.get(kind, "current"), current, ctx)
    if ph.name == "warmup":
        a = ctx.init_level
    b = _default_level("one" if ph.name == "warmup" else DEFAULT_TO.get(kind, "zero"), current, ctx)
    for name, absolute in (("from", False), ("from_lr", True), ("at", False), ("at_lr", True)):
        if name in args and not (kind == "multistep" and name == "at"):
            if name.startswith("at") and kind != "constant":
                raise ctx.fail(f"{name} is for constant phases; use from=/to=", args[name])
            a = ctx.level(args[name], absolute)
    for name, absolute in (("to", False), ("to_lr", True)):
        if name in args:
            if not SHAPES[kind].uses_to:
                raise ctx.fail(f"a {kind} phase has no target level", args[name])
            b = ctx.level(args[name], absolute)
    params = _shape_params(kind, args, start, ctx, ph)
    origin = None
    if "shift" in args:
        origin = start - _signed(args["shift"], ctx)
    span = None
    if "span" in args:
        span = ctx.quantity(args["span"].value or _missing(args["span"], ctx))
    if kind == "invsqrt" and "timescale" not in args:
        raise ctx.fail("invsqrt needs timescale=N (HF and Megatron use the warmup length)", ph,
                       hint="e.g. invsqrt(timescale=4000)")
    try:
        seg = Segment(kind, start, end, a, b, tuple(params.items()), origin=origin, span=span, label=label)
    except ScheduleError as e:
        hint = "pass --steps N or give the phase a length" if "open-ended" in e.message else None
        raise ctx.fail(e.message, ph, hint=hint) from None
    return [seg], end_level(seg, ctx.companion)


def _args(ph: Item, kind: str, ctx) -> dict[str, Item]:
    allowed = COMMON_ARGS + tuple(p.name for p in SHAPES[kind].params) + EXTRA_ARGS.get(ph.name, ()) \
        + EXTRA_ARGS.get(kind, ())
    out: dict[str, Item] = {}
    for arg in ph.args:
        if arg.name not in allowed:
            raise ctx.fail(f"{ph.name} has no argument {arg.name!r}", arg.name_node,
                           hint=did_you_mean(arg.name, allowed, noun="argument"))
        if arg.name in out:
            raise ctx.fail(f"argument {arg.name!r} is given twice", arg)
        if arg.args:
            raise ctx.fail("arguments do not nest", arg)
        out[arg.name] = arg
    return out


def _missing(arg: Item, ctx):
    raise ctx.fail(f"{arg.name} needs a value", arg)


def _text(arg: Item, ctx) -> str:
    if arg.value is None:
        _missing(arg, ctx)
    return arg.value.text


def _signed(arg: Item, ctx) -> float:
    text = _text(arg, ctx)
    sign = -1.0 if text.startswith("-") else 1.0
    try:
        return sign * float(parse_quantity(text.lstrip("-")).value)
    except QuantityError as e:
        raise ctx.fail(str(e), arg.value) from None


def _default_level(which: str, current: Level, ctx) -> Level:
    if which == "current":
        return current
    if which == "min":
        return ctx.min_level
    if which == "one":
        return Level(1.0, True) if ctx.companion else ONE
    return Level(0.0, True) if ctx.companion else ZERO


def _shape_params(kind: str, args: dict[str, Item], start: float, ctx, ph: Item) -> dict:
    out: dict = {}
    for p in SHAPES[kind].params:
        if p.name not in args or (kind == "multistep"):
            continue
        arg = args[p.name]
        if arg.value is None:
            _missing(arg, ctx)
        if p.kind == "bool":
            if arg.value.text.lower() not in BOOL_WORDS:
                raise ctx.fail(f"{p.name} takes true or false", arg.value)
            out[p.name] = BOOL_WORDS[arg.value.text.lower()]
        elif p.kind == "choice":
            if arg.value.text not in p.choices:
                raise ctx.fail(f"{p.name} must be one of {', '.join(p.choices)}", arg.value,
                               hint=did_you_mean(arg.value.text, p.choices))
            out[p.name] = arg.value.text
        elif p.name in POSITION_PARAMS:
            out[p.name] = ctx.quantity(arg.value)
        else:
            out[p.name] = ctx.number(arg.value)
        if p.check is not None and p.kind == "float" and (problem := p.check(out[p.name])):
            raise ctx.fail(f"{p.name} {problem}", arg.value)
    if kind == "exp" and "half_life" in args:
        if "rate" in args or "every" in args:
            raise ctx.fail("give half_life, or rate and every, not both", args["half_life"])
        out["rate"] = 0.5
        out["every"] = ctx.quantity(args["half_life"].value or _missing(args["half_life"], ctx))
    if kind == "exp" and ("to" in args or "to_lr" in args) and "bounded" not in args:
        out["bounded"] = True
    if kind == "restarts" and "cycle" not in args:
        if ph_length(ph, ctx) is None:
            raise ctx.fail("an open-ended restarts phase needs cycle=N", ph)
        out["cycle"] = ph_length(ph, ctx)
    if kind == "cyclic" and not ("up" in args and "down" in args):
        raise ctx.fail("cyclic needs up=N and down=N (positions per half cycle)", ph)
    if kind == "multistep":
        out.update(_multistep(args, start, ctx, ph))
    return out


def ph_length(ph: Item, ctx) -> float | None:
    return ctx.current_length


def _multistep(args: dict[str, Item], start: float, ctx, ph: Item) -> dict:
    if "at" not in args:
        raise ctx.fail("multistep needs at=POSITIONS (e.g. at=80%|90%)", ph)
    at = args["at"]
    texts = _text(at, ctx).split("|")
    milestones = []
    for t in texts:
        # "+N" is an offset from the phase start; plain positions count from the schedule start.
        rel = t.startswith("+")
        x = ctx.quantity(Value(t[1:] if rel else t, at.value.start, at.value.end))
        milestones.append(x if rel else x - start)
    if any(m < 0 for m in milestones) or milestones != sorted(milestones):
        raise ctx.fail("multistep positions must be increasing and not before the phase starts", at.value,
                       hint="positions are counted from the start of the schedule")
    gammas_text = _text(args["gamma"], ctx).split("|") if "gamma" in args else ["0.1"]
    gammas = [float(parse_quantity(g).value) if _is_num(g) else None for g in gammas_text]
    if None in gammas:
        raise ctx.fail("gamma takes a factor or FACTOR|FACTOR...", args["gamma"].value)
    if len(gammas) == 1:
        gammas = gammas * len(milestones)
    if len(gammas) != len(milestones):
        raise ctx.fail("give one gamma, or one per position", args["gamma"].value)
    return {"milestones": tuple(milestones), "gammas": tuple(gammas)}


def _is_num(text: str) -> bool:
    try:
        q = parse_quantity(text)
        return not q.unit
    except QuantityError:
        return False


def end_level(seg: Segment, companion: bool) -> Level:
    """The level a phase ends at, which is where the next one starts by default."""
    if seg.kind == "constant":
        return seg.a
    if seg.kind == "multistep":
        v = seg.a.value
        for g in seg.param("gammas"):
            v *= g
        return Level(v, seg.a.absolute)
    targeted = seg.kind in ("linear", "poly", "1-sqrt", "exp-anneal", "log") or (
        seg.kind == "cosine" and seg.param("cycles") == 0.5)
    if targeted and seg.origin is None and seg.span is None:
        return seg.b
    if seg.a.absolute != seg.b.absolute and seg.b.value != 0:
        return seg.b  # mixed units: no exact end value without the peak; the next phase says from=
    from ..ops import math_ops

    end = seg.end
    if end is None:
        return seg.b
    # The value reached at the phase's end: the formula at p = min(1, (end - origin) / span), so a
    # truncated curve (span longer than the phase) hands on the value it reached, and a shifted one
    # (torchtitan's (k + 1) / W warmup) hands on its target, never an overshoot.
    from ..shapes import SHAPES

    tau = min(end - seg.tau0, seg.span_value)
    v = float(SHAPES[seg.kind].formula(seg.a.value, seg.b.value, float(tau), seg.span_value, dict(seg.params),
                                       math_ops))
    if v != v or v in (float("inf"), float("-inf")):
        return seg.b  # no finite value there (e.g. an origin after the phase's end)
    return Level(max(v, 0.0), seg.a.absolute)
