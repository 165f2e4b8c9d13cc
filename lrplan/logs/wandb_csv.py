"""A CSV exported from a W&B line plot ("Export panel" -> CSV).

Columns (wandb/wandb issues #5349, #5222): ``Step``, then per run ``"<run> - <key>"`` with
``"<run> - <key>__MIN"`` and ``"... __MAX"``; grouped runs prefix the run part with ``"Name: "``. The export is
**bucketed** (W&B docs, "Point aggregation": each bucket shows its last value, ``__MIN``/``__MAX`` are the
bucket's extremes), so it may miss steps; a row whose ``__MIN`` and ``__MAX`` differ stands for several steps
and is left out. ``Step`` is the panel's x-axis: W&B's ``_step`` unless the panel was set to another (for an
HF run logging every step with no evaluation ``_step`` = global_step - 1, the update whose LR the row holds
under transformers >= 4.51). lrplan takes k = Step.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import LrplanError
from ..fileio import read_text
from . import rules
from .series import EXACT, LogOptions, LogSeries, build, pick_tag

MAX_BYTES = 1024**3


def looks_like_export(text: str) -> bool:
    from .csvlog import header

    cols = header(text)
    return bool(cols) and cols[0].strip() in ("Step", "step", "_step") and any(" - " in c for c in cols[1:])


def _split(col: str) -> tuple[str, str]:
    run, _, key = col.partition(" - ")
    return run.removeprefix("Name: ").strip(), key.strip()


def read(path: Path, opts: LogOptions) -> LogSeries:
    text = read_text(path, what="W&B CSV export", limit=MAX_BYTES)
    rows = csv.reader(io.StringIO(text))
    try:
        head = next(rows)
    except StopIteration:
        raise LrplanError(f"{path} is empty") from None
    series = [(i, *_split(c)) for i, c in enumerate(head) if i and " - " in c and not c.endswith(("__MIN", "__MAX"))]
    keys = list(dict.fromkeys(k for _, _, k in series))
    wanted = opts.tag
    if wanted is not None and " - " in wanted:
        col = next((i for i, c in enumerate(head) if c == wanted), None)
        if col is None:
            raise LrplanError(f"{path} has no column {wanted!r}", hint="columns: " + ", ".join(head[:12]))
        chosen = [(col, *_split(wanted))]
        notes: list[str] = []
    else:
        tag, notes = pick_tag(str(path), keys, wanted, what="metric")
        chosen = [s for s in series if s[2] == tag]
    col, run, tag = chosen[0]
    if len(chosen) > 1:
        notes.append(f"{len(chosen)} runs export {tag!r}: read run {run!r} (--tag '<run> - {tag}' picks another)")
    lo = head.index(head[col] + "__MIN") if head[col] + "__MIN" in head else None
    hi = head.index(head[col] + "__MAX") if head[col] + "__MAX" in head else None
    steps, values, aggregated = [], [], 0
    for line, row in enumerate(rows, start=2):
        if col >= len(row) or not row[col].strip():
            continue
        try:
            step, v = int(float(row[0])), float(row[col])
            if lo is not None and hi is not None and row[lo].strip() and float(row[lo]) != float(row[hi]):
                aggregated += 1
                continue
        except (ValueError, IndexError):
            raise LrplanError(f"{path} line {line}: {row[:1] + row[col:col + 1]!r} are not numbers") from None
        steps.append(step)
        values.append(v)
    notes.append("a W&B panel export is bucketed: only the steps it lists are compared; k = Step (the panel's "
                 "x-axis, W&B's _step by default)")
    if aggregated:
        notes.append(f"{aggregated} rows are bucket aggregates (__MIN != __MAX) and were left out; export the run "
                     "history (or read the offline run directory) for every step")
    return build("wandb-csv", str(path), tag, steps, values, precision=EXACT, offset=0, step_field="Step",
                 rule=rules.GENERIC, tags=keys, notes=notes, framework="", opts=opts)
