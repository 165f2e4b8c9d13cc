"""``convert --to olmo-core``: the ``config.json`` form of a scheduler (``Config.as_config_dict()``).

The IR is first moved to OLMo-core's ``current``-space (one step right: update k is the trainer's step
k + 1), then its pieces suggest (class, fields) candidates; each is emitted and the gate (lrplan.convert)
reads it back with read.py and keeps the first that matches at every step. The output is JSON that
OLMo-core's ``Scheduler.from_dict`` (and ``Config.from_json``) loads: ``train_module.scheduler`` with the
fields in dataclass order, ``_CLASS_`` and ``type`` last, as ``as_config_dict()`` writes them -- except that
``decay_fraction: null`` is written out where ``decay`` is set (``as_config_dict`` drops it, and loading then
fails, read.py). ``trainer.max_duration`` is ``{value: T, unit: steps}``; ``train_module.optim.lr`` the peak.
The Python equivalent is in the notes.
"""

from __future__ import annotations

import json

from ...errors import InexpressibleError, LrplanError
from ...evaluate import lr_at
from ...ir import Schedule, Segment
from ..base import Candidate
from .tables import BASE, CLASSES, MODULE


def _c_space(schedule: Schedule) -> list[Segment]:
    out = []
    for s in schedule.lr.segments:
        out.append(Segment(s.kind, s.start + 1.0, None if s.end is None else s.end + 1.0, s.a, s.b, s.params,
                           origin=s.tau0 + 1.0, span=s.span, label=s.label))
    return out


def _abs(level, peak: float) -> float:
    return level.value if level.absolute else level.value * peak


def _ratio(level, peak: float) -> float:
    return level.value / peak if level.absolute else level.value


def _whole(x) -> int | None:
    return int(x) if x is not None and float(x).is_integer() and x >= 0 else None


def _warmups(first: Segment, peak: float):
    """(warmup, warmup_min_lr) guesses for a rising first piece in current-space."""
    lo = _abs(first.a, peak) if first.tau0 == 0.0 else None
    spans = [first.span, first.end, None if first.end is None else first.end - 1]
    seen = []
    for w in spans:
        w = _whole(w)
        if w and w not in seen:
            seen.append(w)
            yield w, (lo if lo is not None else 0.0)


def candidates(segs: list[Segment], T: int, peak: float):
    first = segs[0]
    rising = first.kind == "linear" and _ratio(first.b, peak) == 1.0 and _ratio(first.a, peak) < 1.0
    heads = list(_warmups(first, peak)) if rising else [(0, 0.0)]
    body = segs[1:] if rising else segs
    if not body:
        return
    main, rest = body[0], body[1:]
    tail = rest[0] if rest else None
    for W, wmin in heads:
        warm = {"warmup": W, "warmup_min_lr": wmin}
        tmax = {} if main.end is None or main.end == T else {"t_max": _whole(main.end)}
        if tmax.get("t_max", 0) is None:
            tmax = None
        if main.kind == "cosine" and tmax is not None and main.param("cycles") == 0.5:
            yield "cos_with_warmup", {**warm, "alpha_f": _ratio(main.b, peak), **tmax}
        if main.kind == "cosine" and tail is not None and tail.kind == "linear" and _whole(tail.span):
            # CosWithWarmupAndLinearDecay: the cosine (over [W, t_max)) cut at T - D, then a line to decay_min_lr
            span = main.span if main.span is not None else (None if main.end is None else main.end - main.start)
            cut = {} if span is None or W + span == T else {"t_max": _whole(W + span)}
            if None not in cut.values():
                yield "cos_with_warmup_and_linear_decay", {**warm, "alpha_f": _ratio(main.b, peak), **cut,
                                                           "decay": _whole(tail.span), "decay_fraction": None,
                                                           "decay_min_lr": _abs(tail.b, peak)}
        if main.kind == "linear" and tmax is not None:
            yield "linear_with_warmup", {"alpha_f": _ratio(main.b, peak), **tmax, **warm}
        if main.kind == "invsqrt" and main.param("timescale") == W:
            yield "inv_sqrt_with_warmup", {"alpha_f": 0.0, **warm}
        if main.kind == "constant" and _ratio(main.a, peak) == 1.0:
            if main.end is None:
                yield "constant_with_warmup", warm
            if tail is not None and tail.kind == "linear" and tail.span is not None:
                D = _whole(tail.span)
                if D:
                    yield "wsd", {**warm, "decay": D, "decay_fraction": None, "decay_min_lr": _abs(tail.b, peak)}
    if not rising and main.kind == "constant" and main.end is None and _ratio(main.a, peak) == 1.0:
        yield "constant", {}


