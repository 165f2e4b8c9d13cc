"""axolotl dialect: differential tests against axolotl's own scheduler code and dispatch, its real example configs,
the writer's output run through axolotl, golden files, error texts and CLI transcripts.

The reference side is the REAL code of the installed axolotl 0.19.0 (``pip install --no-deps axolotl==0.19.0``)
and transformers (its HF schedulers and ``TrainingArguments.get_warmup_steps``):

* ``axolotl/core/builders/base.py``: the methods ``_configure_warmup_and_logging`` and ``_configure_scheduler``
  are compiled from the file's own source (its module imports trl, peft, datasets ..., not installed here)
  and run on the config (a ``DictDefault`` stand-in: missing keys are None, as in axolotl);
* ``axolotl/core/trainers/mixins/scheduler.py``: ``SchedulerMixin.create_scheduler`` loaded standalone (its
  ``PluginManager`` import is replaced by one with no plugins, its logger by a plain one), called on a
  ``transformers.TrainingArguments`` carrying axolotl's extra fields, with
  ``num_training_steps = cfg.max_steps or total_num_steps`` (builders/base.py ``_set_base_training_args``);
* the scheduler it returns is stepped as the HF Trainer steps it (``optimizer.step(); lr_scheduler.step()``),
  reading the LR each update uses before its step.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
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

CONFIGS = Path(__file__).parents[1] / "fixtures" / "axolotl"
FMT = get("axolotl")
AXOLOTL_FIELDS = ("alternate_lr_scheduler_type", "cosine_min_lr_ratio", "cosine_constant_lr_ratio",
                  "lr_quadratic_warmup", "jagged_restart_steps", "jagged_restart_warmup_steps",
                  "jagged_restart_anneal_steps")


class Cfg(dict):
    """axolotl's DictDefault as the builder uses it: attribute access, None for a missing key."""

    def __getattr__(self, key):
        return self.get(key)


