"""Writer for ``convert --to deepspeed``: a DeepSpeed JSON config, or (``--variant python``) a client scheduler.

How the JSON writer proposes: it reads the IR's segments as a DeepSpeed class would lay them out (a
1-step constructor segment, a log/linear warmup, then a constant tail, a linear decay or a cosine)
and builds that class's config; the gate (lrplan.convert) reads each config back with lrplan's
DeepSpeed reader and compares both curves at every step of the run. A schedule that DeepSpeed's
engine cannot reproduce (most often because of its one-step lag: the first update uses the
constructor value, update k uses f(k-1)) gets the exact client scheduler (``--variant python``)
instead, with a note naming the nearest JSON and its deviation; ``--variant json --approx`` emits
that nearest config.

Provenance: DeepSpeed's config loader (``deepspeed/runtime/config.py``, 0.19.8) ignores top-level keys
it does not know, so the lrplan version and source go in a top-level ``"_comment"``. Inside
``scheduler.params`` an unknown key would be a TypeError, so nothing else is added there.
"""

from __future__ import annotations

import json

from ...errors import InexpressibleError, LrplanError
from ...ir import Schedule, Segment
from ..base import Candidate, WriteOptions

VARIANTS = (None, "json", "python")
JSON_NOTE = ("DeepSpeed config: merge \"optimizer.params.lr\" and \"scheduler\" into your ds_config.json"
             " (optimizer.type AdamW is a placeholder: DeepSpeed ignores optimizer.params without a type; keep"
             " yours); the top-level \"_comment\" is ignored by DeepSpeed's config loader")


def write(schedule: Schedule, opts: WriteOptions):
    if opts.variant not in VARIANTS:
        raise LrplanError(f"unknown --variant {opts.variant!r} for deepspeed", hint="use json or python")
    if opts.variant == "python":
        yield _python(schedule, opts)
        return
    try:
        _check_companions(schedule)
        found = nearest(schedule)
    except InexpressibleError as e:
        if opts.variant == "json":
            raise
        c = _python(schedule, opts)  # exact on any axis: the reason JSON cannot be goes into a note
        yield Candidate(c.text, c.variant, c.notes + (f"DeepSpeed's JSON scheduler cannot express this schedule:"
                                                      f" {e.message}; this is the exact client scheduler",),
                        code=c.code, name="the client scheduler")
        return
    notes = [] if schedule.peak_lr is not None else [
        "the schedule has no peak LR: the config uses 1.0 (a multiplier); pass --lr PEAK for real values"]
    for config, why in (found if isinstance(found, list) else [found]):
        yield Candidate(_dump(config, opts), "json", tuple(notes + [JSON_NOTE]), why=why, name=_brief(config),
                        hint="pass --approx to emit that config with its deviation, or --variant python for an exact"
                             " client scheduler passed to deepspeed.initialize(lr_scheduler=...)")
    if opts.variant is None:
        c = _python(schedule, opts)
        yield Candidate(c.text, c.variant, c.notes, code=c.code, fallback=True, name="the client scheduler")


def _check_companions(schedule: Schedule) -> None:
    if schedule.axis.unit != "steps":
        raise InexpressibleError(f"DeepSpeed schedulers count optimizer steps; this schedule is on"
                                 f" {schedule.axis.unit}", hint="use --variant python (exact on any axis)")
    if schedule.weight_decay is not None:
        raise InexpressibleError("DeepSpeed's JSON schedulers have no weight-decay schedule",
                                 hint="use --variant python for the LR, and schedule weight decay in your loop")
    if schedule.groups:
        raise InexpressibleError("per-group LR curves are not written to DeepSpeed JSON",
                                 hint="use --variant python")
    if schedule.momentum is not None and not any(s.kind == "cyclic" or s.label == "cycle"
                                                 for s in schedule.lr.segments):
        raise InexpressibleError("only DeepSpeed's OneCycle schedules momentum, and this is not a one-cycle",
                                 hint="use --variant python for the LR")


# ---- recognising the DeepSpeed class ------------------------------------------------------------


def _level(seg_level, peak: float) -> float:
    return seg_level.resolve(peak)


