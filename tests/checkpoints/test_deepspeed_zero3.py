"""DeepSpeed ZeRO-3 layout (``zero_pp_rank_0_mp_rank_00_model_states.pt``) written by a REAL engine.

A subprocess runs ``deepspeed.initialize`` with ``zero_optimization.stage = 3`` on CPU (single process,
``DS_ACCELERATOR=cpu``) around a client torch optimizer (DeepSpeed's CPU comm op is JIT-compiled once per
session, by the deepspeed_ops fixture), records the LR every update
used, and saves after 6 updates. lrplan must find the ZeRO-3 rank-0 file, report the position, and give
the engine's LRs. Under ZeRO the optimizer param groups live in ``*_optim_states.pt``, so no stored LR is
checked; with a client optimizer the DeepSpeed config holds no ``optimizer.params.lr``: ``--lr`` supplies it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_lr_close, require, run_cli

PEAK = 3e-4
SAVE_AFTER, TOTAL = 6, 8
CONFIG = {"train_batch_size": 2, "train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 1,
          "zero_optimization": {"stage": 3},
          "scheduler": {"type": "WarmupCosineLR",
                        "params": {"total_num_steps": 20, "warmup_num_steps": 4, "warmup_type": "linear",
                                   "cos_min_ratio": 0.1}}}

SCRIPT = textwrap.dedent("""
    import json, os, socket, sys
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(DS_ACCELERATOR="cpu", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0")
    import deepspeed, torch
    out, config, peak, save_after, total = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5])
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=peak)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=config)
    assert engine.zero_optimization_stage() == 3
    used = []
    for _ in range(total):
        used.append(engine.get_lr()[0])  # the LR this update uses
        engine.backward(engine(torch.ones(2, 2)).sum())
        engine.step()
        if len(used) == save_after:
            engine.save_checkpoint(out)
    print("LRS=" + json.dumps(used))
""")


@pytest.fixture(scope="module")
def zero3_run(tmp_path_factory, deepspeed_ops):
    require("deepspeed")
    out = tmp_path_factory.mktemp("zero3") / "run"
    try:
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(out), json.dumps(CONFIG), str(PEAK), str(SAVE_AFTER),
                            str(TOTAL)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("the DeepSpeed ZeRO-3 run did not finish in 240 s")
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("LRS="))
    return out, json.loads(line[4:])


@pytest.mark.slow
@pytest.mark.framework
def test_zero3_layout_is_found(zero3_run):
    out, _ = zero3_run
    assert (out / "global_step6" / "zero_pp_rank_0_mp_rank_00_model_states.pt").is_file()
    assert not (out / "global_step6" / "mp_rank_00_model_states.pt").exists()  # really the ZeRO-3 layout


@pytest.mark.slow
@pytest.mark.framework
def test_zero3_inspect(zero3_run):
    out, used = zero3_run
    r = run_cli("inspect", str(out), "--lr", str(PEAK), "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["framework"] == "deepspeed" and "zero_pp_rank_0_mp_rank_00_model_states.pt" in j["layout"]
    assert j["position"]["global_steps"] == SAVE_AFTER and j["position"]["skipped_steps"] == 0
    assert j["position"]["lr_scheduler.last_batch_iteration"] == SAVE_AFTER - 1
    assert j["next_step"] == SAVE_AFTER
    assert j["check"]["stored"] is None  # ZeRO keeps the param groups in *_optim_states.pt
    assert any("optim_states" in n for n in j["notes"])


@pytest.mark.slow
@pytest.mark.framework
def test_zero3_at_step_matches_engine(zero3_run):
    out, used = zero3_run
    got = []
    for k in range(TOTAL):
        r = run_cli("at-step", str(k), str(out), "--lr", str(PEAK), "--json")
        assert r.returncode == 0, r.stderr
        got.append(json.loads(r.stdout)["lr"])
    assert_lr_close(got, used)
    r = run_cli("at-step", str(SAVE_AFTER), str(out), "--json")  # the client optimizer's LR is not in ds_config
    assert r.returncode == 2 and "--lr" in r.stderr and "Traceback" not in r.stderr
