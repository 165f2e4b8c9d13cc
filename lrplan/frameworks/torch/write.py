"""PyTorch writer: Python code that builds the scheduler for an existing ``optimizer``.

Default: a closed-form ``LambdaLR``. The emitted code carries the schedule as data (``SEGMENTS``,
written with ``repr``) plus one small pure function per shape, written with ``math`` in the same
operation order as :mod:`lrplan.shapes`, so the LR torch applies equals ``lrplan.evaluate.lr`` to the
last bit or two for every IR (every shape, any axis: samples/tokens axes under a batch ramp become
a table of batch-size runs that maps the update index to its position).

``--variant builtin`` asks for torch's own classes instead. Only warmup + cosine to a floor > 0
(``SequentialLR([LambdaLR(k / W), CosineAnnealingLR(T_max=T - W, eta_min=floor)], [W])``) and
``MultiStepLR`` are offered: ``CosineAnnealingLR`` updates the LR recursively (torch 2.13.0
``torch/optim/lr_scheduler.py``, ``CosineAnnealingLR.get_lr``), which drifts about 1e-13 absolute
over 1e5 steps; against a floor of 0 that is a relative error of 1e-11 near the end, outside the
1e-12 contract, so a zero floor is refused there. Anything else is ``InexpressibleError``.

Stepping convention (torch 2.13.0 ``LRScheduler.__init__``/``step``): the constructor applies
lr(0); each ``scheduler.step()`` after ``optimizer.step()`` moves to the next update, so update ``k``
uses the value at ``last_epoch == k`` -- exactly lrplan's step ``k``.
"""

from __future__ import annotations

from ...errors import InexpressibleError, LrplanError
from ...ir import Curve, Level, Schedule, Segment
from ..base import Candidate
from ..pycode import STEP_COMMENT, assign, check_companions, closed_form_module, comment, header

VARIANTS = ("lambda", "builtin", "swalr")


def _set_peak_lines(schedule: Schedule) -> list[str]:
    if schedule.peak_lr is None:
        return [comment("No peak LR in the schedule: lr_lambda scales the optimizer's own lr.")]
    return ["for group in optimizer.param_groups:",
            '    group["lr"] = PEAK_LR  # the schedule\'s peak; set before the scheduler is built']


def lambda_code(schedule: Schedule, opts) -> tuple[str, str]:
    """The emitted text and the stdlib-only module inside it that the gate runs."""
    module = closed_form_module(schedule)
    lines = [*header(opts, "torch.optim.lr_scheduler.LambdaLR"),
             comment("Uses an existing `optimizer`; closed form of the schedule, exact at every step."),
             "from torch.optim.lr_scheduler import LambdaLR", *module, "",
             *_set_peak_lines(schedule),
             "scheduler = LambdaLR(optimizer, lr_lambda)", *STEP_COMMENT]
    return "\n".join(lines) + "\n", "\n".join(module)


# ---- built-in classes (--variant builtin) -------------------------------------------------------


def _builtin_cosine(schedule: Schedule):
    """(W, T, eta_min) for [linear 0 -> peak] + cosine(peak -> floor > 0), else None."""
    segs, peak = schedule.lr.segments, schedule.peak
    plain = all(s.origin is None and s.span is None for s in segs)
    if not plain or schedule.lr.after != "hold" or schedule.axis.unit != "steps" or len(segs) > 2:
        return None
    cos = segs[-1]
    if cos.kind != "cosine" or cos.param("cycles") != 0.5 or cos.param("exponent") != 1.0 or cos.end is None:
        return None
    if cos.a.resolve(peak) != peak or not cos.b.resolve(peak) > 0:
        return None
    if len(segs) == 2:
        w = segs[0]
        if w.kind != "linear" or w.a.value != 0 or w.b.resolve(peak) != peak or w.end != int(w.end):
            return None
    if cos.start != int(cos.start) or cos.end != int(cos.end):
        return None
    return int(cos.start), int(cos.end), cos.b.resolve(peak)


def _builtin_multistep(schedule: Schedule):
    segs, peak = schedule.lr.segments, schedule.peak
    s = segs[0]
    if len(segs) != 1 or s.kind != "multistep" or s.a.resolve(peak) != peak or schedule.axis.unit != "steps":
        return None
    gammas, ms = s.param("gammas"), s.param("milestones")
    if s.origin is not None or s.span is not None or len(set(gammas)) > 1 or any(m != int(m) for m in ms):
        return None
    # MultiStepLR never ends: after a finite phase the IR must keep the last level the same way
    # (no periodic repeat, and no milestone left for 'hold' to cut off).
    length = s.length()
    if schedule.lr.after == "periodic" or (length is not None and schedule.lr.after == "hold"
                                           and any(m >= length for m in ms)):
        return None
    return [int(m) for m in ms], (gammas[0] if gammas else 0.1)


