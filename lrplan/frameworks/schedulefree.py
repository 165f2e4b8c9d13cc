"""Schedule-Free optimizers (``schedulefree`` 1.4.1, facebookresearch/schedule_free; Defazio et al. 2024,
arXiv:2405.15682): their own LR, the averaging weights they derive from it, the ``--to schedulefree`` writer.

A Schedule-Free optimizer needs no LR scheduler. Per param group and step ``k`` (its ``group['k']``,
lrplan's 0-based update index) it computes (``adamw_schedulefree.py:130-147``; the same in the SGD,
Reference and Closure forms)::

    lr(k)        = lr * min(1, (k + 1) / warmup_steps)              # group['scheduled_lr']
    lr_max       = max(lr(k), lr_max)                                # starts at -1.0 (0.0 for *Closure)
    weight       = (k + 1) ** r * lr_max ** weight_lr_power
    weight_sum  += weight
    c_(k+1)      = weight / weight_sum                               # 0 when weight_sum is 0

and moves ``x`` (the averaged weights it evaluates at) by ``x = (1 - c) x + c z``. The LR curve is the
``schedulefree`` shape (lrplan/shapes.py; ``paper``: AdamWScheduleFreePaper's extra
``sqrt(1 - beta2 ** (k + 1))``, ``radam``: RAdam's rectification instead of warmup_steps);
:func:`averaging_weights` gives ``c_(k+1)``, which needs the whole LR history (``lr_max``, ``weight_sum``).
The train/eval switch (``optimizer.train()`` before training steps, ``optimizer.eval()`` before
evaluation and saving) is in the user's loop, out of lrplan's sight; the emitted code says where.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ..errors import InexpressibleError, LrplanError
from ..ir import Axis, Curve, Level, Schedule, Segment
from .base import Candidate, Format, Loaded, ReadOptions
from .pycode import assign, comment, header

CLASSES = {  # variant -> (class, family)
    "plain": "AdamWScheduleFree",
    "sgd": "SGDScheduleFree",
    "paper": "AdamWScheduleFreePaper",
    "radam": "RAdamScheduleFree",
}
SHAPE_VARIANT = {"AdamWScheduleFree": "plain", "SGDScheduleFree": "plain", "AdamWScheduleFreeReference": "plain",
                 "SGDScheduleFreeReference": "plain", "AdamWScheduleFreeClosure": "plain",
                 "SGDScheduleFreeClosure": "plain", "AdamWScheduleFreePaper": "paper", "RAdamScheduleFree": "radam",
                 "RAdamScheduleFreeClosure": "radam"}


def sf_segment(schedule: Schedule) -> Segment | None:
    segs = [s for s in schedule.lr.segments if s.kind == "schedulefree"]
    return segs[0] if segs else None


def averaging_weights(schedule: Schedule, n: int, *, lr_max0: float = -1.0):
    """``c_(k+1)`` for updates k = 0..n-1 (numpy), with its ``lr_max`` and ``weight_sum`` after each update,
    computed in the optimizer's own order (a running max and a running sum, one update at a time)."""
    import numpy as np

    from ..evaluate import lr

    seg = sf_segment(schedule)
    r, power = (seg.param("r"), seg.param("power")) if seg is not None else (0.0, 2.0)
    lrs = lr(schedule, np.arange(n, dtype=float))
    lr_max = np.maximum.accumulate(np.maximum(lrs, lr_max0))
    weight = np.power(np.arange(1, n + 1, dtype=float), r) * np.power(lr_max, power)
    weight_sum = np.add.accumulate(weight)  # sequential, as weight_sum += weight
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(weight_sum == 0, 0.0, weight / weight_sum)
    return c, lr_max, weight_sum


# ---- writer -----------------------------------------------------------------------------------------


