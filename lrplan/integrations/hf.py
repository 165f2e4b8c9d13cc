"""``LRGuard``: an HF ``TrainerCallback`` that checks the LR of every optimizer update against a plan.

transformers 5.24 ``trainer.py`` calls ``on_pre_optimizer_step`` right before ``optimizer.step()``, once
per update (on the micro-batch that ends a gradient-accumulation window), with ``state.global_step`` =
the updates done so far = lrplan's step ``k`` of this update. The guard reads the first param group's
``lr`` there, the LR this update uses, and raises :class:`~lrplan.integrations.guard.LRDivergence` at the
first update whose LR is not ``plan.lr(k)`` (``mode="warn"``: warns once and lets the run go on).

    trainer = Trainer(..., optimizers=(opt, sched), callbacks=[LRGuard(plan)])

Importing this module imports transformers (``import lrplan`` does not).
"""

from __future__ import annotations

from transformers import TrainerCallback

from .guard import GuardCallback, LRDivergence

__all__ = ["LRDivergence", "LRGuard"]


class LRGuard(GuardCallback, TrainerCallback):
    """``LRGuard(plan, mode="error")``: fail (or warn) at the first update whose LR leaves the plan."""

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        opt = kwargs.get("optimizer")
        if opt is not None:
            self.guard.check(state.global_step, opt.param_groups[0], args.gradient_accumulation_steps)