def _cosine_readback(schedule: Schedule, w: int, t: int, eta_min: float):
    """What SequentialLR([LambdaLR(k / W), CosineAnnealingLR(T - W, eta_min)]) computes, in closed form
    (torch's recursion drifts from it by about 1e-12 relative: the writer says so in a note)."""
    peak = schedule.peak
    segs = [Segment("linear", 0.0, float(w), Level(0.0), Level(1.0), label="warmup")] if w > 0 else []
    segs.append(Segment("cosine", float(w), None, Level(1.0), Level(eta_min / peak), span=float(t - w),
                        label="cosine"))
    return Schedule(Curve(tuple(segs)), peak_lr=schedule.peak_lr, total=schedule.total, axis=schedule.axis)


def _multistep_readback(schedule: Schedule, milestones: list[int], gamma: float):
    from .state import build

    state = {"last_epoch": 0, "base_lrs": [schedule.peak], "milestones": {m: 1 for m in milestones},
             "gamma": gamma, "_last_lr": [schedule.peak]}
    built, _ = build(state)
    return Schedule(built.lr, peak_lr=schedule.peak_lr, total=schedule.total, axis=schedule.axis)


def builtin_candidate(schedule: Schedule, opts) -> Candidate:
    head = [*header(opts, "torch built-in schedulers"), comment("Uses an existing `optimizer`."), "import torch", "",
            assign("PEAK_LR", float(schedule.peak)), *_set_peak_lines(schedule)]
    cos = _builtin_cosine(schedule)
    if cos is not None and not opts.approx:
        raise InexpressibleError(
            "torch's CosineAnnealingLR updates the LR recursively from the previous value, which drifts from the"
            " closed form by about 1e-12 relative over 1e5 steps (beyond lrplan's exactness contract) and rises"
            " again after T_max",
            hint="drop --variant builtin for the exact LambdaLR, or pass --approx to accept the built-in classes")
    if cos is not None:
        w, t, eta_min = cos
        body = [assign("WARMUP_STEPS", w), assign("TOTAL_STEPS", t), assign("MIN_LR", eta_min),
                "cosine = torch.optim.lr_scheduler.CosineAnnealingLR(",
                "    optimizer, T_max=TOTAL_STEPS - WARMUP_STEPS, eta_min=MIN_LR)"]
        if w > 0:
            body += ["warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / WARMUP_STEPS)",
                     "scheduler = torch.optim.lr_scheduler.SequentialLR(",
                     "    optimizer, [warmup, cosine], milestones=[WARMUP_STEPS])"]
        else:
            body += ["scheduler = cosine"]
        body.append(comment("CosineAnnealingLR is periodic: past TOTAL_STEPS the LR rises again."))
        notes = ("torch builtin (--approx): CosineAnnealingLR's recursive update drifts about 1e-12 relative over"
                 " 1e5 steps, and the LR rises again after TOTAL_STEPS",)
        return Candidate("\n".join(head + body + STEP_COMMENT) + "\n", "builtin", notes,
                         readback=lambda: _cosine_readback(schedule, w, t, eta_min), approx=True,
                         why="CosineAnnealingLR's recursion drifts from its closed form")
    ms = _builtin_multistep(schedule)
    if ms is not None:
        body = [assign("MILESTONES", ms[0]),
                "scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=MILESTONES, gamma="
                + repr(ms[1]) + ")"]
        return Candidate("\n".join(head + body + STEP_COMMENT) + "\n", "builtin",
                         readback=lambda: _multistep_readback(schedule, *ms))
    raise InexpressibleError(
        "torch built-in schedulers express exactly only warmup (k/W) + cosine to a floor > 0 and MultiStepLR"
        " with one gamma; this schedule is " + describe(schedule),
        hint="drop --variant builtin: the default LambdaLR closed form is exact for any schedule")


def _short(x: float, exact) -> float:
    """The shortest decimal (12 digits or fewer) that still passes ``exact``, else ``x`` itself."""
    for digits in (6, 9, 12):
        y = float(f"{x:.{digits}g}")
        if exact(y):
            return y
    return x


def onecycle_args(schedule: Schedule) -> dict | None:
    """OneCycleLR's keyword arguments when the schedule is one whole ``onecycle`` phase (lrplan's own
    model of OneCycleLR, checked against torch in tests/frameworks/test_onecycle.py), else None."""
    segs, mom, peak = schedule.lr.segments, schedule.momentum, schedule.peak_lr
    if (peak is None or schedule.total is None or schedule.axis.unit != "steps" or mom is None
            or not segs or any(s.label != "onecycle" for s in segs) or segs[0].start != 0):
        return None
    anneal = [s for s in segs if s.kind != "constant"]
    kinds = {s.kind for s in anneal}
    if len(anneal) not in (2, 3) or len(kinds) != 1 or not kinds <= {"cosine", "linear"}:
        return None
    n = schedule.total
    if n != int(n) or anneal[0].end is None:
        return None
    initial, floor = anneal[0].a.resolve(peak), anneal[-1].b.resolve(peak)
    if not (initial > 0 and floor > 0):
        return None
    first = mom.segments[1] if mom.segments[0].kind == "constant" else mom.segments[0]
    args = {"max_lr": peak, "total_steps": int(n),
            "pct_start": _short((anneal[0].end + 1) / n, lambda y: float(y * n - 1) == anneal[0].end),
            "anneal_strategy": "cos" if kinds == {"cosine"} else "linear",
            "div_factor": _short(peak / initial, lambda y: peak / y == initial),
            "three_phase": len(anneal) == 3,
            "base_momentum": first.b.value, "max_momentum": first.a.value}
    div = args["div_factor"]
    args["final_div_factor"] = _short((peak / div) / floor, lambda y: (peak / div) / y == floor)
    return args


