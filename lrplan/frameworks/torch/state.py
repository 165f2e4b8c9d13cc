"""torch.optim.lr_scheduler state dicts -> IR, for the self-describing classes.

A scheduler's ``state_dict()`` is its ``__dict__`` minus the optimizer (torch 2.13
``torch/optim/lr_scheduler.py``): CosineAnnealingLR keeps ``T_max``/``eta_min``, StepLR ``step_size``/
``gamma`` and so on, plus ``base_lrs``, ``last_epoch`` (updates done) and ``_last_lr`` (the LR of the
next update). The class itself is not stored, so it is recognised by its key set (table below).
LambdaLR keeps no shape (its lambdas are not pickled) and OneCycleLR keeps its LR anchors in the
optimizer, so both need ``--plan``; so does a CyclicLR with a custom scale_fn. CyclicLR's momentum
cycling is not part of the LR curve. Each builder returns segments whose last one is open-ended, in
multiples of ``base_lrs[0]``; SequentialLR clips and shifts its children into their windows.
"""

from __future__ import annotations

from ...errors import CheckpointError
from ...ir import Curve, Level, Schedule, Segment

# class name -> keys that identify its state dict (checked in this order; first full match wins)
SIGNATURES = (
    ("SWALR", ("_anneal_strategy", "anneal_epochs")),  # torch.optim.swa_utils (lrplan/checkpoints/swa.py)
    ("SequentialLR", ("_schedulers", "_milestones")),
    ("ChainedScheduler", ("_schedulers",)),
    ("OneCycleLR", ("total_steps", "_schedule_phases")),
    ("CyclicLR", ("total_size", "step_ratio", "max_lrs")),  # must come before ExponentialLR (both have gamma)
    ("CosineAnnealingWarmRestarts", ("T_0", "T_mult", "T_i")),
    ("CosineAnnealingLR", ("T_max", "eta_min")),
    ("MultiStepLR", ("milestones", "gamma")),
    ("StepLR", ("step_size", "gamma")),
    ("LinearLR", ("start_factor", "end_factor", "total_iters")),
    ("PolynomialLR", ("total_iters", "power")),
    ("ConstantLR", ("factor", "total_iters")),
    ("ExponentialLR", ("gamma",)),
    ("LambdaLR", ("lr_lambdas",)),  # or MultiplicativeLR: torch 2.13 saves both with the same keys
    ("ReduceLROnPlateau", ("best", "num_bad_epochs")),
)
NEEDS_PLAN = {
    "SWALR": "an SWALR state keeps neither swa_lr (it is in the optimizer's param groups) nor the LR it took over",
    "LambdaLR": "a LambdaLR or MultiplicativeLR stores no schedule (its lambda is not saved; torch saves "
                "both classes with the same fields, so the file cannot say which of the two it was)",
    "MultiplicativeLR": "a MultiplicativeLR stores no schedule (its lambda is not saved)",
    "OneCycleLR": "OneCycleLR keeps max_lr/min_lr in the optimizer's param groups, not in its state",
    "ReduceLROnPlateau": "ReduceLROnPlateau follows a metric, not the step",
    "CyclicLR": "this CyclicLR uses a custom scale_fn, which is not saved",
    "ChainedScheduler": "ChainedScheduler does not store its children's classes",
}


def scheduler_class(state: dict) -> str | None:
    if not isinstance(state, dict) or "last_epoch" not in state:
        return None
    for name, keys in SIGNATURES:
        if all(k in state for k in keys):
            return name
    return None


def _num(state: dict, key: str, cls: str) -> float:
    v = state.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise CheckpointError(f"{cls} state has no numeric {key!r} (got {v!r})")
    return float(v)


def _base(state: dict) -> float:
    b = state.get("base_lrs")
    if not isinstance(b, list) or not b or not isinstance(b[0], (int, float)) or not b[0] > 0:
        raise CheckpointError("the scheduler state has no positive base_lrs", hint="pass --plan SOURCE")
    return float(b[0])


