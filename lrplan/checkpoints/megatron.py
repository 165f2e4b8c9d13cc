"""Megatron-LM checkpoints: layout, position, schedule, and what a resume really uses.

Layouts (``checkpoints/locate.py``): legacy ``iter_N/mp_rank_00/model_optim_rng.pt``, torch_dist
``iter_N/common.pt``, the common state inside ``.distcp`` (core >= 0.19: ``common_state/shard_0_1``)
and torch_dcp dotted keys. ``opt_param_scheduler.num_steps`` counts *samples*
(megatron/core/optimizer_param_scheduler.py, core 0.16); the schedule comes from ``args``, or from the
saved scheduler state where the args are silent on it or disagree with it (``from_saved_state``).

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
    saved = saved_values(sched)
    silent = silent_fields(args)
    if config:
        info.loaded = load_config(config, CONFIG_FORMAT, opts)
        info.notes.append(f"schedule from --config {config}")
    elif saved is not None and silent:
        _from_saved_state(info, args, saved, silent, opts)
    elif not args:
        info.missing.append("args (the run's flags): pass --config with the run's flags file")
    else:
        info.loaded = relabel(from_args(args, opts, label=f"{found.path} args", from_checkpoint=True),
                              str(found.path))
        if saved is not None:
            _check_args_against_state(info, args, saved, opts)
    _step(info)
    return info


# ---- args silent, or at odds with the saved scheduler ---------------------------------------------------
# OptimizerParamScheduler.state_dict (core 0.16.1) holds max_lr, min_lr, lr_warmup_steps, lr_decay_steps,
# lr_decay_style, num_steps and start_wd/end_wd/wd_incr_steps/wd_incr_style, all boundaries in samples; it
# does not hold the warmup's start LR (--lr-warmup-init), the WSD anneal (--lr-wsd-decay-*) or the run length.
# After a load, every value it saves is the one in force (the new flag's under --override-opt_param-scheduler,
# the saved one under --use-checkpoint-opt_param-scheduler, and by default the two are asserted equal), so
# where the args and the state disagree, the state is what the run used.

_GROUPS = (("--lr", ("lr",)), ("--min-lr", ("min_lr",)), ("--lr-decay-style", ("lr_decay_style",)),
           ("--lr-warmup-iters/-samples/-fraction", ("lr_warmup_iters", "lr_warmup_samples", "lr_warmup_fraction")),
           ("--lr-decay-iters/-samples (or --train-iters/-samples)",
            ("lr_decay_iters", "lr_decay_samples", "train_iters", "train_samples")))
_SCHEDULE_DESTS = {d for _, dests in _GROUPS for d in dests} | {"lr_wsd_decay_iters", "lr_wsd_decay_samples"}


def silent_fields(args: dict) -> list[str]:
    """The schedule flags the checkpoint's args say nothing about (every dest of the group absent or None)."""
    return [name for name, dests in _GROUPS if all(args.get(d) is None for d in dests)]


def saved_values(sched) -> dict | None:
    """The saved scheduler's values under their current names (older aliases read as Megatron reads them),
    or None when the state cannot stand in for the args (a field missing or of the wrong kind)."""
    if not isinstance(sched, dict):
        return None
    out = {}
    for key, _ in _CHECKS + _WD_CHECKS:
        v = next((sched[a] for a in (key, *_ALIASES.get(key, ())) if a in sched), None)
        if v is not None:
            out[key] = v
    num = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if not (all(num(out.get(k)) for k in ("max_lr", "min_lr", "lr_warmup_steps", "lr_decay_steps"))
            and isinstance(out.get("lr_decay_style"), str)):
        return None
    return out


def from_saved_state(args: dict, saved: dict, opts: ReadOptions, label: str) -> Loaded:
    """The schedule the saved OptimizerParamScheduler runs: its values, in sample mode, with what the state
    does not hold (batch sizes, --lr-warmup-init, the WSD anneal, the run length) from the args."""
    from ..frameworks.megatron import from_args

    a = {k: v for k, v in args.items() if k not in _SCHEDULE_DESTS}
    G = args.get("global_batch_size") or opts.positive_int("global_batch_size")
    if not isinstance(G, int) or isinstance(G, bool) or G <= 0:
        raise LrplanError("the saved opt_param_scheduler counts samples, and the args give no global batch size",
                          where="args.global_batch_size",
                          hint="pass --set global_batch_size=N (or --config with the run's flags)")
    a["global_batch_size"] = G
    W, D = saved["lr_warmup_steps"], int(saved["lr_decay_steps"])
    a.update(lr=float(saved["max_lr"]), min_lr=float(saved["min_lr"]), lr_decay_style=saved["lr_decay_style"],
             lr_decay_samples=D, lr_warmup_iters=None, lr_warmup_samples=None, lr_warmup_fraction=None)
    if float(W).is_integer():
        a["lr_warmup_samples"] = int(W)
    elif D and W / D * D == W:  # --lr-warmup-fraction: the state holds fraction x decay samples
        a["lr_warmup_fraction"] = W / D
    else:
        raise LrplanError(f"the saved warmup ({W!r} samples) is not a whole number of samples nor a fraction of "
                          f"the decay ({D} samples) that Megatron would rebuild exactly",
                          where="opt_param_scheduler.lr_warmup_steps", hint="pass --config with the run's flags")
    wsd = args.get("lr_wsd_decay_samples")
    if wsd is None and isinstance(args.get("lr_wsd_decay_iters"), int):
        wsd = args["lr_wsd_decay_iters"] * G
    if saved["lr_decay_style"] == "WSD" and wsd is None:
        raise LrplanError("the saved scheduler is WSD, but its anneal length is not saved and the args have no "
                          "--lr-wsd-decay-iters/-samples", where="args.lr_wsd_decay_iters",
                          hint="pass --config with the run's flags")
    a["lr_wsd_decay_samples"] = wsd
    a["train_samples"] = _run_samples(args, saved, opts, G, D)
    if "start_wd" in saved:  # the saved weight decay is in force too, over its own length
        a.update(weight_decay=saved["start_wd"], start_weight_decay=saved["start_wd"],
                 end_weight_decay=saved["end_wd"], weight_decay_incr_style=saved["wd_incr_style"])
    ld = from_args(a, opts, label=label, from_checkpoint=True)
    n = saved.get("wd_incr_steps")
    if "start_wd" in saved and isinstance(n, int) and not isinstance(n, bool) and n > 0 and n != ld.schedule.total:
        from dataclasses import replace

        from ..frameworks.megatron.build import Plan, wd_curve

        length = Plan(W=0, D=1, S=None, N_wd=n, total=int(ld.schedule.total), style="", wsd_style="")
        wd = wd_curve(length, saved["wd_incr_style"], saved["start_wd"], saved["end_wd"])
        ld = replace(ld, schedule=replace(ld.schedule, weight_decay=wd))
    return ld


