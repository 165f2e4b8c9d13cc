"""Benchmark: the Python API. ``plan.lr(np.arange(10_000_000))``, and ``lrplan.torch.LRScheduler``'s
per-step overhead side by side with a ``LambdaLR`` whose lambda is the same warmup + cosine written by hand.

Both schedulers step the same SGD optimizer (one parameter, no gradients: ``optimizer.step()`` is cheap
and the same on both sides), so the difference is the scheduler's own ``step()``. Best of REPEATS.
Needs torch for the second row.

``run()`` returns rows {"target", "lrplan", "peer", "ratio", "goal"} for benchmarks/run.py;
``python benchmarks/bench_api.py`` prints them.
"""

from __future__ import annotations

import math
import time

N = 10_000_000
STEPS = 20_000
REPEATS = 5
SPEC, TOTAL, WARMUP, PEAK = "warmup=2000,cosine,min=0.1", 100_000, 2000, 3e-4


def eval_seconds() -> float:
    import numpy as np

    import lrplan

    plan = lrplan.load(SPEC, steps=TOTAL, lr=PEAK)
    k = np.arange(N)
    plan.lr(k[:1000])  # warm: numpy and the evaluator's first call
    best = math.inf
    for _ in range(REPEATS):
        t = time.perf_counter()
        plan.lr(k)
        best = min(best, time.perf_counter() - t)
    return best


def _lambda(k: int) -> float:
    """The same schedule as SPEC, as a multiplier (the usual hand-written LambdaLR closure)."""
    if k < WARMUP:
        return k / WARMUP
    p = min(k - WARMUP, TOTAL - WARMUP) / (TOTAL - WARMUP)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))


def _per_step(make) -> float:
    import torch

    best = math.inf
    for _ in range(REPEATS):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
        sched = make(opt)
        t = time.perf_counter()
        for _ in range(STEPS):
            opt.step()
            sched.step()
        best = min(best, (time.perf_counter() - t) / STEPS)
    return best


def scheduler_seconds() -> tuple[float, float, float]:
    """(lrplan.torch.LRScheduler, LambdaLR, optimizer.step() alone) seconds per step."""
    import torch

    import lrplan
    from lrplan.torch import LRScheduler

    plan = lrplan.load(SPEC, steps=TOTAL, lr=PEAK)
    ours = _per_step(lambda opt: LRScheduler(opt, plan))
    theirs = _per_step(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, _lambda))

    class Nothing:
        def step(self):
            pass

    base = _per_step(lambda opt: Nothing())
    return ours, theirs, base


def run() -> list[dict]:
    rows = []
    ev = eval_seconds()
    rows.append({"target": f"plan.lr(np.arange({N:,})), s", "lrplan": round(ev, 3), "peer": None,
                 "ratio": None, "goal": "lrplan < 0.5", "pass": ev < 0.5})
    ours, theirs, base = scheduler_seconds()
    over_ours, over_theirs = ours - base, theirs - base
    rows.append({"target": "scheduler.step() overhead per update, µs", "lrplan": round(over_ours * 1e6, 2),
                 "peer": round(over_theirs * 1e6, 2), "peer_name": "torch LambdaLR, same warmup+cosine lambda",
                 "ratio": round(over_theirs / over_ours, 2) if over_ours > 0 else None,
                 "goal": "no worse than LambdaLR", "pass": over_ours <= over_theirs * 1.1})
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
