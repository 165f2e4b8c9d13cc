"""timm reader, differential against timm 1.0.31's real schedulers and factory.

``import timm`` needs torchvision (no CPU build for torch 2.13), so ``timm`` is registered as a bare package
whose ``__path__`` is the installed directory (its ``__init__`` does not run) and ``timm.scheduler`` is
imported normally: it needs only torch. The scheduler is built as train.py builds it:
``create_scheduler_v2(optimizer, **scheduler_kwargs(args), updates_per_epoch=U)`` with the real
``scheduler_kwargs``, from an ``argparse.Namespace`` of train.py's defaults (parsed from the verbatim
``train.py`` argument group in tests/fixtures/timm/train_py_lr_args.txt) and the flags. The loop is
train.py's: every update reads the LR the optimizer holds, then ``num_updates += 1;
lr_scheduler.step_update(num_updates=num_updates)``; after epoch e, ``lr_scheduler.step(e + 1)``; the number
of epochs is the ``num_epochs`` the factory returns.
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

from lrplan.errors import ExitCode, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import get
from lrplan.frameworks.base import ReadOptions

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
    r = run_cli("convert", str(path), "--set", "updates_per_epoch=50", "--to", "timm")
    assert r.returncode == ExitCode.USAGE and "Traceback" not in r.stderr


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
