"""NeMo 2.x Python recipes: read without running them, checked against NeMo 2's real scheduler classes.

The reference side is the REAL ``nemo/lightning/pytorch/optim/lr_scheduler.py`` (the NeMo 2 wrappers) and
``nemo/core/optim/lr_scheduler.py`` (the NeMo 1 classes they build) of the installed nemo_toolkit 2.7.3,
loaded standalone: ``nemo/__init__`` pulls lightning callbacks, megatron and nv_one_logger, so the core file
comes from ``tests/fixtures/make_nemo_checkpoint.py`` and the wrappers' one import besides it,
``LRSchedulerModule`` (a Lightning callback / IOMixin base that holds no schedule state), is a plain class.
Each wrapper is built with the keyword arguments lrplan read from the recipe, given ``max_steps`` the way
``MegatronStrategy.setup`` does (an attribute assignment on the built module), asked for its scheduler with
``.scheduler(model, optimizer)`` and stepped as Lightning steps it: the LR update k uses is read before
``optimizer.step(); scheduler.step()``.

The recipe helpers (``nemo/collections/llm/recipes/optim/adam.py``) are the real file run with a recording
stand-in for ``nemo_run.Config`` (fiddle is not installed; the stand-in keeps the target and keywords, as
``run.Config`` does) and the real wrapper classes. Fixtures: recipes and scripts of NVIDIA/NeMo at 8cfedd72
(tests/fixtures/nemo/nemo2_*.py, each citing its path).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_lr_close, require, run_cli, stepped_lrs

from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.frameworks.nemo import recipe as reader
from lrplan.frameworks.nemo.pyeval import Interpreter
from lrplan.frameworks.nemo.tables import (
    NEMO2_STEPPING,
    NEMO2_WRAPPERS,
    POSITIONAL,
    WSD_WRAPPER,
)
from lrplan.sources import detect
from lrplan.spec import parse_spec

FIX = Path(__file__).parents[1] / "fixtures"
RECIPES_DIR = FIX / "nemo"
FMT = get("nemo")
sys.path.insert(0, str(FIX))


def _stub(name: str, **attrs):
    m = sys.modules.get(name)
    if m is None:
        m = types.ModuleType(name)
        m.__path__ = []
        m.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        sys.modules[name] = m
    m.__dict__.update(attrs)
    return m


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    sys.modules[name] = m
    spec.loader.exec_module(m)
    return m


class Recorded:
    """What ``nemo_run.Config(target, **kwargs)`` keeps: the target and its keywords, as attributes."""

    def __class_getitem__(cls, item):  # run.Config[PytorchOptimizerModule] in adam.py's annotations
        return cls

    def __init__(self, target, *args, **kwargs):
        self.__dict__.update(kwargs)
        self._target, self._args, self._kwargs = target, args, kwargs


@pytest.fixture(scope="module")
def nemo2():
    """(NeMo 2 wrappers module, NeMo 1 module, adam.py module), loaded standalone from nemo_toolkit."""
    require("torch")
    spec = importlib.machinery.PathFinder.find_spec("nemo")
    if spec is None:
        if os.environ.get("CI"):
            pytest.fail("nemo_toolkit is needed for the NeMo 2 differential tests (pip install --no-deps "
                        "nemo_toolkit==2.7.3)")
        pytest.skip("nemo_toolkit not installed")
    import make_nemo_checkpoint

    warnings.filterwarnings("ignore", module="nemo")
    core = make_nemo_checkpoint.load_nemo_lr_scheduler()
    root = next(iter(spec.submodule_search_locations))

    class LRSchedulerModule:  # nemo/lightning/pytorch/optim/base.py: a Lightning Callback + IOMixin base
        def __init__(self):
            pass

    for n in ("nemo.lightning", "nemo.lightning.pytorch", "nemo.lightning.pytorch.optim"):
        _stub(n)
    _stub("nemo.lightning.pytorch.optim.base", LRSchedulerModule=LRSchedulerModule)
    wrappers = _load("nemo.lightning.pytorch.optim.lr_scheduler",
                     os.path.join(root, "lightning", "pytorch", "optim", "lr_scheduler.py"))
    modules = {name: type(name, (), {"__init__": lambda self, *a, **k: None})
               for name in ("MegatronOptimizerModule", "PytorchOptimizerModule")}
    _stub("nemo.lightning.pytorch.optim", CosineAnnealingScheduler=wrappers.CosineAnnealingScheduler, **modules)
    run = _stub("nemo_run", Config=Recorded, Partial=Recorded)
    run.cli = types.SimpleNamespace(factory=lambda *a, **k: (a[0] if a and callable(a[0]) else (lambda f: f)))
    if importlib.util.find_spec("megatron") is None:  # adam.py only passes it to run.Config
        _stub("megatron")
        _stub("megatron.core")
        _stub("megatron.core.optimizer", OptimizerConfig=type("OptimizerConfig", (), {}))
    adam = _load("lrplan_test_adam", str(RECIPES_DIR / "nemo2_adam.py"))
    return types.SimpleNamespace(wrappers=wrappers, core=core, adam=adam)


def built(nemo2, name: str, given: dict, base: float, T: int):
    """The NeMo 1 scheduler NeMo 2's wrapper builds (max_steps set as MegatronStrategy.setup sets it)."""
    import torch

    class SGD(torch.optim.SGD):
        def step(self, closure=None):  # the weights never change an LR
            return None

    opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    module = getattr(nemo2.wrappers, name)(**given)
    module.max_steps = T
    out = module.scheduler(None, opt)
    assert out["lr_scheduler"]["interval"] == "step" and out["lr_scheduler"]["frequency"] == 1
    return opt, out["lr_scheduler"]["scheduler"]


