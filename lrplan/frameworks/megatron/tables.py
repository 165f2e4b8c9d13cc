"""Megatron-LM mapping tables: the schedule flags, their argparse dests, types and defaults.

Checked against megatron-core 0.16.1 (``megatron/core/optimizer_param_scheduler.py``,
``megatron/core/num_microbatches_calculator.py``) and Megatron-LM ``megatron/training/arguments.py``
/ ``training.py`` (tags core_v0.15 .. core_v0.17.1 and main as of 2026-08). Defaults are Megatron's own;
a flag the user did not give gets its default and is listed in ``raw["_defaults_applied"]``.
Both the reader (flags -> args dict -> IR) and the writer (IR -> args dict -> argv) use these tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    dest: str  # argparse dest, as stored in a checkpoint's ``args`` Namespace
    kind: str  # float | int | str | choice | store_true | int3 (nargs=3 ints) | ints (nargs='*')
    default: object = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other spellings Megatron accepts


LR_DECAY_STYLES = ("constant", "linear", "cosine", "inverse-square-root", "WSD")
# --lr-wsd-decay-style: minus_sqrt exists from core_v0.13.0.
WSD_DECAY_STYLES = ("exponential", "linear", "cosine", "minus_sqrt")
WD_INCR_STYLES = ("constant", "linear", "cosine")

# flag -> Flag. Only flags that change the LR/WD curve or the sample counting behind it.
FLAGS: dict[str, Flag] = {
    "--lr": Flag("lr", "float"),
    "--min-lr": Flag("min_lr", "float", 0.0),
    "--lr-decay-style": Flag("lr_decay_style", "choice", "linear", LR_DECAY_STYLES),
    "--lr-wsd-decay-style": Flag("lr_wsd_decay_style", "choice", "exponential", WSD_DECAY_STYLES),
    "--lr-decay-iters": Flag("lr_decay_iters", "int"),
    "--lr-decay-samples": Flag("lr_decay_samples", "int"),
    "--lr-wsd-decay-iters": Flag("lr_wsd_decay_iters", "int"),
    "--lr-wsd-decay-samples": Flag("lr_wsd_decay_samples", "int"),
    "--lr-warmup-fraction": Flag("lr_warmup_fraction", "float"),
    "--lr-warmup-iters": Flag("lr_warmup_iters", "int", 0),
    "--lr-warmup-samples": Flag("lr_warmup_samples", "int", 0),
    "--lr-warmup-init": Flag("lr_warmup_init", "float", 0.0),
    "--warmup": Flag("warmup", "int"),  # removed: Megatron asserts it is None
    "--decoupled-lr": Flag("decoupled_lr", "float"),
    "--decoupled-min-lr": Flag("decoupled_min_lr", "float"),
    "--override-opt_param-scheduler": Flag("override_opt_param_scheduler", "store_true", False,
                                           aliases=("--override-opt-param-scheduler",)),
    "--use-checkpoint-opt_param-scheduler": Flag("use_checkpoint_opt_param_scheduler", "store_true", False,
                                                 aliases=("--use-checkpoint-opt-param-scheduler",)),
    "--weight-decay": Flag("weight_decay", "float", 0.01),
    "--start-weight-decay": Flag("start_weight_decay", "float"),
    "--end-weight-decay": Flag("end_weight_decay", "float"),
    "--weight-decay-incr-style": Flag("weight_decay_incr_style", "choice", "constant", WD_INCR_STYLES),
    "--train-iters": Flag("train_iters", "int"),
    "--train-samples": Flag("train_samples", "int"),
    "--micro-batch-size": Flag("micro_batch_size", "int"),
    "--global-batch-size": Flag("global_batch_size", "int"),
    "--rampup-batch-size": Flag("rampup_batch_size", "int3"),
    "--step-batch-size-schedule": Flag("step_batch_size_schedule", "str"),
    "--decrease-batch-size-if-needed": Flag("decrease_batch_size_if_needed", "store_true", False),
    "--seq-length": Flag("seq_length", "int"),
    # the data-parallel size is world size // (TP x PP x CP) (validate_args): with --set world_size=N it is known
    "--tensor-model-parallel-size": Flag("tensor_model_parallel_size", "int", 1),
    "--pipeline-model-parallel-size": Flag("pipeline_model_parallel_size", "int", 1),
    "--context-parallel-size": Flag("context_parallel_size", "int", 1),
    "--iterations-to-skip": Flag("iterations_to_skip", "ints", ()),
    "--skip-train": Flag("skip_train", "store_true", False),
}

# Every spelling -> canonical flag.
SPELLINGS: dict[str, str] = {alias: name for name, f in FLAGS.items() for alias in (name, *f.aliases)}
DESTS: dict[str, Flag] = {f.dest: f for f in FLAGS.values()}
FLAG_OF_DEST: dict[str, str] = {f.dest: name for name, f in FLAGS.items()}

# Real Megatron flags that look like schedule flags but are not (never "did you mean" them).
UNRELATED_LOOKALIKES = frozenset({
    "--eval-iters", "--eval-interval", "--log-interval", "--save-interval", "--exit-interval",
    "--exit-duration-in-mins", "--lr-mult", "--head-lr-mult", "--train-data-path", "--valid-data-path",
    "--test-data-path", "--adam-beta1", "--adam-beta2", "--adam-eps", "--sgd-momentum", "--clip-grad",
    "--weight-decay-cond-type", "--no-weight-decay-cond-type", "--apply-wd-to-qk-layernorm",
    "--decoder-seq-length", "--encoder-seq-length", "--max-position-embeddings", "--finetune",
    "--no-load-optim", "--no-save-optim", "--override-ckpt-iteration", "--train-sync-interval",
    "--log-throughput", "--log-timers-to-tensorboard", "--log-learning-rate-to-tensorboard",
    "--phase-transition-iterations", "--use-mup",
})

# Megatron WSD anneal style <-> IR shape kind (shapes.py). Each pair computes the same coefficient:
# linear 1 - q, cosine 0.5 (cos(pi q) + 1), exponential 2 * 0.5 ** q - 1, minus_sqrt 1 - sqrt(q)
# (optimizer_param_scheduler.py get_lr, megatron-core 0.16.1).
WSD_SHAPE = {"linear": "linear", "cosine": "cosine", "exponential": "exp-anneal", "minus_sqrt": "1-sqrt"}
SHAPE_WSD = {v: k for k, v in WSD_SHAPE.items()}
