"""``lrplan fit LOG``: the schedule a run followed, recovered from its logged LRs alone, as a spec.

The model (:class:`~.estimate.Model`) covers what LLM runs use: an optional linear warmup (from 0, from an
``init`` level, or counted from k+1), an optional stable phase at the peak (WSD), one decay — linear,
cosine, 1-sqrt, exp-anneal (Megatron WSD "exponential"), poly(power), inverse-sqrt or exp(half-life) — and
its floor, held after the decay's end. :mod:`.estimate` gives continuous first estimates of each piece;
:mod:`.polish` settles them on lrplan's own evaluator (whole steps, the shortest decimals that still fit)
so the printed spec reproduces the log within its precision: an exact log of a real scheduler fits to
1e-12, a float32 TensorBoard log to half a float32 ulp, a Megatron log to the digits it prints.

The result names the worst step and its residual, and every other shape that fits as well ("also fits")
— on a short or sparse log several may.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import LrplanError
from ..quantity import format_number as num
from .estimate import BOUNDED, Model

PREFERENCE = ("constant", "linear", "cosine", "1-sqrt", "exp-anneal", "invsqrt", "exp", "poly")
SUBSAMPLE = 4_000  # points for the continuous estimates
POWERS = (0.5, 1.5, 2.0, 3.0, 4.0)


@dataclass
class Fitted:
    shape: str
    spec: str
    schedule: object
    norm: float  # largest |logged - fitted| in units of the log's precision (<= 1: fits)
    worst_step: int
    worst_abs: float
    model: Model
    verified: bool = True  # evaluated at every logged step (else on the probe points only)
    errors: object = None

    @property
    def fits(self) -> bool:
        return self.verified and self.norm <= 1.0


@dataclass
class FitResult:
    series: object
    best: Fitted
    alternatives: list[Fitted] = field(default_factory=list)  # other shapes that fit as well
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> str:
        return self.best.spec

    @property
    def implied_total(self) -> int | None:
        m = self.best.model
        return math.ceil(m.end) if m.shape in BOUNDED and m.end is not None else None

    def as_dict(self) -> dict:
        s, b = self.series, self.best
        m = b.model
        return {
            "spec": b.spec, "fits": b.fits, "shape": b.shape,
            "residual": {"max_abs": b.worst_abs, "step": b.worst_step, s.step_field: s.logged_step(b.worst_step),
                         "in_precision_units": b.norm, "precision": s.precision.describe()},
            "peak_lr": m.peak, "warmup_steps": m.warmup, "stable_end": m.stable_end if m.shape else None,
            "decay_end": m.end, "floor_ratio": m.floor, "implied_total": self.implied_total,
            "also_fits": [{"shape": a.shape, "spec": a.spec, "in_precision_units": a.norm}
                          for a in self.alternatives],
            "log": {"path": s.source, "kind": s.kind, "tag": s.tag, "points": len(s), "first_step": s.first,
                    "last_step": s.last, "step_rule": s.rule},
            "notes": list(s.notes) + self.notes,
        }


def spec_of(m: Model) -> str:
    items = []
    if m.warmup > 0:
        w = num(m.warmup)
        items.append(f"warmup={w}(shift={num(m.shift)},span={num(m.warmup + m.shift)})" if m.shift else f"warmup={w}")
    if m.shape is None:
        items.append("constant")
    else:
        if m.stable_end > m.warmup:
            items.append(f"constant={num(m.stable_end - m.warmup)}")
        args = []
        if m.o < m.stable_end:
            args.append(f"shift={num(m.stable_end - m.o)}")
            if m.shape in BOUNDED:
                args.append(f"span={num(m.end - m.o)}")
        if m.shape in BOUNDED:
            args += [f"power={num(m.param)}"] if m.shape == "poly" else []
            length = "" if m.end == m.total else f"={num(m.end - m.stable_end)}"
        elif m.shape == "invsqrt":
            args, length = [f"timescale={num(m.param)}"] + args, ""
        else:
            args, length = [f"half_life={num(m.param)}"] + ([f"to={num(m.floor)}"] if m.floor else []) + args, ""
        items.append(m.shape + length + (f"({','.join(args)})" if args else ""))
    if m.floor and m.shape in BOUNDED:
        items.append(f"min={num(m.floor)}")
    if m.init:
        items.append(f"init={num(m.init)}")
    items.append(f"peak={num(m.peak)}")
    items.append(f"total={num(m.total)}")
    return ",".join(items)


def _tail_floor(y, tol) -> tuple[float | None, int | None]:
    """The value the log ends flat at (the decay's floor, held) and the index where that flat tail starts."""
    import numpy as np

    n = y.size
    if n < 3:
        return None, None
    v = y[-1]
    flat = np.abs(y - v) <= tol
    if flat[-2:].all() and not flat.all():
        start = int(n - np.argmin(flat[::-1]))
        return float(v), start
    return None, None


def fit(series) -> FitResult:
    import numpy as np

    from .polish import Probe

    k, y = series.steps.astype(float), series.lr
    if y.size < 3:
        raise LrplanError(f"{series.label} has {y.size} logged points; fit needs at least 3")
    tol = series.precision.tolerance(y) + np.maximum(1e-12 * np.abs(y), 1e-18)
    peak = float(y.max())
    if peak <= 0:
        raise LrplanError(f"{series.label}: every logged LR is 0", hint="there is no schedule to fit")
    top = int(np.argmax(y >= peak - tol[int(np.argmax(y))]))
    notes: list[str] = []
    if top == y.size - 1 and y.size > 2 and y[-1] > y[0]:
        raise LrplanError(f"{series.label} ends while the LR is still rising (update {series.last:,}): the warmup's "
                          "end and the peak are not in the log",
                          hint="fit a longer log; `lrplan check LOG PLAN` compares what there is with a plan")
    from .estimate import warmup

    w = warmup(k[:top], y[:top], peak, float(k[top]))
    if w.get("ambiguous"):
        notes.append(f"the warmup ends somewhere in updates {int(k[max(top - 1, 0)]) + 1:,}–{int(k[top]):,}: the log "
                     "has no point inside it; the latest end is taken")
    base = Model(peak=peak, warmup=w.get("warmup", 0.0), shift=w.get("shift", 0.0), init=w.get("init", 0.0),
                 stable_end=w.get("warmup", 0.0), total=float(series.last + 1))
    post = np.arange(top, y.size)
    probe = Probe(series, tol)
    fitted = _fit_from(base, probe, k, y, tol, post)
    if not any(f.fits and _clean(f.model) for f in fitted) and base.warmup > 0:
        # A sparse log (no point at the peak, one warmup point): seed whole-step warmups with the peak
        # their line implies, then fit the decay again from each.
        for seed in _seeds(base, probe):
            # the decay starts at the seed's warmup end: the highest logged point may be inside the warmup
            after = np.flatnonzero(k >= seed.warmup)
            fitted += _fit_from(seed, probe, k, y, tol, after if after.size >= 2 else post)
    if not fitted:
        raise LrplanError(f"{series.label}: no schedule of the shapes fit knows reproduces this log",
                          hint="shapes: " + ", ".join(PREFERENCE))
    ok = sorted((f for f in fitted if f.fits), key=lambda f: (not _clean(f.model), PREFERENCE.index(f.shape),
                                                               len(f.spec)))
    if ok:
        best, alts = ok[0], _distinct(ok[1:], ok[0])
    else:
        from .polish import full

        best, alts = min(fitted, key=lambda f: f.norm), []
        best = full(probe, best.model) or best
        notes.append(f"no shape fits within the log's precision; the closest is {best.shape} "
                     f"({best.norm:.3g}× the precision at update {best.worst_step:,})")
    m = best.model
    if m.shape in BOUNDED and m.end is not None and m.end > series.last + 1:
        notes.append(f"the log ends at update {series.last:,}; the schedule it follows ends at update "
                     f"{math.ceil(m.end):,} (the implied total)")
    elif m.shape is None or m.shape not in BOUNDED:
        notes.append(f"the log shows no end of the schedule: total={series.last + 1:,} is the last logged update + 1")
    return FitResult(series, best, alts, notes)


def _fit_from(base: Model, probe, k, y, tol, post) -> list[Fitted]:
    from .polish import polish

    out = []
    cands = _candidates(base, k, y, tol, post)
    best = min((c[1] for c in cands), default=math.inf)
    for model, rough in sorted(cands, key=lambda c: c[1]):
        if math.isfinite(best) and rough > max(1e3 * best, 1e3):
            continue  # hopeless from the start: orders of magnitude worse than the best shape
        got = polish(probe, model)
        if got is not None:
            out.append(got)
    return out


def _clean(m: Model) -> bool:
    """Whole steps everywhere and a peak of at most 8 significant digits: what configs are written with."""
    steps = [m.warmup, m.stable_end, m.o] + ([m.end] if m.shape in BOUNDED else [])
    return all(float(v).is_integer() for v in steps) and \
        len(num(m.peak).replace(".", "").replace("-", "").split("e")[0].strip("0")) <= 8


def _seeds(base: Model, probe) -> list[Model]:
    from .polish import ints, nice

    out = []
    for w in ints(base.warmup, low=1.0)[:5]:
        t = base.with_(warmup=w, stable_end=w)
        p = probe.peak_from_warmup(t)
        if p is None:
            continue
        short = next((c for c in nice(p) if abs(c - p) <= 1e-6 * p), p)
        init = t.init
        if probe.k[0] == 0 and t.shift == 0:  # update 0 is logged: it is the warmup's start itself
            y0, t0 = float(probe.y[0]), float(probe.tol[0])
            init = next((c for c in nice(y0 / short, zero=True) if abs(c * short - y0) <= t0), init)
        out.append(t.with_(peak=short, init=init))
    return out


def _distinct(others, best):
    """Other shapes that fit as well, written with whole steps (a sparse log also fits fractional-step
    variants of many shapes; those say nothing about the run)."""
    out, seen = [], {best.shape}
    for f in others:
        if f.shape in seen or (f.shape == "poly" and f.model.param == 1.0) or not _clean(f.model):
            continue
        seen.add(f.shape)
        out.append(f)
    return out


def _candidates(base: Model, k, y, tol, post) -> list[Model]:
    """One continuous model per decay shape that the post-peak points allow (or the peak held)."""
    import numpy as np

    from . import estimate

    peak = base.peak
    kk, yy, tt = k[post], y[post], tol[post]
    if np.all(np.abs(yy - peak) <= tt):
        return [(base.with_(shape=None), 0.0)]
    if kk.size > SUBSAMPLE:
        pick = np.unique(np.r_[np.linspace(0, kk.size - 1, SUBSAMPLE).astype(np.int64), np.arange(min(200, kk.size))])
        kk, yy, tt = kk[pick], yy[pick], tt[pick]
    floor, _ = _tail_floor(y, tol)
    start = base.warmup
    out = []

    def place(o: float) -> dict:
        """The decay's phase starts at its origin, or at the warmup's end when the origin is before it."""
        return {"stable_end": max(o, start), "origin": o if o < start else None}

    for shape in ("linear", "cosine", "1-sqrt", "exp-anneal"):
        got = estimate.decay(shape, kk, yy, peak, tt, floor, start)
        if got is not None and got[1] > max(got[0], start):
            O, E, m, rough = got
            out.append((base.with_(shape=shape, end=E, floor=m, total=E, **place(O)), rough))
    best_poly = None
    for power in POWERS:
        got = estimate.decay("poly", kk, yy, peak, tt, floor, start, power)
        if got is not None and got[1] > max(got[0], start) and (best_poly is None or got[3] < best_poly[0][3]):
            best_poly = (got, power)
    if best_poly is not None:
        (O, E, m, rough), power = best_poly
        out.append((base.with_(shape="poly", end=E, floor=m, total=E, param=power, **place(O)), rough))
    last = float(k[-1] + 1)
    got = estimate.invsqrt(kk, yy, peak, tt, start)
    if got is not None:
        out.append((base.with_(shape="invsqrt", param=got[1], total=last, **place(got[0])), got[2]))
    got = estimate.exp(kk, yy, peak, tt, floor, start)
    if got is not None:
        out.append((base.with_(shape="exp", param=got[1], floor=(floor or 0.0) / peak, total=last,
                               **place(got[0])), got[2]))
    return out