def stepped(nemo2, name, given, base, T, n) -> np.ndarray:
    opt, s = built(nemo2, name, given, base, T)
    return stepped_lrs(opt, s, n)


def closed(nemo2, name, given, base, T, steps) -> np.ndarray:
    """get_lr() at last_epoch = k (NeMo's schedulers are closed forms of last_epoch), for long runs."""
    _, s = built(nemo2, name, given, base, T)
    out = []
    for k in steps:
        s.last_epoch = int(k)
        s._get_lr_called_within_step = True
        out.append(s.get_lr()[0])
    return np.asarray(out)


def read(path: Path | str, text: str | None = None, **extra):
    opts = ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items()))
    p = Path(path)
    return FMT.read(text if text is not None else p.read_text(), p, opts)


def check_against_nemo(nemo2, ld, n_step: int = 12_000):
    """lrplan's curve against the real wrapper: every update up to n_step (or the run plus 10k past its end),
    and, for long runs, 20k spread steps and the phase ends through get_lr."""
    info = ld.raw["nemo2"]
    name, given, base, T = info["scheduler"], info["given"], info["lr"], info["max_steps"]
    if T + 10_000 <= 40_000:
        n = T + 10_000
        theirs = stepped(nemo2, name, given, base, T, n)
        mine = lr(ld.schedule, np.arange(n))
        assert_lr_close(mine[:T], theirs[:T])
        assert_lr_close(mine[T + 1:], theirs[T + 1:], what="after max_steps")
        return n
    theirs = stepped(nemo2, name, given, base, T, n_step)
    assert_lr_close(lr(ld.schedule, np.arange(n_step)), theirs)
    ks = np.unique(np.concatenate([np.linspace(0, T - 1, 20_000).astype(np.int64),
                                   np.arange(T - 50, T), [int(s.start) for s in ld.schedule.lr.segments]]))
    ks = ks[(ks >= 0) & (ks < T)]
    assert_lr_close(lr(ld.schedule, ks), closed(nemo2, name, given, base, T, ks), steps=ks)
    return n_step


# ---- the tables against NeMo's code ---------------------------------------------------------------------


def test_wrapper_tables_are_nemos_signatures(nemo2):
    import inspect

    for name, (core, args) in list(NEMO2_WRAPPERS.items()) + [(WSD_WRAPPER, (None, None))]:
        params = list(inspect.signature(getattr(nemo2.wrappers, name)).parameters.values())
        assert [p.name for p in params] == list(POSITIONAL[name]) + [k for k, _ in NEMO2_STEPPING], name
        stepping = {p.name: p.default for p in params if p.name in dict(NEMO2_STEPPING)}
        assert stepping == dict(NEMO2_STEPPING)
        if args is not None:
            real = {p.name: (None if p.default is inspect.Parameter.empty else p.default) for p in params}
            assert {k: real[k] for k, _ in args} == dict(args), name
    # the NeMo 1 class each wrapper builds
    for name, (core, _) in NEMO2_WRAPPERS.items():
        if name in ("NoamHoldAnnealingScheduler", "T5InverseSquareRootAnnealingScheduler"):
            with pytest.raises((ValueError, TypeError)):  # they forward no warmup / constant_steps
                built(nemo2, name, {}, 1e-3, 100)
            continue
        given = {"d_model": 16} if name == "NoamAnnealingScheduler" else {}
        assert type(built(nemo2, name, given, 1e-3, 100)[1]).__name__ == core


ADAM_CALLS = [
    ("distributed_fused_adam_with_cosine_annealing", {}),
    ("distributed_fused_adam_with_cosine_annealing", {"max_lr": 3e-4}),
    ("distributed_fused_adam_with_cosine_annealing", {"max_lr": 1e-4, "min_lr": 0, "warmup_steps": 50}),
    ("distributed_fused_adam_with_cosine_annealing", {"warmup_steps": 100, "constant_steps": 300, "max_lr": 2e-4,
                                                      "min_lr": 2e-5}),
    ("pytorch_adam_with_cosine_annealing", {"max_lr": 3e-4, "min_lr": 0.0}),  # `or`: 0.0 becomes 0.1 * max_lr
    ("pytorch_adam_with_cosine_annealing", {"warmup_steps": 10}),
    ("te_adam_with_cosine_annealing", {"max_lr": 5e-4, "min_lr": 1e-6}),
]


