"""HF transformers' lint facts: pitfalls of TrainingArguments and its DeepSpeed section (docs/lint.md)."""

from __future__ import annotations

from ..base import LintRule
from ..deepspeed.lint import scheduler_section

FIRST_STEP_FIX = "HF's warmup is k/W, so step 0 is wasted; use a schedule whose warmup starts above 0"


# ---- LR009 warmup_steps and warmup_ratio both set ------------------------------------------------


def warmup_steps_and_ratio(f):
    steps, ratio = f.number("warmup_steps"), f.number("warmup_ratio")
    if not steps or not ratio or "warmup_steps" in f.defaults or "warmup_ratio" in f.defaults:
        return []
    return [(f"warmup_steps ({steps:g}) and warmup_ratio ({ratio:g}) are both set: transformers 4.x uses"
             " warmup_steps and silently ignores warmup_ratio; 5.15+ rejects warmup_ratio",
             "keep one: warmup_steps (a float < 1 is a ratio in transformers 5)", "warmup_ratio", None)]


# ---- LR013 an HF config whose DeepSpeed scheduler overrides its own ------------------------------

HF_MATCHES_DS = {"linear": "WarmupDecayLR", "constant_with_warmup": "WarmupLR", "cosine": "WarmupCosineLR"}


def hf_ds_scheduler(f):
    if f.format != "hf":
        return []
    kind, params, prefix, cfg = scheduler_section(f)
    if cfg is None or kind is None:
        return []
    hf_type = str(f.get("lr_scheduler_type") or "linear")
    if HF_MATCHES_DS.get(hf_type) == kind:
        return []  # the same family; LR002/LR003 cover what still differs
    ignored = [k for k in ("lr_scheduler_kwargs",) if f.get(k)]
    what = f"lr_scheduler_type={hf_type!r}" + (f" (and {', '.join(ignored)})" if ignored else "")
    return [(f"the DeepSpeed config defines scheduler {kind}, which replaces {what}: HF does not create its"
             " own scheduler", "remove the scheduler section from the DeepSpeed JSON, or make it match with"
             " \"auto\" values", f"{prefix}scheduler", None)]


RULES = (
    LintRule("LR009", "warmup-steps-and-ratio", "warning", "warmup_steps and warmup_ratio both set",
             warmup_steps_and_ratio),
    LintRule("LR013", "hf-deepspeed-scheduler", "error", "an HF config whose DeepSpeed scheduler overrides its own",
             hf_ds_scheduler),
)
