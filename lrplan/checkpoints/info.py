"""What a checkpoint says about its schedule, in one framework-neutral record, and the pieces every
framework's checkpoint module shares: untrusted-value checks, the resumed LR at a step, and the
``--config`` loader (which calls the framework's own reader, never the SOURCE loader above)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions

MAX_STEP = 10**13  # lrplan evaluates steps up to 1e13


@dataclass
class Info:
    framework: str  # megatron, deepspeed, hf, torchtitan, lightning, torch
    layout: str
    path: Path
    position: dict  # the framework's own counters, e.g. {"iteration": 10, "consumed_train_samples": 80}
    next_step: int  # lrplan step (0-based update index) of the first update after this checkpoint
    stored_lr: float | None = None  # LR the checkpoint says the next update uses
    stored_from: str = ""  # where stored_lr was read
    position_x: float | None = None  # axis position of next_step when the framework counts samples
    loaded: Loaded | None = None  # the recovered schedule
    missing: list[str] = field(default_factory=list)  # what is not in the checkpoint and how to pass it
    notes: list[str] = field(default_factory=list)
    state: dict = field(default_factory=dict)  # framework details the resume rules need


@dataclass
class Outcome:
    """What the first update after a resume uses under one way of resuming (a flag, a load mode)."""

    how: str  # the flags / load mode
    first_lr: float | None  # LR of the first update after the resume (None: the load fails)
    schedule: Loaded | None = None  # the curve the resumed run follows (None: the checkpoint's)
    error: str | None = None  # what the framework raises
    note: str = ""
    restart: bool = False  # the scheduler restarts at 0 on resume: update next_step + j uses schedule(j)


def plain_fields(obj) -> dict:
    """A pickled object's field dict (argparse.Namespace, TrainingArguments) without ``__class__``."""
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "__class__"}
    return {}


def first_group_lr(opt_state) -> float | None:
    """``lr`` of the canonical param group: Megatron's first ``default_config`` group, else the first."""
    groups = opt_state.get("param_groups") if isinstance(opt_state, dict) else None
    if not isinstance(groups, list) or not groups:
        return None
    chosen = next((g for g in groups if isinstance(g, dict) and g.get("default_config")), groups[0])
    v = chosen.get("lr") if isinstance(chosen, dict) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def count(v, what: str, path, *, allow_none: bool = True, minimum: int = 0) -> int | None:
    """A counter read from a checkpoint (global_step, last_epoch, iteration): a whole number in range.

    A position that is not one (``"abc"``, ``NaN``, ``1e20``, ``True``) is an error naming the field and
    the file, never a silent step 0: a wrong position would make every resume number wrong.
    """
    if v is None and allow_none:
        return None
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v == int(v)
    if not ok or not minimum <= int(v) <= MAX_STEP:
        shown = repr(v)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise CheckpointError(f"{path}: {what} is {shown}, not a step count lrplan can use"
                              f" (a whole number from {minimum} to {MAX_STEP:.0e})",
                              hint="the checkpoint may be damaged or hand-edited")
    return int(v)


def relabel(ld: Loaded, label: str, notes=()) -> Loaded:
    return Loaded(ld.schedule, ld.format, label, tuple(ld.notes) + tuple(notes), ld.step_name, ld.raw)


def load_config(config: str, fmt: str, opts: ReadOptions) -> Loaded:
    """``--config``: a file (or a flag string) read by the framework's own reader, errors named as such."""
    from .. import frameworks
    from ..errors import LrplanError
    from ..fileio import read_text

    path = Path(config).expanduser() if "\n" not in config and len(config) < 4096 else None
    try:
        if path is not None and path.exists():
            return frameworks.get(fmt).read(read_text(path), path, opts)
        if path is not None and ("/" in config or path.suffix):
            raise LrplanError(f"no such file: {config}", where="--config")
        return frameworks.get(fmt).read(config, None, opts)
    except LrplanError as e:
        if e.where is None or not str(e.where).startswith("--config"):
            e.where = f"--config {config}" + (f": {e.where}" if e.where else "")
        raise


def at(ld: Loaded, info: Info, k: int | None = None) -> float:
    """LR of update ``k`` (default: the next update) of a run resumed from ``info``.

    On a samples axis (Megatron) the resumed run continues from the checkpoint's sample position,
    adding the new config's batch sizes from there, not from step 0 of the new config.
    """
    from ..evaluate import lr_at

    s = ld.schedule
    k = info.next_step if k is None else k
    if info.position_x is not None and s.axis.unit == "samples" and k >= info.next_step:
        from ..batch import advance
        from ..evaluate import lr_at_position

        x = advance(s.axis.batch, int(info.position_x), k - info.next_step)
        return lr_at_position(s, x)
    return lr_at(s, k)


def restored_outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    """HF, Lightning and torch: ``load_state_dict`` restores ``base_lrs`` and a self-describing scheduler's
    fields; the optimizer's restored ``lr`` is what the first update uses (torch 2.13, transformers 5.23)."""
    from dataclasses import replace

    old = info.loaded
    first = info.stored_lr if info.stored_lr is not None else (at(old, info) if old else None)
    if new is None:
        return [Outcome("resume_from_checkpoint" if info.framework == "hf" else "load_state_dict", first, old,
                        note="the optimizer's restored LR, then the restored scheduler")]
    follow = new
    note = "the first update uses the restored optimizer LR; later ones the new schedule"
    if old is not None and old.schedule.peak_lr and new.schedule.peak_lr != old.schedule.peak_lr:
        follow = Loaded(replace(new.schedule, peak_lr=old.schedule.peak_lr), new.format, new.label, new.notes,
                        new.step_name, new.raw)
        note += (f" scaled by the checkpoint's base LR {old.schedule.peak_lr:g} (load_state_dict restores base_lrs;"
                 f" the new peak {new.schedule.peak_lr:g} is ignored)")
    if info.framework in ("torch", "lightning") and info.loaded is not None:
        note += "; a self-describing scheduler also restores its own T_max/step_size/..., so only a rebuilt " \
                "scheduler without load_state_dict follows --plan"
    return [Outcome("resume (scheduler and optimizer states loaded)", first, follow, note=note)]
