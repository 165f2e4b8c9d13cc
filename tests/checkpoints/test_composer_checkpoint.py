"""Composer checkpoints: the fixture made from the real Composer pieces (tests/fixtures/make_composer_checkpoint.py),
read without torch and without running pickled code."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require, run_cli

from lrplan.checkpoints import read_info
from lrplan.checkpoints.locate import locate
from lrplan.errors import CheckpointError, ExitCode
from lrplan.evaluate import lr_at
from lrplan.frameworks.base import ReadOptions

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "composer"
CONFIG = str(FIX / "train.yaml")
EXPECTED = json.loads((FIX / "expected.json").read_text())


def test_locate_files_and_save_folder():
    assert locate(FIX).framework == "composer" and locate(FIX).path.name == "ep1-ba12-rank0.pt"
    assert locate(FIX / "ep1-ba8-rank0.pt").framework == "composer"
    assert locate(FIX / "latest-rank0.pt").framework == "composer"


def test_position_and_stored_lr():
    info = read_info(FIX / "ep1-ba8-rank0.pt")
    assert info.next_step == 8 and info.position["schedulers.LambdaLR.last_epoch"] == 8
    assert info.stored_lr == EXPECTED["lr_used"][8]  # the optimizer's lr is the LR update 8 uses
    assert info.loaded is None and "pass --config train.yaml" in info.missing[0]


def test_the_config_reproduces_every_lr_the_run_used():
    info = read_info(FIX, config=CONFIG)
    assert any("8 batches per epoch, from the checkpoint's timestamp" in n for n in info.notes)
    s = info.loaded.schedule
    assert [lr_at(s, k) for k in range(16)] == pytest.approx(EXPECTED["lr_used"], rel=1e-12, abs=1e-18)


def test_resume_outcome_matches_the_real_resume():
    from lrplan.checkpoints import outcomes

    info = read_info(FIX / "ep1-ba8-rank0.pt", config=CONFIG)
    (o,) = outcomes(info, None, ReadOptions())
    resumed = EXPECTED["lr_used_after_resume_from_ep1-ba8"]
    assert o.first_lr == resumed[0]
    assert [lr_at(o.schedule.schedule, 8 + j) for j in range(8)] == pytest.approx(resumed, rel=1e-12)


def test_a_new_peak_is_ignored_on_resume(tmp_path):
    from lrplan.checkpoints import outcomes

    new = tmp_path / "new.yaml"
    new.write_text((FIX / "train.yaml").read_text().replace("lr: 0.01", "lr: 0.02"))
    info = read_info(FIX / "ep1-ba8-rank0.pt", config=str(new))
    (o,) = outcomes(info, None, ReadOptions())
    assert o.schedule.schedule.peak_lr == 0.01 and "restored base_lrs 0.01" in o.note


def test_cli_inspect_and_at_step():
    r = run_cli("inspect", str(FIX), "--config", CONFIG, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["framework"] == "composer" and doc["next_step"] == 12
    assert doc["check"]["match"] is True and doc["check"]["stored"] == EXPECTED["lr_used"][12]
    r = run_cli("at-step", "13", str(FIX / "ep1-ba8-rank0.pt"), "--config", CONFIG, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lr"] == pytest.approx(EXPECTED["lr_used"][13], rel=1e-12)
    r = run_cli("at-step", "13", str(FIX), "--json")  # no --config: it says what is missing
    assert r.returncode == ExitCode.USAGE and "pass --config train.yaml" in r.stderr


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_hostile_timestamp_runs_nothing(tmp_path):
    canary = tmp_path / "ran"
    state = {"state": {"timestamp": {"Timestamp": {"batch": _Reduce(os.system, (f"touch {canary}",))}}}}
    data = pickle.dumps(state, protocol=2)
    live = subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                          input=data, capture_output=True, timeout=60, check=False)
    assert canary.exists() and live.returncode == 0  # the payload is live under stock pickle
    canary.unlink()
    (tmp_path / "ep0-ba3-rank0.pt").write_bytes(data)
    r = run_cli("inspect", str(tmp_path / "ep0-ba3-rank0.pt"))
    assert r.returncode == ExitCode.HOSTILE and "state.timestamp.Timestamp.batch" in r.stderr
    assert not canary.exists() and "Traceback" not in r.stderr


@pytest.mark.parametrize("state,message", [
    ({"nothing": 1}, "has no 'state' mapping"),
    ({"state": {"timestamp": 3}}, "state.timestamp is not a mapping"),
    ({"state": {"timestamp": {"Timestamp": {"batch": "seven"}}}}, "state.timestamp.Timestamp.batch is 'seven'"),
    ({"state": {"timestamp": {"Timestamp": {"batch": float("nan")}}}}, "not a step count"),
])
def test_damaged_checkpoints_are_named(tmp_path, state, message):
    path = tmp_path / "ep0-ba3-rank0.pt"
    path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(CheckpointError) as e:
        read_info(path)
    assert message in e.value.render()


def test_truncated_file(tmp_path):
    path = tmp_path / "ep1-ba8-rank0.pt"
    data = (FIX / "ep1-ba8-rank0.pt").read_bytes()
    path.write_bytes(data[: len(data) // 2])
    r = run_cli("inspect", str(path))
    assert r.returncode == ExitCode.USAGE and "Traceback" not in r.stderr and "error:" in r.stderr


def test_schedulers_not_stepped_every_batch_are_noted(tmp_path):
    from lrplan.checkpoints import safepickle

    top = safepickle.plain(safepickle.load_file(FIX / "ep1-ba8-rank0.pt"))
    assert top["state"]["schedulers"]["LambdaLR"]["last_epoch"] == 8
    # the same checkpoint with the LambdaLR stepped once per epoch: written as plain data (no tensors needed)
    top["state"]["schedulers"]["LambdaLR"]["last_epoch"] = 1
    top["state"].pop("model")
    top["state"]["optimizers"]["SGD"].pop("state")
    top.pop("rng")
    path = tmp_path / "ep1-ba8-rank0.pt"
    path.write_bytes(pickle.dumps(top, protocol=2))
    info = read_info(path)
    assert any("last_epoch 1 != timestamp.batch 8" in n for n in info.notes)


def test_fixture_maker_is_reproducible(tmp_path):
    """The maker regenerates the same LRs (the checkpoint bytes hold a timestamp, so only the record is compared)."""
    import importlib.util

    if importlib.util.find_spec("composer") is None:
        require("composer")  # fails on CI, skips elsewhere
    out = tmp_path / "composer"
    r = subprocess.run([sys.executable, str(FIX.parents[1] / "make_composer_checkpoint.py"), str(out)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    fresh = json.loads((out / "expected.json").read_text())
    assert fresh["lr_used"] == EXPECTED["lr_used"]
    assert fresh["lr_used_after_resume_from_ep1-ba8"] == EXPECTED["lr_used_after_resume_from_ep1-ba8"]
    shutil.rmtree(out)
