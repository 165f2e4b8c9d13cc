"""DeepSpeed scheduler classes as IR curves, with the engine's one-step lag built in.

Facts from ``deepspeed/runtime/lr_schedules.py`` and ``deepspeed/runtime/engine.py`` (DeepSpeed 0.19.8):

* Each class keeps ``last_batch_iteration`` (j), starting at -1. Its constructor writes a value into
  the optimizer (``warmup_min_lr``, ``0.0`` for WarmupCosineLR, ``cycle_min_lr``,
  ``lr_range_test_min_lr``), and the engine calls ``step()`` *after* each optimizer update
  (``engine._take_model_step``). So update k (our step convention) uses f(k - 1), with f(-1) the
  constructor value. Every builder below therefore returns a 1-step constant segment ``[0, 1)``
  holding the constructor value, then the class curve shifted right by one, expressed with
  ``Segment.origin`` so that each formula sees the class's own j-based progress.
* Warmup classes use W' = max(2, warmup_num_steps). Gain for 0 <= j < W': ``log``: ln(j+1) / ln(W')
  (the default); ``linear``: j / W'. For j >= W' the gain is 1.
* Values are computed the way DeepSpeed computes them (``min + delta * gamma``), so levels that
  DeepSpeed reaches through arithmetic (e.g. ``min + (max - min) * 1.0``) are built the same way.

Builders take validated plain numbers (see :mod:`lrplan.frameworks.deepspeed`) and return
``(lr_curve, peak_lr, momentum_curve_or_None)``.
"""

from __future__ import annotations

import math

from ...errors import LrplanError
from ...ir import ONE, Curve, Level, Segment

MAX_STAIR_SEGMENTS = 200_000  # staircase curves become one constant segment per stair


def _abs(v: float) -> Level:
    return Level(float(v), absolute=True)


def _ctor(value: Level) -> Segment:
    # The value the constructor writes: used by update 0 only (engine steps after the update).
    return Segment("constant", 0.0, 1.0, value, label="init")


def _warmup(a: Level, b: Level, w: int, warmup_type: str) -> Segment:
    # Updates 1..W' use j = k - 1 = 0..W'-1; the segment's tau = k - 1 is exactly j.
    kind = "log" if warmup_type == "log" else "linear"
    return Segment(kind, 1.0, float(w + 1), a, b, label="warmup")


def warmup_lr(min_lr: float, max_lr: float, w: int, warmup_type: str):
    """WarmupLR: min -> max over W' steps, then max for ever."""
    peak = max(min_lr, max_lr)
    top = min_lr + (max_lr - min_lr) * 1.0  # DeepSpeed: min + delta * gamma with gamma = 1.0
    segs = (
        _ctor(_abs(min_lr)),
        _warmup(_abs(min_lr), _abs(max_lr), w, warmup_type),
        Segment("constant", float(w + 1), None, _abs(top), label="stable"),
    )
    return Curve(segs), peak, None


def warmup_decay_lr(min_lr: float, max_lr: float, w: int, warmup_type: str, total: float):
    """WarmupDecayLR: warmup as WarmupLR, then gamma = max(0, (T - j) / max(1, T - W')) back to min."""
    peak = max(min_lr, max_lr)
    segs = [_ctor(_abs(min_lr)), _warmup(_abs(min_lr), _abs(max_lr), w, warmup_type)]
    span = max(1.0, total - w)
    end = w + 1 + span  # j = T  <=>  k = T + 1: gamma reaches 0
    if total - w >= 1:
        # tau = k - (W' + 1) = j - W'; (span - tau) / span = (T - j) / (T - W'), exact in floats.
        segs.append(Segment("linear", float(w + 1), float(end), _abs(max_lr), _abs(min_lr), label="decay"))
    else:
        # T <= W': the very first post-warmup step has gamma = max(0, T - j) = 0.
        segs.append(Segment("constant", float(w + 1), float(w + 2), _abs(min_lr + (max_lr - min_lr) * 0.0),
                            label="decay"))
    return Curve(tuple(segs)), peak, None


def warmup_cosine_lr(base_lr: float, wmr: float, cmr: float, w: int, warmup_type: str, total: float):
    """WarmupCosineLR (relative to the optimizer's lr): ratio wmr -> 1, then cosine to cos_min_ratio.

    Cosine progress p = min(1, (j - W' + 1) / max(1, T - W')) (clamped from 0.19.3), so with
    k = j + 1 the segment starts at k = W' + 1 with tau = k - W' (origin W') and span max(1, T - W').
    """
    span = max(1.0, total - w)
    segs = [_ctor(Level(0.0)), _warmup(Level(wmr), ONE, w, warmup_type)]
    if span > 1:
        segs.append(Segment("cosine", float(w + 1), float(w + span), ONE, Level(cmr),
                            origin=float(w), span=float(span), label="decay"))
    else:
        segs.append(Segment("constant", float(w + 1), float(w + 2), Level(cmr), label="decay"))
    return Curve(tuple(segs)), base_lr, None


def _cycle_scale(t: int, s1: float, s2: float, m1: int, m2: int) -> float:
    """OneCycle's scale factor at t = j + 1, stairs included (v0.19.4+), as DeepSpeed computes it."""
    total = s1 + s2
    ratio = s1 / total
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    if x <= ratio:
        scale, stairs = x / ratio, m1
    else:
        scale, stairs = (x - 1) / (ratio - 1), m2
    if stairs > 0:
        j = t % total
        pos = j * stairs / s1 if j <= s1 else (total - j) * stairs / s2
        scale = math.floor(pos) / stairs
    return scale


