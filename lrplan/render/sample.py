"""Curve decimation that never loses a phase boundary.

Renderers never evaluate every step of a long schedule: they ask for an *envelope* (min and max of
the LR over each pixel column) or a decimated polyline whose points include the exact values just
before and at every phase boundary, the first and last step, and the extremes of every bucket.

Both work on any vectorised function of an integer x (optimizer steps, or tokens for ``diff``), so
the difference of two schedules decimates the same way as one schedule.
"""

from __future__ import annotations


from ..batch import position
from ..keypoints import boundary_steps
from ..evaluate import lr
from ..ir import Schedule, phase_label

PER_BUCKET = 16  # samples per bucket / pixel column: enough for every smooth shape lrplan knows


def _grid(x_max: float, buckets: int, per: int, keep):
    """Integer sample points over [0, x_max]: ``per`` per bucket plus every point of ``keep``."""
    import numpy as np

    grid = np.floor(np.linspace(0.0, float(x_max), buckets * per))
    keep = np.asarray(list(keep), dtype=float)
    keep = keep[(keep >= 0) & (keep <= x_max)]
    return np.unique(np.concatenate([grid, keep, [0.0, float(x_max)]])), keep


def envelope_fn(f, x_max: float, columns: int, *, keep=(), per_column: int = 48):
    """(lo, hi) arrays of length ``columns``: min and max of ``f`` over each column of [0, x_max]."""
    import numpy as np

    xs, _ = _grid(x_max, columns, per_column, keep)
    values = f(xs)
    edges = np.linspace(0.0, float(x_max) + 1.0, columns + 1)
    col = np.minimum(np.searchsorted(edges, xs, side="right") - 1, columns - 1)
    lo = np.full(columns, np.nan)
    hi = np.full(columns, np.nan)
    np.fmin.at(lo, col, values)
    np.fmax.at(hi, col, values)
    return lo, hi


def envelope(s: Schedule, k_max: int, columns: int, *, per_column: int = 48, curve=None):
    """(lo, hi) arrays of length ``columns`` over steps [0, k_max]."""
    return envelope_fn(lambda k: lr(s, k, curve=curve), k_max, columns, keep=boundary_steps(s, curve),
                       per_column=per_column)


def decimate_fn(f, x_max: float, buckets: int = 2000, *, keep=()):
    """Points (x, f(x)) of a polyline over [0, x_max]: every x when few, else per-bucket first,
    last, min and max, plus every point of ``keep`` (phase boundaries) with its exact value."""
    import numpy as np

    if x_max + 1 <= 4 * buckets:
        xs = np.arange(0, int(x_max) + 1, dtype=float)
        return xs, f(xs)
    xs, kept = _grid(x_max, buckets, PER_BUCKET, keep)
    vals = f(xs)
    bucket = np.minimum((xs / (x_max + 1) * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:] - 1, len(xs) - 1]
    # Within each bucket, sort by value (stable): the first and last of a bucket are its min and max.
    order = np.lexsort((vals, bucket))
    pick = np.zeros(xs.shape, dtype=bool)
    pick[starts] = True
    pick[ends] = True
    pick[order[starts]] = True
    pick[order[ends]] = True
    pick |= np.isin(xs, kept)
    return xs[pick], vals[pick]


def decimate(s: Schedule, k_max: int, buckets: int = 2000, *, curve=None):
    """Steps and LRs for a polyline over [0, k_max]: all steps when few, else per-bucket extremes."""
    return decimate_fn(lambda k: lr(s, k, curve=curve), k_max, buckets, keep=boundary_steps(s, curve))


def phase_names(s: Schedule) -> list[str]:
    """Names of the phases, indexed like :func:`phase_ids`; the last is what follows the end."""
    after = "after end" if s.lr.after == "hold" else s.lr.after
    return [phase_label(seg) for seg in s.lr.segments] + [after]


def phase_ids(s: Schedule, steps):
    """Index into :func:`phase_names` of the phase each step falls in (vectorised)."""
    import numpy as np

    from ..ops import numpy_ops

    x = position(s.axis, np.asarray(steps, dtype=float), numpy_ops())
    starts = np.array([seg.start for seg in s.lr.segments])
    ids = np.maximum(np.searchsorted(starts, x, side="right") - 1, 0)
    end = s.lr.end
    if end is not None and s.lr.after == "hold":
        ids = np.where(x >= end, len(starts), ids)
    elif end is not None and s.lr.after == "periodic":
        ids = np.maximum(np.searchsorted(starts, np.mod(x, end), side="right") - 1, 0)
    return ids


def runs_of(ids) -> list[tuple[int, int, int]]:
    """Maximal runs of equal ids as (id, first index, last index inclusive)."""
    import numpy as np

    ids = np.asarray(ids)
    if ids.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:] - 1, ids.size - 1]
    return [(int(ids[a]), int(a), int(b)) for a, b in zip(starts, ends)]
