"""Curve decimation that never loses a phase boundary.

Renderers never evaluate every step of a long schedule: they ask for an *envelope* (min and max of
the LR over each pixel column) or a decimated polyline whose points include the exact values just
before and at every phase boundary, the first and last step, and the extremes of every bucket.
"""

from __future__ import annotations

import math

from ..batch import step_of_position
from ..evaluate import lr
from ..ir import Curve, Schedule


def boundary_steps(s: Schedule, curve: Curve | None = None) -> list[int]:
    """First step of every segment after the first, and the step where the last one ends."""
    c = s.lr if curve is None else curve
    out = []
    for x in c.boundaries()[1:]:
        k = int(math.ceil(step_of_position(s.axis, x)))
        out.extend([k - 1, k])
    return sorted({k for k in out if k >= 0})


def envelope(s: Schedule, k_max: int, columns: int, *, per_column: int = 48, curve=None):
    """(lo, hi) arrays of length ``columns`` over steps [0, k_max]."""
    import numpy as np

    edges = np.linspace(0.0, float(k_max) + 1.0, columns + 1)
    steps = []
    for i in range(columns):
        a, b = edges[i], edges[i + 1]
        steps.append(np.unique(np.floor(np.linspace(a, max(a, b - 1e-9), per_column))))
    bounds = np.array(boundary_steps(s, curve), dtype=float)
    flat = np.concatenate(steps + [bounds[(bounds >= 0) & (bounds <= k_max)]])
    flat = np.unique(np.clip(flat, 0, k_max))
    values = lr(s, flat, curve=curve)
    col = np.minimum(np.searchsorted(edges, flat, side="right") - 1, columns - 1)
    lo = np.full(columns, np.nan)
    hi = np.full(columns, np.nan)
    np.fmin.at(lo, col, values)
    np.fmax.at(hi, col, values)
    return lo, hi


def decimate(s: Schedule, k_max: int, buckets: int = 2000, *, curve=None):
    """Steps and LRs for a polyline over [0, k_max]: all steps when few, else per-bucket extremes."""
    import numpy as np

    if k_max + 1 <= 4 * buckets:
        steps = np.arange(0, k_max + 1, dtype=float)
        return steps, lr(s, steps, curve=curve)
    per = 16
    grid = np.unique(np.floor(np.linspace(0, k_max, buckets * per)))
    bounds = np.array([b for b in boundary_steps(s, curve) if 0 <= b <= k_max], dtype=float)
    grid = np.unique(np.concatenate([grid, bounds, [0.0, float(k_max)]]))
    vals = lr(s, grid, curve=curve)
    # keep per bucket: first, min, max, last; plus every boundary step
    bucket = np.minimum((grid / (k_max + 1) * buckets).astype(int), buckets - 1)
    keep = np.zeros(grid.shape, dtype=bool)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:] - 1, len(grid) - 1]
    keep[starts] = True
    keep[ends] = True
    for lo_i, hi_i in zip(starts, ends):
        seg = vals[lo_i : hi_i + 1]
        keep[lo_i + int(np.argmin(seg))] = True
        keep[lo_i + int(np.argmax(seg))] = True
    keep |= np.isin(grid, bounds)
    return grid[keep], vals[keep]
