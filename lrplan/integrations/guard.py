"""The check both training-loop guards make: does the LR an update is about to use equal the plan's?

One comparator (lrplan.exact.close: rel 1e-12, abs 1e-18). At the first divergence the guard raises
:class:`LRDivergence` (``mode="error"``) or warns once (``mode="warn"``), naming the update, both LRs and
the likely cause: the scheduler one step behind or ahead, or stepped per micro-batch under gradient
accumulation (the accidents of resumes and accumulation).
"""

from __future__ import annotations

import warnings

from ..api import Plan, load
from ..errors import LrplanError

MODES = ("error", "warn")


class LRDivergence(LrplanError):
    """The optimizer's LR left the plan (raised by the guards in ``mode="error"``)."""


class Guard:
    """Shared state of a guard: the plan, the mode and the first divergence seen."""

    def __init__(self, plan, mode: str = "error", **load_args) -> None:
        if mode not in MODES:
            raise LrplanError(f"mode must be 'error' or 'warn', got {mode!r}")
        self.plan: Plan = plan if isinstance(plan, Plan) else load(plan, **load_args)
        self.mode = mode
        self.checked = 0
        self.first_divergence: tuple[int, float, float] | None = None  # (update, optimizer LR, plan LR)

    def expected(self, k: int, group: dict) -> float:
        """The plan's LR of update ``k`` for ``group`` (a multiplier plan scales the group's initial LR)."""
        v = self.plan.lr(k)
        return v * float(group.get("initial_lr", group["lr"])) if self.plan.peak_lr is None else v

    def check(self, k: int, group: dict, accumulation: int = 1) -> None:
        from ..exact import close

        self.checked += 1
        used, want = float(group["lr"]), self.expected(k, group)
        if close(used, want) or self.first_divergence is not None:
            return
        self.first_divergence = (k, used, want)
        message = (f"update {k} runs at LR {used:.10g}, the plan says {want:.10g}"
                   f" (first divergence; {self.cause(k, used, group, accumulation)})")
        if self.mode == "error":
            raise LRDivergence(message, hint=f"the plan: {self.plan.label}")
        warnings.warn(f"lrplan: {message}", stacklevel=3)

    def cause(self, k: int, used: float, group: dict, accumulation: int) -> str:
        from ..exact import close

        candidates = []
        if accumulation > 1:  # stepped per micro-batch: somewhere in update k's window of micro-batches
            why = (f"the scheduler counts micro-batches, not updates (gradient accumulation {accumulation}): "
                   "step it once per update")
            candidates += [(k * accumulation + j, why) for j in range(accumulation, -1, -1)
                           if abs(k * accumulation + j - k) > 1]
        candidates += [(k - 1, ("the scheduler is one step behind (a scheduler step was missed: an update the optimizer "
                               "skipped, or a resume that restored one step too few)")),
                       (k + 1, ("the scheduler is one step ahead (stepped before the optimizer, or an extra "
                               "step() after a resume)"))]
        for j, why in candidates:
            if j >= 0 and close(used, self.expected(j, group)):
                return why
        return "the run follows another schedule: a changed config, a resume that rebuilt the scheduler, or a " \
               "scheduler stepped per epoch"


class GuardCallback:
    """The part both ``LRGuard`` callbacks share: built from a plan, they expose what the guard saw."""

    def __init__(self, plan, mode: str = "error", **load_args) -> None:
        self.guard = Guard(plan, mode, **load_args)

    @property
    def first_divergence(self) -> tuple[int, float, float] | None:
        """(update, optimizer LR, plan LR) of the first divergence, or None."""
        return self.guard.first_divergence

    @property
    def checked(self) -> int:
        """How many updates were checked."""
        return self.guard.checked
