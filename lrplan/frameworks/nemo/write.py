"""``convert --to nemo``: a ``trainer.max_steps`` + ``model.optim`` YAML fragment, one NeMo scheduler per candidate
(``--variant python``: the NeMo 2 recipe snippet of write_recipe.py, from the same candidates).

The IR's pieces suggest (scheduler name, arguments) pairs -- the warmup style says which family can
carry it ((k + 1) / (W + 1): WarmupPolicy, WarmupHoldPolicy and CosineAnnealing with constant_steps 0;
k / W: only CosineAnnealing with constant_steps > 0), the piece after the warmup (and a hold before it)
says which class -- and each is written out; the gate (lrplan.convert) reads it back with the NeMo reader
(the same tables, lrplan/frameworks/nemo/curves.py) and keeps the first that agrees at every step of the
run. ``max_steps`` goes into ``trainer.max_steps``: ModelPT.setup_optimization copies it into
``sched.max_steps`` (overriding anything written there), so it is both the run length and the schedule's.
``min_lr`` is always written (SquareAnnealing's default is 1e-5, the others' 0).
"""

from __future__ import annotations

from ...errors import InexpressibleError, LrplanError
from ...evaluate import end_value
from ...ir import ONE, ZERO, Schedule
from ...shapes import SHAPES
from ..base import Candidate

HINT = ("pass --approx for the nearest NeMo scheduler; for an exact one, register a LambdaLR (--to torch) with "
        "nemo.core.optim.lr_scheduler.register_scheduler")


def _whole(x) -> bool:
    return x is not None and float(x).is_integer()


def _level(lv, peak: float) -> float:
    return float(lv.resolve(peak))


def _warmup(segs) -> tuple[str, int]:
    """('nemo', W) for (k+1)/(W+1) on [0, W+1); ('megatron', W) for k/W; ('none', 0)."""
    s = segs[0] if segs else None
    if s is None or len(segs) < 2 or s.kind != "linear" or s.a != ZERO or s.b != ONE or not _whole(s.end):
        return "none", 0
    if s.tau0 == -1 and s.span_value == s.end:
        return "nemo", int(s.end) - 1
    if s.tau0 == 0 and _whole(s.span_value) and s.end in (s.span_value, s.span_value + 1):
        return "megatron", int(s.span_value)
    return "none", 0


def _parts(schedule: Schedule):
    """(warmup style, W, hold end H or None, the decay piece or None, blended floor, clamped floor): the shape
    NeMo would need. A blended decay goes to its own ``b``; a clamped one (``max(lr * mult, min_lr)``) goes to
    0 and is cut by the constant that follows it."""
    segs = list(schedule.lr.segments)
    peak = schedule.peak
    style, W = _warmup(segs)
    rest = segs[1:] if style != "none" else segs
    H = None
    if rest and rest[0].kind == "constant" and rest[0].a == ONE and len(rest) > 1 and rest[1].kind != "constant":
        H = rest[0].end
        rest = rest[1:]
    decay = next((s for s in rest if s.kind != "constant"), None)
    last = max(float(end_value(segs[-1], peak)), 0.0)
    blend = _level(decay.b, peak) if decay is not None and SHAPES[decay.kind].uses_to else last
    clamp = last
    if decay is not None:
        i = segs.index(decay)
        if i + 1 < len(segs) and segs[i + 1].kind == "constant":
            clamp = _level(segs[i + 1].a, peak)
    return style, W, H, decay, max(blend, 0.0), clamp


