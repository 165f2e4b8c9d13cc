"""One reader per framework: checkpoint contents -> :class:`Info`.

Schedules come from the framework readers (lrplan.frameworks.*); this module only finds the inputs
they need in the checkpoint and the position (how many updates are done). Conventions:
Megatron ``opt_param_scheduler.num_steps`` counts samples (megatron/core/optimizer_param_scheduler.py,
core 0.16); DeepSpeed runs update k with ``last_batch_iteration = k - 1`` (deepspeed 0.19.8
runtime/lr_schedules.py); HF ``global_step`` = updates done and ``scheduler.pt._last_lr`` = the LR of
the next update (transformers 5.23 trainer.py); torch ``last_epoch`` = updates done (torch 2.13).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import CheckpointError, LrplanError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from ..frameworks.torch import state as torchsched
from .info import Info, first_group_lr, plain_fields
from .locate import DS_RANK0, Found, _latest_numbered, dcp_entry, dcp_index

MAX_JSON_BYTES = 16 * 1024 * 1024


def _load(path: Path):
    return safepickle.plain(safepickle.load_file(path))


def _json(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path} is too large for a state file")
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    if not isinstance(d, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return d


MAX_STEP = 10**13  # lrplan evaluates steps up to 1e13


def _int(v) -> int | None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v != int(v):
        return None
    return int(v) if abs(v) <= MAX_STEP else None


def _relabel(ld: Loaded, label: str, notes: list[str] = ()) -> Loaded:
    return Loaded(ld.schedule, ld.format, label, tuple(ld.notes) + tuple(notes), ld.step_name, ld.raw)


# ---- Megatron ----------------------------------------------------------------------------------------


def _megatron_state(found: Found) -> dict:
    if found.path.is_file():
        return _load(found.path)
    index = dcp_index(found.path)
    if "common_state/shard_0_1" in index:  # core >= 0.19: torch.save([common_dict]) as one bytes entry
        state = safepickle.plain(dcp_entry(found.path, index, "common_state/shard_0_1"))
        state = state[0] if isinstance(state, list) and state else state
        if isinstance(state, dict):
            return state
    out: dict = {}  # torch_dcp / fsdp_dtensor: dotted keys, one bytes entry each
    for fqn in index:
        head, _, tail = fqn.partition(".")
        if head in ("args", "iteration", "checkpoint_version") and not tail:
            out[head] = safepickle.plain(dcp_entry(found.path, index, fqn))
        elif head == "opt_param_scheduler" and tail:
            out.setdefault(head, {})[tail] = safepickle.plain(dcp_entry(found.path, index, fqn))
    if not out:
        raise CheckpointError(f"{found.path} holds no Megatron common state (no common_state entry)")
    return out


def read_megatron(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = _megatron_state(found)
    if not isinstance(st, dict):
        raise CheckpointError(f"{found.path} does not hold a checkpoint dict")
    sched = st.get("opt_param_scheduler") or st.get("lr_scheduler")  # v2.x AnnealingLR key
    args = plain_fields(st.get("args"))
    it = _int(st.get("iteration", st.get("total_iters")))
    info = Info("megatron", found.layout, found.path, {"iteration": it}, it or 0)
    _megatron_position(info, st, args, sched)
    info.state.update(args=args, opt_param_scheduler=sched if isinstance(sched, dict) else None)
    if not args:
        info.missing.append("args (the run's flags): pass --config with the run's flags file")
        if config:
            from ..sources import load

            info.loaded = load(config, fmt="megatron", opts=opts)
    else:
        from ..frameworks.megatron import from_args

        info.loaded = _relabel(from_args(args, opts, label=f"{found.path} args"), str(found.path))
    _megatron_step(info)
    return info


def _megatron_position(info: Info, st: dict, args: dict, sched) -> None:
    for k in ("consumed_train_samples", "skipped_train_samples"):
        if k in args:
            info.position[k] = args[k]
    opt = st.get("optimizer")
    inner = opt.get("optimizer") if isinstance(opt, dict) and isinstance(opt.get("optimizer"), dict) else opt
    info.stored_lr = first_group_lr(inner)
    info.stored_from = "optimizer param group lr"
    if isinstance(sched, dict):
        n = sched.get("num_steps", sched.get("num_iters"))
        info.position["opt_param_scheduler.num_steps"] = n
        info.position_x = float(n) if isinstance(n, (int, float)) else None
    else:
        info.missing.append("opt_param_scheduler (saved with --no-save-optim?): the position comes from "
                            "consumed_train_samples and the scheduler restarts unless loaded")
        c = args.get("consumed_train_samples")
        info.position_x = float(c) if isinstance(c, (int, float)) else None
    info.state["param_groups"] = (inner or {}).get("param_groups") if isinstance(inner, dict) else None


def _megatron_step(info: Info) -> None:
    if info.loaded is None or info.position_x is None:
        return
    from ..batch import step_of_position

    axis = info.loaded.schedule.axis
    k = step_of_position(axis, info.position_x) if axis.unit != "steps" else info.position_x
    if k == int(k):
        info.next_step = int(k)
    c = info.position.get("consumed_train_samples")
    seq = info.state["args"].get("seq_length")
    if isinstance(c, (int, float)) and isinstance(seq, int):
        info.position["consumed_train_tokens"] = c * seq
    if isinstance(c, (int, float)) and info.position_x is not None and c != info.position_x:
        why = ("double-stepped: the position was added twice (an extra step() after load_state_dict)"
               if c and info.position_x == 2 * c else "skipped iterations do not advance the scheduler")
        info.notes.append(f"the scheduler is at {info.position_x:g} samples but {c:g} samples were consumed: {why}")


# ---- DeepSpeed ----------------------------------------------------------------------------------------


def read_deepspeed(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = _load(found.path)
    if not isinstance(st, dict):
        raise CheckpointError(f"{found.path} does not hold a DeepSpeed state dict")
    sched = st.get("lr_scheduler")
    gs, skipped = _int(st.get("global_steps")), _int(st.get("skipped_steps")) or 0
    info = Info("deepspeed", found.layout, found.path, {"global_steps": gs, "skipped_steps": skipped,
                                                        "global_samples": st.get("global_samples")}, 0)
    info.stored_lr = first_group_lr(st.get("optimizer"))
    info.stored_from = "optimizer param group lr" if info.stored_lr is not None else ""
    if info.stored_lr is None:
        info.notes.append("the optimizer state is not in this file (ZeRO keeps it in *_optim_states.pt)")
    if isinstance(sched, dict) and "last_batch_iteration" in sched:
        lbi = _int(sched["last_batch_iteration"])
        info.position["lr_scheduler.last_batch_iteration"] = lbi
        info.next_step = (lbi or 0) + 1  # update k runs with last_batch_iteration = k - 1
        if gs is not None and gs - skipped != info.next_step:
            info.notes.append(f"last_batch_iteration {lbi} + 1 != global_steps {gs} - skipped_steps {skipped}:"
                              " the scheduler was stepped a different number of times than the engine")
    elif isinstance(sched, dict) and torchsched.scheduler_class(sched):
        return _torch_info(info, sched, opts, "DeepSpeed client scheduler (torch)")
    else:
        info.next_step = (gs or 0) - skipped
        info.missing.append("lr_scheduler state (none was saved: a client scheduler?)")
    cfg = st.get("ds_config")
    info.state = {"ds_config": cfg, "has_optimizer": st.get("optimizer") is not None}
    if isinstance(cfg, str) and not config:
        info.missing.append(f"ds_config is the path string {cfg!r} (DeepSpeed < 0.18.6 saved the file name): "
                            "pass --config with that JSON file")
        return info
    if config:
        cfg = _json(Path(config))
        info.notes.append(f"schedule from --config {config}")
    if isinstance(cfg, dict):
        from ..frameworks.deepspeed import from_config

        info.loaded = _relabel(from_config(cfg, opts), f"{found.path} ds_config")
    return info


# ---- HF Trainer ---------------------------------------------------------------------------------------


def read_hf(found: Found, opts: ReadOptions, config: str | None) -> Info:
    d = found.path
    ts = _json(d / "trainer_state.json")
    gs = _int(ts.get("global_step"))
    info = Info("hf", found.layout, d, {"global_step": gs, "epoch": ts.get("epoch")}, gs or 0)
    if (d / "scheduler.pt").is_file():
        sch = _load(d / "scheduler.pt")
        if isinstance(sch, dict):
            info.position["scheduler.last_epoch"] = sch.get("last_epoch")
            last = sch.get("_last_lr")
            if isinstance(last, list) and last and isinstance(last[0], (int, float)):
                info.stored_lr, info.stored_from = float(last[0]), "scheduler.pt _last_lr"
            if sch.get("last_epoch") != gs:
                info.notes.append(f"scheduler.pt last_epoch {sch.get('last_epoch')} != global_step {gs}: "
                                  "the scheduler was stepped a different number of times than the optimizer")
    elif not _hf_deepspeed_scheduler(info, d, gs):
        info.missing.append("scheduler.pt")
    if info.stored_lr is None and (d / "optimizer.pt").is_file():
        info.stored_lr = first_group_lr(_load(d / "optimizer.pt"))
        info.stored_from = "optimizer.pt param group lr"
    ds = sorted(p.name for p in d.glob("global_step*") if p.is_dir())
    if ds:
        info.notes.append(f"this HF run used DeepSpeed ({ds[-1]}/ holds the engine state)")
    fields = {}
    if (d / "training_args.bin").is_file():
        fields = plain_fields(_load(d / "training_args.bin"))
    if config:
        from ..sources import load

        info.loaded = load(config, fmt="hf", opts=opts)
    elif fields:
        from ..frameworks.hf import from_training_args

        info.loaded = _relabel(from_training_args(fields, opts, max_steps=_int(ts.get("max_steps")) or None),
                               f"{d} training_args.bin")
    else:
        info.missing.append("training_args.bin: pass --config with the TrainingArguments (YAML/JSON/flags)")
    info.state = {"log_history": ts.get("log_history") or [], "max_steps": ts.get("max_steps")}
    return info


def _hf_deepspeed_scheduler(info: Info, d: Path, gs: int | None) -> bool:
    """HF + a DeepSpeed ``scheduler`` section: no scheduler.pt; the engine file in global_stepN/ holds the
    DeepSpeed scheduler's ``last_batch_iteration`` (update k runs with k - 1) and, without ZeRO, the LR."""
    sub = _latest_numbered(d, "deepspeed")
    f = next((sub / n for n in DS_RANK0 if (sub / n).is_file()), None) if sub else None
    st = _load(f) if f else None
    sched = st.get("lr_scheduler") if isinstance(st, dict) else None
    lbi = _int(sched.get("last_batch_iteration")) if isinstance(sched, dict) else None
    if lbi is None:
        return False
    info.position[f"{sub.name}/lr_scheduler.last_batch_iteration"] = lbi
    if gs is not None and lbi + 1 != gs:
        info.notes.append(f"{sub.name}/ last_batch_iteration {lbi} + 1 != global_step {gs}: the DeepSpeed "
                          "scheduler was stepped a different number of times than the optimizer")
    lr = first_group_lr(st.get("optimizer"))
    if lr is not None:
        info.stored_lr, info.stored_from = lr, f"{sub.name}/{f.name} optimizer param group lr"
    # transformers 5.23 trainer.py reads the LR after the optimizer step, but the DeepSpeed engine has
    # already stepped its own scheduler inside that step: log_history at global_step g holds update g's LR.
    info.notes.append(f"DeepSpeed's own scheduler ran (its state is in {sub.name}/, HF saved no scheduler.pt); "
                      "log_history at global_step g shows the LR of update g (the engine steps the scheduler "
                      "before HF reads it), whatever the transformers version")
    return True