@pytest.fixture(scope="module")
def axo():
    """(builder methods, SchedulerMixin) from the installed axolotl's own files."""
    require("torch")
    require("transformers")
    spec = importlib.util.find_spec("axolotl")
    if spec is None:
        if os.environ.get("CI"):
            pytest.fail("axolotl is needed (pip install --no-deps axolotl==0.19.0)")
        pytest.skip("axolotl not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    tree = ast.parse((root / "core" / "builders" / "base.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrainerBuilderBase")
    wanted = [f for f in cls.body if isinstance(f, ast.FunctionDef)
              and f.name in ("_configure_warmup_and_logging", "_configure_scheduler")]
    assert len(wanted) == 2
    ns: dict = {}
    code = compile(ast.Module(body=wanted, type_ignores=[]), str(root / "core/builders/base.py"), "exec")
    exec(code, ns)  # noqa: S102 - axolotl's own two methods, from its installed file

    class NoPlugins:
        @classmethod
        def get_instance(cls):
            return cls()

        def create_lr_scheduler(self, **kw):
            return None

    saved = {n: sys.modules.get(n) for n in ("axolotl.integrations.base", "axolotl.utils.logging")}
    stub_i = types.ModuleType("axolotl.integrations.base")
    stub_i.PluginManager = NoPlugins
    stub_l = types.ModuleType("axolotl.utils.logging")
    stub_l.get_logger = logging.getLogger
    sys.modules["axolotl.integrations.base"] = stub_i
    sys.modules["axolotl.utils.logging"] = stub_l
    try:
        s = importlib.util.spec_from_file_location("axolotl_scheduler_mixin",
                                                   root / "core" / "trainers" / "mixins" / "scheduler.py")
        mixin = importlib.util.module_from_spec(s)
        s.loader.exec_module(mixin)
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    return ns, mixin.SchedulerMixin


def axolotl_lrs(axo, cfg: dict, total_num_steps: int, n: int, tmp_path, run: dict | None = None) -> np.ndarray:
    """The LR of each of the first n updates of an axolotl run of this config, by axolotl's own code
    (``run`` receives the TrainingArguments, optimizer and scheduler when given)."""
    import torch
    import transformers

    ns, Mixin = axo
    c = Cfg(cfg)
    builder = types.SimpleNamespace(cfg=c)
    kw: dict = {}
    if c.max_steps:  # utils/data/sft.py L115-118: the estimate is capped at max_steps
        total_num_steps = min(total_num_steps, c.max_steps)
    ns["_configure_warmup_and_logging"](builder, total_num_steps, kw)
    ns["_configure_scheduler"](builder, kw)
    max_steps = c.max_steps or total_num_steps or -1  # builders/base.py _set_base_training_args
    args = transformers.TrainingArguments(output_dir=str(tmp_path), report_to=[], learning_rate=float(c.learning_rate),
                                          lr_scheduler_type=kw["lr_scheduler_type"], warmup_steps=kw["warmup_steps"],
                                          lr_scheduler_kwargs=kw["lr_scheduler_kwargs"], max_steps=max_steps)
    args.alternate_lr_scheduler_type = kw.get("alternate_lr_scheduler_type")
    for f in AXOLOTL_FIELDS[1:]:  # AxolotlTrainingArguments fields, copied from cfg when not None
        setattr(args, f, c.get(f))

    class Probe(Mixin):
        def __init__(self):
            pass

    p = Probe.__new__(Probe)
    p.args, p.lr_scheduler = args, None
    class AdamW(torch.optim.AdamW):
        def step(self, closure=None):
            return None

    # optimizer.step() then scheduler.step(), as the trainer calls them; the step itself is a no-op (the weights
    # never change an LR, and torch's real SGD/AdamW step would be 95% of the time of these 10k-step loops)
    opt = AdamW([torch.nn.Parameter(torch.zeros(1))], lr=float(c.learning_rate))
    p.optimizer = opt
    sched = p.create_scheduler(num_training_steps=max_steps, optimizer=opt)
    if run is not None:
        run.update(args=args, optimizer=opt, scheduler=sched)
    if not isinstance(n, int):  # a list of steps: the LambdaLR's closed form get_lr() at last_epoch = k
        out = []
        for k in n:
            sched.last_epoch = int(k)
            sched._get_lr_called_within_step = True
            out.append(sched.get_lr()[0])
        return np.asarray(out)
    return stepped_lrs(opt, sched, n)


def ours(cfg: dict, ks, **opts):
    return lr(FMT.read(yaml.safe_dump(cfg), None, ReadOptions(**opts)).schedule, ks)


BASE = {"base_model": "x", "micro_batch_size": 2, "gradient_accumulation_steps": 4, "learning_rate": 2e-4}
CASES = [  # (config keys, total_num_steps axolotl estimated); max_steps in the config wins
    ({"lr_scheduler": "cosine", "warmup_ratio": 0.1}, 10_000),
    ({"lr_scheduler": None, "warmup_ratio": 0.05}, 10_007),  # empty lr_scheduler: cosine; floor of the ratio
    ({"lr_scheduler": "cosine"}, 10_000),  # hidden default: min(int(0.03 N), 100) = 100
    ({"lr_scheduler": "linear"}, 10_001),  # hidden default again, and HF's linear
    ({"lr_scheduler": "cosine", "warmup_steps": 1}, 10_000),  # 1 becomes 2
    ({"lr_scheduler": "cosine", "warmup_steps": 0}, 10_000),
    ({"lr_scheduler": "cosine", "warmup_steps": 300, "cosine_min_lr_ratio": 0.1}, 10_000),
    ({"lr_scheduler": "cosine", "warmup_steps": 10, "cosine_min_lr_ratio": 1.0, "cosine_constant_lr_ratio": 0},
     10_000),  # llama-3/3b-fp8-fsdp2.yaml: a constant LR after the warmup
    ({"lr_scheduler": "cosine", "warmup_ratio": 0.02, "cosine_min_lr_ratio": 0.05, "cosine_constant_lr_ratio": 0.8},
     10_000),
    ({"lr_scheduler": "cosine", "warmup_steps": 100, "cosine_min_lr_ratio": 0}, 10_000),  # 0 is falsy: HF cosine
    ({"lr_scheduler": "constant_with_warmup", "warmup_ratio": 0.1}, 10_000),
    ({"lr_scheduler": "constant", "warmup_ratio": 0.1}, 10_000),  # HF's constant ignores the warmup
    ({"lr_scheduler": "cosine_with_restarts", "warmup_steps": 50, "lr_scheduler_kwargs": {"num_cycles": 3}}, 10_000),
    ({"lr_scheduler": "warmup_stable_decay", "warmup_steps": 200,
      "lr_scheduler_kwargs": {"num_decay_steps": 2000, "min_lr_ratio": 0.1}}, 10_000),
    ({"lr_scheduler": "cosine_with_min_lr", "warmup_steps": 200, "lr_scheduler_kwargs": {"min_lr_rate": 0.1}}, 10_000),
    ({"lr_scheduler": "one_cycle", "warmup_ratio": 0.3}, 10_000),
    ({"lr_scheduler": "one_cycle", "warmup_steps": 500, "lr_scheduler_kwargs": {"div_factor": 10.0}}, 10_000),
    ({"lr_scheduler": "cosine", "warmup_ratio": 0.1, "max_steps": 10_000}, 10_000),
    # rex: RexLR, one step ahead of the update ((k+1)/W warmup, the floor from update N - 1)
    ({"lr_scheduler": "rex", "warmup_ratio": 0.1}, 10_000),
    ({"lr_scheduler": "rex", "warmup_steps": 300, "cosine_min_lr_ratio": 0.1}, 10_000),
    ({"lr_scheduler": "rex", "warmup_steps": 0, "cosine_min_lr_ratio": 0.05}, 10_003),
    ({"lr_scheduler": "rex"}, 10_000),  # the hidden default warmup, min_lr 0
    ({"lr_scheduler": "rex", "warmup_steps": 1, "cosine_min_lr_ratio": 0}, 10_000),  # 1 becomes 2; ratio 0: min_lr 0
    ({"lr_scheduler": "rex", "warmup_steps": 9_999, "cosine_min_lr_ratio": 0.3}, 10_000),  # no room for the decay
    ({"lr_scheduler": "rex", "warmup_steps": 50, "cosine_constant_lr_ratio": 0.5,
      "lr_scheduler_kwargs": {"num_cycles": 2}}, 10_000),  # neither reaches RexLR
    # cosine + lr_quadratic_warmup: get_cosine_schedule_with_quadratic_warmup
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_ratio": 0.1}, 10_000),
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": 333, "cosine_min_lr_ratio": 0.1,
      "cosine_constant_lr_ratio": 0.8}, 10_000),  # the quadratic warmup wins; the floor is ignored
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": 0}, 10_000),
    ({"lr_scheduler": None, "lr_quadratic_warmup": True}, 10_000),  # empty lr_scheduler is cosine: it applies
    ({"lr_scheduler": "linear", "lr_quadratic_warmup": True, "warmup_steps": 100}, 10_000),  # cosine only
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": False, "warmup_steps": 100}, 10_000),
]


@pytest.mark.parametrize("keys,N", CASES, ids=lambda c: str(c.get("lr_scheduler")) if isinstance(c, dict) else str(c))
def test_reader_matches_axolotl_every_step(axo, keys, N, tmp_path):
    cfg = dict(BASE, **keys)
    mine = ours(cfg, np.arange(N), steps=str(N))
    assert_lr_close(mine, axolotl_lrs(axo, cfg, N, N, tmp_path))


