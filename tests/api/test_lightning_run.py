"""A REAL Lightning run with ``{"scheduler": LRScheduler(opt, plan), "interval": "step"}`` and gradient
accumulation: the LR of every update against ``plan.lr(k)``, ``lrplan at-step``/``inspect`` recovering
the plan from the ``.ckpt``, ``fit(ckpt_path=...)`` continuing on it, and the ``LRGuard`` callback
failing at the first divergence (the default ``interval="epoch"`` steps the scheduler once per epoch)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import require, run_cli

import lrplan

torch = require("torch")
L = require("lightning.pytorch")
from lrplan.integrations.lightning import LRDivergence, LRGuard
from lrplan.torch import LRScheduler

SPEC = "warmup=5,cosine,min=0.1"
MAX_STEPS, SAVE_EVERY, ACCUM, BATCH = 20, 10, 2, 4
warnings.filterwarnings("ignore", ".*does not have many workers.*")


class Module(L.LightningModule):
    def __init__(self, plan, interval="step"):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.plan, self.interval = plan, interval

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), y)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=4e-3)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": LRScheduler(opt, self.plan),
                                                   "interval": self.interval}}


class Record(L.Callback):
    def __init__(self):
        self.used = []

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.used.append((trainer.global_step, float(optimizer.param_groups[0]["lr"])))


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(MAX_STEPS * ACCUM * BATCH, 4, generator=g)
    ds = torch.utils.data.TensorDataset(x, x.sum(1))
    return torch.utils.data.DataLoader(ds, batch_size=BATCH)


def fit(out, plan, callbacks, *, interval="step", ckpt_path=None, max_steps=MAX_STEPS):
    torch.manual_seed(0)
    save = L.callbacks.ModelCheckpoint(dirpath=str(out), filename="ck{step}", auto_insert_metric_name=False,
                                       every_n_train_steps=SAVE_EVERY, save_top_k=-1)
    trainer = L.Trainer(max_steps=max_steps, accumulate_grad_batches=ACCUM, accelerator="cpu", devices=1,
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[save, *callbacks])
    trainer.fit(Module(plan, interval), loader(), ckpt_path=ckpt_path)
    return trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lightning")
    plan = lrplan.load(SPEC, steps=MAX_STEPS, lr=4e-3)
    rec, guard = Record(), LRGuard(plan)
    fit(out, plan, [rec, guard])
    return plan, rec.used, guard, out


def test_every_update_follows_the_plan(run):
    plan, used, guard, _ = run
    assert [k for k, _ in used] == list(range(MAX_STEPS))
    assert [lr for _, lr in used] == plan.lr(np.arange(MAX_STEPS)).tolist()
    assert guard.checked == MAX_STEPS and guard.first_divergence is None
    assert used[1][1] == pytest.approx(4e-3 / 5, rel=1e-15)  # hand-checked warmup point


def test_the_cli_recovers_the_plan_from_the_ckpt(run):
    plan, used, _, out = run
    ck = out / f"ck{SAVE_EVERY}.ckpt"
    r = run_cli("at-step", "15", str(ck), "--json")
    assert r.returncode == 0, r.stderr
    at = json.loads(r.stdout)
    assert at["framework"] == "lightning" and at["next_step"] == SAVE_EVERY
    assert at["lr"] == pytest.approx(used[15][1], rel=1e-12) and at["check"]["match"] is True
    assert run_cli("inspect", str(ck)).returncode == 0
    assert lrplan.load(run_cli("convert", str(ck), "--to", "json").stdout) == plan


def test_fit_from_the_ckpt_continues_on_the_plan(run, tmp_path):
    plan, used, _, out = run
    rec = Record()
    fit(tmp_path, plan, [rec], ckpt_path=str(out / f"ck{SAVE_EVERY}.ckpt"))
    assert rec.used == used[SAVE_EVERY:]


def test_the_guard_catches_a_per_epoch_scheduler(tmp_path):
    # Lightning's default interval="epoch": the scheduler stays at update 0's LR for the whole first epoch
    plan = lrplan.load(SPEC, steps=MAX_STEPS, lr=4e-3)
    guard = LRGuard(plan)
    with pytest.raises(LRDivergence, match=r"update 1 runs at LR 0, the plan says 0.0008 .*first divergence"):
        fit(tmp_path, plan, [guard], interval="epoch")
    assert guard.first_divergence == (1, 0.0, plan.lr(1))
