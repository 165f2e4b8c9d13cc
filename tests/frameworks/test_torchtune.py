"""torchtune dialect: differential tests against torchtune's own scheduler, its real recipe configs, the writer's
output run in torchtune, golden files, error texts and CLI transcripts.

The reference side is the REAL ``torchtune/training/lr_schedulers.py`` of the installed torchtune 0.6.1
(``pip install --no-deps torchtune==0.6.1``), loaded standalone: ``torchtune/__init__`` hard-requires torchao
and imports its datasets and models; the module's one import besides torch
(``torchtune.training.memory.OptimizerInBackwardWrapper``, used only by its ``get_lr`` helper) is stubbed.
The LambdaLR it returns is stepped as the recipes step it (``optimizer.step(); lr_scheduler.step()``),
reading the LR each update uses before its step. Configs are loaded with OmegaConf, torchtune's own config
loader (``torchtune.config`` parses YAML with OmegaConf).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
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
from lrplan.spec import parse_spec

CONFIGS = Path(__file__).parents[1] / "fixtures" / "torchtune"
FMT = get("torchtune")


@pytest.fixture(scope="module")
def tt():
    """torchtune.training.lr_schedulers, loaded standalone from the installed package."""
    require("torch")
    spec = importlib.util.find_spec("torchtune")
    if spec is None:
        if os.environ.get("CI"):
            pytest.fail("torchtune is needed (pip install --no-deps torchtune==0.6.1)")
        pytest.skip("torchtune not installed")
    root = list(spec.submodule_search_locations)[0]
    saved = {n: sys.modules.get(n) for n in ("torchtune", "torchtune.training", "torchtune.training.memory")}

    def stub(n, **attrs):
        m = types.ModuleType(n)
        m.__path__ = []
        m.__dict__.update(attrs)
        sys.modules[n] = m

    stub("torchtune")
    stub("torchtune.training")
    stub("torchtune.training.memory", OptimizerInBackwardWrapper=type("OptimizerInBackwardWrapper", (), {}))
    s = importlib.util.spec_from_file_location("torchtune.training.lr_schedulers",
                                               os.path.join(root, "training", "lr_schedulers.py"))
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    for n, m in saved.items():  # leave sys.modules as it was
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m
    return mod


def stepped(tt, W: int, N: int, base: float, n: int, cycles: float | None = None) -> np.ndarray:
    import torch

    class SGD(torch.optim.SGD):
        def step(self, closure=None):
            return None

    # optimizer.step() then scheduler.step(), as the trainer calls them; the step itself is a no-op (the weights
    # never change an LR, and torch's real SGD/AdamW step would be 95% of the time of these 10k-step loops)
    opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    kw = {} if cycles is None else {"num_cycles": cycles}
    s = tt.get_cosine_schedule_with_warmup(opt, num_warmup_steps=W, num_training_steps=N, last_epoch=-1, **kw)
    return stepped_lrs(opt, s, n)


def cfg_text(W, base, epochs=1, cap=None, cycles=None, GA=1, **extra) -> str:
    sched = {"_component_": "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup", "num_warmup_steps": W}
    if cycles is not None:
        sched["num_cycles"] = cycles
    return yaml.safe_dump({"optimizer": {"_component_": "torch.optim.AdamW", "lr": base}, "lr_scheduler": sched,
                           "epochs": epochs, "max_steps_per_epoch": cap, "gradient_accumulation_steps": GA, **extra})


CASES = [  # (W, N, base, num_cycles)
    (100, 10_000, 3e-4, None), (0, 10_000, 1e-3, None), (1, 10_000, 2e-5, None), (2000, 12_000, 1e-4, None),
    (50, 10_000, 1e-5, 1.5), (500, 10_000, 3e-4, 0.25), (10_000, 10_000, 1e-3, None), (12_000, 10_000, 1e-3, None),
    (37, 11_111, 7e-4, 1.0),
]


@pytest.mark.parametrize("W,N,base,cycles", CASES)
def test_reader_matches_torchtune_every_step(tt, W, N, base, cycles):
    """Every update of the run and 500 past it (where torchtune's cosine rises again)."""
    ld = FMT.read(cfg_text(W, base, cap=N, cycles=cycles), None, ReadOptions())
    assert ld.schedule.total == N
    n = N + 500
    assert_lr_close(lr(ld.schedule, np.arange(n)), stepped(tt, W, N, base, n, cycles))


# file -> (--set options, what the recipe's dataloader is built from: dataset size, world size)
REAL = {
    "llama3_2__1B_lora_single_device.yaml": {"dataset_size": 52_002},  # alpaca-cleaned size
    "qwen2_5__3B_lora_single_device.yaml": {"dataset_size": 52_002},
    "gemma__2B_lora_single_device.yaml": {"dataset_size": 400_000},
    "llama3_1__8B_full_dpo.yaml": {"dataset_size": 100_000, "world_size": 8},  # capped at 1000 steps
    "llama3__8B_full_single_device.yaml": {"dataset_size": 30_000},
    "dev__3B_full_grpo.yaml": {"steps_per_epoch": 1_200},
    "llama3_1__8B_full.yaml": {"dataset_size": 30_000, "world_size": 2},  # no lr_scheduler
}


def recipe_steps(cfg, n: int, world: int) -> int:
    """num_training_steps as the v0.6.1 recipes compute it, from a real DataLoader of n samples."""
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    ds = torch.utils.data.TensorDataset(torch.zeros(n))
    sampler = DistributedSampler(ds, num_replicas=world, rank=0, shuffle=True, seed=0)
    dl = DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, drop_last=True)
    spe = len(dl) // cfg.get("gradient_accumulation_steps", 1)
    cap = cfg.get("max_steps_per_epoch")
    if cap is not None and cap < spe:
        spe = cap
    return cfg.epochs * spe


