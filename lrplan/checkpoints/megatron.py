"""Megatron-LM checkpoints: layout, position, schedule, and what a resume really uses.

Layouts (``checkpoints/locate.py``): legacy ``iter_N/mp_rank_00/model_optim_rng.pt``, torch_dist
``iter_N/common.pt``, the common state inside ``.distcp`` (core >= 0.19: ``common_state/shard_0_1``)
and torch_dcp dotted keys. ``opt_param_scheduler.num_steps`` counts *samples*
(megatron/core/optimizer_param_scheduler.py, core 0.16); the schedule comes from ``args``.

Resume rules (megatron/core/optimizer_param_scheduler.py, core 0.16.1, ``load_state_dict`` and
``_check_and_set``; megatron/training/checkpointing.py ``load_checkpoint``): by default every saved
scheduler value must equal the new run's value (exact ``==``) or an AssertionError stops the run;
``--override-opt_param-scheduler`` takes the new warmup/decay/style but the per-group ``max_lr``/
``min_lr`` restored with the optimizer still win (up to core v0.19.0, NVIDIA/Megatron-LM#1138);
``--use-checkpoint-opt_param-scheduler`` keeps the saved values; ``--no-load-optim``/``--finetune``
do not load the scheduler, so it restarts at 0 while the iteration counter continues.
"""

from __future__ import annotations

from ..errors import CheckpointError, LrplanError
from ..evaluate import lr_at
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .dcp import dcp_entry, dcp_index
from .info import (
    Info,
    Outcome,
    at,
    count,
    first_group_lr,
    load_config,
    plain_fields,
    relabel,
)
from .locate import Found

CONFIG_FORMAT = "megatron"  # what --config holds: the run's flags

# Why Megatron's own resume cannot follow an extended curve (said where `resume --to megatron` refuses).
RESUME_REFUSAL = ("Megatron resumes with --override-opt_param-scheduler from the saved sample count, but keeps "
                  "the checkpoint's peak and floor from the optimizer's param groups (core <= v0.19), and a "
                  "cosine or linear decay with those levels cannot pass through the current LR and end later; ")
RESUME_NOTE = ("resume with --override-opt_param-scheduler (the saved warmup/decay differ, so the default "
               "load asserts); up to core v0.19.0 the peak/min LR still come from the saved param groups")


def _state(found: Found) -> dict:
    if found.path.is_file():
        return safepickle.plain(safepickle.load_file(found.path))
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


def target_facts(info: Info, given: dict) -> tuple:
    """What flags written for this run must assume: the Megatron-LM era its args show (see from_args)."""
    args = info.state.get("args") or {}
    if "megatron_version" in given or not args or "step_batch_size_schedule" in args:
        return ()
    return (("megatron_version", "0.17"),)


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.megatron import from_args

    st = _state(found)
    if not isinstance(st, dict):
        raise CheckpointError(f"{found.path} does not hold a checkpoint dict")
    sched = st.get("opt_param_scheduler") or st.get("lr_scheduler")  # v2.x AnnealingLR key
    args = plain_fields(st.get("args"))
    key = "iteration" if "iteration" in st else "total_iters"
    it = count(st.get(key), key, found.path)
    info = Info("megatron", found.layout, found.path, {"iteration": it}, it or 0)
    _position(info, st, args, sched)
    info.state.update(args=args, opt_param_scheduler=sched if isinstance(sched, dict) else None)
    if config:
        info.loaded = load_config(config, CONFIG_FORMAT, opts)
        info.notes.append(f"schedule from --config {config}")
    elif not args:
        info.missing.append("args (the run's flags): pass --config with the run's flags file")
    else:
        info.loaded = relabel(from_args(args, opts, label=f"{found.path} args", from_checkpoint=True),
                              str(found.path))
    _step(info)
    return info


def _position(info: Info, st: dict, args: dict, sched) -> None:
    for k in ("consumed_train_samples", "skipped_train_samples"):
        if k in args:
            info.position[k] = count(args[k], f"args.{k}", info.path)
    opt = st.get("optimizer")
    inner = opt.get("optimizer") if isinstance(opt, dict) and isinstance(opt.get("optimizer"), dict) else opt
    info.stored_lr = first_group_lr(inner)
    info.stored_from = "optimizer param group lr"
    if isinstance(sched, dict):
        key = "num_steps" if "num_steps" in sched else "num_iters"
        n = count(sched.get(key), f"opt_param_scheduler.{key}", info.path)
        info.position["opt_param_scheduler.num_steps"] = n
        info.position_x = None if n is None else float(n)
    else:
        info.missing.append("opt_param_scheduler (saved with --no-save-optim?): the position comes from "
                            "consumed_train_samples and the scheduler restarts unless loaded")
        c = info.position.get("consumed_train_samples")
        info.position_x = None if c is None else float(c)
    info.state["param_groups"] = (inner or {}).get("param_groups") if isinstance(inner, dict) else None


def _step(info: Info) -> None:
    if info.loaded is None or info.position_x is None:
        return
    from ..batch import step_of_position

    axis = info.loaded.schedule.axis
    k = step_of_position(axis, info.position_x) if axis.unit != "steps" else info.position_x
    if k == int(k):
        info.next_step = int(k)
    c = info.position.get("consumed_train_samples")
    seq = info.state["args"].get("seq_length")
    if isinstance(c, int) and isinstance(seq, int) and not isinstance(seq, bool):
        info.position["consumed_train_tokens"] = c * seq
    if isinstance(c, int) and info.position_x is not None and c != info.position_x:
        why = ("double-stepped: the position was added twice (an extra step() after load_state_dict)"
               if c and info.position_x == 2 * c else "skipped iterations do not advance the scheduler")
        info.notes.append(f"the scheduler is at {info.position_x:g} samples but {c:g} samples were consumed: {why}")