def _stair_segments(lo: float, hi: float, s1, s2, m1, m2, *, falling: bool) -> list[Segment]:
    """Staircase cycles as constant runs over k = 1 .. L (t = k)."""
    total = s1 + s2
    if total > MAX_STAIR_SEGMENTS:
        raise LrplanError(f"a OneCycle staircase over {total:g} steps is too long for lrplan to lay out",
                          where="scheduler.params.cycle_first_stair_count")
    segs: list[Segment] = []
    k, last = 1, int(math.ceil(total + 1))
    while k < last:
        scale = _cycle_scale(k, s1, s2, m1, m2)
        v = hi - (hi - lo) * scale if falling else lo + (hi - lo) * scale
        end = k + 1
        while end < last and _cycle_scale(end, s1, s2, m1, m2) == scale:
            end += 1
        segs.append(Segment("constant", float(k), float(min(end, total + 1)), _abs(v), label="cycle"))
        k = end
    return segs


def one_cycle(p: dict):
    """OneCycle: triangle min -> max -> min over s1 + s2 steps, then min / (1 + rate * d / every).

    Cycle phase j < L (L = s1 + s2) uses t = j + 1 = k, so the cyclic shape's tau is k itself
    (origin 0). Decay phase j >= L uses d = j - L + 1 = k - L (origin L).
    """
    s1, s2, L = p["s1"], p["s2"], p["s1"] + p["s2"]
    stairs = p["m1"] > 0 or p["m2"] > 0
    lr_segs = [_ctor(_abs(p["min_lr"]))] + _cycle(p["min_lr"], p["max_lr"], s1, s2, p, stairs, falling=False)
    if p["skip_lr_decay"]:
        lr_segs.append(Segment("constant", L + 1.0, None, _abs(p["min_lr"]), label="decay"))
    else:
        lr_segs.append(Segment("inverse-time", L + 1.0, None, _abs(p["min_lr"]), origin=float(L),
                               params=(("rate", p["lr_rate"]), ("every", p["every"])), label="decay"))
    lr = Curve(tuple(lr_segs))
    mom = None
    if p["momentum"]:
        m_segs = [_ctor(_abs(p["min_mom"]))] + _cycle(p["max_mom"], p["min_mom"], s1, s2, p, stairs, falling=True)
        if p["skip_mom_decay"]:
            m_segs.append(Segment("constant", L + 1.0, None, _abs(p["max_mom"]), label="decay"))
        else:
            # DeepSpeed: max_mom * (1 + rate * d / every). The IR has no "a * (1 + r p)" shape, so this is
            # the same line a + (b - a) * (tau / span) with b = 2a (or 0), span = every / |rate|: b - a is
            # then exact and the two agree to an ulp or two of the value.
            rate, top = p["mom_rate"], p["max_mom"]
            m_segs.append(Segment("linear", L + 1.0, None, _abs(top), _abs(2 * top if rate > 0 else 0.0),
                                  origin=float(L), span=float(p["every"]) / abs(rate), label="decay"))
        mom = Curve(tuple(m_segs))
    return lr, max(p["min_lr"], p["max_lr"]), mom


def _cycle(a: float, b: float, s1, s2, p, stairs: bool, *, falling: bool) -> list[Segment]:
    L = s1 + s2
    if stairs:
        lo, hi = (b, a) if falling else (a, b)
        return _stair_segments(lo, hi, s1, s2, p["m1"], p["m2"], falling=falling)
    if s2 == 0:
        raise LrplanError("cycle_second_step_size 0 (a cycle with no way down) is not supported by lrplan",
                          where="scheduler.params.cycle_second_step_size", hint="use a positive value")
    return [Segment("cyclic", 1.0, L + 1.0, _abs(a), _abs(b), origin=0.0,
                    params=(("up", s1), ("down", s2)), label="cycle")]


def lr_range_test(min_lr: float, step_size: int, rate: float, staircase: bool, total: float | None):
    """LRRangeTest: min * (1 + rate * I), I = (j + 1) / step_size = k / step_size (floored with staircase)."""
    if not staircase:
        # DeepSpeed: min * (1 + rate * k / size); here min + (min * (1 + rate) - min) * (k / size).
        top = min_lr * (1 + rate)
        segs = (_ctor(_abs(min_lr)),
                Segment("linear", 1.0, None, _abs(min_lr), _abs(top), origin=0.0, span=float(step_size),
                        label="range"))
        return Curve(segs), min_lr, None
    if total is None:
        raise LrplanError("a staircase LRRangeTest grows for ever: lrplan lays it out up to the run length",
                          where="scheduler.params.lr_range_test_staircase", hint="pass --steps N")
    count = int(math.ceil(total / step_size)) + 1
    if count > MAX_STAIR_SEGMENTS:
        raise LrplanError(f"{count} stairs is too many to lay out", where="scheduler.params.lr_range_test_step_size")
    segs = tuple(Segment("constant", float(i * step_size), float((i + 1) * step_size),
                         _abs(min_lr * (1 + rate * i)), label="range") for i in range(count))
    return Curve(segs), min_lr, None
