"""Regenerate every committed checkpoint fixture with the real frameworks and compare.

Slow (DeepSpeed's first init JIT-compiles an op; later runs take seconds): each script runs in a
subprocess into a temporary directory; the framework's recorded LRs must equal the committed
expected.json and lrplan must read the fresh checkpoint exactly as it reads the committed one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require
from lrplan.checkpoints import compare, read_info

FIX = Path(__file__).parents[1] / "fixtures"

CASES = {  # script -> (module it needs, [(fixture subdir, path inside it to read, read kwargs)])
    "make_torch_checkpoints.py": ("torch", [("torch", "SequentialLR.pt", {}), ("lightning", "last.ckpt", {}),
                                            ("torchtitan", "", {"config": "job.toml"})]),
    "make_hf_checkpoint.py": ("transformers", [("hf", "", {})]),
    "make_megatron_checkpoint.py": ("megatron.core", [("megatron", "legacy", {}), ("megatron", "torch_dist", {})]),
    "make_deepspeed_checkpoint.py": ("deepspeed", [("deepspeed", "", {})]),
}


def _lrs(d: dict):
    """The recorded LR lists (everything except the version stamp)."""
    return {k: v for k, v in d.items() if k != "made_by"}


@pytest.mark.slow
@pytest.mark.framework
@pytest.mark.parametrize("script", list(CASES))
def test_regenerated_fixture_matches(script, tmp_path, request):
    module, reads = CASES[script]
    if module == "deepspeed":
        request.getfixturevalue("deepspeed_ops")  # its JIT-compiled op, built once and untimed
    require(module)
    single = script != "make_torch_checkpoints.py"
    name = reads[0][0]
    out = tmp_path / name if single else tmp_path
    r = subprocess.run([sys.executable, str(FIX / script), str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for sub, inner, kw in reads:
        fresh, committed = tmp_path / sub, FIX / "checkpoints" / sub
        new = json.loads((fresh / "expected.json").read_text())
        old = json.loads((committed / "expected.json").read_text())
        assert _lrs(new) == _lrs(old), f"{sub}: the framework now behaves differently"
        kw_f = {k: str(fresh / v) for k, v in kw.items()}
        kw_c = {k: str(committed / v) for k, v in kw.items()}
        a, b = read_info(fresh / inner, **kw_f), read_info(committed / inner, **kw_c)
        assert (a.framework, a.next_step, a.position) == (b.framework, b.next_step, b.position)
        assert compare(a) == compare(b)