# file -> total_num_steps (what axolotl estimates for the dataset; lrplan takes it as --steps)
REAL = {
    "llama-3__lora-1b.yml": 10_000,
    "llama-3__3b-fp8-fsdp2.yaml": 10_000,
    "distributed-parallel__llama-3_1-8b-hsdp-tp.yaml": 10_000,
    "archived__tiny-llama__pretrain.yml": 500,  # max_steps 200 wins
    "qwen3__reward-model.yaml": 10_000,
    "deepseek-v4__v4-flash-nvfp4-lora.yaml": 10_000,
    "archived__replit-3b__config-lora.yml": 10_000,
    "llama-2__gptq-lora.yml": 10_000,  # lr_quadratic_warmup
    "archived__cerebras__btlm-ft.yml": 10_000,  # lr_quadratic_warmup
    "tests-e2e__test_schedulers__rex.yaml": 10_000,  # rex; its max_steps 20 wins
    "llama-2__relora.yml": 10_000,  # jagged_restart_steps 150 (ReLoRA), anneal_steps false -> 1
}


@pytest.mark.parametrize("name", list(REAL))
def test_repository_configs_match_axolotl(axo, name, tmp_path):
    path = CONFIGS / name
    assert path.read_text().startswith("# lrplan fixture copy -- source: github.com/axolotl-ai-cloud/axolotl")
    N = REAL[name]
    ld = FMT.read(path.read_text(), path, ReadOptions(steps=str(N)))
    cfg = yaml.safe_load(path.read_text())
    T = int(ld.schedule.total)
    assert T == (cfg.get("max_steps") or N)
    assert_lr_close(lr(ld.schedule, np.arange(T)), axolotl_lrs(axo, cfg, N, T, tmp_path))


def test_repository_configs_are_detected():
    from lrplan.sources import detect

    for path in sorted(CONFIGS.glob("*.y*ml")):
        assert detect(path.read_text(), path) == "axolotl", path.name


PAST_END = [({"lr_scheduler": "rex", "warmup_steps": 100, "cosine_min_lr_ratio": 0.1}, 10_000),
            ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": 100}, 10_000)]


@pytest.mark.parametrize("keys,N", PAST_END, ids=["rex", "quadratic"])
def test_past_the_planned_end(axo, keys, N, tmp_path):
    """Stepped beyond num_training_steps (a dataset longer than the estimate): RexLR holds min_lr, the quadratic
    warmup's cosine keeps turning (its max(0, ...) only clips below 0)."""
    cfg = dict(BASE, **keys)
    ks = np.arange(N + 3_000)
    assert_lr_close(ours(cfg, ks, steps=str(N)), axolotl_lrs(axo, cfg, N, len(ks), tmp_path))


def test_rex_refuses_what_rexlr_refuses(axo, tmp_path):
    """A warmup longer than the run: RexLR's constructor raises ValueError; lrplan says so, at warmup_steps."""
    cfg = dict(BASE, lr_scheduler="rex", warmup_steps=200)
    with pytest.raises(ValueError, match="num_warmup_steps"):
        axolotl_lrs(axo, cfg, 100, 10, tmp_path)
    with pytest.raises(LrplanError) as e:
        ours(cfg, [0], steps="100")
    assert e.value.render().startswith("error: warmup_steps: the warmup (200 steps) is longer than the run (100 "
                                       "steps): RexLR raises ValueError")


def test_total_from_dataset_size_without_packing():
    cfg = dict(BASE, num_epochs=3, lr_scheduler="cosine", warmup_steps=0)
    ld = FMT.read(yaml.safe_dump(cfg), None, ReadOptions(extra=(("dataset_size", "10001"), ("world_size", "2"))))
    assert ld.schedule.total == 1876  # ceil(10001 * 3 / (2 * 4 * 2)), utils/trainer.py calculate_total_num_steps
    with pytest.raises(LrplanError, match="sample_packing"):
        FMT.read(yaml.safe_dump(dict(cfg, sample_packing=True)), None, ReadOptions(extra=(("dataset_size", "10"),)))


BAD = [
    ({"lr_scheduler": "cosine"}, {}, "max_steps: the run length is not in the config"),
    ({"lr_scheduler": "cosine", "warmup_steps": 10, "warmup_ratio": 0.1}, {"steps": "100"},
     "warmup_ratio: warmup_steps and warmup_ratio are mutually exclusive"),
    ({"lr_scheduler": "cosin"}, {"steps": "100"}, "unknown lr_scheduler_type 'cosin'"),
    ({"lr_scheduler": "cosine", "jagged_restart_steps": -5}, {"steps": "100"},
     "jagged_restart_steps: must be positive, got int -5"),
    ({"lr_scheduler": "cosine", "jagged_restart_steps": 50, "jagged_restart_warmup_steps": -1}, {"steps": "100"},
     "jagged_restart_warmup_steps: lrplan reads a positive number of steps here, got -1"),
    ({"lr_scheduler": "cosine", "jagged_restart_steps": 2.5}, {"steps": "100"},
     "jagged_restart_steps: must be a whole number"),
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": "yes"}, {"steps": "100"},
     "lr_quadratic_warmup: must be true or false, got 'yes'"),
    ({"lr_scheduler": "rex", "cosine_min_lr_ratio": -0.1}, {"steps": "100"},
     "cosine_min_lr_ratio: must be at least 0, got float -0.1"),
    ({"lr_scheduler": "cosine", "cosine_min_lr_ratio": 1.5}, {"steps": "100"},
     "cosine_min_lr_ratio: must be between 0.0 and 1.0"),
    ({"lr_scheduler": "cosine", "learning_rate": "fast"}, {"steps": "100"}, "learning_rate: must be a number"),
]


@pytest.mark.parametrize("keys,opts,message", BAD)
def test_read_errors(keys, opts, message):
    with pytest.raises(LrplanError) as e:
        FMT.read(yaml.safe_dump(dict(BASE, **keys)), None, ReadOptions(**opts))
    assert message in e.value.render()


# ---- the writer --------------------------------------------------------------------------------------------


def emit(schedule, **kw):
    return convert(schedule, "axolotl", WriteOptions(source_label="test", version="0.0-test", **kw))


