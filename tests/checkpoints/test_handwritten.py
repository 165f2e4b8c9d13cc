"""Checkpoints of hand-written trainers: ``torch.save({...})`` with the scheduler under the names people use.

Each file is written by the real torch (a real optimizer and scheduler stepped for real), the way the
PyTorch tutorials and from-scratch trainers save them, and read through the installed entry point.
"""

from __future__ import annotations

import json

import pytest

from conftest import require, run_cli

STEPS = 60
PEAK = 3e-3


def _run(kind: str):
    """(model, optimizer, scheduler) after STEPS real updates; kind: cosine (self-describing) or lambda."""
    torch = require("torch")
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=PEAK)
    if kind == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200, eta_min=3e-5)
    else:  # the hand-typed warmup + cosine LambdaLR such trainers use (its lambda is not saved)
        import math

        def lam(k):
            return (k + 1) / 10 if k < 10 else 0.5 * (1 + math.cos(math.pi * (k - 10) / 190))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    for _ in range(STEPS):
        opt.step()
        sched.step()
    return model, opt, sched


@pytest.mark.parametrize("layout,where", [
    (lambda m, o, s: {"model_state_dict": m.state_dict(), "optimizer_state_dict": o.state_dict(),
                      "scheduler_state_dict": s.state_dict(), "epoch": 3}, "scheduler_state_dict"),
    (lambda m, o, s: {"model": m.state_dict(), "sched": s.state_dict()}, "sched"),
    (lambda m, o, s: {"state": {"model": m.state_dict(), "scheduler": s.state_dict()}, "step": STEPS},
     "state.scheduler"),
    (lambda m, o, s: {"trainer": {"state": {"lr_sched": s.state_dict()}}}, "trainer.state.lr_sched"),
])
def test_scheduler_found_where_people_save_it(tmp_path, layout, where):
    torch = require("torch")
    model, opt, sched = _run("cosine")
    path = tmp_path / "ckpt.pt"
    torch.save(layout(model, opt, sched), path)
    r = run_cli("inspect", str(path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["next_step"] == STEPS and out["check"]["match"] is True
    assert f"the scheduler state is under {where}" in out["notes"]


def test_several_scheduler_states_are_listed(tmp_path):
    torch = require("torch")
    model, opt, sched = _run("cosine")
    _, _, other = _run("cosine")
    path = tmp_path / "ckpt.pt"
    torch.save({"scheduler": sched.state_dict(), "ema": {"scheduler": other.state_dict()}}, path)
    out = json.loads(run_cli("inspect", str(path), "--json").stdout)
    assert any("other scheduler states too (ema.scheduler)" in n and "reads scheduler" in n for n in out["notes"])


def test_a_file_without_a_scheduler_names_its_keys(tmp_path):
    torch = require("torch")
    model, opt, _ = _run("cosine")
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    r = run_cli("inspect", str(path))
    assert r.returncode == 2 and "top-level keys: model, optimizer" in r.stderr, r.stderr


def test_lambdalr_plan_without_lr_takes_the_peak_from_base_lrs(tmp_path):
    """The LambdaLR stores no schedule; --plan gives its shape, and the peak is the checkpoint's base LR."""
    torch = require("torch")
    model, opt, sched = _run("lambda")
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "lr_scheduler": sched.state_dict()},
               path)
    plan = "warmup=10(shift=1,span=10),cosine=190,total=200"  # (k+1)/10, then the cosine: the run's own curve
    r = run_cli("at-step", str(STEPS), str(path), "--plan", plan, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["check"]["match"] is True and out["check"]["stored"] == pytest.approx(sched.get_last_lr()[0])
    assert out["lr"] == pytest.approx(sched.get_last_lr()[0], rel=1e-12)
    assert any("from the checkpoint's base_lrs" in n for n in out["notes"])


def _sequential_at(tmp_path, steps: int):
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=4000)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=96_000, eta_min=3e-5)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[4000])
    for _ in range(steps):
        opt.step()
        sched.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)
    return path


def test_plot_and_table_cover_the_run_so_far_and_take_steps(tmp_path):
    """A SequentialLR(LinearLR, CosineAnnealingLR) run at step 60000: its state has no run length, so the
    table marks the checkpoint's position and the plot reaches it; --steps 100k sets the run length."""
    path = _sequential_at(tmp_path, 60_000)
    r = run_cli("table", str(path), "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = {p["step"]: p.get("note", "") for p in json.loads(r.stdout)["points"]}
    assert rows.get(60_000) == "the checkpoint's next update"
    plot = run_cli("plot", str(path), "--width", "80")
    assert plot.returncode == 0 and "75k" in plot.stdout, plot.stdout  # the x axis runs past the position
    r = run_cli("table", str(path), "--steps", "100k", "--format", "json")
    points = json.loads(r.stdout)["points"]
    assert points[-1]["step"] == 100_000 and any(p["note"].startswith("last step") for p in points if "note" in p)
