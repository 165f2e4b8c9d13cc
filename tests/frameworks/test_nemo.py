"""NeMo dialect: differential tests against NeMo's own scheduler code, its real configs, the writer's output
run in NeMo, golden files, error texts and CLI transcripts.

The reference side is the REAL ``nemo/core/optim/lr_scheduler.py`` of the installed nemo_toolkit (2.7.3,
``pip install --no-deps``), loaded standalone by ``tests/fixtures/make_nemo_checkpoint.py``
(``nemo/__init__`` imports lightning callbacks, megatron, nv_one_logger ... and fails here; the module's own
imports are stubbed only where they do not touch the schedules). Schedulers are built by NeMo's real
``prepare_lr_scheduler`` from the ``sched`` mapping, with ``max_steps`` injected the way
``ModelPT.setup_optimization`` does (``trainer.max_steps`` when >= 0, else the ``t_*`` keys and a real torch
DataLoader), and stepped as Lightning steps them: ``optimizer.step()`` then ``scheduler.step()``; the LR
update k uses is read before its step. Configs (the repository's and lrplan's output) are loaded with
OmegaConf, NeMo's own config loader.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_lr_close, require, run_cli, stepped_lrs

from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.frameworks.nemo.tables import SCHEDULERS
from lrplan.spec import parse_spec

FIX = Path(__file__).parents[1] / "fixtures"
CONFIGS = FIX / "nemo"
FMT = get("nemo")
sys.path.insert(0, str(FIX))


@pytest.fixture(scope="module")
def nemo():
    """nemo.core.optim.lr_scheduler, loaded standalone (about 3 s, almost all of it torch)."""
    require("torch")
    require("omegaconf")
    if importlib.util.find_spec("nemo") is None:
        if os.environ.get("CI"):
            pytest.fail("nemo_toolkit is needed for the NeMo differential tests (pip install --no-deps "
                        "nemo_toolkit==2.7.3)")
        pytest.skip("nemo_toolkit not installed")
    import make_nemo_checkpoint

    warnings.filterwarnings("ignore", module="nemo")
    return make_nemo_checkpoint.load_nemo_lr_scheduler()


def scheduler(nemo, sched: dict, base: float, dataloader=None):
    import torch

    class SGD(torch.optim.SGD):
        def step(self, closure=None):
            return None

    # optimizer.step() then scheduler.step(), as the trainer calls them; the step itself is a no-op (the weights
    # never change an LR, and torch's real SGD/AdamW step would be 95% of the time of these 10k-step loops)
    opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    built = nemo.prepare_lr_scheduler(opt, dict(sched), dataloader)
    assert built is not None, "NeMo created no scheduler"
    return opt, built["scheduler"]


def stepped(nemo, sched: dict, base: float, n: int, dataloader=None) -> np.ndarray:
    """The LR each of the first n updates uses, stepping the real scheduler as Lightning does."""
    opt, s = scheduler(nemo, sched, base, dataloader)
    return stepped_lrs(opt, s, n)


def closed(nemo, sched: dict, base: float, steps, dataloader=None) -> np.ndarray:
    """NeMo's get_lr() at last_epoch = k for each k (its schedulers are closed forms of last_epoch)."""
    _, s = scheduler(nemo, sched, base, dataloader)
    out = []
    for k in steps:
        s.last_epoch = int(k)
        s._get_lr_called_within_step = True
        out.append(s.get_lr()[0])
    return np.asarray(out)


def yaml_text(sched: dict, base: float, T: int | None) -> str:
    cfg = {"model": {"optim": {"name": "adamw", "lr": base, "sched": sched}}}
    if T is not None:
        cfg = {"trainer": {"max_steps": T}} | cfg
    return yaml.safe_dump(cfg, sort_keys=False)


def ours(sched: dict, base: float, T: int, steps, **opts):
    return lr(FMT.read(yaml_text(sched, base, T), None, ReadOptions(**opts)).schedule, steps)


def check_run(nemo, sched: dict, base: float, T: int, after: int = 40):
    """Every update of the run [0, T) and, from T + 1 on, NeMo's min_lr tail (update T is never run)."""
    theirs = stepped(nemo, dict(sched, max_steps=T), base, T + after)
    steps = np.arange(T + after)
    mine = ours(sched, base, T, steps)
    assert_lr_close(mine[:T], theirs[:T])
    assert_lr_close(mine[T + 1:], theirs[T + 1:], what="after max_steps")


