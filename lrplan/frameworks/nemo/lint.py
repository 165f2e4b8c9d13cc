"""NeMo's lint facts: pitfalls of ``model.optim.sched`` (docs/lint.md cites each).

The reader leaves, besides the config itself, ``raw["_sched"]`` (the sched mapping, interpolations resolved),
``raw["_effective"]`` (the numbers NeMo computes: warmup_steps, hold_steps as the absolute end of the
hold, constant_steps, max_steps ...) and ``raw["_max_steps_source"]``.
"""

from __future__ import annotations

from ..base import LintRule

FIRST_STEP_FIX = ("with constant_steps > 0 CosineAnnealing warms up with k/W from 0; NeMo's other warmups use "
                  "(k+1)/(W+1), which starts above 0 (constant_steps: 0)")
WHERE = "model.optim.sched"


def _nemo(f) -> bool:
    return f.format == "nemo"


def _sched(f) -> dict:
    s = f.raw.get("_sched")
    return s if isinstance(s, dict) else {}


def _eff(f) -> dict:
    e = f.raw.get("_effective")
    return e if isinstance(e, dict) else {}


# ---- LR020 NeMo creates no scheduler ------------------------------------------------------------------


def no_scheduler(f):
    if not _nemo(f):
        return []
    s = _sched(f)
    if f.raw.get("_max_steps_source") == "no-scheduler":
        return [("sched.max_steps is -1: NeMo's prepare_lr_scheduler warns and returns no scheduler, so the LR "
                 "stays at model.optim.lr for the whole run", "remove sched.max_steps (trainer.max_steps fills it) or "
                 "give the number of optimizer steps", f"{WHERE}.max_steps", None)]
    if "_sched" in f.raw and s.get("name") is None:
        return [("sched has no name: NeMo cannot resolve a scheduler and creates none (constant LR)",
                 "set model.optim.sched.name (e.g. CosineAnnealing)", f"{WHERE}.name", None)]
    return []


# ---- LR021 CosineAnnealing with constant_steps > 0 is the Megatron cosine -------------------------------


def megatron_cosine(f):
    e = _eff(f)
    if not _nemo(f) or e.get("name") != "CosineAnnealing" or not e.get("constant_steps"):
        return []
    C, W, M = e["constant_steps"], e["warmup_steps"], e["max_steps"]
    D = M - C - W
    msg = (f"constant_steps {C} > 0 switches CosineAnnealing to another curve (the Megatron cosine): the warmup "
           f"starts at LR 0 (k/{W} instead of (k+1)/({W}+1)), the cosine lasts max_steps - warmup_steps - "
           f"constant_steps = {D} steps and the last {C} steps run at min_lr")
    if D <= 0:
        msg += "; here there is no cosine at all: the LR drops to min_lr right after the warmup"
    return [(msg, "set constant_steps: 0 for a cosine to max_steps, or check that the min_lr tail is intended",
             f"{WHERE}.constant_steps", W)]


# ---- LR022 a sched.max_steps that trainer.max_steps overrides ---------------------------------------------


def overridden_max_steps(f):
    s = _sched(f)
    trainer = f.raw.get("trainer") if isinstance(f.raw.get("trainer"), dict) else {}
    tmax, smax = trainer.get("max_steps"), s.get("max_steps")
    if not _nemo(f) or smax is None or not isinstance(tmax, int) or tmax < 0 or smax == tmax:
        return []
    return [(f"sched.max_steps {smax} is replaced by trainer.max_steps {tmax} (ModelPT.setup_optimization copies "
             "the trainer's value into the scheduler)", "remove sched.max_steps, or set trainer.max_steps to the "
             "schedule length you want", f"{WHERE}.max_steps", None)]


# ---- LR023 a decay counted from step 0 (PolynomialHoldDecayAnnealing without hold, SquareRootAnnealing) --


def decay_from_zero(f):
    e = _eff(f)
    if not _nemo(f) or not e.get("warmup_steps"):
        return []
    W, M = e["warmup_steps"], e["max_steps"]
    if e.get("name") == "PolynomialHoldDecayAnnealing" and not e.get("hold_steps"):
        return [(f"PolynomialHoldDecayAnnealing without hold_steps/hold_ratio counts its decay from step 0 over "
                 f"max_steps - warmup_steps: the LR drops right after the warmup (step {W + 1}) and reaches min_lr "
                 f"at step {M - W}, {W} steps early", "give hold_steps: 0 (the decay then starts after the warmup) "
                 "or use PolynomialDecayAnnealing", f"{WHERE}.hold_steps", W + 1)]
    if e.get("name") == "SquareRootAnnealing":
        return [(f"SquareRootAnnealing decays ((max_steps - k) / max_steps) ** 0.5 from step 0: the warmup is laid "
                 f"over the decay, so the LR after the warmup (step {W + 1}) is already below model.optim.lr",
                 "accept it, or use PolynomialDecayAnnealing with power 0.5 (decay counted after the warmup)",
                 f"{WHERE}.name", W + 1)]
    return []


HOOKS: dict = {}

RULES = (
    LintRule("LR020", "nemo-no-scheduler", "error", "NeMo creates no scheduler (sched.max_steps -1, no name)",
             no_scheduler),
    LintRule("LR021", "nemo-megatron-cosine", "warning",
             "CosineAnnealing with constant_steps > 0 is the Megatron cosine (warmup from 0, min_lr tail)",
             megatron_cosine),
    LintRule("LR022", "nemo-overridden-max-steps", "warning", "sched.max_steps replaced by trainer.max_steps",
             overridden_max_steps),
    LintRule("LR023", "nemo-decay-from-step-0", "warning", "a NeMo decay counted from step 0, not after the warmup",
             decay_from_zero),
)
