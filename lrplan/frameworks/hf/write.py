"""``convert --to hf``: TrainingArguments fields (YAML, or JSON) when an HF scheduler type is exact, else Python.

How a match is found: the IR's segments suggest candidate (lr_scheduler_type, kwargs, W) triples; each is
rebuilt with :func:`lrplan.frameworks.hf_schedule.build` (the same tables the reader uses) and evaluated
against the IR at every step of the run [0, T). A candidate is exact when it agrees to the exactness
contract (relative 1e-12, absolute 1e-18) everywhere; the simplest exact type wins. HF's curve past
``max_steps`` is never used by the Trainer, so it is not compared.

JSON cannot carry a comment and ``HfArgumentParser.parse_json_file`` rejects unknown keys
(``allow_extra_keys=False``, transformers 5.23.0 ``hf_argparser.py``), so the JSON variant has no
provenance inside it; it is reported as a note (stderr) instead.
"""

from __future__ import annotations

import json

from ...errors import InexpressibleError, LrplanError
from ...evaluate import lr
from ...ir import Schedule
from ..base import Written
from .schedules import build

VARIANTS = ("yaml", "json", "python")
ORDER = ("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr", "polynomial",
         "cosine_with_restarts", "inverse_sqrt", "cosine_warmup_with_min_lr", "warmup_stable_decay")
REL, ABS = 1e-12, 1e-18


def _floor_kwargs(seg, peak) -> dict:
    if seg.b.absolute:
        return {"min_lr": seg.b.value}
    return {"min_lr_rate": seg.b.value}


def _candidates(schedule: Schedule, T: int):
    """(type, kwargs, W) guesses from the IR's structure; the numeric check decides."""
    segs = schedule.lr.segments
    first = segs[0]
    yield "constant", {}, 0
    warmups = [0]
    if len(segs) > 1 and first.end == int(first.end):
        warmups.insert(0, int(first.end))
    for W in warmups:
        yield from _candidates_with_warmup(schedule, T, W)


def _candidates_with_warmup(schedule: Schedule, T: int, W: int):
    segs, peak = schedule.lr.segments, schedule.peak
    first, main = segs[0], (segs[1] if W else segs[0])
    p = dict(main.params)
    yield "constant_with_warmup", {}, W
    yield "linear", {}, W
    yield "cosine", {"num_cycles": p.get("cycles", 0.5)}, W
    if main.kind == "cosine" and main.b.value > 0:
        yield "cosine_with_min_lr", {"num_cycles": p["cycles"], **_floor_kwargs(main, peak)}, W
    if main.kind in ("poly", "linear"):
        yield "polynomial", {"lr_end": main.b.resolve(peak), "power": p.get("power", 1.0)}, W
    if main.kind == "restarts" and T > W:
        cycles = (T - W) / p["cycle"]
        yield "cosine_with_restarts", {"num_cycles": round(cycles) if abs(cycles - round(cycles)) < 1e-9 else cycles}, W
    if main.kind == "invsqrt":
        ts = p["timescale"]
        yield "inverse_sqrt", ({} if ts == (W or 10_000) else {"timescale": ts}), W
    if main.kind == "cosine":
        kw = {"num_cycles": p["cycles"], **_floor_kwargs(main, peak)}
        if W and first.a.value > 0:
            kw["warmup_lr_rate"] = first.a.value
        yield "cosine_warmup_with_min_lr", kw, W
    wsd = _wsd_kwargs(segs, W, T, peak)
    if wsd is not None:
        yield "warmup_stable_decay", wsd, W


WSD_TYPES = {"linear": "linear", "cosine": "cosine", "1-sqrt": "1-sqrt"}


def _wsd_kwargs(segs, W: int, T: int, peak: float) -> dict | None:
    decays = [s for s in segs if s.kind in WSD_TYPES and s.start >= W and s.end
              and not s.a.absolute and s.a.value >= s.b.value]
    if not decays:
        return None
    d = decays[-1]
    if d.b.absolute or d.end != int(d.end) or d.start != int(d.start):
        return None
    D, S, m = int(d.end - d.start), int(d.start) - W, d.b.value
    kw = {"num_decay_steps": D, "decay_type": WSD_TYPES[d.kind], "min_lr_ratio": m}
    if W and segs[0].kind in WSD_TYPES:
        kw["warmup_type"] = WSD_TYPES[segs[0].kind]
    if d.kind == "cosine":
        kw["num_cycles"] = d.param("cycles")
    if S != T - W - D:
        kw["num_stable_steps"] = S
    return kw


def _clean(kw: dict) -> dict:
    """Drop kwargs equal to HF's defaults so the emitted config stays short."""
    defaults = {"num_cycles": 0.5, "power": 1.0, "warmup_type": "linear", "decay_type": "cosine",
                "min_lr_ratio": 0.0}
    return {k: v for k, v in kw.items() if defaults.get(k, object()) != v}


