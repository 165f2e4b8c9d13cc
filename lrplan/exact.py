"""The exactness contract, once: one comparator, one result type, and which steps a comparison covers.

design.md: two LRs agree when ``|a - b| <= max(REL * max(|a|, |b|), ABS)`` with ``REL = 1e-12`` and
``ABS = 1e-18`` (the absolute floor is for LRs at or next to 0, where a framework's own last-bit
rounding dominates). Every check in lrplan uses :func:`close`: the readback gate of ``convert`` /
``resume --to`` (lrplan.convert), the writers' search among candidate configs, ``diff`` and the
test suite's differential tests.

What a comparison covers (:func:`steps`): every step of the run up to :data:`EXHAUSTIVE` steps
(10M; :data:`EXHAUSTIVE_PYTHON` = 1M when one side is emitted Python run one call per step, at about
1 µs a call); beyond that every phase boundary of either side +-:data:`WINDOW` steps plus
:data:`SPREAD` evenly spread steps. Steps are evaluated in chunks of :data:`CHUNK`, so memory stays
flat whatever the run length. A *probe* (used to rank candidates before the full check) covers the
boundaries +-16 steps and 20,000 spread steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

REL = 1e-12
ABS = 1e-18
EXHAUSTIVE = 10_000_000
EXHAUSTIVE_PYTHON = 1_000_000
WINDOW = 1000
SPREAD = 1_000_000
CHUNK = 1_000_000
PROBE_WINDOW, PROBE_SPREAD = 16, 20_000


@dataclass(frozen=True)
class Tolerance:
    rel: float = REL
    abs: float = ABS


CONTRACT = Tolerance()


def close(a, b, tol: Tolerance = CONTRACT):
    """Element-wise: do ``a`` and ``b`` agree within the contract? (numpy arrays or floats)."""
    import numpy as np

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.abs(a), np.abs(b))
        ok = np.abs(a - b) <= np.maximum(tol.rel * scale, tol.abs)
    return ok | ((a == b) & ~np.isnan(a))  # equal infinities agree; NaN never does


@dataclass
class Deviation:
    """How far one curve of B is from A over the steps compared."""

    curve: str = "lr"  # "lr", "weight_decay", "momentum" or "group NAME"
    worst: float = 0.0  # largest |a - b|
    worst_step: int = 0
    first_step: int | None = None  # first step beyond the tolerance (None: the curves agree)
    first_a: float = 0.0
    first_b: float = 0.0
    differing: int = 0
    compared: int = 0
    exhaustive: bool = True
    missing: str | None = None  # "A" / "B": the curve exists on one side only

    @property
    def exact(self) -> bool:
        return self.first_step is None and self.missing is None

    def describe(self, a: str = "lrplan", b: str = "the target") -> str:
        if self.missing is not None:
            has, lacks = (a, b) if self.missing == "B" else (b, a)
            return f"{has} has a {self.curve} curve that {lacks} lacks"
        if self.exact:
            return f"{self.curve} agrees at all {self.compared:,} steps compared"
        what = "" if self.curve == "lr" else f"{self.curve}: "
        return (f"{what}first differs at step {self.first_step:,} ({a} {self.first_a!r}, {b} {self.first_b!r}); "
                f"largest difference {self.worst:.3g} at step {self.worst_step:,}")


@dataclass
class Comparison:
    curves: list[Deviation] = field(default_factory=list)
    length: tuple[int | None, int | None] = (None, None)  # run lengths (steps) of A and B, when both say
    failure: str | None = None  # why B could not be compared at all (its reader refused it)

    @property
    def exact(self) -> bool:
        return self.failure is None and all(d.exact for d in self.curves) and self.length[0] == self.length[1]

    @property
    def lr(self) -> Deviation:
        return self.curves[0]

    @property
    def worst(self) -> Deviation:
        """The curve that is furthest off (a missing curve counts as infinitely far)."""
        return max(self.curves, key=lambda d: math.inf if d.missing else d.worst)

    def describe(self, a: str = "lrplan", b: str = "the target") -> str:
        if self.failure is not None:
            return self.failure
        if self.length[0] != self.length[1] and None not in self.length:
            return f"{b} runs {self.length[1]:,} steps where {a} runs {self.length[0]:,}"
        bad = [d for d in self.curves if not d.exact]
        return "; ".join(d.describe(a, b) for d in bad) if bad else self.lr.describe(a, b)


# ---- which steps ----------------------------------------------------------------------------------------


def boundaries(schedules) -> list[int]:
    """Every step where a piece of any curve of the schedules starts or its formula's span ends."""
    from .batch import step_of_position

    out: set[int] = set()
    for s in schedules:
        for c in (s.lr, s.weight_decay, s.momentum, *(c for _, c in s.groups), s.scale):
            if c is None:
                continue
            for seg in c.segments:
                for x in (seg.start, seg.end, seg.tau0, seg.tau0 + seg.span_value):
                    if x is not None and math.isfinite(x) and 0 <= x < 1e15:
                        k = step_of_position(s.axis, max(float(x), 0.0))
                        if math.isfinite(k):
                            out.add(int(math.ceil(k)))
    return sorted(out)


