"""Composer / llm-foundry reader and writer, differential against the real scheduler code.

mosaicml 0.32.1 and llm-foundry 0.22.0 are installed with --no-deps; ``import composer`` needs torchvision
(no CPU build for torch 2.13), so the modules are loaded from their installed files:
``composer/utils/string_enum.py``, ``composer/core/serializable.py``, ``composer/core/time.py`` (the real
``Time`` / ``Timestamp``), ``composer/optim/scheduler.py`` and ``llmfoundry/optim/scheduler.py`` (with the
real ``llmfoundry/utils/warnings.py``). The trainer's stepping is reproduced as
``composer/trainer/trainer.py::_train_loop`` does it: read the LR the update uses, ``optimizer.step()``,
``scheduler.step()`` on the real ``LambdaLR`` from ``compile_composer_scheduler``, then
``timestamp.to_next_batch(...)``. The ``State`` handed to the schedulers is a plain object with the four
attributes they read (``timestamp``, ``max_duration``, ``dataloader_len``, ``optimizers``); the same
driver reproduced the real ``Trainer.fit()`` bit for bit over 10k CPU updates (a one-off check with the
full mosaicml 0.32.1 install and a torchvision stand-in, 4 ep x 2500 ba, t_warmup 0.01dur; too slow for CI).

YAML configs are turned into scheduler objects the way llm-foundry does it (``omegaconf`` load + resolve,
``name`` popped and looked up in the registry that ``llmfoundry/optim/__init__.py`` registers -- read
from that real file, not retyped -- then ``cls(**kwargs)``); Composer's yahp-era ``schedulers:`` names use
the v0.11.0 ``scheduler_hparams_registry.py`` table below.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_lr_close, require, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.spec import parse_spec

FMT = get("composer")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "composer"
PEAK = 6e-4

# composer/optim/scheduler_hparams_registry.py at v0.11.0 (f5f95713b615ff2c3a23ef7a047117d339a98858).
YAHP_REGISTRY = {
    "step": "StepScheduler", "multistep": "MultiStepScheduler", "exponential": "ExponentialScheduler",
    "linear_decay": "LinearScheduler", "cosine_decay": "CosineAnnealingScheduler",
    "cosine_warmrestart": "CosineAnnealingWarmRestartsScheduler", "constant": "ConstantScheduler",
    "polynomial": "PolynomialScheduler", "polynomial_with_warmup": "PolynomialWithWarmupScheduler",
    "multistep_with_warmup": "MultiStepWithWarmupScheduler", "constant_with_warmup": "ConstantWithWarmupScheduler",
    "linear_decay_with_warmup": "LinearWithWarmupScheduler",
    "cosine_decay_with_warmup": "CosineAnnealingWithWarmupScheduler",
}


# ---- the real code, loaded from its installed files ----------------------------------------------------------


def _root(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None:
        require(pkg)  # fails on CI, skips elsewhere
    return Path(spec.origin).parent


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _package(name: str, path: Path | None):
    mod = types.ModuleType(name)
    mod.__path__ = [str(path)] if path else []
    sys.modules[name] = mod
    return mod


class _State:
    """The four attributes Composer's schedulers read from ``composer.core.State``."""

    def __init__(self, timestamp, max_duration, dataloader_len, optimizers):
        self.timestamp, self.max_duration = timestamp, max_duration
        self.dataloader_len, self.optimizers = dataloader_len, optimizers


_LOADED: dict = {}


