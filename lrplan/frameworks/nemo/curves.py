"""NeMo's schedulers as IR: the effective integers NeMo computes (:class:`Effective`), then one builder per class.

Every formula here was read from nemo_toolkit 2.7.3 ``nemo/core/optim/lr_scheduler.py`` (unchanged since
v1.23.0 but for the WarmupHoldAnneal* classes of 2.5.0). ``k`` is ``last_epoch``: Lightning steps the
scheduler after every optimizer update (``interval: step``), so 0-based update ``k`` uses ``get_lr()`` at
``last_epoch == k`` -- lrplan's step ``k``, no shift. ``base`` is ``base_lrs[0]`` (``model.optim.lr``).

* ``W`` warmup, ``H`` end of hold (*absolute*: ``hold_steps + W``; 0 when no hold is given), ``C``
  constant tail, ``D = max_steps - (C + W)``; ratios become steps with ``int(ratio * max_steps)`` (floor).
* Warmup (WarmupPolicy, WarmupHoldPolicy, CosineAnnealing with ``C == 0``): ``base * (k + 1) / (W + 1)`` for
  ``k <= W``: the first update uses ``base / (W + 1)`` and the warmup reaches ``base`` at ``k = W``
  -> IR linear 0 -> 1 on ``[0, W + 1)`` with ``origin = -1``.
* CosineAnnealing with ``C > 0`` is a different curve ("Megatron" cosine, ``_linear_warmup_with_cosine_annealing``):
  ``base * k / W`` for ``k <= W`` (update 0 at LR 0), a cosine over ``D`` steps, then ``min_lr``.
* After ``max_steps`` every Warmup*/Hold*/Cosine class returns ``min_lr`` (NoamAnnealing ignores max_steps).
* SquareAnnealing, SquareRootAnnealing, NoamHoldAnnealing and WarmupHoldAnnealOneMinusSquareRoot clamp:
  ``max(base * mult, min_lr)`` (the decay is of ``base`` and stops at the floor), unlike the others, which
  blend ``min_lr + (base - min_lr) * mult``. The IR has no clamp, so a clamped decay is the unclamped shape
  from ``base`` to 0 up to the first step where it falls below ``min_lr`` (found with the IR's own
  arithmetic, see :func:`_clamped`), then ``min_lr``: equal at every integer step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ...errors import LrplanError
from ...ir import ONE, ZERO, Curve, Level, Schedule, Segment
from ...ops import math_ops
from ...shapes import SHAPES


@dataclass(frozen=True)
class Effective:
    """The numbers a NeMo scheduler object holds (its state_dict attributes) and the class name."""

    name: str
    base: float
    max_steps: int | None
    warmup_steps: int = 0
    hold_steps: int = 0  # absolute end of the hold (NeMo's attribute), 0 when no hold was given
    constant_steps: int = 0
    min_lr: float = 0.0
    power: float = 1.0
    cycle: bool = False
    decay_rate: float = 0.5
    d_model: float | None = None
    normalize: float | None = None  # NoamAnnealing._normalize = d_model ** -0.5
    step_size: float = 1.0
    gamma: float = 0.1

    @property
    def decay_steps(self) -> int:
        return self.max_steps - (self.constant_steps + self.warmup_steps)


def _seg(kind, start, end, a, b=ZERO, params=(), *, origin=None, span=None, label=""):
    """A segment, or None when [start, end) is empty (phases that NeMo's conditions never reach)."""
    if end == math.inf:
        end = None
    if end is not None and not end > start:
        return None
    return Segment(kind, float(start), None if end is None else float(end), a, b, params,
                   origin=None if origin is None else float(origin), span=None if span is None else float(span),
                   label=label)


def _floor(e: Effective) -> Level:
    return Level(float(e.min_lr), absolute=True)


def _warmup(e: Effective) -> tuple[list, int]:
    """NeMo's (k + 1) / (W + 1) warmup on updates 0..W, and the first update after it."""
    W = e.warmup_steps
    if W <= 0:
        return [], 0
    return [_seg("linear", 0, W + 1, ZERO, ONE, origin=-1, span=W + 1, label="warmup")], W + 1


def _value(kind: str, params: dict, tau: float, span: float, a: float) -> float:
    """One step of an IR shape from ``a`` towards 0, with the scalar arithmetic lrplan evaluates it with."""
    return float(SHAPES[kind].formula(a, 0.0, float(tau), float(span), params, math_ops))


def _clamped(kind: str, params: tuple, lo: int, hi: int, origin: float, span: float, e: Effective,
             label: str = "decay") -> list:
    """``max(base * mult, min_lr)`` on [lo, hi): the shape from base to 0, then min_lr from the first step
    where it falls below min_lr (mult never rises, so a bisection over the integer steps finds it)."""
    if hi <= lo:
        return []
    P = dict(SHAPES[kind].defaults() | dict(params))
    below = [k for k in (hi - 1,) if _value(kind, P, k - origin, span, e.base) < e.min_lr]
    cut = hi
    if below:
        a, b = lo, hi - 1  # invariant: the shape is below min_lr at b
        while a < b:
            mid = (a + b) // 2
            if _value(kind, P, mid - origin, span, e.base) < e.min_lr:
                b = mid
            else:
                a = mid + 1
        cut = a
    out = [_seg(kind, lo, cut, ONE, ZERO, params, origin=origin, span=span, label=label),
           _seg("constant", cut, hi, _floor(e), label="floor")]
    return [s for s in out if s is not None]


# ---- family A: WarmupPolicy and its subclasses ---------------------------------------------------


def _main_range(e: Effective, first: int) -> tuple[int, int]:
    """Updates where ``_get_lr`` runs: after the warmup, up to max_steps inclusive."""
    return first, (e.max_steps + 1 if e.max_steps is not None else math.inf)


def _family_a(e: Effective) -> list:
    segs, first = _warmup(e)
    lo, hi = _main_range(e, first)
    W, M = e.warmup_steps, e.max_steps
    name = e.name
    if name == "WarmupPolicy":
        main = [_seg("constant", lo, None if hi == math.inf else hi, ONE, label="constant")]
    elif name == "WarmupAnnealing":
        # min_lr + (1 - (k - W) / (M - W)) * (base - min_lr): min_lr at k = M
        main = [_seg("linear", lo, M, ONE, _floor(e), origin=W, span=M - W, label="decay"),
                _seg("constant", max(lo, M), hi, _floor(e), label="floor")]
    elif name == "SquareAnnealing":
        main = _clamped("poly", (("power", 2.0),), lo, hi, W, M - W, e)
    elif name == "SquareRootAnnealing":
        # ((M - k) / M) ** 0.5: counted from step 0, not from the end of the warmup
        main = _clamped("poly", (("power", 0.5),), lo, hi, 0, M, e)
    elif name == "InverseSquareRootAnnealing":
        # base / ((k + 1) / (W + 1)) ** 0.5, no floor before max_steps
        main = [_seg("invsqrt", lo, hi, ONE, ZERO, (("timescale", float(W + 1)),), origin=W, label="decay")]
    elif name == "PolynomialDecayAnnealing":
        # (base - min_lr) * (1 - (k - W) / (M - W)) ** power + min_lr (cycle changes nothing before max_steps)
        main = [_seg("poly", lo, M, ONE, _floor(e), (("power", float(e.power)),), origin=W, span=M - W,
                     label="decay"),
                _seg("constant", max(lo, M), hi, _floor(e), label="floor")]
    else:  # pragma: no cover - the table routes only the classes above here
        raise AssertionError(name)
    return segs + [s for s in main if s is not None]


# ---- family B: WarmupHoldPolicy and its subclasses -----------------------------------------------


def _family_b(e: Effective) -> list:
    segs, first = _warmup(e)
    W, H, M = e.warmup_steps, e.hold_steps, e.max_steps
    if e.name == "NoamHoldAnnealing" and W <= 0:
        raise LrplanError("NoamHoldAnnealing needs warmup_steps > 0 (NeMo raises ValueError: 'Noam scheduler "
                          "cannot be used without warmup steps')", where="model.optim.sched.warmup_steps")
    hold = _seg("constant", first, H, ONE, label="hold")  # W <= k < H, even past max_steps
    if hold is not None:
        segs.append(hold)
    lo = max(first, H)
    if M is None:
        if e.name != "WarmupHoldPolicy":  # pragma: no cover - the reader always gives max_steps
            raise AssertionError(e.name)
        return segs + [_seg("constant", lo, None, ONE, label="constant")]
    hi = max(lo, M + 1)
    name = e.name
    if name == "WarmupHoldPolicy":
        main = [_seg("constant", lo, hi, ONE, label="constant")]
    elif name == "PolynomialHoldDecayAnnealing":
        main = _poly_hold(e, lo, hi)
    elif name == "WarmupHoldAnnealLinear":
        # base - (base - min_lr) * (k - H) / (M - H)
        _need_room(e, lo, hi)
        main = [_seg("linear", lo, M, ONE, _floor(e), origin=H, span=M - H, label="decay"),
                _seg("constant", max(lo, M), hi, _floor(e), label="floor")]
    elif name == "WarmupHoldAnnealOneMinusSquareRoot":
        _need_room(e, lo, hi)
        main = _clamped("1-sqrt", (), lo, hi, H, M - H, e)
    elif name == "NoamHoldAnnealing":
        main = _noam_hold(e, lo, hi)
    else:  # pragma: no cover
        raise AssertionError(name)
    return segs + [s for s in main if s is not None]


def _need_room(e: Effective, lo: int, hi: int) -> None:
    if hi > lo and e.max_steps - e.hold_steps == 0:
        raise LrplanError(f"{e.name} divides by max_steps - hold end = 0 at step {e.max_steps} (NeMo raises "
                          "ZeroDivisionError)", where="model.optim.sched.hold_steps")


def _poly_hold(e: Effective, lo: int, hi: int) -> list:
    """_poly_decay(base, step=k - H, decay_steps=M - max(W, H), power, min_lr, cycle).

    With no hold given (H = 0) the decay counts k from 0, not from W: it drops to p = W / (M - W) right
    after the warmup and reaches min_lr at k = M - W. With ``cycle`` the decay length is multiplied by
    ceil((k - H) / D0), so the LR jumps back up every D0 steps (only reachable when H = 0).
    """
    W, H, M = e.warmup_steps, e.hold_steps, e.max_steps
    D0 = M - max(W, H)
    if hi <= lo:
        return []
    if D0 <= 0:
        raise LrplanError(f"PolynomialHoldDecayAnnealing divides by max_steps - max(warmup, hold) = {D0} (NeMo "
                          "raises ZeroDivisionError)", where="model.optim.sched.max_steps")
    power = (("power", float(e.power)),)
    if not e.cycle:
        return [_seg("poly", lo, max(lo, min(hi, H + D0)), ONE, _floor(e), power, origin=H, span=D0, label="decay"),
                _seg("constant", max(lo, H + D0), hi, _floor(e), label="floor")]
    out = []
    k = lo
    while k < hi:  # one piece per multiplier m = ceil((k - H) / D0) (1 at k = H)
        s = k - H
        m = 1 if s == 0 else -(-s // D0)
        end = min(hi, H + m * D0 + 1)
        out.append(_seg("poly", k, end, ONE, _floor(e), power, origin=H, span=m * D0,
                        label="decay" if m == 1 else f"cycle{m}"))
        k = end
    return out


def _noam_hold(e: Effective, lo: int, hi: int) -> list:
    """base * max(1, W ** r) / max(1, (k - hs) ** r), floored at min_lr; hs = H - W (0 without a hold).

    r = 0.5 is the IR's invsqrt with timescale W, r = 1 its inverse-time decay; other decay rates have
    no IR shape (a power law)."""
    W, H = e.warmup_steps, e.hold_steps
    hs = H - W if H > 0 else 0
    origin = hs + W
    if e.decay_rate == 0.5:
        return [_seg("invsqrt", lo, hi, ONE, _floor(e), (("timescale", float(W)),), origin=origin, label="decay")]
    if e.decay_rate == 1.0:
        return _clamped("inverse-time", (("rate", 1.0), ("every", float(W))), lo, hi, origin, 1.0, e)
    raise LrplanError(f"NoamHoldAnnealing with decay_rate {e.decay_rate:g}: lrplan has the decay rates 0.5 "
                      "(inverse square root) and 1.0 (inverse time) only", where="model.optim.sched.decay_rate",
                      hint="decay_rate 0.5 is NeMo's default; 1.0 is Squeezeformer's")


# ---- family C: CosineAnnealing -----------------------------------------------------------------

ULP_SLACK = 4e-16  # the cosine factor's difference (relative to lr - min_lr) from one ulp in its argument


def _cosine_order_matters(e: Effective) -> bool:
    """Can the argument order change the cosine by more than lrplan's tolerance (1e-12 rel, 1e-18 abs)?"""
    return (e.base - e.min_lr) * ULP_SLACK > max(1e-12 * e.min_lr, 1e-18)


# ---- CosineAnnealing


def _cosine(e: Effective) -> list:
    W, C, M = e.warmup_steps, e.constant_steps, e.max_steps
    if C <= 0:
        segs, first = _warmup(e)
        if first <= M and e.base < e.min_lr:
            raise LrplanError(f"model.optim.lr {e.base:g} is below min_lr {e.min_lr:g}: NeMo's CosineAnnealing "
                              "raises ValueError at the first step after warmup", where="model.optim.sched.min_lr")
        # (base - min_lr) * 0.5 * (1 + cos(pi * (k - W) / (M - W))) + min_lr: min_lr at k = M
        if _cosine_order_matters(e):
            # NeMo's _cosine_annealing computes pi * s / N, the IR's cosine pi * (s / N): one ulp apart in the
            # argument, which 1 + cos turns into ~1e-10 relative near the end when min_lr is small against lr.
            # The IR's one-cycle 'restarts' piece computes pi * t / T in NeMo's order (same values, bit for bit).
            main = _seg("restarts", first, M, ONE, _floor(e), (("cycle", float(M - W)),), origin=W, label="decay")
        else:
            main = _seg("cosine", first, M, ONE, _floor(e), origin=W, span=M - W, label="decay")
        return segs + ([main] if main is not None else [])
    # constant_steps > 0: _linear_warmup_with_cosine_annealing with max_lr = base_lrs[0]
    if not e.base > e.min_lr:
        raise LrplanError(f"model.optim.lr {e.base:g} must be above min_lr {e.min_lr:g} with constant_steps > 0 "
                          "(NeMo asserts max_lr > min_lr)", where="model.optim.sched.min_lr")
    D = e.decay_steps
    segs = []
    if W > 0:  # base * k / W for k <= W: update 0 gets LR 0
        segs.append(_seg("linear", 0, W if D > 0 else W + 1, ZERO, ONE, span=W, label="warmup"))
    start = W if W > 0 else 0
    if D > 0:
        segs.append(_seg("cosine", start, W + D, ONE, _floor(e), origin=W, span=D, label="decay"))
    return segs


# ---- the rest ---------------------------------------------------------------------------------------


def _noam(e: Effective) -> list:
    """NoamAnnealing: base * d_model ** -0.5 * min(s ** -0.5, s * W ** -1.5) with s = max(1, k); floored at
    min_lr after the warmup; max_steps is ignored. Levels are absolute (``base`` is a scale, not the peak)."""
    W, norm = e.warmup_steps, e.normalize

    def value(k: int) -> float:  # NeMo's own expression, for the levels the IR pieces start from
        s = max(1, k)
        mult = norm * min(s ** (-0.5), s * (W ** (-1.5))) if W > 0 else norm * s ** (-0.5)
        out = e.base * mult
        return max(out, e.min_lr) if s > W else out

    if W > 0:
        peak = value(W)
        segs = [_seg("constant", 0, 1, Level(value(1), absolute=True), label="warmup"),
                _seg("linear", 1, W + 1, ZERO, Level(peak, absolute=True), span=W, origin=0, label="warmup")]
        segs.append(_seg("invsqrt", W + 1, None, Level(peak, absolute=True), _floor(e), (("timescale", float(W)),),
                         origin=W, label="decay"))
    else:
        first = value(0)
        segs = [_seg("constant", 0, 1, Level(first, absolute=True), label="warmup"),
                _seg("invsqrt", 1, None, Level(e.base * norm, absolute=True), _floor(e), (("timescale", 1.0),),
                     origin=1, label="decay")]  # (k - 1 + 1) / 1 = k
    return [s for s in segs if s is not None]


def _t5(e: Effective) -> list:
    """T5InverseSquareRootAnnealing ignores the optimizer LR: 1 / sqrt(C) up to C, then 1 / sqrt(k)."""
    C = e.constant_steps
    top = Level(1 / (C ** 0.5), absolute=True)
    segs = [_seg("constant", 0, C + 1, top, label="constant"),
            _seg("invsqrt", C + 1, e.max_steps + 1, top, ZERO, (("timescale", float(C)),), origin=C, label="decay")]
    return [s for s in segs if s is not None]


def _step_lr(e: Effective) -> list:
    return [Segment("exp", 0.0, None, ONE, params=(("rate", float(e.gamma)), ("every", float(e.step_size)),
                                                   ("staircase", True)), label="step")]


FAMILIES = {"warmup": _family_a, "hold": _family_b, "anneal_hold": _cosine}
OTHERS = {"NoamAnnealing": _noam, "T5InverseSquareRootAnnealing": _t5, "StepLR": _step_lr}
NO_TAIL = ("NoamAnnealing", "StepLR")  # NoamAnnealing ignores max_steps (NeMo PR #4472); StepLR is torch's


def _merged(segs: list) -> list:
    """Adjacent constants at the same level as one piece (a WarmupHoldPolicy's hold and what follows it)."""
    out = []
    for seg in segs:
        prev = out[-1] if out else None
        if prev is not None and prev.kind == seg.kind == "constant" and prev.a == seg.a:
            out[-1] = Segment("constant", prev.start, seg.end, prev.a, label=prev.label)
        else:
            out.append(seg)
    return out


def schedule(e: Effective, family: str) -> Schedule:
    """The IR of a NeMo scheduler object with these effective values."""
    segs = OTHERS[e.name](e) if e.name in OTHERS else FAMILIES[family](e)
    if not segs:  # every update is past the end (warmup and decay of length 0)
        segs = [Segment("constant", 0.0, None, _floor(e), label="floor")]
    peak = e.base
    if e.name in ("NoamAnnealing", "T5InverseSquareRootAnnealing"):
        peak = max(s.a.value for s in segs if s.a.absolute)  # base is a scale there: the peak is the top LR
    segs = _merged(segs)
    from ...evaluate import end_value

    # a floor piece from max_steps on that the curve's hold gives anyway (a decay reaching min_lr at max_steps)
    while len(segs) > 1 and e.max_steps is not None and segs[-1].kind == "constant" \
            and segs[-1].start >= e.max_steps and segs[-1].a.absolute and segs[-1].a.value == end_value(segs[-2], peak):
        segs = segs[:-1]
    last = segs[-1]
    if e.max_steps is not None and e.name not in NO_TAIL and last.end is not None:
        if end_value(last, peak) != e.min_lr:  # min_lr from the first step after max_steps
            segs.append(Segment("constant", last.end, None, _floor(e), label="floor"))
    total = float(e.max_steps) if e.max_steps else None
    if total is not None:  # NeMo runs a warmup longer than the run as it is; the IR calls that part a ramp
        segs = [replace(s, label="ramp") if s.label == "warmup" and (s.end is None or s.end > total) else s
                for s in segs]
    return Schedule(Curve(tuple(segs), "hold"), peak_lr=float(peak), total=total)
