"""Tables of points as text (rich), CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
import re

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
        floats = [s.peak_lr] if s.peak_lr is not None else []  # to check that orjson may write them all
        for i, p in enumerate(points):
            row = {"step": p.step, "lr": p.lr, "phase": p.phase}
            for name, vals in comps:
                row[name] = vals[i]
            if with_pos:
                row[unit] = p.position
            if p.note:
                row["note"] = p.note
            rows.append(row)
            floats += [v for v in row.values() if isinstance(v, float)]
        doc = {"source": loaded.label, "format": loaded.format, "peak_lr": s.peak_lr,
               "multiplier": s.peak_lr is None, "points": rows}
        return json_text(doc, floats)  # numbers as the streamed table writes them (see exact_text)
    header = ["step", "lr"] + [n for n, _ in comps] + ["phase"] + ([unit] if with_pos else []) + ["note"]
    text = _lr_text if fmt != "csv" else exact_text
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


# ---- the text of a number in csv and json tables ---------------------------------------------------------
#
# The rule (csv and json, streamed or not): a float is the shortest decimal that reads back as the same double
# (float(text) == value; the digits Python's repr picks), written positionally for 1e-5 <= |x| < 1e16 (0.00003,
# 0.0003, 1500.0) and otherwise as d[.ddd]e-N / d[.ddd]e+N without zero padding (1.5e-7, 1e+16). That is
# orjson's notation (>= 3.11.7); Python's repr picks the same digits and differs only in notation (3e-05,
# 1.5e-07, switching to exponents below 1e-4). tests/test_table_stream.py checks the rule with its own
# implementation, so a change of orjson's notation fails there and not in a user's diff.
#
# Why orjson (pyproject): CPython formats ~0.9M floats/s with repr on this project's 2-core machines, under the
# 1M rows/s a streamed table aims at before anything else is done; orjson formats ~30M/s, and lays out whole
# chunks of rows in C (below). Non-finite values (never a valid LR) keep Python's text: orjson writes null.


def exact_text(v: float) -> str:
    """One float of a csv or json table, by the rule above."""
    import orjson

    v = float(v)
    return orjson.dumps(v).decode() if math.isfinite(v) else repr(v)


def json_text(doc, floats) -> str:
    """``doc`` as indented JSON whose numbers follow the rule above (``floats``: every float in it, to check
    that all are finite; json.dumps's NaN/Infinity otherwise, as orjson would write null)."""
    if all(math.isfinite(v) for v in floats):
        import orjson

        try:
            text = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
        except orjson.JSONEncodeError:  # an integer past 64 bits (a step of --at 1e20): json.dumps writes it
            return json.dumps(doc, indent=2) + "\n"
        return ascii_json(text) + "\n"
    return json.dumps(doc, indent=2) + "\n"


def ascii_json(text: str) -> str:
    """JSON text with each non-ASCII character as a \\u escape, as json.dumps writes it (orjson writes UTF-8):
    the output stays readable through any stdout encoding. Outside strings JSON is ASCII, so every such
    character is inside one."""
    if text.isascii():
        return text

    def escape(m) -> str:
        units = m[0].encode("utf-16-be")  # a surrogate pair beyond the BMP, as json.dumps writes it
        return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))

    return _NON_ASCII.sub(escape, text)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


# ---- streamed tables: a regular grid of steps (--every), written chunk by chunk ------------------------

STREAM_ROWS = 10_000  # a table this long is streamed: evaluated and formatted in chunks, memory stays flat
CHUNK = 25_000  # rows a chunk: its few MB of text stay in cache through the passes over it (2x faster than 100k)


def _phase_index(s, ks):
    """(phase names, the index into them of each step's phase, the positions): one searchsorted over the
    segment starts."""
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
    return names + [after], idx, x


def stream_table(write, loaded, steps: range, fmt: str) -> None:
    """Write the table of ``steps`` (a range) through ``write`` in chunks: CSV, JSON, Markdown or text.

    Memory stays flat (one chunk of :data:`CHUNK` rows at a time). CSV and JSON chunks are laid out by
    :func:`_fast_rows`, text and Markdown by :func:`_format_rows`; what they leave (a non-finite value, a
    row end rstrip would change) row by row by :func:`_chunk`, which writes the same text.
    """
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
        write("{" + ", ".join(f"{json.dumps(k)}: {exact_text(v) if isinstance(v, float) else json.dumps(v)}"
                              for k, v in meta.items()) + ', "points": [\n')
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
        values = lr(s, ks.astype(float))
        names, idx, x = _phase_index(s, ks)
        comps = companion_columns(s, ks) if comp_names else []
        notes = _notes(loaded, part) if name else None
        text = None
        if fmt in ("csv", "json"):
            text = _fast_rows(fmt, part, values, comps, names, idx, x if with_pos else None, unit, notes)
        if text is None:
            k_list = ks.tolist()
            pos = [f"{v:.0f}" for v in x.tolist()] if with_pos else None
            phases = np.array(names, dtype=object)[idx].tolist()
            if fmt in ("text", "md"):
                text = _format_rows(fmt, k_list, values.tolist(), phases, pos, notes, width, comps)
            if text is None:
                text = _chunk(fmt, k_list, values.tolist(), phases, pos, notes, unit, width, True, comps)
        write(text if first or fmt != "json" else ",\n" + text)
        first = False
    if fmt == "json":
        write("\n]}\n")