def nearest(schedule: Schedule):
    """The DeepSpeed config(s) closest to ``schedule``, each with why it may not be exact."""
    peak = schedule.peak
    segs = list(schedule.lr.segments)
    lag = len(segs) > 1 and segs[0].kind == "constant" and segs[0].end == 1.0
    body = segs[1:] if lag else segs
    why = "DeepSpeed's first update uses the constructor value and update k uses f(k-1) (a one-step lag)"
    kinds = [s.kind for s in body]
    if "cyclic" in kinds:
        return _one_cycle(schedule, body), why
    if lag and len(body) > 1 and body[0].label == "cycle":
        return _one_cycle_stairs(schedule, body)
    if body[0].kind == "linear" and body[0].end is None and len(body) == 1:
        return _range_test(body[0], peak), why
    if len(segs) > 2 and all(s.kind == "constant" for s in segs):
        return _range_stairs(schedule), why
    return _warmup_family(schedule, body, lag, why)


def _warmup_family(schedule: Schedule, body: list[Segment], lag: bool, why: str):
    """WarmupLR / WarmupDecayLR / WarmupCosineLR: a log or linear warmup, then a tail, a line or a cosine."""
    peak, total = schedule.peak, schedule.total
    warm = body[0] if body[0].kind in ("log", "linear") and _rising(body[0], peak) else None
    rest = body[1:] if warm is not None else body
    w = int(warm.end - warm.start) if warm is not None else 1  # no warmup: W = 1 (W' = 2) from lo to lo
    lo = _level((warm or body[0]).a, peak)
    hi = _level(warm.b, peak) if warm is not None else lo
    common = {"warmup_num_steps": w, "warmup_type": "log" if warm is not None and warm.kind == "log" else "linear"}
    absolute = dict(common, warmup_min_lr=lo, warmup_max_lr=hi)
    decay = next((s for s in rest if s.kind != "constant" or s.label == "decay"), None)
    if decay is not None and rest[0] is not decay:
        why = "a constant phase between warmup and decay (WSD) has no DeepSpeed class"
    if decay is None:
        return _config("WarmupLR", hi, absolute), why
    if decay.kind == "constant":
        # total_num_steps <= W' (+1 for cosine): the first post-warmup step is already at the floor. Any
        # such total gives this curve; the schedule's own run length is kept when it is one of them.
        t_lin = _int(total) if total is not None and 1 <= total <= w else w
        t_cos = _int(total) if total is not None and 1 <= total <= w + 1 else w
        if warm is None:
            return _config("WarmupDecayLR", hi, dict(absolute, total_num_steps=t_lin)), why
        return [(_config("WarmupCosineLR", hi, dict(common, total_num_steps=t_cos, warmup_min_ratio=_ratio(
            warm.a, hi, peak), cos_min_ratio=_ratio(decay.a, hi, peak))), why),
                (_config("WarmupDecayLR", hi, dict(absolute, total_num_steps=t_lin)), why)]
    if decay.kind == "cosine":
        t = decay.tau0 + decay.span_value if lag else (decay.end or total or decay.start + decay.span_value)
        base = _level(decay.a, peak) or peak
        return _config("WarmupCosineLR", base, dict(common, total_num_steps=_int(t), warmup_min_ratio=_ratio(
            (warm or body[0]).a, base, peak), cos_min_ratio=_ratio(decay.b, base, peak))), why
    if decay.kind != "linear":
        why = f"a {decay.kind} decay has no DeepSpeed class (WarmupDecayLR is linear, WarmupCosineLR cosine)"
    elif _level(decay.b, peak) != lo:
        why = f"WarmupDecayLR decays back to warmup_min_lr ({lo:g}), this schedule to {_level(decay.b, peak):g}"
    end = decay.end if decay.end is not None else decay.start + decay.span_value
    return _config("WarmupDecayLR", hi, dict(absolute, total_num_steps=_int(end - (1 if lag else 0)))), why


def _ratio(level, base: float, peak: float) -> float:
    """A level as a ratio of ``base``, without a round trip through the absolute value when possible."""
    if not level.absolute and base == peak:
        return level.value
    return level.resolve(peak) / base


def _rising(seg: Segment, peak: float) -> bool:
    return seg.end is not None and _level(seg.a, peak) <= _level(seg.b, peak)


