"""CyclicLR and CosineAnnealingWarmRestarts states, rebuilt and compared with real torch stepping."""

from __future__ import annotations

import io

import numpy as np
import pytest

from conftest import assert_lr_close, require
from lrplan.checkpoints import safepickle
from lrplan.frameworks.torch import state as torchsched
from lrplan.evaluate import lr

STEPS = 10_000


def _run(make, save_at: int = 37):
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    sched = make(torch, opt)
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
    return state, np.array(used)


CYCLIC = {
    "triangular": dict(base_lr=1e-4, max_lr=3e-3, step_size_up=700, step_size_down=500),
    "triangular2": dict(base_lr=1e-4, max_lr=3e-3, step_size_up=400, mode="triangular2"),
    "exp_range": dict(base_lr=1e-4, max_lr=3e-3, step_size_up=300, step_size_down=900, mode="exp_range",
                      gamma=0.9997),
}


@pytest.mark.parametrize("name", sorted(CYCLIC))
def test_cyclic_lr(name):
    state, used = _run(lambda torch, opt: torch.optim.lr_scheduler.CyclicLR(opt, **CYCLIC[name]))
    schedule, cls = torchsched.build(state)
    assert cls == "CyclicLR"  # not mistaken for ExponentialLR, which also stores a gamma
    assert_lr_close(lr(schedule, np.arange(STEPS)), used, what=name)


@pytest.mark.parametrize("t0,mult", [(100, 1), (50, 2), (7, 3)])
def test_cosine_warm_restarts(t0, mult):
    state, used = _run(lambda torch, opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=t0, T_mult=mult, eta_min=1e-5))
    schedule, cls = torchsched.build(state)
    assert cls == "CosineAnnealingWarmRestarts"
    assert_lr_close(lr(schedule, np.arange(STEPS)), used)


def test_custom_scale_fn_is_caught_by_the_stored_lr(tmp_path):
    """torch saves a lambda scale_fn as None, so the state reads like mode='triangular'; the LR stored in
    the state (_last_lr) then disagrees with the rebuilt curve, and inspect reports the mismatch."""
    torch = require("torch")
    from lrplan.checkpoints import compare, read_info

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=1e-4, max_lr=3e-3, step_size_up=100,
                                              scale_fn=lambda x: 0.5, scale_mode="cycle")
    for _ in range(37):
        opt.step()
        sched.step()
    torch.save(sched.state_dict(), tmp_path / "cyclic.pt")
    assert compare(read_info(tmp_path / "cyclic.pt"))["match"] is False
