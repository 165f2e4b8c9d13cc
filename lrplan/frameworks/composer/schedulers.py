"""Composer's schedulers (and llm-foundry's inverse square root) as tables, and each one's curve.

Every formula was read from ``composer/optim/scheduler.py`` (mosaicml 0.32.1, byte-identical to the
0.33.0.dev0 snapshot) and ``llmfoundry/optim/scheduler.py`` (llm-foundry 0.22.0). A scheduler is a
function ``alpha(state)`` of the trainer's timestamp ``t`` (batches, samples or tokens seen); the LR is
``initial_lr * alpha``. The curves built here are in that *t-space*; the reader (read.py) then applies
Composer's one-batch lag (update ``k`` uses ``alpha`` at ``t = max(k - 1, 0)``).

| class | alpha(t) | IR piece(s) in t-space |
|---|---|---|
| warmup part of every ``*WithWarmup`` | ``alpha_i * min(1, t / W)`` for ``t < W`` | linear 0 -> alpha_i on [0, W) |
| LinearWithWarmupScheduler | ``alpha_i + min(1, (t-W)/(T-W)) * (alpha_f - alpha_i)`` | linear on [W, T), then hold |
| CosineAnnealingWithWarmupScheduler | ``alpha_f + (1 - alpha_f) * (1 + cos(pi * frac)) / 2`` | cosine 1 -> alpha_f on [W, T) |
| PolynomialWithWarmupScheduler | ``alpha_f + (1 - frac) ** power * (1 - alpha_f)`` | poly(power) on [W, T) |
| ConstantWithWarmupScheduler | a LinearWithWarmup with alpha_i = alpha_f = alpha: alpha after W, **forever** | constant |
| MultiStepWithWarmupScheduler | ``gamma ** #{m <= t}`` (milestones counted from t = 0) | multistep, origin 0 |
| StepScheduler | ``gamma ** int(t / step_size)`` | exp(staircase) |
| MultiStepScheduler | ``gamma ** #{m <= t}`` | multistep |
| ConstantScheduler | ``alpha`` while ``t < t_max``, then **1.0** | constant, constant |
| LinearScheduler | ``alpha_i + min(1, t/T) * (alpha_f - alpha_i)`` | linear on [0, T) |
| ExponentialScheduler | ``gamma ** (t / decay_period)`` | exp |
| CosineAnnealingScheduler | ``_cosine_anneal(t / T, alpha_f)`` (x clamped to [0, 1]) | cosine on [0, T) |
| CosineAnnealingWarmRestartsScheduler | cosine restarting at t_0, then ``int(t_mult * len)`` later | restarts, or one cosine per cycle |
| PolynomialScheduler | ``alpha_f + (1 - min(1, t/T)) ** power * (1 - alpha_f)`` | poly on [0, T) |
| InverseSquareRootWithWarmupScheduler (llm-foundry) | ``alpha_f_decay + (1 - alpha_f_decay) / sqrt((t + t_scale - W) / t_scale)``, then a linear cooldown to alpha_f_cooldown over the last t_cooldown | invsqrt (alpha_f_decay = 0), linear |

Conversions (``_convert_time``): ``t_warmup`` is never scaled by ``scale_schedule_ratio`` (the warmup's own
span is, with ``scale_warmup: true``); every other time is. The warmup schedulers check that
``t_warmup`` and ``t_max`` have the same unit and that ``t_max >= max_duration`` (ValueError otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...errors import LrplanError
from ...ir import ONE, ZERO, Level, Segment
from .timestr import Time

REQUIRED = object()

# Registered names -> class. llm-foundry's registry (llmfoundry/optim/__init__.py, 0.22.0) and Composer's
# yahp-era registry (composer/optim/scheduler_hparams_registry.py at v0.11.0, removed in v0.12.0).
LLMFOUNDRY = {
    "constant_with_warmup": "ConstantWithWarmupScheduler",
    "cosine_with_warmup": "CosineAnnealingWithWarmupScheduler",
    "linear_decay_with_warmup": "LinearWithWarmupScheduler",
    "inv_sqrt_with_warmup": "InverseSquareRootWithWarmupScheduler",
}
YAHP = {
    "step": "StepScheduler",
    "multistep": "MultiStepScheduler",
    "exponential": "ExponentialScheduler",
    "linear_decay": "LinearScheduler",
    "cosine_decay": "CosineAnnealingScheduler",
    "cosine_warmrestart": "CosineAnnealingWarmRestartsScheduler",
    "constant": "ConstantScheduler",
    "polynomial": "PolynomialScheduler",
    "polynomial_with_warmup": "PolynomialWithWarmupScheduler",
    "multistep_with_warmup": "MultiStepWithWarmupScheduler",
    "constant_with_warmup": "ConstantWithWarmupScheduler",
    "linear_decay_with_warmup": "LinearWithWarmupScheduler",
    "cosine_decay_with_warmup": "CosineAnnealingWithWarmupScheduler",
}

# Constructor arguments (name, default) of each class, 0.32.1 signatures; REQUIRED has no default.
ARGS: dict[str, tuple[tuple[str, object], ...]] = {
    "StepScheduler": (("step_size", REQUIRED), ("gamma", 0.1)),
    "MultiStepScheduler": (("milestones", REQUIRED), ("gamma", 0.1)),
    "ConstantScheduler": (("alpha", 1.0), ("t_max", "1dur")),
    "LinearScheduler": (("alpha_i", 1.0), ("alpha_f", 0.0), ("t_max", "1dur")),
    "ExponentialScheduler": (("gamma", REQUIRED), ("decay_period", "1ep")),
    "CosineAnnealingScheduler": (("t_max", "1dur"), ("alpha_f", 0.0)),
    "CosineAnnealingWarmRestartsScheduler": (("t_0", REQUIRED), ("t_mult", 1.0), ("alpha_f", 0.0)),
    "PolynomialScheduler": (("power", REQUIRED), ("t_max", "1dur"), ("alpha_f", 0.0)),
    "MultiStepWithWarmupScheduler": (("t_warmup", REQUIRED), ("milestones", REQUIRED), ("gamma", 0.1),
                                     ("scale_warmup", False)),
    "ConstantWithWarmupScheduler": (("t_warmup", REQUIRED), ("alpha", 1.0), ("t_max", "1dur"),
                                    ("scale_warmup", False)),
    "LinearWithWarmupScheduler": (("t_warmup", REQUIRED), ("alpha_i", 1.0), ("alpha_f", 0.0), ("t_max", "1dur"),
                                  ("scale_warmup", False)),
    "CosineAnnealingWithWarmupScheduler": (("t_warmup", REQUIRED), ("t_max", "1dur"), ("alpha_f", 0.0),
                                           ("scale_warmup", False)),
    "PolynomialWithWarmupScheduler": (("t_warmup", REQUIRED), ("power", 2.0), ("t_max", "1dur"), ("alpha_f", 0.0),
                                      ("scale_warmup", False)),
    "InverseSquareRootWithWarmupScheduler": (("t_warmup", REQUIRED), ("t_scale", REQUIRED), ("t_cooldown", REQUIRED),
                                             ("t_max", "1dur"), ("alpha_f_decay", 0.0), ("alpha_f_cooldown", 0.0)),
}
TIME_ARGS = frozenset({"step_size", "t_max", "decay_period", "t_0", "t_warmup", "t_scale", "t_cooldown"})
BOOL_ARGS = frozenset({"scale_warmup"})
LIST_ARGS = frozenset({"milestones"})


@dataclass(frozen=True)
class Span:
    """Positions on the IR axis of Composer times: batches, or samples / tokens under a constant batch."""

    unit: str  # ba | sp | tok
    per: dict  # unit -> axis positions per one of it

    def pos(self, t: Time) -> float:
        return float(t.value * self.per[t.unit])


class Args:
    """One scheduler's arguments: numbers parsed, times converted exactly as ``_convert_time`` would."""

    def __init__(self, cls: str, kw: dict, convert: Callable[[str, object, bool], Time],
                 parse: Callable[[str, object], Time], where: str, run_end: float) -> None:
        self.cls, self.kw, self._convert, self._parse, self.where = cls, kw, convert, parse, where
        self.run_end = run_end  # the run's length on the IR axis (warm restarts lay out their cycles to it)

    def raw_time(self, name: str) -> Time:
        return self._parse(name, self.kw[name])

    def time(self, name: str, *, ssr: bool = True) -> Time:
        return self._convert(name, self.kw[name], ssr)

    def __getitem__(self, name: str):
        return self.kw[name]

    def fail(self, message: str, name: str | None = None) -> LrplanError:
        return LrplanError(message, where=f"{self.where}.{name}" if name else self.where)