def candidates(schedule: Schedule, T: int, *, nearest: bool = False):
    """(scheduler name, sched arguments) guesses in the order they are tried; ``nearest``: also the forms that
    are only close (a k/W warmup read as NeMo's (k+1)/(W+1), a cosine cut one step short for constant_steps)."""
    style, W, H, d, m, mc = _parts(schedule)
    nemo_warm = style in ("nemo", "none") or nearest
    warm = {"warmup_steps": W}
    kind = d.kind if d is not None else "constant"
    params = dict(d.params) if d is not None else {}
    hold = {"hold_steps": int(H) - W} if H is not None and _whole(H) and H > W else {}
    if nemo_warm and kind == "constant":
        yield "WarmupPolicy", dict(warm)
    if nemo_warm and not hold:
        if kind == "cosine":
            yield "CosineAnnealing", {**warm, "min_lr": m}
        if kind == "linear":
            yield "WarmupAnnealing", {**warm, "min_lr": m}
        if kind in ("linear", "poly"):
            yield "PolynomialDecayAnnealing", {**warm, "min_lr": m, "power": params.get("power", 1.0)}
            if params.get("power") == 2.0:
                yield "SquareAnnealing", {**warm, "min_lr": mc}
            if params.get("power") == 0.5:
                yield "SquareRootAnnealing", {**warm, "min_lr": mc}
        if kind == "invsqrt":
            yield "InverseSquareRootAnnealing", {**warm, "min_lr": mc}
    if nemo_warm and hold:
        if kind in ("linear", "poly"):
            yield "PolynomialHoldDecayAnnealing", {**warm, **hold, "min_lr": m, "power": params.get("power", 1.0)}
        if kind == "linear":
            yield "WarmupHoldAnnealLinear", {**warm, **hold, "min_lr": m}
    if nemo_warm and kind == "1-sqrt":
        yield "WarmupHoldAnnealOneMinusSquareRoot", {**warm, **hold, "min_lr": mc}
    if nemo_warm and W > 0 and kind in ("invsqrt", "inverse-time"):
        rate = 0.5 if kind == "invsqrt" else 1.0
        yield "NoamHoldAnnealing", {**warm, **hold, "decay_rate": rate, "min_lr": m if kind == "invsqrt" else mc}
    if style in ("megatron", "none") and kind == "cosine" and _whole(d.span_value):
        C = T - W - int(d.span_value)
        if nearest:
            C = max(C, 1)
        if C >= 1:
            yield "CosineAnnealing", {"warmup_steps": W, "constant_steps": C, "min_lr": m}
    if style == "none" and kind == "exp" and params.get("staircase") and d.start == 0 and _whole(params["every"]):
        yield "StepLR", {"step_size": int(params["every"]), "gamma": params["rate"]}
    for special in (_noam(schedule), _t5(schedule)):
        if special is not None:
            yield special


def _t5(schedule: Schedule):
    """T5InverseSquareRootAnnealing: 1 / sqrt(C) on [0, C], then 1 / sqrt(k) (it ignores the optimizer LR)."""
    segs = schedule.lr.segments
    if len(segs) < 2 or segs[0].kind != "constant" or segs[1].kind != "invsqrt" or not _whole(segs[0].end):
        return None
    C = int(segs[0].end) - 1
    if C < 1 or segs[1].param("timescale") != C:
        return None
    return "T5InverseSquareRootAnnealing", {"constant_steps": C, "min_lr": max(float(end_value(segs[-1],
                                                                                          schedule.peak)), 0.0)}


def _noam(schedule: Schedule) -> dict | None:
    """NoamAnnealing with d_model 1 (lr = peak * sqrt(W)) when the curve starts with its one-step plateau."""
    segs = schedule.lr.segments
    if len(segs) < 2 or segs[0].kind != "constant" or segs[0].end != 1:
        return None
    last = segs[-1]
    if last.kind != "invsqrt":
        return None
    W = int(last.param("timescale")) if len(segs) > 2 else 0
    scale = _level(last.a, schedule.peak) * (W ** 0.5 if W else 1.0)
    return "NoamAnnealing", {"_lr": scale, "d_model": 1, "warmup_steps": W, "min_lr": _level(last.b, schedule.peak)}


def config(schedule: Schedule, name: str, args: dict, T: int) -> dict:
    args = dict(args)
    lr = args.pop("_lr", float(schedule.peak))
    sched = {"name": name, **{k: (int(v) if isinstance(v, float) and k.endswith("_steps") else v)
                              for k, v in args.items()}}
    return {"trainer": {"max_steps": int(T)}, "model": {"optim": {"lr": float(lr), "sched": sched}}}


def _text(cfg: dict, opts) -> str:
    import yaml

    words = " ".join(("Generated by lrplan", opts.version or "", "for NeMo from:", opts.source_label or "-"))
    head = ["# " + " ".join(words.split()),
            "# Merge into your NeMo model config: trainer.max_steps also becomes model.optim.sched.max_steps",
            "# (ModelPT.setup_optimization); keep your optimizer name and other settings."]
    return "\n".join(head) + "\n" + yaml.safe_dump(cfg, sort_keys=False)


