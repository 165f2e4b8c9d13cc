"""NeMo mapping tables: the scheduler names of ``model.optim.sched.name``, the arguments each accepts, their
defaults, and NeMo 2.x's ``LRSchedulerModule`` wrappers.

Read from nemo_toolkit 2.7.3 (``nemo/core/optim/lr_scheduler.py``; its formulas are unchanged since
v1.23.0, WarmupHoldAnneal* added in 2.5.0) and ``nemo/lightning/pytorch/optim/lr_scheduler.py`` (NeMo 2.x).
Every NeMo scheduler takes keyword-only arguments; ``prepare_lr_scheduler`` passes every ``sched`` key
except :data:`NOT_ARGUMENTS` to the constructor, so an unknown key is a TypeError there (and an error here).
tests/frameworks/test_nemo.py checks :data:`SCHEDULERS` against the real constructors' signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

# Keys prepare_lr_scheduler removes before calling the constructor (lr_scheduler.py L822-831).
NOT_ARGUMENTS = ("name", "t_max_epochs", "t_accumulate_grad_batches", "t_limit_train_batches", "t_num_workers",
                 "monitor", "reduce_on_plateau")

WARMUP = ("warmup_steps", "warmup_ratio")
HOLD = ("hold_steps", "hold_ratio")
CONSTANT = ("constant_steps", "constant_ratio")


@dataclass(frozen=True)
class Scheduler:
    family: str  # warmup (WarmupPolicy), hold (WarmupHoldPolicy), anneal_hold (WarmupAnnealHoldPolicy), other
    args: tuple[str, ...]  # constructor keywords besides the optimizer
    defaults: tuple[tuple[str, object], ...] = ()  # keyword defaults that differ from None
    required: tuple[str, ...] = ("max_steps",)
    since: str = ""  # first nemo_toolkit release that has it


_BASE = ("max_steps", "min_lr", "last_epoch")
SCHEDULERS: dict[str, Scheduler] = {
    "WarmupPolicy": Scheduler("warmup", WARMUP + _BASE, (("min_lr", 0.0),), required=()),
    "WarmupHoldPolicy": Scheduler("hold", WARMUP + HOLD + _BASE, (("min_lr", 0.0),), required=()),
    "SquareAnnealing": Scheduler("warmup", WARMUP + _BASE, (("min_lr", 1e-5),)),  # the one non-zero default
    "SquareRootAnnealing": Scheduler("warmup", WARMUP + _BASE, (("min_lr", 0.0),)),
    "CosineAnnealing": Scheduler("anneal_hold", WARMUP + CONSTANT + _BASE, (("min_lr", 0.0),)),
    "NoamAnnealing": Scheduler("other", ("d_model",) + WARMUP + _BASE, (("min_lr", 0.0),), required=("d_model",)),
    "NoamHoldAnnealing": Scheduler("hold", WARMUP + HOLD + _BASE + ("decay_rate",),
                                   (("min_lr", 0.0), ("decay_rate", 0.5))),
    "WarmupHoldAnnealOneMinusSquareRoot": Scheduler("hold", WARMUP + HOLD + _BASE, (("min_lr", 0.0),), since="2.5.0"),
    "WarmupHoldAnnealLinear": Scheduler("hold", WARMUP + HOLD + _BASE, (("min_lr", 0.0),), since="2.5.0"),
    "WarmupAnnealing": Scheduler("warmup", WARMUP + _BASE, (("min_lr", 0.0),)),
    "InverseSquareRootAnnealing": Scheduler("warmup", WARMUP + _BASE, (("min_lr", 0.0),)),
    "T5InverseSquareRootAnnealing": Scheduler("other", CONSTANT + _BASE, (("min_lr", 0.0),)),
    "PolynomialDecayAnnealing": Scheduler("warmup", WARMUP + _BASE + ("power", "cycle"),
                                          (("min_lr", 0.0), ("power", 1.0), ("cycle", False))),
    "PolynomialHoldDecayAnnealing": Scheduler("hold", WARMUP + HOLD + _BASE + ("power", "cycle"),
                                              (("min_lr", 0.0), ("power", 1.0), ("cycle", False))),
    # torch's StepLR through NeMo's registry (max_steps is popped: StepLR has no such parameter).
    "StepLR": Scheduler("torch", ("step_size", "gamma", "last_epoch"), (("gamma", 0.1),), required=("step_size",)),
}
# Registered in AVAILABLE_SCHEDULERS but not a function of the step lrplan can compute.
NOT_READ = {
    "ExponentialLR": "NeMo steps ExponentialLR once per epoch (EPOCH_SCHEDULERS: interval 'epoch'), so its LR "
                     "per update depends on the steps per epoch",
    "ReduceLROnPlateau": "ReduceLROnPlateau follows a monitored metric, not the step count",
    "CyclicLR": "lrplan does not read torch's CyclicLR through NeMo (its base_lr overrides model.optim.lr)",
}

# NeMo 2.x: nemo.lightning.pytorch.optim wrappers (LRSchedulerModule). Each maps to a core class above and
# forwards only the arguments listed (the rest take the core class's default, e.g. no warmup at all);
# its own defaults (warmup_steps=750, max_steps=10, ...) apply when a keyword is not given.
# name -> (core class, ((argument, default), ...))
NEMO2_WRAPPERS: dict[str, tuple[str, tuple[tuple[str, object], ...]]] = {
    "WarmupPolicyScheduler": ("WarmupPolicy", (("warmup_steps", 750), ("warmup_ratio", None), ("max_steps", 10),
                                               ("min_lr", 0.0))),
    "WarmupHoldPolicyScheduler": ("WarmupHoldPolicy", (("warmup_steps", 750), ("warmup_ratio", None),
                                                       ("hold_steps", None), ("hold_ratio", None), ("max_steps", 10),
                                                       ("min_lr", 0.0))),
    "SquareAnnealingScheduler": ("SquareAnnealing", (("max_steps", 10), ("min_lr", 1e-5))),
    "SquareRootAnnealingScheduler": ("SquareRootAnnealing", (("max_steps", 10), ("min_lr", 0.0))),
    "NoamAnnealingScheduler": ("NoamAnnealing", (("d_model", None), ("warmup_steps", 750), ("warmup_ratio", None),
                                                 ("max_steps", 10), ("min_lr", 0.0))),
    "NoamHoldAnnealingScheduler": ("NoamHoldAnnealing", (("max_steps", 10), ("decay_rate", 0.5), ("min_lr", 0.0))),
    "WarmupAnnealingScheduler": ("WarmupAnnealing", (("warmup_steps", 750), ("warmup_ratio", None),
                                                     ("max_steps", 10), ("min_lr", 0.0))),
    "InverseSquareRootAnnealingScheduler": ("InverseSquareRootAnnealing", (("max_steps", 10), ("min_lr", 0.0))),
    "T5InverseSquareRootAnnealingScheduler": ("T5InverseSquareRootAnnealing", (("max_steps", 10), ("min_lr", 0.0))),
    "PolynomialDecayAnnealingScheduler": ("PolynomialDecayAnnealing", (("max_steps", 10), ("min_lr", 0.0),
                                                                       ("power", 1.0), ("cycle", False))),
    "PolynomialHoldDecayAnnealingScheduler": ("PolynomialHoldDecayAnnealing", (("max_steps", 10), ("min_lr", 0.0),
                                                                               ("power", 1.0), ("cycle", False))),
    "CosineAnnealingScheduler": ("CosineAnnealing", (("max_steps", 10), ("warmup_steps", 750),
                                                     ("constant_steps", 80000), ("min_lr", 6e-5))),
}
# WarmupHoldAnnealScheduler (2.5+) picks its core class by decay_schedule.
WSD_WRAPPER = "WarmupHoldAnnealScheduler"
WSD_DECAY = {"linear": "WarmupHoldAnnealLinear", "one_minus_square_root": "WarmupHoldAnnealOneMinusSquareRoot"}
WSD_WRAPPER_DEFAULTS = (("warmup_ratio", None), ("hold_ratio", None), ("max_steps", 10),
                        ("decay_schedule", "linear"), ("min_lr", 0.0))

# NeMo 2.x recipe factories (nemo/collections/llm/recipes/optim/adam.py, nemo_toolkit 2.7.3 = NVIDIA/NeMo
# 8cfedd72): name -> (its parameters and defaults in signature order, how min_lr falls back, the optimizer
# module it returns). min_lr: "none" is ``min_lr if min_lr is not None else 0.1 * max_lr`` (the Megatron
# helper: min_lr=0 stays 0), "falsy" is ``min_lr or (0.1 * max_lr)`` (the torch/TE helpers: min_lr=0 becomes
# 0.1 * max_lr); None: no scheduler (``*_flat_lr``). tests/frameworks/test_nemo_recipes.py runs the real file.
RECIPES: dict[str, tuple[tuple[tuple[str, object], ...], str | None, str]] = {
    "distributed_fused_adam_with_cosine_annealing": (
        (("precision", "bf16-mixed"), ("warmup_steps", 2000), ("constant_steps", 0), ("adam_beta1", 0.9),
         ("adam_beta2", 0.95), ("max_lr", 1e-4), ("min_lr", None), ("clip_grad", 1.0)), "none",
        "MegatronOptimizerModule"),
    "pytorch_adam_with_cosine_annealing": (
        (("warmup_steps", 2000), ("constant_steps", 0), ("max_lr", 1e-5), ("min_lr", None), ("weight_decay", 0.01),
         ("foreach", False)), "falsy", "PytorchOptimizerModule"),
    "te_adam_with_cosine_annealing": (
        (("warmup_steps", 2000), ("constant_steps", 0), ("max_lr", 1e-5), ("min_lr", None), ("weight_decay", 0.01)),
        "falsy", "PytorchOptimizerModule"),
    "pytorch_adam_with_flat_lr": ((("lr", 1e-5), ("weight_decay", 0.01), ("foreach", True)), None,
                                  "PytorchOptimizerModule"),
    "te_adam_with_flat_lr": ((("lr", 1e-5), ("weight_decay", 0.01)), None, "PytorchOptimizerModule"),
}
# Positional parameters of the NeMo 2 classes a recipe may call without keywords (nemo/lightning/pytorch/optim/
# megatron.py, pytorch.py, lr_scheduler.py 2.7.3; tests check the wrappers' against inspect.signature).
POSITIONAL: dict[str, tuple[str, ...]] = {
    "MegatronOptimizerModule": ("config", "lr_scheduler"),
    "PytorchOptimizerModule": ("optimizer_fn", "lr_scheduler"),
    **{name: tuple(a for a, _ in args) for name, (_, args) in NEMO2_WRAPPERS.items()},
    WSD_WRAPPER: tuple(a for a, _ in WSD_WRAPPER_DEFAULTS),
}
# Wrapper keywords that are not scheduler arguments (LRSchedulerModule: how Lightning steps it).
NEMO2_STEPPING = (("interval", "step"), ("frequency", 1), ("monitor", "val_loss"))

# Lightning Trainer defaults the schedule length depends on (lightning 2.6: max_steps -1; max_epochs None
# becomes 1000 when max_steps is -1 and max_time is unset; accumulate_grad_batches 1; limit_train_batches 1.0).
TRAINER_DEFAULTS = {"max_steps": -1, "max_epochs": None, "accumulate_grad_batches": 1, "limit_train_batches": 1.0,
                    "devices": 1, "num_nodes": 1}
