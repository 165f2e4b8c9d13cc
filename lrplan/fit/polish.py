"""Settle a continuous model on whole steps and short decimals, then verify it on lrplan's own evaluator.

Coordinate descent over the model's numbers: each in turn takes the candidate that fits the probe points
within the log's precision with the shortest decimal (3e-4 rather than 2.9999999e-4; 1000 rather than
999.9997), or, when none fits, the one that comes closest. The probe is a spread of the log plus every
point next to a phase boundary; scoring uses :func:`values`, the model's formulas in numpy (the shapes of
lrplan.shapes, same arithmetic up to the last bit, far below any log's precision). The winner's spec is then
parsed and evaluated by lrplan itself at every logged step: that is the residual reported. If a point
outside the probe is off, the worst points join the probe and the descent runs again.
"""

from __future__ import annotations

import math

from ..quantity import format_number as num
from .estimate import BOUNDED, Model

SPREAD = 600
AROUND = 4
ROUNDS = 4
REPROBES = 3


def values(m: Model, k):
    """The model's LR at updates ``k`` (numpy), as lrplan's segments compute it."""
    import numpy as np

    P = m.peak
    out = np.full(k.shape, P, dtype=float)
    if m.warmup > 0:
        span = m.warmup + m.shift
        a, tau = m.init * P, k + m.shift
        w = k < m.warmup
        out[w] = a * ((span - tau[w]) / span) + P * (tau[w] / span)
    if m.shape is None:
        return np.maximum(out, 0.0)
    floor = m.floor * P
    d = k >= m.stable_end
    tau = k[d] - m.o
    if m.shape in BOUNDED:
        span = m.end - m.o
        if span <= 0:
            return np.full(k.shape, np.nan)
        p = np.clip(tau / span, 0.0, 1.0)
        if m.shape == "linear":
            c = 1.0 - p
        elif m.shape == "cosine":
            c = 0.5 * (1.0 + np.cos(math.pi * p))
        elif m.shape == "1-sqrt":
            c = 1.0 - np.sqrt(p)
        elif m.shape == "exp-anneal":
            c = 2.0 * 0.5 ** p - 1.0
        else:
            c = (np.maximum(span - np.minimum(tau, span), 0.0) / span) ** m.param
        out[d] = floor * (1.0 - c) + P * c
        out[k >= m.end] = floor
    elif m.shape == "invsqrt":
        out[d] = np.maximum(P * (1.0 / np.sqrt((tau + m.param) / m.param)), 0.0)
    else:
        out[d] = np.maximum(P * 0.5 ** (tau / m.param), floor) if m.floor else P * 0.5 ** (tau / m.param)
    return np.maximum(out, 0.0)  # lrplan.evaluate clamps at 0 (a warmup counted from k - 1 starts below it)


