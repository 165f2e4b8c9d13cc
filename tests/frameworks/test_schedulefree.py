"""Schedule-Free: the real ``schedulefree`` 1.4.1 optimizers stepped on a real model for 10,000 updates.

At every update the optimizer's own group fields (``scheduled_lr``, ``lr_max``, ``weight_sum``) are read
and compared with lrplan's ``schedulefree`` shape and :func:`averaging_weights`; the averaging weight
``c_(k+1)`` itself is recovered from the Reference optimizers' stored ``x`` and ``z``
(``x_new = (1 - c) x_old + c z_new``), independently of lrplan's formula. The optimizers built by the
emitted ``--to schedulefree`` code are the ones stepped.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_lr_close, require, run_cli

from lrplan.convert import convert
from lrplan.errors import InexpressibleError
from lrplan.evaluate import lr
from lrplan.frameworks.base import WriteOptions
from lrplan.frameworks.schedulefree import averaging_weights
from lrplan.spec import parse_spec

N = 10_000


def model():
    torch = require("torch")
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1).double()


def step_fields(opt, m, n: int, *, closure: bool = False) -> dict:
    """Step ``opt`` n times with a fixed gradient (a linear loss, set directly: no autograd per step, and the
    iterates keep moving, so x and z stay apart); the group fields after each step."""
    torch = require("torch")
    grads = [torch.linspace(-1.0, 2.0, p.numel(), dtype=torch.float64).reshape(p.shape) for p in m.parameters()]
    out = {"scheduled_lr": np.empty(n), "lr_max": np.empty(n), "weight_sum": np.empty(n)}
    if hasattr(opt, "train") and not closure:
        opt.train()

    def set_grads():
        for p, g in zip(m.parameters(), grads):
            p.grad = g.clone()
        return 0.0

    k0 = opt.param_groups[0]["k"]
    for k in range(n):
        if closure:
            opt.step(set_grads)
        else:
            set_grads()
            opt.step()
        g = opt.param_groups[0]
        assert g["k"] == k0 + k + 1
        for key, values in out.items():
            values[k] = g[key]
    return out


def emitted_optimizer(spec: str, variant: str | None = None):
    text = convert(parse_spec(spec), "schedulefree", WriteOptions(source_label=spec, variant=variant)).text
    m = model()
    ns = {"model": m}
    exec(compile(text, "<emitted>", "exec"), ns)
    return ns["optimizer"], m, text


CASES = {
    "adamw_warmup": ("schedulefree(warmup=500),peak=2.5e-3,total=10k", None, "AdamWScheduleFree"),
    "adamw_r_power": ("schedulefree(warmup=1.5%,r=0.75,power=2),peak=2.5e-3,total=10k", None, "AdamWScheduleFree"),
    "sgd_no_warmup": ("schedulefree(power=1),peak=0.5,total=10k", "sgd", "SGDScheduleFree"),
    "paper": ("schedulefree(warmup=100,variant=paper,beta2=0.99),peak=1e-3,total=10k", None, "AdamWScheduleFreePaper"),
    "radam": ("schedulefree(variant=radam,beta2=0.95),peak=1e-3,total=10k", None, "RAdamScheduleFree"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_emitted_optimizer_fields_every_step(name):
    require("schedulefree")
    spec, variant, cls = CASES[name]
    opt, m, text = emitted_optimizer(spec, variant)
    assert type(opt).__name__ == cls and "optimizer.train()" in text and "optimizer.eval()" in text
    got = step_fields(opt, m, N)
    schedule = parse_spec(spec)
    assert_lr_close(lr(schedule, np.arange(N)), got["scheduled_lr"], what="scheduled_lr")
    _, lr_max, weight_sum = averaging_weights(schedule, N)
    assert_lr_close(lr_max, got["lr_max"], what="lr_max")
    assert_lr_close(weight_sum, got["weight_sum"], what="weight_sum")


@pytest.mark.parametrize("cls,spec", [
    ("AdamWScheduleFreeReference", "schedulefree(warmup=300,r=0.75),peak=2.5e-3,total=10k"),
    ("SGDScheduleFreeReference", "schedulefree(warmup=50,power=1),peak=0.05,total=10k"),
])
def test_averaging_weight_from_the_reference_iterates(cls, spec):
    """c_(k+1) as the Reference optimizer applies it: recovered from its stored x and z each update."""
    schedulefree = require("schedulefree")
    torch = require("torch")
    schedule = parse_spec(spec)
    seg = schedule.lr.segments[0]
    m = model()
    kw = {"lr": schedule.peak_lr, "warmup_steps": int(seg.param("warmup")), "r": seg.param("r"),
          "weight_lr_power": seg.param("power")}
    opt = getattr(schedulefree, cls)(m.parameters(), **kw)
    opt.train()
    p = m.weight
    grad = torch.tensor([[1.0, -0.5, 2.0]], dtype=torch.float64)
    c_real = np.empty(N)
    for k in range(N):
        for q in m.parameters():
            q.grad = torch.ones_like(q)
        p.grad = grad.clone()  # a linear loss: z keeps moving away from x, so no cancellation below
        x_old = opt.state[p]["x"].clone() if k else p.detach().clone()
        opt.step()
        x_new, z_new = opt.state[p]["x"], opt.state[p]["z"]
        i = int(torch.argmax((z_new - x_old).abs()))
        c_real[k] = float((x_new.flatten()[i] - x_old.flatten()[i]) / (z_new.flatten()[i] - x_old.flatten()[i]))
    c, _, _ = averaging_weights(schedule, N)
    assert c[0] == 1.0 and c_real[0] == pytest.approx(1.0, rel=1e-12)
    # recovering c from x and z rounds a few times (|z - x| is a fair share of |x| here)
    assert_lr_close(c, c_real, rel=1e-11, what="c_(k+1)")


def test_closure_variant_starts_lr_max_at_zero():
    schedulefree = require("schedulefree")
    m = model()
    opt = schedulefree.SGDScheduleFreeClosure(m.parameters(), lr=0.05, warmup_steps=20)
    got = step_fields(opt, m, 2000, closure=True)
    schedule = parse_spec("schedulefree(warmup=20),peak=0.05,total=2000")
    _, _, weight_sum = averaging_weights(schedule, 2000, lr_max0=0.0)
    assert_lr_close(lr(schedule, np.arange(2000)), got["scheduled_lr"])
    assert_lr_close(weight_sum, got["weight_sum"])


def test_checkpoint_of_a_schedulefree_run(tmp_path):
    """torch.save of a real AdamWScheduleFree state, read without torch: position, LR, next averaging weight."""
    torch = require("torch")
    require("schedulefree")
    from lrplan.checkpoints import read_info
    from lrplan.frameworks.base import ReadOptions

    spec = "schedulefree(warmup=200,r=0.5),peak=2e-3,total=10k"
    opt, m, _ = emitted_optimizer(spec)
    step_fields(opt, m, 150)
    opt.eval()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": m.state_dict(), "optimizer": opt.state_dict()}, path)
    info = read_info(path, ReadOptions())
    assert info.next_step == 150 and "AdamWScheduleFree" in info.layout
    opt.train()
    more = step_fields(opt, m, 60)
    got = lr(info.loaded.schedule, np.arange(150, 210))
    assert_lr_close(got, more["scheduled_lr"])
    first_weight = more["weight_sum"][0] - info.state["weight_sum"]
    assert info.state["next_c"] == pytest.approx(first_weight / more["weight_sum"][0], rel=1e-9)
    assert not any("train mode" in n for n in info.notes)


def test_writer_refuses_a_decay():
    with pytest.raises(InexpressibleError, match="no LR schedule, only lr and warmup_steps"):
        convert(parse_spec("warmup=100,cosine,total=1000,peak=1e-3"), "schedulefree")


def test_lint_rules():
    from lrplan.lint import run
    from lrplan.sources import load

    stacked = load("warmup=100,schedulefree,total=1000,peak=1e-3")
    assert [f.rule for f in run(stacked, only={"LR043", "LR044"})] == ["LR043"]
    decayed = load("schedulefree(warmup=100),cosine=10%,total=1000,peak=1e-3")
    assert [f.rule for f in run(decayed, only={"LR043", "LR044"})] == ["LR044"]
    assert run(load("schedulefree(warmup=100),total=1000,peak=1e-3"), only={"LR043", "LR044"}) == []


def test_cli_convert_and_explain():
    r = run_cli("convert", "schedulefree(warmup=2%,r=0.75)", "--steps", "5000", "--lr", "2.5e-3", "--to", "schedulefree")
    assert r.returncode == 0, r.stderr
    assert "WARMUP_STEPS = 100" in r.stdout and "schedulefree.AdamWScheduleFree(model.parameters()" in r.stdout
    e = run_cli("explain", "schedulefree(warmup=2%,r=0.75)", "--steps", "5000", "--lr", "2.5e-3")
    assert e.returncode == 0 and "Schedule-Free optimizer's own LR" in e.stdout


def test_golden(golden):
    spec = CASES["adamw_r_power"][0]
    golden("schedulefree/adamw_r_power.py", convert(parse_spec(spec), "schedulefree",
                                                    WriteOptions(source_label=spec)).text)


def test_plot_shows_the_averaging_weights():
    from lrplan.render.files import plot_page
    from lrplan.render.terminal import Series

    schedule = parse_spec("schedulefree(warmup=5%,r=0.75),peak=2.5e-3,total=20k")
    page = plot_page([Series(schedule, "sf")], 20_000)
    assert [p.ylabel for p in page.panels] == ["learning rate", "averaging weight c_(k+1)"]
    line = page.panels[1].lines[0]
    c, _, _ = averaging_weights(schedule, 20_001)
    assert line.x[0] == 0 and line.x[-1] == 20_000
    assert np.array_equal(line.y, c[line.x.astype(int)])
    assert len(plot_page([Series(parse_spec("warmup=10,cosine,total=100"), "x")], 100).panels) == 1
