"""HF Trainer runs that used DeepSpeed (``checkpoint-N/`` holding ``global_stepN/`` and ``latest``), REAL runs.

A subprocess trains the tiny GPT-2 of tests/fixtures/make_hf_checkpoint.py with
``TrainingArguments(deepspeed={...})`` on CPU (single process, ``DS_ACCELERATOR=cpu``; no DeepSpeed
``optimizer`` section, so HF's torch AdamW is the client optimizer and only DeepSpeed's CPU comm op is
JIT-compiled, once per session by the deepspeed_ops fixture), 6 updates,
saving every 3, then resumes from checkpoint-3. Two configurations:

* ``ds_scheduler``: the DeepSpeed config has a ``scheduler`` section (WarmupDecayLR with "auto" values that
  HF fills from TrainingArguments); DeepSpeed's scheduler wins over ``lr_scheduler_type``. ZeRO stage 0, so
  the engine file also holds the optimizer and its LR is checked.
* ``hf_scheduler``: no ``scheduler`` section; HF's own scheduler is handed to DeepSpeed as a client scheduler
  (ZeRO stage 1).

The reference is what the run did: the optimizer LR each update used (a callback) and ``log_history``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_lr_close, require, run_cli

MAX_STEPS, SAVE_STEPS = 6, 3
AUTO_BATCH = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
              "gradient_accumulation_steps": "auto"}
VARIANTS = {
    "ds_scheduler": {**AUTO_BATCH, "zero_optimization": {"stage": 0},
                     "scheduler": {"type": "WarmupDecayLR",
                                   "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                              "warmup_num_steps": "auto", "total_num_steps": "auto"}}},
    "hf_scheduler": {**AUTO_BATCH, "zero_optimization": {"stage": 1}},
}

SCRIPT = textwrap.dedent("""
    import json, os, shutil, socket, sys
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(DS_ACCELERATOR="cpu", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments
    ds_config, max_steps, save_steps = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

    class Record(TrainerCallback):
        def __init__(self):
            self.used = []
        def on_step_begin(self, args, state, control, **kw):
            self.used.append(float(kw["optimizer"].param_groups[0]["lr"]))  # the LR this update uses

    def trainer(out, rec):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=8, n_embd=8, n_layer=1, n_head=2))
        data = [{"input_ids": torch.randint(0, 32, (8,)), "labels": torch.randint(0, 32, (8,))}
                for _ in range(64)]
        args = TrainingArguments(output_dir=out, max_steps=max_steps, save_steps=save_steps, warmup_steps=2,
                                 lr_scheduler_type="cosine", learning_rate=1e-3, per_device_train_batch_size=2,
                                 logging_steps=1, report_to=[], seed=0, deepspeed=json.loads(json.dumps(ds_config)))
        return Trainer(model=model, args=args, train_dataset=data, callbacks=[rec])

    rec = Record()
    t = trainer("run", rec)
    t.train()
    hist = [[h["step"], h["learning_rate"]] for h in t.state.log_history if "learning_rate" in h]
    shutil.copytree("run", "resumed")
    again = Record()
    trainer("resumed", again).train(resume_from_checkpoint="resumed/checkpoint-%d" % save_steps)
    print("RESULT=" + json.dumps({"used": rec.used, "log_history": hist, "resumed": again.used}))