class Probe:
    def __init__(self, series, tol) -> None:
        import numpy as np

        self.series, self.k, self.y, self.tol = series, series.steps.astype(float), series.lr, tol
        n = self.k.size
        self.base = np.unique(np.linspace(0, n - 1, min(n, SPREAD)).astype(np.int64))
        self.extra = np.zeros(0, dtype=np.int64)
        self.cache: dict = {}
        self.suffix_min = None

    def indices(self, m: Model):
        import numpy as np

        marks = [m.warmup, m.stable_end, m.o] + ([m.end] if m.end is not None else [])
        at = np.searchsorted(self.k, np.asarray(marks, dtype=float))
        near = (at[:, None] + np.arange(-AROUND, AROUND + 1)).ravel()
        near = near[(near >= 0) & (near < self.k.size)]
        return np.r_[self.base, self.extra, near]  # repeats do not change a maximum

    def peak_from_warmup(self, m: Model) -> float | None:
        """The peak that puts the model's warmup line through the last logged warmup point."""
        import numpy as np

        j = int(np.searchsorted(self.k, m.warmup)) - 1
        if j < 0 or self.y[j] <= 0:
            return None
        frac = (self.k[j] + m.shift) / (m.warmup + m.shift)
        level = m.init + (1.0 - m.init) * frac
        return float(self.y[j] / level) if level > 0 else None

    def lowest_after(self, k: float) -> float:
        """The lowest LR logged at or after update ``k`` (a suffix minimum, computed once)."""
        import numpy as np

        if self.suffix_min is None:
            self.suffix_min = np.minimum.accumulate(self.y[::-1])[::-1]
        i = int(np.searchsorted(self.k, k))
        return float(self.suffix_min[i]) if i < self.k.size else 0.0

    def end_for_floor(self, m: Model, floor: float) -> float | None:
        """The decay end that best fits the probe's decay points for a given floor ratio (the origin fixed):
        ``p = f^-1(g)`` is ``(k - O) / (E - O)``, a line through the origin."""

        from .estimate import finv, fprime

        idx = self.indices(m)
        k, y, t = self.k[idx], self.y[idx], self.tol[idx]
        lo, P = floor * m.peak, m.peak
        use = (k > m.stable_end) & (y < P - t) & (y > lo + t)
        if use.sum() < 1 or P <= lo:
            return None
        power = m.param if m.shape == "poly" else 1.0
        p = finv(m.shape, (y[use] - lo) / (P - lo), power)
        x = k[use] - m.o
        w = fprime(m.shape, p, power) ** 2
        slope = float((w * p * x).sum() / (w * x * x).sum())
        return m.o + 1.0 / slope if slope > 0 else None

    def half_life(self, m: Model) -> Model:
        """``m`` with the exp half-life that fits the probe's decay points best for its peak and origin:
        ``log2(P / y) = (k - O) / H`` is a line through the origin (weighted least squares)."""
        import numpy as np

        idx = self.indices(m)
        k, y, t = self.k[idx], self.y[idx], self.tol[idx]
        use = (k > m.o) & (y < m.peak - t) & (y > m.floor * m.peak + t) & (y > 0)
        if use.sum() < 1:
            return m
        x, z = k[use] - m.o, np.log2(m.peak / y[use])
        w = (y[use] / t[use]) ** 2  # each point's log error is ~ tol / y
        slope = float((w * x * z).sum() / (w * x * x).sum())
        if not slope > 0:
            return m
        # A float32 log's own rounding takes up almost all of its tolerance, so the least-squares value is
        # not close enough: the half-life is settled by the largest error itself (a 1-D minimax search).
        from .estimate import golden

        H = 1.0 / slope
        best = golden(lambda h: self.score(m.with_(param=h), idx), H * (1 - 1e-6), H * (1 + 1e-6), iters=48)
        return m.with_(param=best)

    def score(self, m: Model, idx) -> float:
        import numpy as np

        key = (m, idx.size, int(idx[-1]) if idx.size else 0)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        pred = values(m, self.k[idx])
        err = np.abs(pred - self.y[idx]) / self.tol[idx]
        v = float(np.max(err)) if err.size else 0.0
        v = v if math.isfinite(v) else math.inf
        self.cache[key] = v
        return v


def round_sig(v: float, digits: int) -> float:
    return float(f"{v:.{digits - 1}e}") if v else 0.0


def nice(v: float | None, *, zero: bool = False) -> list[float]:
    if v is None:
        return []
    out = [0.0] if zero else []
    for d in range(1, 13):
        c = round_sig(v, d)
        out.append(c)
        if c == v:
            break
    return list(dict.fromkeys(out + [v]))


def ints(v: float | None, *, low: float = 0.0) -> list[float]:
    if v is None:
        return []
    base = round(v)
    out = [float(base + d) for d in (0, -1, 1, -2, 2)]
    for frac in (1e-3, 1e-2, 1e-1):
        out += [float(round(v * (1 - frac))), float(round(v * (1 + frac)))]
    return [c for c in dict.fromkeys(out + [float(v)]) if c >= low]


