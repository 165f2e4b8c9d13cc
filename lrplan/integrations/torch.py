"""``lrplan.torch.LRScheduler``: a real torch LR scheduler that follows a plan and survives checkpoints.

Step convention (design.md; torch 2.13 ``torch/optim/lr_scheduler.py``): building the scheduler runs
its first ``step()`` (``_initial_step``), so ``last_epoch`` is 0 and the param groups hold the values
of update 0; call ``scheduler.step()`` after each ``optimizer.step()``, and update ``k`` runs with
``last_epoch == k``, i.e. with ``plan.lr(k)``. Every value is the plan's closed form at ``k``, never a
product of factors, so nothing drifts over millions of steps or across a resume. The values are
evaluated BLOCK updates at a time by the vectorised path (``plan.lr(np.arange(k, k + BLOCK))``, the
numbers ``lrplan table`` prints), so a step costs what a ``LambdaLR`` step costs.

* A plan with a peak LR sets every param group's ``lr`` to ``plan.lr(k)`` (a group whose ``name`` is
  one of the plan's LR groups, e.g. ``group.embed=...`` in a spec, follows that curve). A plan without a
  peak is a multiplier, as a ``LambdaLR``: each group's LR is its ``initial_lr`` times ``plan.lr(k)``.
* A weight-decay curve sets ``weight_decay`` of every group whose initial weight decay is not 0 (the
  no-decay groups stay at 0); a momentum curve sets ``betas[0]`` (Adam-like) or ``momentum`` (SGD).
* ``state_dict()`` holds plain values only (it loads with ``torch.load(weights_only=True)``): torch's
  own fields plus the plan's IR JSON under ``lrplan_plan``, so ``lrplan at-step``/``inspect``/``resume``
  read the schedule back from any checkpoint that saved it (plain torch, HF Trainer's
  ``scheduler.pt``, Lightning's ``lr_schedulers``, a DeepSpeed client scheduler in the engine state).
* ``load_state_dict`` refuses a state whose plan differs from this scheduler's (the error says what the
  LR of the resume step would become), unless the scheduler was built with ``on_plan_change="switch"``
  (continue on the new plan) or ``"keep"`` (continue on the saved one). It then sets the param groups
  to the resume step's values, so the first update after a resume uses the plan, whichever was loaded
  first (HF, Lightning and DeepSpeed load the optimizer before the scheduler).

Wiring: plain torch, HF ``Trainer(optimizers=(opt, sched))`` and DeepSpeed
``initialize(lr_scheduler=sched)`` step it once per optimizer update (HF only on the micro-batch that
ends a gradient-accumulation window); Lightning needs ``{"scheduler": sched, "interval": "step"}``
(its default, ``"epoch"``, steps it once per epoch).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler

from ..api import Plan, load
from ..batch import position
from ..checkpoints.torch import PLAN_KEY
from ..errors import LrplanError
from ..evaluate import curve_value
from ..ops import math_ops
from ..version import __version__

__all__ = ["PLAN_KEY", "LRScheduler"]

ON_PLAN_CHANGE = ("error", "switch", "keep")
# Updates evaluated at once by the vectorised path (the one `lrplan table` and plan.lr(array) use): a step
# then costs a list lookup, so the scheduler's overhead is LambdaLR's (benchmarks/bench_api.py).
BLOCK = 4096
# Fields that are not torch's own state: rebuilt from the plan and the optimizer, never saved as objects.
_OWN = ("optimizer", "plan", "on_plan_change", "_schedule", "_curves", "_companions", "_initial_wd", "_values")


class LRScheduler(_TorchLRScheduler):
    """``LRScheduler(optimizer, plan)``: update ``k`` runs at ``plan.lr(k)`` (see the module docstring).

    ``plan`` is a :class:`lrplan.Plan` or any SOURCE ``lrplan.load`` takes (then ``steps``/``lr``/facts
    go to ``load``). ``on_plan_change`` says what ``load_state_dict`` does with a state saved under a
    different plan: ``"error"`` (default), ``"switch"`` to this plan, or ``"keep"`` the saved one.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, plan, last_epoch: int = -1, *,
                 on_plan_change: str = "error", **load_args: Any) -> None:
        if on_plan_change not in ON_PLAN_CHANGE:
            raise LrplanError(f"on_plan_change must be one of {', '.join(ON_PLAN_CHANGE)}, got {on_plan_change!r}")
        self.plan: Plan = load(plan, **load_args) if not isinstance(plan, Plan) else plan
        self.on_plan_change = on_plan_change
        self._bind(optimizer)
        super().__init__(optimizer, last_epoch)

    def _bind(self, optimizer) -> None:
        """Which curve each param group follows, and which groups take the weight-decay curve."""
        s = self._schedule = self.plan.schedule
        named = dict(s.groups)
        self._curves = [named.get(g.get("name")) for g in optimizer.param_groups]
        self._companions = (s.weight_decay, s.momentum)
        self._values = _Block(self.plan)
        self._initial_wd = [g.setdefault("initial_weight_decay", g.get("weight_decay", 0.0))
                            for g in optimizer.param_groups]

    # ---- the values -------------------------------------------------------------------------------

    def lr_at(self, k: int) -> list[float]:
        """The LR of each param group for update ``k``."""
        s = self._schedule
        main = self._values.at(k)[0]
        out = []
        for base, curve in zip(self.base_lrs, self._curves):
            if curve is not None:
                out.append(curve_value(curve, 1.0, position(s.axis, float(k), math_ops)))
            elif s.peak_lr is None:
                out.append(float(base) * main)
            else:
                out.append(main)
        return out

    def get_lr(self) -> list[float]:
        return self.lr_at(self.last_epoch)

    def _get_closed_form_lr(self) -> list[float]:
        return self.lr_at(self.last_epoch)

    def step(self, epoch: int | None = None) -> None:
        super().step(epoch)
        self._apply_companions(self.last_epoch)

    def _apply_companions(self, k: int) -> None:
        if self._companions == (None, None):
            return
        _, wd, mom = self._values.at(k)
        for g, wd0 in zip(self.optimizer.param_groups, self._initial_wd):
            if wd is not None and wd0:
                g["weight_decay"] = wd
            if mom is not None:
                if "betas" in g:
                    g["betas"] = (mom, *tuple(g["betas"])[1:])
                elif "momentum" in g:
                    g["momentum"] = mom

    # ---- checkpoints ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """torch's fields (plain values) plus the plan's IR JSON (``lrplan_plan``) and the lrplan version."""
        st = {k: v for k, v in self.__dict__.items() if k not in _OWN}
        st["base_lrs"] = [float(b) for b in self.base_lrs]
        st["_last_lr"] = [float(x) for x in self._last_lr]
        st[PLAN_KEY] = self.plan.to_json()
        st["lrplan_version"] = __version__
        return st

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the position; refuse (or switch, or keep) when the saved plan is not this one."""
        if not isinstance(state_dict, dict) or PLAN_KEY not in state_dict:
            raise LrplanError("this scheduler state was not saved by lrplan.torch.LRScheduler (it holds no plan)",
                              hint="build the scheduler the checkpoint was saved with, or start it from the "
                                   "checkpoint's step with LRScheduler(optimizer, plan, last_epoch=STEP - 1)")
        saved = load(state_dict[PLAN_KEY])
        k = int(state_dict.get("last_epoch", 0))
        state = {key: v for key, v in state_dict.items() if key not in (PLAN_KEY, "lrplan_version")}
        if saved != self.plan:
            change = _change(saved, self.plan, k)
            if self.on_plan_change == "error":
                raise LrplanError(f"the checkpoint's plan is not this scheduler's plan: {change}",
                                  hint="build LRScheduler(..., on_plan_change='switch') to continue on the new "
                                       "plan, or 'keep' to continue on the checkpoint's")
            if self.on_plan_change == "keep":
                self.plan = saved
                self._bind(self.optimizer)
            warnings.warn(f"lrplan: {'switching to the new plan' if self.on_plan_change == 'switch' else 'keeping the checkpoint plan'}"
                          f" at the resume step: {change}", stacklevel=2)
        self.__dict__.update(state)
        values = self.lr_at(self.last_epoch)
        for g, v in zip(self.optimizer.param_groups, values):
            g["lr"] = v
        self._last_lr = list(values)
        self._apply_companions(self.last_epoch)


class _Block:
    """The plan's LR, weight decay and momentum for BLOCK updates from the last one asked for outside the
    block, evaluated at once (closed forms, vectorised: plan.lr(np.arange(k, k + BLOCK)))."""

    def __init__(self, plan: Plan) -> None:
        self.plan, self.lo = plan, 0
        self.lr: list[float] = []
        self.wd: list[float] | None = None
        self.mom: list[float] | None = None

    def at(self, k: int) -> tuple[float, float | None, float | None]:
        i = k - self.lo
        if not 0 <= i < len(self.lr):
            import numpy as np

            ks = np.arange(k, k + BLOCK, dtype=np.int64)
            self.lo, i = k, 0
            self.lr = self.plan.lr(ks).tolist()
            wd, mom = self.plan.weight_decay(ks), self.plan.momentum(ks)
            self.wd = None if wd is None else wd.tolist()
            self.mom = None if mom is None else mom.tolist()
        return (self.lr[i], None if self.wd is None else self.wd[i], None if self.mom is None else self.mom[i])


def _change(saved: Plan, new: Plan, k: int) -> str:
    """What changes at the resume step ``k`` (and where the curves first differ), in one clause."""
    from ..diff import compare

    _, r = compare(saved.schedule, new.schedule)
    first = r.first_divergence
    where = f"; the curves first differ at step {first.step_a}" if first is not None else ""
    return (f"at the resume step {k} the LR changes from {saved.lr(k):.6g} (checkpoint) to {new.lr(k):.6g} "
            f"(this plan){where}")
