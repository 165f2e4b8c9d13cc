"""Benchmark: evaluating a 10,000,000-step schedule with lrplan (numpy, vectorised) against stepping
the equivalent torch scheduler once per step (design.md targets: < 0.5 s, and > 100x faster per step).

The torch side is HF-style: ``LambdaLR`` around the same warmup + cosine-to-10% closed form (what
``get_cosine_with_min_lr_schedule_with_warmup`` builds), stepped ``TORCH_STEPS`` times and
extrapolated per step; stepping all 10M would take minutes and measure nothing new. Before timing,
both sides are checked to agree on the steps torch walked (so the comparison is like for like).
"""

from __future__ import annotations

import math
import time
import warnings

N = 10_000_000
TORCH_STEPS = 200_000
WARMUP, FLOOR, PEAK = 2000, 0.1, 3e-4
SPEC = "warmup=2000,cosine,min=0.1"


def lrplan_seconds() -> tuple[float, object]:
    import numpy as np

    from lrplan.evaluate import lr
    from lrplan.frameworks.base import ReadOptions
    from lrplan.sources import load

    s = load(SPEC, opts=ReadOptions(steps=str(N), lr=PEAK)).schedule
    steps = np.arange(N, dtype=np.float64)
    lr(s, steps[:1000])  # warm-up (first-call costs, not per-step ones)
    best, values = math.inf, None
    for _ in range(3):
        t0 = time.perf_counter()
        values = lr(s, steps)
        best = min(best, time.perf_counter() - t0)
    return best, values


def torch_seconds(expected) -> float:
    import torch

    def factor(k: int) -> float:
        if k < WARMUP:
            return k / WARMUP
        p = (k - WARMUP) / (N - WARMUP)
        return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * p))

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    got = [0.0] * TORCH_STEPS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": no training here
        t0 = time.perf_counter()
        for k in range(TORCH_STEPS):
            got[k] = opt.param_groups[0]["lr"]
            sched.step()
        elapsed = time.perf_counter() - t0
    worst = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(got[1:], expected[1:TORCH_STEPS]))
    if worst > 1e-12 or got[0] != expected[0]:
        raise RuntimeError(f"lrplan and torch disagree (relative {worst:.3g}): not the same schedule")
    return elapsed


def run() -> list[dict]:
    ours, values = lrplan_seconds()
    theirs = torch_seconds(values)
    per_ours, per_theirs = ours / N, theirs / TORCH_STEPS
    return [
        {"target": f"evaluate {N:,} steps, s", "lrplan": round(ours, 3),
         "peer": round(per_theirs * N, 1), "peer_name": f"torch LambdaLR stepped (x{N // TORCH_STEPS} of "
                                                        f"{TORCH_STEPS:,} steps)",
         "ratio": round(per_theirs / per_ours, 1), "goal": "< 0.5 s and > 100x faster per step",
         "pass": ours < 0.5 and per_theirs / per_ours > 100},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
