"""DeepSpeed engine checkpoints: ``global_stepN/mp_rank_00_model_states.pt`` (``lr_scheduler``, ``ds_config``,
``global_steps``, ``skipped_steps``).

Position: DeepSpeed runs update k with ``last_batch_iteration = k - 1`` (deepspeed 0.19.8
runtime/lr_schedules.py); the engine counts ``global_steps`` including skipped (overflowed) steps,
which do not step the scheduler. Resume (runtime/engine.py 0.19.8): schedulers do not re-apply the LR
on load, so without optimizer states the first update runs at the freshly built scheduler's LR.
"""

from __future__ import annotations

from ..errors import CheckpointError
from ..evaluate import lr_at
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, at, count, first_group_lr, load_config, relabel
from .locate import Found, safe_text

CONFIG_FORMAT = "deepspeed"

RESUME_REFUSAL = ("DeepSpeed's schedulers restart their curve from last_batch_iteration with fixed shapes and "
                  "cannot start a new decay at the current LR; ")
RESUME_NOTE = ("load_checkpoint restores last_batch_iteration; keep load_optimizer_states=True or the first "
               "update runs at the scheduler's initial LR")


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.deepspeed import from_config
    from .torch import scheduler_kind, torch_info

    st = safepickle.plain(safepickle.load_file(found.path))
    if not isinstance(st, dict):
        raise CheckpointError(f"{found.path} does not hold a DeepSpeed state dict")
    sched = st.get("lr_scheduler")
    gs = count(st.get("global_steps"), "global_steps", found.path)
    skipped = count(st.get("skipped_steps"), "skipped_steps", found.path) or 0
    info = Info("deepspeed", found.layout, found.path, {"global_steps": gs, "skipped_steps": skipped,
                                                        "global_samples": st.get("global_samples")}, 0)
    info.stored_lr = first_group_lr(st.get("optimizer"))
    info.stored_from = "optimizer param group lr" if info.stored_lr is not None else ""
    if info.stored_lr is None:
        info.notes.append("the optimizer state is not in this file (ZeRO keeps it in *_optim_states.pt)")
    if isinstance(sched, dict) and "last_batch_iteration" in sched:
        lbi = count(sched["last_batch_iteration"], "lr_scheduler.last_batch_iteration", found.path, minimum=-1)
        info.position["lr_scheduler.last_batch_iteration"] = lbi
        info.next_step = lbi + 1  # update k runs with last_batch_iteration = k - 1
        if gs is not None and gs - skipped != info.next_step:
            info.notes.append(f"last_batch_iteration {lbi} + 1 != global_steps {gs} - skipped_steps {skipped}:"
                              " the scheduler was stepped a different number of times than the engine")
    elif isinstance(sched, dict) and scheduler_kind(sched):
        return torch_info(info, sched, opts, "DeepSpeed client scheduler (torch)")
    else:
        info.next_step = (gs or 0) - skipped
        if info.next_step < 0:
            raise CheckpointError(f"{found.path}: skipped_steps {skipped} exceeds global_steps {gs}")
        info.missing.append("lr_scheduler state (none was saved: a client scheduler?)")
    cfg = st.get("ds_config")
    info.state = {"ds_config": cfg, "has_optimizer": st.get("optimizer") is not None}
    if config:
        info.loaded = load_config(config, CONFIG_FORMAT, opts)
        info.notes.append(f"schedule from --config {config}")
    elif isinstance(cfg, str):
        info.missing.append(f"ds_config is the path string {safe_text(cfg, 120)} (DeepSpeed < 0.18.6 saved the"
                            " file name): pass --config with that JSON file")
    elif isinstance(cfg, dict):
        info.loaded = relabel(from_config(cfg, opts), f"{found.path} ds_config")
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    k = info.next_step
    with_opt = at(ld, info) if new is not None or info.stored_lr is None else info.stored_lr
    out = [Outcome("load_checkpoint (optimizer states loaded)", with_opt, ld,
                   note="the restored param-group LR; the scheduler continues at last_batch_iteration")]
    out.append(Outcome("load_optimizer_states=False", lr_at(ld.schedule, 0), ld,
                       note=f"DeepSpeed schedulers do not re-apply the LR on load: update {k} runs at the new "
                            f"scheduler's initial LR; update {k + 1} is correct again"))
    return out
