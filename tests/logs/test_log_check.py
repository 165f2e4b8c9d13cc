"""``lrplan check LOG PLAN`` on real runs: a clean run passes (exit 0), each known accident is named (exit 1).

The accidents are real runs of the real tools (logruns.py / make_runs.py), not edited logs:

* GA× time compression: a torch loop with gradient accumulation 4 stepping HF's cosine scheduler every
  micro-batch;
* time stretched: the same loop with the scheduler's lengths counted in micro-batches;
* warmup restarted: an HF Trainer resumed from checkpoint-10 whose scheduler.pt is gone;
* constant LR: a DeepSpeed engine with no scheduler, checked against the cosine run's ds_config.json;
* horizon mismatch: an HF run of 16 updates checked against a plan of 40;
* one-step shift: transformers 4.50.3's trainer_state.json read with the rule of >= 4.51;
* LR-0 start: HF's warmup (k/W) checked against a plan whose warmup starts above 0.
"""

from __future__ import annotations

import json

from conftest import run_cli
from logruns import FIXTURES, runs_fixture, wandb_dir  # noqa: F401  (the session's real runs)

from lrplan import logs
from lrplan.runcheck import check
from lrplan.sources import load

HF_PLAN = ("warmup=5,cosine", "16", "1e-3")  # the HF runs: TrainingArguments(warmup_steps=5, cosine, max_steps=16)
TORCH_PLAN = ("warmup=10,cosine", "60", "3e-4")  # the torch loops: get_cosine_schedule_with_warmup(opt, 10, 60)


def _check(log_path, spec, steps=None, lr=None, **kw):
    from lrplan.frameworks.base import ReadOptions

    plan = load(str(spec), opts=ReadOptions(steps=steps, lr=float(lr) if lr else None))
    return check(logs.read(log_path, **kw), plan.schedule, str(spec))


def _names(result):
    return [d.name for d in result.diagnoses]


# ---- clean runs pass --------------------------------------------------------------------------------------

def test_clean_runs_are_on_plan(runs):
    hf = runs / "hf"
    spec, steps, lr = HF_PLAN
    for path in (hf / "ga1" / "trainer_state.json", hf / "ga1" / "runs", wandb_dir(hf / "ga1"), hf / "ga1" / "mlruns",
                 hf / "ga2", hf / "resumed", hf / "resumed" / "runs"):
        r = _check(path, spec, steps, lr)
        assert r.on_plan and r.agree == r.n >= 6 and not r.diagnoses, (path, r.first)
    r = _check(runs / "lightning" / "run", spec, "20", lr)  # LambdaLR warmup 5 + cosine over 20 updates
    assert r.on_plan and r.n == 20
    r = _check(hf / "torch" / "clean", *TORCH_PLAN)
    assert r.on_plan and r.n == 60
    # DeepSpeed against its own JSON config read by lrplan's DeepSpeed dialect (a cross-framework check)
    ds = runs / "deepspeed" / "cosine"
    r = _check(ds / "train.log", ds / "ds_config.json", lr="1e-3")
    assert r.on_plan and r.n == 17