# (sched, base LR, max_steps): every scheduler NeMo registers that lrplan reads, with its edge cases.
CASES = [
    ({"name": "CosineAnnealing", "warmup_steps": 500, "min_lr": 2e-5}, 2e-4, 10_000),
    ({"name": "CosineAnnealing", "warmup_ratio": 0.05, "min_lr": 0.0}, 3e-4, 10_001),
    ({"name": "CosineAnnealing", "warmup_steps": 1, "min_lr": 1e-5}, 2.0, 12_000),  # lr >> min_lr: NeMo's order
    ({"name": "CosineAnnealing", "warmup_steps": 0, "min_lr": 0.0}, 0.1, 10_000),
    ({"name": "CosineAnnealing", "warmup_steps": 500, "constant_steps": 2000, "min_lr": 2e-5}, 2e-4, 10_000),
    ({"name": "CosineAnnealing", "warmup_steps": 0, "constant_ratio": 0.25, "min_lr": 1e-5}, 1e-3, 10_000),
    ({"name": "CosineAnnealing", "warmup_steps": 6000, "constant_steps": 5000, "min_lr": 1e-5}, 1e-3, 10_000),
    ({"name": "WarmupPolicy", "warmup_steps": 300}, 1e-3, 10_000),
    ({"name": "WarmupHoldPolicy", "warmup_steps": 300, "hold_steps": 4000, "min_lr": 1e-5}, 1e-3, 10_000),
    ({"name": "WarmupHoldPolicy", "warmup_ratio": 0.1, "hold_steps": 20_000}, 1e-3, 10_000),  # hold past the end
    ({"name": "WarmupAnnealing", "warmup_ratio": 0.01, "min_lr": 1e-5}, 1e-4, 10_000),
    ({"name": "WarmupAnnealing", "warmup_steps": 0}, 3e-4, 10_001),
    ({"name": "SquareAnnealing", "warmup_steps": 100}, 1e-3, 10_000),  # min_lr defaults to 1e-5 here
    ({"name": "SquareAnnealing", "warmup_steps": 100, "min_lr": 0.0}, 1e-3, 10_000),
    ({"name": "SquareRootAnnealing", "warmup_ratio": 0.01, "min_lr": 0.0}, 4.375e-5, 12_000),
    ({"name": "SquareRootAnnealing", "warmup_steps": 37, "min_lr": 1e-4}, 1e-3, 10_000),
    ({"name": "InverseSquareRootAnnealing", "warmup_steps": 2500, "min_lr": 1e-6}, 3e-4, 10_000),
    ({"name": "InverseSquareRootAnnealing", "warmup_steps": 0}, 2.0, 10_000),
    ({"name": "PolynomialDecayAnnealing", "warmup_steps": 200, "power": 2.0, "min_lr": 1e-5}, 1e-3, 10_000),
    ({"name": "PolynomialDecayAnnealing", "warmup_ratio": 0.1, "power": 0.5, "cycle": True}, 1e-3, 12_000),
    ({"name": "PolynomialHoldDecayAnnealing", "warmup_ratio": 0.05, "hold_ratio": 0.45, "power": 2.0,
      "min_lr": 0.001}, 0.05, 10_000),  # matchboxnet_3x1x64_v1.yaml
    ({"name": "PolynomialHoldDecayAnnealing", "warmup_steps": 500, "power": 1.0}, 1e-3, 10_000),  # no hold
    ({"name": "PolynomialHoldDecayAnnealing", "warmup_steps": 3000, "power": 2.0, "cycle": True}, 1e-3, 10_000),
    ({"name": "PolynomialHoldDecayAnnealing", "warmup_steps": 100, "hold_steps": 0, "cycle": True}, 1e-3, 10_000),
    ({"name": "WarmupHoldAnnealLinear", "warmup_steps": 100, "hold_steps": 3000, "min_lr": 1e-5}, 1e-3, 10_000),
    ({"name": "WarmupHoldAnnealLinear", "warmup_ratio": 0.05}, 1e-3, 10_000),  # no hold: ratio k / max_steps
    ({"name": "WarmupHoldAnnealOneMinusSquareRoot", "warmup_ratio": 0.01, "hold_ratio": 0.8, "min_lr": 1e-4},
     1e-3, 10_000),
    ({"name": "NoamAnnealing", "d_model": 512, "warmup_steps": 10_000, "min_lr": 1e-6}, 2.0, 12_000),  # conformer
    ({"name": "NoamAnnealing", "d_model": 256, "warmup_steps": 0, "min_lr": 1e-4}, 5.0, 10_000),
    ({"name": "NoamAnnealing", "d_model": 1024, "warmup_steps": 1}, 1.0, 10_000),
    ({"name": "NoamHoldAnnealing", "warmup_steps": 500, "hold_steps": 4000, "decay_rate": 1.0, "min_lr": 1e-5},
     1e-3, 10_000),  # squeezeformer
    ({"name": "NoamHoldAnnealing", "warmup_steps": 200, "min_lr": 1e-4}, 1e-3, 10_000),
    ({"name": "T5InverseSquareRootAnnealing", "constant_steps": 1000, "min_lr": 1e-6}, 1.0, 10_000),
    ({"name": "StepLR", "step_size": 777, "gamma": 0.5}, 0.1, 10_000),
]


@pytest.mark.parametrize("sched,base,T", CASES, ids=lambda c: c["name"] if isinstance(c, dict) else str(c))
def test_reader_matches_nemo_every_step(nemo, sched, base, T):
    check_run(nemo, sched, base, T)


