"""``LRScheduler`` as a DeepSpeed client scheduler (``deepspeed.initialize(lr_scheduler=sched)``), a REAL
engine on CPU in a subprocess (single process, ``DS_ACCELERATOR=cpu``; the CPU comm op is built once per
session by the deepspeed_ops fixture), gradient accumulation 2: the engine steps the scheduler once per
update (deepspeed 0.19.8 engine.py ``_take_model_step``, at the accumulation boundary). Every update's LR
against the plan, ``lrplan at-step`` on the engine checkpoint (``global_stepN/mp_rank_00_model_states.pt``,
``lr_scheduler`` = this scheduler's state) recovering the plan, and ``load_checkpoint`` continuing on it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import require, run_cli

import lrplan

SPEC = "warmup=3,cosine,min=0.1"
PEAK, SAVE_AFTER, TOTAL = 2e-3, 6, 10
CONFIG = {"train_batch_size": 4, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 2,
          "zero_optimization": {"stage": 0}}

SCRIPT = textwrap.dedent("""
    import json, os, socket, sys
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(DS_ACCELERATOR="cpu", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0")
    import deepspeed, torch
    import lrplan
    from lrplan.torch import LRScheduler
    out, config, spec, peak, save_after, total = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], \\
        float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    plan = lrplan.load(spec, steps=total, lr=peak)

    def engine():
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.AdamW(model.parameters(), lr=peak)
        eng, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, lr_scheduler=LRScheduler(opt, plan),
                                            config=config)
        return eng

    def train(eng, updates, used, save=None):
        while len(used) < updates:
            if eng.is_gradient_accumulation_boundary():
                used.append(eng.get_lr()[0])  # the LR the update at the end of this window uses
            eng.backward(eng(torch.ones(2, 2)).sum())
            eng.step()
            if save is not None and eng.global_steps == save:  # right after update save - 1
                eng.save_checkpoint(out)
                save = None

    used = []
    eng = engine()
    train(eng, total, used, save=save_after)
    resumed = engine()
    resumed.load_checkpoint(out)
    again = used[:save_after]
    train(resumed, total, again)
    print("LRS=" + json.dumps({"used": used, "resumed": again, "steps": eng.global_steps}))
""")


@pytest.fixture(scope="module")
def ds_run(tmp_path_factory, deepspeed_ops):
    require("deepspeed")
    out = tmp_path_factory.mktemp("ds_client") / "run"
    try:
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(out), json.dumps(CONFIG), SPEC, str(PEAK),
                            str(SAVE_AFTER), str(TOTAL)], check=False, capture_output=True, text=True,
                           timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("the DeepSpeed run did not finish in 240 s")
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("LRS="))
    return out, json.loads(line[4:]), lrplan.load(SPEC, steps=TOTAL, lr=PEAK)


@pytest.mark.slow
@pytest.mark.framework
def test_every_update_follows_the_plan_and_resumes(ds_run):
    _, got, plan = ds_run
    assert got["steps"] == TOTAL
    assert got["used"] == plan.lr(np.arange(TOTAL)).tolist()
    assert got["resumed"] == got["used"]  # load_checkpoint continues at update SAVE_AFTER on the plan


@pytest.mark.slow
@pytest.mark.framework
def test_the_cli_recovers_the_plan_from_the_engine_checkpoint(ds_run):
    out, got, plan = ds_run
    r = run_cli("at-step", "8", str(out), "--json")
    assert r.returncode == 0, r.stderr
    at = json.loads(r.stdout)
    assert at["framework"] == "deepspeed" and at["next_step"] == SAVE_AFTER
    assert at["lr"] == pytest.approx(got["used"][8], rel=1e-12)
    assert at["check"]["match"] is True and at["check"]["stored"] == got["used"][SAVE_AFTER]
    assert lrplan.load(run_cli("convert", str(out), "--to", "json").stdout) == plan
