"""Tables of points as text (rich), CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json

from ..keypoints import Point
from .terminal import fmt_step


def _lr_text(v: float) -> str:
    return f"{v:.6g}"


def render_table(points: list[Point], loaded, fmt: str) -> str:
    s = loaded.schedule
    unit = s.axis.unit
    with_pos = unit != "steps"
    if fmt == "json":
        rows = []
        for p in points:
            row = {"step": p.step, "lr": p.lr, "phase": p.phase}
            if with_pos:
                row[unit] = p.position
            if p.note:
                row["note"] = p.note
            rows.append(row)
        doc = {"source": loaded.label, "format": loaded.format, "peak_lr": s.peak_lr,
               "multiplier": s.peak_lr is None, "points": rows}
        return json.dumps(doc, indent=2) + "\n"
    header = ["step", "lr", "phase"] + ([unit] if with_pos else []) + ["note"]
    body = [[str(p.step), _lr_text(p.lr) if fmt != "csv" else repr(p.lr), p.phase]
            + ([f"{p.position:.0f}"] if with_pos else []) + [p.note] for p in points]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(body)
        return buf.getvalue()
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n"
    from rich.console import Console
    from rich.table import Table

    # The title is a line of its own above the table: as the table's own title rich would wrap it at the
    # table's width, in the middle of a number ("peak=3e-" / "4").
    title = loaded.label if len(loaded.label) < 100 else loaded.label[:97] + "..."
    t = Table(show_edge=False, pad_edge=False)
    for h in header:
        t.add_column(h, justify="right" if h in ("step", "lr", unit) else "left")
    for row in body:
        t.add_row(*row)
    buf = io.StringIO()
    con = Console(file=buf, width=110, highlight=False)
    con.print(title, markup=False, overflow="ignore", crop=False, soft_wrap=True)
    con.print(t)
    caption = "LR is a multiplier of the peak (pass --lr for absolute values)" if s.peak_lr is None else ""
    return buf.getvalue() + (caption + "\n" if caption else "")


def key_point_text(loaded) -> str:
    """The key-point table of a loaded source as text (explain, the notebook view)."""
    from ..keypoints import key_points

    return render_table(key_points(loaded), loaded, "text")


__all__ = ["render_table", "key_point_text", "fmt_step"]
