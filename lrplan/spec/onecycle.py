"""The ``onecycle`` phase: torch's OneCycleLR as primitive segments plus its momentum curve.

torch 2.13 ``torch/optim/lr_scheduler.py`` (OneCycleLR): initial = max / div, floor = initial /
final_div; phase ends at ``pct * N - 1`` and ``N - 1`` (three-phase: ``pct * N - 1``,
``2 * pct * N - 2``, ``N - 1``); each phase anneals with ``cos`` or ``linear`` from its start to
its end value, and momentum runs the opposite way between ``max`` and ``base`` momentum.
"""

from __future__ import annotations

from ..ir import ONE, Curve, Level, Segment
from .words import BOOL_WORDS
from .syntax import Item


def build_onecycle(ph: Item, start: float, end: float | None, current: Level, ctx):
    if end is None:
        raise ctx.fail("onecycle needs a length (its total_steps)", ph, hint="pass --steps N or onecycle=N")
    args = {a.name: a for a in ph.args}
    allowed = ("max_at", "div", "final_div", "anneal", "three_phase", "mom")
    for a in ph.args:
        if a.name not in allowed:
            from ..errors import did_you_mean

            raise ctx.fail(f"onecycle has no argument {a.name!r}", a, hint=did_you_mean(a.name, allowed))
    pct = ctx.number(args["max_at"].value) if "max_at" in args else 0.3
    div = ctx.number(args["div"].value) if "div" in args else 25.0
    final_div = ctx.number(args["final_div"].value) if "final_div" in args else 1e4
    anneal = args["anneal"].value.text if "anneal" in args else "cos"
    if anneal not in ("cos", "linear"):
        raise ctx.fail("anneal must be cos or linear", args["anneal"].value)
    three = False
    if "three_phase" in args:
        three = BOOL_WORDS.get(args["three_phase"].value.text.lower(), None)
        if three is None:
            raise ctx.fail("three_phase takes true or false", args["three_phase"].value)
    if not 0 < pct < 1:
        raise ctx.fail("max_at must be between 0 and 1 (torch pct_start)", args["max_at"].value)
    if div <= 0 or final_div <= 0:
        raise ctx.fail("div and final_div must be positive", ph)
    n = end - start
    if ctx.peak is not None:  # torch's own arithmetic: initial_lr = max_lr / div, min_lr = initial_lr / final_div
        initial = Level(ctx.peak / div, True)
        floor = Level(ctx.peak / div / final_div, True)
    else:  # a multiplier schedule: ratios of the peak (within an ulp of torch's once a peak is given)
        initial = Level(1.0 / div)
        floor = Level(1.0 / div / final_div)
    kind = "cosine" if anneal == "cos" else "linear"
    form = () if kind == "cosine" else (("form", "torch"),)  # OneCycleLR's own linear arithmetic
    if three:
        ends = [pct * n - 1, 2 * pct * n - 2, n - 1]
        levels = [initial, ONE, initial, floor]
    else:
        ends = [pct * n - 1, n - 1]
        levels = [initial, ONE, floor]
    if ends[0] <= 0 or any(e2 <= e1 for e1, e2 in zip(ends, ends[1:])):
        raise ctx.fail("onecycle is too short for its phases", ph)
    segs, mom_segs = [], []
    lo_m, hi_m = 0.85, 0.95
    if "mom" in args:
        lo, _, hi = args["mom"].value.text.partition(":")
        try:
            lo_m, hi_m = float(lo), float(hi)
        except ValueError:
            raise ctx.fail("mom takes BASE:MAX momentum, e.g. 0.85:0.95", args["mom"].value) from None
    mom_levels = [Level(hi_m, True), Level(lo_m, True), Level(hi_m, True), Level(hi_m, True)] if three else \
        [Level(hi_m, True), Level(lo_m, True), Level(hi_m, True)]
    prev = 0.0
    for i, e in enumerate(ends):
        seg_end = start + e if i < len(ends) - 1 else start + e
        label = "onecycle"
        segs.append(Segment(kind, start + prev, seg_end, levels[i], levels[i + 1], params=form, label=label))
        mom_segs.append(Segment(kind, start + prev, seg_end, mom_levels[i], mom_levels[i + 1], params=form,
                                label=label))
        prev = e
    if segs[-1].end < end:
        pass  # positions from N-1 on hold the floor, as OneCycleLR's last value
    if start > 0:
        mom_segs.insert(0, Segment("constant", 0.0, start, Level(hi_m, True)))
    ctx.onecycle_momentum = Curve(tuple(mom_segs), "hold")
    # The curve continues from N - 1; the next phase (if any) starts at `end`.
    held = floor
    if form and ctx.peak is not None:  # OneCycleLR evaluates its last phase at pct = 1 from N - 1 on
        last = segs[-1]
        a, b = last.a.resolve(ctx.peak), last.b.resolve(ctx.peak)
        held = Level((b - a) * 1.0 + a, True)
    if end - (start + ends[-1]) > 0:
        segs.append(Segment("constant", start + ends[-1], end, held, label="onecycle"))
    return segs, held
