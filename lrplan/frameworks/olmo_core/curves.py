"""Each OLMo-core scheduler's ``get_lr(initial_lr, current, t_max)`` as IR pieces in *current-space*.

``current`` is what the trainer hands ``set_lr``: ``trainer.global_step`` (units ``steps``) or
``trainer.global_train_tokens_seen`` (units ``tokens``), both already incremented for the update about to
run (read.py turns this into lrplan's step k). ``current`` is always a whole number, so a condition
``current <= W`` is the half-open piece ``[., W + 1)``. Formulas from ``olmo_core/optim/scheduler.py``
(ai2-olmo-core 3.0.0), in its order:

| class | current < boundary | IR pieces |
|---|---|---|
| every warmup: ``_linear_warmup(lr0, c, W, warmup_min_lr)`` | ``min + (lr0 - min) * min(c, W) / W`` | linear min -> lr0, span W |
| CosWithWarmup | ``c < W`` warmup; ``c >= t_max``: ``eta = lr0 * alpha_f``; else ``eta + (lr0 - eta)(1 + cos(pi (c-W)/(T-W)))/2`` | linear, cosine, constant |
| LinearWithWarmup | the same with ``lr0 - (lr0 - eta) (c-W)/(T-W)`` | linear, linear, constant |
| HalfCosWithWarmup | warmup to ``eta + (lr0 - eta)/2``; the second half of a cosine over ``2 (T - W)`` | linear, cosine (origin 2W - T) |
| CosWithWarmupAndLinearDecay | the cosine until ``T - D`` (``D`` of the trainer's t_max), then ``_linear_decay`` to decay_min_lr | ..., linear |
| InvSqrtWithWarmup | ``c < W`` warmup, else ``eta + (lr0 - eta) sqrt(W / c)`` | linear, invsqrt (alpha_f = 0) |
| WSD | ``c <= W`` warmup; ``c >= T - D``: ``_linear_decay(lr0, T - c, D, decay_min_lr)``; else lr0 | linear, constant, linear |
| ConstantWithWarmup | ``c <= W`` warmup, else lr0 | linear, constant |
| ExponentialScheduler | ``c >= T``: lr0; else ``lr_min (lr0 / lr_min) ** (c / T)`` | exp, constant |
| SequentialScheduler | stage i while ``c <= schedulers_max[i]`` (counted from the stage start) with ``t_max = min(T, max_i)``; the next stage starts from stage i's ``get_lr(lr0, max_i, max_i)`` | the stages' pieces, offset |
| ComposableScheduler / override_decay | absolute stages: linear ``s + (e - s) c / d``, cosine ``e + (s - e)(1 + cos(pi c / d))/2`` | linear / cosine |
| WSDS | per period: the peak, then ``_linear_decay`` over D_i; periods after the first start one unit late | constant, linear |

``warmup_fraction`` / ``decay_fraction`` are ``round(t_max * fraction)`` (Python's banker's rounding).
"""

from __future__ import annotations

from ...errors import LrplanError
from ...evaluate import curve_value
from ...ir import ZERO, Curve, Level, Segment

INF = None


class Ctx:
    """What every builder needs: the peak (to resolve absolute levels), and where the fields are."""

    def __init__(self, peak: float | None, where: str) -> None:
        self.peak, self.where = peak, where

    def fail(self, message: str, field: str | None = None) -> LrplanError:
        return LrplanError(message, where=f"{self.where}.{field}" if field else self.where)

    def at(self, where: str) -> Ctx:
        return Ctx(self.peak, where)

    def absolute(self, v: float, field: str) -> Level:
        if v == 0.0:
            return ZERO
        if self.peak is None:
            raise self.fail(f"{field} {v:g} is an absolute LR: pass --lr (the config has no train_module.optim.lr)",
                            field)
        return Level(float(v), absolute=True)

    def value(self, lv: Level) -> float:
        return lv.resolve(1.0 if self.peak is None else self.peak)

    def level(self, v: float) -> Level:
        """A number computed at the peak (or at 1 without one) as a level of the schedule."""
        return Level(v if self.peak is None else v / self.peak)


def piece(kind, start, end, a, b=ZERO, params=(), origin=None, span=None, label="") -> list[Segment]:
    if end is not None and end <= start:
        return []
    return [Segment(kind, float(start), None if end is None else float(end), a, b, params,
                    origin=None if origin is None else float(origin), span=None if span is None else float(span),
                    label=label)]