WRITTEN = [  # (source, the lr_scheduler the writer picks, axolotl keys it must write)
    ("warmup=100,cosine,total=10000,peak=3e-4", "cosine", ()),
    ("warmup=300,cosine,min=0.1,total=10000,peak=2e-4", "cosine", ("cosine_min_lr_ratio",)),
    ("warmup=200,cosine=7800,min=0.05,total=10000,peak=2e-4", "cosine", ("cosine_constant_lr_ratio",)),
    ("warmup=500,linear,total=10000,peak=1e-4", "linear", ()),
    ("constant,total=10000,peak=1e-5", "constant", ()),
    ("warmup=500(shape=quadratic),cosine,total=10000,peak=1e-4", "cosine", ("lr_quadratic_warmup",)),
    # RexLR's curve in lrplan's words: a (k+1)/W warmup, rex one step ahead, the floor from the last update
    ("warmup=300(shift=1),rex=9699(shift=1,span=9700),constant,min=0.05,total=10000,peak=2e-4", "rex",
     ("cosine_min_lr_ratio",)),
    ("rex=9999(shift=1,span=10000),constant,total=10000,peak=1e-4", "rex", ()),
]


@pytest.mark.parametrize("spec,kind,keys", WRITTEN)
def test_written_yaml_runs_in_axolotl(axo, spec, kind, keys, tmp_path):
    schedule = parse_spec(spec)
    w = emit(schedule)
    cfg = yaml.safe_load(w.text)
    assert cfg["lr_scheduler"] == kind and all(k in cfg for k in keys) and "warmup_steps" in cfg
    T = int(schedule.total)
    # the dataset gives more steps than max_steps (the header's condition): max_steps caps the estimate
    assert_lr_close(lr(schedule, np.arange(T)), axolotl_lrs(axo, dict(cfg, base_model="x"), T, T, tmp_path))


@pytest.mark.parametrize("name", ["llama-3__lora-1b.yml", "llama-3__3b-fp8-fsdp2.yaml", "llama-2__gptq-lora.yml",
                                  "tests-e2e__test_schedulers__rex.yaml"])
def test_golden(name, golden):
    ld = FMT.read((CONFIGS / name).read_text(), None, ReadOptions(steps="20000"))
    golden(f"axolotl/{name.replace('.yml', '.yaml')}", emit(ld.schedule).text)


def test_inexpressible_and_approx():
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=100(shape=log),linear,total=3000,peak=1e-3"))
    assert "no axolotl lr_scheduler" in e.value.message
    # REX with lrplan's k/W warmup and its floor at the planned end is not RexLR (one step ahead): refused
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec("warmup=100,rex,min=0.1,total=3000,peak=1e-3"))
    assert "the nearest ('rex') differs" in e.value.message
    w = emit(parse_spec("warmup=100(shape=log),linear,total=3000,peak=1e-3"), approx=True)
    assert w.deviation is not None


# ---- CLI -----------------------------------------------------------------------------------------------------


def test_cli_convert_between_axolotl_torchtune_and_hf(tmp_path):
    path = CONFIGS / "llama-3__lora-1b.yml"
    r = run_cli("convert", str(path), "--steps", "5000", "--to", "torchtune")  # HF cosine = torchtune's cosine
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["lr_scheduler"]["num_warmup_steps"] == 500
    out = tmp_path / "tt.yaml"
    out.write_text(r.stdout)
    r = run_cli("convert", str(out), "--to", "axolotl")
    assert r.returncode == 0, r.stderr
    back = yaml.safe_load(r.stdout)
    assert (back["lr_scheduler"], back["warmup_steps"], back["max_steps"]) == ("cosine", 500, 5000)
    r = run_cli("convert", str(CONFIGS / "llama-3__3b-fp8-fsdp2.yaml"), "--steps", "5000", "--to", "nemo")
    assert r.returncode == ExitCode.INEXPRESSIBLE and "NeMo cannot express" in r.stderr