# ---- torchtitan ---------------------------------------------------------------------------------------


def read_torchtitan(found: Found, opts: ReadOptions, config: str | None) -> Info:
    index = dcp_index(found.path)
    le = next((f for f in ("lr_scheduler.last_epoch", "lr_scheduler.0.last_epoch") if f in index), None)
    if le is None:
        raise CheckpointError(f"{found.path} is a DCP checkpoint without lr_scheduler.last_epoch")
    last = _int(safepickle.plain(dcp_entry(found.path, index, le)))
    if last is None or last < 0:
        raise CheckpointError(f"{found.path}: {le} is not a non-negative integer")
    info = Info("torchtitan", found.layout, found.path, {"lr_scheduler.last_epoch": last}, last or 0)
    if "train_state.step" in index:
        info.position["train_state.step"] = safepickle.plain(dcp_entry(found.path, index, "train_state.step"))
    if not config:
        info.missing.append("the schedule: torchtitan stores only last_epoch; pass --config job.toml")
        return info
    from ..sources import load

    info.loaded = load(config, fmt="torchtitan", opts=opts)
    return info


# ---- Lightning and plain torch ----------------------------------------------------------------------------


def read_lightning(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = _load(found.path)
    if not isinstance(st, dict) or "lr_schedulers" not in st:
        return read_torch(found, opts, config)
    info = Info("lightning", found.layout, found.path, {"global_step": st.get("global_step"),
                                                        "epoch": st.get("epoch")}, _int(st.get("global_step")) or 0)
    scheds = st.get("lr_schedulers") or []
    if not scheds or not isinstance(scheds[0], dict):
        info.missing.append("lr_schedulers is empty: pass --plan SOURCE")
        return info
    _torch_info(info, scheds[0], opts, "Lightning lr_schedulers[0]")
    _lightning_steps(info, st, len(scheds))
    return info


# Lightning 2.6 saves only each scheduler's state_dict() under ``lr_schedulers``; the config dict
# (``interval``, ``frequency``) is not saved (lightning/pytorch/trainer/connectors/checkpoint_connector.py,
# ``dump_checkpoint``). The loop state counts the scheduler's steps as
# ``loops.fit_loop["epoch_loop.scheduler_progress"].total.completed`` (interval="step" only), and
# ``global_step`` counts optimizer updates. A scheduler stepped per epoch or every N updates has
# ``last_epoch != global_step``: its curve is per scheduler step, not per update.
LIGHTNING_CONFIG_KEYS = ("interval", "frequency")


def _lightning_steps(info: Info, st: dict, n_scheds: int) -> None:
    gs, le = _int(st.get("global_step")), info.position.get("last_epoch")
    cfg = st["lr_schedulers"][0]
    interval, freq = cfg.get("interval", "step"), cfg.get("frequency", 1)  # present only if a future version saves them
    loop = ((st.get("loops") or {}).get("fit_loop") or {}) if isinstance(st.get("loops"), dict) else {}
    prog = loop.get("epoch_loop.scheduler_progress") if isinstance(loop, dict) else None
    done = _int(((prog or {}).get("total") or {}).get("completed")) if isinstance(prog, dict) else None
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
    why = (f"interval={interval!r}, frequency={freq!r}" if any(k in cfg for k in LIGHTNING_CONFIG_KEYS) else
           "Lightning does not save the interval/frequency: likely interval='epoch' or frequency > 1")
    info.notes.append(f"warning: lr_schedulers[0] last_epoch {le} != global_step {gs} ({why}); the scheduler "
                      "was stepped a different number of times than the optimizer, so its curve is not per update")
    if info.loaded is not None:
        info.missing.append(f"the per-update schedule: the rebuilt {info.state.get('scheduler_class')} counts "
                            f"scheduler steps ({le}), not updates ({gs}); pass --plan SOURCE with the per-update "
                            "schedule (the stored _last_lr is checked against it)")
        info.loaded = None


def read_torch(found: Found, opts: ReadOptions, config: str | None) -> Info:
    st = _load(found.path)
    if isinstance(st, dict) and torchsched.scheduler_class(st) is None:
        for key in ("lr_scheduler", "scheduler", "lr_schedulers"):
            inner = st.get(key)
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, dict) and torchsched.scheduler_class(inner):
                st = inner
                break
    if not isinstance(st, dict) or torchsched.scheduler_class(st) is None:
        raise CheckpointError(f"{found.path} holds no LR scheduler state lrplan knows",
                              hint="lrplan reads HF, DeepSpeed, Megatron, torchtitan, Lightning checkpoints and "
                                   "torch scheduler state_dicts")
    info = Info("torch", found.layout, found.path, {}, 0)
    return _torch_info(info, st, opts, "torch scheduler state_dict")


