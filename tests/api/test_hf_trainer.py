"""A REAL HF ``Trainer`` run with ``optimizers=(opt, LRScheduler(opt, plan))`` and gradient accumulation:
the LR of every update (read by a callback right before ``optimizer.step()``) against ``plan.lr(k)``,
``lrplan at-step``/``inspect`` on the saved ``checkpoint-N`` recovering the plan (not the
``lr_scheduler_type`` in training_args.bin, which never ran), ``resume_from_checkpoint`` continuing on
the plan, and the ``LRGuard`` callback failing at the first update that leaves it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require, run_cli

import lrplan

torch = require("torch")
transformers = require("transformers")
from lrplan.integrations.hf import LRDivergence, LRGuard
from lrplan.torch import LRScheduler

SPEC = "warmup=6,cosine,min=0.1"
MAX_STEPS, SAVE_STEPS, ACCUM, BATCH = 24, 12, 3, 4


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)

    def forward(self, x, labels):
        return {"loss": torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), labels)}


class Record(transformers.TrainerCallback):
    """The LR each update uses: the first param group's lr right before optimizer.step()."""

    def __init__(self):
        self.used = []

    def on_pre_optimizer_step(self, args, state, control, **kw):
        self.used.append((state.global_step, float(kw["optimizer"].param_groups[0]["lr"])))


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(MAX_STEPS * ACCUM * BATCH, 4, generator=g)
    return [{"x": xi, "labels": xi.sum()} for xi in x]


def trainer(out, plan, callbacks, **kw):
    torch.manual_seed(0)
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    sched = LRScheduler(opt, plan, **kw)
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=MAX_STEPS, per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=ACCUM, save_strategy="steps", save_steps=SAVE_STEPS, logging_steps=1,
        report_to=[], use_cpu=True, disable_tqdm=True, remove_unused_columns=False, dataloader_num_workers=0,
        lr_scheduler_type="linear", learning_rate=5e-3, seed=0)
    return transformers.Trainer(model=model, args=args, train_dataset=data(), optimizers=(opt, sched),
                                callbacks=callbacks)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf")
    plan = lrplan.load(SPEC, steps=MAX_STEPS, lr=5e-3)
    rec, guard = Record(), LRGuard(plan)
    trainer(out, plan, [rec, guard]).train()
    return plan, rec.used, guard, out


def test_every_update_follows_the_plan(run):
    plan, used, guard, _ = run
    assert [k for k, _ in used] == list(range(MAX_STEPS))  # once per update, not per micro-batch
    assert [lr for _, lr in used] == plan.lr(np.arange(MAX_STEPS)).tolist()
    assert guard.checked == MAX_STEPS and guard.first_divergence is None
    assert used[3][1] == pytest.approx(5e-3 * 3 / 6, rel=1e-15)  # hand-checked warmup point


def test_the_cli_recovers_the_plan_from_the_hf_checkpoint(run):
    plan, used, _, out = run
    ck = out / f"checkpoint-{SAVE_STEPS}"
    r = run_cli("at-step", "20", str(ck), "--json")
    assert r.returncode == 0, r.stderr
    at = json.loads(r.stdout)
    assert at["framework"] == "hf" and at["next_step"] == SAVE_STEPS
    assert at["lr"] == pytest.approx(used[20][1], rel=1e-12)
    assert at["check"]["match"] is True and at["check"]["stored"] == used[SAVE_STEPS][1]
    assert any("lr_scheduler_type did not run" in n for n in at["notes"])
    ins = run_cli("inspect", str(ck), "--json")
    assert ins.returncode == 0, ins.stderr
    log_rule = json.loads(ins.stdout)["log_history"]
    assert log_rule["entries"] == SAVE_STEPS and log_rule["rule"] != "neither"
    recovered = lrplan.load(run_cli("convert", str(ck), "--to", "json").stdout)
    assert recovered == plan


def test_resume_from_checkpoint_continues_on_the_plan(run, tmp_path):
    plan, used, _, out = run
    import shutil

    shutil.copytree(out / f"checkpoint-{SAVE_STEPS}", tmp_path / f"checkpoint-{SAVE_STEPS}")
    rec = Record()
    trainer(tmp_path, plan, [rec]).train(resume_from_checkpoint=str(tmp_path / f"checkpoint-{SAVE_STEPS}"))
    assert rec.used == used[SAVE_STEPS:]


def test_resume_with_a_changed_plan_is_refused(run, tmp_path):
    _, _, _, out = run
    other = lrplan.load("warmup=6,cosine,min=0.2", steps=MAX_STEPS, lr=5e-3)
    with pytest.raises(lrplan.LrplanError, match=f"at the resume step {SAVE_STEPS} the LR changes from"):
        trainer(tmp_path, other, []).train(resume_from_checkpoint=str(out / f"checkpoint-{SAVE_STEPS}"))


def test_the_guard_fails_at_the_first_divergence(tmp_path):
    # the scheduler follows min=0.1, the guard a plan with min=0.2: they part after the warmup (update 7)
    ran = lrplan.load(SPEC, steps=MAX_STEPS, lr=5e-3)
    guard = LRGuard("warmup=6,cosine,min=0.2", steps=MAX_STEPS, lr=5e-3)
    with pytest.raises(LRDivergence, match=r"update 7 runs at LR .*, the plan says .*first divergence"):
        trainer(tmp_path, ran, [guard]).train()
    assert guard.first_divergence[0] == 7
    warn = LRGuard("warmup=6,cosine,min=0.2", mode="warn", steps=MAX_STEPS, lr=5e-3)
    with pytest.warns(UserWarning, match="update 7 runs at LR"):
        trainer(tmp_path / "w", ran, [warn]).train()
    assert warn.checked == MAX_STEPS and warn.first_divergence[0] == 7
