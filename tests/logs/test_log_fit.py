"""``lrplan fit LOG``: logs made by stepping a real scheduler (HF transformers, torch) fit back to a spec that
reproduces every logged LR within the log's precision (checked with ``lrplan check``'s comparator, not with a
formula typed here); real runs' logs fit through the CLI, and the fitted spec is a SOURCE like any other."""

from __future__ import annotations

import json

import numpy as np
from conftest import require, run_cli
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from logruns import FIXTURES, runs_fixture  # noqa: F401  (the session's real runs)

from lrplan import logs
from lrplan.fit import fit
from lrplan.logs.series import EXACT, FLOAT32, build
from lrplan.runcheck import check
from lrplan.sources import load


def _stepped(make, T: int, peak: float) -> list[float]:
    """The LR each update uses: param_groups[0]["lr"] read before optimizer.step(), then scheduler.step()."""
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = make(opt)
    out = []
    for _ in range(T):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def _schedulers():
    tf = require("transformers")
    torch = require("torch")
    L = torch.optim.lr_scheduler
    return {
        "hf-cosine": lambda W, T, r: (lambda o: tf.get_cosine_schedule_with_warmup(o, W, T)),
        "hf-linear": lambda W, T, r: (lambda o: tf.get_linear_schedule_with_warmup(o, W, T)),
        "hf-poly": lambda W, T, r: (lambda o: tf.get_polynomial_decay_schedule_with_warmup(
            o, W, T, lr_end=r * o.defaults["lr"], power=2.0)),
        "hf-constant": lambda W, T, r: (lambda o: tf.get_constant_schedule_with_warmup(o, W)),
        "hf-invsqrt": lambda W, T, r: (lambda o: tf.get_inverse_sqrt_schedule(o, num_warmup_steps=max(W, 1))),
        "hf-wsd": lambda W, T, r: (lambda o: tf.get_wsd_schedule(o, W, T // 4, num_stable_steps=max(T // 2 - W, 1),
                                                                 min_lr_ratio=r)),
        "torch-cosine": lambda W, T, r: (lambda o: L.CosineAnnealingLR(o, T, eta_min=r * o.defaults["lr"])),
        # decays to a tenth (or a hundredth) over the run: what runs use, not 30 orders of magnitude
        "torch-exp": lambda W, T, r: (lambda o: L.ExponentialLR(o, (0.01 if r else 0.1) ** (1 / T))),
    }


NAMES = ("hf-cosine", "hf-linear", "hf-poly", "hf-constant", "hf-invsqrt", "hf-wsd", "torch-cosine", "torch-exp")


# No shrinking: each example steps a scheduler and fits it (~0.3 s); a failure prints its full example.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(name=st.sampled_from(NAMES), warmup=st.integers(1, 60), total=st.integers(100, 1500),
       peak=st.sampled_from([1e-4, 3e-4, 6e-4, 1e-3, 2.5e-3]), floor=st.sampled_from([0.0, 0.01, 0.1]),
       every=st.sampled_from([1, 1, 3, 10]), float32=st.booleans(), frac=st.sampled_from([1.0, 0.7]))
def test_fit_reproduces_a_real_scheduler(name, warmup, total, peak, floor, every, float32, frac):
    if name in ("hf-poly", "torch-cosine") and floor == 0.0:
        floor = 0.01
    if name == "hf-wsd":  # its decay is the third quarter: the log must reach into it, with points inside
        floor, frac, every = max(floor, 0.01), 1.0, min(every, max(1, total // 32))
    warmup = max(warmup, 2 * every)  # a log must show the warmup to fit it: two logged points inside it
    lr = _stepped(_schedulers()[name](warmup, total, floor), total, peak)
    n = max(int(total * frac), 12 * every)
    k = np.arange(0, min(n, total), every)
    v = np.asarray(lr)[k]
    if float32:  # as TensorBoard stores it
        v = v.astype(np.float32).astype(float)
    s = build("tensorboard", "mem", "lr", k, v, precision=FLOAT32 if float32 else EXACT, offset=0,
              step_field="step", rule="k = step")
    r = fit(s)
    assert r.best.fits, (name, r.spec, r.notes)
    plan = load(r.spec).schedule  # the printed spec, parsed again: what convert / at-step would get
    c = check(s, plan, r.spec, diagnose=False)
    assert c.on_plan, (name, r.spec, c.first)


def test_fit_real_runs_cli(runs):
    r = run_cli("fit", str(runs / "hf" / "ga2" / "runs"))
    assert r.returncode == 0, r.stderr
    spec = r.stdout.strip()
    assert spec == "warmup=5,cosine,peak=0.001,total=16"
    assert "largest residual" in r.stderr and "implied total: 16 updates" in r.stderr
    # the fitted spec is a SOURCE: at-step and check take it
    at = run_cli("at-step", "10", spec, "--json")
    assert at.returncode == 0 and json.loads(at.stdout)["lr"] == logs.read(runs / "hf" / "ga2").lr[10]
    back = run_cli("check", str(runs / "hf" / "ga2"), spec, "--no-chart")
    assert back.returncode == 0, back.stdout
    j = run_cli("fit", str(runs / "lightning" / "run"), "--json")
    data = json.loads(j.stdout)
    assert j.returncode == 0 and data["fits"] and data["implied_total"] == 20 and data["warmup_steps"] == 5
    assert set(data["residual"]) >= {"max_abs", "step", "in_precision_units"}


def test_fit_megatron_and_deepspeed_logs(runs):
    m = fit(logs.read(FIXTURES / "megatron" / "SIMULATED_megatron_log_const_batch.log"))
    assert m.best.fits and m.best.norm > 0  # fitted to the 7 printed digits, not exactly
    assert m.spec == "warmup=4,cosine,min=0.1,peak=0.0003,total=12"
    ds = logs.read(runs / "deepspeed" / "cosine" / "train.log")
    d = fit(ds)
    assert d.best.fits and check(ds, load(d.spec).schedule, d.spec, diagnose=False).on_plan


def test_fit_says_when_nothing_fits(runs):
    r = run_cli("fit", str(runs / "hf" / "torch" / "per_micro_batch"))
    assert r.returncode == 2 and "no schedule of the shapes fit knows reproduces this log" in r.stderr
