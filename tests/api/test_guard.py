"""The guards' check (lrplan.integrations.guard, shared by the HF and Lightning callbacks) in real torch
loops with the two classic accidents: a scheduler stepped per micro-batch under gradient accumulation,
and a scheduler stepped before the optimizer. Each is caught at its first update, with its cause named."""

from __future__ import annotations

import pytest

import lrplan
from conftest import require

torch = require("torch")
from lrplan.integrations.guard import Guard, LRDivergence  # noqa: E402
from lrplan.torch import LRScheduler  # noqa: E402

PLAN = "warmup=8,cosine,min=0.1"


def loop(guard, *, accumulation=1, per_micro_batch=False, scheduler_first=False, updates=12):
    plan = lrplan.load(PLAN, steps=40, lr=1e-3)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    sched = LRScheduler(opt, plan)
    for k in range(updates):
        for _ in range(accumulation):
            model(torch.randn(4, 3)).pow(2).mean().backward()
            if per_micro_batch:
                sched.step()
        if scheduler_first:
            sched.step()
        guard.check(k, opt.param_groups[0], accumulation)  # right before the update, as the callbacks do
        opt.step()
        opt.zero_grad()
        if not (per_micro_batch or scheduler_first):
            sched.step()


def test_a_correct_loop_passes():
    g = Guard(PLAN, steps=40, lr=1e-3)
    loop(g, accumulation=4)
    assert g.checked == 12 and g.first_divergence is None


def test_stepping_per_micro_batch_is_caught_with_its_cause():
    g = Guard(PLAN, steps=40, lr=1e-3)
    with pytest.raises(LRDivergence, match=r"update 0 runs at LR 0.0005, the plan says 0 .*counts micro-batches"):
        loop(g, accumulation=4, per_micro_batch=True)


def test_stepping_before_the_optimizer_is_caught_with_its_cause():
    g = Guard(PLAN, steps=40, lr=1e-3, mode="warn")
    with pytest.warns(UserWarning, match=r"update 0 runs at LR 0.000125, the plan says 0 .*one step ahead"):
        loop(g, scheduler_first=True)
    assert g.first_divergence == (0, 0.000125, 0.0) and g.checked == 12
