"""Which update's LR each framework logs under which step number: the step rules, with their sources.

lrplan's convention: update ``k`` is 0-based, lr(k) is the LR it uses. Each rule says ``k = logged step +
offset``. Checked in the frameworks' code (versions named) and on CPU runs (tests/logs/):

* HF Trainer, transformers >= 4.51: ``optimizer.step()``, then ``learning_rate = self._get_learning_rate()``,
  then ``lr_scheduler.step()``, then ``global_step += 1`` and the log at that global_step g (trainer.py 5.24.0
  l. 1943-1966; PR #36973 "Log the correct learning rate", 2025-03). So g shows update g-1: **k = g - 1**.
* HF Trainer, transformers <= 4.50: the LR is read in ``_maybe_log_save_evaluate`` after the scheduler step
  (trainer.py 4.50.3 l. 3083): g shows the *next* update's LR: **k = g** (the last entry, g = T, is the
  never-used lr(T)).
* HF Trainer with DeepSpeed's own scheduler, any version: the engine steps its scheduler inside the
  optimizer step, before HF reads the LR (accelerate 1.15.0 utils/deepspeed.py l. 264-281): **k = g**
  (tests/checkpoints/test_hf_deepspeed.py, real runs).
* Lightning ``LearningRateMonitor(logging_interval="step")``: ``on_train_batch_start`` logs
  ``param_groups[i]["lr"]`` at ``_batches_that_stepped`` = updates done before this batch (lightning 2.6
  pytorch/callbacks/lr_monitor.py l. 173-183, loops/training_epoch_loop.py l. 413-415): **k = step**.
* Megatron-LM ``training_log``: the line "iteration N" is printed after update N (1-based) and after the
  scheduler step, so its LR is the one iteration N+1 uses (training.py core_v0.19.0 l. 2528, 3911, 3982):
  **k = N**. Its TensorBoard/W&B ``learning-rate`` uses the same N.
* DeepSpeed engine ``step=S, skipped=K, lr=[...]``: printed after the scheduler step of update S-1 with
  S = global_steps + 1, and once as ``step=0`` at initialisation (runtime/engine.py 0.19.8 l. 3545-3558,
  684): **k = S**.
* Anything else (a hand-written loop logging ``scheduler.get_last_lr()``): **k = step**, the usual
  ``writer.add_scalar("lr", lr, step)`` with step = updates done; ``--set step_offset=N`` overrides it.
"""

from __future__ import annotations

from .series import LogOptions

HF_NEW = ("k = global_step - 1: transformers >= 4.51 reads the LR after optimizer.step() and before "
          "lr_scheduler.step() (trainer.py 5.24.0 l. 1943-1966)")
HF_OLD = ("k = global_step: transformers <= 4.50 reads the LR after lr_scheduler.step(), so global_step g "
          "shows the next update's LR (trainer.py 4.50.3 l. 3083)")
HF_DEEPSPEED = ("k = global_step: with DeepSpeed the engine steps the scheduler inside the optimizer step, "
                "before HF reads the LR (accelerate 1.15 utils/deepspeed.py l. 264-281)")
LIGHTNING = ("k = step: LearningRateMonitor logs at the start of each batch, at _batches_that_stepped = "
             "updates done before it (lightning 2.6 callbacks/lr_monitor.py l. 173-183)")
MEGATRON = ("k = iteration: the line for iteration N is printed after the scheduler step, so its LR is the "
            "one iteration N+1 (0-based update N) uses (Megatron-LM training.py core_v0.19.0 l. 3911-3985)")
DEEPSPEED = ("k = step: the engine prints step=global_steps+1 after the scheduler step, and step=0 at "
             "initialisation (deepspeed runtime/engine.py 0.19.8 l. 684, 3545-3558)")
GENERIC = ("k = step: the step the LR was logged under is taken as the update that uses it "
           "(--set step_offset=N if the log counts otherwise)")


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    out = []
    for part in str(text).split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out) or None


def hf(version: str | None, deepspeed: bool, opts: LogOptions) -> tuple[int, str, list[str]]:
    """(offset, rule, notes) for an HF Trainer log. ``--set transformers_version=`` wins over what the log
    says; without either the rule of transformers >= 4.51 is used, with a note."""
    given = opts.get("transformers_version")
    notes: list[str] = []
    if deepspeed:
        return 0, HF_DEEPSPEED, notes
    v = version_tuple(given or version)
    if v is None:
        notes.append("the log does not say which transformers wrote it: read as >= 4.51 (global_step g shows "
                     "update g-1); for an older run pass --set transformers_version=4.50")
        return -1, HF_NEW, notes
    if v >= (4, 51):
        return -1, HF_NEW + f" [transformers {given or version}]", notes
    return 0, HF_OLD + f" [transformers {given or version}]", notes
