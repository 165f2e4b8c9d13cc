"""Lightning ``.ckpt`` files: ``lr_schedulers`` (each scheduler's ``state_dict()``), ``global_step``, loop state.

Lightning 2.6 saves only each scheduler's state_dict() under ``lr_schedulers``; the config dict
(``interval``, ``frequency``) is not saved (lightning/pytorch/trainer/connectors/checkpoint_connector.py,
``dump_checkpoint``). The loop state counts the scheduler's steps as
``loops.fit_loop["epoch_loop.scheduler_progress"].total.completed`` (interval="step" only), and
``global_step`` counts optimizer updates. A scheduler stepped per epoch or every N updates has
``last_epoch != global_step``: its curve is per scheduler step, not per update.
"""

from __future__ import annotations

from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, count, restored_outcomes
from .locate import Found

CONFIG_FORMAT = None
RESUME_REFUSAL = ""
RESUME_NOTE = "rebuild the scheduler from the new config; load_state_dict would restore the old fields"
CONFIG_KEYS = ("interval", "frequency")


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    from .torch import read as read_torch
    from .torch import torch_info

    st = safepickle.plain(safepickle.load_file(found.path))
    if not isinstance(st, dict) or "lr_schedulers" not in st:
        return read_torch(found, opts, config)
    gs = count(st.get("global_step"), "global_step", found.path)
    info = Info("lightning", found.layout, found.path, {"global_step": gs, "epoch": st.get("epoch")}, gs or 0)
    scheds = st.get("lr_schedulers") or []
    if not isinstance(scheds, list) or not scheds or not isinstance(scheds[0], dict):
        info.missing.append("lr_schedulers is empty: pass --plan SOURCE")
        return info
    torch_info(info, scheds[0], opts, "Lightning lr_schedulers[0]", root=st)
    from .swa import lightning_callback

    lightning_callback(info, st)  # StochasticWeightAveraging's own state, when the run uses it
    if info.state.get("scheduler_class") == "SWALR":
        return info  # SWALR is stepped per epoch: its position is SWALR steps (lrplan/checkpoints/swa.py)
    _steps(info, st, gs, len(scheds))
    return info


def _steps(info: Info, st: dict, gs: int | None, n_scheds: int) -> None:
    le = info.position.get("last_epoch")
    cfg = st["lr_schedulers"][0]
    interval, freq = cfg.get("interval", "step"), cfg.get("frequency", 1)  # present only if a future version saves them
    loop = ((st.get("loops") or {}).get("fit_loop") or {}) if isinstance(st.get("loops"), dict) else {}
    prog = loop.get("epoch_loop.scheduler_progress") if isinstance(loop, dict) else None
    total = (prog or {}).get("total") if isinstance(prog, dict) else None
    done = count(total.get("completed"), "scheduler_progress.total.completed", info.path) \
        if isinstance(total, dict) else None
    if done is not None:
        info.position["scheduler_progress.total.completed"] = done
    if n_scheds > 1:
        info.notes.append(f"the checkpoint holds {n_scheds} schedulers; lrplan reads lr_schedulers[0]")
    if gs is None:
        info.notes.append("global_step is missing: the position is the scheduler's last_epoch")
        return
    info.next_step = gs  # updates done: the next update is lrplan step global_step
    if le == gs and interval == "step" and freq == 1:
        return
    why = (f"interval={interval!r}, frequency={freq!r}" if any(k in cfg for k in CONFIG_KEYS) else
           "Lightning does not save the interval/frequency: likely interval='epoch' or frequency > 1")
    info.notes.append(f"warning: lr_schedulers[0] last_epoch {le} != global_step {gs} ({why}); the scheduler "
                      "was stepped a different number of times than the optimizer, so its curve is not per update")
    if info.loaded is not None:
        info.missing.append(f"the per-update schedule: the rebuilt {info.state.get('scheduler_class')} counts "
                            f"scheduler steps ({le}), not updates ({gs}); pass --plan SOURCE with the per-update "
                            "schedule (the stored _last_lr is checked against it)")
        info.loaded = None


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    return restored_outcomes(info, new, opts)
