"""``lrplan branch``: several decays off one warmup-stable-decay (WSD) stable phase.

WSD (MiniCPM, Hu et al. 2024; Hägele et al. 2024) keeps one run at its stable LR and branches decays off
its checkpoints: a branch that ends at step ``T`` holds the stable LR until ``T - D`` and decays over
``D`` steps to the floor. ``--at`` gives the branch ends (``60%,80%,100%`` of the stable run's length,
or step counts), ``--decay`` the decay length (a % is of each branch's own length, ``int(f * T)`` as the
authors' ``wsd_schedule`` and Megatron's ``--lr-wsd-decay-iters`` count it; or a step count), ``--shape``
its form (``1-sqrt``, ``linear``, ``cosine``, ``exp-anneal``; default: the stable run's own decay, else
``1-sqrt``). Each branch is the stable run's own curve up to ``T - D`` (warmup and stable phase unchanged),
so a checkpoint of the stable run at step ``r <= T - D`` resumes into it with no jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InexpressibleError, LrplanError
from ..ir import ZERO, Axis, Curve, Level, Schedule, Segment
from .extend import _clip

DECAY_KINDS = ("1-sqrt", "linear", "cosine", "exp-anneal", "poly")


@dataclass(frozen=True)
class Branch:
    end: int  # the branch's run length (updates)
    decay_start: int  # first update of the decay
    schedule: Schedule
    tokens: float | None  # tokens consumed by the whole branch, when the batch and sequence length are known

    @property
    def label(self) -> str:
        return f"branch@{self.end}"


def stable_phase(s: Schedule) -> tuple[float, float, Level, str, Level]:
    """(first position of the stable phase, its last position (exclusive), its level, the run's decay shape,
    the floor) of a WSD-like schedule: warmup, a constant phase, maybe a decay."""
    segs = s.lr.segments
    idx = next((i for i, seg in enumerate(segs) if seg.kind == "constant" and seg.label != "warmup"), None)
    if idx is None:
        raise LrplanError("branch needs a stable (constant) phase to branch from; this schedule is "
                          + " + ".join(seg.kind for seg in segs),
                          hint="e.g. warmup=2000,constant,1-sqrt=10% (WSD), or pass the stable run's plan")
    stable = segs[idx]
    after = segs[idx + 1] if idx + 1 < len(segs) else None
    end = stable.end if stable.end is not None else math.inf
    if after is None and s.lr.after == "hold" and stable.end is not None:
        end = math.inf  # the constant is held after the planned end too
    kind, floor = "1-sqrt", ZERO
    if after is not None and after.kind in DECAY_KINDS:
        kind, floor = after.kind, after.b
    return stable.start, end, stable.a, kind, floor


def _count(text: str, total: float | None, what: str) -> int:
    from ..quantity import QuantityError, parse_quantity

    try:
        q = parse_quantity(text.strip())
        v = q.resolve(total=total, per_unit={})
    except QuantityError as e:
        raise LrplanError(f"{what}: {e}", where=what,
                          hint="pass --steps N for percentages" if "total" in str(e) else None) from None
    if v != int(v) or v <= 0:
        raise LrplanError(f"{what} must be a positive whole number of steps, got {text!r} ({v:g})", where=what)
    return int(v)


def branches(s: Schedule, at: str, decay: str, shape: str | None = None) -> list[Branch]:
    if s.axis.unit != "steps":
        raise LrplanError("branch works on optimizer steps; this schedule is on " + s.axis.unit,
                          hint="convert it to steps first (lrplan convert SOURCE --to spec on a steps axis)")
    if shape is not None and shape not in DECAY_KINDS:
        raise LrplanError(f"--shape must be one of {', '.join(DECAY_KINDS)}, got {shape!r}", where="--shape")
    if s.scale is not None:
        raise InexpressibleError("the schedule's LR is multiplied by a scale curve (per-restart ramps such as "
                                 "axolotl's jagged_restart_steps): a branch would drop it",
                                 hint="branch the schedule without its scale")
    start, end, level, kind, floor = stable_phase(s)
    kind = shape or kind
    total = s.total
    out = []
    for part in at.split(","):
        T = _count(part, total, "--at")
        pct = decay.strip().endswith("%")
        D = int(float(decay.strip()[:-1]) / 100 * T) if pct else _count(decay, total, "--decay")
        if pct and not D > 0:
            raise LrplanError(f"--decay {decay} of {T} steps is no step at all", where="--decay")
        d0 = T - D
        if d0 < start:
            raise LrplanError(f"the branch ending at {T} would start its {D}-step decay at {d0}, before the stable "
                              f"phase starts ({start:g})", where="--at", hint="end it later or shorten --decay")
        if d0 > end:
            raise LrplanError(f"the branch ending at {T} decays from {d0}, after the stable phase ends ({end:g})",
                              where="--at", hint="branch earlier, or pass the stable run (no decay) as the plan")
        segs = _clip(s.lr, s.peak, float(d0)) if d0 > 0 else []
        segs.append(Segment(kind, float(d0), float(T), level, floor, label="decay"))
        b = Schedule(Curve(tuple(segs)), peak_lr=s.peak_lr, total=float(T), axis=s.axis)
        out.append(Branch(T, d0, b, _tokens(s.axis, T)))
    return out


def _tokens(axis: Axis, steps: int) -> float | None:
    if axis.batch is None or axis.seq_len is None:
        return None
    from ..batch import position
    from ..ops import math_ops

    return float(position(Axis("tokens", axis.batch, axis.seq_len), float(steps), math_ops))
