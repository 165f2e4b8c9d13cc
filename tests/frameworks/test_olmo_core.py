"""OLMo-core reader and writer, differential against the real ``olmo_core/optim/scheduler.py``.

ai2-olmo-core 3.0.0 is installed with --no-deps (its package ``__init__`` chain pulls cloud-storage and
model code); ``olmo_core/optim/scheduler.py`` is loaded from its installed file with the real
``olmo_core/config.py`` (``Config``, ``as_config_dict``, ``from_dict``; needs dataclass-extensions and
pyyaml), ``aliases.py`` and ``exceptions.py``. Three names it imports from modules not loaded are given
their values: ``olmo_core.optim.config.LR_FIELD = "lr"`` and ``INITIAL_LR_FIELD = "initial_lr"``
(``optim/config.py``), ``olmo_core.distributed.utils.get_rank() = 0`` (rank-0 warnings), and
``cached_path`` (used only by ``Config.from_json`` on URLs) is the identity.

The trainer is reproduced as ``Trainer._fit_epoch`` and ``TransformerTrainModule.optim_step`` do it
(ai2-olmo-core 3.0.0 ``train/trainer.py``): ``global_step += 1`` and ``global_train_tokens_seen += B``
*before* the batch, then the real ``scheduler.set_lr(group, trainer)`` on an optimizer param group, whose
value the update uses. ``max_steps`` / ``max_tokens`` are those of ``Trainer._get_max_steps`` /
``_get_max_tokens`` for a constant batch (ceil(tokens / B); steps x B). The same driver matched the real
3.0.0 ``Trainer`` bit for bit over a CPU run (a one-off check; the trainer's import needs the full install).
"""

from __future__ import annotations

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

from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.spec import parse_spec

FMT = get("olmo-core")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "olmo_core"
PEAK = 3e-4

_LOADED: dict = {}


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def real():
    """The real ``olmo_core.optim.scheduler`` module, loaded once from the installed file."""
    if _LOADED:
        return _LOADED["mod"]
    require("torch")
    require("dataclass_extensions")
    spec = importlib.util.find_spec("olmo_core")
    if spec is None:
        require("olmo_core")  # fails on CI, skips elsewhere
    root = Path(spec.origin).parent
    saved = {k: sys.modules.get(k) for k in list(sys.modules) if k.split(".")[0] in ("olmo_core", "cached_path")}
    for name, sub in (("olmo_core", root), ("olmo_core.optim", root / "optim"), ("olmo_core.distributed", None)):
        m = types.ModuleType(name)
        m.__path__ = [str(sub)] if sub else []
        sys.modules[name] = m
    if importlib.util.find_spec("cached_path") is None:
        cp = types.ModuleType("cached_path")
        cp.cached_path = lambda p: Path(p)
        sys.modules["cached_path"] = cp
    oc = types.ModuleType("olmo_core.optim.config")
    oc.LR_FIELD, oc.INITIAL_LR_FIELD = "lr", "initial_lr"
    sys.modules["olmo_core.optim.config"] = oc
    du = types.ModuleType("olmo_core.distributed.utils")
    du.get_rank = lambda *a, **k: 0
    sys.modules["olmo_core.distributed.utils"] = du
    for name in ("aliases", "exceptions", "config"):
        _load(f"olmo_core.{name}", root / f"{name}.py")
    mod = _load("olmo_core.optim.scheduler", root / "optim" / "scheduler.py")
    for k in [k for k in sys.modules if k.split(".")[0] in ("olmo_core", "cached_path")]:
        del sys.modules[k]
    sys.modules.update({k: v for k, v in saved.items() if v is not None})
    _LOADED["mod"] = mod
    return mod


class _Trainer:
    """The four attributes ``Scheduler.set_lr`` reads from ``olmo_core.train.Trainer``."""

    def __init__(self, max_steps, max_tokens):
        self.global_step, self.global_train_tokens_seen = 0, 0
        self.max_steps, self.max_tokens = max_steps, max_tokens


def from_config_dict(d: dict):
    """The scheduler OLMo-core builds from a saved config (``Config.from_dict``, resolving ``_CLASS_``)."""
    mod = real()
    saved = sys.modules.get("olmo_core.optim.scheduler")
    sys.modules["olmo_core.optim.scheduler"] = mod  # from_dict imports the module named in _CLASS_
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return mod.Scheduler.from_dict(dict(d))
    finally:
        if saved is None:
            del sys.modules["olmo_core.optim.scheduler"]
        else:
            sys.modules["olmo_core.optim.scheduler"] = saved


