"""timm reader and writer, differential against timm 1.0.31's real schedulers and factory.

``import timm`` needs torchvision (no CPU build for torch 2.13), so ``timm`` is registered as a bare package
whose ``__path__`` is the installed directory (its ``__init__`` does not run) and ``timm.scheduler`` is
imported normally: it needs only torch. The scheduler is built as train.py builds it:
``create_scheduler_v2(optimizer, **scheduler_kwargs(args), updates_per_epoch=U)`` with the real
``scheduler_kwargs``, from an ``argparse.Namespace`` of train.py's defaults (parsed from the verbatim
``train.py`` argument group in tests/fixtures/timm/train_py_lr_args.txt) and the flags. The loop is
train.py's: every update reads the LR the optimizer holds, then ``num_updates += 1;
lr_scheduler.step_update(num_updates=num_updates)``; after epoch e, ``lr_scheduler.step(e + 1)``; the number
of epochs is the ``num_epochs`` the factory returns. The writer's output is run the same way: an emitted
args.yaml as ``train.py --config`` loads it (``parser.set_defaults(**yaml.safe_load(f))``, then ``parse_args``),
emitted flags through train.py's own argparse.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import shlex
import sys
import types
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

FMT = get("timm")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "timm"
_LOADED: dict = {}


def real():
    """(timm.scheduler module, timm.scheduler.scheduler_factory), loaded once without timm/__init__.py."""
    if _LOADED:
        return _LOADED["mods"]
    require("torch")
    spec = importlib.util.find_spec("timm")
    if spec is None:
        require("timm")  # fails on CI, skips elsewhere
    saved = {k: sys.modules.get(k) for k in list(sys.modules) if k.split(".")[0] == "timm"}
    pkg = types.ModuleType("timm")
    pkg.__path__ = [str(Path(spec.origin).parent)]
    sys.modules["timm"] = pkg
    sched = importlib.import_module("timm.scheduler")
    factory = importlib.import_module("timm.scheduler.scheduler_factory")
    for k in [k for k in sys.modules if k.split(".")[0] == "timm"]:
        del sys.modules[k]
    sys.modules.update({k: v for k, v in saved.items() if v is not None})
    _LOADED["mods"] = sched, factory
    return _LOADED["mods"]


def train_py_parser() -> argparse.ArgumentParser:
    """train.py's schedule arguments: its verbatim add_argument calls (the fixture excerpt) run on a real
    ArgumentParser, plus -b/--batch-size, --grad-accum-steps, --opt and --seed (train.py lines 142, 150, 191)."""
    src = "\n".join(line for line in (FIXTURES / "train_py_lr_args.txt").read_text().splitlines()
                    if not line.startswith("#"))
    tree = ast.parse(src)
    assert all(isinstance(n, (ast.Assign, ast.Expr)) for n in tree.body)  # add_argument calls only
    parser = argparse.ArgumentParser(add_help=False)
    exec(compile(tree, "train.py", "exec"), {"parser": parser})  # noqa: S102 - argparse definitions only
    parser.add_argument("-b", "--batch-size", type=int, default=128)
    parser.add_argument("--grad-accum-steps", type=int, default=1)
    parser.add_argument("--opt", default="sgd", type=str)
    parser.add_argument("--seed", type=int, default=42)
    return parser


def train_py_defaults() -> dict:
    return vars(train_py_parser().parse_args([]))


def namespace(flags) -> argparse.Namespace:
    if isinstance(flags, argparse.Namespace):
        return flags
    return argparse.Namespace(**{**train_py_defaults(), **flags})


def real_lrs(args: argparse.Namespace, U: int):
    """The LR of every update of the run train.py makes of these args."""
    torch = require("torch")
    _, factory = real()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=args.lr)
    sched, epochs = factory.create_scheduler_v2(opt, **factory.scheduler_kwargs(args), updates_per_epoch=U)
    out, num_updates = [], 0
    for epoch in range(epochs):
        for _ in range(U):
            out.append(opt.param_groups[0]["lr"])
            num_updates += 1
            if sched is not None:  # train.py: 'none' gives no scheduler, and the loop checks for it
                sched.step_update(num_updates=num_updates)
        if sched is not None:
            sched.step(epoch + 1)
    return np.array(out)


def flags_of(line: str) -> argparse.Namespace:
    """The Namespace train.py's argparse makes of a command line (other flags and positionals left over)."""
    args, _ = train_py_parser().parse_known_args(shlex.split(line))
    return args


