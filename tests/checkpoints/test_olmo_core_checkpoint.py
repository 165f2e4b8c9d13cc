"""OLMo-core checkpoints: step{N}/train/rank0.pt and the config.json ConfigSaverCallback writes beside it
(the fixture is made by tests/fixtures/make_olmo_core_checkpoint.py), read without torch and without running
pickled code."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require, run_cli

from lrplan.checkpoints import outcomes, read_info
from lrplan.checkpoints.locate import locate
from lrplan.errors import CheckpointError, ExitCode
from lrplan.evaluate import lr_at
from lrplan.frameworks.base import ReadOptions

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints" / "olmo_core"
STEP = FIX / "step40"
EXPECTED = json.loads((FIX / "expected.json").read_text())["lr_used"]


def test_locate_and_position():
    assert locate(STEP).framework == "olmo-core"
    info = read_info(STEP)
    assert info.next_step == 40 and info.position["global_train_tokens_seen"] == 40 * 4096
    assert any("config.json in the checkpoint" in n for n in info.notes)


def test_the_config_in_the_checkpoint_reproduces_every_lr():
    s = read_info(STEP).loaded.schedule
    assert [lr_at(s, k) for k in range(64)] == pytest.approx(EXPECTED, rel=1e-12, abs=1e-18)


def test_resume_uses_the_new_config(tmp_path):
    new = tmp_path / "config.json"
    doc = json.loads((STEP / "config.json").read_text())
    doc["train_module"]["optim"]["lr"] = 0.02  # initial_lr is a fixed field: the new config's LR applies
    new.write_text(json.dumps(doc))
    info = read_info(STEP, config=str(new))
    (o,) = outcomes(info, None, ReadOptions())
    assert o.first_lr == pytest.approx(2 * EXPECTED[40], rel=1e-12)


def test_cli_inspect_and_at_step():
    r = run_cli("at-step", "45", str(STEP), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["framework"] == "olmo-core" and doc["next_step"] == 40
    assert doc["lr"] == pytest.approx(EXPECTED[45], rel=1e-12)
    r = run_cli("inspect", str(STEP))
    assert r.returncode == 0 and "global_step 40" in r.stdout


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_hostile_state_runs_nothing(tmp_path):
    canary = tmp_path / "ran"
    d = tmp_path / "step3"
    (d / "train").mkdir(parents=True)
    (d / "train" / "rank0.pt").write_bytes(pickle.dumps({"global_step": _Reduce(os.system, (f"touch {canary}",))},
                                                        protocol=2))
    r = run_cli("inspect", str(d))
    assert r.returncode == ExitCode.HOSTILE and not canary.exists() and "Traceback" not in r.stderr


@pytest.mark.parametrize("state,message", [({"nothing": 1}, "has no global_step"),
                                           ({"global_step": "forty"}, "global_step is 'forty'")])
def test_damaged_state_is_named(tmp_path, state, message):
    d = tmp_path / "step3"
    (d / "train").mkdir(parents=True)
    (d / "train" / "rank0.pt").write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(CheckpointError) as e:
        read_info(d)
    assert message in e.value.render()


def test_without_a_config_it_says_what_is_missing(tmp_path):
    d = tmp_path / "step40"
    shutil.copytree(STEP, d)
    (d / "config.json").unlink()
    info = read_info(d)
    assert info.loaded is None and any("pass --config config.json" in m for m in info.missing)


def test_fixture_maker_is_reproducible(tmp_path):
    require("torch")
    if importlib.util.find_spec("olmo_core") is None:
        require("olmo_core")  # fails on CI, skips elsewhere
    r = subprocess.run([sys.executable, str(FIX.parents[1] / "make_olmo_core_checkpoint.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "expected.json").read_text())["lr_used"] == EXPECTED
    assert (tmp_path / "step40" / "config.json").read_text() == (STEP / "config.json").read_text()