def test_clean_run_cli_exit_0_json_and_report(runs, tmp_path):
    spec, steps, lr = HF_PLAN
    out = tmp_path / "report.html"
    r = run_cli("check", str(runs / "hf" / "ga2" / "runs"), spec, "--steps", steps, "--lr", lr, "--json", "-o", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["on_plan"] is True and data["agree"] == data["compared"] == 16
    assert data["log"]["kind"] == "tensorboard" and data["log"]["precision"] == "float32"
    assert data["log"]["step_rule"].startswith("k = global_step - 1")
    assert data["diagnoses"] == [] and data["first_divergence"] is None
    html = out.read_text()
    assert "plotly" in html.lower() and "train/learning_rate" in html
    text = run_cli("check", str(runs / "hf" / "ga2" / "runs"), spec, "--steps", steps, "--lr", lr, "--no-chart")
    assert text.returncode == 0 and "on plan: all 16 logged LRs agree with the plan" in text.stdout


# ---- each accident by name --------------------------------------------------------------------------------

def test_ga_time_compression(runs):
    r = _check(runs / "hf" / "torch" / "per_micro_batch", *TORCH_PLAN)
    assert not r.on_plan and _names(r) == ["GA× time compression"]
    assert r.diagnoses[0].params == {"factor": 4}


def test_time_stretched(runs):
    r = _check(runs / "hf" / "torch" / "micro_batch_lengths", *TORCH_PLAN)
    assert _names(r) == ["time stretched"] and r.diagnoses[0].params == {"factor": 4}


def test_warmup_restarted(runs):
    spec, steps, lr = HF_PLAN
    for path in (runs / "hf" / "restarted", runs / "hf" / "restarted" / "runs", wandb_dir(runs / "hf" / "restarted")):
        r = _check(path, spec, steps, lr)
        assert _names(r) == ["warmup restarted"], path
        assert r.diagnoses[0].params == {"restart_step": 10}
        assert "resume_from_checkpoint" in r.diagnoses[0].fix  # in the Trainer's own terms


def test_constant_lr(runs):
    ds = runs / "deepspeed"
    r = _check(ds / "no_scheduler" / "train.log", ds / "cosine" / "ds_config.json", lr="1e-3")
    assert _names(r) == ["constant LR"] and r.diagnoses[0].params == {"value": 1e-3}
    assert "deepspeed.initialize" in r.diagnoses[0].cause


def test_horizon_mismatch(runs):
    spec, _, lr = HF_PLAN
    r = _check(runs / "hf" / "ga1" / "trainer_state.json", spec, "40", lr)
    assert _names(r) == ["horizon mismatch"]
    assert r.diagnoses[0].params == {"run_total_steps": 16, "plan_total_steps": 40}
    assert "max_steps" in r.diagnoses[0].fix


def test_one_step_shift():
    r = _check(FIXTURES / "hf" / "trainer_state_4.50.3.json", "warmup=5,cosine", "20", "1e-3")
    assert _names(r) == ["one-step shift"] and r.diagnoses[0].params == {"shift": 1}
    assert "--set transformers_version=4.50" in r.diagnoses[0].fix
    fixed = _check(FIXTURES / "hf" / "trainer_state_4.50.3.json", "warmup=5,cosine", "20", "1e-3",
                   opts=logs.LogOptions(extra=(("transformers_version", "4.50.3"),)))
    assert fixed.on_plan


def test_lr0_start(runs):
    _, steps, lr = HF_PLAN
    r = _check(runs / "hf" / "ga1", "warmup=5,init=0.01,cosine", steps, lr)
    assert "LR-0 start" in _names(r)
    assert r.first.k == 0 and r.first.logged == 0.0


def test_accident_cli_exit_1_names_it(runs, tmp_path):
    spec, steps, lr = HF_PLAN
    r = run_cli("check", str(runs / "hf" / "restarted"), spec, "--steps", steps, "--lr", lr, "--no-chart")
    assert r.returncode == 1, r.stderr
    assert "diagnosis: warmup restarted" in r.stdout and "update 10 (global_step 11)" in r.stdout
    j = run_cli("check", str(runs / "hf" / "torch" / "per_micro_batch"), TORCH_PLAN[0], "--steps", TORCH_PLAN[1],
                "--lr", TORCH_PLAN[2], "--json", "-o", str(tmp_path / "r.svg"))
    assert j.returncode == 1, j.stderr
    data = json.loads(j.stdout)
    assert data["on_plan"] is False and [d["name"] for d in data["diagnoses"]] == ["GA× time compression"]
    assert data["first_divergence"]["step"] == 1
    assert (tmp_path / "r.svg").read_text().lstrip().startswith("<?xml")


def test_check_bad_input_exit_2(runs, tmp_path):
    r = run_cli("check", str(runs / "hf" / "ga1" / "runs"), "warmup=5,cosine", "--steps", "16", "--tag", "nope")
    assert r.returncode == 2 and "has no scalar tag named 'nope'" in r.stderr and "train/learning_rate" in r.stderr
    assert "Traceback" not in r.stderr
    f = tmp_path / "metrics.csv"
    f.write_text("epoch,step,train_loss\n0,4,0.5\n")
    r = run_cli("check", str(f), "warmup=5,cosine", "--steps", "16")
    assert r.returncode == 2 and "no learning-rate column" in r.stderr


MEGATRON_FLAGS = ("--lr 3e-4 --min-lr 3e-5 --lr-warmup-iters 4 --lr-decay-iters 12 --lr-decay-style cosine "
                  "--train-iters 12 --global-batch-size 8")  # what scripts/sim_megatron_log.py gives the scheduler


def test_megatron_log_within_printed_digits():
    """Megatron prints 7 significant digits: agreement is judged at that precision (rel errors up to ~3e-7
    pass), and the same log read one step off is a one-step shift, not 'close enough'."""
    path = FIXTURES / "megatron" / "SIMULATED_megatron_log_const_batch.log"
    r = _check(path, MEGATRON_FLAGS)
    assert r.on_plan and r.n == 12 and r.worst_rel.rel > 1e-8  # the digits, not the 1e-12 contract
    off = _check(path, MEGATRON_FLAGS, opts=logs.LogOptions(extra=(("step_offset", "-1"),)))
    assert _names(off) == ["one-step shift"]