def _segments(cls: str, st: dict, base: float) -> list[Segment]:
    """Open-ended segments, in ratios of ``base``, for one scheduler class."""
    if cls == "CosineAnnealingLR":
        T = _num(st, "T_max", cls)
        # closed form eta_min + (b - eta_min) (1 + cos(pi k / T)) / 2, periodic past T_max: keep evaluating
        return [Segment("cosine", 0, None, Level(1.0), Level(_num(st, "eta_min", cls) / base), span=T,
                        label="cosine")]
    if cls == "StepLR":
        return [Segment("exp", 0, None, Level(1.0), params=(("rate", _num(st, "gamma", cls)),
                                                              ("every", _num(st, "step_size", cls)),
                                                              ("staircase", True)), label="step")]
    if cls == "ExponentialLR":
        return [Segment("exp", 0, None, Level(1.0), params=(("rate", _num(st, "gamma", cls)),), label="exp")]
    if cls == "MultiStepLR":
        return [_multistep(st)]
    if cls == "LinearLR":
        n = _num(st, "total_iters", cls)
        a, b = _num(st, "start_factor", cls), _num(st, "end_factor", cls)
        return _then_hold(n, lambda: Segment("linear", 0, n, Level(a), Level(b), label="linear"), Level(b), Level(a))
    if cls == "PolynomialLR":
        n = _num(st, "total_iters", cls)
        power = _num(st, "power", cls)
        return _then_hold(n, lambda: Segment("poly", 0, n, Level(1.0), Level(0.0), params=(("power", power),),
                                             label="poly"), Level(0.0), Level(1.0))
    if cls == "ConstantLR":
        n = _num(st, "total_iters", cls)
        factor = _num(st, "factor", cls)
        return _then_hold(n, lambda: Segment("constant", 0, n, Level(factor), label="constant"), Level(1.0),
                          Level(factor))
    if cls == "CosineAnnealingWarmRestarts":
        # closed form eta_min + (b - eta_min)(1 + cos(pi T_cur / T_i)) / 2, T_i *= T_mult at each restart
        return [Segment("restarts", 0, None, Level(1.0), Level(_num(st, "eta_min", cls) / base),
                        params=(("cycle", _num(st, "T_0", cls)), ("mult", _num(st, "T_mult", cls))),
                        label="restarts")]
    if cls == "CyclicLR" and st.get("_scale_fn_custom") is None:
        return [_cyclic(st, base)]
    shown = "LambdaLR/MultiplicativeLR" if cls == "LambdaLR" else cls
    raise CheckpointError(f"a {shown} state cannot be turned into a schedule: {NEEDS_PLAN.get(cls, 'unsupported')}",
                          hint="pass --plan SOURCE with the schedule the run used")


def _cyclic(st: dict, base: float) -> Segment:
    """torch CyclicLR (torch 2.13): total_size = up + down and step_ratio = up / total_size, both floats of
    whole step counts; recover up exactly so the shape's up / (up + down) is torch's step_ratio bit for bit."""
    total, ratio = _num(st, "total_size", "CyclicLR"), _num(st, "step_ratio", "CyclicLR")
    up = float(round(ratio * total))
    if up / total != ratio or not 0 < up < total:
        raise CheckpointError("CyclicLR step sizes are not whole numbers of steps", hint="pass --plan SOURCE")
    mode, scale_mode = st.get("mode"), st.get("scale_mode")
    if (mode, scale_mode) not in (("triangular", "cycle"), ("triangular2", "cycle"), ("exp_range", "iterations")):
        raise CheckpointError(f"CyclicLR mode {mode!r} with scale_mode {scale_mode!r} is not rebuilt",
                              hint="pass --plan SOURCE")
    peak = st.get("max_lrs")
    if not isinstance(peak, list) or not peak or not isinstance(peak[0], (int, float)):
        raise CheckpointError("CyclicLR state has no max_lrs")
    return Segment("cyclic", 0, None, Level(1.0), Level(float(peak[0]) / base),
                   params=(("up", up), ("down", total - up), ("mode", mode), ("gamma", _num(st, "gamma", "CyclicLR"))),
                   label="cyclic")


