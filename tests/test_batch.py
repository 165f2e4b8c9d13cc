"""Steps <-> samples under batch-size schedules, checked against megatron-core's own calculator."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require
from lrplan.batch import batch_at, samples_before, step_of_position
from lrplan.ir import Axis, ConstantBatch, RampupBatch, StepBatch
from lrplan.ops import math_ops, numpy_ops

RAMPS = [(8, 8, 240, 32), (16, 16, 5_859_375, 1536), (32, 32, 1_000_000, 2048), (3, 5, 997, 103)]


@pytest.mark.framework
@pytest.mark.parametrize("start,incr,ramp,final", RAMPS)
def test_rampup_matches_megatron_calculator(start, incr, ramp, final):
    m = require("megatron.core.num_microbatches_calculator")
    calc = m.RampupBatchsizeNumMicroBatchesCalculator(final, 1, 1, False, 0, start, incr, ramp)
    batch = RampupBatch(start, incr, ramp, final)
    consumed, sizes, before = 0, [], []
    # Megatron's loop: update(consumed) at the start of each iteration, then consume that batch.
    while consumed <= ramp + 3 * final and len(sizes) < 200_000:
        calc.update(consumed, False)
        size = calc.get_current_global_batch_size()
        before.append(consumed)
        sizes.append(size)
        consumed += size
    ks = np.arange(len(sizes), dtype=float)
    assert np.array_equal(samples_before(batch, ks, numpy_ops()), np.array(before, dtype=float))
    assert [batch_at(batch, c) for c in before] == sizes
    assert samples_before(batch, float(len(sizes) - 1), math_ops) == before[-1]


def test_constant_and_step_schedules():
    assert samples_before(ConstantBatch(1536), 10.0, math_ops) == 15360
    sb = StepBatch(((0, 16), (100, 32), (150, 64)))
    # 16 until 100 consumed (7 steps: 0..96 -> 112), then 32 until >= 150 (2 steps: 112, 144 -> 176), then 64.
    ks = np.arange(12, dtype=float)
    want = [0, 16, 32, 48, 64, 80, 96, 112, 144, 176, 240, 304]
    assert samples_before(sb, ks, numpy_ops()).tolist() == want
    assert step_of_position(Axis("samples", sb), 144) == 8
    assert step_of_position(Axis("samples", sb), 145) == 9
    assert step_of_position(Axis("tokens", ConstantBatch(4), 10), 400) == 10


@pytest.mark.framework
def test_zero_sample_ramp_is_refused_like_megatron():
    from lrplan.errors import ScheduleError

    m = require("megatron.core.num_microbatches_calculator")
    with pytest.raises(ZeroDivisionError):  # the constructor already evaluates consumed=0
        calc = m.RampupBatchsizeNumMicroBatchesCalculator(16, 1, 1, False, 0, 8, 8, 0)
        calc.update(0, False)
    with pytest.raises(ScheduleError, match="rampup samples must be a positive integer"):
        RampupBatch(8, 8, 0, 16)
