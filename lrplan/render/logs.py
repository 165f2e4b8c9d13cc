"""Logs in front of people: the ``check`` and ``fit`` reports as text, logged points on charts and pages.

The data is lrplan.runcheck.CheckResult and lrplan.fit.FitResult; this module only words and draws it. Logged
points are drawn as points, never joined into a line (a log every 100 steps is not a curve between them),
and a long log is thinned per pixel column to its extremes, so a 1M-point log draws as fast as a short one.
"""

from __future__ import annotations

from .page import Line, Page, Panel, Table
from .terminal import fmt_step

POINT_BUCKETS = 2000


def _lr(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.7g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.6e}"


def _rel(v: float) -> str:
    return f"{100 * v:.3g}%" if v >= 1e-4 else f"{v:.2e}"


def log_summary(s) -> list[str]:
    own = "" if s.step_field == "step" and s.offset == 0 else \
        f" ({s.step_field} {s.logged_step(s.first):,}–{s.logged_step(s.last):,})"
    return [f"log: {s.source} [{s.tag}], {s.kind}, {len(s):,} points, updates {s.first:,}–{s.last:,}{own}",
            f"  step rule: {s.rule}",
            f"  precision: {s.precision.describe()}"]


def check_lines(r) -> list[str]:
    s = r.series
    total = f", {r.plan_total:,} steps" if r.plan_total else ""
    peak = f"peak {_lr(r.schedule.peak_lr)}" if r.schedule.peak_lr is not None else "multipliers"
    lines = [f"check: {s.label} against {r.plan_label} ({peak}{total})"] + log_summary(s)
    if r.on_plan:
        lines.append(f"on plan: all {r.n:,} logged LRs agree with the plan (within {r.tolerance})")
        lines.append(f"  largest difference {r.worst.error:.3g} (rel {_rel(r.worst_rel.rel)}) at {s.where(r.worst.k)}")
        return lines
    lines.append(f"NOT on plan: {r.agree:,} of {r.n:,} logged LRs agree (within {r.tolerance})")
    lines.append("  where: " + _runs_text(r.runs))
    f = r.first
    lines.append(f"  first divergence: {s.where(f.k)}: logged {_lr(f.logged)}, planned {_lr(f.planned)} "
                 f"(rel {_rel(f.rel)})")
    w = r.worst
    lines.append(f"  largest error: {w.error:.3g} at {s.where(w.k)}: logged {_lr(w.logged)}, planned {_lr(w.planned)}")
    if r.worst_rel.k != w.k:
        v = r.worst_rel
        lines.append(f"  largest relative error: {_rel(v.rel)} at {s.where(v.k)}: logged {_lr(v.logged)}, planned "
                     f"{_lr(v.planned)}")
    if not r.diagnoses:
        lines.append("  diagnosis: no known signature (constant LR, one-step shift, LR-0 start, warmup restart, "
                     "GA× compression, horizon, peak) explains the difference")
    for d in r.diagnoses:
        lines.append(f"  diagnosis: {d.name} — {d.evidence}")
        lines.append(f"    likely cause: {d.cause}")
        lines.append(f"    fix: {d.fix}")
    return lines


def _runs_text(runs) -> str:
    from ..runcheck import MAX_RUNS_SHOWN

    parts = []
    for a, b, n, ok in runs[:MAX_RUNS_SHOWN]:
        span = f"update {a:,}" if a == b else f"updates {a:,}–{b:,}"
        parts.append(f"{span} {'agree' if ok else 'differ'} ({n:,} point{'' if n == 1 else 's'})")
    more = f"; ... {len(runs) - MAX_RUNS_SHOWN} more runs" if len(runs) > MAX_RUNS_SHOWN else ""
    return "; ".join(parts) + more


def fit_lines(r) -> list[str]:
    s, b = r.series, r.best
    lines = log_summary(s)
    verdict = "fits" if b.fits else "does NOT fit"
    lines.append(f"fit: {b.shape} {verdict} the log: largest residual {b.worst_abs:.3g} at {s.where(b.worst_step)} "
                 f"({b.norm:.3g}× the log's precision)")
    if r.implied_total is not None:
        lines.append(f"  implied total: {r.implied_total:,} updates (the log ends at update {s.last:,})")
    for a in r.alternatives:
        lines.append(f"  also fits as well ({a.norm:.3g}× the precision): {a.spec}")
    if r.alternatives:
        lines.append("  (the log cannot tell these apart; a longer or denser log may)")
    return lines


# ---- points on charts -------------------------------------------------------------------------------------