@pytest.mark.parametrize("name", list(REAL))
def test_repository_configs_match_torchtune(tt, name):
    from omegaconf import OmegaConf

    path = CONFIGS / name
    assert path.read_text().startswith("# lrplan fixture copy -- source: github.com/pytorch/torchtune")
    extra = REAL[name]
    ld = FMT.read(path.read_text(), path, ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items())))
    cfg = OmegaConf.load(path)
    if "dataset_size" in extra:
        N = recipe_steps(cfg, extra["dataset_size"], extra.get("world_size", 1))
    else:
        N = cfg.epochs * extra["steps_per_epoch"]
    assert ld.schedule.total == N
    base = float(cfg.optimizer.lr)
    n = min(N + 100, 12_000)
    if "lr_scheduler" not in cfg:  # full_finetune_single_device without a scheduler: constant optimizer.lr
        assert lr(ld.schedule, np.arange(n)).tolist() == [base] * n
        return
    sched = OmegaConf.to_container(cfg.lr_scheduler)
    assert sched.pop("_component_") == "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup"
    assert_lr_close(lr(ld.schedule, np.arange(n)), stepped(tt, sched["num_warmup_steps"], N, base, n))


def test_repository_configs_are_detected():
    from lrplan.sources import detect

    for path in sorted(CONFIGS.glob("*.yaml")):
        assert detect(path.read_text(), path) == "torchtune", path.name


def test_max_steps_per_epoch_alone_gives_the_length():
    ld = FMT.read((CONFIGS / "llama3_1__8B_full_dpo.yaml").read_text(), None, ReadOptions())
    assert ld.schedule.total == 1000 and any("assuming each epoch" in n for n in ld.notes)