# ---- resume rules -----------------------------------------------------------------------------------


_CHECKS = (("max_lr", "learning rate"), ("min_lr", "minimum learning rate"),
           ("lr_warmup_steps", "warmup iterations"), ("lr_decay_steps", "total number of iterations"),
           ("lr_decay_style", "learning rate decay style"))
_WD_CHECKS = (("start_wd", "start weight decay"), ("end_wd", "end weight decay"),
              ("wd_incr_steps", "total number of weight decay iterations"),
              ("wd_incr_style", "weight decay incr style"))
_ALIASES = {"max_lr": ("start_lr",), "lr_warmup_steps": ("warmup_iter", "warmup_steps"),
            "lr_decay_steps": ("end_iter", "decay_steps"), "lr_decay_style": ("decay_style",)}


def class_values(args: dict, opts: ReadOptions) -> dict:
    """The values Megatron-LM passes to OptimizerParamScheduler for these args (samples)."""
    from ..frameworks.megatron import check_wd, resolve

    r, plan = resolve(dict(args), opts)
    s_wd, e_wd = check_wd(r.args)
    return {"max_lr": float(r.args["lr"]), "min_lr": r.args["min_lr"], "lr_warmup_steps": plan.W,
            "lr_decay_steps": plan.D, "lr_decay_style": plan.style, "start_wd": s_wd, "end_wd": e_wd,
            "wd_incr_steps": plan.N_wd, "wd_incr_style": r.args["weight_decay_incr_style"]}


def assertion(saved: dict, cls: dict) -> str | None:
    """The AssertionError Megatron's load_state_dict raises for these values, or None."""
    checks = _CHECKS + (_WD_CHECKS if "start_wd" in saved else ())
    for key, name in checks:
        sd = next((saved[a] for a in (key, *_ALIASES.get(key, ())) if a in saved), None)
        if cls[key] != sd:
            return (f"OptimizerParamScheduler: class input value {cls[key]} and checkpointvalue {sd} "
                    f"for {name} do not match")
    return None


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    from ..frameworks.megatron import from_args

    old = info.loaded
    saved = info.state.get("opt_param_scheduler")
    out = []
    new_args = _args_of(new) if new is not None else info.state.get("args")
    if saved is None:
        out.append(Outcome("default", None, note="no opt_param_scheduler in the checkpoint: the scheduler starts at 0"))
    elif new is None:
        out.append(Outcome("default (same flags)", at(old, info), old, note="opt_param_scheduler restored"))
    else:
        err = assertion(saved, class_values(new_args, opts))
        if err:
            out.append(Outcome("default (no flag)", None, error="AssertionError: " + err,
                               note="add --override-opt_param-scheduler or --use-checkpoint-opt_param-scheduler"))
        else:
            out.append(Outcome("default", at(new, info), new, note="the saved scheduler values match"))
        mixed = dict(new_args)
        groups = info.state.get("param_groups") or []
        g = next((x for x in groups if isinstance(x, dict) and x.get("default_config")), groups[0] if groups else {})
        if isinstance(g, dict) and "max_lr" in g:
            mixed["lr"], mixed["min_lr"] = g["max_lr"], g.get("min_lr", mixed.get("min_lr"))
        ov = from_args(mixed, opts, label="override")
        out.append(Outcome("--override-opt_param-scheduler", at(ov, info), ov,
                           note="new warmup/decay/style, but peak and min LR from the checkpoint's param groups "
                                "(core <= v0.19.0; later versions use the new --lr/--min-lr)"))
        out.append(Outcome("--use-checkpoint-opt_param-scheduler", at(old, info), old,
                           note="the saved scheduler values win; the new schedule flags are ignored"))
    fresh = new if new is not None else old
    out.append(Outcome("--no-load-optim / --finetune", lr_at(fresh.schedule, 0), fresh,
                       note="the scheduler is not loaded: warmup and decay restart from 0 while the iteration "
                            "counter continues", restart=True))
    return out


def end_advice(info: Info, new: Loaded, end: int) -> str | None:
    """Megatron runs train_samples // global_batch_size iterations, counted from iteration 0, at the new batch
    size: say how many samples the run length must be for the remaining decay to fit."""
    import math

    args = _args_of(new)
    s = new.schedule
    gbs, samples = args.get("global_batch_size"), args.get("train_samples")
    if not isinstance(gbs, int) or samples is None or info.position_x is None or s.lr.end is None:
        return None
    left = s.lr.end - info.position_x  # samples until the decay ends, from the checkpoint's position
    iters = info.next_step + math.ceil(left / gbs)
    return (f"Megatron runs --train-samples {samples} // --global-batch-size {gbs} = {end} iterations; for the "
            f"decay to end pass --train-samples {iters * gbs} ({iters} iterations)")


def _args_of(ld: Loaded) -> dict:
    if ld.format != "megatron":
        raise LrplanError(f"--plan for a Megatron checkpoint must be Megatron flags, got {ld.format}",
                          hint="pass a file with the new run's --lr/--train-iters/... flags")
    return {k: v for k, v in ld.raw.items() if not k.startswith("_")}