def ours(text: str, U: int, lr_=None):
    loaded = FMT.read(text, None, ReadOptions(lr=lr_, extra=(("updates_per_epoch", str(U)),)))
    n = int(loaded.schedule.total)
    return lr(loaded.schedule, np.arange(n, dtype=float)), loaded


# ---- every scheduler, both stepping modes, >= 10k updates -------------------------------------------------------

CASES = [  # (flags, updates per epoch)
    ("--sched cosine --epochs 300 --lr 0.4", 37),
    ("--sched cosine --epochs 100 --warmup-epochs 3 --warmup-prefix --min-lr 1e-5 --lr 0.1 --cooldown-epochs 10", 101),
    ("--sched cosine --epochs 50 --lr 0.1 --lr-cycle-limit 3 --lr-cycle-mul 1.5 --lr-k-decay 0.5", 97),
    ("--sched step --epochs 450 --decay-epochs 2.4 --decay-rate .97 --warmup-lr 1e-6 --lr .016", 25),
    ("--sched multistep --epochs 120 --decay-milestones 30 60 90 --decay-rate 0.2 --lr 0.1 --warmup-epochs 2", 90),
    ("--sched poly --epochs 100 --decay-rate 2.0 --min-lr 1e-6 --lr 0.05 --warmup-prefix", 100),
    ("--sched tanh --epochs 100 --lr 0.05 --warmup-epochs 0", 100),
    ("--sched tanh --epochs 100 --lr 0.05 --warmup-epochs 5 --min-lr 1e-4", 100),
    ("--sched tanh --epochs 100 --lr 0.05 --warmup-epochs 5 --warmup-prefix --lr-cycle-limit 2", 100),
    ("--sched constant --epochs 100 --lr 0.05 --warmup-epochs 7", 100),
    ("--sched none --epochs 100 --lr 0.05", 100),
    ("--sched cosine --sched-on-updates --epochs 100 --warmup-epochs 2 --lr 0.3 --min-lr 1e-6", 101),
    ("--sched cosine --sched-on-updates --epochs 100 --warmup-epochs 2 --warmup-prefix --lr 0.3", 101),
    (("--sched cosine --sched-on-updates --epochs 30 --lr 0.1 --lr-cycle-limit 3 --lr-cycle-decay 0.7 --min-lr 1e-4 "
      "--warmup-epochs 2 --warmup-prefix --cooldown-epochs 3"), 120),
    ("--sched cosine --sched-on-updates --epochs 25 --lr 0.1 --lr-cycle-limit 4 --warmup-epochs 3", 110),
    ("--sched step --sched-on-updates --epochs 100 --decay-epochs 2.4 --decay-rate .97 --lr 0.3", 101),
    ("--sched multistep --sched-on-updates --epochs 100 --decay-milestones 30 60 --lr 0.3 --warmup-prefix", 101),
    ("--sched constant --sched-on-updates --epochs 100 --lr 0.3 --warmup-epochs 1", 101),
]


@pytest.mark.parametrize("line,U", CASES, ids=[c[0][8:40] for c in CASES])
def test_reader_matches_real_scheduler_at_every_update(line, U):
    theirs = real_lrs(namespace(flags_of(line)), U)
    mine, _ = ours(line, U)
    assert len(theirs) >= 10_000
    assert_lr_close(mine, theirs)


