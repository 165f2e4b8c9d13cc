"""HF ``lr_scheduler_type`` + kwargs + (W, T, learning_rate) -> lrplan IR curve, as tables and small builders.

Every formula below was read from transformers 5.23.0 ``src/transformers/optimization.py`` (the lambdas
are unchanged since 4.57; WSD warmup/decay types since 4.49; ``cosine_warmup_with_min_lr`` since 4.54).
HF's LambdaLR value for update ``k`` is ``learning_rate * lambda(k)`` (the Trainer steps the scheduler
after each optimizer step), which is exactly lrplan's step convention: no index shift.
"""

from __future__ import annotations

from ...errors import LrplanError, did_you_mean
from ...values import number
from ...ir import ONE, ZERO, Curve, Level, Schedule, Segment

# kwargs each builder accepts through ``lr_scheduler_kwargs`` (besides the Trainer's own W and T).
# None: get_scheduler ignores every kwarg for that type (5.23.0 ``get_scheduler`` dispatch).
KWARGS: dict[str, frozenset[str] | None] = {
    "linear": frozenset(),
    "cosine": frozenset({"num_cycles"}),
    "cosine_with_restarts": frozenset({"num_cycles"}),
    "polynomial": frozenset({"lr_end", "power"}),
    "constant": None,
    "constant_with_warmup": None,
    "inverse_sqrt": frozenset({"timescale"}),  # forwarded only since 5.4 (ignored before)
    "cosine_with_min_lr": frozenset({"num_cycles", "min_lr", "min_lr_rate"}),
    "cosine_warmup_with_min_lr": frozenset({"num_cycles", "min_lr", "min_lr_rate", "warmup_lr_rate"}),
    "warmup_stable_decay": frozenset(
        {"num_decay_steps", "num_stable_steps", "warmup_type", "decay_type", "min_lr_ratio", "num_cycles"}
    ),
}
# Stepped with an eval metric in Trainer._evaluate, not with the step count: no function of k exists.
METRIC_DRIVEN = ("reduce_lr_on_plateau", "greedy")
TYPES = tuple(KWARGS) + METRIC_DRIVEN
# Types whose curve needs num_training_steps.
NEEDS_TOTAL = frozenset({"linear", "cosine", "cosine_with_restarts", "polynomial", "cosine_with_min_lr",
                         "cosine_warmup_with_min_lr"})
WSD_SHAPES = {"linear": "linear", "cosine": "cosine", "1-sqrt": "1-sqrt"}  # HF name -> lrplan shape


def _num(kw: dict, name: str, default, *, where: str, positive: bool = False, allow_none: bool = False):
    v = kw.get(name, default)
    if v is None and allow_none:
        return None
    # YAML 1.1 reads 1e-7 (no dot) as a string; an int stays an int (HF compares num_cycles == 1)
    out = number(v, f"{where}.{name}", positive=positive, text=True)
    return int(out) if isinstance(v, int) and not isinstance(v, bool) else out


def _warmup(W: int) -> list[Segment]:
    # k / max(1, W) for k < W: a linear rise from 0 that never reaches 1 inside the warmup.
    return [Segment("linear", 0, W, ZERO, ONE, label="warmup")] if W > 0 else []


def _need_decay_room(name: str, W: int, T: int) -> None:
    if W >= T:
        raise LrplanError(f"warmup ({W} steps) is not shorter than the run ({T} steps) for {name!r}",
                          where="warmup_steps", hint="lower warmup_steps/warmup_ratio or raise max_steps")


def _floor(kw: dict, lr: float, where: str) -> Level:
    """cosine_with_min_lr floors: exactly one of min_lr (absolute) / min_lr_rate (ratio)."""
    if kw.get("min_lr") is not None and kw.get("min_lr_rate") is not None:
        raise LrplanError("only one of min_lr or min_lr_rate may be set (HF raises ValueError)", where=where)
    if kw.get("min_lr") is not None:
        v = _num(kw, "min_lr", None, where=where)
        if v > lr:
            raise LrplanError(f"min_lr {v!r} is above learning_rate {lr!r}", where=where)
        return Level(float(v), absolute=True)
    if kw.get("min_lr_rate") is None:
        raise LrplanError("one of min_lr or min_lr_rate must be set (HF raises ValueError)", where=where,
                          hint='e.g. lr_scheduler_kwargs: {"min_lr_rate": 0.1}')
    v = _num(kw, "min_lr_rate", None, where=where)
    if v > 1:
        raise LrplanError(f"min_lr_rate {v!r} puts the floor above the peak", where=where)
    return Level(float(v))


