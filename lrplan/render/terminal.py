"""Terminal line chart in Unicode braille (2x4 dots per character cell).

Written by hand: plotext (the usual choice) rewrote its API in 6.x and takes ~2 s for 100k points,
while this draws from a per-column min/max envelope, so a 10M-step schedule costs a few thousand
evaluations. Output is a list of (text, style) runs per line, so tests read it as plain text and the
CLI colours it with rich.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import Schedule
from .sample import envelope

# Braille dot bits by (x in 0..1, y in 0..3 from the top).
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
STYLES = ("cyan", "magenta", "yellow", "green", "blue", "red")


@dataclass
class Series:
    schedule: Schedule
    label: str


def fmt_lr(v: float) -> str:
    if v == 0:
        return "0"
    if 0.01 <= abs(v) < 1000:
        return f"{v:.3g}"
    return f"{v:.2e}".replace("e-0", "e-").replace("e+0", "e+")


def fmt_step(k: float) -> str:
    k = float(k)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(k) >= div:
            v = k / div
            return (f"{v:.0f}" if v == int(v) else f"{v:.3g}") + suf
    return f"{k:.0f}"


def render(series: list[Series], k_max: int, *, width: int = 80, height: int = 16, log_y: bool = False,
           marks: tuple[int, ...] = (), boundaries: tuple[int, ...] = ()) -> list[list[tuple[str, str]]]:
    """Chart lines as (text, style) runs. ``k_max`` is the last step shown."""
    cols = _columns(width)
    envs = [envelope(s.schedule, k_max, cols * 2) for s in series]
    return render_envelopes(envs, [s.label for s in series], k_max, width=width, height=height, log_y=log_y,
                            marks=marks, boundaries=boundaries)


def render_curves(curves, x_max: int, *, x_label: str = "step", width: int = 80, height: int = 16,
                  log_y: bool = False, marks=(), boundaries=(), tight: bool = False) -> list[list[tuple[str, str]]]:
    """Chart of any vectorised functions of x: ``curves`` is a list of (label, f, keep) where
    ``keep`` lists the x values whose exact value must show (phase boundaries)."""
    from .sample import envelope_fn

    cols = _columns(width)
    envs = [envelope_fn(f, x_max, cols * 2, keep=keep) for _, f, keep in curves]
    return render_envelopes(envs, [label for label, _, _ in curves], x_max, x_label=x_label, width=width,
                            height=height, log_y=log_y, marks=marks, boundaries=boundaries, tight=tight)


def _columns(width: int) -> int:
    return max(10, width - LABEL_W - 2)


LABEL_W = 9


def _y_range(envs, log_y: bool, tight: bool = False) -> tuple[float, float]:
    import numpy as np

    top = max(float(np.nanmax(hi)) for _, hi in envs)
    low = min(float(np.nanmin(lo)) for lo, _ in envs)
    if tight and not log_y:  # a companion curve (momentum 0.85-0.95): the axis spans its values only
        if top - low <= 1e-12 * max(abs(top), 1e-300):
            pad = abs(top) * 0.05 or 1.0
            return low - pad, top + pad
        return low, top
    if log_y:
        positive = [float(np.nanmin(np.where(lo > 0, lo, np.nan))) for lo, _ in envs if np.any(lo > 0)]
        bottom = min(positive) if positive else 0.0
        top = top if top > 0 else 1.0
        if not bottom or bottom >= top:
            bottom = top / 10
        return bottom, top
    bottom = min(0.0, low)  # a difference curve goes below zero; an LR curve starts the axis at 0
    if top <= bottom:
        top = bottom + 1.0 if bottom == 0 else max(0.0, bottom / -2) or 1.0
    return bottom, top


def render_envelopes(envs, labels, x_max: int, *, x_label: str = "step", width: int = 80, height: int = 16,
                     log_y: bool = False, marks=(), boundaries=(), tight: bool = False) -> list[list[tuple[str, str]]]:
    """Chart lines from per-pixel-column (lo, hi) envelopes (two pixel columns per character)."""
    import numpy as np

    cols = _columns(width)
    px_h = height * 4
    bottom, top = _y_range(envs, log_y, tight)

    def ypix(v):
        if log_y:
            v = np.where(v > 0, v, bottom)
            frac = (np.log10(v) - math.log10(bottom)) / (math.log10(top) - math.log10(bottom))
        else:
            frac = (v - bottom) / (top - bottom)
        return np.clip(np.round((1 - frac) * (px_h - 1)), 0, px_h - 1).astype(int)

    cells = [[0] * cols for _ in range(height)]
    owner = [[-1] * cols for _ in range(height)]
    for who, (lo, hi) in enumerate(envs):
        _draw(cells, owner, who, ypix(np.nan_to_num(lo)), ypix(np.nan_to_num(hi)), np.isnan(lo))

    def col_of(k):
        return min(cols - 1, int(k / (x_max + 1) * cols))

    mark_cols = {col_of(k) for k in marks if 0 <= k <= x_max}
    bound_cols = {col_of(k) for k in boundaries if 0 < k <= x_max}
    zero_row = None
    if not log_y and bottom < 0 < top:  # the row holding the pixel of y = 0
        zero_row = int(ypix(np.array([0.0]))[0]) // 4
    lines = _rows(cells, owner, bottom, top, log_y, mark_cols, bound_cols, zero_row)
    lines += _x_axis(cols, x_max, col_of, mark_cols, bound_cols, x_label)
    if len(labels) > 1:
        for who, label in enumerate(labels):
            lines.append([("  ", ""), ("━━ ", STYLES[who % len(STYLES)]), (label, "")])
    return lines


def _draw(cells, owner, who, ylo, yhi, missing) -> None:
    prev = None
    for px in range(len(ylo)):
        if missing[px]:
            continue
        a, b = sorted((int(ylo[px]), int(yhi[px])))
        cur = (a, b)
        if prev is not None:  # join to the previous column so steep drops stay connected
            if prev[1] < a:
                a = prev[1] + 1
            elif prev[0] > b:
                b = prev[0] - 1
        for py in range(a, b + 1):
            cx, cy = px // 2, py // 4
            cells[cy][cx] |= _DOTS[px % 2][py % 4]
            owner[cy][cx] = who
        prev = cur


def _rows(cells, owner, bottom, top, log_y, mark_cols, bound_cols, zero_row):
    height, cols = len(cells), len(cells[0])
    lines: list[list[tuple[str, str]]] = []
    for row in range(height):
        if row == 0:
            lab = fmt_lr(top)
        elif row == height - 1:
            lab = fmt_lr(bottom)
        elif row == zero_row:
            lab = "0"
        elif row == height // 2 and zero_row is None:
            lab = fmt_lr(math.sqrt(top * bottom) if log_y and bottom > 0 else (top + bottom) / 2)
        else:
            lab = ""
        runs: list[tuple[str, str]] = [(lab.rjust(LABEL_W) + " ┤" if lab else " " * LABEL_W + " │", "dim")]
        for c in range(cols):
            bits = cells[row][c]
            if bits:
                runs.append((chr(0x2800 + bits), STYLES[owner[row][c] % len(STYLES)]))
            elif c in mark_cols:
                runs.append(("┊", "red"))
            elif c in bound_cols:
                runs.append(("┆", "dim"))
            elif row == zero_row:
                runs.append(("┈", "dim"))
            else:
                runs.append((" ", ""))
        lines.append(runs)
    return lines


def _x_axis(cols, x_max, col_of, mark_cols, bound_cols, x_label):
    axis = [" "] * cols
    for c in bound_cols:
        axis[c] = "┴"
    for c in mark_cols:
        axis[c] = "▲"
    ticks = [" "] * (cols + LABEL_W + 2)
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        k = round(frac * x_max)
        text = fmt_step(k)
        pos = LABEL_W + 2 + min(cols - len(text), max(0, col_of(k) - (len(text) // 2 if frac else 0)))
        if all(t == " " for t in ticks[max(0, pos - 1) : pos + len(text) + 1]):
            ticks[pos : pos + len(text)] = list(text)
    ticks[: LABEL_W] = list(x_label[:LABEL_W].rjust(LABEL_W))  # the axis name left of the 0 tick: stays in width
    return [[(" " * LABEL_W + " └" + "".join(axis), "dim")], [("".join(ticks).rstrip(), "dim")]]


# Without colour (output piped to a file) the series are told apart by their glyph: the first keeps its
# braille dots, each other one draws with a mark of its own, and the legend shows each curve's glyph.
PLAIN_MARKS = {STYLES[0]: "⠿", **dict(zip(STYLES[1:], "•×+o#"))}


def _plain(text: str, style: str) -> str:
    if text == "━━ ":
        return PLAIN_MARKS.get(style, "━") * 2 + " "
    if style in PLAIN_MARKS and style != STYLES[0] and len(text) == 1 and 0x2800 < ord(text) <= 0x28FF:
        return PLAIN_MARKS[style]
    return text


def as_text(lines: list[list[tuple[str, str]]]) -> str:
    """The chart as plain text: each series in its own glyph, so a piped chart still tells them apart."""
    return "\n".join("".join(_plain(t, st) for t, st in runs).rstrip() for runs in lines)


def phase_legend(s: Schedule) -> str:
    """``phases: warmup 0–2k · decay 2k–100k`` under a terminal chart."""
    from ..batch import step_of_position
    from ..ir import phase_label

    parts = []
    for seg in s.lr.segments:
        a = fmt_step(step_of_position(s.axis, seg.start))
        b = "…" if seg.end is None else fmt_step(step_of_position(s.axis, seg.end))
        parts.append(f"{phase_label(seg)} {a}–{b}")
    return "phases: " + " · ".join(parts)