def _check(schedule: Schedule) -> int:
    if schedule.peak_lr is None:
        raise LrplanError("NeMo needs model.optim.lr and the schedule has no peak LR", hint="pass --lr PEAK")
    if schedule.total is None:
        raise LrplanError("NeMo needs trainer.max_steps and the schedule has no run length", hint="pass --steps N")
    if schedule.axis.unit != "steps":
        raise InexpressibleError(f"NeMo's schedulers count optimizer steps; this schedule is on {schedule.axis.unit}",
                                 hint=HINT)
    if not _whole(schedule.total):
        raise InexpressibleError(f"trainer.max_steps must be a whole number of steps, the total is {schedule.total}",
                                 hint=HINT)
    if schedule.weight_decay or schedule.momentum or schedule.groups:
        raise InexpressibleError("NeMo's model.optim.sched has no weight-decay, momentum or LR-group curves",
                                 hint="drop them from the schedule")
    return int(schedule.total)


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "yaml", "python"):
        raise LrplanError(f"unknown nemo variant {opts.variant!r}",
                          hint="yaml (NeMo 1.x model config) or python (a NeMo 2.x recipe snippet)")
    T = _check(schedule)
    from .curves import schedule as build
    from .read import effective
    from .tables import SCHEDULERS

    seen = []
    proposals = [(c, False) for c in candidates(schedule, T)] + [(c, True) for c in candidates(schedule, T,
                                                                                              nearest=True)]
    if opts.variant == "python":
        from .write_recipe import candidates as recipe_candidates

        found = False
        for cand in recipe_candidates(proposals, schedule, T, opts, HINT, _why):
            found = True
            yield cand
        if not found:
            raise InexpressibleError("NeMo 2 cannot express " + _why(schedule), hint=HINT)
        return
    exact = 0
    for (name, args), approx in proposals:
        if (name, args) in seen:
            continue
        seen.append((name, args))
        cfg = config(schedule, name, args, T)
        sched = cfg["model"]["optim"]["sched"]
        try:  # a combination NeMo itself would reject is not proposed
            build(effective(name, sched, cfg["model"]["optim"]["lr"], T, []), SCHEDULERS[name].family)
        except LrplanError:
            continue
        if approx and not exact:  # nothing NeMo can say exactly was found: the refusal names the part
            why = _why(schedule)
            yield Candidate(_text(cfg, opts), "yaml", (), name=name, why=why, hint=HINT, approx=True)
            continue
        exact += not approx
        yield Candidate(_text(cfg, opts), "yaml", (), name=name, why="no NeMo scheduler reproduces it", hint=HINT,
                        approx=approx)
    if not seen:
        raise InexpressibleError("NeMo cannot express " + _why(schedule), hint=HINT)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _why(schedule: Schedule) -> str:
    """The part of the schedule no NeMo scheduler has, in NeMo's terms."""
    style, _, _, d, _, _ = _parts(schedule)
    segs = schedule.lr.segments
    kind = d.kind if d is not None else "constant"
    if style == "none" and segs[0].kind not in ("constant",) and segs[0].b.resolve(schedule.peak) > \
            segs[0].a.resolve(schedule.peak):
        return (f"{_a(segs[0].kind)} warmup: NeMo warms up linearly, with (k+1)/(W+1) (warmup_steps) or, in "
                "CosineAnnealing with constant_steps > 0, with k/W")
    if style == "megatron" and kind != "cosine":
        return (f"a k/W warmup followed by {_a(kind)} phase: only CosineAnnealing with constant_steps > 0 warms up "
                "with k/W (the others use (k+1)/(W+1))")
    if style == "megatron":
        return ("a k/W warmup with a cosine that ends at the last step: CosineAnnealing with constant_steps > 0 "
                "needs at least one step at min_lr after the cosine (max_steps - warmup_steps - constant_steps "
                "decay steps)")
    return f"{_a(kind)} phase after the warmup (NeMo's schedulers decay with cosine, linear, polynomial, " \
           "1-sqrt, square, square-root, inverse-sqrt or Noam shapes)"
