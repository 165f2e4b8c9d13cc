"""SWALR states in torch and Lightning checkpoints (torch 2.13.0, Lightning 2.6.6).

``SWALR.state_dict()`` is its ``__dict__`` minus the optimizer and ``anneal_func``
(``torch/optim/swa_utils.py:571-581``): ``_anneal_strategy``, ``anneal_epochs``, ``_step_count``,
``last_epoch``, ``base_lrs``, ``_last_lr``. It keeps neither ``swa_lr`` (SWALR writes it into the
optimizer's param groups, ``group["swa_lr"]``, so it is read from the optimizer state next to it) nor
the LR it took over. Its position is ``_step_count - 1`` (the steps since it was built; ``last_epoch`` is
not, because Lightning builds it with ``last_epoch=max_epochs`` for "cos",
``callbacks/stochastic_weight_avg.py:203-212``). While it is still annealing (``0 <= n < anneal_epochs``)
the LR it took over is recovered from the stored LR, ``L = (lr - a_n swa_lr) / (1 - a_n)``; once it is done
the LR is ``swa_lr`` for good and ``L`` is gone. Lightning keeps the callback's own state under
``callbacks["StochasticWeightAveraging"]`` (``n_averaged``, ``latest_update_epoch``, ``scheduler_state``)
and, after the swap, ``lr_schedulers[0]`` is the SWALR state (the user scheduler's state is gone).
"""

from __future__ import annotations

import math

from ..frameworks.base import Loaded
from ..ir import Curve, Level, Schedule, Segment
from .info import Info, count

CALLBACK_KEY = "StochasticWeightAveraging"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def find_swa_lr(root, depth: int = 0) -> tuple[str, float] | None:
    """(where, swa_lr) of the first optimizer param group holding ``swa_lr``, searched a few levels down."""
    if isinstance(root, list):
        for i, v in enumerate(root[:8]):
            got = find_swa_lr(v, depth + 1) if depth < 4 else None
            if got is not None:
                return f"[{i}]{got[0]}", got[1]
        return None
    if not isinstance(root, dict):
        return None
    groups = root.get("param_groups")
    if isinstance(groups, list) and groups and isinstance(groups[0], dict) and _number(groups[0].get("swa_lr")):
        return ".param_groups[0].swa_lr", float(groups[0]["swa_lr"])
    if depth >= 4:
        return None
    for key, v in root.items():
        if isinstance(v, (dict, list)):
            got = find_swa_lr(v, depth + 1)
            if got is not None:
                return f".{key}{got[0]}", got[1]
    return None


def _alpha(strategy: str, n: int, anneal: int) -> float:
    t = max(0.0, min(1.0, (max(1, n) if anneal == 0 else n) / max(1, anneal)))
    return (1 - math.cos(math.pi * t)) / 2 if strategy == "cos" else t


def swalr_info(info: Info, st: dict, root, what: str) -> Info:
    """Fill ``info`` from an SWALR state ``st`` (``root``: the whole checkpoint, for swa_lr)."""
    steps = count(st.get("_step_count"), f"{what} _step_count", info.path)
    anneal = count(st.get("anneal_epochs"), f"{what} anneal_epochs", info.path)
    strategy = st.get("_anneal_strategy")
    n = max((steps or 1) - 1, 0)
    info.position["SWALR steps (_step_count - 1)"] = n
    info.next_step = n
    last = st.get("_last_lr")
    lr = _number(last[0]) if isinstance(last, list) and last else None
    if lr is not None:
        info.stored_lr, info.stored_from = lr, "_last_lr"
    found = find_swa_lr(root)
    swa_lr = found[1] if found else None
    info.state = {"scheduler_class": "SWALR", "swa_lr": swa_lr, "anneal_epochs": anneal, "anneal_strategy": strategy,
                  "swalr_steps": n, "base_lr": None}
    info.layout += " (SWALR)"
    info.notes.append(f"SWA phase: SWALR has stepped {n} time(s) since it was built (anneal_epochs={anneal}, "
                      f"{strategy}); positions here are SWALR steps (per epoch or per update, as the run steps it)")
    if swa_lr is None:
        info.missing.append("swa_lr: SWALR keeps it in the optimizer's param groups, which this file lacks; "
                            "pass --plan SOURCE")
        return info
    info.notes.append(f"swa_lr {swa_lr:g} (from {found[0].lstrip('.')})")
    if strategy not in ("cos", "linear") or anneal is None or lr is None:
        info.missing.append("the SWALR state is incomplete (anneal_strategy/anneal_epochs/_last_lr)")
        return info
    if anneal == 0 or n >= anneal:
        info.notes.append(f"annealing is done: every later update uses swa_lr {swa_lr:g}; the LR SWALR took over "
                          "is no longer recoverable from the checkpoint")
        info.missing.append("the LR before SWA: pass --plan SOURCE for the whole schedule")
        return info
    a = _alpha(strategy, n, anneal)
    start = (lr - a * swa_lr) / (1 - a)
    info.state["start_lr"] = start
    info.notes.append(f"annealing: step {n} of {anneal}; SWALR took over at LR {start:.6g} (recovered from _last_lr)")
    seg = Segment("swa", 0.0, None, Level(start, True), Level(swa_lr, True),
                  (("anneal", float(anneal)), ("strategy", strategy)), label="swa")
    schedule = Schedule(Curve((seg,)), peak_lr=max(start, swa_lr) if max(start, swa_lr) > 0 else None)
    info.loaded = Loaded(schedule, "torch", f"{info.path} {what}", ("rebuilt from the SWALR state (per SWALR step)",),
                         None, {"class": "SWALR"})
    return info


def lightning_callback(info: Info, root: dict) -> None:
    """Notes from Lightning's StochasticWeightAveraging callback state, if the checkpoint has one."""
    cbs = root.get("callbacks") if isinstance(root, dict) else None
    cb = cbs.get(CALLBACK_KEY) if isinstance(cbs, dict) else None
    if not isinstance(cb, dict):
        return
    n_avg = count(cb.get("n_averaged"), "StochasticWeightAveraging n_averaged", info.path)
    latest = cb.get("latest_update_epoch")
    info.position["StochasticWeightAveraging.n_averaged"] = n_avg
    info.state["n_averaged"] = n_avg
    if cb.get("scheduler_state") is None:
        info.notes.append("StochasticWeightAveraging callback: SWA has not started yet (no SWALR state); "
                          f"{n_avg or 0} model(s) averaged")
    else:
        info.notes.append(f"StochasticWeightAveraging callback: {n_avg} model(s) averaged, the latest at the start "
                          f"of epoch {latest}")
