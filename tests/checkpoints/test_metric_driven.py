"""Checkpoint states whose LR is not a function of the step: ReduceLROnPlateau, and LambdaLR/MultiplicativeLR
(indistinguishable in a torch state dict). States made by the real torch schedulers."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

torch = pytest.importorskip("torch")


@pytest.fixture()
def plateau(tmp_path):
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for metric in (1.0, 0.9, 0.95, 0.96, 0.97, 0.98):  # no improvement after 0.9: one cut, then 1 bad epoch
        opt.step()
        sched.step(metric)
    path = tmp_path / "plateau.pt"
    torch.save({"scheduler": sched.state_dict(), "optimizer": opt.state_dict()}, path)
    return path, sched


def test_plateau_reports_what_the_state_holds(plateau):
    path, sched = plateau
    r = run_cli("inspect", str(path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["check"]["stored"] == sched.get_last_lr()[0] == 0.05
    pos = doc["position"]
    assert (pos["best"], pos["num_bad_epochs"], pos["patience"], pos["factor"]) == (0.9, 1, 2, 0.5)
    assert "depends on the metric" in " ".join(doc["missing"])
    assert "pass --plan" not in r.stdout + r.stderr


def test_plateau_refuses_a_plan_instead_of_a_mismatch(plateau):
    path, _ = plateau
    r = run_cli("at-step", "6", str(path), "--plan", "cosine", "--steps", "10")
    assert r.returncode == 2, r.stdout + r.stderr  # not 5: no plan can be checked against a metric
    assert "follows the metric history" in r.stderr


def test_multiplicative_state_is_not_called_a_lambdalr(tmp_path):
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=0.1)
    sched = torch.optim.lr_scheduler.MultiplicativeLR(opt, lambda k: 0.9)
    path = tmp_path / "mult.pt"
    torch.save(sched.state_dict(), path)
    r = run_cli("inspect", str(path))
    assert r.returncode == 0, r.stderr
    assert "LambdaLR or MultiplicativeLR" in r.stdout
    assert "LambdaLR)" not in r.stdout
