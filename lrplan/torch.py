"""``lrplan.torch.LRScheduler(optimizer, plan)``: see :mod:`lrplan.integrations.torch` (imports torch)."""

from .integrations.torch import PLAN_KEY, LRScheduler

__all__ = ["PLAN_KEY", "LRScheduler"]
