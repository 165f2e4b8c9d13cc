"""torchtitan checkpoints: DCP directories ``step-N/`` with ``lr_scheduler.last_epoch`` and ``train_state.step``.

torchtitan stores only ``last_epoch`` of its LambdaLR (torchtitan/components/lr_scheduler.py, 0.3.0),
so the schedule comes from the job config (``--config job.toml``). Resume: ``checkpoint.load`` restores
``last_epoch`` only; the current config's schedule applies at once.
"""

from __future__ import annotations

from ..errors import CheckpointError
from ..evaluate import lr_at
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .dcp import dcp_entry, dcp_index
from .info import Info, Outcome, count, load_config
from .locate import Found

CONFIG_FORMAT = "torchtitan"
RESUME_REFUSAL = ""
RESUME_NOTE = "torchtitan restores only last_epoch: the new config applies at the resume step"


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    index = dcp_index(found.path)
    le = next((f for f in ("lr_scheduler.last_epoch", "lr_scheduler.0.last_epoch") if f in index), None)
    if le is None:
        raise CheckpointError(f"{found.path} is a DCP checkpoint without lr_scheduler.last_epoch")
    last = count(safepickle.plain(dcp_entry(found.path, index, le)), le, found.path, allow_none=False)
    info = Info("torchtitan", found.layout, found.path, {"lr_scheduler.last_epoch": last}, last)
    if "train_state.step" in index:
        info.position["train_state.step"] = count(safepickle.plain(dcp_entry(found.path, index, "train_state.step")),
                                                  "train_state.step", found.path)
    if not config:
        info.missing.append("the schedule: torchtitan stores only last_epoch; pass --config job.toml")
        return info
    info.loaded = load_config(config, CONFIG_FORMAT, opts)
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    if ld is None:
        return []
    return [Outcome("checkpoint.load (last_epoch restored)", lr_at(ld.schedule, info.next_step), ld,
                    note="torchtitan restores only last_epoch; the current config's schedule applies at once")]
