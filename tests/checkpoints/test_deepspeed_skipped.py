"""DeepSpeed checkpoints with skipped (overflowed) steps.

DeepSpeed's engine (deepspeed 0.19.8 runtime/engine.py ``_take_model_step``) counts every step in
``global_steps`` but, on an fp16 overflow, adds to ``skipped_steps`` and does not step the LR scheduler.
So the scheduler's position is ``global_steps - skipped_steps`` updates, and lrplan's next step is that.
The fixture (tests/fixtures/checkpoints/deepspeed, made by deepspeed 0.19.8, 6 steps, none skipped) is
re-saved with torch with the counters a run with overflows would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

torch = pytest.importorskip("torch")
SRC = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "deepspeed"


def _with(tmp_path, *, global_steps, skipped, drop_scheduler=False):
    d = tmp_path / "ds"
    shutil.copytree(SRC, d)
    f = d / "global_step6" / "mp_rank_00_model_states.pt"
    st = torch.load(f, weights_only=False)
    st["global_steps"], st["skipped_steps"] = global_steps, skipped
    if drop_scheduler:
        st["lr_scheduler"] = None
    torch.save(st, f)
    return d


def _inspect(d):
    r = run_cli("inspect", str(d), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_skipped_steps_consistent_with_the_scheduler(tmp_path):
    # 8 engine steps, 2 of them overflowed: the scheduler was stepped 6 times (last_batch_iteration 5)
    doc = _inspect(_with(tmp_path, global_steps=8, skipped=2))
    assert doc["next_step"] == 6
    assert doc["position"]["skipped_steps"] == 2
    assert not any("stepped a different number of times" in n for n in doc["notes"])
    assert doc["check"]["match"] is True


def test_skipped_steps_inconsistent_is_said(tmp_path):
    doc = _inspect(_with(tmp_path, global_steps=8, skipped=0))
    assert doc["next_step"] == 6  # the scheduler's own counter wins: it is what the next update uses
    assert any("global_steps 8 - skipped_steps 0" in n for n in doc["notes"])


def test_without_scheduler_state_the_position_subtracts_skipped_steps(tmp_path):
    doc = _inspect(_with(tmp_path, global_steps=9, skipped=3, drop_scheduler=True))
    assert doc["next_step"] == 6


def test_more_skipped_than_taken_is_an_error(tmp_path):
    r = run_cli("inspect", str(_with(tmp_path, global_steps=2, skipped=5, drop_scheduler=True)))
    assert r.returncode == 2 and "skipped_steps 5 exceeds global_steps 2" in r.stderr