def real():
    """(composer.optim.scheduler, composer.core.time, llmfoundry.optim.scheduler), loaded once."""
    if _LOADED:
        return _LOADED["mods"]
    require("torch")
    root, lf = _root("composer"), _root("llmfoundry")
    saved = {k: sys.modules.get(k) for k in list(sys.modules) if k.split(".")[0] in ("composer", "llmfoundry")}
    _package("composer", root)
    core = _package("composer.core", root / "core")
    _package("composer.optim", root / "optim")
    utils = _package("composer.utils", root / "utils")
    utils.StringEnum = _module("composer.utils.string_enum", root / "utils" / "string_enum.py").StringEnum
    _module("composer.core.serializable", root / "core" / "serializable.py")
    time_mod = _module("composer.core.time", root / "core" / "time.py")
    core.Time, core.TimeUnit, core.Timestamp, core.State = (time_mod.Time, time_mod.TimeUnit, time_mod.Timestamp,
                                                            _State)
    sched = _module("composer.optim.scheduler", root / "optim" / "scheduler.py")
    optim = sys.modules["composer.optim"]
    optim.ComposerScheduler, optim.LinearScheduler = sched.ComposerScheduler, sched.LinearScheduler
    _package("llmfoundry", lf)
    _package("llmfoundry.utils", lf / "utils")
    _package("llmfoundry.optim", lf / "optim")
    _module("llmfoundry.utils.warnings", lf / "utils" / "warnings.py")
    foundry = _module("llmfoundry.optim.scheduler", lf / "optim" / "scheduler.py")
    for k in [k for k in sys.modules if k.split(".")[0] in ("composer", "llmfoundry")]:
        del sys.modules[k]  # keep the objects, leave no half-built packages behind for other tests
    sys.modules.update({k: v for k, v in saved.items() if v is not None})
    _LOADED["mods"] = sched, time_mod, foundry
    return _LOADED["mods"]


def llmfoundry_registry() -> dict[str, str]:
    """name -> class as ``llmfoundry/optim/__init__.py`` registers them (parsed from the installed file)."""
    src = (_root("llmfoundry") / "optim" / "__init__.py").read_text()
    out = {}
    for node in ast.walk(ast.parse(src)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "schedulers"):
            func = next(k.value for k in node.keywords if k.arg == "func")
            out[node.args[0].value] = func.id
    return out


def scheduler_object(name: str, kwargs: dict, form: str):
    """The real scheduler a config names, built as llm-foundry's build_scheduler / yahp would."""
    sched, _, foundry = real()
    cls = (llmfoundry_registry() if form == "llm-foundry" else YAHP_REGISTRY)[name]
    owner = foundry if hasattr(foundry, cls) and not hasattr(sched, cls) else sched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(owner, cls)(**kwargs)


def from_yaml_text(text: str):
    """(scheduler object, config dict): the YAML loaded and resolved by omegaconf, as llm-foundry's train.py."""
    om = require("omegaconf").OmegaConf
    cfg = om.to_container(om.create(text), resolve=True)
    if "scheduler" in cfg:
        kw = dict(cfg["scheduler"])
        return scheduler_object(kw.pop("name"), kw, "llm-foundry"), cfg
    (name, kw), = cfg["schedulers"][-1].items() if isinstance(cfg["schedulers"], list) else \
        list(cfg["schedulers"].items())[-1:]
    return scheduler_object(name, dict(kw or {}), "yahp"), cfg


def real_lrs(scheduler, max_duration: str, steps, *, dataloader_len=None, batch=1, seq=0, ssr=1.0, peak=PEAK):
    """The LR each update in ``steps`` (a range) uses in Composer's training loop."""
    torch = require("torch")
    sched, time_mod, _ = real()
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=peak)
    md = time_mod.Time.from_timestring(max_duration)
    if ssr != 1.0:
        md = md * ssr  # Trainer._scale_max_duration_by_ssr
    k0 = steps.start
    # a run resumed at batch t0 = k0 - 1 (Timestamp restored), so update k0 sees the timestamp of batch k0 - 1
    t0 = max(k0 - 1, 0)
    state = _State(time_mod.Timestamp(batch=t0, sample=t0 * batch, token=t0 * batch * seq), md, dataloader_len, [opt])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "The warmup duration is 0", LambdaLR's step-order warning
        lam = sched.compile_composer_scheduler(scheduler, state, ssr)
        if k0 > 0:  # the LR update k0 uses was set by scheduler.step() at the end of batch k0 - 1
            lam.step()
            state.timestamp = state.timestamp.to_next_batch(samples=batch, tokens=batch * seq)
        for _ in steps:
            out.append(opt.param_groups[0]["lr"])
            # the trainer's optimizer.step() comes here; it never touches param_groups[0]["lr"] (and has no
            # gradients to apply), so it is left out: a fifth of the run time
            lam.step()
            state.timestamp = state.timestamp.to_next_batch(samples=batch, tokens=batch * seq)
    return np.array(out)


