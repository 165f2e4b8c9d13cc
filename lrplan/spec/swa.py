"""The ``swa`` phase of the spec: torch ``SWALR`` taking over a schedule at ``start=``.

``cosine,swa(start=80%,lr=0.05,anneal=5,cos)`` lays the phases before ``swa`` out over the whole run
(the cosine keeps its full length, as ``CosineAnnealingLR(T_max=total)`` does), cuts them at ``start``
and hands the LR reached there to SWALR, which anneals it to ``lr`` (torch's ``swa_lr``, an absolute
LR; ``to=`` takes a ratio of the peak) over ``anneal`` scheduler steps (``anneal_epochs``, default 10)
with ``cos`` or ``linear`` (``anneal_strategy``), one step every ``every`` updates (1; the updates of an
epoch for per-epoch stepping), then holds it. Without ``start=`` it is an ordinary phase that starts
where the previous one ended (``cosine=161(span=300),swa(lr=0.05)``), which is how the printer writes it.
"""

from __future__ import annotations

from dataclasses import replace

from ..ir import ONE, Curve, Segment
from .syntax import Item

STRATEGY_WORDS = ("cos", "linear")


def normalize(ph: Item, ctx) -> Item:
    """``lr=`` -> ``to_lr=``, a bare ``cos``/``linear`` -> ``strategy=``; a target is required."""
    args = []
    for arg in ph.args:
        if arg.name == "lr":
            arg = replace(arg, name="to_lr")
        elif arg.name in STRATEGY_WORDS:
            if arg.value is not None:
                raise ctx.fail(f"{arg.name} takes no value (it is the anneal strategy)", arg.value)
            if any(a.name == "strategy" or (a.name in STRATEGY_WORDS and a is not arg) for a in ph.args):
                raise ctx.fail("give one anneal strategy (cos or linear)", arg)
            from .syntax import Value

            arg = replace(arg, name="strategy", value=Value(arg.name, arg.start, arg.end))
        elif arg.name == "start":
            continue
        args.append(arg)
    if not any(a.name in ("to", "to_lr") for a in args):
        raise ctx.fail("swa needs the SWA learning rate: lr=SWA_LR (torch's swa_lr) or to=RATIO", ph,
                       hint="e.g. swa(start=80%,lr=0.05,anneal=5,cos)")
    return replace(ph, args=args)


def start_arg(phases: list[Item]) -> Item | None:
    for ph in phases:
        if ph.name == "swa":
            for arg in ph.args:
                if arg.name == "start":
                    return arg
    return None


def build_with_start(phases: list[Item], ctx, after: str, build_curve, build_phase, end_level) -> Curve | None:
    """The curve of a spec whose ``swa`` phase has ``start=``; None when none has (the parser passes its
    own builders: lrplan.spec.phases imports this module for :func:`normalize`)."""
    arg = start_arg(phases)
    if arg is None:
        return None
    ph = phases[-1]
    if ph.name != "swa" or start_arg(phases[:-1]) is not None:
        raise ctx.fail("swa(start=...) must be the last phase: SWALR takes over the schedule at start", arg)
    if ph.value is not None:
        raise ctx.fail("give swa a start= or a length, not both", ph.value)
    if arg.value is None:
        raise ctx.fail("start needs a position (start=80%, start=161)", arg)
    start = ctx.quantity(arg.value)
    if ctx.total is not None and not start < ctx.total:
        raise ctx.fail(f"start={arg.value.text} is not before the end of the run ({ctx.total:g})", arg.value)
    if start < 0:
        raise ctx.fail("start must not be negative", arg.value)
    kept: list[Segment] = []
    current = ctx.init_level if ctx.companion else ONE
    if phases[:-1] and start > 0:
        before = build_curve(phases[:-1], ctx, "hold")
        for seg in before.segments:
            if seg.start >= start:
                break
            if seg.end is None or seg.end > start:
                # cut at start, keeping the formula: its span stays the full phase length
                span = seg.span_value if (seg.span is not None or seg.end is not None) else None
                seg = Segment(seg.kind, seg.start, start, seg.a, seg.b, seg.params, origin=seg.tau0, span=span,
                              label=seg.label)
            kept.append(seg)
        current = end_level(kept[-1], ctx.companion)
    end = None if ctx.total is None else ctx.total
    ctx.current_length = None if end is None else end - start
    segs, _ = build_phase(ph, float(start), end, current, ctx)
    return Curve(tuple(kept + segs), after)