def _linear(kw, W, T, lr, where):
    _need_decay_room("linear", W, T)
    return _warmup(W) + [Segment("linear", W, T, ONE, ZERO, label="decay")], "hold"


def _cosine(kw, W, T, lr, where):
    _need_decay_room("cosine", W, T)
    c = _num(kw, "num_cycles", 0.5, where=where, positive=True)
    # HF does not clamp after T: the cosine keeps turning ("continue").
    return _warmup(W) + [Segment("cosine", W, T, ONE, ZERO, (("cycles", c),), label="decay")], "continue"


def _restarts(kw, W, T, lr, where):
    _need_decay_room("cosine_with_restarts", W, T)
    c = _num(kw, "num_cycles", 1, where=where, positive=True)
    seg = Segment("restarts", W, T, ONE, ZERO, (("cycle", (T - W) / c),), label="decay")
    return _warmup(W) + [seg], "hold"  # progress >= 1 -> 0, the restarts end value


def _polynomial(kw, W, T, lr, where):
    _need_decay_room("polynomial", W, T)
    lr_end = _num(kw, "lr_end", 1e-7, where=where)
    power = _num(kw, "power", 1.0, where=where, positive=True)
    if not lr > lr_end:
        raise LrplanError(f"lr_end ({lr_end}) must be smaller than learning_rate ({lr}) (HF raises ValueError)",
                          where=where)
    seg = Segment("poly", W, T, ONE, Level(float(lr_end), absolute=True), (("power", power),), label="decay")
    return _warmup(W) + [seg], "hold"


def _constant(kw, W, T, lr, where):
    return [Segment("constant", 0, None, ONE, label="constant")], "hold"  # warmup ignored by HF


def _constant_with_warmup(kw, W, T, lr, where):
    return _warmup(W) + [Segment("constant", W, None, ONE, label="constant")], "hold"


def _inverse_sqrt(kw, W, T, lr, where):
    ts = _num(kw, "timescale", None, where=where, positive=True, allow_none=True)
    if ts is None:
        ts = W or 10_000
    seg = Segment("invsqrt", W, None, ONE, ZERO, (("timescale", ts),), label="decay")
    return _warmup(W) + [seg], "hold"


def _cosine_min_lr(kw, W, T, lr, where):
    _need_decay_room("cosine_with_min_lr", W, T)
    c = _num(kw, "num_cycles", 0.5, where=where, positive=True)
    seg = Segment("cosine", W, T, ONE, _floor(kw, lr, where), (("cycles", c),), label="decay")
    return _warmup(W) + [seg], "continue"


def _cosine_warmup_min_lr(kw, W, T, lr, where):
    _need_decay_room("cosine_warmup_with_min_lr", W, T)
    c = _num(kw, "num_cycles", 0.5, where=where, positive=True)
    r0 = _num(kw, "warmup_lr_rate", None, where=where, allow_none=True)
    segs = []
    if W > 0 and r0 is None:  # (k + 1) / max(1, W): the first update is not 0
        segs.append(Segment("linear", 0, W, ZERO, ONE, origin=-1, span=W, label="warmup"))
    elif W > 0:  # r0 + (1 - r0) * k / max(1, W - 1): reaches 1 at k = W - 1
        segs.append(Segment("linear", 0, W, Level(float(r0)), ONE, span=max(1, W - 1), label="warmup"))
    # progress (k - W + 1) / max(1, T - W): the floor is used by the last update k = T - 1.
    segs.append(Segment("cosine", W, T, ONE, _floor(kw, lr, where), (("cycles", c),), origin=W - 1,
                        span=max(1, T - W), label="decay"))
    return segs, "continue"


