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


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.torch.state import scheduler_class

    st = safepickle.plain(safepickle.load_file(found.path))
    if isinstance(st, dict) and scheduler_class(st) is None:
        for key in ("lr_scheduler", "scheduler", "lr_schedulers"):
            inner = st.get(key)
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, dict) and scheduler_class(inner):
                st = inner
                break
    if not isinstance(st, dict) or scheduler_class(st) is None:
        raise CheckpointError(f"{found.path} holds no LR scheduler state lrplan knows",
                              hint="lrplan reads HF, DeepSpeed, Megatron, torchtitan, Lightning checkpoints and "
                                   "torch scheduler state_dicts")
    info = Info("torch", found.layout, found.path, {}, 0)
    return torch_info(info, st, opts, "torch scheduler state_dict")


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
    info.state = {"scheduler_class": cls}
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
