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
    import numpy as np

    label_w = 9
    cols = max(10, width - label_w - 2)
    px_w, px_h = cols * 2, height * 4
    envs = [envelope(s.schedule, k_max, px_w) for s in series]
    top = max(float(np.nanmax(hi)) for _, hi in envs) or 1.0
    positive = [float(np.nanmin(np.where(lo > 0, lo, np.nan))) for lo, _ in envs if np.any(lo > 0)]
    bottom = min(positive) if log_y and positive else 0.0
    if log_y and bottom >= top:
        bottom = top / 10

    def ypix(v):
        if log_y:
            v = np.where(v > 0, v, bottom)
            frac = (np.log10(v) - math.log10(bottom)) / (math.log10(top) - math.log10(bottom))
        else:
            frac = v / top
        return np.clip(np.round((1 - frac) * (px_h - 1)), 0, px_h - 1).astype(int)

    cells = [[0] * cols for _ in range(height)]
    owner = [[-1] * cols for _ in range(height)]

    def dot(px, py, who):
        cx, cy = px // 2, py // 4
        cells[cy][cx] |= _DOTS[px % 2][py % 4]
        owner[cy][cx] = who

    for who, (lo, hi) in enumerate(envs):
        ylo, yhi = ypix(np.nan_to_num(lo)), ypix(np.nan_to_num(hi))
        prev = None
        for px in range(px_w):
            if np.isnan(lo[px]):
                continue
            a, b = sorted((int(ylo[px]), int(yhi[px])))
            cur = (a, b)
            if prev is not None:  # join to the previous column so steep drops stay connected
                if prev[1] < a:
                    a = prev[1] + 1
                elif prev[0] > b:
                    b = prev[0] - 1
            for py in range(a, b + 1):
                dot(px, py, who)
            prev = cur

    def col_of(k):
        return min(cols - 1, int(k / (k_max + 1) * cols))

    mark_cols = {col_of(k) for k in marks if 0 <= k <= k_max}
    bound_cols = {col_of(k) for k in boundaries if 0 < k <= k_max}
    lines: list[list[tuple[str, str]]] = []
    for row in range(height):
        if row == 0:
            lab = fmt_lr(top)
        elif row == height - 1:
            lab = fmt_lr(bottom)
        elif row == height // 2:
            mid = math.sqrt(top * bottom) if log_y and bottom > 0 else top / 2
            lab = fmt_lr(mid)
        else:
            lab = ""
        runs: list[tuple[str, str]] = [(lab.rjust(label_w) + " ┤" if lab else " " * label_w + " │", "dim")]
        for c in range(cols):
            bits = cells[row][c]
            if bits:
                runs.append((chr(0x2800 + bits), STYLES[owner[row][c] % len(STYLES)]))
            elif c in mark_cols:
                runs.append(("┊", "red"))
            elif c in bound_cols:
                runs.append(("┆", "dim"))
            else:
                runs.append((" ", ""))
        lines.append(runs)
    axis = [" "] * cols
    for c in bound_cols:
        axis[c] = "┴"
    for c in mark_cols:
        axis[c] = "▲"
    lines.append([(" " * label_w + " └" + "".join(axis), "dim")])
    ticks = [" "] * (cols + label_w + 2)
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        k = round(frac * k_max)
        text = fmt_step(k)
        pos = label_w + 2 + min(cols - len(text), max(0, col_of(k) - (len(text) // 2 if frac else 0)))
        if all(t == " " for t in ticks[max(0, pos - 1) : pos + len(text) + 1]):
            ticks[pos : pos + len(text)] = list(text)
    lines.append([("".join(ticks).rstrip() + "  step", "dim")])
    if len(series) > 1:
        for who, s in enumerate(series):
            lines.append([("  ", ""), ("━━ ", STYLES[who % len(STYLES)]), (s.label, "")])
    return lines


def as_text(lines: list[list[tuple[str, str]]]) -> str:
    return "\n".join("".join(t for t, _ in runs).rstrip() for runs in lines)