def _onecycle_readback(schedule: Schedule, a: dict) -> Schedule:
    from ...spec import parse_spec

    spec = (f"onecycle(max_at={a['pct_start']!r},div={a['div_factor']!r},final_div={a['final_div_factor']!r},"
            f"anneal={a['anneal_strategy']},three_phase={str(a['three_phase']).lower()},"
            f"mom={a['base_momentum']!r}:{a['max_momentum']!r})")
    return parse_spec(spec, steps=str(a["total_steps"]), lr=a["max_lr"])


def onecycle_candidate(schedule: Schedule, opts, a: dict) -> Candidate:
    """torch's own OneCycleLR, LR and momentum (it cycles the optimizer's momentum or Adam's beta1)."""
    body = [*header(opts, "torch.optim.lr_scheduler.OneCycleLR"),
            comment("Uses an existing `optimizer` with momentum (SGD momentum=..., or Adam/AdamW betas):"),
            comment("OneCycleLR sets both the LR and the momentum (beta1) of every param group."),
            "import torch", "",
            "scheduler = torch.optim.lr_scheduler.OneCycleLR(",
            f"    optimizer, max_lr={a['max_lr']!r}, total_steps={a['total_steps']}, pct_start={a['pct_start']!r},",
            f"    anneal_strategy={a['anneal_strategy']!r}, div_factor={a['div_factor']!r}, "
            f"final_div_factor={a['final_div_factor']!r},",
            f"    three_phase={a['three_phase']}, cycle_momentum=True, base_momentum={a['base_momentum']!r}, "
            f"max_momentum={a['max_momentum']!r})",
            *STEP_COMMENT,
            comment("OneCycleLR raises if stepped more than total_steps times: it ends with the run.")]
    return Candidate("\n".join(body) + "\n", "builtin", (), readback=lambda: _onecycle_readback(schedule, a))


def describe(schedule: Schedule) -> str:
    return " + ".join(s.kind for s in schedule.lr.segments) + " (after: " + schedule.lr.after + ")"


def write(schedule: Schedule, opts):
    if opts.variant not in (None, *VARIANTS):
        raise LrplanError(f"unknown torch variant {opts.variant!r}", hint="variants: lambda (default), builtin")
    cycle = onecycle_args(schedule) if opts.variant in (None, "builtin") else None
    if cycle is not None:  # the exact equivalent of the onecycle phase, momentum included
        yield onecycle_candidate(schedule, opts, cycle)
    notes = tuple(check_companions(schedule, "torch", opts.approx))
    if opts.variant == "builtin":
        c = builtin_candidate(schedule, opts)
        yield Candidate(c.text, c.variant, notes + c.notes, readback=c.readback, approx=c.approx, why=c.why)
        return
    if opts.variant in (None, "swalr"):
        from .swa import swa_candidates  # an SWA phase: SWALR + AveragedModel (lrplan/frameworks/torch/swa.py)

        yield from swa_candidates(schedule, opts, notes, "torch")
        if opts.variant == "swalr":
            return
    text, module = lambda_code(schedule, opts)
    yield Candidate(text, "lambda", notes, code=module)


# Resuming at update r: LambdaLR(..., last_epoch=r-1) steps once when built (torch 2.13
# LRScheduler._initial_step), so update r uses lr_lambda(r); it needs 'initial_lr' in every param group.
RESUME_MARKER = "LambdaLR(optimizer, lr_lambda)"
RESUME_LINES = [
    "# Resuming at update RESUME_STEP: this replaces the scheduler built above (do not load the old",
    "# scheduler's state_dict). Built with last_epoch=RESUME_STEP - 1 it steps once, so update RESUME_STEP",
    "# uses lr_lambda(RESUME_STEP); keep calling scheduler.step() after each optimizer.step().",
    "RESUME_STEP = {r}",
    "for group in optimizer.param_groups:",
    '    group["initial_lr"] = PEAK_LR',
    "scheduler = LambdaLR(optimizer, lr_lambda, last_epoch=RESUME_STEP - 1)"]


def resume_code(text: str, framework: str, r: int) -> str:
    """Lines appended to the emitted LambdaLR code so that it resumes at update ``r``."""
    if RESUME_MARKER not in text:
        return ""
    return "\n" + "\n".join(line.format(r=int(r)) for line in RESUME_LINES) + "\n"
