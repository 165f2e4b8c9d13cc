"""A TrainingArguments ``deepspeed`` config inside an HF recipe: its ``scheduler`` wins over HF's own.

transformers 5.23.0 ``integrations/deepspeed.py`` (``HfTrainerDeepSpeedConfig``): when the DeepSpeed
config has a ``scheduler``, the Trainer lets DeepSpeed build it and does not create its own; before that
it replaces ``"auto"`` values with TrainingArguments values (``fill_match``) and raises ValueError when a
value that is not ``"auto"`` disagrees with them. The filled keys that shape the schedule:

* ``scheduler.params.warmup_min_lr``   <- 0 (``fill_only``: never checked)
* ``scheduler.params.warmup_max_lr``   <- learning_rate
* ``scheduler.params.total_num_steps`` <- T (num_training_steps)
* ``scheduler.params.warmup_num_steps``<- max(1, get_warmup_steps(T))
* ``optimizer.params.lr``              <- learning_rate
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ...errors import LrplanError
from ..base import Loaded, ReadOptions


def load_config(ds, recipe: Path | None) -> dict:
    """The DeepSpeed config a recipe's ``deepspeed:`` names: inline, a JSON string, or a file path.

    A relative path is relative to the recipe file when there is one (as the Trainer resolves it from
    the working directory the recipe is launched in, users keep the two side by side), else to the
    working directory. The file must be a small regular file holding a JSON object.
    """
    from ...fileio import read_text

    if isinstance(ds, dict):
        return copy.deepcopy(ds)
    if not isinstance(ds, str):
        raise LrplanError(f"deepspeed must be a mapping or a path to a JSON file, got {type(ds).__name__}",
                          where="deepspeed")
    if ds.strip().startswith("{"):
        text, shown = ds, "inline JSON"
    else:
        file = Path(ds).expanduser()
        if not file.is_absolute() and recipe is not None:
            file = Path(recipe).parent / file  # relative to the recipe that names it
        if not file.exists():
            raise LrplanError(f"the DeepSpeed config {ds} does not exist", where="deepspeed",
                              hint="give the path relative to the recipe file, or inline the config")
        text, shown = read_text(file, what="DeepSpeed config"), ds
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise LrplanError(f"the DeepSpeed config {shown} is not valid JSON: {e.msg} (line {e.lineno})",
                          where="deepspeed") from None
    if not isinstance(config, dict):
        raise LrplanError(f"the DeepSpeed config {shown} is a JSON {type(config).__name__}, not an object",
                          where="deepspeed")
    return config


def _fill(node: dict, key: str, value, where: str, *, check: bool = True) -> None:
    if not isinstance(node, dict) or key not in node:
        return
    if node[key] == "auto":
        node[key] = value
    elif check and node[key] is not None and node[key] != value:
        raise LrplanError(f"DeepSpeed {where}={node[key]!r} disagrees with TrainingArguments ({value!r}); "
                          "HF raises ValueError", where=where, hint='set it to "auto" in the DeepSpeed config')


def deepspeed_schedule(ds, vals: dict, T: int | None, opts: ReadOptions, path, notes: list[str]) -> Loaded | None:
    """The DeepSpeed scheduler's schedule with HF's auto values filled, or None when it has no scheduler."""
    from .trainer import warmup_steps

    config = load_config(ds, path)
    sched = config.get("scheduler")
    if not sched:
        notes.append("the DeepSpeed config has no scheduler: HF's lr_scheduler_type is used")
        return None
    params = sched.get("params") if isinstance(sched, dict) else None
    lr = vals["learning_rate"]
    if isinstance(params, dict):
        _fill(params, "warmup_min_lr", 0, "scheduler.params.warmup_min_lr", check=False)
        _fill(params, "warmup_max_lr", lr, "scheduler.params.warmup_max_lr")
        if T is not None:
            _fill(params, "total_num_steps", T, "scheduler.params.total_num_steps")
            _fill(params, "warmup_num_steps", max(1, warmup_steps(vals, T, [])), "scheduler.params.warmup_num_steps")
    opt_params = (config.get("optimizer") or {}).get("params")
    if isinstance(opt_params, dict):
        _fill(opt_params, "lr", lr, "optimizer.params.lr")
    from ..deepspeed.read import from_config

    loaded = from_config(config, opts)
    notes.append(f"the DeepSpeed config's scheduler ({sched.get('type')}) wins over lr_scheduler_type "
                 f"{vals['lr_scheduler_type']!r}; HF filled its \"auto\" values from TrainingArguments")
    return loaded
