"""The shape table: every curve piece lrplan knows, as data plus one small formula each.

A segment covers positions ``x`` in ``[start, end)`` of the schedule axis. Its formula sees
``tau = x - origin`` (``origin`` defaults to ``start``) and ``span`` (defaults to ``end - start``),
so ``p = tau / span`` runs from 0 at the segment start to 1 at its end. ``a`` is the level the
segment starts from and ``b`` the level it goes to (or its floor/bound), both already resolved to
absolute numbers. Formulas are written once against :mod:`lrplan.ops`, so they run on numpy arrays
and on plain floats alike.

Where two frameworks compute the same curve with different arithmetic, the formula follows the
form that keeps small values accurate: decays are written ``b + (a - b) * c`` and rises
``a + (b - a) * g``, which is how Megatron-LM (``megatron/core/optimizer_param_scheduler.py``),
DeepSpeed (``deepspeed/runtime/lr_schedules.py``) and HF (``transformers/optimization.py``)
write them, so a decay to 0 or a rise from 0 is a single rounding away from each of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class ParamDef:
    """One parameter of a shape: its name, default and meaning."""

    name: str
    default: Any
    doc: str
    kind: str = "float"  # float | int | choice | floats
    choices: tuple[str, ...] = ()
    check: Callable[[Any], str | None] | None = None  # returns a problem or None


@dataclass(frozen=True)
class ShapeDef:
    """One row of the shape table."""

    name: str
    doc: str
    formula: Callable[..., Any]
    uses_to: bool  # does the shape go to / bound by a second level?
    params: tuple[ParamDef, ...] = ()
    periodic_inside: bool = False  # oscillates within one segment (cyclic, restarts)
    end_value: Callable[[float, float, dict], float] | None = None
    aliases: tuple[str, ...] = field(default=())

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _positive(v):
    return None if v > 0 else "must be > 0"


def _cycles(v):
    # cos(pi * cycles * 2 * p) must stay finite; no schedule has a billion periods
    return None if 0 < v <= 1e9 else "must be > 0 and at most 1e9"


def _nonneg(v):
    return None if v >= 0 else "must be >= 0"


def _at_least_one(v):
    return None if v >= 1 else "must be >= 1"


# ---- formulas -----------------------------------------------------------------------------------
# Signature: f(a, b, tau, span, P, ops) where P is the params dict.


def _constant(a, b, tau, span, P, ops):
    return ops.full_like(tau, a) if not isinstance(tau, float) else a


def _mix(a, b, wa, wb, ops):
    """a * wa + b * wb: exact at both ends (wa = 1 gives a, wb = 1 gives b), and for a decay to 0
    or a rise from 0 it is the single product frameworks compute (HF's ``base_lr * lambda``)."""
    return ops.mix(a, b, wa, wb)


def _linear(a, b, tau, span, P, ops):
    if P["form"] == "torch":
        # torch OneCycleLR._annealing_linear: (end - start) * pct + start, which misses `end` by an ulp
        return (b - a) * (tau / span) + a
    # Fractions as (span - tau) / span and tau / span: exact for integer positions, so a decay to 0
    # has no cancellation (HF's (T - k) / (T - W)).
    return _mix(a, b, (span - tau) / span, tau / span, ops)


def _cosine(a, b, tau, span, P, ops):
    p = tau / span
    cycles = P["cycles"]
    exponent = P["exponent"]
    if a >= b or cycles != 0.5:
        # HF: 0.5 * (1 + cos(pi * num_cycles * 2 * progress)); Megatron: 0.5 * (cos(pi * r) + 1).
        c = ops.half_one_plus(ops.cos(ops.pi * cycles * 2.0 * p))
        if exponent != 1.0:
            c = ops.power(c, exponent)
        return _mix(a, b, c, 1.0 - c, ops)
    # Rising half-cosine, in Megatron's weight-decay form 0.5 * (cos(pi * (1 - rho)) + 1).
    g = 0.5 * (ops.cos(ops.pi * (1.0 - p)) + 1.0)
    if exponent != 1.0:
        g = 1.0 - ops.power(1.0 - g, exponent)
    return _mix(a, b, 1.0 - g, g, ops)


def _poly(a, b, tau, span, P, ops):
    c = ops.power(ops.maximum(span - tau, 0.0) / span, P["power"])
    return _mix(a, b, c, 1.0 - c, ops)


def _one_minus_sqrt(a, b, tau, span, P, ops):
    p = tau / span
    if a >= b:
        s = ops.sqrt(p)
        return _mix(a, b, 1.0 - s, s, ops)
    # Rising form (HF warmup_type="1-sqrt"): 1 - sqrt(1 - x).
    g = 1.0 - ops.sqrt(1.0 - p)
    return _mix(a, b, 1.0 - g, g, ops)


def _exp_anneal(a, b, tau, span, P, ops):
    # Megatron WSD "exponential": 2 * 0.5 ** q - 1, which reaches 0 exactly at q = 1.
    h = ops.power(0.5, tau / span)
    return _mix(a, b, 2.0 * h - 1.0, 2.0 - 2.0 * h, ops)


def _log_ramp(a, b, tau, span, P, ops):
    # DeepSpeed's log warmup: log(k + 1) * (1 / log(W)); equals 1 at k = W - 1.
    g = ops.log(tau + 1.0) * (1.0 / math.log(span))
    return _mix(a, b, 1.0 - g, g, ops)


def _exponential(a, b, tau, span, P, ops):
    e = tau / P["every"]
    if P["staircase"]:
        e = ops.floor(e)
    v = a * ops.power(P["rate"], e)
    if P["bounded"]:
        v = ops.maximum(v, b) if P["rate"] < 1 else ops.minimum(v, b)
    return v


def _invsqrt(a, b, tau, span, P, ops):
    ts = P["timescale"]
    v = a * (1.0 / ops.sqrt((tau + ts) / ts))
    return ops.maximum(v, b)


def _multistep(a, b, tau, span, P, ops):
    levels = [a]
    for g in P["gammas"]:
        levels.append(levels[-1] * g)  # sequential products, as torch's MultiStepLR applies them
    idx = ops.searchsorted(list(P["milestones"]), tau)
    return ops.take(levels, idx)


def _restart_position(tau, P, ops):
    """Cycle index i, time into the cycle and cycle length, for SGDR-style restarts."""
    L0, mult = P["cycle"], P["mult"]
    if mult == 1.0:
        i = ops.floor(tau / L0)
        return i, tau - i * L0, L0 + 0.0 * tau
    # Cycle boundaries as a running sum (exact for integer lengths, like torch's T_i *= T_mult).
    bounds, length, total = [0.0], L0, 0.0
    while len(bounds) < 4096 and total < 1e16:
        total += length
        bounds.append(total)
        length *= mult
    i = ops.searchsorted(bounds, tau) - 1
    start = ops.take(bounds, i)
    lengths = [bounds[j + 1] - bounds[j] for j in range(len(bounds) - 1)] + [math.inf]
    return i + 0.0, tau - start, ops.take(lengths, i)


def _restarts(a, b, tau, span, P, ops):
    i, t_cur, t_i = _restart_position(tau, P, ops)
    peak = a * ops.power(P["decay"], i) if P["decay"] != 1.0 else a
    # timm: lr_min + 0.5 * (lr_max - lr_min) * (1 + cos(pi * t_cur / t_i))
    c = ops.half_one_plus(ops.cos(ops.pi * t_cur / t_i))
    return _mix(peak, b, c, 1.0 - c, ops)


def _cyclic(a, b, tau, span, P, ops):
    up, down = P["up"], P["down"]
    total = up + down
    ratio = up / total
    cycle = ops.floor(1.0 + tau / total)
    x = 1.0 + tau / total - cycle
    scale = ops.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
    mode = P["mode"]
    if mode == "triangular2":
        scale = scale * (1.0 / ops.power(2.0, cycle - 1.0))
    elif mode == "exp_range":
        scale = scale * ops.power(P["gamma"], tau)
    return _mix(a, b, 1.0 - scale, scale, ops)


def _inverse_time(a, b, tau, span, P, ops):
    return a / (1.0 + P["rate"] * (tau / P["every"]))


def _restarts_end(a, b, P):
    return b


SHAPES: dict[str, ShapeDef] = {
    s.name: s
    for s in (
        ShapeDef("constant", "hold level `a`", _constant, uses_to=False, aliases=("stable", "hold")),
        ShapeDef("linear", "straight line from `a` to `b`", _linear, uses_to=True,
                 params=(ParamDef("form", "mix", "arithmetic: mix (a * (1 - p) + b * p, exact at both ends) or "
                                  "torch (OneCycleLR's (b - a) * p + a)", kind="choice", choices=("mix", "torch")),)),
        ShapeDef(
            "cosine",
            "half cosine from `a` to `b` (optax exponent, HF num_cycles)",
            _cosine,
            uses_to=True,
            params=(
                ParamDef("cycles", 0.5, "cosine periods over the span (HF num_cycles)", check=_cycles),
                ParamDef("exponent", 1.0, "power applied to the cosine factor (optax)", check=_positive),
            ),
        ),
        ShapeDef(
            "poly",
            "(1 - p) ** power from `a` to `b`",
            _poly,
            uses_to=True,
            params=(ParamDef("power", 1.0, "polynomial power", check=_positive),),
        ),
        ShapeDef("1-sqrt", "1 - sqrt(p) cooldown (Hägele et al. 2024)", _one_minus_sqrt, uses_to=True,
                 aliases=("sqrt",)),
        ShapeDef("exp-anneal", "2 * 0.5 ** p - 1 (Megatron WSD exponential)", _exp_anneal, uses_to=True),
        ShapeDef("log", "log(tau + 1) / log(span) ramp (DeepSpeed log warmup)", _log_ramp, uses_to=True),
        ShapeDef(
            "exp",
            "a * rate ** (tau / every) (MiniCPM half-life, optax exponential_decay)",
            _exponential,
            uses_to=True,
            params=(
                ParamDef("rate", 0.5, "factor per `every` positions", check=_positive),
                ParamDef("every", 1.0, "positions per factor (the half-life when rate=0.5)", check=_positive),
                ParamDef("staircase", False, "apply the factor in whole steps", kind="bool"),
                ParamDef("bounded", False, "never go past `b`", kind="bool"),
            ),
        ),
        ShapeDef(
            "invsqrt",
            "a / sqrt((tau + timescale) / timescale), floored at `b`",
            _invsqrt,
            uses_to=True,
            params=(ParamDef("timescale", 1.0, "positions until the LR is a/sqrt(2)", check=_positive),),
        ),
        ShapeDef(
            "multistep",
            "a times each gamma from its milestone on (DeepSeek LLM, torch MultiStepLR)",
            _multistep,
            uses_to=False,
            params=(
                ParamDef("milestones", (), "positions from the segment start", kind="floats"),
                ParamDef("gammas", (), "factor applied at each milestone", kind="floats"),
            ),
        ),
        ShapeDef(
            "restarts",
            "cosine from a to b restarting every cycle (SGDR, timm, torch warm restarts)",
            _restarts,
            uses_to=True,
            params=(
                ParamDef("cycle", 1.0, "length of the first cycle", check=_positive),
                ParamDef("mult", 1.0, "cycle length multiplier", check=_at_least_one),
                ParamDef("decay", 1.0, "peak multiplier per cycle", check=_positive),
            ),
            periodic_inside=True,
            end_value=_restarts_end,
        ),
        ShapeDef(
            "cyclic",
            "triangle wave between a and b (torch CyclicLR, DeepSpeed OneCycle)",
            _cyclic,
            uses_to=True,
            params=(
                ParamDef("up", 1.0, "positions from a to b", check=_positive),
                ParamDef("down", 1.0, "positions from b back to a", check=_positive),
                ParamDef("mode", "triangular", "amplitude rule", kind="choice",
                         choices=("triangular", "triangular2", "exp_range")),
                ParamDef("gamma", 1.0, "exp_range amplitude factor per position", check=_positive),
            ),
            periodic_inside=True,
        ),
        ShapeDef(
            "inverse-time",
            "a / (1 + rate * tau / every) (DeepSpeed OneCycle decay)",
            _inverse_time,
            uses_to=False,
            params=(
                ParamDef("rate", 0.0, "decay rate", check=_nonneg),
                ParamDef("every", 1.0, "positions per unit of decay", check=_positive),
            ),
        ),
    )
}



def _whole_nonneg(v):
    return None if v >= 0 and v == int(v) else "must be a whole number >= 0"


def _swalr(a, b, tau, span, P, ops):
    """torch ``SWALR`` (torch 2.13.0 ``torch/optim/swa_utils.py:513-561``), closed form from its hand-over.

    ``n = floor(tau / every)`` SWALR steps have been taken (``every`` positions per ``swa_scheduler.step()``:
    1 when stepped per update, the updates of an epoch when stepped per epoch). The LR is
    ``swa_lr * f + L * (1 - f)`` with ``f = anneal_func(min(n / anneal_epochs, 1))`` (cos:
    ``(1 - cos(pi t)) / 2``, linear: ``t``), ``L = a`` (the LR SWALR took over) and ``b = swa_lr``;
    ``anneal_epochs = 0`` is ``swa_lr`` from the hand-over on (torch uses ``max(1, n)``, so even the
    constructor's own step lands on swa_lr). torch computes it recursively, "un-annealing" the previous
    LR at each step (``lrplan/frameworks/torch/swa.py`` models that recurrence); the two agree to a few
    ulp when nothing else writes the LR (docs/swa.md).
    """
    anneal = P["anneal"]
    if anneal == 0:
        return ops.full_like(tau, b) if not isinstance(tau, float) else b
    n = ops.floor(tau / P["every"])
    t = ops.maximum(ops.minimum(n / anneal, 1.0), 0.0)
    f = (1.0 - ops.cos(ops.pi * t)) / 2.0 if P["strategy"] == "cos" else t + 0.0
    return _mix(a, b, 1.0 - f, f, ops)


SHAPES["swa"] = ShapeDef(
    "swa",
    "torch SWALR: anneal from `a` to `b` (swa_lr) over `anneal` scheduler steps, then hold (Izmailov et al. 2018)",
    _swalr,
    uses_to=True,
    params=(
        ParamDef("anneal", 10.0, "SWALR anneal_epochs: scheduler steps from a to b", check=_whole_nonneg),
        ParamDef("every", 1.0, "positions per swa_scheduler.step() (1: per update; an epoch's updates)",
                 check=_positive),
        ParamDef("strategy", "cos", "SWALR anneal_strategy", kind="choice", choices=("cos", "linear")),
    ),
)



def _schedulefree(a, b, tau, span, P, ops):
    """The LR a Schedule-Free optimizer uses (schedulefree 1.4.1), with ``a`` its ``lr`` and ``tau`` = ``k``.

    ``plain`` (AdamWScheduleFree, SGDScheduleFree and their Reference/Closure forms,
    ``adamw_schedulefree.py:130-137``): ``lr * sched`` with ``sched = (k + 1) / warmup_steps`` while
    ``k < warmup_steps``, else 1. ``paper`` (AdamWScheduleFreePaper, ``adamw_schedulefree_paper.py:131-141``):
    that times ``sqrt(1 - beta2 ** (k + 1))``. ``radam`` (RAdamScheduleFree, ``radam_schedulefree.py:137-150``):
    no warmup_steps; ``lr`` times RAdam's rectification, 0 (``silent_sgd_phase``) or 1 while ``rho_t <= 4``.
    ``r`` and ``power`` (``weight_lr_power``) do not change the LR; they set the averaging weights
    ``c_{k+1}`` (lrplan/frameworks/schedulefree.py).
    """
    step = tau + 1.0
    if P["variant"] == "radam":
        beta2 = P["beta2"]
        b2t = ops.power(beta2, step)
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * b2t / (1.0 - b2t)
        q = (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        silent = 0.0 if P["silent"] else 1.0
        return a * ops.where(rho_t > 4.0, ops.power(ops.maximum(q, 0.0), 0.5), silent)
    w = P["warmup"]
    v = a * ops.where(tau < w, step / max(w, 1.0), 1.0)
    if P["variant"] == "paper":
        v = v * ops.sqrt(1.0 - ops.power(P["beta2"], step))
    return v


SHAPES["schedulefree"] = ShapeDef(
    "schedulefree",
    "a Schedule-Free optimizer's own LR: lr, with its built-in warmup (Defazio et al. 2024)",
    _schedulefree,
    uses_to=False,
    params=(
        ParamDef("warmup", 0.0, "warmup_steps: (k + 1) / warmup_steps ramp", check=_whole_nonneg),
        ParamDef("variant", "plain", "plain (AdamW/SGD ScheduleFree), paper (AdamWScheduleFreePaper), radam",
                 kind="choice", choices=("plain", "paper", "radam")),
        ParamDef("beta2", 0.999, "betas[1] (paper and radam only)", check=_positive),
        ParamDef("r", 0.0, "r: the averaging weight's (k + 1) ** r", check=_nonneg),
        ParamDef("power", 2.0, "weight_lr_power: the averaging weight's lr_max ** power", check=_nonneg),
        ParamDef("silent", True, "radam silent_sgd_phase (LR 0 while rho_t <= 4)", kind="bool"),
    ),
)


def _rex(a, b, tau, span, P, ops):
    """REX, the reflected exponential decay (Chen et al. 2021, arXiv:2107.04197), in the form axolotl 0.19.0
    ``utils/schedulers.py`` ``RexLR.get_lr`` computes: ``z = (span - tau) / span`` (1 at the start, 0 at the
    end) and ``b + (a - b) * z / (0.1 + 0.9 * z)``. It stays near ``a`` for long and falls steeply at the end:
    at p = 0.5 the factor is 0.5 / 0.55 = 0.909..., at p = 0.9 it is 0.1 / 0.19 = 0.526...
    """
    z = (span - tau) / span
    g = z / (0.1 + 0.9 * z)
    return _mix(a, b, g, 1.0 - g, ops)


def _quadratic(a, b, tau, span, P, ops):
    """A quadratic rise ``a + (b - a) * p ** 2`` (axolotl 0.19.0 ``get_cosine_schedule_with_quadratic_warmup``:
    ``(k / max(1, W)) ** 2`` for k < W): at p = 0.5 a quarter of the way, at p = 0.9 0.81 of it."""
    p = tau / span
    g = ops.power(p, 2.0)
    return _mix(a, b, 1.0 - g, g, ops)


SHAPES["rex"] = ShapeDef("rex", "REX decay z / (0.1 + 0.9 z), z = 1 - p, from `a` to `b` (axolotl RexLR)", _rex,
                         uses_to=True)
SHAPES["quadratic"] = ShapeDef("quadratic", "quadratic rise p ** 2 from `a` to `b` (axolotl lr_quadratic_warmup)",
                               _quadratic, uses_to=True)

ALIASES: dict[str, str] = {alias: s.name for s in SHAPES.values() for alias in s.aliases}


def shape(name: str) -> ShapeDef:
    return SHAPES[ALIASES.get(name, name)]
