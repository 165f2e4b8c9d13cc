"""A Schedule-Free optimizer's state in a torch checkpoint (schedulefree 1.4.1; never unpickled with pickle).

``optimizer.state_dict()["param_groups"][0]`` holds everything its LR and averaging weights depend on
(lrplan/frameworks/schedulefree.py): ``k`` (updates done), ``lr``, ``warmup_steps``, ``r``,
``weight_lr_power``, ``lr_max``, ``weight_sum``, ``scheduled_lr`` (the LR of update ``k - 1``),
``train_mode`` (which point the *model* weights were saved at: y in train mode, the average x in eval
mode), and per class ``betas``/``silent_sgd_phase``/``decay_at_z``. Checkpoints of schedulefree <= 1.2
lack ``scheduled_lr``; the ``ScheduleFreeWrapper`` keeps ``k``/``lr_max``/``weight_sum`` but not its
``r``/``weight_lr_power``/warmup (Python attributes, not saved).
"""

from __future__ import annotations

import math

from ..frameworks.base import Loaded
from ..ir import Curve, Level, Schedule, Segment
from .info import Info, count

KEYS = ("k", "lr_max", "weight_sum")


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def find_group(st, path: str = "", depth: int = 0):
    """(where, param group 0) of the first Schedule-Free optimizer state in the checkpoint, else None."""
    if isinstance(st, dict):
        groups = st.get("param_groups")
        if isinstance(groups, list) and groups and isinstance(groups[0], dict) and all(k in groups[0] for k in KEYS):
            return (path or "(the whole file)"), groups[0]
        if depth < 3:
            for key, v in st.items():
                got = find_group(v, f"{path}.{key}" if path else str(key), depth + 1)
                if got is not None:
                    return got
    elif isinstance(st, list) and depth < 3:
        for i, v in enumerate(st[:8]):
            got = find_group(v, f"{path}[{i}]", depth + 1)
            if got is not None:
                return got
    return None


def variant_of(g: dict) -> tuple[str, str]:
    """(shape variant, class family) from the group's keys and its stored scheduled_lr."""
    if "silent_sgd_phase" in g:
        return "radam", "RAdamScheduleFree"
    if "scheduled_lr" not in g:
        return "plain", "a ScheduleFreeWrapper or schedulefree <= 1.2 optimizer"
    k, lr, w, sched = g.get("k"), _num(g.get("lr")), _num(g.get("warmup_steps")) or 0.0, _num(g.get("scheduled_lr"))
    betas = g.get("betas")
    if isinstance(k, int) and k > 0 and lr and sched is not None and isinstance(betas, (list, tuple)) and len(betas) == 2:
        j = k - 1
        plain = lr * ((j + 1) / w if j < w else 1.0)
        if sched != plain and math.isclose(sched, plain * math.sqrt(1 - betas[1] ** (j + 1)), rel_tol=1e-12):
            return "paper", "AdamWScheduleFreePaper"
    family = "SGDScheduleFree" if "momentum" in g else "AdamWScheduleFree"
    return "plain", family + ("Reference" if "decay_at_z" in g else "") + ("" if "train_mode" in g else " (Closure)")


def schedulefree_info(info: Info, where: str, g: dict) -> Info:
    k = count(g.get("k"), "param_groups[0].k", info.path)
    info.position["param_groups[0].k"] = k
    info.next_step = k or 0
    variant, family = variant_of(g)
    lr_max, weight_sum, lr = _num(g.get("lr_max")), _num(g.get("weight_sum")), _num(g.get("lr"))
    info.layout += f" (Schedule-Free: {family})"
    info.state = {"scheduler_class": None, "schedulefree": family, "lr_max": lr_max, "weight_sum": weight_sum,
                  "train_mode": g.get("train_mode"), "base_lr": lr}
    if where != "(the whole file)":
        info.notes.append(f"the Schedule-Free optimizer state is under {where}")
    if g.get("train_mode") is True:
        info.notes.append("warning: saved in train mode: the model weights in this checkpoint are y, not the averaged x"
                          " (call optimizer.eval() before saving)")
    params = {"variant": variant}
    for key, name in (("warmup_steps", "warmup"), ("r", "r"), ("weight_lr_power", "power")):
        if _num(g.get(key)) is not None:
            params[name] = float(g[key])
    betas = g.get("betas")
    if isinstance(betas, (list, tuple)) and len(betas) == 2 and _num(betas[1]):
        params["beta2"] = float(betas[1])
    if isinstance(g.get("silent_sgd_phase"), bool):
        params["silent"] = g["silent_sgd_phase"]
    if lr is None or not lr > 0 or ("r" not in params and "scheduled_lr" not in g):
        info.missing.append("the optimizer's r / weight_lr_power / warmup (not saved by ScheduleFreeWrapper): "
                            "pass --plan SOURCE")
        return info
    seg = Segment("schedulefree", 0.0, None, Level(1.0), params=tuple(params.items()), label="schedulefree")
    schedule = Schedule(Curve((seg,)), peak_lr=lr)
    info.loaded = Loaded(schedule, "schedulefree", f"{info.path} {family}", (f"rebuilt from the {family} state",),
                         None, {"class": family})
    from ..evaluate import lr_at

    nxt = lr_at(schedule, info.next_step)
    last = _num(g.get("scheduled_lr"))
    if last is not None and info.next_step > 0:  # the LR of update k - 1, as the optimizer logged it
        was = lr_at(schedule, info.next_step - 1)
        same = math.isclose(last, was, rel_tol=1e-12, abs_tol=1e-18)
        info.notes.append(f"scheduled_lr {last:g} (update {info.next_step - 1}) "
                          + ("matches the rebuilt LR" if same else f"differs from the rebuilt {was:g}: an LR "
                             "scheduler or a manual change wrote group['lr'] (lint LR043)"))
    if lr_max is not None and weight_sum is not None:
        m = max(nxt, lr_max)
        weight = (info.next_step + 1) ** params.get("r", 0.0) * m ** params.get("power", 2.0)
        total = weight_sum + weight
        c = weight / total if total else 0.0
        info.state["next_c"] = c
        info.notes.append(f"averaging: lr_max {lr_max:g}, weight_sum {weight_sum:.6g}; update {info.next_step} will "
                          f"average with weight c = {c:.6g}")
    return info
