"""Exact steps <-> samples <-> tokens conversion under a batch-size schedule.

A batch schedule is turned into *runs*: maximal stretches of consecutive steps with one batch size,
each known by its first step, the samples consumed before it and its size. Positions of any array of
steps then follow from one ``searchsorted`` and integer arithmetic, so a 10M-step axis costs no
Python loop per step. Building the runs walks the schedule once per batch-size change.

Megatron's ramp-up rule (``megatron/core/num_microbatches_calculator.py``,
``RampupBatchsizeNumMicroBatchesCalculator.update``): with ``K = (final - start) / incr`` increments
over ``R`` samples, the batch used when ``c`` samples have been consumed is ``final`` if ``c > R``,
else ``start + int(c / (R / K)) * incr``. Megatron's step schedule (``--step-batch-size-schedule``,
v0.18+) uses the size of the last threshold ``<= c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .ir import Axis, BatchSchedule, ConstantBatch, RampupBatch, StepBatch


@dataclass(frozen=True)
class Runs:
    """Runs of equal batch size over a step range."""

    first_step: tuple[int, ...]
    samples_before: tuple[int, ...]
    size: tuple[int, ...]


def batch_at(batch: BatchSchedule, consumed: int) -> int:
    """The batch size the framework uses when ``consumed`` samples have been consumed."""
    if isinstance(batch, ConstantBatch):
        return batch.size
    if isinstance(batch, RampupBatch):
        if consumed > batch.ramp_samples:
            return batch.final
        per_increment = batch.ramp_samples / ((batch.final - batch.start) // batch.increment)
        return batch.start + int(consumed / per_increment) * batch.increment
    size = batch.entries[0][1]
    for thr, s in batch.entries:
        if thr <= consumed:
            size = s
    return size


@lru_cache(maxsize=64)
def runs(batch: BatchSchedule) -> Runs:
    if isinstance(batch, ConstantBatch):
        return Runs((0,), (0,), (batch.size,))
    if isinstance(batch, RampupBatch):
        limit = batch.ramp_samples  # the size is final for every c > R
    else:
        limit = batch.entries[-1][0]
    first, before, sizes = [0], [0], [batch_at(batch, 0)]
    step, c = 0, 0
    while c <= limit:
        size = sizes[-1]
        # Jump close to the next change, then settle it exactly with the framework's own rule.
        nxt = _next_change_estimate(batch, c, size)
        m = max(1, nxt)
        while m > 1 and batch_at(batch, c + (m - 1) * size) != size:
            m -= 1
        while batch_at(batch, c + m * size) == size and c + m * size <= limit:
            m += 1
        step += m
        c += m * size
        new = batch_at(batch, c)
        if new != size:
            first.append(step)
            before.append(c)
            sizes.append(new)
        elif c > limit:
            break
    return Runs(tuple(first), tuple(before), tuple(sizes))


def _next_change_estimate(batch: BatchSchedule, c: int, size: int) -> int:
    if isinstance(batch, RampupBatch):
        per = batch.ramp_samples / ((batch.final - batch.start) // batch.increment)
        target = min((int(c / per) + 1) * per, batch.ramp_samples + 1)
        return max(1, math.ceil((target - c) / size))
    if isinstance(batch, StepBatch):
        later = [thr for thr, _ in batch.entries if thr > c]
        if later:
            return max(1, math.ceil((later[0] - c) / size))
    return 1


def advance(batch: BatchSchedule, consumed: int, n: int) -> int:
    """Samples consumed after ``n`` more steps from ``consumed`` (a resumed run, Megatron's rule)."""
    while n > 0:
        size = batch_at(batch, consumed)
        settled = isinstance(batch, ConstantBatch) or (
            consumed > batch.ramp_samples if isinstance(batch, RampupBatch) else consumed >= batch.entries[-1][0])
        if settled:
            return consumed + n * size
        m = min(n, _next_change_estimate(batch, consumed, size))
        while m > 1 and batch_at(batch, consumed + (m - 1) * size) != size:
            m -= 1
        consumed += m * size
        n -= m
    return consumed


def samples_before(batch: BatchSchedule, steps, ops):
    """Samples consumed before each step (exact integers, as float64 or float)."""
    r = runs(batch)
    i = ops.searchsorted(list(map(float, r.first_step)), steps) - 1
    k0 = ops.take(list(map(float, r.first_step)), i)
    c0 = ops.take(list(map(float, r.samples_before)), i)
    size = ops.take(list(map(float, r.size)), i)
    return c0 + (steps - k0) * size


def position(axis: Axis, steps, ops):
    """Position on the schedule axis of each step (the samples/tokens consumed before it)."""
    if axis.unit == "steps":
        return steps
    samples = samples_before(axis.batch, steps, ops)
    if axis.unit == "samples":
        return samples
    return samples * float(axis.seq_len)


def step_of_position(axis: Axis, pos: float) -> float:
    """The first step whose position is >= ``pos`` (a float step for the steps axis)."""
    if axis.unit == "steps":
        return pos
    samples = pos if axis.unit == "samples" else pos / axis.seq_len
    r = runs(axis.batch)
    i = 0
    for j, c0 in enumerate(r.samples_before):
        if c0 <= samples:
            i = j
    return r.first_step[i] + math.ceil((samples - r.samples_before[i]) / r.size[i])


def steps_total(steps, axis: Axis) -> float:
    """``--steps N`` as a total on ``axis``: N optimizer steps, or the samples/tokens consumed before step N."""
    from .ops import math_ops
    from .quantity import parse_count

    n = parse_count(steps)
    return n if axis.unit == "steps" else float(position(axis, n, math_ops))