def _fields(name: str, kw: dict) -> dict:
    """The scheduler's config dict: dataclass order, defaults left in, Nones dropped (decay_fraction kept)."""
    cls, fields = CLASSES[name]
    out = {}
    for k, default in BASE + fields:
        v = kw.get(k, default)
        if v is None and not (k == "decay_fraction" and kw.get("decay") is not None):
            continue
        out[k] = float(v) if isinstance(v, float) else v
    out["_CLASS_"] = f"{MODULE}.{cls}"
    out["type"] = name
    return out


def _python(name: str, kw: dict) -> str:
    cls = CLASSES[name][0]
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items() if not (k == "warmup_min_lr" and v == 0.0))
    return f"{cls}({args})"


def _why(schedule: Schedule) -> str:
    a = lr_at(schedule, 0)
    if a == 0.0:
        return ("OLMo-core counts update 0 as step 1 (global_step is incremented before the batch), so a warmup "
                "gives it warmup_min_lr + (lr - warmup_min_lr) / warmup, never LR 0; here update 0 uses 0")
    return ("no OLMo-core scheduler lrplan writes (cos_with_warmup, cos_with_warmup_and_linear_decay, "
            "linear_with_warmup, wsd, constant_with_warmup, inv_sqrt_with_warmup, constant) reproduces it")


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "", "json"):
        raise LrplanError(f"unknown --variant {opts.variant!r} for olmo-core", hint="use json")
    parts = [n for n, c in (("weight-decay curve", schedule.weight_decay), ("momentum curve", schedule.momentum))
             if c is not None] + ["LR group " + repr(n) for n, _ in schedule.groups]
    if parts and not opts.approx:
        raise InexpressibleError("OLMo-core's schedulers set the LR only; cannot express the " + ", ".join(parts),
                                 hint="drop them from the schedule, or pass --approx")
    if schedule.total is None:
        raise LrplanError("OLMo-core needs trainer.max_duration and the schedule has no total", hint="pass --steps N")
    if schedule.axis.unit != "steps" or not float(schedule.total).is_integer():
        raise InexpressibleError("lrplan writes OLMo-core schedules in steps; this one does not move to whole "
                                 "optimizer steps exactly", hint="pass --approx, or --to torch for a LambdaLR")
    T = int(schedule.total)
    peak = schedule.peak
    notes = tuple(f"--approx: {p} not emitted" for p in parts)
    why = _why(schedule)
    seen = []
    # exact-intended: the IR moved to current-space; then the nearest: the IR's own pieces read as current-space
    for approx, segs in ((False, _c_space(schedule)), (True, list(schedule.lr.segments))):
        for name, kw in candidates(segs, T, peak):
            if (name, kw) in seen:
                continue
            seen.append((name, kw))
            doc = {"train_module": {}, "trainer": {"max_duration": {"value": T, "unit": "steps"}}}
            if schedule.peak_lr is not None:
                doc["train_module"]["optim"] = {"lr": float(schedule.peak_lr)}
            doc["train_module"]["scheduler"] = _fields(name, kw)
            extra = ((f"OLMo-core Python: TransformerTrainModuleConfig(scheduler={_python(name, kw)}, ...), "
                      f"TrainerConfig(max_duration=Duration.steps({T}), ...)"),)
            yield Candidate(json.dumps(doc, indent=2) + "\n", "json", notes + extra, name=CLASSES[name][0], why=why,
                            approx=approx, hint="pass --approx for the nearest OLMo-core scheduler, or --to torch")