def test_args_yaml_form():
    """args.yaml is yaml.safe_dump(args.__dict__): every train.py argument, the schedule's among them."""
    args = namespace(flags_of("--sched cosine --epochs 120 --warmup-epochs 4 --lr 0.2 --min-lr 1e-6"))
    text = yaml.safe_dump({**vars(args), "model": "resnet50", "drop_path": 0.1, "amp": True})
    assert FMT.detect(text, None) == 8
    mine, loaded = ours(text, 90)
    assert loaded.raw["_form"] == "args.yaml"
    assert_lr_close(mine, real_lrs(args, 90))
    # the loader length may be written into the file as lrplan's own key (train.py has no such argument)
    with_key = FMT.read(text + "updates_per_epoch: 90\n", None, ReadOptions())
    assert_lr_close(lr(with_key.schedule, np.arange(len(mine), dtype=float)), mine)
    assert any("lrplan's key" in n for n in with_key.notes)


# ---- the repository's own command lines -----------------------------------------------------------------------

def _fixtures():
    return sorted(p.name for p in FIXTURES.glob("*.sh"))


def test_at_least_five_fixtures():
    assert len(_fixtures()) >= 5


@pytest.mark.parametrize("name", _fixtures())
def test_real_command_lines(name):
    text = (FIXTURES / name).read_text()
    assert text.startswith("# lrplan fixture") and "# commit      : " in text
    assert FMT.detect(text, None) == 8
    line = text.strip().splitlines()[-1]
    flags = flags_of(line)
    if flags.lr_noise is not None:
        with pytest.raises(LrplanError, match="random"):
            FMT.read(text, None, ReadOptions(extra=(("updates_per_epoch", "20"),)))
        return
    U = 20
    mine, _ = ours(text, U)
    assert_lr_close(mine, real_lrs(namespace(flags), U))


def test_defaults_table_is_train_py():
    from lrplan.frameworks.timm import TRAIN_DEFAULTS

    d = train_py_defaults()
    for k, v in TRAIN_DEFAULTS.items():
        assert d[k] == v, k


# ---- refusals and missing facts --------------------------------------------------------------------------------

BAD = [
    ("--sched cosine --lr 0.1 --lr-noise 0.4 0.9", "--lr-noise", "random"),
    ("--sched plateau --lr 0.1", "--sched", "eval metric"),
    ("--sched cosne --lr 0.1", "--sched", "did you mean 'cosine'"),
    ("--sched wsd --lr 0.1", "--sched", "does not read timm's wsd"),
    ("--sched cosine --epochs 100", "--lr", "pass --lr"),
    ("--sched tanh --sched-on-updates --lr 0.1", "--sched", "only for cosine, step, multistep"),
    ("--sched cosine --sched-on-updates --lr 0.1 --lr-cycle-limit 2 --lr-cycle-mul 2", "--lr-cycle-mul",
     "only with lr_cycle_mul 1"),
    ("--sched cosine --lr abc", "--lr", "must be a number"),
]


@pytest.mark.parametrize("line,where,message", BAD, ids=[b[2] for b in BAD])
def test_bad_inputs(line, where, message):
    with pytest.raises(LrplanError) as e:
        FMT.read(line, None, ReadOptions(extra=(("updates_per_epoch", "10"),)))
    text = e.value.render()
    assert message in text and where in text


def test_updates_per_epoch_is_needed():
    with pytest.raises(LrplanError, match="updates_per_epoch"):
        FMT.read("--sched cosine --lr 0.1", None, ReadOptions())


def test_noise_is_random_in_timm_too():
    """What the refusal says: with --lr-noise, timm's LR jumps by a seeded random factor."""
    torch = require("torch")
    _, factory = real()
    args = namespace(flags_of("--sched cosine --epochs 10 --warmup-epochs 0 --lr 0.1 --lr-noise 0.2"))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched, _ = factory.create_scheduler_v2(opt, **factory.scheduler_kwargs(args), updates_per_epoch=1)
    sched.step(5)
    noisy = opt.param_groups[0]["lr"]
    assert noisy != pytest.approx(sched._get_lr(5)[0], rel=1e-6)


# ---- command line ---------------------------------------------------------------------------------------------