def test_argument_table_is_nemos_signatures(nemo):
    """SCHEDULERS[name].args are the keywords each real constructor accepts (through **kwargs to its bases)."""
    for name, spec in SCHEDULERS.items():
        cls = nemo.AVAILABLE_SCHEDULERS[name]
        accepted = set()
        for klass in cls.__mro__:
            if klass.__module__.startswith("torch"):
                break
            params = inspect.signature(klass.__init__).parameters
            accepted |= {p for p, v in params.items() if v.kind == v.KEYWORD_ONLY}
        if name == "StepLR":
            accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "optimizer", "verbose"}
        assert accepted == set(spec.args), name
        defaults = {p: v.default for klass in reversed(cls.__mro__) if not klass.__module__.startswith("torch")
                    for p, v in inspect.signature(klass.__init__).parameters.items() if v.default is not v.empty}
        if name == "StepLR":
            defaults = {"gamma": inspect.signature(cls.__init__).parameters["gamma"].default}
        for key, value in spec.defaults:
            assert defaults[key] == value, (name, key)
    registered = set(nemo.AVAILABLE_SCHEDULERS) - {"ExponentialLR", "ReduceLROnPlateau", "CyclicLR"}
    assert registered == set(SCHEDULERS)


@pytest.mark.parametrize("n,world,bs,acc,limit,drop,epochs", [
    (1001, 2, 8, 4, 1.0, False, 3), (10_000, 1, 16, 1, 1.0, False, 50), (999, 3, 7, 2, 0.5, True, 4),
    (5000, 4, 10, 3, 20, False, 2), (64, 1, 8, 1, 0.0, False, 5)])
def test_max_steps_from_epochs_is_compute_max_steps(nemo, n, world, bs, acc, limit, drop, epochs):
    real = nemo.compute_max_steps(max_epochs=epochs, accumulate_grad_batches=acc, limit_train_batches=limit,
                                  num_workers=world, num_samples=n, batch_size=bs, drop_last=drop)
    cfg = {"trainer": {"max_steps": -1, "max_epochs": epochs, "accumulate_grad_batches": acc,
                       "limit_train_batches": limit, "devices": world, "num_nodes": 1},
           "model": {"train_ds": {"batch_size": bs, "drop_last": drop},
                     "optim": {"lr": 1e-3, "sched": {"name": "CosineAnnealing", "warmup_steps": 0}}}}
    if real == 0:
        with pytest.raises(LrplanError):
            FMT.read(yaml.safe_dump(cfg), None, ReadOptions(extra=(("dataset_size", str(n)),)))
        return
    ld = FMT.read(yaml.safe_dump(cfg), None, ReadOptions(extra=(("dataset_size", str(n)),)))
    assert ld.schedule.total == real


# ---- the repository's own configs ------------------------------------------------------------------------

