"""Real runs on CPU that write real logs, made once per test session (tests/logs/make_runs.py).

Test modules import the ``runs`` fixture from here (``from logruns import runs_fixture``): no conftest.py in this
directory, because without __init__.py files pytest would import it as a second module named ``conftest``
and shadow tests/conftest.py. Each importing module gets a fixture of its own, so the runs are cached in
this module: made once per session all the same.

The three generators (HF Trainer + a plain torch loop, Lightning, DeepSpeed) run as subprocesses at the same
time. ``LRPLAN_LOG_RUNS=DIR`` reuses runs made earlier by ``make_runs.py`` into DIR/{hf,lightning,deepspeed}
(for working on the readers; CI leaves it unset and makes them fresh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "logs"
KINDS = ("hf", "lightning", "deepspeed")
NEEDS = {"hf": ("transformers", "tensorboard", "wandb", "mlflow"), "lightning": ("lightning",),
         "deepspeed": ("deepspeed",)}


_MADE: dict[str, Path] = {}


@pytest.fixture(scope="session", name="runs")
def runs_fixture(tmp_path_factory, request) -> Path:
    for kind in KINDS:
        for module in NEEDS[kind]:
            require(module)
    given = os.environ.get("LRPLAN_LOG_RUNS")
    if given:
        return Path(given)
    if "root" not in _MADE:
        _MADE["root"] = _make(tmp_path_factory.mktemp("log_runs"), request)
    return _MADE["root"]


def _make(root: Path, request) -> Path:
    """Start the HF and Lightning generators, build DeepSpeed's CPU op meanwhile (deepspeed_ops: once, untimed),
    then start the DeepSpeed one; each writes its output to a file (a full pipe would stall it)."""
    env = dict(os.environ, PYTHONHASHSEED="0", HF_DATASETS_OFFLINE="1", WANDB_MODE="offline",
               NO_ALBUMENTATIONS_UPDATE="1")
    procs = {}

    def start(kind):
        (root / kind).mkdir()
        out = open(root / f"{kind}.out", "w")  # noqa: SIM115  (closed below, after the process ends)
        procs[kind] = (subprocess.Popen([sys.executable, str(HERE / "make_runs.py"), kind, str(root / kind)],
                                        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root / kind), out)

    start("hf")
    start("lightning")
    request.getfixturevalue("deepspeed_ops")
    start("deepspeed")
    failed = []
    for kind, (p, out) in procs.items():
        p.wait(timeout=600)
        out.close()
        if p.returncode:
            failed.append(f"{kind}:\n{(root / f'{kind}.out').read_text()[-3000:]}")
    assert not failed, "making the real runs failed:\n" + "\n".join(failed)
    return root


def used(path: Path) -> dict[int, float]:
    """The ground truth a run wrote: update k -> the LR optimizer.step() really used."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, list):  # the committed fixtures: [{"update" or "global_step": k, "lr_used": lr or [lr]}]
        pairs = [(d.get("update", d.get("global_step")), d["lr_used"]) for d in data]
        return {int(k): float(v[0] if isinstance(v, list) else v) for k, v in pairs}
    return {int(k): float(v) for k, v in data.items()}


def wandb_dir(run: Path) -> Path:
    return Path((run / "wandb_run.txt").read_text().strip())
