"""OLMo-core's scheduler classes as data: registry name <-> class, and each class's fields in dataclass order.

Read from ``olmo_core/optim/scheduler.py`` (ai2-olmo-core 3.0.0). The field order is the one
``Config.as_config_dict()`` writes (``dataclasses.fields``; ``None`` values left out, then ``_CLASS_`` and
``type``), so a config lrplan writes is field for field what OLMo-core would save in ``config.json``.
"""

from __future__ import annotations

MODULE = "olmo_core.optim.scheduler"
BASE = (("lr_field", "lr"), ("initial_lr_field", "initial_lr"), ("units", "steps"))
WARMUP = (("warmup", None), ("warmup_steps", None), ("warmup_fraction", None))

# registry name -> (class, fields after BASE with their defaults)
CLASSES: dict[str, tuple[str, tuple[tuple[str, object], ...]]] = {
    "constant": ("ConstantScheduler", ()),
    "constant_with_warmup": ("ConstantWithWarmup", WARMUP + (("warmup_min_lr", 0.0),)),
    "wsd": ("WSD", WARMUP + (("decay", None), ("decay_steps", None), ("decay_fraction", 0.1), ("warmup_min_lr", 0.0),
                             ("decay_min_lr", 0.0))),
    "power_lr": ("PowerLR", (("b", -0.51),) + WARMUP + (("warmup_min_lr", 0.0), ("decay", None), ("decay_steps", None),
                                                       ("decay_fraction", 0.1), ("decay_min_lr", 0.0))),
    "linear_with_warmup": ("LinearWithWarmup", (("alpha_f", 0.1), ("t_max", None)) + WARMUP + (("warmup_min_lr", 0.0),)),
    "inv_sqrt_with_warmup": ("InvSqrtWithWarmup", (("alpha_f", 0.1),) + WARMUP + (("warmup_min_lr", 0.0),)),
    "cos_with_warmup": ("CosWithWarmup", WARMUP + (("alpha_f", 0.1), ("t_max", None), ("warmup_min_lr", 0.0))),
    "half_cos_with_warmup": ("HalfCosWithWarmup", WARMUP + (("alpha_f", 0.1), ("t_max", None), ("warmup_min_lr", 0.0))),
    "cos_with_warmup_and_linear_decay": ("CosWithWarmupAndLinearDecay", WARMUP + (
        ("alpha_f", 0.1), ("t_max", None), ("warmup_min_lr", 0.0), ("decay", None), ("decay_steps", None),
        ("decay_fraction", 0.1), ("decay_min_lr", 0.0))),
    "composable": ("ComposableScheduler", (("stages", []), ("override_decay", None))),
    "sequential": ("SequentialScheduler", (("schedulers", None), ("schedulers_max", None),
                                           ("schedulers_max_steps", None), ("override_decay", None))),
    "wsds": ("WSDS", (("period_lengths", []), ("period_lr_multipliers", None)) + (("warmup", None),
                                                                                 ("warmup_fraction", None)) + (
        ("decay", None), ("decay_fraction", None), ("warmup_min_lr", 0.0), ("decay_min_lr", 0.0))),
    "exponential": ("ExponentialScheduler", (("lr_min", 1e-9),)),
}
BY_CLASS = {cls: name for name, (cls, _) in CLASSES.items()}
# Deprecated aliases folded into the new field by each class's __post_init__ (with a DeprecationWarning).
ALIASES = {"warmup_steps": "warmup", "decay_steps": "decay", "schedulers_max_steps": "schedulers_max"}
STAGE_FIELDS = ("duration", "shape", "start_lr", "start_lr_fraction", "end_lr", "end_lr_fraction")
OVERRIDE_FIELDS = ("start", "duration", "shape", "end_lr", "end_lr_fraction")
UNITS = ("steps", "tokens")