def thin_points(k, v, x_max: float, buckets: int = POINT_BUCKETS):
    """At most ~4 points per bucket of [0, x_max]: each bucket's first, last, lowest and highest."""
    import numpy as np

    if k.size <= 4 * buckets:
        return k.astype(float), v
    b = np.minimum((k / (x_max + 1) * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    ends = np.r_[starts[1:] - 1, k.size - 1]
    order = np.lexsort((v, b))
    pick = np.zeros(k.size, dtype=bool)
    pick[starts] = pick[ends] = True
    pick[order[starts]] = pick[order[ends]] = True
    return k[pick].astype(float), v[pick]


def points_envelope(k, v, x_max: float, columns: int):
    """(lo, hi) per pixel column of the logged points (NaN where a column has none)."""
    import numpy as np

    edges = np.linspace(0.0, float(x_max) + 1.0, columns + 1)
    col = np.clip(np.searchsorted(edges, k, side="right") - 1, 0, columns - 1)
    lo = np.full(columns, np.nan)
    hi = np.full(columns, np.nan)
    inside = k <= x_max
    np.fmin.at(lo, col[inside], v[inside])
    np.fmax.at(hi, col[inside], v[inside])
    return lo, hi


def chart(schedules, logs, k_max: int, *, width: int, height: int, log_y: bool = False, marks=()):
    """Terminal chart of planned curves (lines) and logged series (points), as (text, style) runs."""
    from .sample import envelope
    from .terminal import _columns, render_envelopes

    cols = _columns(width) * 2
    envs = [envelope(s.schedule, k_max, cols) for s in schedules]
    envs += [points_envelope(s.steps, s.lr, k_max, cols) for s in logs]
    labels = [s.label for s in schedules] + [f"{s.label} (logged)" for s in logs]
    return render_envelopes(envs, labels, k_max, width=width, height=height, log_y=log_y, marks=marks)


def log_line(s, x_max: float, buckets: int, color: int) -> Line:
    x, y = thin_points(s.steps, s.lr, x_max, buckets)
    return Line(f"{s.label} (logged)", x, y, [("logged", 0, max(len(x) - 1, 0))], color, points=True)


def check_page(r, *, html: bool = False) -> Page:
    """``check -o report.html``: the plan and the logged points, the error at each logged point, the summary."""
    import numpy as np

    from .files import buckets_for, lr_axis_label, phase_vlines, schedule_line

    s = r.series
    k_max = max(s.last, r.plan_total or 0)
    buckets = buckets_for(3, html)
    plan = schedule_line(r.schedule, f"plan: {r.plan_label}", k_max, buckets, 0)
    logged = log_line(s, k_max, buckets, 1)
    vlines = phase_vlines(r.schedule, k_max, 0)
    if r.first is not None:
        vlines.append((r.first.k, "first divergence", "mark", None))
    ex, ey = thin_points(s.steps, s.lr - r.planned, k_max, buckets)
    err = Line("logged − planned", ex, ey, [("error", 0, max(len(ex) - 1, 0))], 2, points=True)
    bad = ~r.ok
    panels = [Panel(lr_axis_label([r.schedule]), [plan, logged], vlines=vlines),
              Panel("logged − planned", [err], vlines=vlines, zero_line=True, value_name="error")]
    rows = [[d.name, d.evidence, d.cause, d.fix] for d in r.diagnoses]
    tables = [Table("Diagnosis", ["signature", "evidence", "likely cause", "fix"], rows)] if rows else []
    worst = np.argsort(-np.abs(s.lr - r.planned))[:20]
    tables.append(Table("Largest differences", ["update", s.step_field, "logged", "planned", "agrees"],
                        [[f"{int(s.steps[i]):,}", f"{s.logged_step(int(s.steps[i])):,}", _lr(float(s.lr[i])),
                          _lr(float(r.planned[i])), "no" if bad[i] else "yes"] for i in worst]))
    title = "the run is on plan" if r.on_plan else "the run is NOT on plan"
    return Page(title, panels, subtitle=check_lines(r)[1:], tables=tables)


def overlay_page(series_list, logs, k_max: int, *, log_y: bool = False, marks=(), html: bool = False) -> Page:
    """``plot`` with logs among its SOURCEs: planned curves as lines, logs as points."""
    from .files import buckets_for, lr_axis_label, merge_vlines, plot_page

    page = plot_page(series_list, k_max, log_y=log_y, marks=marks, html=html) if series_list else None
    buckets = buckets_for(len(series_list) + len(logs), html)
    lines = [log_line(s, k_max, buckets, len(series_list) + i) for i, s in enumerate(logs)]
    if page is None:
        panel = Panel("learning rate", lines, log_y=log_y,
                      vlines=merge_vlines([(k, f"step {fmt_step(k)}", "mark", None) for k in marks]))
        title = logs[0].label if len(logs) == 1 else f"{len(logs)} logs"
        return Page(title, [panel], subtitle=[f"steps 0–{fmt_step(k_max)}"])
    page.panels[0].lines += lines
    page.panels[0].ylabel = lr_axis_label([se.schedule for se in series_list])
    page.title = f"{len(series_list) + len(logs)} sources" if len(series_list) + len(logs) > 1 else page.title
    return page
