"""Lightning writer, tested two ways:

1. a real ``lightning.Trainer`` run on CPU (a few hundred optimizer updates, with and without
   gradient accumulation), reading the LR each update uses from a callback's
   ``on_before_optimizer_step`` (called right before ``optimizer.step()``);
2. the emitted ``configure_optimizers`` executed and its scheduler stepped 12k times the way
   Lightning does (``LightningModule.lr_scheduler_step`` -> ``scheduler.step()`` after each update).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.evaluate import lr
from lrplan.spec import parse_spec
from lrplan.ir import ONE, ZERO, Axis, Level, RampupBatch, Segment
from test_torch import CASES, N, PEAK, _s, emit


def module_class(text: str):
    """A tiny LightningModule whose configure_optimizers is the emitted one."""
    L = require("lightning")
    torch = require("torch")
    ns: dict = {}
    exec(compile(text, "<emitted>", "exec"), ns)

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).pow(2).mean()

    Tiny.configure_optimizers = ns["configure_optimizers"]
    return Tiny


def trainer_lrs(text: str, updates: int, accumulate: int = 1) -> np.ndarray:
    L = require("lightning")
    torch = require("torch")
    seen: list[float] = []

    class RecordLR(L.Callback):
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            seen.append(optimizer.param_groups[0]["lr"])

    data = torch.utils.data.DataLoader(torch.randn(64, 2), batch_size=4)
    trainer = L.Trainer(max_steps=updates, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accumulate_grad_batches=accumulate,
                        callbacks=[RecordLR()])
    trainer.fit(module_class(text)(), data)
    assert len(seen) == updates
    return np.asarray(seen)


SHORT = {
    "warmup_cosine": parse_spec("warmup=40,cosine,min=0.1", steps="250", lr=PEAK),
    "samples_ramp": _s(Segment("linear", 0, 2000, ZERO, ONE), Segment("1-sqrt", 2000, 40_000, ONE, Level(0.1)),
                       total=40_000.0, axis=Axis("samples", RampupBatch(32, 32, 6000, 256))),
}


@pytest.mark.parametrize("accumulate", [1, 3])
@pytest.mark.parametrize("name", sorted(SHORT))
def test_real_trainer_run(name, accumulate):
    case = SHORT[name]
    got = trainer_lrs(emit("lightning", case), 300, accumulate)
    assert_lr_close(got, lr(case, np.arange(300)), what=name)


@pytest.mark.parametrize("name", ["warmup_cosine_min", "restarts", "samples_rampup", "tokens_stepbatch",
                                  "titan_origin", "periodic"])
def test_configure_optimizers_stepped_like_lightning(name):
    case = CASES[name]
    model = module_class(emit("lightning", case))()
    cfg = model.configure_optimizers()
    assert cfg["lr_scheduler"]["interval"] == "step" and cfg["lr_scheduler"]["frequency"] == 1
    opt, sched = cfg["optimizer"], cfg["lr_scheduler"]["scheduler"]
    got = np.empty(N)
    for k in range(N):
        got[k] = opt.param_groups[0]["lr"]
        opt.step()
        model.lr_scheduler_step(sched, None)  # what Lightning calls for interval "step"
    assert_lr_close(got, lr(case, np.arange(N)), what=name)


def test_multiplier_only_leaves_lr_to_the_user():
    text = emit("lightning", CASES["multiplier_only"])
    assert "lr=1e-3)  # your lr" in text


@pytest.mark.parametrize("name", ["warmup_cosine_min"])
def test_golden(name, golden):
    golden(f"lightning/{name}.py", emit("lightning", CASES[name]))


def test_cli_convert_to_lightning():
    r = run_cli("convert", "warmup=40,cosine,min=0.1", "--steps", "250", "--lr", "3e-4", "--to", "lightning")
    assert r.returncode == 0, r.stderr
    assert_lr_close(trainer_lrs(r.stdout, 250), lr(SHORT["warmup_cosine"], np.arange(250)))


def test_no_fake_deviation():
    """An exact artefact has no deviation; dropping a companion curve under --approx says which, not (0, 0)."""
    from lrplan.convert import convert
    from lrplan.frameworks.base import WriteOptions
    from lrplan.spec import parse_spec

    exact = convert(parse_spec("warmup=100,cosine,min=0.1", steps="1000", lr=3e-4), "lightning", WriteOptions())
    assert exact.deviation is None
    with_wd = parse_spec("warmup=100,cosine,min=0.1,wd=0.1", steps="1000", lr=3e-4)
    approx = convert(with_wd, "lightning", WriteOptions(approx=True))
    assert approx.deviation.lr.exact and approx.deviation.worst.curve == "weight_decay"