def omegaconf_sched(path: Path, **trainer_overrides):
    """What ModelPT.setup_optimization hands prepare_lr_scheduler for this config, via OmegaConf."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(path)
    optim = OmegaConf.to_container(cfg.model.optim, resolve=True)
    sched = dict(optim["sched"])
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True) | trainer_overrides
    if trainer.get("max_steps", -1) >= 0:
        sched["max_steps"] = trainer["max_steps"]
    else:  # the Trainer's properties for these values (Lightning turns limit_train_batches None into 1.0)
        limit = trainer.get("limit_train_batches")
        sched.update(t_max_epochs=trainer["max_epochs"], t_accumulate_grad_batches=trainer["accumulate_grad_batches"],
                     t_limit_train_batches=1.0 if limit is None else limit, t_num_workers=trainer_overrides["workers"])
    return sched, optim["lr"]


# file -> (lrplan --set/--steps options, dataset size for NeMo's dataloader, data-parallel workers)
REAL = {
    "megatron_gpt_config.yaml": ({}, None, None),
    "megatron_falcon_config.yaml": ({}, None, None),
    "megatron_t5_config.yaml": ({}, None, None),
    "fast-conformer_aed.yaml": ({}, None, None),
    "bert_pretraining_from_preprocessed_config.yaml": ({}, None, None),
    "speech_to_text_finetune.yaml": ({"dataset_size": 10_000, "world_size": 2}, 10_000, 2),
    "matchboxnet_3x1x64_v1.yaml": ({"dataset_size": 7_000}, 7_000, 1),
    "squeezeformer_ctc_bpe.yaml": ({"dataset_size": 500, "world_size": 4}, 500, 4),
    "conformer_ctc_bpe.yaml": ({"dataset_size": 100_000, "world_size": 8}, 100_000, 8),
}


@pytest.mark.parametrize("name", list(REAL))
def test_repository_configs_match_nemo(nemo, name):
    import torch

    extra, n, workers = REAL[name]
    path = CONFIGS / name
    assert path.read_text().startswith("# lrplan fixture copy -- source: github.com/NVIDIA/NeMo")
    ld = FMT.read(path.read_text(), path, ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items())))
    sched, base = omegaconf_sched(path, **({"workers": workers} if workers else {}))
    dl = None
    if n is not None:  # a real DataLoader of n samples: prepare_lr_scheduler reads len(dataset), batch_size
        from omegaconf import OmegaConf

        dl = torch.utils.data.DataLoader(torch.zeros(n), batch_size=OmegaConf.load(path).model.train_ds.batch_size)
    T = int(ld.schedule.total)
    first = min(T, 12_000)
    assert_lr_close(lr(ld.schedule, np.arange(first)), stepped(nemo, sched, base, first, dl))
    if T > first:  # long runs: NeMo's closed form around every boundary and on a spread of steps
        bounds = [int(b) for b in ld.schedule.lr.boundaries()]
        ks = sorted({k for b in bounds for k in range(max(0, b - 300), min(T, b + 300))}
                    | set(np.linspace(0, T - 1, 2000).astype(int).tolist()))
        assert_lr_close(lr(ld.schedule, np.asarray(ks)), closed(nemo, sched, base, ks, dl), steps=ks)


def test_repository_configs_are_detected():
    for path in sorted(CONFIGS.glob("*.yaml")):
        assert FMT.detect(path.read_text(), path) == 9, path.name
        from lrplan.sources import detect

        assert detect(path.read_text(), path) == "nemo", path.name


def test_epoch_configs_need_the_dataset_size():
    text = (CONFIGS / "speech_to_text_finetune.yaml").read_text()
    with pytest.raises(LrplanError) as e:
        FMT.read(text, None, ReadOptions())
    assert "trainer.max_steps" in e.value.render() and "--set dataset_size=N" in e.value.render()
    with pytest.raises(LrplanError) as e:  # devices: -1 (every GPU): the worker count is not in the file
        FMT.read(text, None, ReadOptions(extra=(("dataset_size", "1000"),)))
    assert "trainer.devices" in e.value.render() and "world_size" in e.value.render()
    ld = FMT.read(text, None, ReadOptions(steps="20000"))
    assert ld.schedule.total == 20_000 and any("--steps" in n for n in ld.notes)


# ---- conventions, notes, errors ------------------------------------------------------------------------


def test_first_update_and_megatron_branch_notes():
    ld = FMT.read((CONFIGS / "megatron_gpt_config.yaml").read_text(), None, ReadOptions())
    assert lr(ld.schedule, [0, 500])[0] == pytest.approx(2e-4 / 501, rel=1e-15)
    assert lr(ld.schedule, [500])[0] == 2e-4
    assert any("(k+1)/(W+1)" in n and "step 500" in n for n in ld.notes)
    falcon = FMT.read((CONFIGS / "megatron_falcon_config.yaml").read_text(), None, ReadOptions())
    assert lr(falcon.schedule, [0])[0] == 0.0 and lr(falcon.schedule, [500])[0] == 2e-4
    assert any("Megatron cosine" in n and "49500" in n for n in falcon.notes)
    assert falcon.step_name(7) == "NeMo (Lightning) logs this LR at step 7"


def test_trainer_max_steps_overrides_sched_and_minus_one_means_no_scheduler():
    sched = {"name": "CosineAnnealing", "warmup_steps": 10, "max_steps": 500}
    ld = FMT.read(yaml_text(sched, 1e-3, 2000), None, ReadOptions())
    assert ld.schedule.total == 2000 and any("overrides" in n for n in ld.notes)
    cfg = yaml.safe_dump({"trainer": {"max_steps": -1, "max_epochs": 3},
                          "model": {"optim": {"lr": 1e-3, "sched": dict(sched, max_steps=-1)}}})
    ld = FMT.read(cfg, None, ReadOptions())
    assert lr(ld.schedule, [0, 10_000]).tolist() == [1e-3, 1e-3]
    assert any("creates no scheduler" in n for n in ld.notes)


def test_minus_one_max_steps_is_no_scheduler_in_nemo(nemo):
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    assert nemo.prepare_lr_scheduler(opt, {"name": "CosineAnnealing", "max_steps": -1}) is None


BAD = [
    ({"name": "CosineAnnealing", "warmup_steps": 10, "warmup_ratio": 0.1}, 1e-3,
     "model.optim.sched.warmup_ratio: both warmup_steps and warmup_ratio are set"),
    ({"name": "CosineAnnealing", "interval": "step"}, 1e-3,
     "model.optim.sched.interval: CosineAnnealing takes no argument 'interval'"),
    ({"name": "CosineAnnealing", "hold_steps": 10}, 1e-3, "CosineAnnealing takes no argument 'hold_steps'"),
    ({"name": "CosineAnnealing", "last_epoch": 5}, 1e-3, "model.optim.sched.last_epoch: last_epoch 5: torch requires"),
    ({"name": "CosineAnealing"}, 1e-3, "unknown scheduler 'CosineAnealing'"),
    ({"name": "ExponentialLR", "gamma": 0.9}, 1e-3, "once per epoch"),
    ({"name": "NoamAnnealing", "warmup_steps": 10}, 1e-3, "model.optim.sched.d_model: NoamAnnealing needs d_model"),
    ({"name": "NoamHoldAnnealing"}, 1e-3, "NoamHoldAnnealing needs warmup_steps > 0"),
    ({"name": "NoamHoldAnnealing", "warmup_steps": 5, "decay_rate": 0.7}, 1e-3,
     "model.optim.sched.decay_rate: NoamHoldAnnealing with decay_rate 0.7"),
    ({"name": "CosineAnnealing", "min_lr": 0.1}, 1e-3, "model.optim.lr 0.001 is below min_lr 0.1"),
    ({"name": "CosineAnnealing", "constant_steps": 5, "min_lr": 1e-3}, 1e-3, "must be above min_lr"),
    ({"name": "T5InverseSquareRootAnnealing"}, 1e-3, "T5InverseSquareRootAnnealing computes 1 / constant_steps"),
    ({"name": "CosineAnnealing", "warmup_steps": -3}, 1e-3, "model.optim.sched.warmup_steps: must be at least 0"),
    ({"name": "CosineAnnealing", "warmup_steps": 2.5}, 1e-3, "model.optim.sched.warmup_steps: must be a whole number"),
    ({"name": "CosineAnnealing", "min_lr": "${model.nope}"}, 1e-3, "the interpolation ${model.nope} names a key"),
    ({"name": "CosineAnnealing", "min_lr": "${oc.env:X}"}, 1e-3, "cannot resolve the interpolation"),
    ({"name": "CosineAnnealing", "max_steps": -2}, 1e-3, None),
    ({"name": "CosineAnnealing"}, "fast", "model.optim.lr: must be a number, got str 'fast'"),
]


@pytest.mark.parametrize("sched,base,message", BAD)
def test_read_errors(sched, base, message):
    T = None if "max_steps" in sched else 1000
    with pytest.raises(LrplanError) as e:
        FMT.read(yaml_text(sched, base, T), None, ReadOptions())
    if message is None:
        message = "model.optim.sched.max_steps: must be a non-negative integer, got -2"
    assert message in e.value.render()


@pytest.mark.parametrize("sched,base", [(s, b) for s, b, _ in BAD[:2] + BAD[3:4] + BAD[7:8] + BAD[10:12]])
def test_nemo_rejects_them_too(nemo, sched, base):
    """The configs above that lrplan refuses are refused by NeMo as well (a different exception each)."""
    with pytest.raises((AssertionError, TypeError, KeyError, ValueError, ZeroDivisionError)):
        _, s = scheduler(nemo, dict(sched, max_steps=1000), base)
        for _ in range(1000):  # some raise only at their first post-warmup step
            s.step()


def test_warmup_longer_than_the_run(nemo):
    """conformer_ctc_bpe.yaml on a tiny dataset: 1000 updates, warmup_steps 10000 -- NeMo just keeps warming up."""
    extra = (("dataset_size", "100"), ("world_size", "8"))
    ld = FMT.read((CONFIGS / "conformer_ctc_bpe.yaml").read_text(), None, ReadOptions(extra=extra))
    assert ld.schedule.total == 1000 and ld.schedule.lr.segments[1].label == "ramp"
    assert any("never decays" in n for n in ld.notes)
    sched, base = omegaconf_sched(CONFIGS / "conformer_ctc_bpe.yaml", workers=8)
    import torch

    dl = torch.utils.data.DataLoader(torch.zeros(100), batch_size=16)
    assert_lr_close(lr(ld.schedule, np.arange(1000)), stepped(nemo, sched, base, 1000, dl))


def test_d_model_interpolation_is_resolved():
    ld = FMT.read((CONFIGS / "conformer_ctc_bpe.yaml").read_text(), None, ReadOptions(steps="20000"))
    assert ld.raw["_effective"]["d_model"] == 512.0


def test_yaml_string_numbers():
    """PyYAML reads 2e-4 (no dot) as a string; OmegaConf and NeMo read a number."""
    text = "trainer:\n  max_steps: 100\nmodel:\n  optim:\n    lr: 2e-4\n    sched:\n      name: WarmupAnnealing\n" \
           "      min_lr: 1e-5\n"
    ld = FMT.read(text, None, ReadOptions())
    assert ld.schedule.peak_lr == 2e-4 and ld.raw["_effective"]["min_lr"] == 1e-5


# ---- the writer --------------------------------------------------------------------------------------------


def emit(schedule, **kw):
    return convert(schedule, "nemo", WriteOptions(source_label="test", version="0.0-test", **kw))


def run_emitted(nemo, text: str, n: int) -> np.ndarray:
    """The emitted YAML loaded by OmegaConf and run in NeMo, as ModelPT would (trainer.max_steps injected)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(text)
    optim = OmegaConf.to_container(cfg.model.optim, resolve=True)
    sched = dict(optim["sched"], max_steps=cfg.trainer.max_steps)
    return stepped(nemo, sched, optim["lr"], n)