def test_cli_at_step_and_lint():
    path = CONFIGS / "archived__tiny-llama__pretrain.yml"
    r = run_cli("at-step", "20", str(path), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["lr"] == 2e-4
    r = run_cli("at-step", "20", str(CONFIGS / "llama-3__lora-1b.yml"), "--json")
    assert r.returncode == 2 and "--steps" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("lint", str(path), "--json")
    assert "LR001" in {f["rule"] for f in json.loads(r.stdout)["findings"]}


ROUND_TRIP = [("tests-e2e__test_schedulers__rex.yaml", {"lr_scheduler": "rex", "warmup_steps": 5,
                                                        "cosine_min_lr_ratio": 0.05}),
              ("llama-2__gptq-lora.yml", {"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": 1000})]


@pytest.mark.parametrize("name,keys", ROUND_TRIP, ids=["rex", "quadratic"])
def test_cli_round_trip_through_the_spec(axo, name, keys, tmp_path):
    """`convert --to spec` prints RexLR / the quadratic warmup in spec words; that spec, converted back with
    `--to axolotl`, is axolotl's own form again, and real axolotl runs it as it runs the repository config."""
    path = CONFIGS / name
    r = run_cli("convert", str(path), "--steps", "10000", "--to", "spec")
    assert r.returncode == 0, r.stderr
    spec = r.stdout.strip()
    assert ("rex=" in spec) == (keys["lr_scheduler"] == "rex") and ("shape=quadratic" in spec) == ("rex=" not in spec)
    ld = FMT.read(path.read_text(), path, ReadOptions(steps="10000"))
    assert parse_spec(spec) == ld.schedule
    r = run_cli("convert", spec, "--to", "axolotl")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert {k: cfg.get(k) for k in keys} == keys and cfg["max_steps"] == ld.schedule.total
    T = int(cfg["max_steps"])
    assert_lr_close(axolotl_lrs(axo, dict(cfg, base_model="x"), T, T, tmp_path),
                    axolotl_lrs(axo, yaml.safe_load(path.read_text()), 10_000, T, tmp_path / "repo"))


TORCH = [({"lr_scheduler": "rex", "warmup_steps": 250, "cosine_min_lr_ratio": 0.1}, 12_000),
         ({"lr_scheduler": "rex", "warmup_steps": 0}, 10_000),
         ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_ratio": 0.05}, 10_000)]


@pytest.mark.parametrize("keys,N", TORCH, ids=["rex-min", "rex", "quadratic"])
def test_cli_to_torch_runs_like_axolotl(axo, keys, N, tmp_path):
    """`convert axolotl.yaml --to torch`: the emitted LambdaLR, stepped by real torch, gives real axolotl's LR at
    every update (RexLR / the quadratic-warmup LambdaLR stepped as the HF Trainer steps them)."""
    import torch

    path = tmp_path / "axolotl.yaml"
    cfg = dict(BASE, max_steps=N, **keys)
    path.write_text(yaml.safe_dump(cfg))
    r = run_cli("convert", str(path), "--to", "torch")
    assert r.returncode == 0, r.stderr
    class AdamW(torch.optim.AdamW):
        def step(self, closure=None):  # the weights never change an LR (as in axolotl_lrs)
            return None

    opt = AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ns = {"optimizer": opt}
    exec(compile(r.stdout, "<lrplan --to torch>", "exec"), ns)  # noqa: S102 - lrplan's own emitted code
    sched, got = ns["scheduler"], np.empty(N)
    for k in range(N):
        got[k] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert "_rex" in r.stdout or "_quadratic" in r.stdout
    assert_lr_close(got, axolotl_lrs(axo, cfg, N, N, tmp_path / "axolotl"))


def test_cli_targets_without_rex_refuse_it():
    """A target with no REX (or no quadratic warmup) exits 3 naming its nearest form; nothing on stdout."""
    path = CONFIGS / "tests-e2e__test_schedulers__rex.yaml"
    for target, words in (("megatron", "Megatron-LM cannot express this schedule exactly"),
                          ("torchtitan", "torchtitan"), ("hf --variant yaml", "lr_scheduler_type")):
        r = run_cli("convert", str(path), "--to", *target.split())
        assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "", (target, r.stderr)
        assert words in r.stderr and "nearest" in r.stderr and "Traceback" not in r.stderr, (target, r.stderr)
    r = run_cli("convert", str(CONFIGS / "llama-2__gptq-lora.yml"), "--steps", "1000", "--to", "torchtune")
    assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "" and "nearest" in r.stderr, r.stderr


def test_cli_at_step_on_rex():
    """RexLR's first update is already (0 + 1) / W of the peak, and its last is min_lr (e2e test config)."""
    path = CONFIGS / "tests-e2e__test_schedulers__rex.yaml"
    first = run_cli("at-step", "0", str(path), "--json")
    last = run_cli("at-step", "19", str(path), "--json")
    assert first.returncode == 0 and last.returncode == 0, first.stderr + last.stderr
    assert json.loads(first.stdout)["lr"] == pytest.approx(1e-5 / 5, rel=1e-12)
    assert json.loads(last.stdout)["lr"] == pytest.approx(1e-5 * 0.05, rel=1e-12)


# ---- checkpoints -------------------------------------------------------------------------------------------


def test_checkpoint_uses_axolotls_fields(axo, tmp_path):
    """An HF checkpoint-N/ of an axolotl run: training_args.bin carries axolotl's fields (here
    cosine_min_lr_ratio), which the HF reader alone would ignore; scheduler.pt is the real scheduler's state."""
    import torch

    from lrplan.checkpoints import read_info

    cfg = dict(BASE, lr_scheduler="cosine", warmup_steps=30, cosine_min_lr_ratio=0.1, max_steps=2000)
    run: dict = {}
    used = axolotl_lrs(axo, cfg, 2000, 2000, tmp_path / "out", run)
    d = tmp_path / "out" / "checkpoint-2000"
    d.mkdir(parents=True)
    # the args object pickles as TrainingArguments plus axolotl's attributes (AxolotlTrainingArguments is a
    # subclass whose __dict__ holds the same fields; its module needs trl to import, so it is not made here)
    torch.save(run["args"], d / "training_args.bin")
    torch.save(run["scheduler"].state_dict(), d / "scheduler.pt")
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 2000, "max_steps": 2000, "log_history": []}))
    info = read_info(tmp_path / "out")
    assert info.framework == "axolotl" and "axolotl" in info.layout
    assert_lr_close(lr(info.loaded.schedule, np.arange(2000)), used)
    r = run_cli("at-step", "1999", str(d), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lr"] == pytest.approx(used[1999], rel=1e-12)
    assert json.loads(r.stdout)["framework"] == "axolotl"


@pytest.mark.parametrize("keys", [{"lr_scheduler": "rex", "warmup_steps": 30, "cosine_min_lr_ratio": 0.1},
                                  {"lr_scheduler": "cosine", "warmup_steps": 30, "lr_quadratic_warmup": True}],
                         ids=["rex", "quadratic"])
def test_checkpoint_mid_run_of_rex_and_quadratic(axo, keys, tmp_path):
    """checkpoint-1000/ of a 2000-step run: training_args.bin says rex / lr_quadratic_warmup; the next update's LR
    is real axolotl's. RexLR's last_epoch is global_step + 1 (its constructor steps once): not a mis-stepped run."""
    import torch

    cfg = dict(BASE, max_steps=2000, **keys)
    run: dict = {}
    used = axolotl_lrs(axo, cfg, 2000, 1000, tmp_path / "out", run)  # the state the Trainer saves at step 1000
    d = tmp_path / "out" / "checkpoint-1000"
    d.mkdir(parents=True)
    torch.save(run["args"], d / "training_args.bin")
    torch.save(run["scheduler"].state_dict(), d / "scheduler.pt")
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 1000, "max_steps": 2000, "log_history": []}))
    nxt = run["optimizer"].param_groups[0]["lr"]  # the LR real axolotl gives update 1000
    for k, want in ((999, used[999]), (1000, nxt)):
        r = run_cli("at-step", str(k), str(d), "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["framework"] == "axolotl" and doc["lr"] == pytest.approx(want, rel=1e-12)
    assert doc["check"]["match"] is True
    assert not any("stepped a different number of times" in n for n in doc["notes"]), doc["notes"]


AXO = "base_model: x\nmicro_batch_size: 1\nlearning_rate: 1.0e-4\nmax_steps: 1000\n"
LINT = [  # (rule, config that walks into it, the same config without the pitfall)
    ("LR024", AXO + "lr_scheduler: cosine\n", AXO + "lr_scheduler: cosine\nwarmup_steps: 0\n"),
    ("LR025", AXO + "lr_scheduler: cosine\nwarmup_steps: 0\ncosine_min_lr_ratio: 0\n",
     AXO + "lr_scheduler: cosine\nwarmup_steps: 0\ncosine_min_lr_ratio: 0.1\n"),
    ("LR026", AXO + "lr_scheduler: constant\nwarmup_ratio: 0.1\n",
     AXO + "lr_scheduler: constant_with_warmup\nwarmup_ratio: 0.1\n"),
]


@pytest.mark.parametrize("rule,bad,good", LINT, ids=[r for r, _, _ in LINT])
def test_lint_rules(rule, bad, good):
    from lrplan import lint

    def fired(text):
        return {f.rule for f in lint.run(FMT.read(text, None, ReadOptions()), {})}

    assert rule in fired(bad) and rule not in fired(good)


def test_cli_lint_names_the_axolotl_field(tmp_path):
    path = tmp_path / "axolotl.yaml"
    path.write_text(LINT[0][1])
    r = run_cli("lint", str(path), "--json")
    found = [f for f in json.loads(r.stdout)["findings"] if f["rule"] == "LR024"]
    assert found and found[0]["where"] == "warmup_steps" and "= 30 steps" in found[0]["message"]


def test_nemo_megatron_cosine_converts_to_axolotl_exactly(axo, tmp_path):
    """`lrplan convert megatron_falcon_config.yaml --to axolotl`: NeMo's Megatron-branch cosine (k/W warmup, cosine
    to min_lr until max_steps - constant_steps, then min_lr) is axolotl's constant-ratio cosine; the emitted YAML
    run in real axolotl gives what real NeMo computes for the repository config."""
    require("omegaconf")
    if importlib.util.find_spec("nemo") is None:
        if os.environ.get("CI"):
            pytest.fail("nemo_toolkit is needed (pip install --no-deps nemo_toolkit==2.7.3)")
        pytest.skip("nemo_toolkit not installed")
    sys.path.insert(0, str(CONFIGS.parent))
    import make_nemo_checkpoint
    from omegaconf import OmegaConf

    nemo = make_nemo_checkpoint.load_nemo_lr_scheduler()
    path = CONFIGS.parent / "nemo" / "megatron_falcon_config.yaml"
    r = run_cli("convert", str(path), "--to", "axolotl")
    assert r.returncode == 0, r.stderr
    cfg = dict(yaml.safe_load(r.stdout), base_model="x")
    assert (cfg["cosine_min_lr_ratio"], cfg["cosine_constant_lr_ratio"]) == (0.1, 0.5)
    import torch

    conf = OmegaConf.load(path)
    sched = dict(OmegaConf.to_container(conf.model.optim.sched, resolve=True), max_steps=conf.trainer.max_steps)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=conf.model.optim.lr)
    s = nemo.prepare_lr_scheduler(opt, sched)["scheduler"]
    ks = list(range(0, 12_000)) + list(range(49_000, 51_000)) + list(range(99_000, 100_000))
    theirs = []
    for k in ks:  # NeMo's get_lr is a closed form of last_epoch
        s.last_epoch = k
        s._get_lr_called_within_step = True
        theirs.append(s.get_lr()[0])
    assert_lr_close(axolotl_lrs(axo, cfg, 100_000, ks, tmp_path), theirs, steps=ks)