@pytest.mark.parametrize("fn, kwargs", ADAM_CALLS)
def test_helper_table_is_adam_py(nemo2, fn, kwargs):
    """tables.RECIPES gives what the real adam.py function returns, and so does reading adam.py's source."""
    te = ("transformer_engine", "transformer_engine.pytorch", "transformer_engine.pytorch.optimizers")
    added = [n for n in te if n not in sys.modules]
    try:  # te_adam_* import FusedAdam only to pass it to run.Partial; removed again (megatron probes for it)
        for n in added:
            _stub(n)
        sys.modules[te[-1]].FusedAdam = type("FusedAdam", (), {})
        real = getattr(nemo2.adam, fn)(**kwargs)
    finally:
        for n in added:
            sys.modules.pop(n, None)
    want_sched = real.lr_scheduler._kwargs
    want_lr = real.config.lr if hasattr(real, "config") else real.optimizer_fn.lr
    assert real.lr_scheduler._target is nemo2.wrappers.CosineAnnealingScheduler
    ours = reader.helper(fn, [], dict(kwargs), 1, "x")
    sched = ours.kwargs["lr_scheduler"]
    inner = ours.kwargs.get("config") or ours.kwargs["optimizer_fn"]
    assert sched.name == "CosineAnnealingScheduler"
    assert sched.kwargs == want_sched
    assert inner.kwargs["lr"] == want_lr
    assert ours.name == real._target.__name__
    # adam.py's source read by lrplan's interpreter (the function in the file, not the table): the same numbers
    interp = Interpreter(None)
    m = interp.load((RECIPES_DIR / "nemo2_adam.py").read_text(), "adam.py", "adam")
    interp.run_module(m)
    src = interp.invoke(m.globals[fn], [], dict(kwargs), 0)
    assert src.kwargs["lr_scheduler"].kwargs == want_sched
    assert (src.kwargs.get("config") or src.kwargs["optimizer_fn"]).kwargs["lr"] == want_lr


def test_flat_lr_helpers_have_no_scheduler(nemo2):
    real = nemo2.adam.pytorch_adam_with_flat_lr(lr=2e-5)
    ours = reader.helper("pytorch_adam_with_flat_lr", [], {"lr": 2e-5}, 1, "x")
    assert "lr_scheduler" not in real._kwargs and ours.kwargs["lr_scheduler"] is None
    assert ours.kwargs["optimizer_fn"].kwargs["lr"] == real.optimizer_fn.lr == 2e-5


def test_optimizer_modules_positional_parameters(nemo2):
    """MegatronOptimizerModule(config, lr_scheduler, ...) / PytorchOptimizerModule(optimizer_fn, lr_scheduler, ...):
    read from their source (importing them needs megatron's distributed setup)."""
    import ast

    root = Path(nemo2.wrappers.__file__).parent
    for name, file in (("MegatronOptimizerModule", "megatron.py"), ("PytorchOptimizerModule", "pytorch.py")):
        tree = ast.parse((root / file).read_text())
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
        init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        names = [a.arg for a in init.args.args[1:]]
        assert tuple(names[:len(POSITIONAL[name])]) == POSITIONAL[name], name


# ---- real recipes ------------------------------------------------------------------------------------

# (fixture, --set options, wrapper, the keywords NeMo passes it, optimizer LR, max_steps): read by hand from
# the fixture's source (and, for custom_recipe, from llama3_8b.py of the installed nemo_toolkit).
REAL = [
    ("nemo2_llama3_8b.py", {}, "CosineAnnealingScheduler",
     {"warmup_steps": 2000, "constant_steps": 0, "min_lr": 0.1 * 3e-4}, 3e-4, 1168251),
    ("nemo2_llama3_8b.py", {"recipe": "finetune_recipe"}, "CosineAnnealingScheduler",  # peft 'lora': lr 1e-4
     {"warmup_steps": 50, "constant_steps": 0, "min_lr": 0}, 1e-4, 1000),
    ("nemo2_t5_220m.py", {}, "WarmupAnnealingScheduler",
     {"warmup_steps": None, "warmup_ratio": 0.01, "min_lr": 0.00001}, 0.0001, 1000000),
    ("nemo2_t5_220m.py", {"recipe": "finetune_recipe"}, "WarmupAnnealingScheduler",
     {"warmup_steps": 50, "min_lr": 0.00001}, 0.0001, 1000),
    ("nemo2_finetune_default.py", {"recipe": "default_finetune_recipe"}, "CosineAnnealingScheduler",
     {"warmup_steps": 50, "constant_steps": 0, "min_lr": 0}, 1e-4, 1000),
    ("nemo2_gemma3_pretrain.py", {}, "CosineAnnealingScheduler",
     {"warmup_steps": 2000, "constant_steps": 0, "min_lr": 3e-5}, 3e-4, 10),
    ("nemo2_custom_recipe.py", {}, "CosineAnnealingScheduler",
     {"warmup_steps": 2000, "constant_steps": 0, "min_lr": 0.1 * 3e-4}, 3e-4, 1000),
    ("nemo2_gpt_train.py", {"lr": 3e-4, "max_steps": 20000, "warmup_steps": 50, "min_lr": 1e-5},
     "CosineAnnealingScheduler", {"warmup_steps": 50, "constant_steps": 0, "min_lr": 1e-5}, 3e-4, 20000),
    ("nemo2_adam.py", {"recipe": "distributed_fused_adam_with_cosine_annealing", "max_steps": 10000},
     "CosineAnnealingScheduler", {"warmup_steps": 2000, "constant_steps": 0, "min_lr": 0.1 * 1e-4}, 1e-4, 10000),
]