WRITTEN = [  # (source, what NeMo scheduler the writer picks)
    ("cosine,min=0.1,total=10000,peak=3e-4", "CosineAnnealing"),
    ("warmup=501(shift=1),linear=9499(shift=1,span=9500),min=0.01,total=10000,peak=1e-3", "WarmupAnnealing"),
    ("warmup=500,cosine=7500,min=0.1,total=10000,peak=2e-4", "CosineAnnealing"),
    ("constant,total=10000,peak=1e-3", "WarmupPolicy"),
    ("warmup=101(shift=1),constant=2899,poly=7000(power=2),min=0.001,total=10000,peak=0.05",
     "PolynomialHoldDecayAnnealing"),
    ("exp(rate=0.5,every=1000,staircase=true),total=10000,peak=0.1", "StepLR"),
]


@pytest.mark.parametrize("spec,name", WRITTEN)
def test_written_yaml_runs_in_nemo(nemo, spec, name):
    schedule = parse_spec(spec)
    w = emit(schedule)
    cfg = yaml.safe_load(w.text)
    assert cfg["model"]["optim"]["sched"]["name"] == name
    assert_lr_close(lr(schedule, np.arange(10_000)), run_emitted(nemo, w.text, 10_000))


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("megatron_*.yaml")) + ["fast-conformer_aed.yaml"])
def test_repository_configs_round_trip_through_the_writer(nemo, name):
    ld = FMT.read((CONFIGS / name).read_text(), None, ReadOptions())
    w = emit(ld.schedule)
    back = FMT.read(w.text, None, ReadOptions()).schedule
    T = int(ld.schedule.total)
    assert back.total == T
    ks = np.arange(min(T, 12_000))
    assert_lr_close(run_emitted(nemo, w.text, ks.size), lr(ld.schedule, ks))


