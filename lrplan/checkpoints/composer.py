"""Composer checkpoints: ``ep{epoch}-ba{batch}-rank{rank}.pt`` (and the ``latest-rank{rank}.pt`` symlink).

``composer/utils/checkpoint.py::_save_checkpoint`` (mosaicml 0.32.1) ``torch.save``s
``{'state': State.state_dict(), 'rng': ...}``; ``state`` holds ``timestamp: {'Timestamp': {batch, sample,
token, epoch, ...}}``, ``schedulers: {'LambdaLR': {last_epoch, base_lrs, _last_lr, ...}}`` (each compiled
scheduler keyed by its class name, so two of them collide) and ``optimizers: {'<Optimizer>': {param_groups:
[{lr, initial_lr, ...}]}}``. It is written at ``BATCH_CHECKPOINT``, after the batch's ``scheduler.step()``
and the timestamp increment, so ``timestamp.batch`` is the next update's index and the optimizer's ``lr``
is the LR that update uses. No scheduler hyper-parameters and no ``max_duration`` are saved (the
schedulers are closures; mosaicml/composer#56): the schedule comes from the train YAML (``--config``).

Resume (``Trainer(load_path=...)``): the schedulers are compiled from the new config, then the optimizer
state (its ``lr`` and ``initial_lr``), the LambdaLR state (``base_lrs``, ``last_epoch``) and the timestamp
are loaded. The first update uses the restored ``lr``; every later one ``base_lrs x alpha`` of the *new*
config at the restored timestamp -- with the new ``max_duration``. Sharded (FSDP) checkpoints, a DCP
directory per save, are not read.
"""

from __future__ import annotations

import math

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, at, count, first_group_lr, load_config
from .locate import Found

CONFIG_FORMAT = "composer"
RESUME_REFUSAL = ""
RESUME_NOTE = ("Composer restores the optimizer LR, the LambdaLR's base_lrs and the timestamp: keep optimizer.lr; "
               "the new max_duration and schedulers apply from the next batch")


def _dict(v, what: str, path) -> dict:
    if not isinstance(v, dict):
        raise CheckpointError(f"{path}: {what} is not a mapping", hint="is this a Composer checkpoint?")
    return v


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    path = found.path
    top = safepickle.plain(safepickle.load_file(path))
    if not isinstance(top, dict) or not isinstance(top.get("state"), dict):
        raise CheckpointError(f"{path} has no 'state' mapping: not a Composer checkpoint",
                              hint="Composer saves {'state': State.state_dict(), 'rng': ...}")
    state = top["state"]
    ts = _dict(_dict(state.get("timestamp"), "state.timestamp", path).get("Timestamp"),
               "state.timestamp.Timestamp", path)
    batch = count(ts.get("batch"), "state.timestamp.Timestamp.batch", path, allow_none=False)
    info = Info("composer", found.layout, path, {"timestamp.batch": batch}, batch)
    for key in ("epoch", "sample", "token", "batch_in_epoch"):
        if ts.get(key) is not None:
            info.position[f"timestamp.{key}"] = count(ts[key], f"state.timestamp.Timestamp.{key}", path)
    scheds = state.get("schedulers") or {}
    lam = scheds.get("LambdaLR") if isinstance(scheds, dict) else None
    if isinstance(lam, dict):
        le = count(lam.get("last_epoch"), "state.schedulers.LambdaLR.last_epoch", path)
        info.position["schedulers.LambdaLR.last_epoch"] = le
        base = lam.get("base_lrs")
        if isinstance(base, list) and base and isinstance(base[0], (int, float)) and math.isfinite(base[0]):
            info.state["base_lr"] = float(base[0])
        if le is not None and le != batch:
            info.notes.append(f"LambdaLR last_epoch {le} != timestamp.batch {batch}: the schedulers were not stepped "
                              "every batch (step_schedulers_every_batch: false, or a PyTorch scheduler was given)")
    elif isinstance(scheds, dict) and scheds:
        info.notes.append(f"schedulers {', '.join(map(str, scheds))}: PyTorch schedulers, not a compiled Composer "
                          "scheduler; their state is their own")
    opt = state.get("optimizers")
    if isinstance(opt, dict) and opt:
        name, ostate = next(iter(opt.items()))
        lr = first_group_lr(ostate)
        if lr is not None:
            info.stored_lr, info.stored_from = lr, f"state.optimizers.{name}.param_groups[0].lr"
    if not config:
        info.missing.append("the schedule: Composer saves neither its schedulers' arguments nor max_duration; "
                            "pass --config train.yaml")
        return info
    per_epoch = _batches_per_epoch(info)
    if per_epoch is not None and opts.get("batches_per_epoch") is None and opts.get("dataset_size") is None:
        from dataclasses import replace

        opts = replace(opts, extra=opts.extra + (("batches_per_epoch", str(per_epoch)),))
        info.notes.append(f"{per_epoch} batches per epoch, from the checkpoint's timestamp ((batch - batch_in_epoch)"
                          " / epoch); --set batches_per_epoch=N overrides it")
    info.loaded = load_config(config, CONFIG_FORMAT, opts)
    return info


def _batches_per_epoch(info: Info) -> int | None:
    """len(train_dataloader) as the timestamp implies it: (batch - batch_in_epoch) / epoch, when whole."""
    p = info.position
    ep, bie = p.get("timestamp.epoch"), p.get("timestamp.batch_in_epoch")
    if not ep or bie is None:
        return None
    done = p["timestamp.batch"] - bie
    return done // ep if done > 0 and done % ep == 0 else None


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    if ld is None:
        return []
    first = info.stored_lr if info.stored_lr is not None else at(ld, info)
    follow = ld
    note = "the restored optimizer LR for the first update, then the config's schedule at the restored timestamp"
    base = info.state.get("base_lr")
    if base and ld.schedule.peak_lr and ld.schedule.peak_lr != base:
        follow = Loaded(ld.schedule.with_(peak_lr=base), ld.format, ld.label, ld.notes, ld.step_name, ld.raw)
        note += (f", scaled by the restored base_lrs {base:g} (the config's optimizer.lr "
                 f"{ld.schedule.peak_lr:g} is ignored on resume)")
    return [Outcome("Trainer(load_path=...)", first, follow, note=note)]
