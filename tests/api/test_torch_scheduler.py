"""``lrplan.torch.LRScheduler`` in a real torch training loop: every update's LR, weight decay and momentum
against the plan, the checkpoint read back through the CLI (``at-step``, ``inspect``, ``convert``,
``resume``), and a resume that continues exactly where the run stopped."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require, run_cli

import lrplan

torch = require("torch")
from lrplan.torch import PLAN_KEY, LRScheduler

SPEC = "warmup=8,cosine,min=0.1,wd=[constant=50%(at=0.1),linear(to=0.01)],momentum=[linear(from=0.85,to=0.95)]"
STEPS, SAVE_AT = 60, 30


def build(plan, seed=0, **kw):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=2e-3)
    return model, opt, LRScheduler(opt, plan, **kw)


def train(model, opt, sched, first, last, record):
    g = torch.Generator().manual_seed(first)
    for k in range(first, last):
        record.append((k, [{"lr": x["lr"], "wd": x["weight_decay"], "beta1": x["betas"][0]} for x in opt.param_groups]))
        x = torch.randn(16, 4, generator=g)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    plan = lrplan.load(SPEC, steps=STEPS)
    model, opt, sched = build(plan)
    used: list = []
    train(model, opt, sched, 0, SAVE_AT, used)
    path = tmp_path_factory.mktemp("torch") / "ckpt.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "step": SAVE_AT}, path)
    train(model, opt, sched, SAVE_AT, STEPS, used)
    return plan, used, path


def test_every_update_follows_the_plan(run):
    plan, used, _ = run
    assert [k for k, _ in used] == list(range(STEPS))
    ks = np.arange(STEPS)  # the scheduler evaluates blocks of updates with the vectorised path: bit for bit
    lr, wd, mom = plan.lr(ks), plan.weight_decay(ks), plan.momentum(ks)
    for k, (decay, no_decay) in used:
        # a plan without a peak is a multiplier of each group's LR, as a LambdaLR
        assert decay["lr"] == no_decay["lr"] == 2e-3 * lr[k], k
        assert decay["wd"] == wd[k] and no_decay["wd"] == 0.0, k
        assert decay["beta1"] == no_decay["beta1"] == mom[k], k
        assert decay["lr"] == pytest.approx(2e-3 * plan.lr(k), rel=1e-12)  # one step at a time (at-step's path)
    # hand-checked: the warmup reaches the peak at update 8; the weight decay halves its way at update 45
    assert used[8][1][0]["lr"] == 2e-3 and used[4][1][0]["lr"] == pytest.approx(1e-3, rel=1e-15)
    assert used[45][1][0]["wd"] == pytest.approx(0.055, rel=1e-12)


def test_state_dict_is_plain_and_loads_with_weights_only(run):
    _, _, path = run
    st = torch.load(path, weights_only=True)["scheduler"]
    assert st["last_epoch"] == SAVE_AT and isinstance(st[PLAN_KEY], str)
    assert json.loads(st[PLAN_KEY])["lrplan_ir"] == 1


def test_the_cli_recovers_the_plan_from_the_checkpoint(run):
    plan, used, path = run
    peak = 2e-3  # the multiplier plan's peak is the scheduler's base LR, as its LRs were
    out = json.loads(run_cli("at-step", "45", str(path), "--json").stdout)
    assert out["framework"] == "torch" and out["next_step"] == SAVE_AT
    assert out["lr"] == pytest.approx(used[45][1][0]["lr"], rel=1e-12)
    assert out["check"]["match"] is True and out["check"]["stored"] == used[SAVE_AT][1][0]["lr"]  # _last_lr
    ins = run_cli("inspect", str(path), "--json")
    assert ins.returncode == 0, ins.stderr
    assert json.loads(ins.stdout)["next_step"] == SAVE_AT
    recovered = lrplan.load(run_cli("convert", str(path), "--to", "json").stdout)
    assert recovered.schedule == plan.schedule.with_(peak_lr=peak)
    # the extended plan as a spec, for LRScheduler(opt, spec, on_plan_change="switch") in the resumed script
    ext = run_cli("resume", str(path), "--extend-to", "120", "--to", "spec")
    assert ext.returncode == 0, ext.stderr
    assert f"resume at step {SAVE_AT}" in ext.stderr
    longer = lrplan.load(ext.stdout.strip().splitlines()[-1])
    assert longer.total_steps == 120
    assert longer.lr(SAVE_AT) == pytest.approx(used[SAVE_AT][1][0]["lr"], rel=1e-12)


def test_resume_continues_exactly(run):
    plan, used, path = run
    ck = torch.load(path, weights_only=True)
    model, opt, sched = build(plan, seed=1)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    again: list = []
    train(model, opt, sched, SAVE_AT, STEPS, again)
    assert again == used[SAVE_AT:]


def test_a_different_plan_is_refused_or_switched_on_request(run):
    _, used, path = run
    ck = torch.load(path, weights_only=True)
    other = lrplan.load(SPEC.replace("min=0.1", "min=0.2"), steps=STEPS)
    _, _, sched = build(other)
    with pytest.raises(lrplan.LrplanError, match=rf"at the resume step {SAVE_AT} the LR changes from"):
        sched.load_state_dict(ck["scheduler"])
    _, opt, sched = build(other, on_plan_change="switch")
    opt.load_state_dict(ck["optimizer"])
    with pytest.warns(UserWarning, match="switching to the new plan at the resume step"):
        sched.load_state_dict(ck["scheduler"])
    assert opt.param_groups[0]["lr"] == 2e-3 * other.lr(SAVE_AT) != used[SAVE_AT][1][0]["lr"]
    _model, opt, sched = build(other, on_plan_change="keep")
    with pytest.warns(UserWarning, match="keeping the checkpoint plan"):
        sched.load_state_dict(ck["scheduler"])
    assert opt.param_groups[0]["lr"] == used[SAVE_AT][1][0]["lr"]
    with pytest.raises(lrplan.LrplanError, match="not saved by lrplan.torch.LRScheduler"):
        sched.load_state_dict(torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0).state_dict())


def test_absolute_plan_and_named_groups():
    plan = lrplan.load("warmup=4,linear,group.embed=[constant(at=0.001)]", steps=20, lr=0.01)
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD([{"params": [model.weight], "momentum": 0.9},
                           {"params": [model.bias], "name": "embed"}], lr=123.0)
    sched = LRScheduler(opt, plan)
    lr = plan.lr(np.arange(20))
    for k in range(20):
        assert opt.param_groups[0]["lr"] == lr[k] and opt.param_groups[1]["lr"] == 0.001, k
        opt.step()
        sched.step()


def test_a_damaged_saved_plan_is_a_clear_error(tmp_path):
    plan = lrplan.load("warmup=4,cosine", steps=20, lr=1e-3)
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    st = LRScheduler(opt, plan).state_dict()
    st[PLAN_KEY] = st[PLAN_KEY].replace('"lrplan_ir": 1', '"lrplan_ir": 99')
    torch.save({"scheduler": st}, tmp_path / "bad.pt")
    r = run_cli("inspect", str(tmp_path / "bad.pt"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "the saved plan is not valid lrplan IR (unsupported lrplan IR version 99" in r.stderr
