"""Lightning schedulers stepped per epoch or every N updates, from REAL Lightning runs on CPU.

Lightning 2.6 saves only the scheduler's ``state_dict()`` under ``lr_schedulers`` (no ``interval`` /
``frequency``), so a ``last_epoch`` that counts scheduler steps cannot be told from one that counts updates
by the state alone. lrplan compares it with ``global_step`` (optimizer updates): when they differ the
position is ``global_step``, a warning says why, and the schedule must come from ``--plan`` (exit 2 with
that hint without it) instead of a silently wrong per-update curve. The LR every update used is recorded
inside the run (``training_step`` reads the optimizer's LR) and compared with what lrplan reports.
"""

from __future__ import annotations

import json

import pytest

from conftest import require, run_cli

BASE_LR = 3e-4


def _run(tmp_path, interval: str, frequency: int, max_steps: int, batches_per_epoch: int = 3):
    Lg = require("lightning")
    import torch

    used: list[float] = []

    class Tiny(Lg.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, i):
            used.append(self.trainer.optimizers[0].param_groups[0]["lr"])  # the LR this update uses
            return self.layer(batch).sum()

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=BASE_LR)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
            return {"optimizer": opt,
                    "lr_scheduler": {"scheduler": sched, "interval": interval, "frequency": frequency}}

    torch.manual_seed(0)
    data = torch.utils.data.DataLoader(torch.ones(4 * batches_per_epoch, 2), batch_size=4)
    trainer = Lg.Trainer(max_steps=max_steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(tmp_path))
    trainer.fit(Tiny(), data)
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    next_lr = trainer.optimizers[0].param_groups[0]["lr"]  # what update max_steps would use
    return ckpt, used, next_lr, trainer.lr_scheduler_configs[0].scheduler.last_epoch


# interval, frequency, updates. With 3 batches per epoch, frequency=2 steps the scheduler once per epoch:
# Lightning 2.6 tests (batch_idx + 1) % frequency with the batch index WITHIN the epoch
# (lightning/pytorch/loops/training_epoch_loop.py, _update_learning_rates): 2 scheduler steps in 6 updates.
CASES = [("epoch", 1, 6), ("step", 2, 6)]


@pytest.mark.framework
@pytest.mark.parametrize("interval,frequency,updates", CASES)
def test_scheduler_not_per_update_is_flagged(tmp_path, interval, frequency, updates):
    ckpt, used, next_lr, sched_steps = _run(tmp_path, interval, frequency, updates)
    assert len(used) == updates and sched_steps != updates
    r = run_cli("inspect", str(ckpt), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["position"]["global_step"] == updates and j["position"]["last_epoch"] == sched_steps
    assert j["next_step"] == updates  # the update count, not the scheduler's count
    assert any("last_epoch" in n and "global_step" in n and n.startswith("warning") for n in j["notes"])
    assert any("--plan" in m for m in j["missing"])
    assert j["check"]["stored"] == next_lr and j["check"]["recomputed"] is None  # no silently wrong curve
    r = run_cli("at-step", str(updates + 1), str(ckpt))
    assert r.returncode == 2 and "--plan" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.framework
def test_frequency_2_with_plan_matches_the_run(tmp_path):
    """4 batches per epoch, frequency=2: the real run halves the LR every 2 updates. With --plan giving that
    per-update curve, the position and the stored-LR check are those of the real run."""
    import numpy as np

    from conftest import assert_lr_close
    from lrplan.sources import load
    from lrplan.checkpoints import compare, read_info
    from lrplan.evaluate import lr
    from lrplan.frameworks.base import ReadOptions

    ckpt, used, next_lr, sched_steps = _run(tmp_path, "step", 2, 6, batches_per_epoch=4)
    assert sched_steps == 3
    opts = ReadOptions(steps="20", lr=BASE_LR)
    info = read_info(ckpt, opts, plan=load("exp(rate=0.5,every=2,staircase=true)", opts=opts))
    assert info.next_step == 6
    assert_lr_close(lr(info.loaded.schedule, np.arange(7)), used + [next_lr])
    c = compare(info)
    assert c["match"] is True and c["stored"] == next_lr
    wrong = read_info(ckpt, opts, plan=load("exp(rate=0.5,every=1,staircase=true)", opts=opts))
    assert compare(wrong)["match"] is False  # a per-scheduler-step plan is caught by the stored LR


@pytest.mark.framework
def test_per_step_interval_still_reads_without_plan(tmp_path):
    """interval='step', frequency=1: last_epoch == global_step, the rebuilt scheduler is per update."""
    ckpt, used, next_lr, _ = _run(tmp_path, "step", 1, 5)
    r = run_cli("at-step", "5", str(ckpt), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["lr"] == pytest.approx(next_lr, rel=1e-12) and out["check"]["match"] is True
    assert not any(n.startswith("warning") for n in out["notes"])
    r = run_cli("table", str(ckpt), "--at", "0,1,2,3,4", "--format", "json")
    assert [p["lr"] for p in json.loads(r.stdout)["points"]] == pytest.approx(used, rel=1e-12)