def scale(lv: Level, f: float) -> Level:
    return Level(lv.value * f, lv.absolute)


def value_at(segs: list[Segment], c: float, ctx: Ctx) -> float:
    return curve_value(Curve(tuple(segs), "hold"), 1.0 if ctx.peak is None else ctx.peak, float(c), clamp=False)


def clip(segs: list[Segment], lo: float, hi: float | None) -> list[Segment]:
    out = []
    for s in segs:
        start = max(s.start, lo)
        end = s.end if hi is None else (hi if s.end is None else min(s.end, hi))
        if end is not None and end <= start:
            continue
        span = s.span if s.span is not None else (None if s.end is None else s.end - s.start)
        out += piece(s.kind, start, end, s.a, s.b, s.params, origin=s.tau0, span=span if s.kind != "constant" else None,
                     label=s.label)
    return out


def offset(segs: list[Segment], o: float) -> list[Segment]:
    return [Segment(s.kind, s.start + o, None if s.end is None else s.end + o, s.a, s.b, s.params, origin=s.tau0 + o,
                    span=s.span, label=s.label) for s in segs]


# ---- warmups and fractions ---------------------------------------------------------------------------------


def _warmup_len(f: dict, T: int, ctx: Ctx) -> int:
    if f.get("warmup") is not None:
        return int(f["warmup"])
    return round(T * f["warmup_fraction"])  # Python round: banker's rounding, as OLMo-core


def _decay_len(f: dict, T: int) -> int:
    if f.get("decay") is not None:
        return int(f["decay"])
    return round(T * f["decay_fraction"])


def _check_min(ctx: Ctx, lo: float, top: Level, field: str) -> Level:
    """``assert 0 <= min < lr`` of ``_linear_warmup`` / ``_linear_decay`` (when the LR is a float)."""
    lv = ctx.absolute(lo, field)
    if ctx.peak is not None and not ctx.value(lv) < ctx.value(top):
        raise ctx.fail(f"{field} {lo:g} is not below the LR it ramps from/to ({ctx.value(top):g}): OLMo-core's "
                       "assert 0 <= min_lr < lr fails", field)
    return lv


def _warmup(W: int, end: int, top: Level, f: dict, ctx: Ctx) -> list[Segment]:
    """``_linear_warmup(top, c, W, warmup_min_lr)`` on ``[0, end)``."""
    if W <= 0 or end <= 0:
        return []
    lo = _check_min(ctx, f.get("warmup_min_lr", 0.0), top, "warmup_min_lr")
    return piece("linear", 0, end, lo, top, origin=0, span=W, label="warmup")


# ---- the classes -----------------------------------------------------------------------------------------------


def _cos_like(kind: str, f: dict, lr0: Level, T: int, ctx: Ctx) -> list[Segment]:
    Tm = T if f.get("t_max") is None else int(f["t_max"])
    eta = scale(lr0, f["alpha_f"])
    W = _warmup_len(f, Tm, ctx)
    if kind == "half_cos_with_warmup":
        top = Level(lr0.value * f["alpha_f"] + (lr0.value - lr0.value * f["alpha_f"]) / 2, lr0.absolute)
    else:
        top = lr0
    segs = _warmup(W, W, top, f, ctx)
    if Tm > W:
        if kind == "cos_with_warmup":
            segs += piece("cosine", W, Tm, lr0, eta, label="decay")
        elif kind == "linear_with_warmup":
            segs += piece("linear" if f["alpha_f"] != 1.0 else "constant", W, Tm, lr0, eta, label="decay")
        else:  # the second half of a cosine twice as long
            segs += piece("cosine", W, Tm, lr0, eta, origin=2 * W - Tm, span=2 * (Tm - W), label="decay")
    segs += piece("constant", max(W, Tm), None, eta, label="floor")
    return segs


def cos_with_warmup(f, lr0, T, ctx):
    return _cos_like("cos_with_warmup", f, lr0, T, ctx)


def linear_with_warmup(f, lr0, T, ctx):
    return _cos_like("linear_with_warmup", f, lr0, T, ctx)


def half_cos_with_warmup(f, lr0, T, ctx):
    return _cos_like("half_cos_with_warmup", f, lr0, T, ctx)


