"""SWA: the ``swa`` phase against torch's real ``SWALR`` and Lightning's real ``StochasticWeightAveraging``.

1. The emitted ``--to torch`` code (LambdaLR, then SWALR built at the hand-over, AveragedModel) executed
   with a real optimizer and stepped 12,000 updates, for ``anneal_epochs`` 0, 1 and many, both
   strategies, stepped per update and per epoch: each update's LR against lrplan's evaluation.
2. lrplan's model of SWALR's recurrence (``swalr_get_lr``) against the real class, bit for bit,
   also while another scheduler keeps re-writing the LR (the "re-basing" the closed form does not have).
3. The torch documentation's recipe (``CosineAnnealingLR(T_max=300)``, ``epoch > swa_start``).
4. The emitted ``--to lightning`` code in a real ``lightning.Trainer`` run (with and without BatchNorm).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_lr_close, require, run_cli

from lrplan.convert import convert
from lrplan.errors import InexpressibleError, SpecError
from lrplan.evaluate import lr
from lrplan.frameworks.base import WriteOptions
from lrplan.frameworks.torch.swa import swalr_get_lr, swalr_lrs
from lrplan.spec import parse_spec
from lrplan.spec.printer import print_spec

N = 12_000

CASES = {
    "cos_many_per_update": "warmup=500,cosine,swa(start=8000,lr=1e-4,anneal=1000,cos),total=12000,peak=3e-4",
    "linear_many_per_update": "warmup=500,cosine,swa(start=7000,lr=1e-4,anneal=777,linear),total=12000,peak=3e-4",
    "cos_zero_per_update": "warmup=500,constant,swa(start=6000,lr=5e-5,anneal=0),total=12000,peak=3e-4",
    "linear_one_per_update": "warmup=500,cosine,swa(start=9001,lr=5e-5,anneal=1,linear),total=12000,peak=3e-4",
    "cos_many_per_epoch": "warmup=500,cosine,swa(start=8000,lr=1e-4,anneal=5,every=50),total=12000,peak=3e-4",
    "linear_many_per_epoch": "warmup=300,1-sqrt,swa(start=6010,lr=2e-5,anneal=20,linear,every=100),total=12000,"
                             "peak=3e-4",
    "cos_zero_per_epoch": "cosine,swa(start=4000,lr=1e-4,anneal=0,every=40),total=12000,peak=3e-4",
    "cos_one_per_epoch": "cosine,swa(start=4000,lr=1e-4,anneal=1,every=60),total=12000,peak=3e-4",
    "rises_to_swa_lr": "cosine,swa(start=9000,lr=2e-4,anneal=10,every=30),total=12000,peak=3e-4",
    "from_the_start": "swa(start=0,lr=1e-4,anneal=300,linear),total=12000,peak=3e-4",
}


def torch_run(text: str, n: int) -> np.ndarray:
    """Execute emitted SWA code with a real model and optimizer; the LR of each of ``n`` updates."""
    torch = require("torch")
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    ns = {"model": model, "optimizer": optimizer}
    exec(compile(text, "<emitted>", "exec"), ns)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    got = np.empty(n)
    for k in range(n):
        got[k] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        ns["after_update"](k)
    return got


def emit(target: str, spec: str, variant: str | None = None) -> str:
    return convert(parse_spec(spec), target, WriteOptions(source_label=spec, variant=variant)).text


@pytest.mark.parametrize("name", sorted(CASES))
def test_emitted_torch_swalr(name):
    schedule = parse_spec(CASES[name])
    text = emit("torch", CASES[name])
    assert "SWALR(optimizer" in text and "AveragedModel(model)" in text
    got = torch_run(text, N)
    assert_lr_close(lr(schedule, np.arange(N)), got, what=name)


def test_emitted_torch_averages_the_window():
    """update_parameters runs once per SWALR step: after updates start + every - 1, start + 2 every - 1, ..."""
    torch = require("torch")
    text = emit("torch", CASES["cos_many_per_epoch"])
    model = torch.nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    ns = {"model": model, "optimizer": optimizer}
    exec(compile(text, "<emitted>", "exec"), ns)
    weights = []
    for k in range(N):
        model.weight.grad = torch.ones_like(model.weight)
        optimizer.step()
        weights.append(float(model.weight.detach()))
        ns["after_update"](k)
    expected = [weights[k] for k in range(8000 + 50 - 1, N, 50)]
    assert int(ns["swa_model"].n_averaged) == len(expected) == 80
    assert float(ns["swa_model"].module.weight) == pytest.approx(np.mean(expected), rel=1e-6)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal", [0, 1, 2, 7, 100])
def test_swalr_recurrence_model_is_bit_exact(strategy, anneal):
    torch = require("torch")
    from torch.optim.swa_utils import SWALR

    # plain: SWALR alone after an ExponentialLR brought the LR somewhere
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.9 ** 7)
    sched = SWALR(opt, swa_lr=0.05, anneal_epochs=anneal, anneal_strategy=strategy)
    real = [opt.param_groups[0]["lr"]]
    for _ in range(anneal + 20):
        opt.step()
        sched.step()
        real.append(opt.param_groups[0]["lr"])
    assert swalr_lrs(0.9 ** 7, 0.05, anneal, strategy, len(real)) == real
    # re-basing: an ExponentialLR keeps writing the LR between SWALR's steps
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    other = torch.optim.lr_scheduler.ExponentialLR(opt, 0.5)
    sched = SWALR(opt, swa_lr=0.1, anneal_epochs=anneal, anneal_strategy=strategy)
    cur = 1.0 if anneal else 0.1
    assert opt.param_groups[0]["lr"] == cur
    for n in range(1, anneal + 10):
        opt.step()
        other.step()
        written = opt.param_groups[0]["lr"]
        sched.step()
        cur = swalr_get_lr(written, 0.1, n, anneal, strategy)
        assert opt.param_groups[0]["lr"] == cur


def test_torch_documentation_recipe():
    """torch 2.13 swa_utils.py docstring / docs/source/optim.md: 300 epochs, CosineAnnealingLR(T_max=300),
    SWALR(swa_lr=0.05) built up front, ``if epoch > swa_start`` with swa_start = 160: SWALR's first step comes
    after epoch 161, so in lrplan the swa phase starts at epoch 161 (one position per epoch)."""
    torch = require("torch")
    from torch.optim.swa_utils import SWALR

    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    swa_scheduler = SWALR(opt, swa_lr=0.05)
    got = []
    for epoch in range(300):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        if epoch > 160:
            swa_scheduler.step()
        else:
            scheduler.step()
    schedule = parse_spec("cosine,swa(start=161,lr=0.05),total=300,peak=0.1")
    # CosineAnnealingLR's recursion is about 1e-16 off its closed form over these 161 epochs
    assert_lr_close(lr(schedule, np.arange(300)), np.asarray(got), rel=1e-13)
    assert got[161] == pytest.approx(0.044253142475356666, rel=1e-13) and got[171] == 0.05


# ---- Lightning --------------------------------------------------------------------------------------


def lightning_run(text: str, batches: int, *, batchnorm: bool) -> tuple[np.ndarray, int]:
    """Run the emitted Lightning code (its Trainer and callback) on a tiny model; (LR per update, n_averaged)."""
    L = require("lightning")
    torch = require("torch")
    ns: dict = {}
    exec(compile(text, "<emitted>", "exec"), ns)
    seen: list[float] = []

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            layers = [torch.nn.Linear(2, 3)] + ([torch.nn.BatchNorm1d(3)] if batchnorm else [])
            self.net = torch.nn.Sequential(*layers, torch.nn.Linear(3, 1))

        def training_step(self, batch, batch_idx):
            return self.net(batch).pow(2).mean()

        def on_before_optimizer_step(self, optimizer):
            seen.append(optimizer.param_groups[0]["lr"])

    Tiny.configure_optimizers = ns["configure_optimizers"]
    swa = ns["swa_callback"]()
    trainer = L.Trainer(max_epochs=ns["MAX_EPOCHS"], callbacks=[swa], accelerator="cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    data = torch.utils.data.DataLoader(torch.randn(4 * batches, 2), batch_size=4)
    trainer.fit(Tiny(), data)
    return np.asarray(seen), int(swa.n_averaged)


@pytest.mark.parametrize("spec,batchnorm", [
    ("warmup=20,cosine,swa(start=120,lr=0.02,anneal=3,cos,every=10),total=200,peak=0.1", False),
    ("cosine,swa(start=150,lr=0.02,anneal=0,every=10),total=200,peak=0.1", False),
    ("warmup=20,cosine,swa(start=100,lr=0.03,anneal=4,linear,every=10),total=200,peak=0.1", True),
])
def test_lightning_stochastic_weight_averaging(spec, batchnorm):
    text = emit("lightning", spec)
    assert "StochasticWeightAveraging(swa_lrs=SWA_LR" in text
    got, n_averaged = lightning_run(text, 10, batchnorm=batchnorm)
    schedule = parse_spec(spec)
    # with BatchNorm Lightning adds an epoch that makes one more update (at swa_lr): lrplan's hold
    assert got.size == 200 + batchnorm
    assert_lr_close(lr(schedule, np.arange(got.size)), got, what=spec)
    start = schedule.lr.segments[-1].start
    assert n_averaged == (200 - start) // 10  # averaged at the start of each epoch from the SWA epoch on


def test_lightning_refuses_a_start_inside_an_epoch():
    with pytest.raises(InexpressibleError, match="epoch boundary"):
        emit("lightning", "cosine,swa(start=125,lr=0.02,every=10),total=200,peak=0.1", variant="swa")


# ---- spec, goldens, CLI ---------------------------------------------------------------------------


def test_spec_prints_back_exactly():
    for spec in CASES.values():
        s = parse_spec(spec)
        assert parse_spec(print_spec(s)) == s
    assert print_spec(parse_spec("cosine,swa(start=161,lr=0.05),total=300,peak=0.1")) == \
        "cosine=161(span=300),swa=139(to_lr=0.05),peak=0.1,total=300"


@pytest.mark.parametrize("spec,message", [
    ("cosine,swa(start=80%),total=100", "swa needs the SWA learning rate: lr=SWA_LR (torch's swa_lr) or to=RATIO"),
    ("swa(start=80%,lr=0.01),cosine,total=100,peak=0.1",
     "swa(start=...) must be the last phase: SWALR takes over the schedule at start"),
    ("cosine,swa(start=100,lr=0.01),total=100,peak=0.1", "start=100 is not before the end of the run (100)"),
    ("cosine,swa(start=50,lr=0.01,cos,linear),total=100,peak=0.1", "give one anneal strategy (cos or linear)"),
    ("cosine,swa(start=50,lr=0.01,anneal=2.5),total=100,peak=0.1", "anneal must be a whole number >= 0"),
])
def test_spec_errors(spec, message):
    with pytest.raises(SpecError) as e:
        parse_spec(spec)
    assert e.value.message == message


def test_golden_torch(golden):
    golden("torch/swa_recipe.py", emit("torch", "cosine,swa(start=161,lr=0.05),total=300,peak=0.1"))


def test_golden_lightning(golden):
    golden("lightning/swa.py", emit("lightning", CASES["cos_many_per_epoch"]))


def test_cli_convert_to_torch_emits_swalr():
    r = run_cli("convert", "warmup=100,cosine,swa(start=80%,lr=0.05,anneal=5,cos)", "--steps", "1000", "--lr", "0.1",
                "--to", "torch")
    assert r.returncode == 0, r.stderr
    assert "SWA_START = 800" in r.stdout and "swa_scheduler = SWALR(optimizer" in r.stdout
    lam = run_cli("convert", "warmup=100,cosine,swa(start=80%,lr=0.05)", "--steps", "1000", "--lr", "0.1",
                  "--to", "torch", "--variant", "lambda")
    assert lam.returncode == 0 and "SWALR(" not in lam.stdout and "def _swa(" in lam.stdout


def test_cli_variant_swalr_without_an_swa_phase():
    r = run_cli("convert", "warmup=100,cosine", "--steps", "1000", "--to", "torch", "--variant", "swalr")
    assert r.returncode == 3
    assert "the schedule has no swa phase" in r.stderr


# ---- checkpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy,anneal,saved_after", [("cos", 7, 3), ("linear", 12, 0), ("cos", 4, 9)])
def test_torch_checkpoint_with_swalr(tmp_path, strategy, anneal, saved_after):
    """torch.save({"optimizer", "scheduler"}) of a real SWALR run, read without torch: its position, swa_lr,
    and (while annealing) the LR it took over, whose curve then continues exactly as the real SWALR does."""
    torch = require("torch")
    from torch.optim.swa_utils import SWALR

    from lrplan.checkpoints import read_info
    from lrplan.frameworks.base import ReadOptions

    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.3)
    other = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
    for _ in range(5):
        opt.step()
        other.step()
    handed_over = opt.param_groups[0]["lr"]
    sched = SWALR(opt, swa_lr=0.02, anneal_epochs=anneal, anneal_strategy=strategy)
    for _ in range(saved_after):
        opt.step()
        sched.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)
    later = []
    for _ in range(anneal + 5):
        later.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    info = read_info(path, ReadOptions())
    assert info.next_step == saved_after and info.state["swa_lr"] == 0.02
    assert info.state["anneal_epochs"] == anneal and info.state["anneal_strategy"] == strategy
    if saved_after < anneal:
        assert info.state["start_lr"] == pytest.approx(handed_over, rel=1e-12)
        got = lr(info.loaded.schedule, np.arange(saved_after, saved_after + len(later)))
        assert_lr_close(got, np.asarray(later))
    else:
        assert info.loaded is None and any("annealing is done" in n for n in info.notes)


def test_lightning_checkpoint_with_swa_callback(tmp_path):
    """A real Trainer run with StochasticWeightAveraging, checkpointed every epoch: before the swap the user
    scheduler is read as usual; after it, lr_schedulers[0] is SWALR and the callback's n_averaged is shown."""
    L = require("lightning")
    torch = require("torch")
    from lrplan.checkpoints import read_info
    from lrplan.frameworks.base import ReadOptions

    class Tiny(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.layer(batch).pow(2).mean()

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)}

    swa = L.pytorch.callbacks.StochasticWeightAveraging(swa_lrs=0.02, swa_epoch_start=4, annealing_epochs=3)
    saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_epochs=1, save_top_k=-1,
                                                filename="{epoch}")
    trainer = L.Trainer(max_epochs=10, callbacks=[swa, saver], accelerator="cpu", devices=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Tiny(), torch.utils.data.DataLoader(torch.randn(16, 2), batch_size=4))
    before = read_info(tmp_path / "epoch=1.ckpt", ReadOptions())
    assert before.state["scheduler_class"] == "CosineAnnealingLR"
    assert any("SWA has not started yet" in n for n in before.notes)
    # swa_start = 3 (0-based): SWALR built at the start of epoch 3, stepped at the end of epochs 3 and 4
    mid = read_info(tmp_path / "epoch=4.ckpt", ReadOptions())
    assert mid.state["scheduler_class"] == "SWALR" and mid.state["swa_lr"] == 0.02
    assert mid.next_step == 2 and mid.state["n_averaged"] == 2
    # the LR it took over is the cosine's epoch-3 value 0.1 * (1 + cos(3 pi / 10)) / 2, recovered from _last_lr
    cosine_e3 = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), T_max=10)
    for _ in range(3):
        cosine_e3.optimizer.step()
        cosine_e3.step()
    assert mid.state["start_lr"] == pytest.approx(cosine_e3.get_last_lr()[0], rel=1e-12)
    done = read_info(tmp_path / "epoch=8.ckpt", ReadOptions())
    assert done.loaded is None and done.stored_lr == 0.02


