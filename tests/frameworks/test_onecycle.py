"""The spec's ``onecycle`` phase against torch's own OneCycleLR (torch 2.13), LR and momentum, at every step.

torch steps the real scheduler on an SGD optimizer with momentum (``cycle_momentum=True``): update k runs
with the LR and momentum the param group holds before ``optimizer.step()``.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_lr_close, require
from lrplan.evaluate import companion_values, lr
from lrplan.spec import parse_spec

N = 10_000
PEAK = 0.1

# (spec arguments, OneCycleLR keyword arguments)
CASES = [
    ("", {}),
    ("three_phase=true", {"three_phase": True}),
    ("anneal=linear", {"anneal_strategy": "linear"}),
    ("max_at=0.25,div=10,final_div=100", {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}),
    ("mom=0.8:0.9", {"base_momentum": 0.8, "max_momentum": 0.9}),
    ("max_at=0.4,anneal=linear,three_phase=true,mom=0.7:0.99",
     {"pct_start": 0.4, "anneal_strategy": "linear", "three_phase": True, "base_momentum": 0.7, "max_momentum": 0.99}),
]


def torch_onecycle(n: int, **kw):
    torch = require("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=PEAK, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=PEAK, total_steps=n, **kw)
    lrs, moms = np.empty(n), np.empty(n)
    for k in range(n):
        lrs[k], moms[k] = opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
        opt.step()
        sched.step() if k < n - 1 else None  # OneCycleLR raises past total_steps
    return lrs, moms


@pytest.mark.parametrize("args, kw", CASES, ids=[a or "defaults" for a, _ in CASES])
def test_onecycle_matches_torch(args, kw):
    spec = "onecycle" + (f"({args})" if args else "")
    s = parse_spec(spec, steps=str(N), lr=PEAK)
    theirs_lr, theirs_mom = torch_onecycle(N, **kw)
    ks = np.arange(N)
    assert_lr_close(lr(s, ks), theirs_lr)
    assert_lr_close(companion_values(s, "momentum", ks), theirs_mom)


@pytest.mark.parametrize("args, kw", CASES, ids=[a or "defaults" for a, _ in CASES])
def test_convert_to_torch_emits_onecyclelr_that_runs_exactly(args, kw):
    """`convert --to torch` of a onecycle phase is torch's own OneCycleLR (not a refusal for the momentum
    curve): the emitted code, run with real torch, gives lrplan's LR and momentum at every update."""
    from lrplan.convert import convert
    from lrplan.frameworks.base import WriteOptions

    torch = require("torch")
    spec = "onecycle" + (f"({args})" if args else "")
    s = parse_spec(spec, steps=str(N), lr=PEAK)
    text = convert(s, "torch", WriteOptions(version="test", source_label=spec)).text
    assert "OneCycleLR(" in text and "LambdaLR" not in text
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=PEAK, momentum=0.9)
    ns = {"optimizer": optimizer}
    exec(compile(text, "<emitted>", "exec"), ns)
    sched = ns["scheduler"]
    lrs, moms = np.empty(N), np.empty(N)
    for k in range(N):
        lrs[k], moms[k] = optimizer.param_groups[0]["lr"], optimizer.param_groups[0]["momentum"]
        optimizer.step()
        if k < N - 1:
            sched.step()
    ks = np.arange(N)
    assert_lr_close(lrs, lr(s, ks))
    assert_lr_close(moms, companion_values(s, "momentum", ks))


def test_onecycle_inside_a_longer_schedule_is_not_offered_as_onecyclelr():
    from lrplan.convert import convert
    from lrplan.errors import InexpressibleError
    from lrplan.frameworks.base import WriteOptions

    s = parse_spec("warmup=100,onecycle", steps=str(N), lr=PEAK)
    with pytest.raises(InexpressibleError, match="momentum"):
        convert(s, "torch", WriteOptions(version="test"))