def ours(text: str, steps, **extra):
    opts = ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items()))
    return lr(FMT.read(text, None, opts).schedule, np.asarray(steps, dtype=float))


def doc(scheduler: dict, max_duration="12000ba", *, form="llm-foundry", peak=PEAK, **top) -> str:
    if form == "llm-foundry":
        body = {"max_duration": max_duration, "optimizer": {"name": "decoupled_adamw", "lr": peak},
                "scheduler": scheduler, **top}
    else:
        (name, kw), = scheduler.items()
        body = {"max_duration": max_duration, "optimizers": {"decoupled_sgdw": {"lr": peak}},
                "schedulers": [{name: kw}], **top}
    return yaml.safe_dump(body, sort_keys=False)


# ---- every scheduler class, every step ---------------------------------------------------------------------

CASES = [  # (scheduler section, form, max_duration, extra for the reader, Trainer facts)
    ({"name": "cosine_with_warmup", "t_warmup": "100ba", "alpha_f": 0.1}, "llm-foundry", "10000ba", {}, {}),
    ({"name": "cosine_with_warmup", "t_warmup": "0.02dur", "alpha_f": 0.0}, "llm-foundry", "4ep",
     {"batches_per_epoch": 2501}, {"dataloader_len": 2501}),
    ({"name": "linear_decay_with_warmup", "t_warmup": "50ba", "alpha_f": 0.0, "t_max": "11000ba"},
     "llm-foundry", "10000ba", {}, {}),
    ({"name": "constant_with_warmup", "t_warmup": "300ba", "alpha": 0.5}, "llm-foundry", "10000ba", {}, {}),
    ({"name": "inv_sqrt_with_warmup", "t_warmup": "1000ba", "t_scale": "2500ba", "t_cooldown": "3000ba",
      "alpha_f_cooldown": 0.0}, "llm-foundry", "10000ba", {}, {}),
    ({"polynomial_with_warmup": {"t_warmup": "1000ba", "power": 2.0, "alpha_f": 0.05}}, "yahp", "10000ba", {}, {}),
    ({"multistep_with_warmup": {"t_warmup": "5ep", "milestones": ["80ep", "120ep"], "gamma": 0.1}}, "yahp",
     "160ep", {"batches_per_epoch": 63}, {"dataloader_len": 63}),
    ({"linear_decay_with_warmup": {"t_warmup": "0.06dur", "alpha_f": 0.02}}, "yahp", "40960000sp",
     {"batch_size": 4096}, {"batch": 4096}),
    ({"cosine_decay": {"t_max": "1dur", "alpha_f": 0.0}}, "yahp", "10000ba", {}, {}),
    ({"cosine_warmrestart": {"t_0": "1000ba", "t_mult": 2.0, "alpha_f": 0.01}}, "yahp", "10000ba", {}, {}),
    ({"cosine_warmrestart": {"t_0": "700ba", "t_mult": 1.5}}, "yahp", "10000ba", {}, {}),
    ({"step": {"step_size": "2ep", "gamma": 0.97}}, "yahp", "120ep", {"batches_per_epoch": 84},
     {"dataloader_len": 84}),
    ({"exponential": {"gamma": 0.99, "decay_period": "800ba"}}, "yahp", "10000ba", {}, {}),
    ({"constant": {"alpha": 0.1, "t_max": "6000ba"}}, "yahp", "10000ba", {}, {}),
    ({"linear_decay": {"alpha_i": 1.0, "alpha_f": 0.0, "t_max": "0.75dur"}}, "yahp", "10000ba", {}, {}),
    ({"polynomial": {"power": 0.5, "t_max": "1dur", "alpha_f": 0.1}}, "yahp", "10000ba", {}, {}),
    ({"multistep": {"milestones": ["3000ba", "6000ba", "6000ba"], "gamma": 0.5}}, "yahp", "10000ba", {}, {}),
    ({"cosine_decay_with_warmup": {"t_warmup": "12800tok", "t_max": "1dur", "alpha_f": 0.1}}, "yahp", "1280000tok",
     {"batch_size": 8, "seq_len": 16}, {"batch": 8, "seq": 16}),
]


