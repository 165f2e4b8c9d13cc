"""Continuous first estimates of a schedule's pieces from logged points (numpy, closed forms and 1-D searches).

Decays from the peak ``P`` to a floor ``m`` over ``[S, E)`` have the form ``y = m + (P - m) * f(p)`` with
``p = (k - S) / (E - S)`` (lrplan.shapes). Given ``m``, each shape's ``f`` is inverted, ``p = f^-1(g)`` with
``g = (y - m) / (P - m)``, and ``p`` is linear in ``k``: a weighted least-squares line gives S and E at once
(weights ``|f'(p)|``, so the flat ends of a cosine, where the log's rounding hides ``p``, count little).
An unknown floor is a golden-section search around that. ``invsqrt`` and ``exp`` are lines too, in
``(P / y)^2`` and ``log y``. These estimates only seed :mod:`.polish`, which settles every number on the
real evaluator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

BOUNDED = ("linear", "cosine", "1-sqrt", "exp-anneal", "poly")
OPEN = ("invsqrt", "exp")


@dataclass(frozen=True)
class Model:
    """A schedule in fit's terms: [warmup to the peak] [stable at the peak] [one decay] [its floor, held]."""

    peak: float
    warmup: float = 0.0  # W: first update at the peak (0: no warmup)
    shift: float = 0.0  # warmup counted from k + shift over span W + shift (nanoGPT's (k+1)/(W+1): 1)
    init: float = 0.0  # warmup start, ratio of the peak
    stable_end: float = 0.0  # S: first update of the decay (= warmup when there is no stable phase)
    origin: float | None = None  # where the decay's formula starts (p = 0), at or before S (None: S)
    shape: str | None = None  # the decay (None: the peak held to the end)
    end: float | None = None  # E: where a bounded decay reaches its floor
    floor: float = 0.0  # ratio of the peak
    param: float | None = None  # poly power, invsqrt timescale, exp half-life
    total: float = 1.0

    def with_(self, **kw) -> Model:
        return replace(self, **kw)

    @property
    def o(self) -> float:
        return self.stable_end if self.origin is None else self.origin


def finv(shape: str, g, power: float = 1.0):
    import numpy as np

    g = np.clip(g, 0.0, 1.0)
    if shape == "linear":
        return 1.0 - g
    if shape == "cosine":
        return np.arccos(2.0 * g - 1.0) / math.pi
    if shape == "1-sqrt":
        return (1.0 - g) ** 2
    if shape == "exp-anneal":
        return -np.log2((g + 1.0) / 2.0)
    if shape == "poly":
        return 1.0 - g ** (1.0 / power)
    raise ValueError(shape)


def fprime(shape: str, p, power: float = 1.0):
    import numpy as np

    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    if shape == "linear":
        return np.ones_like(p)
    if shape == "cosine":
        return 0.5 * math.pi * np.sin(math.pi * p)
    if shape == "1-sqrt":
        return 0.5 / np.sqrt(p)
    if shape == "exp-anneal":
        return 2.0 * math.log(2.0) * 0.5 ** p
    if shape == "poly":
        return power * (1.0 - p) ** (power - 1.0)
    raise ValueError(shape)


def f(shape: str, p, power: float = 1.0):
    import numpy as np

    p = np.clip(p, 0.0, 1.0)
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(math.pi * p))
    if shape == "1-sqrt":
        return 1.0 - np.sqrt(p)
    if shape == "exp-anneal":
        return 2.0 * 0.5 ** p - 1.0
    if shape == "poly":
        return (1.0 - p) ** power
    raise ValueError(shape)


def line(x, y, w=None) -> tuple[float, float] | None:
    """(slope, intercept) of the weighted least-squares line, None when x does not vary."""
    import numpy as np

    w = np.ones_like(x) if w is None else w
    sw = w.sum()
    if x.size < 2 or sw <= 0:
        return None
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    vx = (w * (x - mx) ** 2).sum()
    if vx <= 0:
        return None
    slope = (w * (x - mx) * (y - my)).sum() / vx
    return float(slope), float(my - slope * mx)


