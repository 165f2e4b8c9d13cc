"""``lrplan check LOG PLAN``: is a run on plan? The logged LR at every logged step against the plan.

A logged point agrees with the plan when ``|logged - planned| <= precision + max(1e-12 * max(|a|, |b|), 1e-18)``:
the exactness contract (lrplan.exact) widened by half a unit in the last place the log kept (float32 for
TensorBoard, the digits Megatron prints, nothing for exact logs; lrplan.logs.series.Precision). The result
says where the two agree (runs of logged steps), the first divergence, the largest error, and — when the
difference has a known signature — the likely cause and its fix (:mod:`.signatures`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import LrplanError
from ..exact import ABS, REL

MAX_RUNS_SHOWN = 8


@dataclass
class Point:
    k: int
    logged: float
    planned: float

    @property
    def error(self) -> float:
        return abs(self.logged - self.planned)

    @property
    def rel(self) -> float:
        scale = max(abs(self.logged), abs(self.planned))
        return self.error / scale if scale else 0.0


@dataclass
class Diagnosis:
    name: str  # "one-step shift", "GA× time compression", ...
    evidence: str  # what in the data shows it
    cause: str
    fix: str
    params: dict = field(default_factory=dict)
    explains: int = 0  # logged points it accounts for

    def as_dict(self) -> dict:
        return {"name": self.name, "evidence": self.evidence, "cause": self.cause, "fix": self.fix,
                "params": self.params, "explains": self.explains}


@dataclass
class CheckResult:
    series: object  # lrplan.logs.LogSeries
    schedule: object  # the plan's Schedule (peak filled in when the plan had none)
    plan_label: str
    ok: object  # numpy bool per logged point
    planned: object  # numpy float per logged point
    tolerance: str
    first: Point | None
    worst: Point
    worst_rel: Point
    runs: list[tuple[int, int, int, bool]]  # (first k, last k, points, agree)
    notes: list[str] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    plan_total: int | None = None

    @property
    def on_plan(self) -> bool:
        return bool(self.ok.all())

    @property
    def agree(self) -> int:
        return int(self.ok.sum())

    @property
    def n(self) -> int:
        return int(self.ok.size)

    def as_dict(self) -> dict:
        s = self.series

        def pt(p: Point | None):
            if p is None:
                return None
            return {"step": p.k, s.step_field: s.logged_step(p.k), "logged": p.logged, "planned": p.planned,
                    "abs_error": p.error, "rel_error": p.rel}

        return {
            "on_plan": self.on_plan,
            "log": {"path": s.source, "kind": s.kind, "tag": s.tag, "framework": s.framework or None,
                    "points": self.n, "first_step": s.first, "last_step": s.last, "step_field": s.step_field,
                    "step_rule": s.rule, "precision": s.precision.describe()},
            "plan": {"label": self.plan_label, "total_steps": self.plan_total, "peak_lr": self.schedule.peak_lr},
            "agree": self.agree, "compared": self.n, "tolerance": self.tolerance,
            "first_divergence": pt(self.first), "largest_error": pt(self.worst),
            "largest_relative_error": pt(self.worst_rel),
            "runs": [{"first_step": a, "last_step": b, "points": n, "agree": ok} for a, b, n, ok in self.runs],
            "diagnoses": [d.as_dict() for d in self.diagnoses],
            "notes": list(s.notes) + self.notes,
        }


def tolerance_of(series, planned, extra_rel: float | None = None):
    """Absolute tolerance per point: the log's precision plus the contract (or ``--tolerance``)."""
    import numpy as np

    logged = series.lr
    rel = REL if extra_rel is None else max(REL, extra_rel)
    scale = np.maximum(np.abs(logged), np.abs(planned))
    return series.precision.tolerance(logged) + np.maximum(rel * scale, ABS)


def matches(series, predicted, extra_rel: float | None = None):
    import numpy as np

    with np.errstate(invalid="ignore"):
        return np.abs(series.lr - predicted) <= tolerance_of(series, predicted, extra_rel)


def runs_of(k, ok) -> list[tuple[int, int, int, bool]]:
    import numpy as np

    if ok.size == 0:
        return []
    cut = np.flatnonzero(ok[1:] != ok[:-1]) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut - 1, ok.size - 1]
    return [(int(k[a]), int(k[b]), int(b - a + 1), bool(ok[a])) for a, b in zip(starts, ends)]


def _with_peak(schedule, series, notes: list[str]):
    """A plan without a peak LR (multipliers) gets the peak that makes its highest point meet the log's."""
    import numpy as np

    from ..evaluate import lr

    if schedule.peak_lr is not None:
        return schedule
    planned = lr(schedule, series.steps.astype(float))
    i = int(np.argmax(planned))
    if planned[i] <= 0 or series.lr[i] <= 0:
        raise LrplanError("the plan has no peak LR and the log gives no point to scale it by",
                          hint="pass --lr PEAK")
    peak = float(series.lr[i] / planned[i])
    notes.append(f"the plan has no peak LR: its multipliers are scaled by {peak:.6g} (the log's LR at update "
                 f"{int(series.steps[i]):,}); pass --lr to check the peak too")
    return schedule.with_(peak_lr=peak)


def check(series, schedule, plan_label: str, *, extra_rel: float | None = None, diagnose: bool = True) -> CheckResult:
    """Compare the logged series with the plan at every logged step."""
    import numpy as np

    from ..evaluate import lr
    from ..keypoints import total_steps

    notes: list[str] = []
    schedule = _with_peak(schedule, series, notes)
    k = series.steps
    planned = lr(schedule, k.astype(float))
    ok = matches(series, planned, extra_rel)
    err = np.abs(series.lr - planned)
    i = int(np.argmax(err))
    scale = np.maximum(np.abs(series.lr), np.abs(planned))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, err / np.where(scale > 0, scale, 1.0), 0.0)
    j = int(np.argmax(rel))
    bad = np.flatnonzero(~ok)
    first = None if not bad.size else Point(int(k[bad[0]]), float(series.lr[bad[0]]), float(planned[bad[0]]))
    n = total_steps(schedule)
    if n is not None and series.last >= n:
        past = int((k >= n).sum())
        notes.append(f"{past:,} logged steps are at or past the plan's end (update {n:,}): compared with the LR the "
                     "plan holds there")
    tol = series.precision.describe()
    tol = (f"{tol} precision + rel 1e-12" if extra_rel is None else f"{tol} precision + rel {extra_rel:g}")
    result = CheckResult(series, schedule, plan_label, ok, planned, tol, first,
                         Point(int(k[i]), float(series.lr[i]), float(planned[i])),
                         Point(int(k[j]), float(series.lr[j]), float(planned[j])), runs_of(k, ok), notes,
                         plan_total=n)
    if diagnose and not result.on_plan:
        from .signatures import diagnose as find

        result.diagnoses = find(result, extra_rel)
    return result


def fmt_lr(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.7g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.6e}"


def fmt_rel(v: float) -> str:
    return f"{100 * v:.3g}%" if v >= 1e-4 else f"{v:.2e}"


def finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