def run_length(s) -> int | None:
    from .keypoints import total_steps

    return total_steps(s)


def horizon(a, b=None) -> int:
    """Steps [0, N) to compare: the run of A; with no run length, past every boundary of both, doubled."""
    n = run_length(a)
    if n is not None:
        return max(n, 1)
    bs = boundaries([a] + ([b] if b is not None and hasattr(b, "lr") else []))
    return int(min(max(bs, default=0) * 2 + 16, 10**13))


def steps(n: int, bounds, *, exhaustive_limit: int = EXHAUSTIVE, probe: bool = False) -> Iterator:
    """Chunks (numpy float arrays, sorted) of the steps in [0, n) a comparison covers."""
    import numpy as np

    if not probe and n <= exhaustive_limit:
        for lo in range(0, n, CHUNK):
            yield np.arange(lo, min(n, lo + CHUNK), dtype=float)
        return
    window, spread = (PROBE_WINDOW, PROBE_SPREAD) if probe else (WINDOW, SPREAD)
    if n <= spread:
        yield np.arange(0, n, dtype=float)
        return
    near = [np.arange(max(0, k - window), min(n, k + window + 1), dtype=float) for k in bounds if k < n + window]
    grid = np.floor(np.linspace(0.0, float(n - 1), spread))
    every = np.unique(np.concatenate([grid, *near, [0.0, float(n - 1)]]))
    every = every[(every >= 0) & (every < n)]
    for lo in range(0, every.size, CHUNK):
        yield every[lo: lo + CHUNK]


# ---- comparing ---------------------------------------------------------------------------------------------


class _Track:
    def __init__(self, curve: str) -> None:
        self.d = Deviation(curve)

    def add(self, k, a, b, tol: Tolerance) -> None:
        import numpy as np

        d = self.d
        with np.errstate(invalid="ignore"):
            err = np.abs(a - b)
        err = np.where(np.isnan(err) & ~((a == b) & ~np.isnan(a)), np.inf, err)
        ok = close(a, b, tol)
        d.compared += k.size
        i = int(np.argmax(err))
        if err.size and err[i] > d.worst:
            d.worst, d.worst_step = float(err[i]), int(k[i])
        bad = np.flatnonzero(~ok)
        d.differing += int(bad.size)
        if bad.size and d.first_step is None:
            j = int(bad[0])
            d.first_step, d.first_a, d.first_b = int(k[j]), float(a[j]), float(b[j])


def _curves_of(s) -> dict:
    out = {"lr": None}
    if s.weight_decay is not None:
        out["weight_decay"] = s.weight_decay
    if s.momentum is not None:
        out["momentum"] = s.momentum
    for name, c in s.groups:
        out["group " + name] = c
    return out


def _values(s, name: str, k):
    from .evaluate import companion_values, lr

    if name == "lr":
        return lr(s, k)
    key = name[len("group "):] if name.startswith("group ") else name
    return companion_values(s, key, k)


def compare(a, b, *, n: int | None = None, tol: Tolerance = CONTRACT, probe: bool = False,
            curves: tuple[str, ...] | None = None) -> Comparison:
    """Compare schedule ``a`` with ``b`` over the run of ``a``: ``b`` is a Schedule (every curve), or a
    function of one step returning the LR (emitted Python: the LR curve only, at most 1M steps each)."""
    import numpy as np

    is_schedule = hasattr(b, "lr") and hasattr(b, "axis")
    n = horizon(a, b if is_schedule else None) if n is None else n
    names_a = _curves_of(a)
    names_b = _curves_of(b) if is_schedule else {"lr": None}
    names = list(curves) if curves is not None else list(dict.fromkeys([*names_a, *names_b]))
    tracks = {name: _Track(name) for name in names}
    bounds = boundaries([a, b] if is_schedule else [a])
    limit = EXHAUSTIVE if is_schedule else EXHAUSTIVE_PYTHON
    vector = getattr(b, "vectorised", False)
    for k in steps(n, bounds, exhaustive_limit=limit, probe=probe):
        for name in names:
            if name not in names_a or name not in names_b:
                continue
            ours = _values(a, name, k)
            if is_schedule:
                theirs = _values(b, name, k)
            elif vector:
                theirs = np.asarray(b(k), dtype=float)
            else:
                theirs = np.fromiter((b(int(x)) for x in k), dtype=float, count=k.size)
            tracks[name].add(k, ours, theirs, tol)
    out = []
    for name in names:
        d = tracks[name].d
        if name not in names_b:
            d.missing = "B"
        elif name not in names_a:
            d.missing = "A"
        d.exhaustive = n <= limit and not probe
        out.append(d)
    length = (run_length(a), run_length(b)) if is_schedule else (None, None)
    if None in length:
        length = (None, None)  # a run length on one side only: the other side's user sets it
    return Comparison(out, length)
