"""Property test: any self-describing torch scheduler, saved after any number of steps, is rebuilt by
lrplan to the curve the real scheduler follows (saved with torch.save, read back without torch)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_lr_close, require
from lrplan.checkpoints import safepickle
from lrplan.frameworks.torch import state as torchsched
from lrplan.evaluate import lr

STEPS = 400


def _builders(L):
    return {
        "cosine": lambda o, d: L.CosineAnnealingLR(o, T_max=d.draw(st.integers(1, 300)),
                                                   eta_min=d.draw(st.sampled_from([0.0, 1e-6, 3e-5]))),
        "step": lambda o, d: L.StepLR(o, step_size=d.draw(st.integers(1, 50)), gamma=d.draw(st.floats(0.1, 0.99))),
        "multistep": lambda o, d: L.MultiStepLR(o, milestones=sorted(d.draw(st.lists(st.integers(0, 300), max_size=4))),
                                                gamma=d.draw(st.floats(0.1, 0.9))),
        "exp": lambda o, d: L.ExponentialLR(o, gamma=d.draw(st.floats(0.9, 0.999))),
        "linear": lambda o, d: L.LinearLR(o, start_factor=d.draw(st.floats(0.01, 1.0)),
                                          end_factor=d.draw(st.floats(0.0, 1.0)), total_iters=d.draw(st.integers(1, 200))),
        "poly": lambda o, d: L.PolynomialLR(o, total_iters=d.draw(st.integers(1, 300)), power=d.draw(st.floats(0.5, 3.0))),
        "constant": lambda o, d: L.ConstantLR(o, factor=d.draw(st.floats(0.05, 1.0)), total_iters=d.draw(st.integers(0, 50))),
    }


@pytest.mark.framework
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_torch_scheduler_state_round_trips(data):
    torch = require("torch")
    L = torch.optim.lr_scheduler
    kind = data.draw(st.sampled_from(sorted(_builders(L))))
    base = data.draw(st.sampled_from([3e-4, 1e-3, 0.1]))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = _builders(L)[kind](opt, data)
    save_at = data.draw(st.integers(0, 100))
    used, blob = [], None
    for k in range(STEPS):
        if k == save_at:
            buf = io.BytesIO()
            torch.save(sched.state_dict(), buf)
            blob = buf.getvalue()
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    state = safepickle.plain(safepickle.load_bytes(blob, "state"))
    schedule, _ = torchsched.build(state)
    assert state["last_epoch"] == save_at
    # CosineAnnealingLR updates recursively: ~3e-12 relative drift from its closed form over 10k steps
    # (measured, torch 2.13); the other classes stay within 2e-15. Where the LR should be 0, torch's
    # recursive LinearLR (end_factor 0) lands at about -3e-18, which lrplan clamps to 0.
    assert_lr_close(lr(schedule, np.arange(STEPS)), used, rel=5e-12, abs_=1e-17)