def _warmup(a: Args, sp: Span, target: Level) -> list[Segment]:
    """``LinearScheduler(alpha_i=0.0, alpha_f=target, t_max=t_warmup)`` for ``t < t_warmup``."""
    W = a.time("t_warmup", ssr=False)
    if W.value == 0:
        return []
    span = a.time("t_warmup", ssr=bool(a.kw.get("scale_warmup")))  # the warmup scheduler's own t_max
    if span.value == 0:
        raise a.fail("scale_warmup with this scale_schedule_ratio makes the warmup span 0 batches (Composer "
                     "divides by it)", "t_warmup")
    end, s = sp.pos(W), sp.pos(span)
    if s >= end:
        return [Segment("linear", 0.0, end, ZERO, target, span=s, label="warmup")]
    # min(1, t / span): the ramp reaches its target at the scaled span and holds it until t_warmup
    return [Segment("linear", 0.0, s, ZERO, target, label="warmup"), Segment("constant", s, end, target, label="warmup")]


def _checked_max(a: Args, sp: Span, clock) -> Time:
    """t_max, with the two checks the warmup schedulers make (units match t_warmup; t_max >= max_duration)."""
    W, T = a.time("t_warmup", ssr=False), a.time("t_max")
    if W.unit != T.unit:
        raise a.fail(f"t_warmup is in {W.unit} and t_max in {T.unit}: Composer requires the same units "
                     "(ValueError)", "t_max")
    md = clock.max_duration
    if md.unit == T.unit and T.value < md.value or (md.unit == "ep" and T.unit == "ba" and clock.dataloader_len
                                                     and T.value < md.value * clock.dataloader_len):
        raise a.fail(f"t_max {T} is shorter than max_duration {md}: Composer raises ValueError ('the LR schedule "
                     "will not be defined for the entire training duration')", "t_max")
    return T