def _notes(loaded, part: range) -> list[str]:
    """framework_step of each step of ``part``, asking for the total once (not once a row)."""
    from ..keypoints import total_steps

    n = total_steps(loaded.schedule)
    inside = part if n is None else part[: max(0, len(range(part.start, min(part.stop, n), part.step)))]
    notes = list(map(loaded.step_name, inside))
    if len(inside) < len(part):
        notes += [framework_step(loaded, part[len(inside)])] * (len(part) - len(inside))
    return notes


# Sentinels of the fast layout: U+0080..U+00BF, which orjson writes as the two bytes C2 xx. Everything else
# orjson writes there is ASCII (numbers, and the sentinels' quotes and commas: phase names and keys are only
# in the replacements), so once the C2 bytes are deleted each sentinel is one byte that occurs nowhere else,
# and bytes.replace of a one-byte pattern runs at memchr speed.
_SENTINELS = [chr(0x80 + i) for i in range(64)]
_CSV_MAP = bytes.maketrans(b"\x80", b",")


def _fast_rows(fmt, part: range, values, comps, names, idx, x, unit, notes=None) -> str | None:
    r"""The CSV or JSON text of one chunk of rows, laid out by orjson and bytes.translate/replace with no
    Python code per row; None when a value is not finite, a position is not a whole number below 2**52 (as
    ``f"{x:.0f}"`` writes it), or there are too many short phases for per-phase work to pay (then
    :func:`_chunk` lays the chunk out, row by row).

    The rows of each run of one phase are dumped as one flat list, a sentinel after each field. CSV:
    (step, s0, lr, s0, companion, ..., s1[, position, s2]) dumps as ``[0,"\x80",0.0,"\x81",...]``; the
    quotes, commas, brackets and C2 bytes are deleted, s0 mapped to a comma, s1 replaced by ``,warmup,\n``
    (its last comma: the empty note column) or, with a position, by ``,warmup,`` and s2 by ``,\n``. JSON:
    the sentinel after each field is replaced by the key of the next (``, "lr": ``), the phase's text
    (``, "phase": "warmup"``) and the end of the row (``},\n{"step": ``). A flat list, not a tuple per row:
    a chunk of tuples would cost more than all the rest (the garbage collector walks them). Framework step
    notes (a string a row) are joined to the rows afterwards, line by line.
    """
    import numpy as np
    import orjson

    if len(comps) > len(_SENTINELS) - 4 or not np.isfinite(values).all():
        return None
    if comps and not all(np.isfinite(np.asarray(c, dtype=float)).all() for _, c in comps):
        return None
    pos = None
    if x is not None:
        if np.signbit(x).any() or not (x < 2.0 ** 52).all():  # -0.0 would be "-0"; past 2**52, doubles skip
            return None
        pos = np.rint(x).astype(np.int64).tolist()  # rint rounds half to even, as format's .0f does
    if notes is not None and any("\n" in n or "\r" in n for n in names):  # notes are joined line by line
        return None
    cuts = np.flatnonzero(np.diff(idx)) + 1
    if len(cuts) > 8 + len(idx) // 16:  # many short phases: per-phase calls would cost more than rows
        return None
    vals = values.tolist()
    data = [vals, *(c for _, c in comps)] + ([pos] if pos is not None else [])
    keys = ["lr", *(n for n, _ in comps)] + ([unit] if pos is not None else [])
    w = 2 * (1 + len(data))  # step, then each data column, each followed by its sentinel
    out = []
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(idx)]):
        phase = names[int(idx[a])]
        if fmt == "csv":  # s1 after the last field before the phase column, s2 after the position
            pattern = [None, _SENTINELS[0]] * (w // 2 - 1 - (pos is not None)) + [None, _SENTINELS[1]]
            pattern += [None, _SENTINELS[2]] if pos is not None else []
        else:
            pattern = [v for j in range(w // 2) for v in (None, _SENTINELS[j])]
        flat = pattern * (b - a)
        flat[0::w] = part[a:b]
        for j, col in enumerate(data, start=1):
            flat[2 * j::w] = col[a:b]
        raw = orjson.dumps(flat)
        if fmt == "csv":
            t = raw.translate(_CSV_MAP, b',"[]\xc2')
            if pos is not None:
                t = t.replace(b"\x82", b",\n")
            t = t.replace(b"\x81", f",{_csv_field(phase)},{'' if pos is not None else chr(10)}".encode())
            if notes is not None:
                lines = t.decode().split("\n")[:-1]
                run = notes[a:b]
                if _NEEDS_QUOTES.search("".join(run)):
                    run = [_csv_field(q) for q in run]
                t = ("\n".join(map(str.__add__, lines, run)) + "\n").encode()
            out.append(t)
            continue
        t = raw.translate(None, b',"[]\xc2')
        phase_text = f", \"phase\": {json.dumps(phase)}"
        for j in range(w // 2):  # the sentinel after field j: the key of the field after it
            if j + 1 == w // 2:
                end = ', "note": \n{"step": ' if notes is not None else '},\n{"step": '
                rep = ("" if pos is not None else phase_text) + end
            elif pos is not None and j + 2 == w // 2:
                rep = f"{phase_text}, {json.dumps(unit)}: "
            else:
                rep = f", {json.dumps(keys[j])}: "
            t = t.replace(bytes([0x80 + j]), rep.encode())
        if notes is None:
            out.append(b'{"step": ' + t[:-len(b',\n{"step": ')])
            continue
        rows = (b'{"step": ' + t[:-len(b'\n{"step": ')]).decode().split("\n")
        quoted = ascii_json(orjson.dumps(notes[a:b])[2:-2].decode()).split('","')  # only ever between notes
        out.append(",\n".join(map('{}"{}"}}'.format, rows, quoted)).encode())
    return (b"" if fmt == "csv" else b",\n").join(out).decode()


_NEEDS_QUOTES = re.compile('[,"\n\r]')


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES.search(text) else text


def _format_rows(fmt, ks, values, phases, pos, notes, width, comps) -> str | None:
    """Text or Markdown rows with one str.format call a row (the .6g and the justification inside it): what
    :func:`_chunk` writes, 2-3x as fast. None when a row's end could need the rstrip that :func:`_chunk`
    does (an empty phase or note, or one ending in a space)."""
    tail = [phases] + ([pos] if pos is not None else []) + ([notes] if notes is not None else [])
    if fmt == "text":
        if any(not t or t[-1].isspace() for t in set(tail[-1])):  # the row's end: rstrip would cut it
            return None
        line = f"{{:>{width}}}  {{:>12.6g}}" + "  {:>12.6g}" * len(comps) + "  {}" * len(tail) + "\n"
    else:
        tail = [[t.replace("|", "\\|") for t in col] if any("|" in t for t in set(col)) else col for col in tail]
        line = "| {} | {:.6g}" + " | {:.6g}" * len(comps) + " | {}" * len(tail) + (" |  |\n" if notes is None
                                                                                     else " |\n")
    return "".join(map(line.format, ks, values, *(c for _, c in comps), *tail))


def _chunk(fmt, ks, values, phases, pos, notes, unit, width, first, comps=()) -> str:
    """One chunk of rows laid out in Python, row by row: the chunks the fast layouts leave (a non-finite
    value, a position past 2**52, many short phases, a row end rstrip would change), in the same text."""
    n = len(ks)
    cols = [ks, values, phases] + ([pos] if pos is not None else []) + [notes if notes is not None else [""] * n]
    if fmt == "csv":  # the csv module quotes field by field (3x slower): only notes can need quoting here
        num = exact_text
        last = [_csv_field(x) for x in cols[-1]] if notes is not None else cols[-1]
        mid = [f",{p}" for p in pos] if pos is not None else [""] * n
        cv = ["".join(f",{num(vals[i])}" for _, vals in comps) for i in range(n)] if comps else [""] * n
        return "".join([f"{k},{num(v)}{c},{_csv_field(p)}{m},{q}\n"
                        for k, v, c, p, m, q in zip(ks, values, cv, phases, mid, last)])
    if fmt == "json":
        num = _json_number
        extra = ""
        rows = []
        for i in range(n):
            if pos is not None:
                extra = f', "{unit}": {pos[i]}'
            note = f', "note": {json.dumps(notes[i])}' if notes is not None else ""
            comp = "".join(f', {json.dumps(name)}: {num(vals[i])}' for name, vals in comps)
            rows.append(f'{{"step": {ks[i]}, "lr": {num(values[i])}{comp}, "phase": {json.dumps(phases[i])}'
                        f'{extra}{note}}}')
        return ("" if first else ",\n") + ",\n".join(rows)
    lrs = [f"{v:.6g}" for v in values]
    ctext = [[f"{v:.6g}" for v in vals] for _, vals in comps]
    if fmt == "md":
        return "".join("| " + " | ".join(str(c[i]).replace("|", "\\|") for c in [ks, lrs, *ctext, *cols[2:]])
                       + " |\n" for i in range(n))
    return "".join("  ".join([str(ks[i]).rjust(width), lrs[i].rjust(12), *(c[i].rjust(12) for c in ctext),
                              *(str(c[i]) for c in cols[2:])]).rstrip() + "\n" for i in range(n))


def _json_number(v: float) -> str:
    """A float in a JSON row: the rule above; NaN/Infinity as json.dumps writes them (never null)."""
    return exact_text(v) if math.isfinite(v) else json.dumps(v)
