"""``LRGuard``: a Lightning ``Callback`` that checks the LR of every optimizer update against a plan.

Lightning 2.6 calls ``on_before_optimizer_step(trainer, pl_module, optimizer)`` inside the optimizer
step, before ``optimizer.step()``; ``trainer.global_step`` is the updates done so far = lrplan's step
``k`` of this update (with ``accumulate_grad_batches=N`` it is called once per N batches). The guard
raises :class:`~lrplan.integrations.guard.LRDivergence` at the first update whose LR is not
``plan.lr(k)``; ``mode="warn"`` warns once instead. Wire the scheduler with ``"interval": "step"``.

Importing this module imports lightning (``import lrplan`` does not).
"""

from __future__ import annotations

from lightning.pytorch.callbacks import Callback

from .guard import GuardCallback, LRDivergence

__all__ = ["LRDivergence", "LRGuard"]


class LRGuard(GuardCallback, Callback):
    """``LRGuard(plan, mode="error")``: fail (or warn) at the first update whose LR leaves the plan."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.guard.check(trainer.global_step, optimizer.param_groups[0], trainer.accumulate_grad_batches)