def golden(fn, lo: float, hi: float, iters: int = 32) -> float:
    """Golden-section search for a minimum of ``fn`` on [lo, hi] (one evaluation per step)."""
    g = 0.6180339887498949
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = fn(c), fn(d)
    for _ in range(iters):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = fn(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = fn(d)
    return (a + b) / 2


def warmup(k, y, peak: float, k_peak: float) -> dict:
    """Warmup line ``y = a + b k`` -> its length W (where it meets the peak), shift and init."""
    if k.size == 0:
        return {"warmup": 0.0}
    if (y > 0).sum() >= 2:  # a warmup counted from k - 1 is clamped at 0 first: fit the line where it is above
        k, y = k[y > 0], y[y > 0]
    fit = line(k, y)
    if fit is None or fit[0] <= 0:  # one point: a ramp from 0 at update 0 through it, or from it
        if k[0] > 0 and y[0] > 0:
            b, a = y[0] / k[0], 0.0
        else:
            return {"warmup": float(k_peak), "init": float(y[0]) / peak, "ambiguous": True}
    else:
        b, a = fit
    w = (peak - a) / b
    lo = float(k[-1]) + 1e-9
    w = min(max(w, lo), float(k_peak))
    s = a / b
    if abs(s - round(s)) < 0.02 and -2 <= round(s) <= 4 and round(s) != 0:
        return {"warmup": w, "shift": float(round(s))}
    return {"warmup": w, "init": max(0.0, a) / peak}


def decay(shape: str, k, y, peak: float, tol, floor: float | None, start: float, power: float = 1.0):
    """(origin O, end E, floor ratio, max normalized residual) of a bounded decay of ``shape`` over points k, y (all after
    the peak), or None. ``floor`` (absolute) when the log's flat tail shows it."""
    import numpy as np

    def solve(m):
        g = (y - m) / (peak - m)
        inside = (y < peak - tol) & (y > m + tol)
        if inside.sum() < 2:
            return None
        p = finv(shape, g[inside], power)
        fit = line(k[inside], p, fprime(shape, p, power) ** 2)
        if fit is None or fit[0] <= 0:
            return None
        alpha, beta = fit
        O = -beta / alpha
        E = O + 1.0 / alpha
        pred = m + (peak - m) * f(shape, (k - O) / (E - O), power)
        return O, E, float(np.max(np.abs(pred - y) / tol))

    if floor is not None:
        got = solve(floor)
        return None if got is None else (got[0], got[1], floor / peak, got[2])
    top = max(float(y.min()) - float(tol.min()), 0.0)

    def score(m):
        got = solve(m)
        return math.inf if got is None else got[2]

    # A coarse scan first (the residual is not unimodal in the floor: points leave the fit as it rises),
    # then a golden-section search in the best bracket.
    grid = np.unique(np.r_[np.linspace(0.0, top, 25), top * (1.0 - np.geomspace(1e-1, 1e-6, 6))])
    scores = [score(m) for m in grid]
    i = int(np.argmin(scores))
    best = float(grid[i])
    if top > 0 and math.isfinite(scores[i]):
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])
        m = golden(score, lo, hi)
        if score(m) <= scores[i]:
            best = m
    got = solve(best)
    return None if got is None else (got[0], got[1], best / peak, got[2])


def invsqrt(k, y, peak: float, tol, start: float):
    """``y = P / sqrt((k - S + ts) / ts)``: (P / y)^2 = 1 + (k - S) / ts is a line in k."""
    import numpy as np

    use = (y < peak - tol) & (y > 0)
    if use.sum() < 2:
        return None
    fit = line(k[use], (peak / y[use]) ** 2)
    if fit is None or fit[0] <= 0:
        return None
    ts = 1.0 / fit[0]
    O = ts * (1.0 - fit[1])
    pred = peak / np.sqrt(np.maximum(k - O + ts, 1e-300) / ts)
    pred = np.where(k < max(O, start), peak, pred)
    return O, ts, float(np.max(np.abs(pred - y) / tol))


def exp(k, y, peak: float, tol, floor: float | None, start: float):
    """``y = max(P * 0.5 ** ((k - S) / H), floor)``: log y is a line in k."""
    import numpy as np

    lo = (floor or 0.0) + tol
    use = (y < peak - tol) & (y > lo)
    if use.sum() < 2:
        return None
    fit = line(k[use], np.log(y[use] / peak))
    if fit is None or fit[0] >= 0:
        return None
    H = -math.log(2.0) / fit[0]
    O = -fit[1] / fit[0]
    pred = np.maximum(peak * 0.5 ** ((k - O) / H), floor or 0.0)
    pred = np.where(k < max(O, start), peak, pred)
    return O, H, float(np.max(np.abs(pred - y) / tol))