def _linear_decay(start: int, end_c: int, D: int, top: Level, f: dict, ctx: Ctx, label="decay") -> list[Segment]:
    """``_linear_decay(top, T - c, D, decay_min_lr)`` for c in ``[start, T]``, origin T - D."""
    if D <= 0:
        raise ctx.fail("the decay is 0 long: OLMo-core's _linear_decay divides by it at current == t_max, the last "
                       "update (ZeroDivisionError)", "decay_fraction" if f.get("decay") is None else "decay")
    lo = _check_min(ctx, f.get("decay_min_lr", 0.0), top, "decay_min_lr")
    return piece("linear", start, end_c + 1, top, lo, origin=end_c - D, span=D, label=label) + \
        piece("constant", max(start, end_c + 1), None, lo, label="floor")


def cos_with_warmup_and_linear_decay(f, lr0, T, ctx):
    D = _decay_len(f, T)
    cos = cos_with_warmup(f, lr0, T, ctx)
    final = ctx.level(value_at(cos, T - D, ctx))  # super().get_lr(initial_lr, t_max - decay, t_max)
    return clip(cos, 0, T - D) + _linear_decay(T - D, T, D, final, f, ctx)


def wsd(f, lr0, T, ctx):
    W = _warmup_len(f, T, ctx)
    D = _decay_len(f, T)
    stable = W + 1 if W > 0 else 0  # current <= W warms up (W = 0: never, current >= 1)
    segs = _warmup(W, stable, lr0, f, ctx) + piece("constant", stable, T - D, lr0, label="stable")
    return segs + _linear_decay(max(stable, T - D), T, D, lr0, f, ctx)


def constant_with_warmup(f, lr0, T, ctx):
    W = _warmup_len(f, T, ctx)
    return _warmup(W, W + 1, lr0, f, ctx) + piece("constant", W + 1 if W > 0 else 0, None, lr0, label="constant")


def constant(f, lr0, T, ctx):
    return piece("constant", 0, None, lr0, label="constant")


def inv_sqrt_with_warmup(f, lr0, T, ctx):
    W = _warmup_len(f, T, ctx)
    eta = scale(lr0, f["alpha_f"])
    segs = _warmup(W, W, lr0, f, ctx)
    if W <= 0:
        return segs + piece("constant", 0, None, eta, label="floor")  # sqrt(0 / c) = 0
    if f["alpha_f"] != 0.0:
        raise ctx.fail("lrplan reads InvSqrtWithWarmup only with alpha_f: 0.0 (an inverse square root that decays "
                       "towards a floor has no lrplan shape yet)", "alpha_f")
    return segs + piece("invsqrt", W, None, lr0, ZERO, (("timescale", float(W)),), label="decay")


def exponential(f, lr0, T, ctx):
    if ctx.peak is None:
        raise ctx.fail("ExponentialScheduler grows from the absolute lr_min to the LR: pass --lr", "lr_min")
    lo = float(f["lr_min"])
    top = ctx.value(lr0)
    return piece("exp", 0, T, Level(lo, absolute=True), ZERO, (("rate", top / lo), ("every", float(T))), origin=0,
                 label="range") + piece("constant", T, None, lr0, label="peak")


def _end_lr(d: dict, lr0: Level, ctx: Ctx) -> Level:
    if d.get("end_lr") is not None:
        return ctx.absolute(float(d["end_lr"]), "end_lr")
    return scale(lr0, float(d["end_lr_fraction"]))


def _interp(shape: str, start: float, d: int, a: Level, b: Level, label: str) -> list[Segment]:
    kind = "cosine" if shape == "cosine" else "linear"
    if a == b:
        kind = "constant"
    return piece(kind, start, start + d, a, b, label=label)


def _override(main: list[Segment], od: dict | None, lr0: Level, ctx: Ctx) -> list[Segment]:
    if od is None:
        return main
    start, d = int(od["start"]), int(od["duration"])
    v = ctx.level(value_at(main, start, ctx))
    end = _end_lr(od, lr0, ctx)
    return clip(main, 0, start) + _interp(od.get("shape", "linear"), start, d, v, end, "override") + \
        piece("constant", start + d, None, end, label="floor")