def _int(x: float):
    return int(x) if float(x) == int(x) else x


def _config(kind: str, base_lr: float, params: dict) -> dict:
    from .read import PARAMS

    order = list(PARAMS[kind])  # the constructor's own argument order (lr_schedules.py)
    params = {k: (_int(params[k]) if k.endswith("_steps") else float(params[k]) if isinstance(params[k], float)
                  else params[k]) for k in sorted(params, key=order.index)}
    # DeepSpeed reads optimizer.params only when optimizer.type is set (config.py get_optimizer_params).
    cfg = {"optimizer": {"type": "AdamW", "params": {"lr": float(base_lr)}},
           "scheduler": {"type": kind, "params": params}}
    return cfg


def _one_cycle(schedule: Schedule, body: list[Segment]) -> dict:
    peak = schedule.peak
    cyc = next(s for s in body if s.kind == "cyclic")
    after = body[body.index(cyc) + 1:] if cyc is not body[-1] else []
    params = {"cycle_min_lr": _level(cyc.a, peak), "cycle_max_lr": _level(cyc.b, peak),
              "cycle_first_step_size": _int(cyc.param("up")), "cycle_second_step_size": _int(cyc.param("down"))}
    dec = after[0] if after else None
    if dec is not None and dec.kind == "inverse-time" and dec.param("rate") > 0:
        params.update(decay_lr_rate=dec.param("rate"), decay_step_size=_int(dec.param("every")))
    params.update(_momentum_params(schedule, params.get("decay_step_size")))
    return _config("OneCycle", max(params["cycle_max_lr"], params["cycle_min_lr"]), params)


def _one_cycle_stairs(schedule: Schedule, body: list[Segment]) -> list[tuple[dict, str]]:
    """A staircase OneCycle as the reader lays it out: constant runs over k = 1 .. L, then the decay.

    Scale 1 (the max) is reached at t = k = s1 exactly, and scale 0 at k = L. Each half is either a
    staircase (as many stairs as runs) or continuous (count 0); the candidates cover both.
    """
    peak = schedule.peak
    stairs = [s for s in body if s.label == "cycle"]
    levels = [_level(s.a, peak) for s in stairs]
    top = max(range(len(levels)), key=levels.__getitem__)
    s1, total = stairs[top].start, stairs[-1].end - 1
    params = {"cycle_min_lr": _level(schedule.lr.segments[0].a, peak), "cycle_max_lr": levels[top],
              "cycle_first_step_size": _int(s1), "cycle_second_step_size": _int(total - s1)}
    dec = body[len(stairs)] if len(body) > len(stairs) else None
    if dec is not None and dec.kind == "inverse-time" and dec.param("rate") > 0:
        params.update(decay_lr_rate=dec.param("rate"), decay_step_size=_int(dec.param("every")))
    params.update(_momentum_params(schedule, params.get("decay_step_size"), at_max=total))
    why = "a OneCycle staircase that lrplan could not match to stair counts"
    base = max(params["cycle_max_lr"], params["cycle_min_lr"])
    lo = params["cycle_min_lr"]
    first = {top, 0, _stair_count(levels[:top + 1], lo, levels[top])}
    second = {len(stairs) - 1 - top, 0, _stair_count(levels[top:], lo, levels[top])}
    return [(_config("OneCycle", base, dict(params, cycle_first_stair_count=m1, cycle_second_stair_count=m2)), why)
            for m1 in sorted(first, reverse=True) for m2 in sorted(second, reverse=True) if m1 or m2]


def _stair_count(levels: list[float], lo: float, hi: float) -> int:
    """Stairs per half from the level spacing: scales are i / m, so the smallest step is 1 / m."""
    if hi == lo:
        return 0
    scales = sorted({(v - lo) / (hi - lo) for v in levels} | {0.0, 1.0})
    steps = [b - a for a, b in zip(scales, scales[1:]) if b - a > 1e-9]
    return int(round(1.0 / min(steps))) if steps else 0