def _after_warmup(a: Args, sp: Span, clock, make) -> list[Segment]:
    W = a.time("t_warmup", ssr=False)
    T = _checked_max(a, sp, clock)
    head = _warmup(a, sp, make.warmup_target)
    start = sp.pos(W)
    if T.value > W.value:
        body = make.decay(start, sp.pos(T))
    else:  # frac_of_total = 0.0 when t_max <= t_warmup: the first value for ever
        body = [Segment("constant", start, None, make.first, label="decay")]
    return head + body


class _Linear:
    def __init__(self, a: Args) -> None:
        self.warmup_target = self.first = Level(a["alpha_i"])
        self.end = Level(a["alpha_f"])

    def decay(self, start, end):
        kind = "constant" if self.first == self.end else "linear"
        return [Segment(kind, start, end, self.first, self.end, label="decay")]


class _Cosine:
    def __init__(self, a: Args) -> None:
        self.warmup_target = ONE
        self.first = Level(a["alpha_f"] + (1.0 - a["alpha_f"]) * (1 + 1.0) / 2)  # _cosine_anneal(0)
        self.end = Level(a["alpha_f"])

    def decay(self, start, end):
        return [Segment("cosine", start, end, ONE, self.end, label="decay")]


class _Poly:
    def __init__(self, a: Args) -> None:
        self.warmup_target = ONE
        self.first = Level(a["alpha_f"] + 1.0 * (1.0 - a["alpha_f"]))
        self.end, self.power = Level(a["alpha_f"]), a["power"]

    def decay(self, start, end):
        return [Segment("poly", start, end, ONE, self.end, (("power", self.power),), label="decay")]