# ---- jagged_restart_steps: JaggedLRRestartScheduler around the inner schedule (Schedule.scale) -----------------

JAGGED = [  # (config keys, total_num_steps); the wrapper multiplies the inner schedule by its restart ramps
    ({"lr_scheduler": "cosine", "warmup_ratio": 0.1, "jagged_restart_steps": 150, "jagged_restart_warmup_steps": 10,
      "jagged_restart_anneal_steps": False}, 10_000),  # examples/llama-2/relora.yml's keys (false: anneal 1)
    ({"lr_scheduler": "cosine", "warmup_steps": 300, "jagged_restart_steps": 500, "jagged_restart_warmup_steps": 50,
      "jagged_restart_anneal_steps": 50}, 10_000),  # docs/config-reference's example values
    ({"lr_scheduler": "linear", "warmup_steps": 100, "jagged_restart_steps": 1000, "jagged_restart_anneal_steps": 37},
     10_001),  # default warmup 10
    ({"lr_scheduler": "constant_with_warmup", "warmup_steps": 100, "jagged_restart_steps": 997,
      "jagged_restart_warmup_steps": 30, "jagged_restart_anneal_steps": 20}, 10_000),
    ({"lr_scheduler": "cosine", "warmup_steps": 200, "cosine_min_lr_ratio": 0.1, "jagged_restart_steps": 500,
      "jagged_restart_warmup_steps": 600}, 10_000),  # min-lr cosine; min_lr_scale = 0.1; warmup longer than R
    ({"lr_scheduler": "cosine", "warmup_steps": 10, "cosine_min_lr_ratio": 0.05, "cosine_constant_lr_ratio": 0.7,
      "jagged_restart_steps": 333, "jagged_restart_warmup_steps": 20, "jagged_restart_anneal_steps": 15}, 10_000),
    ({"lr_scheduler": "rex", "warmup_steps": 100, "cosine_min_lr_ratio": 0.1, "jagged_restart_steps": 500,
      "jagged_restart_anneal_steps": 700}, 10_000),  # RexLR: two steps ahead; anneal longer than R
    ({"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": 100, "jagged_restart_steps": 300},
     10_000),
    ({"lr_scheduler": "cosine", "warmup_steps": 0, "jagged_restart_steps": 2, "jagged_restart_warmup_steps": 1},
     10_000),  # the shortest restarts: the scale alternates
]
JAGGED_IDS = ["relora", "cosine-50-50", "linear", "constant_with_warmup", "min-lr-cosine", "constant-cosine", "rex",
              "quadratic", "R2"]