def test_cli(tmp_path):
    path = tmp_path / "train.sh"
    path.write_text((FIXTURES / "01_seresnet34.sh").read_text())
    r = run_cli("at-step", "100", str(path), "--set", "updates_per_epoch=50", "--json")
    assert r.returncode == 0, r.stderr
    # epoch 2 of a 5-epoch warmup from 1e-5: timm's warmup_lr_init + 2 * (0.4 - 1e-5) / 5
    assert json.loads(r.stdout)["lr"] == pytest.approx(1e-5 + 2 * ((0.4 - 1e-5) / 5), rel=1e-15)
    r = run_cli("at-step", "100", str(path), "--json")
    assert r.returncode == ExitCode.USAGE and "updates_per_epoch" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("explain", str(path), "--set", "updates_per_epoch=50")
    assert r.returncode == 0 and "timm" in r.stdout
    r = run_cli("convert", str(path), "--set", "updates_per_epoch=50", "--to", "torch")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("rule,bad,good", [
    ("LR035", "--sched multistep --decay-milestones 30 60 --lr 0.1 --epochs 90",
     "--sched step --decay-epochs 30 --lr 0.1 --epochs 90"),
    ("LR036", "--sched cosine --lr 0.1 --epochs 90", "--sched cosine --lr 0.1 --epochs 90 --warmup-prefix"),
])
def test_lint_rules(rule, bad, good):
    from lrplan import lint

    opts = ReadOptions(extra=(("updates_per_epoch", "10"),))
    assert len([f for f in lint.run(FMT.read(bad, None, opts), {}) if f.rule == rule]) == 1
    assert not [f for f in lint.run(FMT.read(good, None, opts), {}) if f.rule == rule]
    if rule == "LR035":  # what the rule says: the decay happens one epoch before the milestone, in timm itself
        theirs = real_lrs(flags_of(bad), 1)
        assert theirs[28] == 0.1 and theirs[29] == pytest.approx(0.01, rel=1e-12)


# ---- the writer: emitted args run through timm's real scheduler ----------------------------------------------

def emit(schedule, U=None, **kw):
    facts = (("updates_per_epoch", str(U)),) if U is not None else ()
    return convert(schedule, "timm", WriteOptions(source_label="test", version="0.0-test", facts=facts, **kw))


def train_py_config(text: str) -> argparse.Namespace:
    """What ``train.py --config FILE`` makes of an args.yaml: set_defaults(**cfg), then parse_args (train.py
    _parse_args); updates_per_epoch, lrplan's key, lands in the Namespace unused."""
    parser = train_py_parser()
    parser.set_defaults(**yaml.safe_load(text))
    return parser.parse_args([])


def emitted_flags(text: str) -> argparse.Namespace:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 1
    args, rest = train_py_parser().parse_known_args(shlex.split(lines[0]))
    assert rest == []  # every emitted flag is one of train.py's
    return args


def upe(text: str) -> int:
    return int(yaml.safe_load(text)["updates_per_epoch"]) if not text.lstrip("#").startswith("--") else None


WRITE = [  # (spec, updates_per_epoch fact or None: the writer chooses)
    ("warmup=2000,cosine,min=0.1,total=100k,peak=3e-4", None),
    ("warmup=2000,cosine,min=0.1,total=100k,peak=3e-4", 500),
    ("warmup=500,cosine,total=20000,peak=1e-3", None),
    ("warmup=1000,cosine=9000,constant,min=0.01,total=12000,peak=0.1", 250),
    ("cosine,min=1e-5,total=15000,peak=0.05", 150),
    ("warmup=1000,constant,total=12000,peak=1e-3", None),
    ("constant,total=12000,peak=1e-3", 100),
    ("multistep(at=6000|9000,gamma=0.1),total=12000,peak=0.1", None),
    ("warmup=500,multistep(at=5499|8499,gamma=0.2),total=12000,peak=0.1", 500),
    ("exp(rate=0.97,every=240,staircase=true),total=24000,peak=0.016", 100),
    ("warmup=300,exp(rate=0.97,every=240,staircase=true),total=12000,peak=0.016", None),
    ("exp(rate=0.5,every=3000),total=12000,peak=0.01", None),
    ("warmup=300,restarts(cycle=2900,decay=0.8),min=0.05,total=11900,peak=0.1", None),
    ("warmup=300,restarts(cycle=2900),total=11900,peak=0.1", 100),
]


