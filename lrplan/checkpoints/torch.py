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
# lrplan.torch.LRScheduler.state_dict() carries its plan's IR JSON under this key (lrplan/integrations/torch.py).
PLAN_KEY = "lrplan_plan"
PLAN_CLASS = "lrplan.torch.LRScheduler"


def scheduler_kind(st) -> str | None:
    """The scheduler class a state dict is from: lrplan's own (it holds its plan), else by its key set."""
    from ..frameworks.torch.state import scheduler_class

    if isinstance(st, dict) and "last_epoch" in st and PLAN_KEY in st:
        return PLAN_CLASS
    return scheduler_class(st)


def plan_of(st: dict, label: str) -> Loaded:
    """The schedule an lrplan.torch.LRScheduler state carries (IR JSON, read by lrplan.irjson); a plan
    without a peak multiplies base_lrs, as that scheduler does."""
    from ..errors import LrplanError
    from ..irjson import loads

    text = st.get(PLAN_KEY)
    if not isinstance(text, str):
        raise CheckpointError(f"{label}: {PLAN_KEY} is {type(text).__name__}, not lrplan IR JSON text")
    try:
        schedule = loads(text)
    except LrplanError as e:
        raise CheckpointError(f"{label}: the saved plan is not valid lrplan IR ({e.message})") from None
    notes: tuple[str, ...] = (f"the plan saved by {PLAN_CLASS} (lrplan {st.get('lrplan_version', '?')})",)
    base = st.get("base_lrs")
    base_lr = base[0] if isinstance(base, list) and base else None
    base_lr = float(base_lr) if isinstance(base_lr, (int, float)) and not isinstance(base_lr, bool) and \
        math.isfinite(base_lr) and base_lr > 0 else None
    if schedule.peak_lr is None and base_lr:
        schedule = schedule.with_(peak_lr=base_lr)
        notes += (f"peak LR {base_lr:g} from the scheduler's base_lrs (the plan is a multiplier)",)
    return Loaded(schedule, "json", label, notes, None, {"class": PLAN_CLASS})


def scheduler_states(st, path: str = "", depth: int = 0) -> list[tuple[str, dict]]:
    """(key path, state) of every torch scheduler state in a checkpoint dict, nearest and best-named first."""
    if isinstance(st, dict) and scheduler_kind(st):
        return [(path or "(the whole file)", st)]
    if not isinstance(st, dict) or depth > MAX_DEPTH:
        return []
    keys = sorted(st, key=lambda k: (SCHEDULER_KEYS.index(k) if k in SCHEDULER_KEYS else len(SCHEDULER_KEYS),
                                     str(k)))
    out, deeper = [], []
    for key in keys:
        value = st[key]
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, list) and value and isinstance(value[0], dict) and scheduler_kind(value[0]):
            out.append((where + "[0]", value[0]))
        elif isinstance(value, dict) and scheduler_kind(value):
            out.append((where, value))
        elif isinstance(value, dict):
            deeper += scheduler_states(value, where, depth + 1)
    return out + deeper


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = safepickle.plain(safepickle.load_file(found.path))
    found_states = scheduler_states(st)
    if not found_states:
        from .schedulefree import find_group, schedulefree_info

        sf = find_group(st)  # a Schedule-Free optimizer has no scheduler: its state is the schedule
        if sf is not None:
            return schedulefree_info(Info("torch", found.layout, found.path, {}, 0), *sf)
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
    return torch_info(info, state, opts, "torch scheduler state_dict", root=st)


def torch_info(info: Info, st: dict, opts: ReadOptions, what: str, root=None) -> Info:
    """Fill ``info`` from a torch scheduler state dict ``st`` (also a DeepSpeed client or Lightning scheduler)."""
    from ..frameworks.torch.state import build

    le = count(st.get("last_epoch"), f"{what} last_epoch", info.path)
    info.position["last_epoch"] = le
    info.next_step = le or 0
    last = st.get("_last_lr")
    if isinstance(last, list) and last and isinstance(last[0], (int, float)) and math.isfinite(last[0]):
        info.stored_lr, info.stored_from = float(last[0]), "_last_lr"
    cls = scheduler_kind(st)
    if cls == "SWALR":  # swa_lr lives in the optimizer state next to it (root: the whole checkpoint)
        from .swa import swalr_info

        return swalr_info(info, st, root, what)
    base = st.get("base_lrs")
    info.state = {"scheduler_class": cls,
                  "base_lr": float(base[0]) if isinstance(base, list) and base and isinstance(base[0], (int, float))
                  and not isinstance(base[0], bool) and math.isfinite(base[0]) and base[0] > 0 else None}
    if cls == "ReduceLROnPlateau":
        return _plateau_info(info, st)
    if cls == PLAN_CLASS:
        info.layout += f" ({PLAN_CLASS})"
        info.loaded = plan_of(st, f"{info.path} {what}")
        return info
    try:
        schedule, name = build(st)
    except CheckpointError as e:
        info.missing.append(f"{e.message}: pass --plan SOURCE with the schedule")
        info.layout += f" ({'LambdaLR or MultiplicativeLR' if cls == 'LambdaLR' else cls})"
        return info
    info.layout += f" ({name})"
    info.loaded = Loaded(schedule, "torch", f"{info.path} {what}", (f"rebuilt from the {name} state",), None,
                         {"class": name})
    return info


def _plateau_info(info: Info, st: dict) -> Info:
    """ReduceLROnPlateau (torch 2.13 lr_scheduler.py): the LR drops by ``factor`` after ``patience`` epochs
    without improvement of the metric passed to ``step(metric)``; there is no schedule of the step, so
    lrplan reports what the state does hold."""
    info.layout += " (ReduceLROnPlateau)"
    info.state = {"scheduler_class": "ReduceLROnPlateau", "metric_driven": True, "base_lr": None}
    fields = {k: st.get(k) for k in ("best", "mode", "num_bad_epochs", "patience", "cooldown_counter", "cooldown",
                                     "factor", "min_lrs", "threshold", "threshold_mode")}
    info.position.update({k: v for k, v in fields.items() if v is not None})
    lr = f"{info.stored_lr:g}" if info.stored_lr is not None else "unknown"
    info.notes.append(
        f"ReduceLROnPlateau: the LR follows the metric history, not the step. The state says: current LR {lr}, "
        f"best metric {fields['best']!r} (mode {fields['mode']}), {fields['num_bad_epochs']} of "
        f"{fields['patience']} bad epochs before the next cut by factor {fields['factor']}, cooldown "
        f"{fields['cooldown_counter']} of {fields['cooldown']}, floor {fields['min_lrs']}")
    info.missing.append("no schedule of the step exists for ReduceLROnPlateau (it depends on the metric), so "
                        "there is nothing to plot, convert or check; a --plan cannot stand in for it")
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    return restored_outcomes(info, new, opts)
