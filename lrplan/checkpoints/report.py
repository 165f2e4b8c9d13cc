"""What ``inspect`` and ``at-step STEP CHECKPOINT`` report, as plain data (render/reports.py turns it into text).

``at_step`` gives the LR at any step of a checkpointed run and what a resume really uses there, per
the framework's load rules; with a new plan (``--plan``), the LR jump at the resume step and the new
curve. ``inspect`` gives the layout, the position, the recovered schedule and its key points, and the
stored LR against the recomputed one.
"""

from __future__ import annotations

import re

from ..errors import CheckpointError, LrplanError
from ..frameworks.base import Loaded, ReadOptions
from . import compare, extra_checks, history, outcomes
from .info import Info, at

# STEP prefixes in a framework's own counting -> lrplan's 0-based update index
PREFIXES = {
    "iter": (1, "Megatron iteration N runs update N-1"),
    "iteration": (1, "Megatron iteration N runs update N-1"),
    "global_step": (1, "HF/DeepSpeed global_step N is reached by update N-1"),
    "step": (1, "torchtitan step N (1-based) runs update N-1"),
    "update": (0, "lrplan's 0-based update index"),
}


def parse_ckpt_step(text: str, schedule) -> int:
    from ..keypoints import parse_step

    t = text.strip()
    m = re.fullmatch(r"([a-z_]+):\s*(.+)", t)
    if m and m.group(1) in PREFIXES:
        off, _ = PREFIXES[m.group(1)]
        k = parse_step(m.group(2), schedule) - off
        if k < 0:
            raise LrplanError(f"STEP {text}: {m.group(1)} numbers start at {off}")
        return k
    if m and m.group(1) in ("samples", "tokens", "tok"):
        t = m.group(2).strip() + ("samples" if m.group(1) == "samples" else "tok")
    t = re.sub(r"\s*(tokens|token)$", "tok", t)
    t = re.sub(r"\s+samples$", "samples", t)
    k = parse_step(t, schedule)
    if k < 0:
        raise LrplanError("steps are 0-based and cannot be negative")
    return k


def _head(info: Info) -> dict:
    return {"checkpoint": str(info.path), "framework": info.framework, "layout": info.layout,
            "position": info.position, "next_step": info.next_step}


def mismatch(out: dict) -> bool:
    """Does any check of the report disagree with the schedule (the exit status 5 of inspect/at-step)?"""
    hist = out.get("history", {}).get("checkpoints", [])
    log = out.get("log_history")
    return (out["check"]["match"] is False or any(c.get("match") is False for c in hist)
            or bool(log and log["entries"] and log["rule"] == "neither"))


def at_step(step: str, info: Info, *, plan: Loaded | None, opts: ReadOptions, config: str | None = None) -> dict:
    """The at-step report. ``plan`` is a new config to resume with (unless it is the checkpoint's schedule)."""
    from ..evaluate import lr_at
    from ..keypoints import phase_at

    if info.loaded is None:
        raise CheckpointError(f"{info.path}: no schedule to evaluate ({'; '.join(info.missing)})",
                              hint="pass --config with the run's config (or --plan SOURCE for a LambdaLR)")
    new = plan if plan is not None and not info.state.get("plan_is_schedule") else None
    s = info.loaded.schedule
    k = parse_ckpt_step(step, s)
    out = _head(info) | {"step": k, "lr": lr_at(s, k), "phase": phase_at(s, k), "check": compare(info),
                         "history": history(info, opts, config), "notes": list(info.notes) + list(info.loaded.notes),
                         "missing": info.missing}
    out.update(extra_checks(info))
    if info.loaded.step_name:
        from ..keypoints import framework_step

        out["framework_step"] = framework_step(info.loaded, k)
    results = outcomes(info, new, opts)
    out["resume"] = [_outcome(o, info, k) for o in results]
    if new is not None:
        # HF/torch/Lightning: load_state_dict keeps the old base LR, so the run follows the outcome's curve
        restored = info.framework in ("hf", "torch", "lightning") and results
        out["plan"] = _plan(info, results[0].schedule if restored else new,
                            results[0].first_lr if restored else None)
    return out


def _outcome(o, info: Info, k: int) -> dict:
    from ..evaluate import lr_at

    d = {"how": o.how, "first_lr": o.first_lr, "error": o.error, "note": o.note}
    if o.schedule is not None and o.first_lr is not None and o.restart:
        d["lr_at_step"] = lr_at(o.schedule.schedule, max(0, k - info.next_step))
    elif o.schedule is not None and o.first_lr is not None:
        d["lr_at_step"] = at(o.schedule, info, k)
    return d


def _plan(info: Info, new: Loaded, first_lr: float | None = None) -> dict:
    """The LR jump at the resume step (``first_lr``: what the framework really uses there) and the new curve."""
    from ..keypoints import total_steps

    old_lr = at(info.loaded, info)
    new_lr = at(new, info) if first_lr is None else first_lr
    end = total_steps(new.schedule)
    pts = []
    if end is not None and end > info.next_step:
        span = end - info.next_step
        for f in (0, 0.25, 0.5, 0.75, 1.0):
            kk = info.next_step + int(round(f * span))
            pts.append({"step": kk, "lr": at(new, info, kk)})
    out = {"source": new.label, "old_lr_at_resume": old_lr, "new_lr_at_resume": new_lr,
           "jump": new_lr - old_lr, "new_end": end, "curve": pts}
    short = _ends_above_floor(info, new, end)
    if short:
        out["warning"] = short
    return out


def _ends_above_floor(info: Info, new: Loaded, end: int | None) -> str | None:
    """A resumed run that stops before its schedule reaches the floor (a decay counted in samples that
    the new batch size and run length no longer cover), said with what the framework would need."""
    from ..evaluate import lr_at_position
    from . import module

    s = new.schedule
    if end is None or end <= info.next_step or s.lr.end is None or s.lr.after != "hold":
        return None
    floor = lr_at_position(s, s.lr.end)
    reached = at(new, info, end)  # where the curve is once the last update is done
    if not reached > floor * (1 + 1e-9) + 1e-18:
        return None
    last = at(new, info, end - 1)
    text = (f"the resumed run ends after step {end - 1} at LR {last:.6g}, before its decay reaches the floor "
            f"{floor:.6g}")
    advice = getattr(module(info.framework), "end_advice", None)
    more = advice(info, new, end) if advice is not None else None
    return text + (f": {more}" if more else "")


def inspect(info: Info, opts: ReadOptions = ReadOptions(), config: str | None = None) -> dict:
    """The inspect report: layout, position, recovered schedule and key points, stored vs recomputed LR,
    and every other LR the run's files record (earlier checkpoints, HF's log history)."""
    out = _head(info) | {"check": compare(info), "history": history(info, opts, config), "missing": info.missing,
                         "notes": list(info.notes)}
    if info.loaded is not None:
        out.update(_schedule_part(info))
    out.update(extra_checks(info))
    return out


def _schedule_part(info: Info) -> dict:
    from ..keypoints import key_steps, points
    from ..spec.printer import print_spec

    s = info.loaded.schedule
    try:
        spec = print_spec(s)
    except LrplanError as e:
        spec = f"(not expressible as a spec: {e.message})"
    rows = key_steps(s)
    pts = points(s, [k for k, _ in rows], dict(rows))
    return {"schedule": spec, "source": info.loaded.label, "schedule_notes": list(info.loaded.notes),
            "key_points": [{"step": p.step, "lr": p.lr, "phase": p.phase, "note": p.note} for p in pts]}