@pytest.mark.parametrize("spec,U", WRITE, ids=[f"{w[0][:40]}-{w[1]}" for w in WRITE])
def test_emitted_args_yaml_runs_in_timm(spec, U):
    schedule = parse_spec(spec)
    w = emit(schedule, U)
    n = int(schedule.total)
    assert n >= 10_000 and w.deviation is None
    U = U if U is not None else upe(w.text)
    theirs = real_lrs(train_py_config(w.text), U)
    assert len(theirs) == n
    assert_lr_close(lr(schedule, np.arange(n, dtype=float)), theirs)


@pytest.mark.parametrize("spec,U", [w for w in WRITE if w[1] is not None][:4])
def test_emitted_flags_run_in_timm(spec, U):
    schedule = parse_spec(spec)
    w = emit(schedule, U, variant="flags")
    assert w.variant == "flags" and not w.text.startswith("sched:")
    n = int(schedule.total)
    theirs = real_lrs(emitted_flags(w.text), U)
    assert_lr_close(lr(schedule, np.arange(n, dtype=float)), theirs)


ROUND_TRIP = [c for c in CASES if "cycle-limit" not in c[0] or "sched-on-updates" in c[0]]  # not: cycles per epoch


@pytest.mark.parametrize("line,U", ROUND_TRIP, ids=[c[0][8:40] for c in ROUND_TRIP])
def test_timm_to_timm_reproduces_the_original_run(line, U):
    """Every scheduler read per epoch and per update, written back: the emitted args run in timm give the LRs
    the original flags give in timm, at every update (both sides stepped for real)."""
    original = real_lrs(namespace(flags_of(line)), U)
    ld = FMT.read(line, None, ReadOptions(extra=(("updates_per_epoch", str(U)),)))
    for facts in (U, None):
        w = emit(ld.schedule, facts)
        args = train_py_config(w.text)
        assert args.sched_on_updates == flags_of(line).sched_on_updates  # the original stepping
        assert_lr_close(real_lrs(args, upe(w.text)), original)


def test_per_epoch_forms_are_recovered():
    """A staircase of whole epochs is written per epoch with timm's own fields: EfficientNet's step recipe."""
    line = (FIXTURES / "02_efficientnet_b2.sh").read_text().strip().splitlines()[-1]
    ld = FMT.read(line, None, ReadOptions(extra=(("updates_per_epoch", "25"),)))
    cfg = yaml.safe_load(emit(ld.schedule, 25).text)
    assert {k: cfg[k] for k in ("sched", "sched_on_updates", "epochs", "decay_epochs", "decay_rate", "warmup_lr")} \
        == {"sched": "step", "sched_on_updates": False, "epochs": 450, "decay_epochs": 2.4, "decay_rate": 0.97,
            "warmup_lr": 1e-6}


GOLDEN = [
    ("timm/cosine.yaml", "warmup=2000,cosine,min=0.1,total=100k,peak=3e-4", None, None),
    ("timm/cosine_flags.sh", "warmup=2000,cosine,min=0.1,total=100k,peak=3e-4", 1000, "flags"),
    ("timm/multistep.yaml", "warmup=500,multistep(at=5499|8499,gamma=0.2),total=12000,peak=0.1", 500, None),
]


