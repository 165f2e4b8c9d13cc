"""Checkpoint reports as text: ``inspect`` and ``at-step STEP CHECKPOINT`` (the data is lrplan.checkpoints.report)."""

from __future__ import annotations


def _position(out: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in out["position"].items() if v is not None)


def history_lines(out: dict) -> list[str]:
    """What else was checked (earlier checkpoints, the log history) and what was not."""
    lines = []
    hist = out.get("history", {}).get("checkpoints", [])
    bad = [c for c in hist if c.get("match") is False or "error" in c]
    if hist:
        steps = ", ".join(str(c.get("step", "?")) for c in hist[:8]) + (", ..." if len(hist) > 8 else "")
        lines.append(f"  also checked: {len(hist)} other checkpoint(s) of the run (steps {steps}): "
                     + ("all match" if not bad else f"{len(bad)} differ"))
        for c in bad[:10]:
            if "error" in c:
                lines.append(f"    {c['checkpoint']}: not readable ({c['error']})")
            else:
                lines.append(f"    warning: {c['checkpoint']} (step {c['step']}): stored LR {c['stored']:.6g} != "
                             f"recomputed {c['recomputed']:.6g}")
    if "log_history" in out:
        h = out["log_history"]
        verdict = "the schedule explains none of the rules" if h["rule"] == "neither" and h["entries"] else ""
        lines.append(f"  log_history: {h['entries']} LRs, logging rule transformers {h['rule']}"
                     + (f" (warning: {verdict})" if verdict else ""))
    if "history" in out:
        lines.append(f"  not checked: {out['history']['not_checked']}")
    return lines


def check_lines(c: dict) -> list[str]:
    if c["match"] is None:
        return ["  stored LR: not in the checkpoint" if c["stored"] is None else
                f"  stored LR {c['stored']:.6g} (no schedule to compare with)"]
    if c["match"]:
        return [f"  stored LR {c['stored']:.6g} = recomputed {c['recomputed']:.6g}"]
    out = [f"  warning: stored LR {c['stored']:.6g} != recomputed {c['recomputed']:.6g}"]
    out += [f"    likely: {x}" for x in c["causes"]]
    return out


def at_step_text(out: dict) -> str:
    lines = [f"{out['framework']} checkpoint: {out['layout']}",
             f"  position: {_position(out)}; the next update is lrplan step {out['next_step']}",
             f"step {out['step']}: lr {out['lr']:.6g} ({out['phase']})"]
    if out.get("framework_step"):
        lines.append(f"  {out['framework_step']}")
    lines += check_lines(out["check"]) + history_lines(out)
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
        if p.get("warning"):
            lines.append(f"  warning: {p['warning']}")
    for m in out["missing"]:
        lines.append(f"missing: {m}")
    return "\n".join(lines) + "\n"


def inspect_text(out: dict) -> tuple[str, list[str]]:
    """The report for stdout, and the notes for stderr."""
    lines = [f"{out['framework']} checkpoint: {out['layout']}", f"  path: {out['checkpoint']}",
             f"  position: {_position(out)}", f"  next update: lrplan step {out['next_step']}"]
    if "schedule" in out:
        lines += [f"schedule: {out['schedule']}", f"  from: {out['source']}"]
        for p in out["key_points"]:
            note = f"  {p['note']}" if p["note"] else ""
            lines.append(f"  step {p['step']:>10}  lr {p['lr']:.6g}  {p['phase']}{note}")
    lines += check_lines(out["check"]) + history_lines(out)
    lines += [f"missing: {m}" for m in out["missing"]]
    return "\n".join(lines) + "\n", out["notes"] + out.get("schedule_notes", [])
