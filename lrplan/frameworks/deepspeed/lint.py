"""DeepSpeed's lint facts: the pitfalls of its scheduler section (also inside an HF recipe's ``deepspeed``).

Rules receive lrplan.lint's ``Facts`` (the schedule, the config's own fields, the defaults the reader
filled); docs/lint.md cites where each pitfall is documented.
"""

from __future__ import annotations

from ..base import LintRule

FIRST_STEP_FIX = "set scheduler.params.warmup_min_lr (or warmup_min_ratio) above 0"


# ---- LR002 DeepSpeed's default log warmup ------------------------------------------------------

DS_WARMUP_TYPES = ("WarmupLR", "WarmupDecayLR", "WarmupCosineLR")


def scheduler_section(f):
    cfg, prefix = f.ds_config()
    if not cfg or not isinstance(cfg.get("scheduler"), dict):
        return None, {}, prefix, cfg
    sch = cfg["scheduler"]
    params = sch.get("params") if isinstance(sch.get("params"), dict) else {}
    return sch.get("type"), params, prefix, cfg


def ds_log_warmup(f):
    kind, params, prefix, _ = scheduler_section(f)
    if kind not in DS_WARMUP_TYPES or "warmup_type" in params:
        return []
    return [(f"{kind} warms up along a log curve by default (warmup_type \"log\"): the LR jumps to"
             " ~half the peak within a few steps, and the first two updates use the start value",
             "set \"warmup_type\": \"linear\" in scheduler.params if you meant a linear warmup",
             f"{prefix}scheduler.params.warmup_type", None)]


# ---- LR003 DeepSpeed's default warmup_max_lr 0.001 ---------------------------------------------


def ds_default_max_lr(f):
    kind, params, prefix, cfg = scheduler_section(f)
    if kind not in ("WarmupLR", "WarmupDecayLR"):
        return []
    opt = cfg.get("optimizer") if isinstance(cfg.get("optimizer"), dict) else {}
    opt_lr = (opt.get("params") or {}).get("lr") if isinstance(opt.get("params"), dict) else None
    where = f"{prefix}scheduler.params.warmup_max_lr"
    if "warmup_max_lr" not in params:
        if kind == "WarmupLR":
            return []  # DeepSpeed >= 0.17.2 uses the optimizer's lr; LR003w below covers older ones
        said = f"optimizer.params.lr ({opt_lr})" if opt_lr is not None else "the optimizer's lr"
        return [(f"WarmupDecayLR's warmup_max_lr defaults to 0.001 and ignores {said}",
                 "set scheduler.params.warmup_max_lr to your peak LR (or \"auto\" under HF)", where, None)]
    given = params["warmup_max_lr"]
    if isinstance(given, (int, float)) and isinstance(opt_lr, (int, float)) and given != opt_lr:
        return [(f"{kind} overrides optimizer.params.lr ({opt_lr:g}) with warmup_max_lr ({given:g}): the"
                 " optimizer's lr is never used", "make the two equal, or remove one", where, None)]
    return []


RULES = (
    LintRule("LR002", "deepspeed-log-warmup", "warning", "DeepSpeed warms up along a log curve by default",
             ds_log_warmup),
    LintRule("LR003", "deepspeed-warmup-max-lr", "error", "DeepSpeed's warmup_max_lr ignores the optimizer LR",
             ds_default_max_lr),
)
