"""axolotl checkpoints: HF Trainer ``checkpoint-N/`` folders whose ``training_args.bin`` is axolotl's.

axolotl saves through the HF Trainer, so position, ``scheduler.pt`` and ``trainer_state.json`` are read by
lrplan/checkpoints/hf.py. What differs is the schedule: ``training_args.bin`` pickles
``AxolotlTrainingArguments`` (axolotl 0.19.0 ``core/training_args.py``), whose extra fields
(``alternate_lr_scheduler_type``, ``cosine_min_lr_ratio``, ``cosine_constant_lr_ratio``,
``lr_quadratic_warmup``, ``jagged_restart_steps``) choose axolotl's own schedulers in
``SchedulerMixin.create_scheduler``; the HF reader alone would read a plain HF ``cosine`` there. Its
``warmup_steps`` is already axolotl's final number (ratio floored, 1 -> 2), or a ratio below 1 when axolotl
could not count the steps (HF then ceils ``N * ratio``).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import CheckpointError, LrplanError
from ..frameworks.base import ReadOptions
from . import hf
from .info import Info, load_config, relabel

CONFIG_FORMAT = "axolotl"
RESUME_REFUSAL = hf.RESUME_REFUSAL
RESUME_NOTE = ("resume_from_checkpoint rebuilds the scheduler from the current axolotl config and restores "
               "scheduler.pt's last_epoch (a LambdaLR keeps no parameters): keep learning_rate, warmup and max_steps "
               "unchanged")
FIELDS = ("alternate_lr_scheduler_type", "cosine_min_lr_ratio", "cosine_constant_lr_ratio", "lr_quadratic_warmup",
          "jagged_restart_steps", "jagged_restart_warmup_steps", "jagged_restart_anneal_steps")


def _fields(d: Path) -> dict:
    path = d / "training_args.bin"
    return hf._training_args(path) if path.is_file() else {}


def _is_axolotl(d: Path) -> bool:
    rec = hf._load(d / "training_args.bin")
    cls = str(rec.get("__class__", "")) if isinstance(rec, dict) else ""
    return "AxolotlTrainingArguments" in cls or (isinstance(rec, dict) and "alternate_lr_scheduler_type" in rec)


def probe(d: Path) -> bool:
    """locate's probe: an HF checkpoint folder whose training_args.bin is AxolotlTrainingArguments."""
    try:
        return (d / "training_args.bin").is_file() and _is_axolotl(d)
    except CheckpointError:
        return False  # the HF reader says what is wrong with it


def config_of(fields: dict, max_steps: int | None) -> dict:
    """The axolotl config keys that give the same schedule as these training arguments."""
    kind = fields.get("alternate_lr_scheduler_type") or fields.get("lr_scheduler_type") or "cosine"
    N = max_steps or fields.get("max_steps")
    ws = fields.get("warmup_steps") or 0
    if isinstance(ws, (int, float)) and not isinstance(ws, bool) and 0 < ws < 1 and isinstance(N, int) and N > 0:
        ws = math.ceil(N * ws)  # transformers 5 get_warmup_steps: a value below 1 is a ratio, ceiled
    cfg = {"learning_rate": fields.get("learning_rate"), "lr_scheduler": str(kind), "warmup_steps": ws,
           "max_steps": N, "lr_scheduler_kwargs": fields.get("lr_scheduler_kwargs") or {}}
    for k in FIELDS[1:]:
        if fields.get(k) is not None:
            cfg[k] = fields[k]
    return cfg


def read(found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.axolotl import from_config

    info = hf.read(found, opts, None)
    info.framework = "axolotl"
    info.layout = info.layout.replace("HF Trainer", "axolotl (HF Trainer)")
    if config:
        info.loaded = load_config(config, CONFIG_FORMAT, opts)
        return info
    fields = _fields(found.path)
    if not fields:
        return info
    max_steps = (info.state or {}).get("max_steps")
    max_steps = max_steps if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0 \
        else None
    try:
        loaded = from_config(config_of(fields, max_steps), opts, f"{found.path} training_args.bin")
    except LrplanError as e:
        raise CheckpointError(f"{found.path}/training_args.bin: {e.render().removeprefix('error: ')}") from None
    info.loaded = relabel(loaded, f"{found.path} training_args.bin")
    rex, jagged = str(fields.get("alternate_lr_scheduler_type")) == "rex", bool(fields.get("jagged_restart_steps"))
    if rex or jagged:
        _rex_position(info, rex + jagged, " and ".join(n for n, on in (("RexLR", rex),
                                                                       ("JaggedLRRestartScheduler", jagged)) if on))
    return info


def _rex_position(info: Info, lead: int = 1, who: str = "RexLR") -> None:
    """RexLR's and JaggedLRRestartScheduler's constructors step once each (frameworks/axolotl.py): the saved
    last_epoch is global_step + lead in a sound run."""
    le, gs = info.position.get("scheduler.last_epoch"), info.position.get("global_step")
    if isinstance(le, int) and isinstance(gs, int) and le == gs + lead:
        info.notes = [n for n in info.notes if not n.startswith(f"scheduler.pt last_epoch {le} != global_step")]
        why = "its constructor steps once" if lead == 1 else "each constructor steps once"
        info.notes.append(f"scheduler.pt last_epoch {le} = global_step {gs} + {lead}, as {who} counts ({why})")


def outcomes(info: Info, new, opts: ReadOptions):
    return hf.outcomes(info, new, opts)


def checks(info: Info) -> dict:
    return hf.checks(info)