def _run_samples(args: dict, saved: dict, opts: ReadOptions, G: int, D: int) -> int:
    """The run's length in samples: the args', else the saved weight-decay length (Megatron sets
    wd_incr_steps to the run's samples), else --steps iterations, else the decay length."""
    if isinstance(args.get("train_samples"), int):
        return args["train_samples"]
    if isinstance(args.get("train_iters"), int):
        return args["train_iters"] * G
    n = saved.get("wd_incr_steps")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return n
    if opts.steps is not None:
        from ..quantity import parse_count

        return int(parse_count(opts.steps, integer=True)) * G
    return D


def _from_saved_state(info: Info, args: dict, saved: dict, silent: list[str], opts: ReadOptions) -> None:
    what = "the checkpoint has no args" if not args else f"the args have no {', '.join(silent)}"
    try:
        ld = from_saved_state(args, saved, opts, str(info.path))
    except LrplanError as e:
        if args:
            raise
        info.missing.append("args (the run's flags): pass --set global_batch_size=N to rebuild the schedule from "
                            f"the saved opt_param_scheduler ({e}), or --config with the run's flags file")
        return
    assumed = [] if "lr_warmup_init" in args else ["--lr-warmup-init 0 (not saved in the scheduler state)"]
    if not isinstance(args.get("train_iters"), int) and not isinstance(args.get("train_samples"), int):
        assumed.append(f"a run of {ld.schedule.total:,.0f} samples ("
                       + ("the saved weight-decay length)" if "wd_incr_steps" in saved else "the decay length)"))
    info.loaded = ld
    info.state["rebuilt_from_state"] = True
    info.notes.append(f"schedule rebuilt from the saved opt_param_scheduler ({what}): peak {saved['max_lr']:g}, "
                      f"min {saved['min_lr']:g}, warmup {saved['lr_warmup_steps']:g} and decay "
                      f"{saved['lr_decay_steps']:g} samples, {saved['lr_decay_style']}"
                      + (f"; assumed {', '.join(assumed)}" if assumed else ""))


def _check_args_against_state(info: Info, args: dict, saved: dict, opts: ReadOptions) -> None:
    """Args that disagree with the saved state: the saving run kept the older values
    (--use-checkpoint-opt_param-scheduler); the state is what ran, the args are what a resume would pass."""
    err = assertion(saved, class_values(args, opts))
    if err is None:
        return
    info.state["args_loaded"] = info.loaded
    info.state["disagreement"] = err
    info.loaded = from_saved_state(args, saved, opts, str(info.path))
    info.notes.append("the args and the saved opt_param_scheduler disagree (" + err + "): after a load Megatron "
                      "saves the values in force, so the run used the saved ones (it was resumed with "
                      "--use-checkpoint-opt_param-scheduler) and lrplan follows them; resuming with these args "
                      "asserts unless you pass --use-checkpoint-opt_param-scheduler (keeps the saved schedule) "
                      "or --override-opt_param-scheduler (takes the args')")


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
        it = info.position.get("iteration")
        if info.state.get("rebuilt_from_state") and isinstance(it, int) and int(k) != it:
            info.notes.append(f"the saved scheduler is at {info.position_x:g} samples, lrplan step {int(k)} at this "
                              f"global batch size, but the checkpoint is at iteration {it}: check --set "
                              "global_batch_size (or skipped iterations, which do not advance the scheduler)")
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
    elif new is None and info.state.get("rebuilt_from_state"):
        out.append(Outcome("default (flags that give the saved values)", at(old, info), old,
                           note="opt_param_scheduler restored; the new run's flags must give exactly the saved "
                                "peak, min, warmup, decay and style, or Megatron asserts"))
    elif new is None and "disagreement" not in info.state:
        out.append(Outcome("default (same flags)", at(old, info), old, note="opt_param_scheduler restored"))
    else:
        new = new if new is not None else info.state["args_loaded"]
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
                           note="the saved scheduler values win; the new schedule flags are ignored (where the flags' weight "
                                "decay differs, the first update after the load runs at it: load_state_dict steps "
                                "the scheduler before it restores the weight-decay fields)"))
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