def real_lrs(scheduler, duration: tuple[int, str], n, *, batch_tokens: int = 1, peak: float = PEAK,
             steps_per_epoch: int | None = None):
    """The LR each update uses (n updates, or the updates of a range): the trainer's bookkeeping, then the
    real set_lr. A range starting later is a run restored at that step (global_step and tokens seen)."""
    steps = range(n) if isinstance(n, int) else n
    v, unit = duration
    B = batch_tokens
    if unit == "epochs":
        v, unit = v * steps_per_epoch, "steps"  # Trainer._get_max_steps: batches of every epoch
    max_steps = v if unit == "steps" else -(-v // B)
    max_tokens = v if unit == "tokens" else v * B
    trainer = _Trainer(max_steps, max_tokens)
    trainer.global_step, trainer.global_train_tokens_seen = steps.start, steps.start * B
    group = {"params": [], "lr": peak}
    group["initial_lr"] = peak  # optim/config.py: group.setdefault("initial_lr", lr)
    out = []
    for _ in steps:
        trainer.global_step += 1
        trainer.global_train_tokens_seen += B
        scheduler.set_lr(group, trainer)
        out.append(group["lr"])
    return np.array(out, dtype=float)


def config(sched: dict, duration=(12_000, "steps"), *, batch_tokens=None, peak=PEAK) -> dict:
    doc = {"train_module": {"optim": {"lr": peak}, "scheduler": sched},
           "trainer": {"max_duration": {"value": duration[0], "unit": duration[1]}}}
    if batch_tokens is not None:
        doc["data_loader"] = {"global_batch_size": batch_tokens}
    return doc


def ours(doc: dict, n: int, **extra):
    opts = ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items()))
    loaded = FMT.read(json.dumps(doc), None, opts)
    return lr(loaded.schedule, np.arange(n, dtype=float)), loaded  # lr() takes optimizer steps on any axis


def olmo(sched_obj) -> dict:
    return sched_obj.as_config_dict()


# ---- every scheduler class, every step ----------------------------------------------------------------------

def CASES():
    m = real()
    B = 4096 * 64
    return [  # (id, scheduler object, max_duration, batch tokens)
        ("cos", m.CosWithWarmup(warmup=2000, alpha_f=0.1), (12_000, "steps"), None),
        ("cos_fraction_tmax", m.CosWithWarmup(warmup_fraction=0.0125, alpha_f=0.0, t_max=11_000), (10_000, "steps"),
         None),
        ("cos_min_lr", m.CosWithWarmup(warmup=500, alpha_f=0.05, warmup_min_lr=1e-5), (10_000, "steps"), None),
        ("linear", m.LinearWithWarmup(warmup=200, alpha_f=0.0), (10_500, "steps"), None),
        ("half_cos", m.HalfCosWithWarmup(warmup=1000, alpha_f=0.1), (10_000, "steps"), None),
        ("cos_linear_decay", m.CosWithWarmupAndLinearDecay(warmup=1000, decay_fraction=0.2, alpha_f=0.1),
         (10_000, "steps"), None),
        ("inv_sqrt", m.InvSqrtWithWarmup(warmup=1000, alpha_f=0.0), (10_000, "steps"), None),
        ("wsd", m.WSD(warmup=1000, decay_fraction=0.2, decay_min_lr=0.0), (10_000, "steps"), None),
        ("wsd_min", m.WSD(warmup_fraction=0.05, decay=3000, decay_fraction=None, warmup_min_lr=3e-6,
                          decay_min_lr=3e-5), (10_001, "steps"), None),
        ("constant_warmup", m.ConstantWithWarmup(warmup=777), (10_000, "steps"), None),
        ("constant", m.ConstantScheduler(), (10_000, "steps"), None),
        ("sequential", m.SequentialScheduler(schedulers=[m.ConstantWithWarmup(warmup=1000),
                                                         m.LinearWithWarmup(warmup=0, alpha_f=0.0)],
                                             schedulers_max=[6000]), (10_000, "steps"), None),
        ("wsds", m.WSDS(period_lengths=[4000, 3000, 3000], period_lr_multipliers=[1.0, 0.8, 0.6], warmup=500,
                        decay_fraction=0.1), (10_000, "steps"), None),
        ("cos_tokens", m.CosWithWarmup(units="tokens", warmup=2000 * B, alpha_f=0.1), (10_000 * B, "tokens"), B),
        ("wsd_tokens", m.WSD(units="tokens", warmup=0, decay=2500 * B + 1000, decay_fraction=None),
         (10_000 * B, "tokens"), B),
        ("steps_on_tokens_duration", m.LinearWithWarmup(warmup=100, alpha_f=0.1), (10_000 * B - 1, "tokens"), B),
        ("tokens_on_steps_duration", m.CosWithWarmup(units="tokens", warmup_fraction=0.01), (10_000, "steps"), B),
    ]