def _momentum_params(schedule: Schedule, every, *, at_max: float | None = None) -> dict:
    from ...evaluate import curve_value

    mom = schedule.momentum
    if mom is None or len(mom.segments) < 3:
        return {"cycle_momentum": False}
    cyc = next((s for s in mom.segments if s.kind == "cyclic"), None)
    # max_mom: the cyclic piece's start level, or (stairs) the value at k = L where the scale is 0.
    top = cyc.a.value if cyc is not None else curve_value(mom, 1.0, at_max or 1.0, clamp=False)
    out = {"cycle_momentum": True, "cycle_min_mom": mom.segments[0].a.value, "cycle_max_mom": top}
    tail = mom.segments[-1]
    if tail.kind == "linear" and tail.end is None:
        # The reader writes max_mom * (1 + rate * d / every) as a line to 2a (or 0) over every / |rate|.
        sign = 1.0 if tail.b.value > tail.a.value else -1.0
        if every is None:
            every = _int(tail.span_value)
            out["decay_step_size"] = every
        out["decay_mom_rate"] = sign * every / tail.span_value
    return out


def _range_test(seg: Segment, peak: float) -> dict:
    lo, hi = _level(seg.a, peak), _level(seg.b, peak)
    params = {"lr_range_test_min_lr": lo, "lr_range_test_step_size": _int(seg.span_value),
              "lr_range_test_step_rate": hi / lo - 1.0, "lr_range_test_staircase": False}
    return _config("LRRangeTest", lo, params)


def _range_stairs(schedule: Schedule) -> dict:
    first, second = schedule.lr.segments[:2]
    lo, nxt = _level(first.a, schedule.peak), _level(second.a, schedule.peak)
    params = {"lr_range_test_min_lr": lo, "lr_range_test_step_size": _int(first.end - first.start),
              "lr_range_test_step_rate": nxt / lo - 1.0 if lo > 0 else 0.0, "lr_range_test_staircase": True}
    return _config("LRRangeTest", lo, params)


# ---- output --------------------------------------------------------------------------------------


def _dump(config: dict, opts: WriteOptions) -> str:
    out = {"_comment": _provenance(opts)}
    out.update(config)
    return json.dumps(out, indent=2, allow_nan=False) + "\n"


def _provenance(opts: WriteOptions) -> str:
    return " ".join(["generated by lrplan", opts.version or "", "from", opts.source_label or "a schedule"]).replace(
        "  ", " ")


def _brief(config: dict) -> str:
    return json.dumps(config["scheduler"], separators=(",", ":"))


FACTORY_LINES = [
    "",
    "def make_lr_scheduler(optimizer):",
    '    """For deepspeed.initialize(..., lr_scheduler=make_lr_scheduler): called with the raw torch optimizer."""',
    "    import torch",
    "",
]
SET_PEAK_LINES = [
    "    for group in optimizer.param_groups:",
    '        group["lr"] = PEAK_LR  # LambdaLR multiplies the initial lr by lr_lambda(step)',
]
NO_PEAK_LINES = ["    # No peak LR in the schedule: lr_lambda scales the optimizer's own lr."]
RETURN_LINES = ["    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)"]

USAGE = [
    "DeepSpeed client LR scheduler, exact for any lrplan schedule (stdlib closed form, no lrplan needed).",
    "Pass the factory: deepspeed.initialize(..., lr_scheduler=make_lr_scheduler). A client scheduler",
    "always wins over the JSON \"scheduler\" section; the engine calls the factory with the raw torch",
    "optimizer and steps the scheduler after every optimizer update (deepspeed/runtime/engine.py 0.19.8),",
    "as torch expects, so update k uses lr_at(k) with no one-step lag.",
]


def _python(schedule: Schedule, opts: WriteOptions) -> Candidate:
    # The closed form is shared with the torch writer (same operation order as lrplan.shapes).
    from ..pycode import check_companions, closed_form_module, comment

    notes = check_companions(schedule, "DeepSpeed client scheduler", opts.approx)
    module = closed_form_module(schedule)
    lines = [comment("Generated by lrplan", opts.version, "for DeepSpeed from:", opts.source_label or "-"),
             *(comment(u) for u in USAGE), *module, *FACTORY_LINES,
             *(SET_PEAK_LINES if schedule.peak_lr is not None else NO_PEAK_LINES), *RETURN_LINES]
    return Candidate("\n".join(lines) + "\n", "python", tuple(notes), code="\n".join(module))