def _steps_of(md: str, facts: dict) -> int:
    if md.endswith("ep"):
        return int(md[:-2]) * facts["dataloader_len"]
    if md.endswith("sp"):
        return -(-int(md[:-2]) // facts["batch"])
    if md.endswith("tok"):
        return -(-int(md[:-3]) // (facts["batch"] * facts["seq"]))
    return int(md[:-2])


@pytest.mark.parametrize("case", CASES, ids=lambda c: next(iter(c[0].values())) if c[1] == "llm-foundry"
                         else next(iter(c[0])))
def test_reader_matches_real_scheduler_at_every_step(case):
    section, form, md, extra, facts = case
    text = doc(section, md, form=form)
    obj, _ = from_yaml_text(text)
    n = _steps_of(md, facts)
    assert n >= 10_000
    steps = range(n + 3)  # the whole run and a few updates past its end
    assert_lr_close(ours(text, list(steps), **extra), real_lrs(obj, md, steps, **facts))


def test_scale_schedule_ratio_and_scale_warmup():
    section = {"cosine_decay_with_warmup": {"t_warmup": "400ba", "alpha_f": 0.1, "scale_warmup": True}}
    text = doc(section, "5000ba", form="yahp", scale_schedule_ratio=0.6)
    obj, _ = from_yaml_text(text)
    steps = range(3003)  # max_duration int(5000 * 0.6) = 3000 batches
    loaded = FMT.read(text, None, ReadOptions())
    assert loaded.schedule.total == 3000
    assert_lr_close(lr(loaded.schedule, np.arange(3003)), real_lrs(obj, "5000ba", steps, ssr=0.6))


# batches per epoch for the fixtures whose times are in epochs (they need it; any value exercises the rule)
FIXTURE_EPOCHS = {"composer-v0.11.0__deeplabv3_ade20k_optimized.yaml": 137, "composer-v0.11.0__efficientnetb0.yaml": 137,
                  "composer-v0.11.0__resnet50.yaml": 137, "composer-v0.11.0__resnet56_cifar10.yaml": 137,
                  "llmfoundry__7b_dolly_sft.yaml": 137, "llmfoundry__dbrx-full-ft.yaml": 333,
                  "llmfoundry__mpt-30b-instruct.yaml": 137, "llmfoundry__mpt-7b_dolly_sft.yaml": 137}


def test_every_fixture_is_listed():
    names = sorted(p.name for p in FIXTURES.glob("*.yaml"))
    assert len(names) >= 5 and set(FIXTURE_EPOCHS) <= set(names)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_real_configs_from_their_repositories(name):
    text = (FIXTURES / name).read_text()
    assert FMT.detect(text, None) == 8
    assert text.startswith("# lrplan fixture") and "# commit      : " in text  # the citation header
    obj, cfg = from_yaml_text(text)
    per_epoch = FIXTURE_EPOCHS.get(name)
    extra = () if per_epoch is None else (("batches_per_epoch", str(per_epoch)),)
    loaded = FMT.read(text, None, ReadOptions(extra=extra))
    batch = cfg.get("global_train_batch_size", cfg.get("train_batch_size", 1))
    on_steps = loaded.schedule.axis.unit == "steps"
    n = int(loaded.schedule.total if on_steps else loaded.schedule.total // batch)
    # every step of short runs; the first 3000, a middle 2000 and the last 2000 (and past the end) of long ones
    windows = [range(n + 3)] if n <= 2500 else [range(1200), range(n // 2, n // 2 + 300),
                                                   range(n - 1000, n + 3)]
    for w in windows:
        theirs = real_lrs(obj, str(cfg["max_duration"]), w, batch=1 if on_steps else batch, dataloader_len=per_epoch,
                          peak=loaded.schedule.peak_lr)
        assert_lr_close(lr(loaded.schedule, np.arange(w.start, w.stop)), theirs, steps=w)


@pytest.mark.parametrize("name", sorted(FIXTURE_EPOCHS))
def test_fixtures_in_epochs_need_the_dataloader_length(name):
    with pytest.raises(LrplanError, match="batches_per_epoch"):
        FMT.read((FIXTURES / name).read_text(), None, ReadOptions())


def test_the_one_batch_lag():
    """Updates 0 and 1 share alpha(0); the last update of the run sees batch T - 2 (never alpha_f)."""
    text = doc({"name": "linear_decay_with_warmup", "t_warmup": "4ba", "alpha_f": 0.0}, "16ba", peak=1.0)
    values = ours(text, range(18))
    assert list(values[:6]) == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    # the last update of the 16-batch run (k = 15) uses alpha at batch 14 = 1 - 10/12; alpha_f only after the run
    assert values[15] == pytest.approx(1 / 6, rel=1e-15) and values[16] == pytest.approx(1 / 12, rel=1e-15)
    assert values[17] == 0.0
    obj, _ = from_yaml_text(text)
    assert_lr_close(values, real_lrs(obj, "16ba", range(18), peak=1.0))
    ld = FMT.read(text, None, ReadOptions())
    assert ld.step_name(5) == "Composer's LRMonitor logs this LR at batch 5 (at the end of batch 4)"
    assert "update 1 uses the same one" in ld.step_name(0)


def test_interpolation_and_defaults():
    text = ("variables:\n  warm: 100ba\n  lr: 6.0e-4\nmax_duration: 1000ba\noptimizer:\n  name: decoupled_adamw\n"
            "  lr: ${variables.lr}\nscheduler:\n  name: cosine_with_warmup\n  t_warmup: ${variables.warm}\n")
    ld = FMT.read(text, None, ReadOptions())
    assert ld.schedule.peak_lr == 6e-4 and ld.schedule.lr.segments[1].end == 101
    assert "scheduler.alpha_f" in ld.raw["_defaults_applied"]
    obj, _ = from_yaml_text(text)
    assert_lr_close(lr(ld.schedule, np.arange(1003)), real_lrs(obj, "1000ba", range(1003)))


def test_several_schedulers_the_last_one_wins():
    text = yaml.safe_dump({"max_duration": "10ba", "schedulers": [{"constant": {"alpha": 0.5}},
                                                                  {"linear_decay": {"alpha_f": 0.0}}]})
    ld = FMT.read(text, None, ReadOptions(lr=1.0))
    assert any("the last (linear_decay) sets every LR" in n for n in ld.notes)
    torch = require("torch")
    sched, time_mod, _ = real()
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    state = _State(time_mod.Timestamp(), time_mod.Time.from_timestring("10ba"), None, [opt])
    lams = [sched.compile_composer_scheduler(s, state) for s in (sched.ConstantScheduler(alpha=0.5),
                                                                  sched.LinearScheduler(alpha_f=0.0))]
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        for lam in lams:  # Trainer: for scheduler in self.state.schedulers: scheduler.step()
            lam.step()
        state.timestamp = state.timestamp.to_next_batch(samples=1, tokens=0)
    assert_lr_close(lr(ld.schedule, np.arange(10)), seen)


BAD = [
    ({"name": "cosine_with_warmup"}, "scheduler.t_warmup: CosineAnnealingWithWarmupScheduler needs 't_warmup'"),
    ({"name": "cosine_with_warmup", "t_warmup": "100ba", "alpha_ff": 0.1}, "takes no argument 'alpha_ff'"),
    ({"name": "cosine_with_warmup", "t_warmup": 100}, "scheduler.t_warmup: must be a time string, got int 100"),
    ({"name": "cosine_with_warmup", "t_warmup": "1.5ba"}, "batches must be a whole number"),
    ({"name": "cosine_with_warmup", "t_warmup": "1h30m"}, "wall-clock time"),
    ({"name": "cosine_with_warmup", "t_warmup": "100bb"}, "not a Composer time string"),
    ({"name": "cosine_with_warmup", "t_warmup": "100ba", "t_max": "500ba"}, "shorter than max_duration"),
    ({"name": "cosine_with_warmup", "t_warmup": "100sp", "t_max": "1000ba"}, "requires the same units"),
    ({"name": "cosine_with_warmup", "t_warmup": "2ep"}, "scheduler.t_warmup: a time in epochs needs the dataloader"),
    ({"name": "multistep_with_warmup", "t_warmup": "1ba", "milestones": ["5ba"]},
     "'multistep_with_warmup' is a name of the Composer (yahp) registry"),
    ({"name": "cosine_warmup"}, "did you mean 'cosine_with_warmup'"),
    ({"name": "inv_sqrt_with_warmup", "t_warmup": "0.1dur", "t_scale": "10ba", "t_cooldown": "0ba"},
     'cannot be in units of "dur"'),
    ({"name": "inv_sqrt_with_warmup", "t_warmup": "10ba", "t_scale": "10ba", "t_cooldown": "0ba",
      "alpha_f_decay": 0.1}, "only with alpha_f_decay: 0"),
    ({"name": "cosine_with_warmup", "t_warmup": "100ba", "alpha_f": "abc"}, "scheduler.alpha_f: must be a number"),
]


@pytest.mark.parametrize("section,message", BAD, ids=[m for _, m in BAD])
def test_bad_configs(section, message):
    with pytest.raises(LrplanError) as e:
        FMT.read(doc(section, "1000ba", global_train_batch_size=8), None, ReadOptions())
    assert message in e.value.render()


def test_the_bad_configs_are_bad_in_composer_too():
    """Each refusal above that is Composer's own is raised by the real code as well."""
    sched, time_mod, foundry = real()
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)

    def call(obj, md="1000ba", dl=None):
        state = _State(time_mod.Timestamp(batch=200), time_mod.Time.from_timestring(md), dl, [opt])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return obj(state)

    with pytest.raises(ValueError, match="must be greater than or equal to max_duration"):
        call(sched.CosineAnnealingWithWarmupScheduler(t_warmup="100ba", t_max="500ba"))
    with pytest.raises(ValueError, match="must use the same units"):
        call(sched.CosineAnnealingWithWarmupScheduler(t_warmup="100sp", t_max="1000ba"))
    with pytest.raises(RuntimeError, match="dataloader_len is None"):
        call(sched.CosineAnnealingWithWarmupScheduler(t_warmup="2ep"))
    with pytest.raises(TypeError):
        call(sched.CosineAnnealingWithWarmupScheduler(t_warmup="1.5ba"))
    with pytest.raises(ValueError, match="Wall clock"):
        call(sched.CosineAnnealingWithWarmupScheduler(t_warmup="1h30m"))
    with pytest.raises(ValueError, match='cannot be in units of "dur"'):
        foundry.InverseSquareRootWithWarmupScheduler(t_warmup="0.1dur", t_scale="10ba", t_cooldown="0ba")


def test_time_strings_as_composer_reads_them():
    _, time_mod, _ = real()
    from lrplan.frameworks.composer.timestr import parse_time

    for s in ("100ba", "2BA", "1e3ba", "0.25dur", "7ep", "500sp", "10000tok", " 12ba"):
        t = time_mod.Time.from_timestring(s)
        mine = parse_time(s, "t")
        assert (mine.value, mine.unit) == (t.value, t.unit.value), s


def test_missing_facts_are_named():
    with pytest.raises(LrplanError, match="global batch size"):
        FMT.read(doc({"name": "cosine_with_warmup", "t_warmup": "100sp"}, "10000sp"), None, ReadOptions())
    with pytest.raises(LrplanError, match="no max_duration"):
        FMT.read(yaml.safe_dump({"scheduler": {"name": "cosine_with_warmup", "t_warmup": "1ba"}}), None,
                 ReadOptions())
    ld = FMT.read(yaml.safe_dump({"scheduler": {"name": "cosine_with_warmup", "t_warmup": "1ba"}}), None,
                  ReadOptions(steps="100", lr=1e-3))
    assert ld.schedule.total == 100 and ld.schedule.peak_lr == 1e-3


def test_dataset_size_gives_the_dataloader_length():
    text = doc({"name": "cosine_with_warmup", "t_warmup": "1ep"}, "3ep", global_train_batch_size=64,
               train_loader={"drop_last": True})
    ld = FMT.read(text, None, ReadOptions(extra=(("dataset_size", "10000"), ("world_size", "8"))))
    # ceil(10000 / 8) = 1250 samples per rank, floor(1250 / 8) = 156 batches per epoch (drop_last)
    assert ld.schedule.total == 3 * 156 and ld.schedule.lr.segments[1].end == 157


# ---- writer ----------------------------------------------------------------------------------------------------


def emit(schedule, **kw):
    return convert(schedule, "composer", WriteOptions(source_label="test", version="0.0-test", **kw))


def _run_emitted(text: str, n: int):
    obj, cfg = from_yaml_text(text)
    return real_lrs(obj, cfg["max_duration"], range(n), peak=cfg.get("optimizer", {}).get("lr") or
                    next(iter(cfg.get("optimizers", {}).values()))["lr"])


# 4000 batches each: the reader tests above already step these classes over 10k+ batches
@pytest.mark.parametrize("case", [(CASES[0][0], "llm-foundry", "4000ba"), (CASES[4][0], "llm-foundry", "4000ba"),
                                  (CASES[5][0], "yahp", "4000ba"), (CASES[9][0], "yahp", "4000ba")],
                         ids=lambda c: next(iter(c[0].values())) if c[1] == "llm-foundry" else next(iter(c[0])))
def test_written_yaml_runs_in_real_composer(case):
    section, form, md = case[:3]
    schedule = FMT.read(doc(section, md, form=form), None, ReadOptions()).schedule
    w = emit(schedule)
    assert w.deviation is None
    n = int(schedule.total)
    assert_lr_close(lr(schedule, np.arange(n)), _run_emitted(w.text, n))


def test_schedules_of_other_dialects_with_the_lag_shape():
    """A curve whose first two updates share an LR (DeepSpeed's engine also applies its first value twice)."""
    from lrplan.ir import ONE, ZERO, Curve, Level, Schedule, Segment

    schedule = Schedule(Curve((Segment("constant", 0, 1, ZERO), Segment("linear", 1, 101, ZERO, ONE, origin=1),
                               Segment("cosine", 101, 3001, ONE, Level(0.1)))), peak_lr=PEAK, total=3000)
    w = emit(schedule)
    assert "name: cosine_with_warmup" in w.text and "t_warmup: 100ba" in w.text
    assert_lr_close(lr(schedule, np.arange(3000)), _run_emitted(w.text, 3000))


def test_lag_makes_the_common_warmup_inexpressible():
    schedule = parse_spec("warmup=100,cosine,min=0.1", steps="10k", lr=PEAK)
    with pytest.raises(InexpressibleError) as e:
        emit(schedule)
    assert "Composer lags one batch, so updates 0 and 1 always share one LR" in e.value.message
    assert "the nearest ('cosine_with_warmup')" in e.value.message
    w = emit(schedule, approx=True)
    assert "t_warmup: 100ba" in w.text and w.deviation.lr.worst == pytest.approx(PEAK / 100)


def test_yahp_variant_and_unknown_variant():
    schedule = FMT.read(doc(CASES[0][0]), None, ReadOptions()).schedule
    w = emit(schedule, variant="yahp")
    assert "cosine_decay_with_warmup:" in w.text and "schedulers:" in w.text
    with pytest.raises(LrplanError, match="unknown --variant"):
        emit(schedule, variant="json")


@pytest.mark.parametrize("case", [CASES[0], CASES[5], CASES[6]], ids=["cosine_with_warmup", "poly", "multistep"])
def test_golden(case, golden):
    section, form, md, extra, _facts = case
    schedule = FMT.read(doc(section, md, form=form), None,
                        ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items()))).schedule
    name = next(iter(section.values())) if form == "llm-foundry" else next(iter(section))
    golden(f"composer/{name}.yaml", emit(schedule).text)


@settings(max_examples=40, deadline=None)
@given(T=st.integers(10, 100_000), w=st.floats(0, 0.5), af=st.floats(0, 1), kind=st.sampled_from(
    ["cosine_with_warmup", "linear_decay_with_warmup", "constant_with_warmup"]), peak=st.floats(1e-6, 1e-1))
def test_round_trip_yaml_ir_yaml(T, w, af, kind, peak):
    section = {"name": kind, "t_warmup": f"{int(w * T)}ba",
               **({"alpha": af} if kind == "constant_with_warmup" else {"alpha_f": af})}
    first = FMT.read(doc(section, f"{T}ba", peak=peak), None, ReadOptions()).schedule
    second = FMT.read(emit(first).text, None, ReadOptions()).schedule
    k = np.unique(np.linspace(0, T + 5, 400).astype(int))
    assert_lr_close(lr(second, k), lr(first, k))


# ---- command line ----------------------------------------------------------------------------------------------


def test_cli_at_step_convert_and_set(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text((FIXTURES / "llmfoundry__mpt-7b_dolly_sft.yaml").read_text())
    r = run_cli("at-step", "51", str(path), "--json")
    assert r.returncode == ExitCode.USAGE and "batches_per_epoch" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("at-step", "51", str(path), "--set", "batches_per_epoch=150", "--json")
    assert r.returncode == 0, r.stderr
    # t_warmup 50ba, 300 batches in all: update 51 is the first at the peak (alpha at batch 50 = 1)
    assert json.loads(r.stdout)["lr"] == pytest.approx(5e-6, rel=1e-15)
    r = run_cli("convert", str(path), "--set", "batches_per_epoch=150", "--to", "composer")
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["scheduler"] == {"name": "linear_decay_with_warmup", "t_warmup": "50ba"}
    r = run_cli("table", str(path), "--from", "composer", "--set", "batches_per_epoch=150", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["format"] == "composer"


def test_cli_convert_to_composer_exit_3():
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "10k", "--lr", "3e-4", "--to", "composer")
    assert r.returncode == ExitCode.INEXPRESSIBLE and "Composer lags one batch" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


# ---- lint (docs/lint.md LR031-LR033) ----------------------------------------------------------------------------

LINT = {  # rule -> (config with the pitfall, the same without, --set facts)
    "LR031": (doc({"name": "cosine_with_warmup", "t_warmup": "0.02dur"}, "2ep"),
              doc({"name": "cosine_with_warmup", "t_warmup": "1ba"}, "2ep"), {"batches_per_epoch": 8}),
    "LR032": (yaml.safe_dump({"max_duration": "10ba", "schedulers": [{"constant": {"alpha": 0.5}},
                                                                     {"linear_decay": {"alpha_f": 0.0}}]}),
              yaml.safe_dump({"max_duration": "10ba", "schedulers": [{"linear_decay": {"alpha_f": 0.0}}]}), {}),
    "LR033": (doc({"cosine_decay_with_warmup": {"t_warmup": "100ba"}}, "1000ba", form="yahp", scale_schedule_ratio=0.5),
              doc({"cosine_decay_with_warmup": {"t_warmup": "100ba"}}, "1000ba", form="yahp"), {}),
}


@pytest.mark.parametrize("rule", sorted(LINT))
def test_lint_rules(rule):
    from lrplan import lint

    bad, good, facts = LINT[rule]
    opts = ReadOptions(lr=1.0, extra=tuple((k, str(v)) for k, v in facts.items()))
    fired = [f for f in lint.run(FMT.read(bad, None, opts), dict(opts.extra)) if f.rule == rule]
    assert len(fired) == 1
    assert not [f for f in lint.run(FMT.read(good, None, opts), dict(opts.extra)) if f.rule == rule]