@pytest.fixture(scope="module")
def cases():
    return {c[0]: c for c in CASES()}


CASE_IDS = ["cos", "cos_fraction_tmax", "cos_min_lr", "linear", "half_cos", "cos_linear_decay", "inv_sqrt", "wsd",
            "wsd_min", "constant_warmup", "constant", "sequential", "wsds", "cos_tokens", "wsd_tokens",
            "steps_on_tokens_duration", "tokens_on_steps_duration"]


@pytest.mark.parametrize("cid", CASE_IDS)
def test_reader_matches_real_scheduler_at_every_step(cid, cases):
    _, obj, duration, B = cases[cid]
    doc = config(olmo(obj), duration, batch_tokens=B)
    mine, loaded = ours(doc, 1)
    n = int(loaded.raw["_updates"])
    assert n >= 10_000
    mine, _ = ours(doc, n)
    assert_lr_close(mine, real_lrs(obj, duration, n, batch_tokens=B or 1))


def test_the_step_convention():
    """Update 0 is the trainer's step 1: it already uses warmup's 1 / W, and the last update reaches alpha_f."""
    m = real()
    obj = m.CosWithWarmup(warmup=4, alpha_f=0.1)
    mine, loaded = ours(config(olmo(obj), (10, "steps"), peak=1.0), 10)
    assert list(mine[:4]) == [0.25, 0.5, 0.75, 1.0]
    assert mine[9] == pytest.approx(0.1, rel=1e-15)
    assert loaded.step_name(0).startswith("OLMo-core runs this update as step 1")
    assert_lr_close(mine, real_lrs(obj, (10, "steps"), 10, peak=1.0))


# ---- real configs -------------------------------------------------------------------------------------------

def _fixtures():
    return sorted(p.name for p in FIXTURES.glob("*.yaml"))


def test_at_least_five_fixtures():
    assert len(_fixtures()) >= 5


REFUSED = {"OLMo2-7B-dolma2anneal.yaml": "not a whole number of 4194304-token batches"}
SET = {"OLMo-hybrid-7B-sft-instruct.yaml": {"steps_per_epoch": 1234}}  # any value exercises the rule