# ---- lint and explain ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule,fires,quiet", [
    ("LR040", "cosine,swa(start=161,lr=0.05),total=300,peak=0.1", "cosine,swa(start=100,lr=0.05),total=300,peak=0.1"),
    ("LR041", "cosine,swa(start=280,lr=0.01,anneal=10,every=3),total=300,peak=0.1",
     "cosine,swa(start=260,lr=0.01,anneal=10,every=3),total=300,peak=0.1"),
    ("LR042", "cosine,swa(start=295,lr=0.01,every=3),total=300,peak=0.1",
     "cosine,swa(start=294,lr=0.01,every=3),total=300,peak=0.1"),
])
def test_swa_lint_rules(rule, fires, quiet):
    from lrplan.lint import run
    from lrplan.sources import load

    assert [f.rule for f in run(load(fires), only={rule})] == [rule]
    assert run(load(quiet), only={rule}) == []


def test_explain_names_the_averaging_window():
    r = run_cli("explain", "warmup=100,cosine,swa(start=80%,lr=0.05,anneal=5,linear,every=10)", "--steps", "1000",
                "--lr", "0.1")
    assert r.returncode == 0, r.stderr
    import math

    handed_over = 0.1 * 0.5 * (1 + math.cos(math.pi * 700 / 900))  # the cosine (steps 100-999) at step 800
    assert (f"swa, steps 800-999 (200 steps, 20% of the run): is SWA (torch SWALR): anneals from {handed_over:.4g} "
            f"({100 * handed_over / 0.1:.1f}% of peak) to swa_lr 0.05 (50% of peak) over 5 SWALR steps (linear, one every 10 position(s)), then holds it; "
            "the weights are averaged over this phase") in " ".join(r.stdout.split())