@pytest.mark.parametrize("name", ["megatron_falcon_config.yaml", "megatron_t5_config.yaml",
                                  "squeezeformer_ctc_bpe.yaml", "conformer_ctc_bpe.yaml"])
def test_golden(name, golden):
    ld = FMT.read((CONFIGS / name).read_text(), None, ReadOptions(steps="200000"))
    golden(f"nemo/{name}", emit(ld.schedule).text)


def test_inexpressible_names_the_part():
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=500,cosine,min=0.1,total=10000,peak=3e-4"))
    assert "k/W warmup" in e.value.message and "constant_steps > 0" in e.value.message
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=100(shape=log),linear,total=3000,peak=1e-3"))
    assert "a log warmup" in e.value.message
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=100,exp-anneal,total=3000,peak=1e-3"))
    assert "exp-anneal" in e.value.message
    with pytest.raises(LrplanError, match="model.optim.lr"):
        emit(parse_spec("warmup=100,cosine,total=3000"))


def test_approx_reports_the_nearest():
    schedule = parse_spec("warmup=500,cosine,min=0.1,total=10000,peak=3e-4")
    w = emit(schedule, approx=True)
    cfg = yaml.safe_load(w.text)
    assert cfg["model"]["optim"]["sched"]["name"] == "CosineAnnealing" and w.deviation is not None
    assert any("--approx" in n for n in w.notes)


# ---- CLI -----------------------------------------------------------------------------------------------------


def megatron_core_lrs(flags: str, n) -> np.ndarray:
    """The emitted Megatron flags run in the real megatron-core OptimizerParamScheduler (iteration mode, G = 1):
    stepped for the first n updates, or its closed form get_lr at each step of a list n."""
    import shlex

    torch = require("torch")
    sched_mod = require("megatron.core.optimizer_param_scheduler")
    words = shlex.split(flags.replace("\\\n", " "), comments=True)
    args = dict(zip(words[::2], words[1::2]))
    train, decay = int(args["--train-iters"]), int(args.get("--lr-decay-iters", args["--train-iters"]))
    opt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "max_lr": float(args["--lr"]),
                            "min_lr": float(args["--min-lr"]), "wd_mult": 1.0}], lr=float(args["--lr"]))
    s = sched_mod.OptimizerParamScheduler(
        opt, init_lr=float(args.get("--lr-warmup-init", 0.0)), max_lr=float(args["--lr"]),
        min_lr=float(args["--min-lr"]), lr_warmup_steps=int(args.get("--lr-warmup-iters", 0)), lr_decay_steps=decay,
        lr_decay_style=args["--lr-decay-style"], start_wd=0.0, end_wd=0.0, wd_incr_steps=train,
        wd_incr_style="constant")
    if isinstance(n, int):
        out = np.empty(n)
        for k in range(n):
            out[k] = opt.param_groups[0]["lr"]
            s.step(increment=1)
        return out
    out = []
    for k in n:  # its get_lr is a closed form of num_steps
        s.num_steps = k
        out.append(s.get_lr(opt.param_groups[0]))
    return np.asarray(out)


