"""Plain ``torch.save`` files holding an LR scheduler state (``scheduler.state_dict()``, bare or inside a dict).

A torch scheduler's state is its ``__dict__`` minus the optimizer (torch 2.13 lr_scheduler.py):
``last_epoch`` = updates done, ``_last_lr`` = the LR of the next update; self-describing classes are
rebuilt into IR by :mod:`lrplan.frameworks.torch.state`. Resume: ``load_state_dict`` restores
``base_lrs`` and the class's own fields.
"""

from __future__ import annotations

import math

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, count, restored_outcomes
from .locate import Found

CONFIG_FORMAT = None  # a torch scheduler state describes itself, or needs --plan
RESUME_REFUSAL = ""
RESUME_NOTE = ("build the emitted scheduler as its RESUME_STEP lines do (last_epoch=RESUME_STEP - 1); "
               "load_state_dict would restore the old scheduler's own fields")


# Where hand-written trainers keep the scheduler's state_dict() in their torch.save({...}): the PyTorch
# tutorial's name first, then the usual short ones. Searched at the top level and one or two levels down
# ({"state": {"scheduler": ...}}); a list of states (one per optimizer) counts by its first entry.
SCHEDULER_KEYS = ("lr_scheduler", "scheduler", "scheduler_state_dict", "lr_scheduler_state_dict", "lr_schedulers",
                  "lr_scheduler_state", "scheduler_state", "sched", "lr_sched", "schedulers")
MAX_DEPTH = 2


def scheduler_states(st, path: str = "", depth: int = 0) -> list[tuple[str, dict]]:
    """(key path, state) of every torch scheduler state in a checkpoint dict, nearest and best-named first."""
    from ..frameworks.torch.state import scheduler_class

    if isinstance(st, dict) and scheduler_class(st):
        return [(path or "(the whole file)", st)]
    if not isinstance(st, dict) or depth > MAX_DEPTH:
        return []
    keys = sorted(st, key=lambda k: (SCHEDULER_KEYS.index(k) if k in SCHEDULER_KEYS else len(SCHEDULER_KEYS),
                                     str(k)))
    out, deeper = [], []
    for key in keys:
        value = st[key]
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, list) and value and isinstance(value[0], dict) and scheduler_class(value[0]):
            out.append((where + "[0]", value[0]))
        elif isinstance(value, dict) and scheduler_class(value):
            out.append((where, value))
        elif isinstance(value, dict):
            deeper += scheduler_states(value, where, depth + 1)
    return out + deeper


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = safepickle.plain(safepickle.load_file(found.path))
    found_states = scheduler_states(st)
    if not found_states:
        keys = ", ".join(map(str, list(st)[:12])) if isinstance(st, dict) else type(st).__name__
        raise CheckpointError(f"{found.path} holds no LR scheduler state lrplan knows (top-level keys: {keys})",
                              hint="lrplan reads HF, DeepSpeed, Megatron, torchtitan, Lightning checkpoints and "
                                   "torch scheduler state_dicts, also saved under keys such as "
                                   "scheduler_state_dict or lr_scheduler")
    where, state = found_states[0]
    info = Info("torch", found.layout, found.path, {}, 0)
    if where != "(the whole file)":
        info.notes.append(f"the scheduler state is under {where}")
    if len(found_states) > 1:
        others = ", ".join(w for w, _ in found_states[1:])
        info.notes.append(f"the file holds other scheduler states too ({others}); lrplan reads {where}")
    return torch_info(info, state, opts, "torch scheduler state_dict")


def torch_info(info: Info, st: dict, opts: ReadOptions, what: str) -> Info:
    """Fill ``info`` from a torch scheduler state dict ``st`` (also a DeepSpeed client or Lightning scheduler)."""
    from ..frameworks.torch.state import build, scheduler_class

    le = count(st.get("last_epoch"), f"{what} last_epoch", info.path)
    info.position["last_epoch"] = le
    info.next_step = le or 0
    last = st.get("_last_lr")
    if isinstance(last, list) and last and isinstance(last[0], (int, float)) and math.isfinite(last[0]):
        info.stored_lr, info.stored_from = float(last[0]), "_last_lr"
    cls = scheduler_class(st)
    base = st.get("base_lrs")
    info.state = {"scheduler_class": cls,
                  "base_lr": float(base[0]) if isinstance(base, list) and base and isinstance(base[0], (int, float))
                  and not isinstance(base[0], bool) and math.isfinite(base[0]) and base[0] > 0 else None}
    try:
        schedule, name = build(st)
    except CheckpointError as e:
        info.missing.append(f"{e.message}: pass --plan SOURCE with the schedule")
        info.layout += f" ({cls})"
        return info
    info.layout += f" ({name})"
    info.loaded = Loaded(schedule, "torch", f"{info.path} {what}", (f"rebuilt from the {name} state",), None,
                         {"class": name})
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    return restored_outcomes(info, new, opts)