def _moves(m: Model, probe: Probe):
    """(field, candidates, how to apply one) for each number of the model, on the current model."""
    def warm(c):
        stable = m.stable_end if m.stable_end > m.warmup else c
        return m.with_(warmup=c, stable_end=max(stable, c))

    def warm_and_peak(c):
        t = warm(c)
        p = probe.peak_from_warmup(t)
        return t if p is None else t.with_(peak=p)

    def end(c):
        return m.with_(end=c, total=c)

    def peaks():
        out = nice(m.peak)
        if m.warmup > 0 and (p := probe.peak_from_warmup(m)) is not None:
            out += nice(p)
        return list(dict.fromkeys(out))

    yield "snap", lambda: snapped(m), lambda c: c[1]
    yield "peak", peaks, lambda c: m.with_(peak=c)
    if m.shape in BOUNDED:
        yield "peak+end", peaks, lambda c: refit_end(m.with_(peak=c), probe)
    if m.warmup > 0:
        yield "warmup", lambda: ints(m.warmup, low=1.0), warm
        yield "warmup+peak", lambda: ints(m.warmup, low=1.0), warm_and_peak
        yield "shift", lambda: [0.0, 1.0, -1.0], lambda c: m.with_(shift=c)
        yield "init", lambda: nice(m.init, zero=True), lambda c: m.with_(init=c)
    if m.shape is not None:
        yield "stable_end", lambda: ints(m.stable_end, low=m.warmup) + [m.warmup], \
            lambda c: m.with_(stable_end=c, origin=None if m.origin is None or m.origin >= c else m.origin)
        yield "origin", lambda: [None] + [m.stable_end - d for d in (1.0, 2.0)] + ints(m.o), \
            lambda c: m.with_(origin=c)
        if m.shape in BOUNDED:
            yield "origin+end", lambda: [None] + [m.stable_end - d for d in (1.0, 2.0)] + ints(m.o), \
                lambda c: refit_end(m.with_(origin=c), probe)
        if m.shape in BOUNDED:
            yield "end", lambda: ints(m.end, low=m.stable_end + 1), end
            yield "floor", lambda: nice(m.floor, zero=True), lambda c: m.with_(floor=c)
            yield "floor+end", lambda: floors(m, probe), lambda c: c[1]
        if m.shape == "exp":  # a rounded peak moves the half-life: refit it with each peak candidate
            whole = max(m.warmup, float(round(m.stable_end)))
            yield "peak+param", peaks, lambda c: probe.half_life(m.with_(peak=c, origin=None, stable_end=whole))
        if m.shape == "exp" and m.floor:
            yield "floor", lambda: nice(m.floor, zero=True), lambda c: m.with_(floor=c)
        if m.param is not None:
            yield "param", lambda: [c for c in nice(m.param) + ints(m.param, low=1.0) if c > 0], \
                lambda c: m.with_(param=c)


def valid(m: Model) -> bool:
    if m.warmup > m.stable_end or m.o > m.stable_end or m.peak <= 0:
        return False
    if m.warmup > 0 and m.warmup + m.shift <= 0:
        return False
    return m.end is None or m.end > m.stable_end


COMMON_FLOORS = (0.0, 0.1, 0.01, 0.05, 0.02, 0.001, 0.2, 0.03, 0.3, 0.25, 0.5, 0.15, 0.005, 0.002, 0.0001)


def floors(m: Model, probe: Probe) -> list:
    """(floor, model) pairs: the floors configs use most, and the current one's short forms, each with the
    decay end it implies (a floor and an end trade off where a log stops short of the end)."""

    out = []
    lowest = probe.lowest_after(m.stable_end)
    for c in dict.fromkeys(list(COMMON_FLOORS) + nice(m.floor, zero=True)):
        if c * m.peak > lowest and c != m.floor:
            continue
        e = probe.end_for_floor(m, c)
        if e is None or not e > m.stable_end:
            continue
        for end in dict.fromkeys([float(round(e)), e]):
            if end > m.stable_end:
                out.append((c, m.with_(floor=c, end=end, total=end)))
    return out


