"""Tables of points as text (rich), CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json

from ..keypoints import Point, framework_step
from .terminal import fmt_step


def _lr_text(v: float) -> str:
    return f"{v:.6g}"


RICH_ROWS = 500  # longer text tables (a 10k-phase spec's key points) are laid out by hand


def _plain_table(title: str, header: list[str], body: list[list[str]], right: set[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if h in right else c.ljust(w)
                         for c, w, h in zip(cells, widths, header)).rstrip()

    rows = [line(header), "  ".join("─" * w for w in widths)] + [line(r) for r in body]
    return title + "\n" + "\n".join(rows) + "\n"


def companion_columns(s, steps) -> list[tuple[str, list[float]]]:
    """(column name, values at ``steps``) of each companion curve: weight_decay, momentum, lr[GROUP]."""
    from ..evaluate import companion_values

    names = [n for n in ("weight_decay", "momentum") if getattr(s, n) is not None] + [g for g, _ in s.groups]
    if not names or not len(steps):
        return []
    return [(n if n in ("weight_decay", "momentum") else f"lr[{n}]",
             [float(v) for v in companion_values(s, n, steps)]) for n in names]


def render_table(points: list[Point], loaded, fmt: str) -> str:
    s = loaded.schedule
    unit = s.axis.unit
    with_pos = unit != "steps"
    comps = companion_columns(s, [p.step for p in points])
    if fmt == "json":
        rows = []
        for i, p in enumerate(points):
            row = {"step": p.step, "lr": p.lr, "phase": p.phase}
            for name, vals in comps:
                row[name] = vals[i]
            if with_pos:
                row[unit] = p.position
            if p.note:
                row["note"] = p.note
            rows.append(row)
        doc = {"source": loaded.label, "format": loaded.format, "peak_lr": s.peak_lr,
               "multiplier": s.peak_lr is None, "points": rows}
        return json.dumps(doc, indent=2) + "\n"
    header = ["step", "lr"] + [n for n, _ in comps] + ["phase"] + ([unit] if with_pos else []) + ["note"]
    text = _lr_text if fmt != "csv" else repr
    body = [[str(p.step), text(p.lr)] + [text(vals[i]) for _, vals in comps] + [p.phase]
            + ([f"{p.position:.0f}"] if with_pos else []) + [p.note] for i, p in enumerate(points)]
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
    if len(body) > RICH_ROWS:  # rich lays out every cell of every row: seconds per thousand rows
        return _plain_table(loaded.label, header, body, right={"step", "lr", unit, *(n for n, _ in comps)})
    from rich.console import Console
    from rich.table import Table

    # The title is a line of its own above the table: as the table's own title rich would wrap it at the
    # table's width, in the middle of a number ("peak=3e-" / "4").
    title = loaded.label if len(loaded.label) < 100 else loaded.label[:97] + "..."
    t = Table(show_edge=False, pad_edge=False)
    for h in header:
        t.add_column(h, justify="right" if h in ("step", "lr", unit) or h in dict(comps) else "left")
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


__all__ = ["fmt_step", "key_point_text", "render_table"]


# ---- streamed tables: a regular grid of steps (--every), written chunk by chunk ------------------------

STREAM_ROWS = 10_000  # a table this long is streamed: evaluated and formatted in chunks, memory stays flat
CHUNK = 100_000


def _phases(s, ks):
    """The phase name of each step (vectorised: one searchsorted over the segment starts)."""
    import numpy as np

    from ..batch import position
    from ..ir import phase_label
    from ..ops import numpy_ops

    x = position(s.axis, ks.astype(float), numpy_ops())
    names = [phase_label(seg) for seg in s.lr.segments]
    after = "after end" if s.lr.after == "hold" else s.lr.after
    idx = np.maximum(np.searchsorted(np.array([seg.start for seg in s.lr.segments]), x, side="right") - 1, 0)
    if s.lr.end is not None:
        idx = np.where(x >= s.lr.end, len(names), idx)
    return np.array(names + [after], dtype=object)[idx], x


def stream_table(write, loaded, steps: range, fmt: str) -> None:
    """Write the table of ``steps`` (a range) through ``write`` in chunks: CSV, JSON, Markdown or text."""
    import numpy as np

    from ..evaluate import lr

    s = loaded.schedule
    unit = s.axis.unit
    with_pos = unit != "steps"
    name = loaded.step_name
    comp_names = [n for n, _ in companion_columns(s, [0])]
    head = ["step", "lr", *comp_names, "phase"] + ([unit] if with_pos else []) + ["note"]
    width = len(str(steps[-1])) if len(steps) else 1
    if fmt == "json":
        meta = {"source": loaded.label, "format": loaded.format, "peak_lr": s.peak_lr,
                "multiplier": s.peak_lr is None}
        write(json.dumps(meta)[:-1] + ', "points": [\n')
    elif fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(head)
        write(buf.getvalue())
    elif fmt == "md":
        write("| " + " | ".join(head) + " |\n" + "|" + "---|" * len(head) + "\n")
    else:
        write(f"{loaded.label}\n" + "  ".join(h.rjust(width if h == "step" else 12)
                                              if h in ("step", "lr", *comp_names) else h for h in head) + "\n")
    first = True
    for lo in range(0, len(steps), CHUNK):
        part = steps[lo: lo + CHUNK]
        ks = np.arange(part.start, part.stop, part.step, dtype=np.int64)
        values = lr(s, ks.astype(float)).tolist()
        phases, x = _phases(s, ks)
        k_list = ks.tolist()
        notes = [framework_step(loaded, k) for k in k_list] if name else None
        pos = [f"{v:.0f}" for v in x.tolist()] if with_pos else None
        comps = companion_columns(s, ks) if comp_names else []
        write(_chunk(fmt, k_list, values, phases.tolist(), pos, notes, unit, width, first, comps))
        first = False
    if fmt == "json":
        write("\n]}\n")


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n\r') else text


def _chunk(fmt, ks, values, phases, pos, notes, unit, width, first, comps=()) -> str:
    n = len(ks)
    cols = [ks, values, phases] + ([pos] if pos is not None else []) + [notes if notes is not None else [""] * n]
    if fmt == "csv":  # the csv module quotes field by field (3x slower): only notes can need quoting here
        last = [_csv_field(x) for x in cols[-1]] if notes is not None else cols[-1]
        mid = [f",{p}" for p in pos] if pos is not None else [""] * n
        cv = ["".join(f",{vals[i]!r}" for _, vals in comps) for i in range(n)] if comps else [""] * n
        return "".join([f"{k},{v!r}{c},{p}{m},{q}\n" for k, v, c, p, m, q in zip(ks, values, cv, phases, mid, last)])
    if fmt == "json":
        extra = ""
        rows = []
        for i in range(n):
            if pos is not None:
                extra = f', "{unit}": {pos[i]}'
            note = f', "note": {json.dumps(notes[i])}' if notes is not None else ""
            comp = "".join(f', "{name}": {vals[i]!r}' for name, vals in comps)
            rows.append(f'{{"step": {ks[i]}, "lr": {values[i]!r}{comp}, "phase": "{phases[i]}"{extra}{note}}}')
        return ("" if first else ",\n") + ",\n".join(rows)
    lrs = [f"{v:.6g}" for v in values]
    ctext = [[f"{v:.6g}" for v in vals] for _, vals in comps]
    if fmt == "md":
        return "".join("| " + " | ".join(str(c[i]).replace("|", "\\|") for c in [ks, lrs, *ctext, *cols[2:]])
                       + " |\n" for i in range(n))
    return "".join("  ".join([str(ks[i]).rjust(width), lrs[i].rjust(12), *(c[i].rjust(12) for c in ctext),
                              *(str(c[i]) for c in cols[2:])]).rstrip() + "\n" for i in range(n))