@pytest.mark.parametrize("name, extra, sched, given, base, T", REAL, ids=[f"{r[0]}-{i}" for i, r in enumerate(REAL)])
def test_real_recipes_read_what_nemo_uses(name, extra, sched, given, base, T):
    info = read(RECIPES_DIR / name, **extra).raw["nemo2"]
    assert (info["scheduler"], info["given"], info["lr"], info["max_steps"]) == (sched, given, base, T)


@pytest.mark.parametrize("name, extra", [(r[0], r[1]) for r in REAL], ids=[f"{r[0]}-{i}" for i, r in enumerate(REAL)])
def test_real_recipes_match_nemo(nemo2, name, extra):
    ld = read(RECIPES_DIR / name, **extra)
    assert check_against_nemo(nemo2, ld) >= 10_000


def test_real_recipes_are_detected():
    for p in sorted(RECIPES_DIR.glob("nemo2_*.py")):
        assert detect(p.read_text(), p) == "nemo", p.name


# ---- user scripts: overrides, constants, other schedulers ------------------------------------------------

SCRIPT = """\
import nemo_run as run
from nemo.collections import llm
from nemo.lightning.pytorch.optim import {cls}

STEPS = 12_000
WARMUP = STEPS // 10


def configure():
    recipe = llm.llama3_8b.pretrain_recipe(num_nodes=2)
    recipe.trainer.max_steps = STEPS
    recipe.optim.config.lr = 3e-4
    recipe.optim.lr_scheduler = run.Config({cls}, {args})
    return recipe


if __name__ == "__main__":
    run.run(configure(), executor=run.LocalExecutor())
"""

SCRIPTS = [  # (scheduler class, its arguments in the script)
    ("CosineAnnealingScheduler", "warmup_steps=WARMUP, constant_steps=0, min_lr=3e-5"),
    ("CosineAnnealingScheduler", "warmup_steps=500, constant_steps=2 * 1000, min_lr=1e-5"),
    ("CosineAnnealingScheduler", "warmup_steps=100"),  # wrapper defaults: constant_steps 80000, min_lr 6e-5
    ("WarmupPolicyScheduler", "warmup_steps=300"),
    ("WarmupHoldPolicyScheduler", "warmup_steps=300, hold_steps=4000, min_lr=1e-5"),
    ("WarmupAnnealingScheduler", "warmup_steps=None, warmup_ratio=0.05, min_lr=1e-6"),
    ("SquareAnnealingScheduler", "min_lr=1e-5"),
    ("SquareRootAnnealingScheduler", "min_lr=1e-5"),
    ("InverseSquareRootAnnealingScheduler", "min_lr=1e-6"),
    ("NoamAnnealingScheduler", "d_model=512, warmup_steps=400"),
    ("PolynomialDecayAnnealingScheduler", "power=2.0, min_lr=1e-5"),
    ("PolynomialHoldDecayAnnealingScheduler", "power=0.5, cycle=True"),
    ("WarmupHoldAnnealScheduler", "warmup_ratio=0.05, hold_ratio=0.45, min_lr=1e-5"),
    ("WarmupHoldAnnealScheduler", "warmup_ratio=0.01, hold_ratio=0.6, decay_schedule='one_minus_square_root'"),
]


@pytest.mark.parametrize("cls, args", SCRIPTS)
def test_scripts_with_overrides_match_nemo(nemo2, tmp_path, cls, args):
    p = tmp_path / "train.py"
    p.write_text(SCRIPT.format(cls=cls, args=args))
    ld = read(p)
    info = ld.raw["nemo2"]
    assert (info["scheduler"], info["lr"], info["max_steps"]) == (cls, 3e-4, 12_000)
    check_against_nemo(nemo2, ld)


def test_attribute_overrides_of_a_recipe(tmp_path):
    p = tmp_path / "train.py"
    p.write_text("from nemo.collections import llm\nimport nemo_run as run\n\n"
                 "recipe = llm.llama3_8b.pretrain_recipe()\n"
                 "recipe.optim.lr_scheduler.warmup_steps = 2000 // 4\n"
                 "recipe.optim.lr_scheduler.min_lr = 1e-6\n"
                 "recipe.trainer.max_steps = 100_000\n"
                 "recipe.optim.config.lr = 6e-4 * 0.5\n"
                 "run.run(recipe)\n")
    info = read(p).raw["nemo2"]
    assert info["given"] == {"warmup_steps": 500, "constant_steps": 0, "min_lr": 1e-6}
    assert (info["lr"], info["max_steps"]) == (3e-4, 100_000)


