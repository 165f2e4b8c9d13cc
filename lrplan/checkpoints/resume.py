"""``lrplan at-step STEP CKPT``: the LR at any step of a checkpointed run and what a resume really uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import CheckpointError, ExitCode, LrplanError
from ..frameworks.base import ReadOptions

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


def report(step: str, path: Path, *, opts: ReadOptions, plan: str | None, config: str | None) -> dict:
    from ..evaluate import lr_at
    from ..keypoints import phase_at
    from ..sources import load
    from . import compare, read_info
    from .rules import outcomes

    info = read_info(path, opts, config=config, plan=plan)
    if info.loaded is None:
        raise CheckpointError(f"{path}: no schedule to evaluate ({'; '.join(info.missing)})",
                              hint="pass --config with the run's config (or --plan SOURCE for a LambdaLR)")
    uses_plan_as_schedule = any(n.startswith("schedule from --plan") for n in info.notes)
    new = load(plan, opts=opts) if plan is not None and not uses_plan_as_schedule else None
    s = info.loaded.schedule
    k = parse_ckpt_step(step, s)
    out = {"checkpoint": str(info.path), "framework": info.framework, "layout": info.layout,
           "position": info.position, "next_step": info.next_step, "step": k, "lr": lr_at(s, k),
           "phase": phase_at(s, k), "check": compare(info), "notes": list(info.notes) + list(info.loaded.notes),
           "missing": info.missing}
    if info.loaded.step_name:
        out["framework_step"] = info.loaded.step_name(k)
    results = outcomes(info, new, opts)
    out["resume"] = [_outcome(o, info, k) for o in results]
    if new is not None:
        # HF/torch/Lightning: load_state_dict keeps the old base LR, so the run follows the outcome's curve
        restored = info.framework in ("hf", "torch", "lightning") and results
        out["plan"] = _plan(info, results[0].schedule if restored else new,
                            results[0].first_lr if restored else None)
    return out


def _outcome(o, info, k: int) -> dict:
    from ..evaluate import lr_at
    from .rules import at

    d = {"how": o.how, "first_lr": o.first_lr, "error": o.error, "note": o.note}
    if o.schedule is not None and o.first_lr is not None and o.restart:
        d["lr_at_step"] = lr_at(o.schedule.schedule, max(0, k - info.next_step))
    elif o.schedule is not None and o.first_lr is not None:
        d["lr_at_step"] = at(o.schedule, info, k)
    return d


def _plan(info, new, first_lr: float | None = None) -> dict:
    """The LR jump at the resume step (``first_lr``: what the framework really uses there) and the new curve."""
    from ..keypoints import total_steps
    from .rules import at

    old_lr = at(info.loaded, info)
    new_lr = at(new, info) if first_lr is None else first_lr
    end = total_steps(new.schedule)
    pts = []
    if end is not None and end > info.next_step:
        span = end - info.next_step
        for f in (0, 0.25, 0.5, 0.75, 1.0):
            kk = info.next_step + int(round(f * span))
            pts.append({"step": kk, "lr": at(new, info, kk)})
    return {"source": new.label, "old_lr_at_resume": old_lr, "new_lr_at_resume": new_lr,
            "jump": new_lr - old_lr, "new_end": end, "curve": pts}


def at_step_report(step: str, path: Path, *, opts, plan: str | None, config: str | None, as_json: bool) -> int:
    from .readers import BAD_VALUE, bad_value

    try:
        out = report(step, path, opts=opts, plan=plan, config=config)
    except BAD_VALUE as e:
        raise bad_value(path, e) from None
    if as_json:
        print(json.dumps(out, default=str))
    else:
        print(render(out))
    return int(ExitCode.MISMATCH) if out["check"]["match"] is False else 0


def render(out: dict) -> str:
    pos = ", ".join(f"{k} {v}" for k, v in out["position"].items() if v is not None)
    lines = [f"{out['framework']} checkpoint: {out['layout']}",
             f"  position: {pos}; the next update is lrplan step {out['next_step']}",
             f"step {out['step']}: lr {out['lr']:.6g} ({out['phase']})"]
    if out.get("framework_step"):
        lines.append(f"  {out['framework_step']}")
    lines += _check_lines(out["check"])
    lines.append(f"resuming (first update, step {out['next_step']}):")
    for o in out["resume"]:
        val = "fails: " + o["error"] if o["error"] else f"lr {o['first_lr']:.6g}" if o["first_lr"] is not None else "?"
        lines.append(f"  {o['how']}: {val}" + (f" ({o['note']})" if o["note"] else ""))
    if "plan" in out:
        p = out["plan"]
        lines.append(f"--plan {p['source']}: LR at the resume step {p['old_lr_at_resume']:.6g} -> "
                     f"{p['new_lr_at_resume']:.6g} (jump {p['jump']:+.3g}); new end {p['new_end']}")
        for pt in p["curve"]:
            lines.append(f"  step {pt['step']}: {pt['lr']:.6g}")
    for m in out["missing"]:
        lines.append(f"missing: {m}")
    return "\n".join(lines)


def _check_lines(c: dict) -> list[str]:
    if c["match"] is None:
        return ["  stored LR: not in the checkpoint" if c["stored"] is None else
                f"  stored LR {c['stored']:.6g} (no schedule to compare with)"]
    if c["match"]:
        return [f"  stored LR {c['stored']:.6g} = recomputed {c['recomputed']:.6g}"]
    out = [f"  warning: stored LR {c['stored']:.6g} != recomputed {c['recomputed']:.6g}"]
    out += [f"    likely: {x}" for x in c["causes"]]
    return out
