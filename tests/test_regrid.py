"""Samples/tokens schedules moved onto optimizer steps: the same LR at every step, or an honest None."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli
from lrplan.evaluate import lr
from lrplan.frameworks.base import ReadOptions
from lrplan.regrid import to_steps
from lrplan.sources import load

MOVABLE = [
    "--lr 3e-4 --min-lr 0 --lr-decay-style linear --lr-warmup-iters 500 --train-iters 10000 --global-batch-size 16",
    "--lr 6e-5 --min-lr 6e-6 --lr-decay-style cosine --lr-warmup-iters 430 --train-iters 50000 "
    "--lr-decay-iters 43000 --global-batch-size 1536",
    "--lr 3e-4 --min-lr 3e-5 --lr-decay-style WSD --lr-wsd-decay-style minus_sqrt --lr-wsd-decay-iters 2000 "
    "--lr-warmup-iters 100 --train-iters 20000 --global-batch-size 64",
    "--lr 3e-4 --lr-decay-style inverse-square-root --lr-warmup-iters 100 --train-iters 20000 --global-batch-size 8",
    "--lr 3e-4 --min-lr 1e-5 --lr-decay-style cosine --lr-warmup-fraction 0.01 --train-iters 20000 "
    "--global-batch-size 8 --weight-decay-incr-style cosine --start-weight-decay 0.01 --end-weight-decay 0.1 "
    "--decoupled-lr 1e-3",
    "warmup=2000,multistep(at=80%|90%,gamma=0.316),gbs=16,axis=samples",
    "warmup=819200tok,cosine,min=0.1,gbs=8,seq=1024,axis=tokens",
]
FIXED = [
    # 1/sqrt(n) in samples with no warmup depends on the batch size itself: no step form is exact.
    "--lr 3e-4 --lr-decay-style inverse-square-root --train-iters 20000 --global-batch-size 8",
    # a ramp-up has no constant samples-per-step
    "--lr 3e-4 --lr-decay-style cosine --lr-warmup-samples 1000 --train-samples 200000 "
    "--global-batch-size 32 --rampup-batch-size 8 8 4000 --micro-batch-size 1",
    # a boundary inside a step's batch: the warmup ends after 100.5 steps' worth of samples
    "warmup=1608,cosine,gbs=16,axis=samples",
]


@pytest.mark.parametrize("src", MOVABLE)
def test_moved_schedule_has_the_same_lr_at_every_step(src):
    s = load(src, opts=ReadOptions(steps="100k")).schedule
    t = to_steps(s)
    assert t is not None and t.axis.unit == "steps"
    k = np.arange(0, int(t.total) + 1000)
    assert np.array_equal(lr(s, k), lr(t, k))
    for name in ("weight_decay", "momentum"):
        if getattr(s, name) is not None:
            from lrplan.evaluate import companion_values

            assert np.array_equal(companion_values(s, name, k), companion_values(t, name, k))


@pytest.mark.parametrize("src", FIXED)
def test_schedules_that_cannot_move_exactly_stay_put(src):
    assert to_steps(load(src, opts=ReadOptions(steps="100k")).schedule) is None


def test_megatron_plan_converts_to_hf_and_diffs_equal(tmp_path):
    flags = MOVABLE[0]  # linear warmup and decay to 0 over the whole run: HF's "linear" type exactly
    out = tmp_path / "recipe.yaml"
    r = run_cli("convert", flags, "--to", "hf", "-o", str(out))
    assert r.returncode == 0, r.stderr
    d = run_cli("diff", flags, str(out))
    assert d.returncode == 0, d.stdout + d.stderr


def test_a_yaml_output_that_hf_cannot_express_exits_3(tmp_path):
    out = tmp_path / "recipe.yaml"
    r = run_cli("convert", MOVABLE[1], "--to", "hf", "-o", str(out))  # decay ends before training does
    assert r.returncode == 3 and "--variant python" in r.stderr
    assert not out.exists()