def composable(f, lr0, T, ctx):
    segs, at, prev = [], 0, lr0
    for i, st in enumerate(f["stages"]):
        if st.get("start_lr") is not None:
            s = ctx.absolute(float(st["start_lr"]), f"stages.{i}.start_lr")
        elif st.get("start_lr_fraction") is not None:
            s = scale(lr0, float(st["start_lr_fraction"]))
        else:
            s = prev
        e = _end_lr(st, lr0, ctx.at(f"{ctx.where}.stages.{i}"))
        segs += _interp(st.get("shape", "linear"), at, int(st["duration"]), s, e, f"stage{i}")
        at += int(st["duration"])
        prev = e
    segs += piece("constant", at, None, prev, label="floor")
    return _override(segs, f.get("override_decay"), lr0, ctx)


def sequential(f, lr0, T, ctx):
    subs, maxes = f["schedulers"], list(f["schedulers_max"])
    segs, o, rem, cur_lr0 = [], 0, T, lr0
    for i, (sub, m) in enumerate(zip(subs[:-1], maxes)):
        local = scheduler_pieces(sub, cur_lr0, min(rem, m), ctx.at(f"{ctx.where}.schedulers.{i}"))
        segs += offset(clip(local, 0 if i == 0 else 1, m + 1), o)
        end_pieces = scheduler_pieces(sub, cur_lr0, m, ctx.at(f"{ctx.where}.schedulers.{i}"))
        cur_lr0 = ctx.level(value_at(end_pieces, m, ctx))  # scheduler.get_lr(initial_lr, max, max)
        o += m
        rem -= m
    if rem <= 0:
        raise ctx.fail(f"the stages before the last take {o} of t_max {T}: OLMo-core asserts t_max > 0 for the last",
                       "schedulers_max")
    last = scheduler_pieces(subs[-1], cur_lr0, rem, ctx.at(f"{ctx.where}.schedulers.{len(subs) - 1}"))
    segs += offset(clip(last, 1 if subs[:-1] else 0, None), o)
    return _override(segs, f.get("override_decay"), lr0, ctx)


def wsds(f, lr0, T, ctx):
    L = [int(x) for x in f["period_lengths"]]
    mult = f.get("period_lr_multipliers")
    W = int(f["warmup"]) if f.get("warmup") is not None else round(f["warmup_fraction"] * L[0])

    def D(Li):
        return int(f["decay"]) if f.get("decay") is not None else round(f["decay_fraction"] * Li)

    def peak(i):
        return lr0 if mult is None else scale(lr0, float(mult[i]))

    if W + D(L[0]) > L[0] or any(D(x) > x for x in L[1:]):
        raise ctx.fail("warmup + decay exceed a period's length (OLMo-core raises OLMoConfigurationError)", "decay")
    lo = _check_min(ctx, f.get("decay_min_lr", 0.0), max((peak(i) for i in range(len(L))), key=ctx.value),
                    "decay_min_lr")
    segs = _warmup(W, W, peak(0), f, ctx)
    adjusted = [L[0] - W] + L[1:]
    start = 0
    for i, Li in enumerate(adjusted):
        first = 0 if i == 0 else 1  # x == the previous period's end still belongs to that period
        Di, S = D(L[i]), Li - D(L[i])
        segs += piece("constant", W + start + first, W + start + S, peak(i), label=f"stable{i}")
        if Di == 0 and Li >= first:
            raise ctx.fail(f"period {i} has no decay: OLMo-core divides by it at the period's end", "decay")
        segs += piece("linear", W + start + max(S, first), W + start + Li + 1, peak(i), lo, origin=W + start + S,
                      span=Di, label=f"decay{i}")
        start += Li
    return segs + piece("constant", W + start + 1 if adjusted else W, None, lo, label="floor")


def power_lr(f, lr0, T, ctx):
    raise ctx.fail("lrplan has no shape for PowerLR's lr * (current / warmup) ** b", "b")


BUILDERS = {
    "constant": constant, "constant_with_warmup": constant_with_warmup, "wsd": wsd, "power_lr": power_lr,
    "linear_with_warmup": linear_with_warmup, "inv_sqrt_with_warmup": inv_sqrt_with_warmup,
    "cos_with_warmup": cos_with_warmup, "half_cos_with_warmup": half_cos_with_warmup,
    "cos_with_warmup_and_linear_decay": cos_with_warmup_and_linear_decay, "composable": composable,
    "sequential": sequential, "wsds": wsds, "exponential": exponential,
}


def scheduler_pieces(f: dict, lr0: Level, T: int, ctx: Ctx) -> list[Segment]:
    """``get_lr(lr0, current, T)`` of a normalized scheduler (read.normalize) as pieces in current-space."""
    return BUILDERS[f["type"]](f, lr0, T, ctx)