def test_cli_convert_falcon_to_megatron_reproduces_nemo(nemo):
    """`lrplan convert nemo.yaml --to megatron`: NeMo's Megatron-branch cosine is Megatron's cosine, exactly --
    the emitted flags run in real megatron-core give the curve real NeMo computes for the config."""
    path = CONFIGS / "megatron_falcon_config.yaml"
    r = run_cli("convert", str(path), "--to", "megatron")
    assert r.returncode == 0, r.stderr
    sched, base = omegaconf_sched(path)
    n = 12_000
    assert_lr_close(megatron_core_lrs(r.stdout, n), stepped(nemo, sched, base, n))
    ks = list(range(49_000, 51_000)) + list(range(99_000, 100_000))  # the end of the cosine, the end of the run
    assert_lr_close(megatron_core_lrs(r.stdout, ks), closed(nemo, sched, base, ks), steps=ks)


def test_cli_convert_gpt_to_megatron_refuses_with_the_reason():
    r = run_cli("convert", str(CONFIGS / "megatron_gpt_config.yaml"), "--to", "megatron")
    assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "" and "Traceback" not in r.stderr
    assert "Megatron-LM cannot express" in r.stderr and "warmup" in r.stderr


def test_cli_spec_to_nemo_exit_3_then_approx():
    args = ("convert", "warmup=2000,cosine,min=0.1", "--steps", "10k", "--lr", "3e-4", "--to", "nemo")
    r = run_cli(*args)
    assert r.returncode == 3 and "NeMo cannot express" in r.stderr and "constant_steps" in r.stderr
    r = run_cli(*args, "--approx")
    assert r.returncode == 0 and "CosineAnnealing" in r.stdout and "--approx" in r.stderr