@pytest.mark.parametrize("path,spec,U,variant", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(path, spec, U, variant, golden):
    golden(path, emit(parse_spec(spec), U, variant=variant).text)


def test_golden_per_epoch(golden):
    line = (FIXTURES / "01_seresnet34.sh").read_text().strip().splitlines()[-1]
    ld = FMT.read(line, None, ReadOptions(extra=(("updates_per_epoch", "1251"),)))
    golden("timm/seresnet34_per_epoch.yaml", emit(ld.schedule, 1251).text)


# ---- the writer's refusals -------------------------------------------------------------------------------------

REFUSED = [  # (spec, U, what the message names)
    ("warmup=100,linear,total=12000,peak=1e-3", None, "a linear decay"),
    ("warmup=100,cosine,min=0.1,total=12000,peak=3e-4", 33,
     "warmup_epochs: 100 updates is not a whole number of epochs of 33 updates (nearest warmup_epochs 3"),
    ("warmup=100,1-sqrt,total=12000,peak=1e-3", None, "a 1-sqrt phase"),
    ("multistep(at=6000|9000,gamma=0.1|0.5),total=12000,peak=0.1", None, "one decay_rate"),
    ("warmup=100,cosine(cycles=1.5),total=12000,peak=1e-3", None, "lr_k_decay"),
    ("warmup=100,restarts(cycle=900,mult=2),total=12000,peak=1e-3", None, "lr_cycle_mul"),
    ("warmup=100,restarts(cycle=900),total=12000,peak=1e-3", None, "lr_cycle_limit whole cycles"),
    ("warmup=100(shape=log),cosine,total=12000,peak=1e-3", None, "a log warmup (timm's warmup is a straight line"),
]


@pytest.mark.parametrize("spec,U,message", REFUSED, ids=[r[2][:30] for r in REFUSED])
def test_inexpressible_names_the_part(spec, U, message):
    with pytest.raises(InexpressibleError) as e:
        emit(parse_spec(spec), U)
    assert message in e.value.message and "--approx" in e.value.hint
    assert e.value.exit_code == ExitCode.INEXPRESSIBLE


def test_approx_emits_the_nearest_with_its_deviation():
    schedule = parse_spec("warmup=100,linear,total=12000,peak=1e-3")
    w = emit(schedule, None, approx=True)
    assert w.deviation is not None and not w.deviation.exact
    assert any("--approx" in n for n in w.notes)
    cfg = yaml.safe_load(w.text)
    assert cfg["sched"] == "cosine" and cfg["warmup_epochs"] * cfg["updates_per_epoch"] == 100
    theirs = real_lrs(train_py_config(w.text), cfg["updates_per_epoch"])  # what the deviation says is what timm does
    mine = lr(schedule, np.arange(12_000, dtype=float))
    worst = int(np.argmax(np.abs(mine - theirs)))
    assert worst == w.deviation.lr.worst_step
    assert np.abs(mine - theirs)[worst] == pytest.approx(w.deviation.lr.worst, rel=1e-9)


@pytest.mark.parametrize("spec,facts,variant,message", [
    ("warmup=100,cosine,total=3000", (), None, "pass --lr"),
    ("warmup=100,cosine,peak=1e-3", (), None, "pass --steps"),
    ("warmup=100,cosine,total=3000,peak=1e-3", (), "flags", "--set updates_per_epoch=N"),
    ("warmup=100,cosine,total=3000,peak=1e-3", (("updates_per_epoch", "x"),), None, "positive integer"),
    ("warmup=100,cosine,total=3000,peak=1e-3", (), "json", "yaml (args.yaml) or flags"),
])
def test_missing_facts_are_usage_errors(spec, facts, variant, message):
    with pytest.raises(LrplanError) as e:
        convert(parse_spec(spec), "timm", WriteOptions(facts=facts, variant=variant))
    assert not isinstance(e.value, InexpressibleError) and e.value.exit_code == ExitCode.USAGE
    assert message in e.value.render()


def test_emitted_yaml_is_detected_even_with_a_train_py_label():
    """The header comment names the source; a label holding 'train.py' does not make the YAML a command line."""
    w = convert(parse_spec("warmup=100,cosine,total=12000,peak=1e-3"), "timm",
                WriteOptions(source_label="./distributed_train.sh train.py --sched cosine"))
    from lrplan.sources import detect

    assert detect(w.text, None) == "timm"
    assert FMT.read(w.text, None, ReadOptions()).raw["_form"] == "args.yaml"


# ---- the writer on the command line ---------------------------------------------------------------------------

def test_cli_convert_to_timm(tmp_path):
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "timm",
                "--set", "updates_per_epoch=1000")
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert cfg["updates_per_epoch"] == 1000 and cfg["epochs"] == 98 and cfg["warmup_epochs"] == 2
    assert_lr_close(real_lrs(train_py_config(r.stdout), 1000),
                    lr(parse_spec("warmup=2000,cosine,min=0.1,total=100k,peak=3e-4"), np.arange(100_000.0)))
    out = tmp_path / "flags.sh"  # -o FILE.sh asks for the flags variant
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "timm",
                "--set", "updates_per_epoch=1000", "-o", str(out))
    assert r.returncode == 0, r.stderr
    args = emitted_flags(out.read_text())
    assert args.sched_on_updates and args.epochs == 98 and args.warmup_epochs == 2
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "timm")
    assert r.returncode == 0 and "lrplan chose 2000" in r.stdout and yaml.safe_load(r.stdout)["epochs"] == 49