def _then_hold(n: float, first, level: Level, at_zero: Level) -> list[Segment]:
    """``first()`` on [0, n), then ``level`` for ever.

    total_iters=0 is a quirk of the recursive forms (torch 2.13 lr_scheduler.py): the epoch-0 branch
    applies the start factor and the "end" branch never fires, so ``at_zero`` holds for ever
    (ConstantLR: factor, LinearLR: start_factor, PolynomialLR: the base LR).
    """
    if n <= 0:
        return [Segment("constant", 0, None, at_zero, label="hold")]
    return [first(), Segment("constant", n, None, level, label="hold")]


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**13


def _multistep(st: dict) -> Segment:
    counts = st["milestones"]
    if isinstance(counts, list):  # older torch stored a list
        if not all(_whole(m) for m in counts):
            raise CheckpointError(f"MultiStepLR milestones must be whole step numbers, got {counts!r:.60}")
        counts = {m: counts.count(m) for m in counts}
    if not isinstance(counts, dict) or not all(_whole(m) and _whole(c) for m, c in counts.items()):
        raise CheckpointError(f"MultiStepLR milestones must map step numbers to counts, got {counts!r:.60}")
    g = _num(st, "gamma", "MultiStepLR")
    ms = sorted(counts)
    if not ms:  # no milestones: the base LR for ever
        return Segment("constant", 0, None, Level(1.0), label="constant")
    return Segment("multistep", 0, None, Level(1.0), params=(("milestones", tuple(float(m) for m in ms)),
                                                             ("gammas", tuple(g ** counts[m] for m in ms))),
                   label="multistep")


def _window(segs: list[Segment], start: float, end: float | None) -> list[Segment]:
    """Shift child segments to start at ``start`` and cut them at ``end`` (local time k - start)."""
    out = []
    for s in segs:
        if end is not None and s.start + start >= end:
            break
        new_end = None if s.end is None else s.end + start
        if end is not None and (new_end is None or new_end > end):
            new_end = end
        out.append(Segment(s.kind, s.start + start, new_end, s.a, s.b, s.params, origin=s.tau0 + start,
                           span=s.span_value if (s.span is not None or s.end is not None) else None, label=s.label))
    return out


def build(state: dict) -> tuple[Schedule, str]:
    """(schedule, class name) for a self-describing scheduler state dict."""
    cls = scheduler_class(state)
    if cls is None:
        raise CheckpointError("not a torch LR scheduler state_dict (no last_epoch/base_lrs)")
    if cls == "SequentialLR":
        children, milestones = state["_schedulers"], state["_milestones"]
        if not isinstance(children, list) or not all(isinstance(c, dict) for c in children):
            raise CheckpointError(f"SequentialLR _schedulers must be a list of scheduler states, got {children!r:.60}")
        if not isinstance(milestones, list) or not all(_whole(m) for m in milestones):
            raise CheckpointError(f"SequentialLR _milestones must be whole step numbers, got {milestones!r:.60}")
        ms = [float(m) for m in milestones]
        base = _base(children[0]) if children and isinstance(children[0], dict) else 0.0
        bounds = [0.0, *ms]
        segs: list[Segment] = []
        for i, child in enumerate(children):
            ccls = scheduler_class(child)
            if ccls is None or ccls == "SequentialLR":
                raise CheckpointError(f"SequentialLR child {i} is not a scheduler lrplan can rebuild")
            lo, hi = bounds[i], (bounds[i + 1] if i + 1 < len(bounds) else None)
            if hi is not None and hi <= lo:
                continue
            segs += _window(_segments(ccls, child, _base(child)), lo, hi)
        names = "+".join(scheduler_class(c) or "?" for c in children)
        return Schedule(Curve(tuple(segs)), peak_lr=base), f"SequentialLR({names})"
    base = _base(state)
    return Schedule(Curve(tuple(_segments(cls, state, base))), peak_lr=base, total=_natural_total(cls, state)), cls


def _natural_total(cls: str, st: dict) -> float | None:
    key = {"CosineAnnealingLR": "T_max", "LinearLR": "total_iters", "PolynomialLR": "total_iters",
           "ConstantLR": "total_iters"}.get(cls)
    v = st.get(key) if key else None
    return float(v) if isinstance(v, (int, float)) and v > 0 else None
