"""inspect and resume: checkpoints (the reading lives in lrplan.checkpoints)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ExitCode, LrplanError
from . import common


# Why a framework's own resume cannot follow an extended curve, said once where it refuses.
RESUME_REFUSAL = {
    "megatron": "Megatron resumes with --override-opt_param-scheduler from the saved sample count, but keeps "
                "the checkpoint's peak and floor from the optimizer's param groups (core <= v0.19), and a "
                "cosine or linear decay with those levels cannot pass through the current LR and end later; ",
    "deepspeed": "DeepSpeed's schedulers restart their curve from last_batch_iteration with fixed shapes and "
                 "cannot start a new decay at the current LR; ",
}


def register(app: typer.Typer) -> None:
    app.command(epilog=INSPECT_EXAMPLES)(inspect)
    app.command(epilog=RESUME_EXAMPLES)(resume)


CONFIG_HELP = "The run's config when the checkpoint lacks it (DeepSpeed JSON, torchtitan TOML, HF args, flags)."

INSPECT_EXAMPLES = """Examples:

  lrplan inspect runs/gpt/

  lrplan inspect output/checkpoint-3000 --json

  lrplan inspect outputs/checkpoint/step-1000 --config job.toml
"""


def inspect(
    checkpoint: Path = typer.Argument(..., help="A checkpoint file or directory (the latest one in a run directory)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
    plan: Optional[str] = typer.Option(None, "--plan", help="The schedule, for a LambdaLR state that stores none."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Framework, position, recovered schedule, stored vs recomputed LR of a checkpoint."""
    from ..checkpoints import compare, log_history_rule, read_info

    if not checkpoint.exists():
        raise LrplanError(f"{checkpoint} does not exist")
    info = read_info(checkpoint, common.read_options(steps, lr, sets), config=config, plan=plan)
    out = {"checkpoint": str(info.path), "framework": info.framework, "layout": info.layout,
           "position": info.position, "next_step": info.next_step, "check": compare(info),
           "missing": info.missing, "notes": list(info.notes)}
    if info.loaded is not None:
        out.update(_schedule_part(info))
    hist = log_history_rule(info)
    if hist:
        out["log_history"] = hist
    if as_json:
        print(json.dumps(out, default=str))
    else:
        _print_inspect(out)
    return int(ExitCode.MISMATCH) if out["check"]["match"] is False else 0


def _schedule_part(info) -> dict:
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


def _print_inspect(out: dict) -> None:
    from ..checkpoints.resume import _check_lines

    pos = ", ".join(f"{k} {v}" for k, v in out["position"].items() if v is not None)
    print(f"{out['framework']} checkpoint: {out['layout']}")
    print(f"  path: {out['checkpoint']}")
    print(f"  position: {pos}")
    print(f"  next update: lrplan step {out['next_step']}")
    if "schedule" in out:
        print(f"schedule: {out['schedule']}")
        print(f"  from: {out['source']}")
        for p in out["key_points"]:
            print(f"  step {p['step']:>10}  lr {p['lr']:.6g}  {p['phase']}" + (f"  {p['note']}" if p["note"] else ""))
    for line in _check_lines(out["check"]):
        print(line)
    if "log_history" in out:
        h = out["log_history"]
        print(f"  log_history: {h['entries']} LRs, logging rule transformers {h['rule']}")
    for m in out["missing"]:
        print(f"missing: {m}")
    for n in out["notes"] + out.get("schedule_notes", []):
        common.note(n)


RESUME_EXAMPLES = """Examples:

  lrplan resume runs/gpt/ --extend-to 150k

  lrplan resume runs/gpt/ --extend-to 150k --wsd 15k --to megatron

  lrplan resume output/checkpoint-3000 --extend-to 6000 --rewarm 200 --to hf
"""