def test_wrapper_defaults_are_noted(tmp_path):
    p = tmp_path / "train.py"
    p.write_text(SCRIPT.format(cls="CosineAnnealingScheduler", args="warmup_steps=100"))
    ld = read(p)
    assert "lr_scheduler.constant_steps is not set: CosineAnnealingScheduler's own default constant_steps=80000 " \
           "applies" in ld.notes
    assert ld.raw["nemo2"]["args"]["constant_steps"] == 80000


def test_megatron_strategy_replaces_the_schedulers_max_steps(tmp_path):
    text = ("from nemo import lightning as nl\nfrom nemo.collections import llm\n"
            "from nemo.lightning.pytorch.optim import CosineAnnealingScheduler, MegatronOptimizerModule\n"
            "from megatron.core.optimizer import OptimizerConfig\n"
            "trainer = nl.Trainer(max_steps=5000, strategy={strategy})\n"
            "opt = MegatronOptimizerModule(OptimizerConfig(lr=1e-3),\n"
            "    CosineAnnealingScheduler(max_steps=3000, warmup_steps=10, constant_steps=0, min_lr=0.0))\n"
            "llm.pretrain(model=None, data=None, trainer=trainer, optim=opt)\n")
    p = tmp_path / "s.py"
    p.write_text(text.format(strategy="nl.MegatronStrategy(tensor_model_parallel_size=1)"))
    ld = read(p)
    assert ld.raw["nemo2"]["max_steps"] == 5000
    assert any("MegatronStrategy copies trainer.max_steps 5000" in n for n in ld.notes)
    p.write_text(text.format(strategy="nl.FSDP2Strategy()"))
    ld = read(p)
    assert ld.raw["nemo2"]["max_steps"] == 3000
    assert any("#14186" in n for n in ld.notes)
    p.write_text(text.format(strategy="nl.FSDP2Strategy()").replace("max_steps=3000, ", ""))
    assert read(p).raw["nemo2"]["max_steps"] == 10  # the wrapper's default: the pitfall of #14186


