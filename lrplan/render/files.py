"""Plots written to files: PNG/SVG/PDF through matplotlib, one offline HTML page through plotly.

``plot`` and ``diff`` describe what to draw as a :class:`Page` (panels of decimated lines with their
phases, vertical markers, tables); :mod:`.mpl` and :mod:`.html` draw a page. Both libraries are
imported only here, inside the functions that need them, so the other commands never pay for them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LrplanError
from .page import PALETTE, Line, Page, Panel, Table  # noqa: F401  (what files draws)

# suffix -> renderer; the error message lists these.
SUFFIXES = {".png": "image", ".svg": "image", ".pdf": "image", ".html": "html", ".htm": "html"}
IMAGE_BUCKETS = 2000  # per line: at most ~4 points per bucket, far more than a figure's pixel columns
# plotly.js alone is ~4.8 MB; with float64 arrays stored as base64 (~21 bytes per point for x and y),
# 6000 points in all keep every page well under the 5 MB target, whatever the number of steps.
HTML_POINTS = 6000
def kind_of(path: Path) -> str:
    """'image' or 'html' for an output path; a clear error for anything else."""
    kind = SUFFIXES.get(Path(path).suffix.lower())
    if Path(path).is_dir():
        from ..fileio import OutputError

        raise OutputError(f"cannot write {path}: it is a directory", hint="give a file name, e.g. -o out.png")
    if kind is None:
        raise LrplanError(f"cannot write {Path(path).name}: unknown output suffix {Path(path).suffix or '(none)'!r}",
                          hint="use one of " + ", ".join(SUFFIXES))
    return kind


def save_page(page: Page, path: Path, *, inputs=()) -> None:
    from ..fileio import write_atomic

    kind = kind_of(path)
    if kind == "html":
        from .html import page_html

        data: str | bytes = page_html(page)
    else:
        from .mpl import page_image

        data = page_image(page, Path(path).suffix.lower().lstrip("."))
    write_atomic(Path(path), data, inputs=list(inputs))


def save_plot(series, path: Path, *, k_max: int, log_y: bool = False, marks=(), inputs=()) -> None:
    """``lrplan plot -o FILE``: overlay ``series`` (terminal.Series) over steps [0, k_max]."""
    kind = kind_of(path)  # fail before any work on a bad suffix
    page = plot_page(series, k_max, log_y=log_y, marks=marks, html=kind == "html")
    save_page(page, path, inputs=inputs)


def buckets_for(n_lines: int, html: bool) -> int:
    if not html:
        return IMAGE_BUCKETS
    return max(50, HTML_POINTS // (4 * max(1, n_lines)))


def schedule_line(s, label: str, k_max: int, buckets: int, color: int) -> Line:
    from .sample import decimate, phase_ids, phase_names, runs_of

    x, y = decimate(s, k_max, buckets)
    names = phase_names(s)
    phases = [(names[i], a, b) for i, a, b in runs_of(phase_ids(s, x))]
    return Line(label, x, y, phases, color)


def phase_vlines(s, k_max: int, color: int = 0) -> list:
    """One marker at the first step of every phase after the first, named after it."""
    import math

    from ..batch import step_of_position
    from ..ir import phase_label

    out = []
    for seg in s.lr.segments[1:]:
        k = int(math.ceil(step_of_position(s.axis, seg.start)))
        if 0 < k <= k_max:  # an SWA phase is also where weight averaging starts (lrplan/frameworks/torch/swa.py)
            out.append((k, phase_label(seg) + (": averaging from here" if seg.kind == "swa" else ""), "phase", color))
    end = s.lr.end
    if end is not None:
        k = int(math.ceil(step_of_position(s.axis, end)))
        if 0 < k <= k_max:
            out.append((k, "end", "phase", color))
    return out


def merge_vlines(vlines: list) -> list:
    """One marker per (x, kind): texts joined, coloured only when a single line owns it."""
    merged: dict = {}
    for x, text, kind, color in vlines:
        if (x, kind) in merged:
            old_text, old_color = merged[(x, kind)]
            texts = old_text.split(" / ")
            merged[(x, kind)] = (old_text if text in texts else f"{old_text} / {text}",
                                 old_color if old_color == color else None)
        else:
            merged[(x, kind)] = (text, color)
    return [(x, text, kind, color) for (x, kind), (text, color) in merged.items()]


def lr_axis_label(schedules) -> str:
    return "learning rate" if all(s.peak_lr is not None for s in schedules) else "LR (multiplier of the peak)"


def plot_page(series, k_max: int, *, log_y: bool = False, marks=(), html: bool = False) -> Page:
    from .terminal import fmt_step

    buckets = buckets_for(len(series), html)
    lines = [schedule_line(se.schedule, se.label, k_max, buckets, i) for i, se in enumerate(series)]
    vlines = [v for i, se in enumerate(series) for v in phase_vlines(se.schedule, k_max, i)]
    vlines += [(k, f"step {fmt_step(k)}", "mark", None) for k in marks]
    vlines = merge_vlines(vlines)
    panel = Panel(lr_axis_label([se.schedule for se in series]), lines, log_y=log_y, vlines=vlines)
    title = series[0].label if len(series) == 1 else f"{len(series)} schedules"
    tables = []
    for se in series:
        tables += [keypoint_table(se.schedule, se.label), phase_table(se.schedule, se.label, k_max)]
    panels = [panel] + companion_panels(series, k_max) + averaging_panel(series, k_max)
    return Page(title, panels, subtitle=[f"steps 0–{fmt_step(k_max)}"], tables=tables)


COMPANION_POINTS = 2000  # per line: weight decay and momentum are smooth, a few pieces per phase


def companion_panels(series, k_max: int) -> list:
    """One panel per companion curve (weight decay, momentum, an LR group) any of the schedules has."""
    import numpy as np

    from ..evaluate import companion_values

    def has(s, name):
        return getattr(s, name) is not None if name in ("weight_decay", "momentum") else name in dict(s.groups)

    names = []
    for se in series:
        s = se.schedule
        names += [n for n in ("weight_decay", "momentum") if getattr(s, n) is not None] + [g for g, _ in s.groups]
    xs = np.unique(np.linspace(0, k_max, COMPANION_POINTS).round()).astype(float)
    panels = []
    for name in dict.fromkeys(names):
        lines = [Line(se.label, xs, companion_values(se.schedule, name, xs), color=i)
                 for i, se in enumerate(series) if has(se.schedule, name)]
        title = name.replace("_", " ") if name in ("weight_decay", "momentum") else f"LR of group {name}"
        panels.append(Panel(title, lines, value_name=title))
    return panels


AVERAGING_POINTS = 1000  # log-spaced; keeps the HTML page within its size budget (html.SIZE_LIMIT)


def averaging_panel(series, k_max: int) -> list:
    """For a Schedule-Free schedule: a second panel with its averaging weight c_(k+1) per update
    (lrplan/frameworks/schedulefree.py), on log-spaced steps (c falls like 1/k)."""
    if not any(seg.kind == "schedulefree" for se in series for seg in se.schedule.lr.segments):
        return []
    import numpy as np

    from ..frameworks.schedulefree import averaging_weights

    n = k_max + 1
    idx = np.unique(np.geomspace(1, n, AVERAGING_POINTS).astype(np.int64) - 1)
    lines = []
    for i, se in enumerate(series):
        if any(seg.kind == "schedulefree" for seg in se.schedule.lr.segments):
            c, _, _ = averaging_weights(se.schedule, n)
            lines.append(Line(se.label + " c_(k+1)", idx.astype(float), c[idx], color=i))
    return [Panel("averaging weight c_(k+1)", lines, log_y=True, value_name="c")]


def fmt_value(v: float) -> str:
    return f"{v:.6g}"


def keypoint_table(s, label: str) -> Table:
    from ..keypoints import key_steps, points

    rows = key_steps(s)
    pts = points(s, [k for k, _ in rows], dict(rows))
    body = [[str(p.step), fmt_value(p.lr), p.phase, p.note] for p in pts]
    return Table(f"Key points: {label}", ["step", "lr", "phase", "note"], body)


def phase_table(s, label: str, k_max: int) -> Table:
    import math

    from ..batch import step_of_position
    from ..evaluate import lr_at
    from ..ir import phase_label

    body = []
    for seg in s.lr.segments:
        a = int(math.ceil(step_of_position(s.axis, seg.start)))
        b = None if seg.end is None else int(math.ceil(step_of_position(s.axis, seg.end)))
        length = "open" if b is None else str(b - a)
        share = "" if b is None or not k_max else f"{100 * (b - a) / k_max:.1f}%"
        last = fmt_value(lr_at(s, b - 1)) if b is not None and b > a else ""
        body.append([phase_label(seg), seg.kind, str(a), "…" if b is None else str(b - 1), length, share,
                     fmt_value(lr_at(s, a)), last])
    head = ["phase", "shape", "first step", "last step", "steps", "share", "lr at first", "lr at last"]
    return Table(f"Phases: {label}", head, body)


def save_diff(al, result, labels: tuple[str, str], path: Path, *, inputs=()) -> None:
    """``lrplan diff -o FILE``: overlay and difference panels, summary, side-by-side key points."""
    kind = kind_of(path)
    save_page(diff_page(al, result, labels, html=kind == "html"), path, inputs=inputs)


def _aligned_line(al, which: str, label: str, buckets: int, color: int) -> Line:
    from .sample import decimate_fn, phase_ids, phase_names, runs_of

    s, f, step = (al.a, al.lr_a, al.step_a) if which == "A" else (al.b, al.lr_b, al.step_b)
    x, y = decimate_fn(f, al.x_max, buckets, keep=al.keep())
    names = phase_names(s)
    phases = [(f"{names[i]} ({which})", a, b) for i, a, b in runs_of(phase_ids(s, step(x)))]
    return Line(f"{which}: {label}", x, y, phases, color)


def diff_page(al, result, labels: tuple[str, str], *, html: bool = False) -> Page:
    from ..diff import key_point_table, summary_lines
    from .sample import decimate_fn

    buckets = buckets_for(3, html)
    lines = [_aligned_line(al, "A", labels[0], buckets, 0), _aligned_line(al, "B", labels[1], buckets, 1)]
    dx, dy = decimate_fn(lambda x: al.lr_a(x) - al.lr_b(x), al.x_max, buckets, keep=al.keep())
    diff_line = Line("A − B", dx, dy, [("difference", 0, len(dx) - 1)], 2)
    vlines = []
    for color, s, pos, n in ((0, al.a, al.pos_a, al.n_a), (1, al.b, al.pos_b, al.n_b)):
        for k, text, kind, _ in phase_vlines(s, n + 1, color):
            x = float(pos([k])[0])
            if x <= al.x_max:
                vlines.append((x, text, kind, color))
    if result.first_divergence is not None:
        vlines.append((result.first_divergence.x, "first divergence", "mark", None))
    overlay = Panel(lr_axis_label([al.a, al.b]), lines, vlines=merge_vlines(vlines))
    difference = Panel("A − B", [diff_line], vlines=merge_vlines(vlines), zero_line=True, value_name="A − B")
    head, rows = key_point_table(result)
    summary = summary_lines(result, *labels)
    title = "A and B are equal" if result.equal else "A and B differ"
    return Page(title, [overlay, difference], x_label="step" if al.unit == "steps" else al.unit,
                subtitle=summary + result.notes, tables=[Table("Key points of both", head, rows)])