def test_cli_inexpressible_exits_3():
    r = run_cli("convert", "warmup=2000,linear", "--steps", "100k", "--lr", "3e-4", "--to", "timm")
    assert r.returncode == ExitCode.INEXPRESSIBLE and r.stdout == "" and "Traceback" not in r.stderr
    assert "error: timm cannot express this schedule exactly: a linear decay" in r.stderr
    assert "--sched cosine --sched-on-updates" in r.stderr and "--approx" in r.stderr
    r = run_cli("convert", "warmup=2000,linear", "--steps", "100k", "--lr", "3e-4", "--to", "timm", "--approx")
    assert r.returncode == 0 and "largest difference" in r.stderr and yaml.safe_load(r.stdout)["sched"] == "cosine"
    r = run_cli("convert", "warmup=2000,cosine", "--steps", "100k", "--lr", "3e-4", "--to", "timm",
                "--set", "updates_per_epoch=1251")
    assert r.returncode == ExitCode.INEXPRESSIBLE and "not a whole number of epochs of 1251 updates" in r.stderr
    r = run_cli("convert", "warmup=2000,cosine", "--steps", "100k", "--lr", "3e-4", "--to", "timm",
                "--variant", "flags")
    assert r.returncode == ExitCode.USAGE and "updates_per_epoch" in r.stderr and "Traceback" not in r.stderr


def test_cli_timm_round_trip(tmp_path):
    """A timm command line converted to timm args.yaml, read back by lrplan: the same LR at every update."""
    path = tmp_path / "train.sh"
    path.write_text((FIXTURES / "01_seresnet34.sh").read_text())
    out = tmp_path / "args.yaml"
    r = run_cli("convert", str(path), "--set", "updates_per_epoch=50", "--to", "timm", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r1 = run_cli("table", str(path), "--set", "updates_per_epoch=50", "--every", "50", "--format", "json")
    r2 = run_cli("table", str(out), "--every", "50", "--format", "json")
    assert r1.returncode == 0 and r2.returncode == 0, r2.stderr
    assert [p["lr"] for p in json.loads(r1.stdout)["points"]] == [p["lr"] for p in json.loads(r2.stdout)["points"]]
    assert yaml.safe_load(out.read_text())["sched_on_updates"] is False


def test_chosen_loader_length_is_said_on_stderr():
    """Without --set updates_per_epoch the writer picks the epoch length; a header comment alone is easy to miss."""
    args = ("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "timm")
    r = run_cli(*args)
    assert r.returncode == 0 and "exact only with 2000 optimizer updates per epoch, which lrplan chose" in r.stderr
    r = run_cli(*args, "--set", "updates_per_epoch=1000")
    assert r.returncode == 0 and "lrplan chose" not in r.stderr and "updates_per_epoch: 1000" in r.stdout
