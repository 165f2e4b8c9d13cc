"""``lrplan resume --extend-to N`` replayed through the real frameworks (issue 4).

The scheduler the CLI emits is run in the resumed position exactly as its own comments instruct: a real
HF Trainer resumed from the committed checkpoint-3 with ``resume_from_checkpoint`` (every resumed update's
logged learning_rate), and a real torch optimizer stepped through a 10k-step extension of each committed
torch scheduler state. Every step must match lrplan's extended curve (``lrplan.evaluate.lr``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.checkpoints import read_info
from lrplan.checkpoints.extend import extend
from lrplan.evaluate import lr

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints"
HF_CKPT = FIX / "hf" / "checkpoint-3"

# CLI flags -> the same request to lrplan.checkpoints.extend.extend
VARIANTS = {"decay": ([], {}), "wsd": (["--wsd", "5"], {"wsd": 5}), "rewarm": (["--rewarm", "3"], {"rewarm": 3}),
            "rewarm+wsd": (["--rewarm", "3", "--wsd", "5"], {"rewarm": 3, "wsd": 5}),
            "linear": (["--shape", "linear"], {"shape": "linear"})}


def _emit(tmp_path: Path, ckpt: Path, n: int, target: str, flags: list[str]) -> Path:
    out = tmp_path / f"resume_{target}.py"
    r = run_cli("resume", str(ckpt), "--extend-to", str(n), "--to", target, "-o", str(out), *flags)
    assert r.returncode == 0, r.stderr
    return out


def _extended(ckpt: Path, n: int, kw: dict):
    info = read_info(ckpt)
    return info.next_step, extend(info.loaded.schedule, info.next_step, n, **kw)


# ---- HF Trainer ---------------------------------------------------------------------------------------

# The fixture run's model, data and arguments (make_hf_checkpoint._trainer), resumed with the emitted code:
# Trainer built without optimizers=, use_in_trainer(trainer), train(resume_from_checkpoint=...).
HF_REPLAY = """
import importlib.util, json, os, sys
from pathlib import Path
fix, emitted, work = sys.argv[1:4]
sys.path.insert(0, fix)
import make_hf_checkpoint as m
spec = importlib.util.spec_from_file_location("emitted", emitted)
em = importlib.util.module_from_spec(spec)
spec.loader.exec_module(em)
os.chdir(work)
used = []
t = m._trainer(Path("run"), used)
t.args.max_steps, t.args.save_steps = em.MAX_STEPS, 10**6
em.use_in_trainer(t)
t.train(resume_from_checkpoint="run/checkpoint-3")
logged = [[h["step"], h["learning_rate"]] for h in t.state.log_history if "learning_rate" in h]
print(json.dumps({"logged": logged, "used": used}))
"""


@pytest.mark.framework
@pytest.mark.slow
@pytest.mark.parametrize("variant", ["decay", "wsd", "rewarm", "rewarm+wsd"])
def test_hf_trainer_resumed_with_the_emitted_scheduler(tmp_path, variant):
    require("transformers")
    n = 20
    flags, kw = VARIANTS[variant]
    emitted = _emit(tmp_path, HF_CKPT, n, "hf", flags)
    shutil.copytree(HF_CKPT, tmp_path / "run" / "checkpoint-3")
    r = subprocess.run([sys.executable, "-c", HF_REPLAY, str(FIX.parent), str(emitted), str(tmp_path)],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    real = json.loads(r.stdout.strip().splitlines()[-1])
    start, new = _extended(HF_CKPT, n, kw)
    assert start == 3
    resumed = np.arange(start, n)
    # transformers 5.x logs the LR update k used at global_step k + 1; steps 1..3 come from the checkpoint
    logged = dict(real["logged"])
    assert sorted(logged) == list(range(1, n + 1)), sorted(logged)
    assert_lr_close(lr(new, resumed), [logged[k + 1] for k in resumed], steps=resumed, what="logged lr")
    # the optimizer's LR at each update's start (the fixture's own callback), the same updates
    assert_lr_close(lr(new, resumed), real["used"], steps=resumed, what="lr used")
    # continuity with what the uninterrupted fixture run used at the resume step
    first = json.loads((FIX / "hf" / "expected.json").read_text())["lr_used"][start]
    assert real["used"][0] == first


# ---- torch --------------------------------------------------------------------------------------------

TORCH_CASES = [(name, "decay") for name in ("CosineAnnealingLR", "StepLR", "MultiStepLR", "ExponentialLR",
                                            "LinearLR", "PolynomialLR", "ConstantLR", "SequentialLR")]
TORCH_CASES += [(name, v) for name in ("CosineAnnealingLR", "LinearLR") for v in ("wsd", "rewarm", "linear")]


@pytest.mark.framework
@pytest.mark.parametrize("name,variant", TORCH_CASES)
def test_torch_emitted_scheduler_resumed_over_10k_steps(tmp_path, name, variant):
    """10k steps: the fixtures' runs are 40 updates long, the extension is what a long continuation looks
    like; 10 updates past N check the hold at the new floor."""
    require("torch")
    import torch

    n = 10_000
    ckpt = FIX / "torch" / f"{name}.pt"
    flags, kw = VARIANTS[variant]
    code = _emit(tmp_path, ckpt, n, "torch", flags).read_text()
    torch.manual_seed(0)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=3e-4, momentum=0.9)
    scope = {"optimizer": opt}
    exec(compile(code, f"resume_{name}.py", "exec"), scope)  # as emitted: builds `scheduler` at RESUME_STEP
    sched = scope["scheduler"]
    start, new = _extended(ckpt, n, kw)
    assert scope["RESUME_STEP"] == start == 5
    used = []
    for _ in range(start, n + 10):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    steps = np.arange(start, n + 10)
    assert_lr_close(lr(new, steps), used, steps=steps)
    # continuity: update r uses the LR the real scheduler used there in the fixture run (--rewarm starts
    # its climb from it)
    first = json.loads((FIX / "torch" / "expected.json").read_text())["lr_used"][name][start]
    assert used[0] == pytest.approx(first, rel=1e-12, abs=1e-18)
