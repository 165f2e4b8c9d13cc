"""What LR the first update after a resume really uses, per framework load rules.

Megatron (megatron/core/optimizer_param_scheduler.py, core 0.16.1, ``load_state_dict`` and
``_check_and_set``; megatron/training/checkpointing.py ``load_checkpoint``): by default every saved
scheduler value must equal the new run's value (exact ``==``) or an AssertionError stops the run;
``--override-opt_param-scheduler`` takes the new warmup/decay/style but the per-group ``max_lr``/
``min_lr`` restored with the optimizer still win (up to core v0.19.0, NVIDIA/Megatron-LM#1138);
``--use-checkpoint-opt_param-scheduler`` keeps the saved values; ``--no-load-optim``/``--finetune``
do not load the scheduler, so it restarts at 0 while the iteration counter continues.
DeepSpeed (runtime/engine.py 0.19.8): schedulers do not re-apply the LR on load, so without optimizer
states the first update runs at the freshly built scheduler's LR (that of update 0).
HF / torch: ``load_state_dict`` restores ``base_lrs`` and a self-describing scheduler's own fields;
the optimizer's restored ``lr`` is used by the first update.
torchtitan: only ``last_epoch`` is restored; the new config's lambda applies at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import LrplanError
from ..evaluate import lr_at
from ..frameworks.base import Loaded, ReadOptions
from .info import Info


@dataclass
class Outcome:
    how: str  # the flags / load mode
    first_lr: float | None  # LR of the first update after the resume (None: the load fails)
    schedule: Loaded | None = None  # the curve the resumed run follows (None: the checkpoint's)
    error: str | None = None  # what the framework raises
    note: str = ""
    restart: bool = False  # the scheduler restarts at 0 on resume: update next_step + j uses schedule(j)


def at(ld: Loaded, info: Info, k: int | None = None) -> float:
    """LR of update ``k`` (default: the next update) of a run resumed from ``info``.

    On a samples axis (Megatron) the resumed run continues from the checkpoint's sample position,
    adding the new config's batch sizes from there, not from step 0 of the new config.
    """
    s = ld.schedule
    k = info.next_step if k is None else k
    if info.position_x is not None and s.axis.unit == "samples" and k >= info.next_step:
        from ..batch import advance
        from ..evaluate import curve_value

        x = advance(s.axis.batch, int(info.position_x), k - info.next_step)
        return curve_value(s.lr, s.peak, x)
    return lr_at(s, k)


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    fn = {"megatron": _megatron, "deepspeed": _deepspeed, "hf": _hf_torch, "lightning": _hf_torch,
          "torch": _hf_torch, "torchtitan": _torchtitan}[info.framework]
    return fn(info, new, opts)


# ---- Megatron ------------------------------------------------------------------------------------


_CHECKS = (("max_lr", "learning rate"), ("min_lr", "minimum learning rate"),
           ("lr_warmup_steps", "warmup iterations"), ("lr_decay_steps", "total number of iterations"),
           ("lr_decay_style", "learning rate decay style"))
_WD_CHECKS = (("start_wd", "start weight decay"), ("end_wd", "end weight decay"),
              ("wd_incr_steps", "total number of weight decay iterations"), ("wd_incr_style", "weight decay incr style"))
_ALIASES = {"max_lr": ("start_lr",), "lr_warmup_steps": ("warmup_iter", "warmup_steps"),
            "lr_decay_steps": ("end_iter", "decay_steps"), "lr_decay_style": ("decay_style",)}


def megatron_class_values(args: dict, opts: ReadOptions) -> dict:
    """The values Megatron-LM passes to OptimizerParamScheduler for these args (samples)."""
    from ..frameworks.megatron import check_wd, resolve

    r, plan = resolve(dict(args), opts)
    s_wd, e_wd = check_wd(r.args)
    return {"max_lr": float(r.args["lr"]), "min_lr": r.args["min_lr"], "lr_warmup_steps": plan.W,
            "lr_decay_steps": plan.D, "lr_decay_style": plan.style, "start_wd": s_wd, "end_wd": e_wd,
            "wd_incr_steps": plan.N_wd, "wd_incr_style": r.args["weight_decay_incr_style"]}


def megatron_assertion(saved: dict, cls: dict) -> str | None:
    """The AssertionError Megatron's load_state_dict raises for these values, or None."""
    checks = _CHECKS + (_WD_CHECKS if "start_wd" in saved else ())
    for key, name in checks:
        sd = next((saved[a] for a in (key, *_ALIASES.get(key, ())) if a in saved), None)
        if cls[key] != sd:
            return (f"OptimizerParamScheduler: class input value {cls[key]} and checkpointvalue {sd} "
                    f"for {name} do not match")
    return None


def _megatron(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
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
        err = megatron_assertion(saved, megatron_class_values(new_args, opts))
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


def _args_of(ld: Loaded) -> dict:
    if ld.format != "megatron":
        raise LrplanError(f"--plan for a Megatron checkpoint must be Megatron flags, got {ld.format}",
                          hint="pass a file with the new run's --lr/--train-iters/... flags")
    return {k: v for k, v in ld.raw.items() if not k.startswith("_")}


# ---- DeepSpeed ----------------------------------------------------------------------------------------


def _deepspeed(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    k = info.next_step
    with_opt = at(ld, info) if new is not None or info.stored_lr is None else info.stored_lr
    out = [Outcome("load_checkpoint (optimizer states loaded)", with_opt, ld,
                   note="the restored param-group LR; the scheduler continues at last_batch_iteration")]
    out.append(Outcome("load_optimizer_states=False", lr_at(ld.schedule, 0), ld,
                       note=f"DeepSpeed schedulers do not re-apply the LR on load: update {k} runs at the new "
                            f"scheduler's initial LR; update {k + 1} is correct again"))
    return out


# ---- HF, Lightning, torch, torchtitan ------------------------------------------------------------------


def _hf_torch(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    old = info.loaded
    first = info.stored_lr if info.stored_lr is not None else (at(old, info) if old else None)
    if new is None:
        return [Outcome("resume_from_checkpoint" if info.framework == "hf" else "load_state_dict", first, old,
                        note="the optimizer's restored LR, then the restored scheduler")]
    follow = new
    note = "the first update uses the restored optimizer LR; later ones the new schedule"
    if old is not None and old.schedule.peak_lr and new.schedule.peak_lr != old.schedule.peak_lr:
        follow = Loaded(replace(new.schedule, peak_lr=old.schedule.peak_lr), new.format, new.label, new.notes,
                        new.step_name, new.raw)
        note += (f" scaled by the checkpoint's base LR {old.schedule.peak_lr:g} (load_state_dict restores base_lrs;"
                 f" the new peak {new.schedule.peak_lr:g} is ignored)")
    if info.framework in ("torch", "lightning") and info.loaded is not None:
        note += "; a self-describing scheduler also restores its own T_max/step_size/..., so only a rebuilt " \
                "scheduler without load_state_dict follows --plan"
    return [Outcome("resume (scheduler and optimizer states loaded)", first, follow, note=note)]


def _torchtitan(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    ld = new or info.loaded
    if ld is None:
        return []
    return [Outcome("checkpoint.load (last_epoch restored)", lr_at(ld.schedule, info.next_step), ld,
                    note="torchtitan restores only last_epoch; the current config's schedule applies at once")]
