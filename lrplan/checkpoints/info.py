"""What a checkpoint says about its schedule, in one framework-neutral record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..frameworks.base import Loaded


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
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
