"""Where and how much two schedules differ (``lrplan diff A B``).

Both schedules are lined up on one axis: optimizer steps, or samples/tokens consumed when their
batch-size schedules (or sequence lengths) differ, since then "step k" is not the same point of
training in both. On the token axis the LR in effect at token t is that of the update whose batch
contains it, i.e. the last step whose position (tokens consumed before it) is <= t, and the points
compared are the start of every update of either run.

Every point is compared when there are at most :data:`EXHAUSTIVE_LIMIT` of them (vectorised, in
chunks of :data:`CHUNK`), so a difference at one step is never missed. Longer runs are compared on an
even grid of :data:`SAMPLED_POINTS` points plus every phase boundary (and the step before it) of both
schedules and their key points; the result then says ``exhaustive: false``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import LrplanError
from .exact import ABS, REL, Tolerance, close
from .ir import Axis, Schedule

EXHAUSTIVE_LIMIT = 20_000_001  # a 20M-step run and the step after its end
CHUNK = 2_000_000
SAMPLED_POINTS = 4_000_000


def tolerance(rel: float = REL, abs_: float = ABS) -> Tolerance:
    """``--tolerance`` / ``--abs-tolerance`` (default: the exactness contract), checked."""
    for name, v in (("--tolerance", rel), ("--abs-tolerance", abs_)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise LrplanError(f"{name} must be a non-negative number, got {v!r}")
    return Tolerance(rel, abs_)


@dataclass
class Alignment:
    """Both schedules as functions of one integer axis x in [0, x_max]."""

    unit: str  # steps | samples | tokens
    a: Schedule
    b: Schedule
    x_max: int
    step_a: Callable  # x array -> step of A in effect at x
    step_b: Callable
    pos_a: Callable  # step array -> x of A's step
    pos_b: Callable
    n_a: int  # last step of each shown (total, or end of the curve)
    n_b: int
    notes: list[str] = field(default_factory=list)

    def lr_a(self, x):
        from .evaluate import lr

        return lr(self.a, self.step_a(x))

    def lr_b(self, x):
        from .evaluate import lr

        return lr(self.b, self.step_b(x))

    def keep(self) -> list[float]:
        """x of every phase boundary (and the step before it) of both schedules."""
        from .keypoints import boundary_steps

        out = set()
        for s, pos in ((self.a, self.pos_a), (self.b, self.pos_b)):
            ks = boundary_steps(s)
            if ks:
                out.update(float(v) for v in pos(_arr(ks)))
        return sorted(v for v in out if 0 <= v <= self.x_max)


@dataclass
class Where:
    x: float
    step_a: int
    step_b: int
    a: float
    b: float

    def as_dict(self, unit: str) -> dict:
        d = {"step": self.step_a} if unit == "steps" else {unit: self.x, "step_a": self.step_a,
                                                           "step_b": self.step_b}
        return d | {"a": self.a, "b": self.b, "abs_diff": abs(self.a - self.b)}


@dataclass
class DiffResult:
    unit: str
    x_max: int
    compared: int
    exhaustive: bool
    tolerance: Tolerance
    differing: int
    max_abs: Where
    max_rel: Where
    max_rel_value: float
    first_divergence: Where | None
    last_divergence: Where | None
    last_agreement: Where | None
    area_a: float
    area_b: float
    key_points: list[dict]
    notes: list[str]
    companions: list[dict] = field(default_factory=list)  # weight decay, momentum, LR groups (see _Companion)

    @property
    def equal(self) -> bool:
        return self.differing == 0 and all(c["equal"] for c in self.companions)

    @property
    def area_ratio(self) -> float | None:
        return self.area_a / self.area_b if self.area_b else None


def _arr(values):
    import numpy as np

    return np.asarray(values, dtype=float)


# ---- lining the two schedules up ------------------------------------------------------------


def _last_step(s: Schedule) -> int | None:
    from .batch import step_of_position
    from .keypoints import total_steps

    n = total_steps(s)
    if n is None and s.lr.end is not None:
        n = int(math.ceil(step_of_position(s.axis, s.lr.end)))
    return n


def _samples_of_steps(axis: Axis, steps):
    from .batch import samples_before
    from .ops import numpy_ops

    return samples_before(axis.batch, steps, numpy_ops())


def _steps_of_samples(axis: Axis, samples):
    """The last step whose samples-before is <= ``samples`` (the update that consumes that sample)."""
    import numpy as np

    from .batch import runs

    r = runs(axis.batch)
    before = np.asarray(r.samples_before, dtype=float)
    i = np.maximum(np.searchsorted(before, samples, side="right") - 1, 0)
    first = np.asarray(r.first_step, dtype=float)[i]
    size = np.asarray(r.size, dtype=float)[i]
    return first + np.floor((samples - before[i]) / size)


def _mapping(a: Schedule, b: Schedule) -> tuple[str, list[str]]:
    """Which axis to compare on, and why."""
    from .batch import runs

    ba, bb = a.axis.batch, b.axis.batch
    if ba is None or bb is None:
        if (ba is None) != (bb is None):
            which = "A" if ba is None else "B"
            return "steps", [f"{which} has no batch size, so the two are compared step by step"]
        return "steps", []
    same_samples = runs(ba) == runs(bb)
    sa, sb = a.axis.seq_len, b.axis.seq_len
    if same_samples and (sa == sb or sa is None or sb is None):
        return "steps", []
    if sa is not None and sb is not None:
        return "tokens", ["the batch sizes (or sequence lengths) differ, so the two are compared by tokens consumed"]
    if same_samples:
        return "steps", []
    return "samples", ["the batch sizes differ, so the two are compared by samples consumed"]


def align(a: Schedule, b: Schedule) -> Alignment:
    if (a.peak_lr is None) != (b.peak_lr is None):
        which = "A" if a.peak_lr is None else "B"
        raise LrplanError(f"{which} is a multiplier of the peak (no peak LR) while the other has absolute LRs",
                          hint="pass --lr PEAK so that both are absolute")
    n_a, n_b = _last_step(a), _last_step(b)
    if n_a is None and n_b is None:
        raise LrplanError("neither schedule says how long it runs", hint="pass --steps N")
    n_a = n_b if n_a is None else n_a
    n_b = n_a if n_b is None else n_b
    unit, notes = _mapping(a, b)
    if unit == "steps":
        ident = _arr  # x is the step itself
        return Alignment("steps", a, b, max(n_a, n_b), ident, ident, ident, ident, n_a, n_b, notes)
    per = (lambda ax: float(ax.seq_len)) if unit == "tokens" else (lambda ax: 1.0)

    def pos(ax):
        return lambda k: _samples_of_steps(ax, _arr(k)) * per(ax)

    def step(ax):
        return lambda x: _steps_of_samples(ax, _arr(x) / per(ax))

    x_max = int(max(pos(a.axis)([n_a])[0], pos(b.axis)([n_b])[0]))
    return Alignment(unit, a, b, x_max, step(a.axis), step(b.axis), pos(a.axis), pos(b.axis), n_a, n_b, notes)


# ---- comparing -------------------------------------------------------------------------------


def _chunks(al: Alignment):
    """(x, weight) arrays covering [0, x_max]: every point where either schedule can change."""
    import numpy as np

    if al.unit == "steps":
        n = al.x_max + 1
        if n <= EXHAUSTIVE_LIMIT:
            for lo in range(0, n, CHUNK):
                x = np.arange(lo, min(n, lo + CHUNK), dtype=float)
                yield x, np.ones_like(x)
            return
        yield _sampled(al)
        return
    if _token_points(al) > EXHAUSTIVE_LIMIT:
        yield _sampled(al)
        return
    # Every update of either run that starts within [0, x_max], also past a run's own end (its
    # 'continue' or 'periodic' tail can change at each of its steps).
    ka_all = np.arange(0, al.step_a(_arr([al.x_max]))[0] + 1, dtype=float)
    kb_all = np.arange(0, al.step_b(_arr([al.x_max]))[0] + 1, dtype=float)
    x = np.unique(np.concatenate([al.pos_a(ka_all), al.pos_b(kb_all)]))
    x = x[x <= al.x_max]
    w = np.diff(np.r_[x, al.x_max + 1.0])
    for lo in range(0, x.size, CHUNK):
        yield x[lo : lo + CHUNK], w[lo : lo + CHUNK]


def _token_points(al: Alignment) -> int:
    x = _arr([al.x_max])
    return int(al.step_a(x)[0] + al.step_b(x)[0]) + 2


def _sampled(al: Alignment):
    import numpy as np

    grid = np.floor(np.linspace(0.0, float(al.x_max), SAMPLED_POINTS))
    extra = al.keep() + [float(v) for v in _key_xs(al)]
    x = np.unique(np.concatenate([grid, np.asarray(extra, dtype=float)]))
    return x, np.diff(np.r_[x, al.x_max + 1.0])  # each point stands for the stretch up to the next


def _key_xs(al: Alignment) -> list[float]:
    from .keypoints import key_steps

    out = []
    for s, pos in ((al.a, al.pos_a), (al.b, al.pos_b)):
        ks = [k for k, _ in key_steps(s)]
        out += [float(v) for v in pos(_arr(ks))]
    return [v for v in out if 0 <= v <= al.x_max]


class _Tracker:
    """Running aggregates over chunks (first/last/largest), so memory stays one chunk."""

    def __init__(self, al: Alignment, tol: Tolerance) -> None:
        self.al, self.tol = al, tol
        self.compared = self.differing = 0
        self.max_abs = self.max_rel = None  # (value, Where)
        self.first_div = self.last_div = self.last_agree = None
        self.area_a = self.area_b = 0.0
        # Off-by-one detector (steps axis): does every differing step of one equal the other's step before?
        self.lags = {"B": al.unit == "steps", "A": al.unit == "steps"}

    def where(self, x, a, b, i) -> Where:
        xi = float(x[i])
        return Where(xi, int(self.al.step_a(_arr([xi]))[0]), int(self.al.step_b(_arr([xi]))[0]),
                     float(a[i]), float(b[i]))

    def add(self, x, w) -> None:
        import numpy as np

        a, b = self.al.lr_a(x), self.al.lr_b(x)
        d = np.abs(a - b)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(d, scale, out=np.zeros_like(d), where=scale > 0)
        agree = close(a, b, self.tol)
        self.compared += x.size
        self.differing += int(x.size - np.count_nonzero(agree))
        i = int(np.argmax(d))
        if self.max_abs is None or d[i] > self.max_abs[0]:
            self.max_abs = (float(d[i]), self.where(x, a, b, i))
        j = int(np.argmax(rel))
        if self.max_rel is None or rel[j] > self.max_rel[0]:
            self.max_rel = (float(rel[j]), self.where(x, a, b, j))
        far = np.flatnonzero(~agree)
        if far.size:
            if self.first_div is None:
                self.first_div = self.where(x, a, b, int(far[0]))
            self.last_div = self.where(x, a, b, int(far[-1]))
        near = np.flatnonzero(agree)
        if near.size:
            self.last_agree = self.where(x, a, b, int(near[-1]))
        self.area_a += float(np.dot(a, w))
        self.area_b += float(np.dot(b, w))
        if far.size and any(self.lags.values()):
            self._check_lag(x[far], a[far], b[far])

    def _check_lag(self, x, a, b) -> None:
        import numpy as np

        prev = np.maximum(x - 1, 0)
        for tag, mine, other in (("B", b, self.al.lr_a), ("A", a, self.al.lr_b)):
            if self.lags[tag]:
                before = other(prev)
                ok = (x > 0) & close(mine, before, self.tol)
                self.lags[tag] = bool(ok.all())


COMPANION_NAMES = {"weight_decay": "weight decay", "momentum": "momentum"}


def _companion_names(s: Schedule) -> list[str]:
    return ([n for n in COMPANION_NAMES if getattr(s, n) is not None] + [g for g, _ in s.groups])


class _Companion:
    """One companion curve (weight decay, momentum, an LR group) of both schedules, compared at the same
    points as the LR with the same tolerance; one present on one side only is a difference by itself."""

    def __init__(self, al: Alignment, name: str, tol: Tolerance) -> None:
        self.al, self.name, self.tol = al, name, tol
        self.in_a = name in _companion_names(al.a)
        self.in_b = name in _companion_names(al.b)
        self.differing = 0
        self.first: dict | None = None
        self.max_abs: tuple[float, dict] | None = None

    def add(self, x) -> None:
        import numpy as np

        from .evaluate import companion_values

        if not (self.in_a and self.in_b):
            return
        ka, kb = self.al.step_a(x), self.al.step_b(x)
        a, b = companion_values(self.al.a, self.name, ka), companion_values(self.al.b, self.name, kb)
        agree = close(a, b, self.tol)
        far = np.flatnonzero(~agree)
        self.differing += int(far.size)
        if far.size and self.first is None:
            i = int(far[0])
            self.first = {"step": int(ka[i]), "a": float(a[i]), "b": float(b[i])}
        d = np.abs(a - b)
        i = int(np.argmax(d)) if d.size else 0
        if d.size and (self.max_abs is None or d[i] > self.max_abs[0]):
            self.max_abs = (float(d[i]), {"step": int(ka[i]), "a": float(a[i]), "b": float(b[i])})

    def result(self) -> dict:
        label = COMPANION_NAMES.get(self.name, f"LR group {self.name}")
        if not (self.in_a and self.in_b):
            side = "A" if self.in_a else "B"
            return {"name": self.name, "label": label, "equal": False, "only_in": side, "differing": None}
        return {"name": self.name, "label": label, "equal": self.differing == 0, "only_in": None,
                "differing": self.differing, "first_divergence": self.first,
                "max_abs_diff": None if self.max_abs is None else self.max_abs[1] | {"value": self.max_abs[0]}}


def compare(a: Schedule, b: Schedule, tol: Tolerance = Tolerance()) -> tuple[Alignment, DiffResult]:
    al = align(a, b)
    tr = _Tracker(al, tol)
    names = list(dict.fromkeys(_companion_names(a) + _companion_names(b)))
    companions = [_Companion(al, n, tol) for n in names]
    for x, w in _chunks(al):
        tr.add(x, w)
        for c in companions:
            c.add(x)
    if al.unit == "steps":
        exhaustive = tr.compared == al.x_max + 1
    else:
        exhaustive = _token_points(al) <= EXHAUSTIVE_LIMIT
    notes = list(al.notes)
    for tag, other in (("B", "A"), ("A", "B")):
        if tr.differing and tr.lags[tag]:
            notes.append(f"{tag} lags {other} by one step: at every step where they differ, {tag} uses the LR "
                         f"{other} uses one step earlier (an off-by-one in step counting)")
    if not exhaustive:
        notes.append(f"the run has more than {EXHAUSTIVE_LIMIT:,} points: compared {tr.compared:,} of them "
                     "(an even grid plus every phase boundary and key point of both); the area ratio is "
                     "estimated from that grid")
    return al, DiffResult(al.unit, al.x_max, tr.compared, exhaustive, tol, tr.differing, tr.max_abs[1],
                          tr.max_rel[1], tr.max_rel[0], tr.first_div, tr.last_div, tr.last_agree, tr.area_a,
                          tr.area_b, key_point_rows(al), notes, [c.result() for c in companions])


def key_point_rows(al: Alignment) -> list[dict]:
    """Both schedules side by side at the key points of either (lrplan.keypoints.key_steps)."""
    from .keypoints import key_steps

    notes: dict[float, list[str]] = {}
    for tag, s, pos in (("A", al.a, al.pos_a), ("B", al.b, al.pos_b)):
        rows = key_steps(s)
        xs = pos(_arr([k for k, _ in rows])) if rows else []
        for (k, note), x in zip(rows, xs):
            if 0 <= x <= al.x_max:
                notes.setdefault(float(x), []).append(f"{tag}: {note}")
    xs = _arr(sorted(notes))
    va, vb = al.lr_a(xs), al.lr_b(xs)
    ka, kb = al.step_a(xs), al.step_b(xs)
    out = []
    for i, x in enumerate(xs):
        row = {"step": int(ka[i])} if al.unit == "steps" else {al.unit: float(x), "step_a": int(ka[i]),
                                                             "step_b": int(kb[i])}
        row |= {"a": float(va[i]), "b": float(vb[i]), "abs_diff": abs(float(va[i]) - float(vb[i])),
                "note": "; ".join(notes[float(x)])}
        out.append(row)
    return out


# ---- reporting -------------------------------------------------------------------------------


def to_json(r: DiffResult, label_a: str, label_b: str) -> dict:
    def w(v):
        return None if v is None else v.as_dict(r.unit)

    return {
        "equal": r.equal, "a": label_a, "b": label_b, "axis": r.unit, "last": r.x_max,
        "compared": r.compared, "exhaustive": r.exhaustive, "differing": r.differing,
        "tolerance": {"rel": r.tolerance.rel, "abs": r.tolerance.abs},
        "max_abs_diff": w(r.max_abs) | {"value": abs(r.max_abs.a - r.max_abs.b)},
        "max_rel_diff": w(r.max_rel) | {"value": r.max_rel_value},
        "first_divergence": w(r.first_divergence), "last_divergence": w(r.last_divergence),
        "last_agreement": w(r.last_agreement),
        "area_a": r.area_a, "area_b": r.area_b, "area_ratio": r.area_ratio,
        "key_points": r.key_points, "notes": r.notes, "companions": r.companions,
        "lr_equal": r.differing == 0,
    }


def _at(r: DiffResult, wh: Where | None) -> str:
    if wh is None:
        return "none"
    if r.unit == "steps":
        return f"step {wh.step_a} (A {wh.a:.6g}, B {wh.b:.6g})"
    return f"{r.unit} {wh.x:.0f} = step {wh.step_a} of A ({wh.a:.6g}), step {wh.step_b} of B ({wh.b:.6g})"


def summary_lines(r: DiffResult, label_a: str, label_b: str) -> list[str]:
    unit = {"steps": "step", "samples": "sample position", "tokens": "token position"}[r.unit]
    verdict = ("EQUAL within tolerance" if r.differing == 0 else
               f"DIFFERENT at {r.differing:,} of {r.compared:,} {unit}s")
    ratio = "n/a (B is all zero)" if r.area_ratio is None else f"{r.area_ratio:.6g}"
    lines = [f"A: {label_a}", f"B: {label_b}",
             f"{verdict} (compared {'every ' + unit if r.exhaustive else 'a sample of the ' + unit + 's'} "
             f"0–{r.x_max:,}; tolerance rel {r.tolerance.rel:g}, "
             f"abs {r.tolerance.abs:g})",
             f"largest absolute difference: {abs(r.max_abs.a - r.max_abs.b):.6g} at {_at(r, r.max_abs)}",
             f"largest relative difference: {r.max_rel_value:.6g} at {_at(r, r.max_rel)}",
             f"first divergence: {_at(r, r.first_divergence)}",
             f"last divergence: {_at(r, r.last_divergence)}",
             f"last agreement: {_at(r, r.last_agreement)}",
             f"area under A / area under B: {ratio}"]
    if r.companions and r.differing == 0 and not r.equal:
        which = ", ".join(c["label"] for c in r.companions if not c["equal"])
        lines[2] = lines[2].replace("EQUAL within tolerance", f"LR EQUAL within tolerance but {which} DIFFERENT", 1)
    for c in r.companions:
        lines.append(companion_line(c))
    return lines


def companion_line(c: dict) -> str:
    if c["only_in"]:
        return f"{c['label']}: only {c['only_in']} has a {c['label']} schedule (DIFFERENT)"
    if c["equal"]:
        return f"{c['label']}: EQUAL within tolerance"
    f, m = c["first_divergence"], c["max_abs_diff"]
    return (f"{c['label']}: DIFFERENT at {c['differing']:,} points; first at step {f['step']} "
            f"(A {f['a']:.6g}, B {f['b']:.6g}); largest absolute difference {m['value']:.6g} at step {m['step']}")


def key_point_table(r: DiffResult) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the side-by-side key points, as text."""
    lead = ["step"] if r.unit == "steps" else [r.unit, "step A", "step B"]
    header = lead + ["A", "B", "A − B", "note"]
    rows = []
    for p in r.key_points:
        first = [str(p["step"])] if r.unit == "steps" else [f"{p[r.unit]:.0f}", str(p["step_a"]), str(p["step_b"])]
        rows.append(first + [f"{p['a']:.6g}", f"{p['b']:.6g}", f"{p['a'] - p['b']:.3g}", p["note"]])
    return header, rows