def _wsd(kw, W, T, lr, where):
    if kw.get("num_decay_steps") is None:
        raise LrplanError("warmup_stable_decay needs num_decay_steps in lr_scheduler_kwargs", where=where,
                          hint='e.g. lr_scheduler_kwargs: {"num_decay_steps": 1000}')
    D = int(_num(kw, "num_decay_steps", None, where=where))
    m = float(_num(kw, "min_lr_ratio", 0.0, where=where))
    c = _num(kw, "num_cycles", 0.5, where=where, positive=True)
    wt, dt = kw.get("warmup_type", "linear"), kw.get("decay_type", "cosine")
    for name, v in (("warmup_type", wt), ("decay_type", dt)):
        if v not in WSD_SHAPES:
            raise LrplanError(f"unknown {name} {v!r} (HF raises ValueError)", where=where,
                              hint=did_you_mean(str(v), WSD_SHAPES, noun=name))
    if kw.get("num_stable_steps") is not None:  # wins over num_training_steps (HF warns)
        S = int(_num(kw, "num_stable_steps", None, where=where))
    elif T is None:
        raise _missing_total("warmup_stable_decay without num_stable_steps")
    else:
        S = T - W - D
    segs = []
    if W > 0:
        segs.append(Segment(WSD_SHAPES[wt], 0, W, Level(m), ONE, label="warmup"))
    if S > 0:
        segs.append(Segment("constant", W, W + S, ONE, label="stable"))
    start, end = max(W, W + S), W + S + D
    if end > start:  # a negative S starts the decay part-way through (progress uses W + S)
        params = (("cycles", c),) if dt == "cosine" else ()
        segs.append(Segment(WSD_SHAPES[dt], start, end, ONE, Level(m), params, origin=W + S, span=max(1, D),
                            label="decay"))
    segs.append(Segment("constant", segs[-1].end if segs else 0, None, Level(m), label="floor"))
    return segs, "hold"


BUILDERS = {
    "linear": _linear, "cosine": _cosine, "cosine_with_restarts": _restarts, "polynomial": _polynomial,
    "constant": _constant, "constant_with_warmup": _constant_with_warmup, "inverse_sqrt": _inverse_sqrt,
    "cosine_with_min_lr": _cosine_min_lr, "cosine_warmup_with_min_lr": _cosine_warmup_min_lr,
    "warmup_stable_decay": _wsd,
}


def _missing_total(what: str) -> LrplanError:
    return LrplanError(f"{what} needs the run length, and the config has no max_steps", where="max_steps",
                       hint="pass --steps N, or --set dataset_size=N [world_size=W] to use num_train_epochs")


def build(kind: str, kwargs: dict, W: int, T: int | None, lr: float) -> Schedule:
    """The IR of ``get_scheduler(kind, ...)`` with W warmup steps, T training steps and peak ``lr``."""
    where = "lr_scheduler_kwargs"
    if kind in METRIC_DRIVEN:
        raise LrplanError(f"lr_scheduler_type {kind!r} is driven by an eval metric, not by the step count, "
                          "so its LR cannot be computed from the config", where="lr_scheduler_type",
                          hint="use a step-based type (cosine, linear, warmup_stable_decay, ...)")
    if kind not in BUILDERS:
        raise LrplanError(f"unknown lr_scheduler_type {kind!r}", where="lr_scheduler_type",
                          hint=did_you_mean(str(kind), TYPES, noun="type"))
    allowed = KWARGS[kind]
    if allowed is not None:
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise LrplanError(f"{kind!r} takes no keyword {unknown[0]!r} (HF raises TypeError)", where=where,
                              hint="accepted: " + (", ".join(sorted(allowed)) or "none"))
    if T is None and kind in NEEDS_TOTAL:
        raise _missing_total(f"lr_scheduler_type {kind!r}")
    segs, after = BUILDERS[kind](kwargs, W, T, lr, where)
    if segs[-1].end is None:
        after = "hold"
    return Schedule(Curve(tuple(segs), after), peak_lr=float(lr), total=None if T is None else float(T))