def _why_not(schedule: Schedule) -> str | None:
    segs = schedule.lr.segments
    seg = segs[0]
    if len(segs) != 1 or seg.kind != "schedulefree":
        return ("a Schedule-Free optimizer has no LR schedule, only lr and warmup_steps (a (k+1)/warmup_steps ramp,"
                " then lr for good); this schedule is " + " + ".join(s.kind for s in segs))
    if seg.origin is not None or seg.span is not None or schedule.lr.after != "hold" or schedule.axis.unit != "steps":
        return "a Schedule-Free optimizer counts its own updates from 0 (no shift, span or samples axis)"
    if schedule.peak_lr is None:
        return "a Schedule-Free optimizer needs its lr (the schedule has no peak LR; pass --lr)"
    return None


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "adamw", "sgd"):
        raise LrplanError(f"unknown schedulefree variant {opts.variant!r}", hint="variants: adamw (default), sgd")
    why = _why_not(schedule)
    if why is not None:
        raise InexpressibleError(f"schedulefree cannot express this schedule: {why}",
                                 hint="write it as schedulefree(warmup=N) (no decay), or keep a scheduled "
                                      "optimizer (--to torch)")
    seg = schedule.lr.segments[0]
    variant = seg.param("variant")
    if variant == "plain" and opts.variant == "sgd":
        variant = "sgd"
    cls = CLASSES[variant]
    args = ["model.parameters()", "lr=LR"]
    lines = [*header(opts, f"schedulefree.{cls}"),
             comment("A Schedule-Free optimizer: no LR scheduler. Its warmup is built in (warmup_steps); it keeps"),
             comment("the average of its iterates itself, weighted by c_(k+1) = weight / weight_sum with"),
             comment("weight = (k + 1) ** r * lr_max ** weight_lr_power."),
             "import schedulefree", "", assign("LR", float(schedule.peak))]
    if variant != "radam":
        lines.append(assign("WARMUP_STEPS", int(seg.param("warmup"))))
        args.append("warmup_steps=WARMUP_STEPS")
    if variant in ("paper", "radam"):
        lines.append(assign("BETAS", (0.9, float(seg.param("beta2")))))
        args.append("betas=BETAS")
    if variant == "radam":
        lines.append(assign("SILENT_SGD_PHASE", bool(seg.param("silent"))))
        args.append("silent_sgd_phase=SILENT_SGD_PHASE")
    lines += [assign("R", float(seg.param("r"))), assign("WEIGHT_LR_POWER", float(seg.param("power"))), ""]
    args += ["r=R", "weight_lr_power=WEIGHT_LR_POWER"]
    lines += [f"optimizer = schedulefree.{cls}(" + ", ".join(args) + ")",
              comment("Do not add an LR scheduler (it multiplies lr; a decay is what Schedule-Free replaces)."),
              comment("optimizer.train() before training steps (and after every evaluation); optimizer.eval()"),
              comment("before evaluating and before saving a checkpoint: the parameters then hold the averaged"),
              comment("weights x. With BatchNorm, recompute its statistics in train mode after optimizer.eval().")]
    notes = (("schedulefree: call optimizer.train() / optimizer.eval() around training and evaluation; lrplan cannot"
              " see whether the loop does"),)
    yield Candidate("\n".join(lines) + "\n", "python", notes, name=cls)


# ---- reader (of the Python lrplan emits, and hand-written constructions like it) ----------------------

_CLASS = re.compile(r"schedulefree\.(\w+ScheduleFree\w*)\s*\(")
_ASSIGN = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*=\s*(.+)$", re.MULTILINE)
_KW = re.compile(r"\b(lr|warmup_steps|r|weight_lr_power|betas|silent_sgd_phase)\s*=\s*([^,()]+(?:\([^()]*\))?)")


def detect(text: str, path: Path | None) -> int:
    return 9 if "schedulefree" in text and _CLASS.search(text) else 0


def _value(text: str, consts: dict, what: str):
    text = text.strip()
    if text in consts:
        return consts[text]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise LrplanError(f"schedulefree: cannot read {what}={text!r}", where=what,
                          hint="give it as a number (or a NAME = number line)") from None


def read(text: str, path: Path | None, opts: ReadOptions) -> Loaded:
    m = _CLASS.search(text)
    if m is None:
        raise LrplanError("no schedulefree optimizer construction (schedulefree.AdamWScheduleFree(...)) found")
    cls = m.group(1)
    if cls not in SHAPE_VARIANT:
        raise LrplanError(f"schedulefree.{cls}: lrplan models " + ", ".join(sorted(SHAPE_VARIANT)), where=cls)
    consts = {}
    for name, value in _ASSIGN.findall(text):
        try:
            consts[name] = ast.literal_eval(value.split("#")[0].strip())
        except (ValueError, SyntaxError):
            continue
    depth, end = 0, m.end() - 1
    for i in range(m.end() - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            end = i
            break
    call = text[m.end():end]
    kw = {k: _value(v, consts, k) for k, v in _KW.findall(call)}
    lr = kw.get("lr", 0.0025 if "AdamW" in cls or "RAdam" in cls else 1.0)  # the classes' defaults
    variant = SHAPE_VARIANT[cls]
    params = {"variant": variant, "r": float(kw.get("r", 0.0)), "power": float(kw.get("weight_lr_power", 2.0))}
    if variant != "radam":
        params["warmup"] = float(kw.get("warmup_steps", 0))
    if "betas" in kw:
        params["beta2"] = float(kw["betas"][1])
    if "silent_sgd_phase" in kw:
        params["silent"] = bool(kw["silent_sgd_phase"])
    from ..batch import steps_total

    total = steps_total(opts.steps, Axis()) if opts.steps else None
    seg = Segment("schedulefree", 0.0, None, Level(1.0), params=tuple(params.items()), label="schedulefree")
    schedule = Schedule(Curve((seg,)), peak_lr=float(lr), total=total)
    return Loaded(schedule, "schedulefree", f"schedulefree.{cls}",
                  (f"schedulefree.{cls}: its own LR, no scheduler",), None, {"class": cls, **kw})


FORMAT = Format("schedulefree", "Schedule-Free optimizers (schedulefree package): Python construction",
                title="schedulefree", detect=detect, read=read, write=write, suffix=".py",
                lint="lrplan.frameworks.schedulefree_lint")