def _torch_info(info: Info, st: dict, opts: ReadOptions, what: str) -> Info:
    le = _int(st.get("last_epoch"))
    info.position["last_epoch"] = le
    info.next_step = le or 0
    last = st.get("_last_lr")
    if isinstance(last, list) and last and isinstance(last[0], (int, float)):
        info.stored_lr, info.stored_from = float(last[0]), "_last_lr"
    cls = torchsched.scheduler_class(st)
    info.state = {"scheduler_class": cls}
    try:
        schedule, name = torchsched.build(st)
    except CheckpointError as e:
        info.missing.append(f"{e.message}: pass --plan SOURCE with the schedule")
        info.layout += f" ({cls})"
        return info
    info.layout += f" ({name})"
    info.loaded = Loaded(schedule, "torch", f"{info.path} {what}", (f"rebuilt from the {name} state",), None,
                         {"class": name})
    return info


READERS = {"megatron": read_megatron, "deepspeed": read_deepspeed, "hf": read_hf,
           "torchtitan": read_torchtitan, "lightning": read_lightning, "torch": read_torch}


# A checkpoint's fields are untrusted data of any type: a value the readers cannot use (a string where a
# number belongs, NaN, a list...) must end in a CheckpointError, never a crash.
BAD_VALUE = (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError, ZeroDivisionError)


def read(found: Found, opts: ReadOptions, config: str | None = None) -> Info:
    try:
        info = READERS[found.framework](found, opts, config)
    except RecursionError:
        raise CheckpointError(f"{found.path}: the checkpoint metadata is nested too deeply") from None
    except LrplanError:
        raise
    except BAD_VALUE as e:
        raise bad_value(found.path, e) from None
    if not 0 <= info.next_step <= MAX_STEP:
        raise CheckpointError(f"{found.path}: the saved position {info.next_step} is out of range")
    return info


def bad_value(path, e: Exception) -> CheckpointError:
    return CheckpointError(f"{path}: the checkpoint holds a value lrplan cannot use ({type(e).__name__}: "
                           f"{str(e)[:120]})", hint="the checkpoint may be damaged; pass --config with the run's config")