@pytest.mark.parametrize("keys,N", JAGGED, ids=JAGGED_IDS)
def test_jagged_restarts_match_axolotl_every_step(axo, keys, N, tmp_path):
    """Real axolotl's JaggedLRRestartScheduler around its real inner schedulers, every update of a >= 10k-step run
    (and 40 past it, still inside the last restart period for all but R2)."""
    cfg = dict(BASE, **keys)
    n = N if keys["jagged_restart_steps"] == 2 else N + 40
    theirs = axolotl_lrs(axo, cfg, N, n, tmp_path)
    ld = FMT.read(yaml.safe_dump(cfg), None, ReadOptions(steps=str(N)))
    assert ld.schedule.scale is not None and any("JaggedLRRestartScheduler" in note for note in ld.notes)
    assert_lr_close(lr(ld.schedule, np.arange(n)), theirs)
    from lrplan.evaluate import lr_at

    for k in (0, 1, N // 3, N - 1):  # the scalar path agrees with the vectorised one
        assert lr_at(ld.schedule, k) == pytest.approx(theirs[k], rel=1e-12, abs=1e-18)


def test_jagged_actually_restarts(axo, tmp_path):
    """Not vacuous: real axolotl's LR with the wrapper differs from the inner schedule alone right after a restart."""
    keys, N = JAGGED[0]
    cfg = dict(BASE, **keys)
    plain = {k: v for k, v in cfg.items() if not k.startswith("jagged")}
    a, b = axolotl_lrs(axo, cfg, N, 400, tmp_path), axolotl_lrs(axo, plain, N, 400, tmp_path / "plain")
    assert a[149] < 0.01 * b[149] and a[200] == pytest.approx(b[201], rel=1e-12)  # one step ahead off the ramps


def test_jagged_around_one_cycle_is_refused_as_axolotl_fails(axo, tmp_path):
    """one_cycle + jagged_restart_steps: the wrapper runs OneCycleLR one step ahead, so real axolotl raises at the
    run's last scheduler.step(); lrplan refuses the config, naming the field."""
    cfg = dict(BASE, lr_scheduler="one_cycle", warmup_steps=100, jagged_restart_steps=150)
    axolotl_lrs(axo, cfg, 1000, 999, tmp_path)  # runs until the last update
    with pytest.raises(ValueError, match="Tried to step 1001 times"):
        axolotl_lrs(axo, cfg, 1000, 1000, tmp_path / "full")
    with pytest.raises(LrplanError) as e:
        ours(cfg, [0], steps="1000")
    assert e.value.render().startswith("error: jagged_restart_steps: JaggedLRRestartScheduler around one_cycle")
    r = run_cli("at-step", "5", "-", "--steps", "1000", "--from", "axolotl", input=yaml.safe_dump(cfg))
    assert r.returncode == 2 and "one_cycle" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_jagged_ignored_by_the_rl_builder():
    """core/builders/rl.py does not pass the jagged_restart_* keys on: with rl set, the inner schedule alone."""
    cfg = dict(BASE, lr_scheduler="cosine", warmup_steps=10, jagged_restart_steps=50)
    ld = FMT.read(yaml.safe_dump(dict(cfg, rl="dpo")), None, ReadOptions(steps="1000"))
    plain = FMT.read(yaml.safe_dump({k: v for k, v in cfg.items() if k != "jagged_restart_steps"}), None,
                     ReadOptions(steps="1000"))
    assert ld.schedule == plain.schedule and any("RL trainer builder" in n for n in ld.notes)


RELORA = CONFIGS / "llama-2__relora.yml"


def _emitted_torch_lrs(code: str, n: int) -> np.ndarray:
    import torch

    class AdamW(torch.optim.AdamW):
        def step(self, closure=None):  # the weights never change an LR (as in axolotl_lrs)
            return None

    opt = AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ns = {"optimizer": opt}
    exec(compile(code, "<lrplan --to torch>", "exec"), ns)  # noqa: S102 - lrplan's own emitted code
    sched, got = ns["scheduler"], np.empty(n)
    for k in range(n):
        got[k] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    return got


@pytest.mark.parametrize("keys,N", [JAGGED[0], JAGGED[4], JAGGED[6]], ids=["relora", "min-lr-cosine", "rex"])
def test_cli_jagged_to_torch_runs_like_axolotl(axo, keys, N, tmp_path):
    """`convert axolotl.yaml --to torch`: the emitted LambdaLR multiplies by the restart scale; stepped by real torch
    it gives real axolotl's LR at every update."""
    path = tmp_path / "axolotl.yaml"
    cfg = dict(BASE, max_steps=N, **keys)
    path.write_text(yaml.safe_dump(cfg))
    r = run_cli("convert", str(path), "--to", "torch")
    assert r.returncode == 0, r.stderr
    assert "SCALE_SEGMENTS" in r.stdout and "_scale(x)" in r.stdout
    assert_lr_close(_emitted_torch_lrs(r.stdout, N), axolotl_lrs(axo, cfg, N, N, tmp_path / "axolotl"))


def test_cli_relora_round_trips_through_spec_and_json(axo, tmp_path):
    """The repository's ReLoRA config: `--to spec` prints the scale as `scale=[...]`, `--to json` as "scale"; both
    read back to the same schedule, and that schedule is real axolotl's LR at every update."""
    ld = FMT.read(RELORA.read_text(), RELORA, ReadOptions(steps="10000"))
    r = run_cli("convert", str(RELORA), "--steps", "10000", "--to", "spec")
    assert r.returncode == 0, r.stderr
    spec = r.stdout.strip()
    assert ",scale=[" in spec and spec.count("linear=") > 100
    back = parse_spec(spec)
    assert back == ld.schedule and back.scale == ld.schedule.scale
    r = run_cli("convert", str(RELORA), "--steps", "10000", "--to", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scale"]["segments"][0] == {"kind": "constant", "start": 0.0, "end": 148.0,
                                           "a": {"value": 1.0, "absolute": False},
                                           "b": {"value": 0.0, "absolute": False}}  # e = k + 1 < R - A = 149
    out = tmp_path / "relora.json"
    out.write_text(r.stdout)
    assert get("json").read(out.read_text(), out, ReadOptions()).schedule == ld.schedule
    r = run_cli("table", str(out), "--at", "0,148,149,150,159,160", "--format", "json")
    assert r.returncode == 0, r.stderr
    got = [p["lr"] for p in json.loads(r.stdout)["points"]]
    theirs = axolotl_lrs(axo, yaml.safe_load(RELORA.read_text()), 10_000, 10_000, tmp_path)
    assert_lr_close(got, theirs[[0, 148, 149, 150, 159, 160]])
    assert_lr_close(lr(back, np.arange(10_000)), theirs)


def test_cli_jagged_other_targets_refuse_it():
    """A target with no multiplier exits 3 saying why (the scale), with nothing on stdout; --approx names the gap."""
    for target in ("megatron", "torchtitan", "nemo", "torchtune"):
        r = run_cli("convert", str(RELORA), "--steps", "10000", "--to", target)
        assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "", (target, r.stderr)
        assert "multiplied by a scale curve" in r.stderr and "jagged_restart_steps" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli("convert", str(RELORA), "--steps", "10000", "--to", "hf", "--variant", "yaml")
    assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "" and "nearest" in r.stderr, r.stderr
    r = run_cli("convert", str(RELORA), "--steps", "10000", "--to", "megatron", "--approx")
    assert r.returncode == 0 and "--lr-decay-style" in r.stdout and "largest difference" in r.stderr, r.stderr


def test_cli_explain_says_a_multiplier_applies():
    r = run_cli("explain", str(RELORA), "--steps", "10000")
    assert r.returncode == 0, r.stderr
    assert "A multiplier applies" in r.stdout and "between 0.001 and 1" in r.stdout, r.stdout


@pytest.mark.parametrize("keys", [{"lr_scheduler": "cosine", "warmup_steps": 30, "jagged_restart_steps": 150,
                                   "jagged_restart_warmup_steps": 7, "jagged_restart_anneal_steps": 5},
                                  {"lr_scheduler": "rex", "warmup_steps": 30, "cosine_min_lr_ratio": 0.1,
                                   "jagged_restart_steps": 150, "jagged_restart_anneal_steps": 5}],
                         ids=["cosine", "rex"])
def test_checkpoint_of_a_jagged_run(axo, keys, tmp_path):
    """checkpoint-1000/ of a 2000-step ReLoRA-style run: training_args.bin carries all three jagged_restart_* fields;
    the LR around the next restarts is real axolotl's, and last_epoch = global_step + 1 (+ 1 more for RexLR) is the
    wrappers' own count, not a mis-stepped run."""
    import torch

    cfg = dict(BASE, max_steps=2000, **keys)
    full = axolotl_lrs(axo, cfg, 2000, 2000, tmp_path / "full")
    run: dict = {}
    axolotl_lrs(axo, cfg, 2000, 1000, tmp_path / "out", run)
    d = tmp_path / "out" / "checkpoint-1000"
    d.mkdir(parents=True)
    torch.save(run["args"], d / "training_args.bin")
    torch.save(run["scheduler"].state_dict(), d / "scheduler.pt")
    (d / "trainer_state.json").write_text(json.dumps({"global_step": 1000, "max_steps": 2000, "log_history": []}))
    for k in (1000, 1044, 1046, 1048, 1049, 1051, 1055, 1999):  # the anneal (5) and rewarm (7) around e = 1050
        r = run_cli("at-step", str(k), str(d), "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["framework"] == "axolotl" and doc["lr"] == pytest.approx(full[k], rel=1e-12), k
    assert doc["check"]["match"] is True
    assert not any("stepped a different number of times" in n for n in doc["notes"]), doc["notes"]


@pytest.mark.parametrize("keys,N", [JAGGED[i] for i in (0, 2, 4, 6, 7)],
                         ids=[JAGGED_IDS[i] for i in (0, 2, 4, 6, 7)])
def test_jagged_written_back_runs_in_axolotl(axo, keys, N, tmp_path):
    """Read a jagged config, print it as a spec, parse that, `--to axolotl`: the YAML has jagged_restart_* again,
    and real axolotl runs it as it runs the original config (every update)."""
    cfg = dict(BASE, max_steps=N, **keys)
    ld = FMT.read(yaml.safe_dump(cfg), None, ReadOptions())
    from lrplan.spec.printer import print_spec

    w = emit(parse_spec(print_spec(ld.schedule)))
    back = yaml.safe_load(w.text)
    assert back["jagged_restart_steps"] == keys["jagged_restart_steps"] and back["lr_scheduler"] == keys["lr_scheduler"]
    assert_lr_close(axolotl_lrs(axo, dict(back, base_model="x"), N, N, tmp_path / "back"),
                    axolotl_lrs(axo, cfg, N, N, tmp_path / "orig"))


def test_jagged_golden_and_refusal(golden):
    ld = FMT.read(RELORA.read_text(), None, ReadOptions(steps="10000"))
    golden("axolotl/llama-2__relora.yaml", emit(ld.schedule).text)
    with pytest.raises(InexpressibleError) as e:  # a scale that is no restart ramp
        emit(parse_spec("warmup=100,cosine,total=3000,peak=1e-3,scale=[constant=1000,linear=2000(to=0.5)]"))
    assert "jagged_restart_steps restarts matching its scale curve" in e.value.message
    r = run_cli("convert", "warmup=100,cosine,total=3000,peak=1e-3,scale=0.5", "--to", "axolotl")
    assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "" and "axolotl cannot express" in r.stderr, r.stderr
