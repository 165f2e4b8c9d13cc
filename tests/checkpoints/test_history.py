"""The stored LR covers one step: every other LR a run's files record is checked too, and the report says
what was and was not checked (the HF fixture run: checkpoint-3 and checkpoint-6, a log history of 6 LRs)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli

RUN = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "hf"


def test_the_run_as_recorded_passes_every_check():
    r = run_cli("inspect", str(RUN), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [c["checkpoint"] for c in out["history"]["checkpoints"]] == ["checkpoint-3"]
    assert out["history"]["checkpoints"][0]["match"] is True and out["history"]["not_checked"]
    assert out["log_history"]["entries"] == 6 and out["log_history"]["rule"].startswith(">= 4.51")


def test_a_plan_one_step_off_is_caught_by_the_other_records(tmp_path):
    """With a warmup one step longer, the latest checkpoint (past the end, LR 0) still agrees; the earlier
    checkpoint and the log history do not: exit 5, and the text says which."""
    config = tmp_path / "args.yaml"
    config.write_text("learning_rate: 1.0e-3\nlr_scheduler_type: cosine\nwarmup_steps: 3\nmax_steps: 6\n")
    r = run_cli("inspect", str(RUN), "--config", str(config))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "stored LR 0 = recomputed 0" in r.stdout  # the one step the old check looked at
    assert "warning: checkpoint-3 (step 3)" in r.stdout and "logging rule transformers neither" in r.stdout
    a = run_cli("at-step", "3", str(RUN), "--config", str(config), "--json")
    assert a.returncode == 5 and json.loads(a.stdout)["history"]["checkpoints"][0]["match"] is False


def test_a_single_checkpoint_says_what_it_could_not_check(tmp_path):
    one = tmp_path / "checkpoint-6"
    shutil.copytree(RUN / "checkpoint-6", one)
    out = json.loads(run_cli("inspect", str(one), "--json").stdout)
    assert out["history"]["checkpoints"] == [] and "no file records" in out["history"]["not_checked"]