@pytest.mark.parametrize("name", _fixtures())
def test_real_configs(name):
    """Each fixture is config.json's train_module / trainer / data_loader for a scheduler of an OLMo-core
    script (cited in its header); OLMo-core's own from_dict builds the scheduler from it."""
    text = (FIXTURES / name).read_text()
    assert text.startswith("# lrplan fixture") and "# commit      : " in text
    assert FMT.detect(text, None) == 9
    doc = yaml.safe_load(text)
    sched = dict(doc["train_module"]["scheduler"])
    if "decay" in sched and "decay_fraction" not in sched:
        # as_config_dict drops decay_fraction=None and from_dict then fails (the round-trip bug the reader notes)
        with pytest.raises(Exception, match="'decay_fraction' or 'decay' must be specified"):
            from_config_dict(sched)
        sched["decay_fraction"] = None
    obj = from_config_dict(sched)
    md = doc["trainer"]["max_duration"]
    B = doc["data_loader"]["global_batch_size"]
    extra = SET.get(name, {})
    opts = ReadOptions(extra=tuple((k, str(v)) for k, v in extra.items()))
    if name in REFUSED:
        with pytest.raises(LrplanError, match=REFUSED[name]):
            FMT.read(text, None, opts)
        n = -(-md["value"] // B)
        last = real_lrs(obj, (md["value"], md["unit"]), range(n - 1, n), batch_tokens=B)
        assert last[0] < 0  # what OLMo-core really does at the last update
        return
    loaded = FMT.read(text, None, opts)
    n = int(loaded.raw["_updates"])
    s = loaded.schedule
    windows = [range(n)] if n <= 12_000 else [range(10_000), range(n // 2 - 1000, n // 2 + 1000),
                                              range(n - 10_000, n)]
    for w in windows:
        theirs = real_lrs(obj, (md["value"], md["unit"]), w, batch_tokens=B, peak=s.peak_lr, **extra)
        assert_lr_close(lr(s, np.arange(w.start, w.stop, dtype=float)), theirs, steps=w)


@pytest.mark.parametrize("name", sorted(SET))
def test_fixtures_in_epochs_need_the_steps_per_epoch(name):
    with pytest.raises(LrplanError, match="steps_per_epoch"):
        FMT.read((FIXTURES / name).read_text(), None, ReadOptions())


# ---- errors -------------------------------------------------------------------------------------------------

BAD = [
    ({"type": "cos_with_warmup", "alpha_f": 0.1}, "Either 'warmup_fraction' or 'warmup' must be specified",
     "train_module.scheduler.warmup"),
    ({"type": "cos_with_warmup", "warmup": 10, "warmup_fraction": 0.1}, "Either 'warmup_fraction' or 'warmup'",
     "train_module.scheduler.warmup"),
    ({"type": "wsd", "warmup": 10, "decay": 100, "decay_fraction": 0.1}, "Never both", "train_module.scheduler.decay"),
    ({"type": "cos_with_warmup", "warmup": 10, "alpha": 0.1}, "CosWithWarmup has no field 'alpha'",
     "train_module.scheduler.alpha"),
    ({"type": "cos_warmup", "warmup": 10}, "unknown OLMo-core scheduler 'cos_warmup'", "did you mean"),
    ({"type": "wsd", "warmup": 10, "decay_fraction": 1.5}, "decay_fraction must be between 0 and 1", ""),
    ({"type": "wsd", "warmup": 10, "decay_fraction": 0.0}, "ZeroDivisionError", "decay_fraction"),
    ({"type": "sequential", "schedulers": [{"type": "constant"}, {"type": "constant"}]},
     "'schedulers_max' must be specified", ""),
    ({"type": "cos_with_warmup", "warmup": 10, "units": "samples"}, "units must be steps or tokens", ""),
]


@pytest.mark.parametrize("sched,message,where", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_configs(sched, message, where):
    with pytest.raises(LrplanError) as e:
        FMT.read(json.dumps(config(sched, (1000, "steps"))), None, ReadOptions())
    assert message in e.value.render() and where in e.value.render()


def test_the_bad_configs_are_bad_in_olmo_core_too():
    m = real()
    with pytest.raises(m.OLMoConfigurationError, match="Either 'warmup_fraction' or 'warmup'"):
        m.CosWithWarmup(alpha_f=0.1)
    with pytest.raises(m.OLMoConfigurationError, match="Never both"):
        m.WSD(warmup=10, decay=100, decay_fraction=0.1)
    with pytest.raises(m.OLMoConfigurationError, match="'schedulers_max' must be specified"):
        m.SequentialScheduler(schedulers=[m.ConstantScheduler(), m.ConstantScheduler()])
    with pytest.raises(ZeroDivisionError):
        m.WSD(warmup=10, decay_fraction=0.0).get_lr(1.0, 1000, 1000)


def test_a_partial_last_batch_past_t_max_is_refused():
    """max_duration 12345 tokens over the batches: OLMo-core's last update uses an LR below decay_min_lr."""
    m = real()
    B = 4096
    obj = m.WSD(units="tokens", warmup=0, decay=100 * B, decay_fraction=None)
    duration = (1000 * B + 12345, "tokens")
    theirs = real_lrs(obj, duration, -(-duration[0] // B), batch_tokens=B)  # ceil(T / B) = 1004 updates
    assert theirs[-1] < 0  # the real LR of the last update is negative
    with pytest.raises(LrplanError) as e:
        FMT.read(json.dumps(config(olmo(obj), duration, batch_tokens=B)), None, ReadOptions())
    assert "not a whole number of 4096-token batches" in e.value.render()
    assert "trainer.max_duration" in e.value.render()


def test_missing_facts_are_named():
    sched = {"type": "cos_with_warmup", "warmup": 10, "units": "tokens", "lr_field": "lr"}
    with pytest.raises(LrplanError, match="batch_tokens"):
        FMT.read(json.dumps(config(sched, (1000, "tokens"))), None, ReadOptions())
    with pytest.raises(LrplanError, match="--steps"):
        FMT.read(json.dumps({"type": "cos_with_warmup", "warmup": 10, "lr_field": "lr"}), None, ReadOptions())
    ld = FMT.read(json.dumps({"type": "cos_with_warmup", "warmup": 10, "lr_field": "lr"}), None,
                  ReadOptions(steps="100", lr=1e-3))
    assert ld.schedule.total == 100 and ld.schedule.peak_lr == 1e-3
    with pytest.raises(LrplanError, match="steps_per_epoch"):
        FMT.read(json.dumps(config({"type": "constant"}, (2, "epochs"))), None, ReadOptions())


# ---- writer -------------------------------------------------------------------------------------------------

def emit(schedule, **kw):
    return convert(schedule, "olmo-core", WriteOptions(source_label="test", version="0.0-test", **kw))


def _run_emitted(text: str, n: int):
    doc = json.loads(text)
    obj = from_config_dict(doc["train_module"]["scheduler"])
    md = doc["trainer"]["max_duration"]
    return real_lrs(obj, (md["value"], md["unit"]), n, peak=doc["train_module"]["optim"]["lr"])


@pytest.mark.parametrize("cid", ["cos", "linear", "wsd", "wsd_min", "constant_warmup", "cos_min_lr", "inv_sqrt",
                                 "cos_linear_decay", "cos_fraction_tmax", "constant"])
def test_written_config_runs_in_real_olmo_core(cid, cases):
    _, obj, duration, _ = cases[cid]
    schedule = FMT.read(json.dumps(config(olmo(obj), duration)), None, ReadOptions()).schedule
    w = emit(schedule)
    assert w.deviation is None
    n = int(schedule.total)
    assert_lr_close(lr(schedule, np.arange(n)), _run_emitted(w.text, n))


def test_the_spec_warmup_is_inexpressible():
    s = parse_spec("warmup=100,cosine,min=0.1", steps="10k", lr=PEAK)
    with pytest.raises(InexpressibleError) as e:
        emit(s)
    assert "OLMo-core" in e.value.message and "step 1" in e.value.message
    w = emit(s, approx=True)
    assert w.deviation is not None and '"type": "cos_with_warmup"' in w.text
    assert w.deviation.lr.worst == pytest.approx(PEAK / 101, rel=1e-9)


@pytest.mark.parametrize("cid", ["cos", "wsd", "linear"])
def test_golden(cid, cases, golden):
    _, obj, duration, _ = cases[cid]
    schedule = FMT.read(json.dumps(config(olmo(obj), duration)), None, ReadOptions()).schedule
    golden(f"olmo_core/{cid}.json", emit(schedule).text)


# ---- command line -------------------------------------------------------------------------------------------

def test_cli(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config({"_CLASS_": "olmo_core.optim.scheduler.WSD", "warmup": 100, "decay": 1000,
                                       "decay_fraction": None, "units": "steps"}, (5000, "steps"))))
    r = run_cli("at-step", "99", str(path), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lr"] == pytest.approx(PEAK, rel=1e-15)  # step 100 of OLMo-core: the warmup's end
    r = run_cli("convert", str(path), "--to", "olmo-core")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["train_module"]["scheduler"]["type"] == "wsd"
    r = run_cli("convert", str(path), "--to", "torchtitan")
    assert r.returncode in (0, ExitCode.INEXPRESSIBLE) and "Traceback" not in r.stderr
    r = run_cli("explain", str(path))
    assert r.returncode == 0 and "OLMo-core" in r.stdout
    path.write_text(json.dumps(config({"type": "wsd", "warmup": 100, "decay_fraction": 2.0, "lr_field": "lr"})))
    r = run_cli("plot", str(path))
    assert r.returncode == ExitCode.USAGE and "train_module.scheduler.decay_fraction" in r.stderr
    assert "Traceback" not in r.stderr


def test_lint_decay_fraction_dropped(tmp_path):
    """LR034: a saved config.json whose decay lost decay_fraction: null (OLMo-core cannot load it back)."""
    sched = {"_CLASS_": "olmo_core.optim.scheduler.WSD", "units": "steps", "warmup": 10, "decay": 100}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(sched, (1000, "steps"))))
    r = run_cli("lint", str(path))
    assert "LR034" in r.stdout and "train_module.scheduler.decay_fraction" in r.stdout
    with pytest.raises(Exception, match="'decay_fraction' or 'decay' must be specified"):
        from_config_dict(sched)  # what the rule says OLMo-core does
    path.write_text(json.dumps(config({**sched, "decay_fraction": None}, (1000, "steps"))))
    r = run_cli("lint", str(path))
    assert r.returncode == 0 and "LR034" not in r.stdout