def snapped(m: Model) -> list:
    """Every number snapped at once, at each decimal precision: the numbers a config was written with
    (3e-4, 0.1, whole steps) are only found together, each alone being off by the others' rounding."""
    def r(v, d):
        return None if v is None else round_sig(v, d)

    steps = {"warmup": float(round(m.warmup)), "stable_end": float(round(m.stable_end))}
    origin = None if m.origin is None or abs(m.origin - m.stable_end) < 0.5 else float(round(m.origin))
    end = None if m.end is None else float(round(m.end))
    out = []
    for d in range(1, 13):
        t = m.with_(peak=r(m.peak, d), floor=r(m.floor, d) or 0.0, init=r(m.init, d) or 0.0,
                    param=r(m.param, d), origin=origin, end=end, total=end if end is not None else m.total, **steps)
        out.append((d, t))
        if m.floor and m.floor < 1e-3:  # a floor of a few ulps is a floor of 0 that the rounding left
            out.append((d, t.with_(floor=0.0)))
    return out


def refit_end(m: Model, probe: Probe) -> Model:
    """``m`` with the decay end that fits its other numbers best, in whole steps when that is as good."""
    e = probe.end_for_floor(m, m.floor)
    if e is None or not e > m.stable_end:
        return m
    idx = probe.indices(m)
    whole = m.with_(end=float(round(e)), total=float(round(e)))
    exact = m.with_(end=e, total=e)
    if round(e) > m.stable_end and probe.score(whole, idx) <= max(probe.score(exact, idx), 1.0):
        return whole
    return exact


def _size(c) -> int:
    if isinstance(c, tuple):
        return c[0] if isinstance(c[0], int) else _size(c[0]) + _size(c[1].end)
    return 0 if c is None else len(num(c))


def _pick(results):
    """The fitting candidate with the shortest decimal, else the closest."""
    fitting = [r for r in results if r[0] <= 1.0]
    if fitting:
        return min(fitting, key=lambda r: (_size(r[1]), r[0]))
    return min(results, key=lambda r: (r[0], _size(r[1])))


def descend(probe: Probe, m: Model) -> Model:
    for _ in range(ROUNDS):
        before = m
        for name in [mv[0] for mv in _moves(m, probe)]:
            move = next((mv for mv in _moves(m, probe) if mv[0] == name), None)  # built on the current model
            if move is None:
                continue
            _, make, apply = move
            cands = make()
            idx = probe.indices(m)
            here = {"floor+end": (m.floor, m), "snap": (99, m)}.get(name) or getattr(m, name.split("+")[0])
            results = [(probe.score(m, idx), here, m)]  # staying put is a candidate
            for c in cands:
                trial = apply(c)
                if not valid(trial):
                    continue
                results.append((probe.score(trial, idx), c, trial))
            if results:
                m = _pick(results)[2]
        if m == before:
            break
    return m


def polish(probe: Probe, m: Model):
    """The settled model as a :class:`~lrplan.fit.Fitted` (verified on every logged step), or None."""
    import numpy as np


    best = None
    for _ in range(REPROBES):
        m = descend(probe, m)
        if probe.score(m, probe.indices(m)) > 1.0:  # no fit even on the probe: the full check can wait
            return best or full(probe, m, verify=False)
        got = full(probe, m)
        if got is None:
            return best
        if best is None or got.norm < best.norm:
            best = got
        if got.fits:
            return best
        probe.extra = np.unique(np.r_[probe.extra, np.argsort(got.errors)[-200:]])
    return best


def full(probe: Probe, m: Model, *, verify: bool = True):
    """The model's spec, parsed and evaluated by lrplan at every logged step (``verify``), or scored on the
    probe only (a lower bound of the residual, for a model that does not fit anyway)."""
    import numpy as np

    from ..errors import LrplanError
    from ..evaluate import lr
    from ..spec import parse_spec
    from . import Fitted, spec_of

    spec = spec_of(m)
    try:
        sched = parse_spec(spec)
    except LrplanError:
        return None
    idx = np.arange(probe.k.size) if verify else probe.indices(m)
    pred = lr(sched, probe.k[idx])
    err = np.abs(pred - probe.y[idx])
    norm = err / probe.tol[idx]
    i = int(np.argmax(norm))
    got = Fitted(m.shape or "constant", spec, sched, float(norm[i]), int(probe.series.steps[idx[i]]),
                 float(err.max()), m, verified=verify)
    got.errors = norm if verify else None
    return got