def resume(
    checkpoint: Path = typer.Argument(..., help="A checkpoint file or directory."),
    extend_to: str = typer.Option(..., "--extend-to", help="The new last step (150k, 2M)."),
    to: Optional[str] = typer.Option(None, "--to", help="Emit the config for this framework (default: the checkpoint's)."),
    wsd: Optional[str] = typer.Option(None, "--wsd", help="Switch to WSD: hold the current LR, anneal over the last N steps."),
    rewarm: Optional[str] = typer.Option(None, "--rewarm", help="Re-warm to the peak over N steps, then decay."),
    shape: Optional[str] = typer.Option(None, "--shape", help="Decay shape: cosine, linear, 1-sqrt, poly, exp-anneal."),
    approx: bool = typer.Option(False, "--approx", help="Emit the nearest config the target can express."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the config to a file."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
    plan: Optional[str] = typer.Option(None, "--plan", help="The schedule, for a LambdaLR state that stores none."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Continue a run past its planned end (or switch to WSD), LR continuous at the resume step."""
    from .. import __version__, frameworks
    from ..errors import InexpressibleError
    from ..checkpoints import read_info
    from ..checkpoints.extend import OVERRIDES, extend
    from ..evaluate import lr_at
    from ..frameworks.base import WriteOptions
    from ..spec.printer import print_spec
    from ..quantity import parse_quantity

    def count(text, what):
        if text is None:
            return None
        v = parse_quantity(text).value
        if v != int(v):
            raise LrplanError(f"{what} must be a whole number of steps, got {text}")
        return int(v)

    info = read_info(checkpoint, common.read_options(steps, lr, sets), config=config, plan=plan)
    if info.loaded is None:
        raise LrplanError(f"{checkpoint}: no schedule to extend ({'; '.join(info.missing)})")
    old = info.loaded.schedule
    r = info.next_step
    new = extend(old, r, count(extend_to, "--extend-to"), shape=shape, wsd=count(wsd, "--wsd"),
                 rewarm=count(rewarm, "--rewarm"))
    common.note(f"resume at step {r}: lr {lr_at(old, r):.6g} before, {lr_at(new, r):.6g} after")
    common.note(f"new schedule: {print_spec(new)}")
    target = to or info.framework
    if target not in frameworks.MODULES or frameworks.get(target).write is None:
        raise LrplanError(f"no writer for {target!r}", hint="pass --to " + "|".join(frameworks.writers()))
    try:
        written = frameworks.write(target, new, WriteOptions(approx=approx, source_label=f"{checkpoint} extended",
                                                                 version=__version__))
    except InexpressibleError as e:
        raise InexpressibleError(
            f"{target} cannot express the extended run exactly: {e.message}",
            hint=RESUME_REFUSAL.get(target, "") + "pass --approx for the nearest config and its largest deviation, "
            "or --to torch / --to hf for an exact scheduler in Python") from None
    text = written.text + _resume_code(target, info.framework, r, written.text)
    for n in written.notes:
        common.note(n)
    if written.deviation is not None:
        common.note(f"--approx: largest difference {written.deviation[0]:.3g} at step {written.deviation[1]}")
    if info.framework in OVERRIDES:
        common.note(OVERRIDES[info.framework])
    if output is not None:
        common.write_atomic(output, text, inputs=[str(checkpoint)])
        common.note(f"wrote {output}")
    else:
        sys.stdout.write(text)
    return 0


# The writers emit a scheduler that starts at update 0; a resumed run needs it in the resumed position.
# torch: LambdaLR(..., last_epoch=r-1) steps once when built (torch 2.13 LRScheduler._initial_step), so
# update r uses lr_lambda(r); it needs 'initial_lr' in every param group. HF: optimizer.pt holds the
# Trainer's two param groups (transformers 5.23 Trainer.create_optimizer: with / without weight decay),
# which build_optimizer_and_scheduler(model) does not make (load_state_dict raises "different number of
# parameter groups"); with the Trainer's own optimizer, scheduler.pt restores last_epoch = r and base_lrs.
RESUME_CODE = {
    "torch": ("LambdaLR(optimizer, lr_lambda)", [
        "# Resuming at update RESUME_STEP: this replaces the scheduler built above (do not load the old",
        "# scheduler's state_dict). Built with last_epoch=RESUME_STEP - 1 it steps once, so update RESUME_STEP",
        "# uses lr_lambda(RESUME_STEP); keep calling scheduler.step() after each optimizer.step().",
        "RESUME_STEP = {r}",
        "for group in optimizer.param_groups:",
        '    group["initial_lr"] = PEAK_LR',
        "scheduler = LambdaLR(optimizer, lr_lambda, last_epoch=RESUME_STEP - 1)"]),
    "hf": ("def build_optimizer_and_scheduler(", [
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
        "    return trainer.lr_scheduler"]),
}


def _resume_code(target: str, framework: str, r: int, text: str) -> str:
    """Lines appended to an emitted Python scheduler so that it resumes at update r."""
    marker, lines = RESUME_CODE.get(target, ("", []))
    if not lines or marker not in text or (target == "hf" and framework != "hf"):
        return ""
    return "\n" + "\n".join(line.format(r=int(r)) for line in lines) + "\n"