def linear_with_warmup(a, sp, clock):
    return _after_warmup(a, sp, clock, _Linear(a))


def constant_with_warmup(a, sp, clock):
    a.kw["alpha_i"] = a.kw["alpha_f"] = a["alpha"]
    return _after_warmup(a, sp, clock, _Linear(a))


def cosine_with_warmup(a, sp, clock):
    return _after_warmup(a, sp, clock, _Cosine(a))


def poly_with_warmup(a, sp, clock):
    return _after_warmup(a, sp, clock, _Poly(a))


def _milestones(a: Args, sp: Span) -> tuple[float, ...]:
    ms = a["milestones"]
    if not isinstance(ms, list) or not ms:
        raise a.fail("milestones must be a non-empty list of time strings", "milestones")
    return tuple(sorted(sp.pos(a._convert("milestones", m, True)) for m in ms))


def _multistep_seg(a: Args, sp: Span, start: float) -> Segment:
    ms = _milestones(a, sp)
    return Segment("multistep", start, None, ONE, params=(("milestones", ms), ("gammas", (a["gamma"],) * len(ms))),
                   origin=0.0, label="steps")


def multistep_with_warmup(a, sp, clock):
    W = a.time("t_warmup", ssr=False)
    return _warmup(a, sp, ONE) + [_multistep_seg(a, sp, sp.pos(W))]


def multistep(a, sp, clock):
    return [_multistep_seg(a, sp, 0.0)]


def step(a, sp, clock):
    every = sp.pos(a.time("step_size"))
    if every <= 0:
        raise a.fail("step_size is 0: Composer divides by it", "step_size")
    return [Segment("exp", 0.0, None, ONE, params=(("rate", a["gamma"]), ("every", every), ("staircase", True)),
                    label="steps")]


def exponential(a, sp, clock):
    every = sp.pos(a.time("decay_period"))
    if every <= 0:
        raise a.fail("decay_period is 0: Composer divides by it", "decay_period")
    return [Segment("exp", 0.0, None, ONE, params=(("rate", a["gamma"]), ("every", every)), label="decay")]


def constant(a, sp, clock):
    T = sp.pos(a.time("t_max"))
    if T <= 0:
        return [Segment("constant", 0.0, None, ONE, label="after")]
    return [Segment("constant", 0.0, T, Level(a["alpha"]), label="constant"),
            Segment("constant", T, None, ONE, label="after")]  # ConstantScheduler returns 1.0 past t_max


def _need_span(a: Args, sp: Span, name: str) -> float:
    T = sp.pos(a.time(name))
    if T <= 0:
        raise a.fail(f"{name} is 0: Composer divides by it (ZeroDivisionError)", name)
    return T


def linear(a, sp, clock):
    T = _need_span(a, sp, "t_max")
    kind = "constant" if a["alpha_i"] == a["alpha_f"] else "linear"
    return [Segment(kind, 0.0, T, Level(a["alpha_i"]), Level(a["alpha_f"]), label="decay")]


def cosine(a, sp, clock):
    T = _need_span(a, sp, "t_max")
    return [Segment("cosine", 0.0, T, ONE, Level(a["alpha_f"]), label="decay")]


def polynomial(a, sp, clock):
    T = _need_span(a, sp, "t_max")
    return [Segment("poly", 0.0, T, ONE, Level(a["alpha_f"]), (("power", a["power"]),), label="decay")]


MAX_CYCLES = 10_000