# ---- presets (values from each source's own formula, at hand-picked steps) ---------------------------


@pytest.mark.parametrize("name,step,expected", [
    # epfml/schedules-and-scaling wsd_schedule(15000, n_warmup=300, fract_decay=0.1 / 0.2, decay_type="sqrt")
    ("hagele-2024-cooldown-10", 0, 1e-3 * (0 + 1 / 100)),
    ("hagele-2024-cooldown-10", 150, 1e-3 * (150 / 300 + (1 - 150 / 300) / 100)),
    ("hagele-2024-cooldown-10", 13499, 1e-3),
    ("hagele-2024-cooldown-10", 13500, 1e-3),
    ("hagele-2024-cooldown-10", 14000, 1e-3 * (1 - (500 / 1500) ** 0.5)),
    ("hagele-2024-cooldown-10", 14999, 1e-3 * (1 - (1499 / 1500) ** 0.5)),
    ("hagele-2024-cooldown-20", 12000, 1e-3),
    ("hagele-2024-cooldown-20", 13500, 1e-3 * (1 - (1500 / 3000) ** 0.5)),
    # timgaripov/swa train.py schedule(epoch) with lr_init 0.05, swa_start 161, swa_lr 0.01
    ("swa-izmailov-vgg16", 80, 0.05),
    ("swa-izmailov-vgg16", 81, 0.05 * (1 - (1 - 0.2) * (81 / 161 - 0.5) / 0.4)),
    ("swa-izmailov-vgg16", 144, 0.05 * (1 - (1 - 0.2) * (144 / 161 - 0.5) / 0.4)),
    ("swa-izmailov-vgg16", 145, 0.01),
    ("swa-izmailov-vgg16", 299, 0.01),
])
def test_preset_values(name, step, expected):
    from lrplan.evaluate import lr_at
    from lrplan.sources import load

    assert lr_at(load(name).schedule, step) == pytest.approx(expected, rel=1e-12)


def test_swa_torch_recipe_preset_is_the_real_recipe():
    """The preset against the recipe run with torch's own classes (see test_torch_documentation_recipe)."""
    torch = require("torch")
    from torch.optim.swa_utils import SWALR

    from lrplan.sources import load

    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    swa_scheduler = SWALR(opt, swa_lr=0.05)
    got = []
    for epoch in range(300):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        (swa_scheduler if epoch > 160 else scheduler).step()
    assert_lr_close(lr(load("swa-torch-recipe").schedule, np.arange(300)), np.asarray(got), rel=1e-13)


def test_plot_marks_the_averaging_window():
    from lrplan.render.files import plot_page
    from lrplan.render.terminal import Series

    page = plot_page([Series(parse_spec("cosine,swa(start=161,lr=0.05),total=300,peak=0.1"), "swa")], 300)
    assert (161, "swa: averaging from here", "phase", 0) in page.panels[0].vlines