def _deviation(ours, theirs) -> tuple[float, int, bool]:
    import numpy as np

    err = np.abs(ours - theirs)
    i = int(np.argmax(err))
    exact = bool((err <= np.maximum(REL * np.abs(ours), ABS)).all())
    return float(err[i]), i, exact


def best_match(schedule: Schedule, T: int):
    """(type, kwargs, W, max |diff|, at step, exact) of the closest HF scheduler type, or None."""
    import numpy as np

    steps = np.arange(T, dtype=float)
    ours = lr(schedule, steps)
    found = []
    for kind, kw, W in _candidates(schedule, T):
        kw = _clean(kw)
        if kind == "cosine_with_restarts" and kw.get("num_cycles") == 1:
            kw.pop("num_cycles")
        try:
            cand = build(kind, kw, W, T, schedule.peak)
        except LrplanError:
            continue
        dev, at, exact = _deviation(ours, lr(cand, steps))
        if exact:
            return kind, kw, W, dev, at, True
        found.append((dev, ORDER.index(kind), kind, kw, W, at))
    if not found:
        return None
    dev, _, kind, kw, W, at = min(found, key=lambda f: (f[0], f[1]))
    return kind, kw, W, dev, at, False


def _fields(schedule: Schedule, kind: str, kw: dict, W: int, T: int) -> dict:
    out = {"learning_rate": float(schedule.peak), "lr_scheduler_type": kind}
    if kw:
        out["lr_scheduler_kwargs"] = kw
    out["warmup_steps"] = int(W)  # an int: the same number of steps under 4.x and 5.x rules
    out["max_steps"] = int(T)
    return out


def _header(opts) -> str:
    return "# " + " ".join(["Generated by lrplan", opts.version or "", "from:", opts.source_label or "-"])


def _serialise(fields: dict, variant: str, opts) -> tuple[str, tuple[str, ...]]:
    if variant == "json":
        note = ("JSON has no comments and HfArgumentParser rejects unknown keys: provenance: lrplan "
                f"{opts.version} from {opts.source_label or '-'}")
        return json.dumps(fields, indent=2) + "\n", (note,)
    import yaml

    return _header(opts) + "\n" + yaml.safe_dump(fields, sort_keys=False), ()


def _check_schedule(schedule: Schedule) -> int:
    if schedule.peak_lr is None:
        raise LrplanError("HF needs a learning_rate and the schedule has no peak LR", hint="pass --lr PEAK")
    if schedule.total is None:
        raise LrplanError("HF needs max_steps and the schedule has no total", hint="pass --steps N")
    if schedule.axis.unit != "steps":
        raise InexpressibleError(f"HF schedules count optimizer steps; this one is on {schedule.axis.unit}",
                                 hint="pass --variant python (a LambdaLR maps steps to positions exactly)")
    T = schedule.total
    if T != int(T):
        raise InexpressibleError(f"max_steps must be a whole number of steps, the total is {T}",
                                 hint="pass --variant python")
    return int(T)


def write(schedule: Schedule, opts) -> Written:
    variant = opts.variant or None
    if variant not in (None, *VARIANTS):
        raise LrplanError(f"unknown --variant {variant!r} for hf", hint="use yaml, json or python")
    if variant == "python":
        from .python import python_code

        return python_code(schedule, opts, "--variant python was asked for")
    companions = [n for n, c in (("weight-decay curve", schedule.weight_decay),
                                 ("momentum curve", schedule.momentum)) if c is not None]
    companions += ["LR group " + repr(n) for n, _ in schedule.groups]
    if companions and not opts.approx:
        raise InexpressibleError("TrainingArguments cannot schedule the " + ", ".join(companions),
                                 hint="drop them from the schedule, or pass --approx")
    T = _check_schedule(schedule)
    match = best_match(schedule, T)
    if match is not None and (match[5] or opts.approx):
        kind, kw, W, dev, at, exact = match
        text, notes = _serialise(_fields(schedule, kind, kw, W, T), variant or "yaml", opts)
        notes += tuple(f"--approx: {c} not emitted" for c in companions)
        return Written(text, notes, None if exact and not opts.approx else (dev, at))
    why = _why(match)
    if variant is None:
        from .python import python_code

        return python_code(schedule, opts, why)
    raise InexpressibleError(f"no HF lr_scheduler_type expresses this schedule exactly ({why})",
                             hint="pass --variant python for a LambdaLR given to Trainer(optimizers=...), "
                                  "or --approx for the nearest type")


def _why(match) -> str:
    if match is None:
        return "no scheduler type has this shape"
    kind, _, _, dev, at, _ = match
    return f"the nearest, {kind!r}, is off by {dev:.3g} at step {at}"
