"""``convert --to hf``: TrainingArguments fields (YAML, or JSON) when an HF scheduler type is exact, else Python.

How a match is found: the IR's segments suggest candidate (lr_scheduler_type, kwargs, W) triples, each
emitted as TrainingArguments fields; the gate (lrplan.convert) reads each back with the HF reader
(the same tables, lrplan/frameworks/hf/schedules.py) and keeps the first that agrees with the IR at
every step of the run [0, T). When none does, the Python variant (a closed-form LambdaLR for
``Trainer(optimizers=...)``) follows as the fallback, its header saying how far the nearest type is.
HF's curve past ``max_steps`` is never used by the Trainer, so it is not compared.

JSON cannot carry a comment and ``HfArgumentParser.parse_json_file`` rejects unknown keys
(``allow_extra_keys=False``, transformers 5.23.0 ``hf_argparser.py``), so the JSON variant has no
provenance inside it; it is reported as a note (stderr) instead.
"""

from __future__ import annotations

import json

from ...errors import InexpressibleError, LrplanError
from ...ir import Schedule
from ..base import Candidate
from .schedules import build

VARIANTS = ("yaml", "json", "python")


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


def typed_candidates(schedule: Schedule, T: int):
    """(type, kwargs, W) guesses that HF's own builder accepts, in the order they are tried."""
    seen = []
    for kind, kw, W in _candidates(schedule, T):
        kw = _clean(kw)
        if kind == "cosine_with_restarts" and kw.get("num_cycles") == 1:
            kw.pop("num_cycles")
        if (kind, kw, W) in seen:
            continue
        seen.append((kind, kw, W))
        try:
            build(kind, kw, W, T, schedule.peak)
        except LrplanError:
            continue  # a combination HF itself would reject
        yield kind, kw, W


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


def write(schedule: Schedule, opts):
    from .python import python_candidate

    variant = opts.variant or None
    if variant not in (None, *VARIANTS):
        raise LrplanError(f"unknown --variant {variant!r} for hf", hint="use yaml, json or python")
    if variant == "python":
        yield python_candidate(schedule, opts, fallback=False)
        return
    companions = [n for n, c in (("weight-decay curve", schedule.weight_decay),
                                 ("momentum curve", schedule.momentum)) if c is not None]
    companions += ["LR group " + repr(n) for n, _ in schedule.groups]
    if companions and not opts.approx:
        raise InexpressibleError("TrainingArguments cannot schedule the " + ", ".join(companions),
                                 hint="drop them from the schedule, or pass --approx")
    try:
        T = _check_schedule(schedule)
    except InexpressibleError as e:
        if variant is not None:
            raise
        # No TrainingArguments fields can say it; the exact Python variant can (its header says why).
        c = python_candidate(schedule, opts, fallback=True)
        yield Candidate(c.text(e.message), c.variant, c.notes, code=c.code, name="the Python variant")
        return
    dropped = tuple(f"--approx: {c} not emitted" for c in companions)
    for kind, kw, W in typed_candidates(schedule, T):
        text, notes = _serialise(_fields(schedule, kind, kw, W, T), variant or "yaml", opts)
        yield Candidate(text, variant or "yaml", notes + dropped, name=repr(kind),
                        why="no lr_scheduler_type reproduces it",
                        hint="pass --variant python for a LambdaLR given to Trainer(optimizers=...), or --approx "
                             "for the nearest type")
    if variant is None:
        yield python_candidate(schedule, opts, fallback=True)


# Resuming an HF run at update r: the checkpoint's optimizer.pt holds the Trainer's two param groups
# (transformers 5.23 Trainer.create_optimizer: with / without weight decay), which
# build_optimizer_and_scheduler(model) does not make (load_state_dict raises "different number of parameter
# groups"); with the Trainer's own optimizer, scheduler.pt restores last_epoch = r and base_lrs.
RESUME_MARKER = "def build_optimizer_and_scheduler("
RESUME_LINES = [
    "# Resuming with trainer.train(resume_from_checkpoint=...) at update {r}: the checkpoint's optimizer.pt",
    "# holds the Trainer's own parameter groups, which build_optimizer_and_scheduler does not make. Instead:",
    "# trainer = Trainer(model=model, args=TrainingArguments(max_steps=MAX_STEPS, ...), train_dataset=...)",
    "# use_in_trainer(trainer)  # no optimizers=(...)",
    "# trainer.train(resume_from_checkpoint=CHECKPOINT)",
    "# scheduler.pt then restores last_epoch ({r}) and base_lrs (keep learning_rate = PEAK_LR).",
    "",
    "",
    "def use_in_trainer(trainer):",
    '    """Give `trainer` this schedule on the optimizer the Trainer builds itself."""',
    "    trainer.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.create_optimizer(), lr_lambda)",
    "    return trainer.lr_scheduler"]


def resume_code(text: str, framework: str, r: int) -> str:
    """Lines appended to the emitted Python variant so that an HF run resumes at update ``r``."""
    if RESUME_MARKER not in text or framework != "hf":
        return ""
    return "\n" + "\n".join(line.format(r=int(r)) for line in RESUME_LINES) + "\n"