def warm_restarts(a, sp, clock):
    run_end = a.run_end
    t0 = a.time("t_0")
    L0 = sp.pos(t0)
    if L0 <= 0:
        raise a.fail("t_0 is 0: Composer's warm restarts divide by it", "t_0")
    mult, floor = a["t_mult"], Level(a["alpha_f"])
    if mult == 1.0:
        return [Segment("restarts", 0.0, None, ONE, floor, (("cycle", L0),), label="cycles")]
    # Composer grows each interval as Time(int(t_mult * len)); the restarts shape's float running sum
    # is the same when every length is t_mult times the last exactly.
    lengths, total, length = [], 0, t0.value
    while total < run_end / sp.per[t0.unit] and len(lengths) < MAX_CYCLES:
        if length == 0:
            raise a.fail("the restart interval decays to 0 within the run (Composer raises ValueError)", "t_mult")
        lengths.append(length)
        total += length
        length = int(mult * length)
    if mult > 1.0 and all(int(mult * n) == mult * n for n in lengths):
        return [Segment("restarts", 0.0, None, ONE, floor, (("cycle", L0), ("mult", mult)), label="cycles")]
    if len(lengths) >= MAX_CYCLES:
        raise a.fail(f"more than {MAX_CYCLES} restart cycles of uneven length in the run", "t_mult")
    segs, start = [], 0.0
    for n in lengths:
        end = start + n * sp.per[t0.unit]
        segs.append(Segment("cosine", start, end, ONE, floor, label="cycle"))
        start = end
    return segs


def inv_sqrt_with_warmup(a, sp, clock):
    md = clock.max_duration
    for name in ("t_warmup", "t_scale", "t_cooldown"):
        t = a.raw_time(name)
        if t.unit == "dur":
            raise a.fail(f'{name} cannot be in units of "dur" (llm-foundry raises ValueError)', name)
        if t.unit != md.unit:
            raise a.fail(f"{name} is in {t.unit}, max_duration in {md.unit}: llm-foundry requires the unit of "
                         "max_duration (ValueError)", name)
    if a["alpha_f_decay"] < a["alpha_f_cooldown"]:
        raise a.fail("alpha_f_decay must be >= alpha_f_cooldown (llm-foundry raises ValueError)", "alpha_f_cooldown")
    if a["alpha_f_decay"] != 0.0:
        raise a.fail("lrplan reads inv_sqrt_with_warmup only with alpha_f_decay: 0 (an inverse square root that"
                     " decays towards a floor has no lrplan shape yet)", "alpha_f_decay")
    W, S, C, T = a.time("t_warmup", ssr=False), a.time("t_scale"), a.time("t_cooldown"), a.time("t_max")
    if S.value <= 0:
        raise a.fail("t_scale is 0: llm-foundry divides by it", "t_scale")
    head = _warmup(a, sp, ONE)
    w, s = sp.pos(W), sp.pos(S)
    cstart = max(T.value - C.value, W.value)  # t_cooldown_start, never before the warmup ends
    cpos = sp.pos(Time(cstart, T.unit))
    # alpha at the cooldown start: 1 / ((cstart + t_scale - t_warmup) / t_scale) ** 0.5 (llm-foundry's order)
    a_i = 1 / ((cstart + (S.value - W.value)) / S.value) ** 0.5
    body = []
    if cpos > w:
        body.append(Segment("invsqrt", w, cpos, ONE, ZERO, (("timescale", s),), label="decay"))
    if C.value == 0:
        body.append(Segment("constant", cpos, None, Level(a_i), label="floor"))
    else:
        body.append(Segment("linear", cpos, cpos + sp.pos(C), Level(a_i), Level(a["alpha_f_cooldown"]),
                            label="cooldown"))
    return head + body


BUILDERS = {
    "StepScheduler": step, "MultiStepScheduler": multistep, "ConstantScheduler": constant,
    "LinearScheduler": linear, "ExponentialScheduler": exponential, "CosineAnnealingScheduler": cosine,
    "CosineAnnealingWarmRestartsScheduler": warm_restarts, "PolynomialScheduler": polynomial,
    "MultiStepWithWarmupScheduler": multistep_with_warmup, "ConstantWithWarmupScheduler": constant_with_warmup,
    "LinearWithWarmupScheduler": linear_with_warmup, "CosineAnnealingWithWarmupScheduler": cosine_with_warmup,
    "PolynomialWithWarmupScheduler": poly_with_warmup, "InverseSquareRootWithWarmupScheduler": inv_sqrt_with_warmup,
}