BAD = [
    (cfg_text(10, 1e-3), "max_steps_per_epoch: the run length depends on the dataset"),
    (cfg_text(10, 1e-3, cap=100).replace("num_warmup_steps: 10", "num_warmup_steps: 10\n  num_training_steps: 5"),
     "lr_scheduler.num_training_steps: num_training_steps is passed by the recipe"),
    (cfg_text(10, 1e-3, cap=100).replace("num_warmup_steps: 10", "warmup_steps: 10"),
     "lr_scheduler.warmup_steps: get_cosine_schedule_with_warmup takes no argument 'warmup_steps'"),
    (cfg_text(10, 1e-3, cap=100).replace("torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup",
                                         "torch.optim.lr_scheduler.StepLR"),
     "lr_scheduler._component_: lrplan reads torchtune's own scheduler"),
    (cfg_text(-5, 1e-3, cap=100), "lr_scheduler.num_warmup_steps: must be at least 0"),
    (cfg_text(10, "fast", cap=100), "optimizer.lr: must be a number, got str 'fast'"),
    (cfg_text(10, "${lr}", cap=100), "optimizer.lr: '${lr}' is an interpolation"),
    (cfg_text(10, 1e-3, cap=0), "max_steps_per_epoch: must be positive"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_read_errors(text, message):
    with pytest.raises(LrplanError) as e:
        FMT.read(text, None, ReadOptions())
    assert message in e.value.render()


def test_torchtune_rejects_injected_keys_too(tt):
    import torch

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(TypeError):  # what config.instantiate(cfg, optimizer, num_training_steps=N, ...) hits
        recipe_kwargs = {"num_training_steps": 10, "last_epoch": -1}
        tt.get_cosine_schedule_with_warmup(opt, **recipe_kwargs, num_warmup_steps=1, num_training_steps=5)
    with pytest.raises(TypeError):
        tt.get_cosine_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=10, warmup_steps=10)


# ---- the writer --------------------------------------------------------------------------------------------


def emit(schedule, **kw):
    return convert(schedule, "torchtune", WriteOptions(source_label="test", version="0.0-test", **kw))


def run_emitted(tt, text: str, n: int) -> np.ndarray:
    """The emitted YAML loaded with OmegaConf and instantiated the way the recipe does it (N injected)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(text)
    N = cfg.epochs * cfg.max_steps_per_epoch
    sched = OmegaConf.to_container(cfg.lr_scheduler)
    assert sched.pop("_component_") == "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup"
    return stepped(tt, sched["num_warmup_steps"], N, float(cfg.optimizer.lr), n, sched.get("num_cycles"))


@pytest.mark.parametrize("spec", ["warmup=100,cosine,total=10000,peak=3e-4", "cosine,total=10000,peak=1e-3",
                                  "warmup=500,cosine(cycles=1.5),total=12000,peak=2e-5"])
def test_written_yaml_runs_in_torchtune(tt, spec):
    schedule = parse_spec(spec)
    w = emit(schedule)
    n = int(schedule.total)
    assert_lr_close(lr(schedule, np.arange(n)), run_emitted(tt, w.text, n))


def test_hf_cosine_converts_exactly(tt, tmp_path):
    """`lrplan convert hf.yaml --to torchtune`: HF's cosine and torchtune's are the same curve."""
    path = tmp_path / "hf.yaml"
    path.write_text(yaml.safe_dump({"learning_rate": 3e-4, "lr_scheduler_type": "cosine", "warmup_steps": 300,
                                    "max_steps": 10_000}))
    r = run_cli("convert", str(path), "--to", "torchtune")
    assert r.returncode == 0, r.stderr
    assert_lr_close(run_emitted(tt, r.stdout, 10_000), stepped(tt, 300, 10_000, 3e-4, 10_000))


@pytest.mark.parametrize("name", ["llama3_2__1B_lora_single_device.yaml", "llama3_1__8B_full_dpo.yaml"])
def test_golden(name, golden):
    ld = FMT.read((CONFIGS / name).read_text(), None, ReadOptions(steps="20000"))
    golden(f"torchtune/{name}", emit(ld.schedule).text)


def test_constant_writes_no_scheduler():
    w = emit(parse_spec("constant,total=5000,peak=1e-4"))
    cfg = yaml.safe_load(w.text)
    assert "lr_scheduler" not in cfg and cfg["max_steps_per_epoch"] == 5000


def test_inexpressible_names_the_part():
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=100,cosine,min=0.1,total=3000,peak=3e-4"))
    assert "one cosine to 0" in e.value.message and "this schedule has a cosine to 3e-05" in e.value.message
    w = emit(parse_spec("warmup=100,linear,total=3000,peak=3e-4"), approx=True)
    assert w.deviation is not None and "num_warmup_steps: 100" in w.text


# ---- CLI -----------------------------------------------------------------------------------------------------


def test_cli_at_step_table_and_nemo_refusal():
    path = CONFIGS / "llama3_1__8B_full_dpo.yaml"
    r = run_cli("at-step", "0", str(path), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["lr"] == 0.0
    r = run_cli("at-step", "20", str(path), "--json")
    assert json.loads(r.stdout)["lr"] == 2e-5
    r = run_cli("table", str(CONFIGS / "gemma__2B_lora_single_device.yaml"), "--format", "json")
    assert r.returncode == 2 and "--set dataset_size=N" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("convert", str(path), "--to", "nemo")  # a k/W warmup and a cosine to 0 at the last step
    assert r.returncode == ExitCode.INEXPRESSIBLE and "NeMo cannot express" in r.stderr


def test_cli_lint_first_update_at_zero():
    r = run_cli("lint", str(CONFIGS / "llama3_1__8B_full_dpo.yaml"), "--json")
    found = json.loads(r.stdout)["findings"]
    assert any(f["rule"] == "LR001" and "num_warmup_steps" in f["fix"] for f in found)