def test_no_scheduler_is_a_constant_lr(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("from nemo.collections.llm.recipes.optim.adam import pytorch_adam_with_flat_lr\n"
                 "from nemo.collections import llm\nfrom nemo import lightning as nl\n"
                 "llm.pretrain(trainer=nl.Trainer(max_steps=800, strategy=nl.MegatronStrategy()),"
                 " optim=pytorch_adam_with_flat_lr(lr=2e-5))\n")
    ld = read(p)
    assert lr(ld.schedule, np.array([0, 400, 799])).tolist() == [2e-5] * 3
    assert ld.schedule.total == 800
    assert any("no lr_scheduler" in n for n in ld.notes)


# ---- values lrplan cannot know --------------------------------------------------------------------------

NOT_LITERAL = [  # (script body after the imports, message fragment, where, --set key)
    ("recipe = llm.llama3_8b.pretrain_recipe()\nrecipe.trainer.max_steps = int(os.environ['STEPS'])\nrun.run(recipe)",
     "trainer.max_steps is int(...)", ":6", "max_steps"),
    (("recipe = llm.llama3_8b.pretrain_recipe()\nfor w in (10, 20):\n    recipe.optim.lr_scheduler.warmup_steps = w\n"
      "run.run(recipe)"), "lr_scheduler.warmup_steps is set in the loop at line 6", ":7", "warmup_steps"),
    (("recipe = llm.llama3_8b.pretrain_recipe()\nif os.environ.get('BIG'):\n    recipe.optim.config.lr = 1e-3\n"
      "run.run(recipe)"), "optim.config.lr is set under the condition at line 6", ":7", "lr"),
    ("recipe = llm.llama3_8b.pretrain_recipe()\ntweak(recipe)\nrun.run(recipe)",
     "optim.config.lr may be changed by tweak(...) at line 6", ":6", "lr"),
    (("def steps():\n    return 100 * len(os.listdir('.'))\n\nrecipe = llm.llama3_8b.pretrain_recipe()\n"
      "recipe.trainer.max_steps = steps()\nrun.run(recipe)"),
     "trainer.max_steps is len(...) of something other than numbers (line 6)", ":9", "max_steps"),
]


@pytest.mark.parametrize("body, message, where, key", NOT_LITERAL)
def test_non_literal_values_are_named(tmp_path, body, message, where, key):
    p = tmp_path / "train.py"
    p.write_text("import os\nimport nemo_run as run\nfrom nemo.collections import llm\n\n" + body + "\n")
    with pytest.raises(LrplanError) as e:
        read(p)
    assert message in e.value.message
    assert e.value.where.endswith(where)
    assert e.value.hint == f"pass --set {key}=VALUE"


def test_recipes_of_nemo_are_read_from_nemo_source(tmp_path, monkeypatch):
    src = tmp_path / "nemo" / "collections" / "llm" / "recipes"
    src.mkdir(parents=True)
    text = (RECIPES_DIR / "nemo2_llama3_8b.py").read_text().replace("max_steps: int = 1168251", "max_steps: int = 4242")
    (src / "llama3_8b.py").write_text(text)
    script = RECIPES_DIR / "nemo2_custom_recipe.py"
    p = tmp_path / "custom.py"
    p.write_text(script.read_text().replace("pretrain.trainer.max_steps = 1000", ""))
    assert read(p, nemo_source=tmp_path / "nemo").raw["nemo2"]["max_steps"] == 4242
    monkeypatch.setattr(reader, "nemo_source", lambda root=None: None)  # no nemo_toolkit installed
    with pytest.raises(LrplanError) as e:
        read(p)
    assert "from NeMo's recipe package, whose source lrplan reads from an installed nemo_toolkit or --set " \
           "nemo_source=DIR (neither is here)" in e.value.message


def test_a_trainer_lrplan_cannot_see_needs_max_steps(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("from nemo.collections import llm\nfrom nemo.collections.llm.recipes.optim.adam import "
                 "distributed_fused_adam_with_cosine_annealing as opt\nimport mytrainers\n"
                 "llm.pretrain(trainer=mytrainers.make(), optim=opt(max_lr=1e-3))\n")
    with pytest.raises(LrplanError) as e:
        read(p)
    assert e.value.message.startswith("the recipe's trainer is the result of mytrainers.make(...)")
    assert e.value.hint == "pass --set max_steps=VALUE"
    assert read(p, max_steps=3000).raw["nemo2"]["max_steps"] == 3000


def test_argparse_values_need_set(nemo2):
    with pytest.raises(LrplanError) as e:
        read(RECIPES_DIR / "nemo2_gpt_train.py")
    assert e.value.message.startswith("optim.config.lr is args.lr (the result of parser.parse_args(...), line")
    assert e.value.hint == "pass --set lr=VALUE"
    with pytest.raises(LrplanError) as e:
        read(RECIPES_DIR / "nemo2_gpt_train.py", lr=3e-4)
    assert "is args.warmup_steps" in e.value.message and e.value.hint == "pass --set warmup_steps=VALUE"


READ_ERRORS = [
    ("run.Config(CosineAnnealingScheduler, warmup_ratio=0.1)", "takes no argument 'warmup_ratio'"),
    ("run.Config(CosineAnnealingScheduler, interval='epoch')", "interval='epoch'"),
    ("run.Config(WarmupAnnealingScheduler, warmup_ratio=0.1)", "both warmup_steps and warmup_ratio are set"),
    ("run.Config(NoamHoldAnnealingScheduler)", "NoamHoldAnnealing needs warmup_steps > 0"),
    ("run.Config(T5InverseSquareRootAnnealingScheduler)", "forwards no constant_steps"),
    ("run.Config(WarmupHoldAnnealScheduler, decay_schedule='cosine')", "Unknown decay schedule"),
    ("run.Config(CosineAnnealingScheduler, warmup_steps=10, constant_steps=0, min_lr=1.0)", "below min_lr"),
    ("run.Config(CosineAnnealingScheduler, min_lr=None)", "min_lr=None: CosineAnnealingScheduler passes it on"),
]


@pytest.mark.parametrize("sched, message", READ_ERRORS)
def test_errors_nemo_would_raise_too(tmp_path, sched, message):
    p = tmp_path / "s.py"
    p.write_text("import nemo_run as run\nfrom nemo.lightning.pytorch.optim import *\n"
                 "from nemo.lightning.pytorch.optim.lr_scheduler import CosineAnnealingScheduler, "
                 "WarmupAnnealingScheduler, NoamHoldAnnealingScheduler, T5InverseSquareRootAnnealingScheduler, "
                 "WarmupHoldAnnealScheduler\n"
                 f"recipe.trainer.max_steps = 1000\nrecipe.optim.config.lr = 1e-3\nrecipe.optim.lr_scheduler = {sched}\n")
    with pytest.raises(LrplanError) as e:
        read(p)
    assert message in e.value.message
    assert e.value.where.startswith(str(p))


def test_unknown_set_key_and_missing_factory(tmp_path):
    with pytest.raises(LrplanError, match="--set warmup= is not a NeMo 2 recipe value"):
        read(RECIPES_DIR / "nemo2_llama3_8b.py", warmup=10)
    with pytest.raises(LrplanError, match="defines no function of that name") as e:
        read(RECIPES_DIR / "nemo2_llama3_8b.py", recipe="pretrain_recipes")
    assert "pretrain_recipe" in e.value.hint
    with pytest.raises(LrplanError, match="no NeMo 2 schedule found"):
        read(RECIPES_DIR / "nemo2_adam.py")


# ---- hostile and huge files -----------------------------------------------------------------------------

HOSTILE = [
    "import nemo_run\nimport os\nos.system('touch {marker}')\nopen('{marker}', 'w')\n",
    "import nemo_run\nwhile True:\n    open('{marker}', 'w')\n",
    "import nemo_run\ndef f(n):\n    return f(n + 1)\nx = f(0)\nopen('{marker}', 'w')\n",
    "import nemo_run\nx = 10 ** 10 ** 10\ny = 9 ** 999999 * 9 ** 999999\nz = 'a' * 10 ** 9\n",
    "import nemo_run\nx = " + "-" * 5000 + "1\n",
    "import nemo_run\nx = " + "(" * 300 + "1" + ")" * 300 + "\n",
    "import nemo_run\nx = " + "-" * 899 + "1\nrecipe.optim.config.lr = x\n",  # -1: refused as an LR
    "import nemo_run\nx = " + "1 + " * 5000 + "1\nrecipe.optim.config.lr = x\n",
    "import nemo_run\n" + "def f():\n    return 1\n" * 2000 + "x = [" + "f(), " * 60_000 + "]\n",
    "import nemo_run\nexec(\"open('{marker}', 'w')\")\n__import__('os').system('touch {marker}')\n",
    # a huge expression the reader cannot evaluate, met 20,000 times: its message excerpt must not unparse it
    "import nemo_run as run\ndef f():\n    return z[[" + ",".join(["0"] * 60_000) + "]]\n" + "f()\n" * 20_000,
    "import nemo_run\n" + ("x = u" + ".a" * 900 + "\n") * 60,  # each attribute of an unknown, excerpted
]


@pytest.mark.parametrize("i", range(len(HOSTILE)))
def test_hostile_files_run_nothing_and_end(tmp_path, i):
    marker = tmp_path / "ran"
    p = tmp_path / "evil.py"
    p.write_text(HOSTILE[i].format(marker=marker))
    t = time.perf_counter()
    with pytest.raises(LrplanError):
        read(p)
    assert time.perf_counter() - t < 10
    assert not marker.exists()


def test_huge_file_is_refused(tmp_path):
    p = tmp_path / "big.py"
    p.write_text("import nemo_run\n" + "x = 1\n" * 400_000)
    with pytest.raises(LrplanError, match="more than a NeMo recipe reader reads"):
        read(p)
    assert FMT.detect(p.read_text(), p) == 0


# ---- the writer ------------------------------------------------------------------------------------------

WRITTEN = [  # (source, the NeMo 2 wrapper the writer picks)
    ("warmup=501(shift=1),cosine=9499(shift=1,span=9500),min=0.1,total=10000,peak=3e-4", "CosineAnnealingScheduler"),
    ("warmup=500,cosine=7500,min=0.1,total=10000,peak=2e-4", "CosineAnnealingScheduler"),
    ("constant,total=10000,peak=1e-3", "WarmupPolicyScheduler"),
    ("warmup=501(shift=1),linear=9499(shift=1,span=9500),min=0.01,total=10000,peak=1e-3", "WarmupAnnealingScheduler"),
    ("poly(power=2),min=0.01,total=10000,peak=1e-3", "PolynomialDecayAnnealingScheduler"),
]


def emit(schedule, **kw):
    return convert(schedule, "nemo", WriteOptions(source_label="test", version="0.0-test", variant="python", **kw))


def run_snippet(nemo2, text: str):
    """The emitted snippet executed on a recipe object, with the real wrapper classes: (wrapper, lr, T)."""
    recipe = types.SimpleNamespace(trainer=types.SimpleNamespace(max_steps=-1),
                                   optim=types.SimpleNamespace(config=types.SimpleNamespace(lr=None),
                                                               lr_scheduler=None))
    _stub("nemo_run", Config=Recorded, Partial=Recorded)
    ns = {"recipe": recipe}
    exec(compile(text, "<lrplan snippet>", "exec"), ns)  # noqa: S102 - lrplan's own emitted text, under test
    cfg = recipe.optim.lr_scheduler
    module = cfg._target(**cfg._kwargs)  # what fiddle's build does with a Config
    assert module.max_steps == recipe.trainer.max_steps
    return cfg, recipe.optim.config.lr, recipe.trainer.max_steps


@pytest.mark.parametrize("source, name", WRITTEN)
def test_written_snippet_runs_in_nemo(nemo2, source, name):
    s = parse_spec(source)
    w = emit(s)
    cfg, base, T = run_snippet(nemo2, w.text)
    assert cfg._target.__name__ == name
    given = {k: v for k, v in cfg._kwargs.items() if k != "max_steps"}
    theirs = stepped(nemo2, name, given, base, T, T + 10)
    assert_lr_close(lr(s, np.arange(T)), theirs[:T])


def test_golden_snippets(golden):
    for name in ("nemo2_llama3_8b.py", "nemo2_t5_220m.py"):
        ld = read(RECIPES_DIR / name)
        golden(f"nemo/recipe_{name}.txt", emit(ld.schedule).text)


def test_python_variant_refuses_what_nemo2_cannot_build():
    # WarmupHoldAnnealScheduler takes ratios only; Square* wrappers forward no warmup
    with pytest.raises(InexpressibleError, match="NeMo cannot express this schedule exactly"):
        emit(parse_spec("warmup=2000,linear,min=0.1,total=100000,peak=3e-4"))
    with pytest.raises(InexpressibleError):
        emit(parse_spec("exp-anneal,min=0.01,total=1000,peak=1e-3"))


def test_round_trip_recipe_to_snippet_to_recipe():
    ld = read(RECIPES_DIR / "nemo2_t5_220m.py")
    w = emit(ld.schedule)
    back = FMT.read(w.text, None, ReadOptions())
    ks = np.arange(0, 1_000_000, 7)
    assert_lr_close(lr(back.schedule, ks), lr(ld.schedule, ks))
    assert back.raw["nemo2"]["scheduler"] == "WarmupAnnealingScheduler"


# ---- the command line ------------------------------------------------------------------------------------


def test_cli_explain_a_recipe():
    r = run_cli("explain", str(RECIPES_DIR / "nemo2_llama3_8b.py"))
    assert r.returncode == 0, r.stderr
    assert "The run has 1,168,251 optimizer steps." in r.stdout
    assert "Peak LR 0.0003." in r.stdout
    assert "NeMo 2 CosineAnnealingScheduler (pretrain_recipe() with its defaults)" in r.stderr + r.stdout


def test_cli_convert_recipe_to_megatron(nemo2, tmp_path):
    # constant_steps > 0: NeMo's Megatron-style cosine, which Megatron's flags say exactly
    path = str(RECIPES_DIR / "nemo2_llama3_8b.py")
    r = run_cli("convert", path, "--to", "megatron", "--set", "constant_steps=100000", "--set", "max_steps=300000")
    assert r.returncode == 0, r.stderr
    flags = r.stdout
    assert "--lr-decay-style cosine" in flags and "--lr-warmup-iters 2000" in flags
    mine = get("megatron").read(flags, None, ReadOptions()).schedule
    ld = read(path, constant_steps=100000, max_steps=300000)
    check = np.arange(12_000)
    theirs = stepped(nemo2, "CosineAnnealingScheduler", ld.raw["nemo2"]["given"], 3e-4, 300000, 12_000)
    assert_lr_close(lr(mine, check), theirs)
    ks = np.linspace(0, 299_999, 5000).astype(np.int64)
    assert_lr_close(lr(mine, ks), closed(nemo2, "CosineAnnealingScheduler", ld.raw["nemo2"]["given"], 3e-4,
                                         300000, ks), steps=ks)
    # the recipe's own (k+1)/(W+1) warmup has no Megatron flag: exit 3 with the reason
    r = run_cli("convert", path, "--to", "megatron")
    assert r.returncode == ExitCode.INEXPRESSIBLE, r.stderr
    assert "Megatron-LM cannot express this schedule exactly: a warmup that does not end at the peak LR" in r.stderr


def test_cli_non_literal_value_is_exit_2_with_the_set():
    r = run_cli("at-step", "100", str(RECIPES_DIR / "nemo2_gpt_train.py"))
    assert r.returncode == ExitCode.USAGE, r.stderr
    assert "optim.config.lr is args.lr" in r.stderr and "hint: pass --set lr=VALUE" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("at-step", "100", str(RECIPES_DIR / "nemo2_gpt_train.py"), "--set", "lr=3e-4", "--set",
                "max_steps=20000", "--set", "warmup_steps=50", "--set", "min_lr=1e-5", "--json")
    assert r.returncode == 0, r.stderr
    import json

    got = json.loads(r.stdout)
    assert got["step"] == 100 and got["lr"] == pytest.approx(0.0003 - (0.0003 - 1e-5) * 0.5 * (
        1 - __import__("math").cos(__import__("math").pi * 50 / 19950)), rel=1e-12)


def test_cli_convert_to_nemo_python_by_suffix(tmp_path):
    out = tmp_path / "sched.py"
    r = run_cli("convert", "warmup=500,cosine=7500,min=0.1,total=10000,peak=2e-4", "--to", "nemo", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "recipe.optim.lr_scheduler = run.Config(" in text and "constant_steps=2000" in text
    r = run_cli("table", str(out), "--at", "0,500,8000", "--format", "json")
    assert r.returncode == 0, r.stderr


def test_reading_a_recipe_imports_no_framework():
    code = ("import sys, lrplan.sources as s; ld = s.load(sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'nemo', 'nemo_run', 'numpy', 'lightning') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(RECIPES_DIR / "nemo2_custom_recipe.py")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "'nemo'" not in r.stdout and "'torch'" not in r.stdout and "'nemo_run'" not in r.stdout