def test_cli_at_step_and_epochs(tmp_path):
    r = run_cli("at-step", "500", str(CONFIGS / "megatron_gpt_config.yaml"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["lr"] == 2e-4
    path = CONFIGS / "speech_to_text_finetune.yaml"
    r = run_cli("table", str(path), "--format", "json")
    assert r.returncode == 2 and "dataset_size" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("table", str(path), "--set", "dataset_size=10000", "--set", "world_size=2", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["points"][-1]["step"] >= 15_000  # ceil(5000 / 16) x 50 epochs = 15650


def test_cli_lint_rules():
    r = run_cli("lint", str(CONFIGS / "megatron_falcon_config.yaml"), "--json")
    ids = {f["rule"] for f in json.loads(r.stdout)["findings"]}
    assert {"LR021", "LR001"} <= ids
    r = run_cli("lint", str(CONFIGS / "bert_pretraining_from_preprocessed_config.yaml"), "--json")
    assert "LR023" in {f["rule"] for f in json.loads(r.stdout)["findings"]}


def test_lint_no_scheduler_and_overridden_max_steps(tmp_path):
    path = tmp_path / "nemo.yaml"
    path.write_text(yaml.safe_dump({"trainer": {"max_steps": -1, "max_epochs": 3},
                                    "model": {"optim": {"lr": 1e-3, "sched": {"name": "CosineAnnealing",
                                                                               "max_steps": -1}}}}))
    r = run_cli("lint", str(path), "--json")
    assert r.returncode == ExitCode.LINT and "LR020" in r.stdout
    path.write_text(yaml_text({"name": "CosineAnnealing", "warmup_steps": 10, "max_steps": 500}, 1e-3, 2000))
    r = run_cli("lint", str(path), "--json")
    assert "LR022" in {f["rule"] for f in json.loads(r.stdout)["findings"]}


def test_light_commands_import_no_framework(tmp_path):
    code = ("import sys; from lrplan.sources import load; from lrplan.evaluate import lr_at; "
            f"ld = load({str(CONFIGS / 'megatron_gpt_config.yaml')!r}, fmt='nemo'); print(lr_at(ld.schedule, 500)); "
            "print(sorted(m for m in ('torch', 'omegaconf', 'nemo', 'hydra', 'numpy') if m in sys.modules))")
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["0.0002", "[]"]


# ---- checkpoints (.ckpt written by real Lightning 2.6 around NeMo's real schedulers) ------------------------

CKPTS = FIX / "checkpoints" / "nemo"
EXPECTED = json.loads((CKPTS / "expected.json").read_text())


@pytest.mark.parametrize("name", ["cosine", "polyhold"])
def test_checkpoint_schedule_is_the_runs(name):
    """The schedule read from the .ckpt alone gives the LR each update of the real run used, and after a resume
    with max_steps doubled, the LR the resumed run used (the checkpoint's attributes win)."""
    from lrplan.checkpoints import read_info

    info = read_info(CKPTS / f"{name}.ckpt")
    rec = EXPECTED[name]
    assert info.framework == "nemo" and info.next_step == rec["saved_at_update"] == 6
    used = rec["lr_used"]
    assert_lr_close(lr(info.loaded.schedule, np.arange(len(used))), used)
    after = rec["lr_used_after_resume_with_new_max_steps"]
    assert_lr_close(lr(info.loaded.schedule, np.arange(6, 6 + len(after))), after, what="after resume")
    assert info.stored_lr == used[6]
    assert info.loaded.schedule.total == rec["trainer.max_steps"]


def test_cli_at_step_and_inspect_on_a_checkpoint():
    r = run_cli("at-step", "8", str(CKPTS / "cosine.ckpt"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["framework"] == "nemo" and out["lr"] == pytest.approx(EXPECTED["cosine"]["lr_used"][8], rel=1e-12)
    assert out["check"]["match"] is True and out["next_step"] == 6
    r = run_cli("inspect", str(CKPTS / "polyhold.ckpt"), "--json")
    assert r.returncode == 0, r.stderr
    assert "PolynomialHoldDecayAnnealing" in json.loads(r.stdout)["layout"]


def _plain_ckpt(name: str) -> dict:
    from lrplan.checkpoints import safepickle

    top = safepickle.plain(safepickle.load_file(CKPTS / f"{name}.ckpt"))
    top.pop("state_dict", None)
    top.pop("optimizer_states", None)
    return top


def test_checkpoint_without_the_config_names_the_class_from_its_attributes(tmp_path):
    """No hyper_parameters: CosineAnnealing is known by its attributes (constant_steps, decay_steps)."""
    import pickle

    from lrplan.checkpoints import read_info

    top = _plain_ckpt("cosine")
    top.pop("hyper_parameters")
    path = tmp_path / "last.ckpt"
    path.write_bytes(pickle.dumps(top, protocol=2))
    info = read_info(path)
    assert "CosineAnnealing" in info.layout and any("the scheduler state's attributes" in n for n in info.loaded.notes)
    assert_lr_close(lr(info.loaded.schedule, np.arange(12)), EXPECTED["cosine"]["lr_used"])
    top = _plain_ckpt("polyhold")  # WarmupHold attributes alone would fit several classes: ask for the config
    top.pop("hyper_parameters")
    for k in ("power", "cycle"):
        top["lr_schedulers"][0].pop(k)
    path.write_bytes(pickle.dumps(top, protocol=2))
    info = read_info(path)
    assert info.loaded is None and any("--config" in m for m in info.missing)


def test_checkpoint_stepped_apart_from_the_optimizer_is_noted(tmp_path):
    import pickle

    from lrplan.checkpoints import read_info

    top = _plain_ckpt("cosine")
    top["lr_schedulers"][0]["last_epoch"] = 4
    path = tmp_path / "x.ckpt"
    path.write_bytes(pickle.dumps(top, protocol=2))
    assert any("last_epoch 4 != global_step 6" in n for n in read_info(path).notes)


def test_a_lightning_ckpt_without_a_nemo_scheduler_is_not_nemo(tmp_path):
    import pickle

    from lrplan.checkpoints.locate import locate

    top = _plain_ckpt("cosine")
    top["lr_schedulers"] = [{"base_lrs": [0.1], "last_epoch": 6, "_step_count": 7, "lr_lambdas": [None]}]
    path = tmp_path / "x.ckpt"
    path.write_bytes(pickle.dumps(top, protocol=2))
    assert locate(path).framework == "lightning"
    assert locate(CKPTS / "cosine.ckpt").framework == "nemo"


def test_hostile_scheduler_state_runs_nothing(tmp_path):
    """A .ckpt whose lr_schedulers[0].min_lr is os.system(...) under stock pickle: lrplan runs nothing, exit 6."""
    import pickle
    import subprocess

    class Reduce:
        def __init__(self, func, args):
            self.func, self.args = func, args

        def __reduce__(self):
            return self.func, self.args

    canary = tmp_path / "ran"
    top = _plain_ckpt("cosine")
    top["lr_schedulers"][0]["min_lr"] = Reduce(os.system, (f"touch {canary}",))
    data = pickle.dumps(top, protocol=2)
    live = subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                          input=data, capture_output=True, timeout=60)
    assert live.returncode == 0 and canary.exists()  # the payload is live under stock pickle
    canary.unlink()
    path = tmp_path / "last.ckpt"
    path.write_bytes(data)
    for cmd in (("inspect", str(path)), ("at-step", "3", str(path))):
        r = run_cli(*cmd)
        assert r.returncode == ExitCode.HOSTILE and "Traceback" not in r.stderr, r.stderr
        assert not canary.exists()


def test_damaged_scheduler_state_is_named(tmp_path):
    import pickle

    top = _plain_ckpt("cosine")
    top["lr_schedulers"][0]["min_lr"] = "tiny"
    path = tmp_path / "last.ckpt"
    path.write_bytes(pickle.dumps(top, protocol=2))
    r = run_cli("inspect", str(path))
    assert r.returncode == ExitCode.USAGE and "lr_schedulers[0].min_lr is 'tiny'" in r.stderr
    assert "Traceback" not in r.stderr
