"""The one comparator (lrplan.exact), at the tolerance design.md fixes: two LRs agree when
|a - b| <= max(1e-12 * max(|a|, |b|), 1e-18). diff and the convert gate both use it, so a looser
tolerance would let a curve that is one part in a million off pass as the same."""

from __future__ import annotations

import json

from conftest import run_cli
from lrplan.exact import close


def test_close_is_the_design_md_tolerance():
    assert close(3e-4, 3e-4 * (1 + 0.9e-12))
    assert not close(3e-4, 3e-4 * (1 + 1e-11))
    assert close(0.0, 1e-18) and not close(0.0, 1e-17)


def test_diff_sees_a_floor_one_part_in_a_million_off():
    r = run_cli("diff", "warmup=100,cosine,min=0.1", "warmup=100,cosine,min=0.1000001", "--steps", "10k",
                "--lr", "3e-4", "--json")
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["equal"] is False