""")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def hf_ds_run(request, tmp_path_factory, deepspeed_ops):
    require("deepspeed")
    require("transformers")
    cwd = tmp_path_factory.mktemp(request.param)
    try:
        r = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(VARIANTS[request.param]), str(MAX_STEPS),
                            str(SAVE_STEPS)], capture_output=True, text=True, timeout=240, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail("the HF Trainer + DeepSpeed run did not finish in 240 s")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT="))[7:])
    return request.param, cwd / "run", res


def _json(*args):
    r = run_cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow
@pytest.mark.framework
def test_layout_is_hf_with_deepspeed_engine(hf_ds_run):
    variant, out, res = hf_ds_run
    for n in (SAVE_STEPS, MAX_STEPS):
        ck = out / f"checkpoint-{n}"
        assert (ck / "trainer_state.json").is_file() and (ck / "latest").is_file()
        assert (ck / f"global_step{n}" / "mp_rank_00_model_states.pt").is_file()
        # HF saves scheduler.pt only when its own scheduler ran
        assert (ck / "scheduler.pt").is_file() == (variant == "hf_scheduler")
    assert len(res["used"]) == MAX_STEPS


@pytest.mark.slow
@pytest.mark.framework
def test_log_history_is_what_the_run_used(hf_ds_run):
    """The run's own facts the reader relies on (checked on the real run, not on lrplan)."""
    variant, _, res = hf_ds_run
    logged = dict((s, lr) for s, lr in res["log_history"])
    steps = sorted(logged)
    assert steps == list(range(1, MAX_STEPS + 1))
    # HF's scheduler: global_step g logs update g-1; DeepSpeed's scheduler is stepped inside the engine
    # before HF reads the LR, so global_step g logs update g
    shift = 1 if variant == "hf_scheduler" else 0
    ks = [g - shift for g in steps if g - shift < MAX_STEPS]
    assert_lr_close([logged[k + shift] for k in ks], [res["used"][k] for k in ks])


@pytest.mark.slow
@pytest.mark.framework
def test_inspect_run_dir(hf_ds_run):
    variant, out, res = hf_ds_run
    j = _json("inspect", str(out))
    assert j["framework"] == "hf" and "checkpoint-6" in j["layout"]
    assert j["position"]["global_step"] == MAX_STEPS and j["next_step"] == MAX_STEPS
    assert any("used DeepSpeed (global_step6/" in n for n in j["notes"])
    notes = " ".join(j["schedule_notes"])
    if variant == "ds_scheduler":
        assert "scheduler (WarmupDecayLR) wins over lr_scheduler_type 'cosine'" in notes
        assert j["position"]["global_step6/lr_scheduler.last_batch_iteration"] == MAX_STEPS - 1
        assert "scheduler.pt" not in j["missing"]
        assert any("log_history at global_step g shows the LR of update g" in n for n in j["notes"])
    else:
        assert "no scheduler: HF's lr_scheduler_type is used" in notes
        assert j["position"]["scheduler.last_epoch"] == MAX_STEPS
        assert j["log_history"]["rule"].startswith(">= 4.51")
    assert j["check"]["match"] is True  # the stored LR of the next update equals the recomputed one
    if variant == "ds_scheduler":  # stored = the engine's param-group LR (ZeRO 0) = what global_step 6 logged
        assert_lr_close([j["check"]["stored"]], [dict(res["log_history"])[MAX_STEPS]])


@pytest.mark.slow
@pytest.mark.framework
@pytest.mark.parametrize("ck", [SAVE_STEPS, MAX_STEPS])
def test_at_step_matches_run(hf_ds_run, ck):
    variant, out, res = hf_ds_run
    got = []
    for k in range(MAX_STEPS):
        j = _json("at-step", str(k), str(out / f"checkpoint-{ck}"))
        assert j["framework"] == "hf" and j["next_step"] == ck
        got.append(j["lr"])
    assert_lr_close(got, res["used"])


@pytest.mark.slow
@pytest.mark.framework
def test_at_step_resume_matches_real_resume(hf_ds_run):
    variant, out, res = hf_ds_run
    j = _json("at-step", str(SAVE_STEPS), str(out / f"checkpoint-{SAVE_STEPS}"))
    first = next(x for x in j["resume"] if x["how"] == "resume_from_checkpoint")
    assert res["resumed"]  # the resumed run made updates
    assert_lr_close([first["first_lr"]], [res["resumed"][0]])
    assert_lr_close(res["resumed"], res["used"][SAVE_STEPS:])
