"""CSV logs: Lightning's ``CSVLogger`` ``metrics.csv`` (with ``LearningRateMonitor``) and any CSV with a step
column and an LR column.

Lightning 2.6 (``fabric/loggers/csv_logs.py`` ``_ExperimentWriter``): one row per ``log_metrics`` call with
``step`` added, header = every key seen (sorted), empty cells where a row lacks a key; values written by
``csv`` as ``str(float)`` (exact). ``LearningRateMonitor`` rows hold only ``lr-*`` keys (``lr-AdamW``,
``lr-AdamW/pg1`` per group, ``-momentum``/``-weight_decay`` companions); with
``accumulate_grad_batches=G`` each update's LR row appears G times (it logs at every batch start).
A run directory (``lightning_logs/``, ``version_N/``) is read through every ``metrics.csv`` under it, oldest
version first (a resumed run logs into a new version; later rows of a step win).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..errors import LrplanError
from ..fileio import read_text
from . import rules
from .series import EXACT, LogOptions, LogSeries, build, pick_tag

MAX_BYTES = 1024**3
STEP_COLUMNS = ("step", "global_step", "trainer/global_step", "train/global_step", "iteration", "_step", "Step",
                "steps")
_VERSION = re.compile(r"version_(\d+)")


def csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = [p for depth in range(4) for p in path.glob("/".join(["*"] * depth + ["metrics.csv"])) if p.is_file()]

    def key(p: Path):
        m = _VERSION.fullmatch(p.parent.name)
        return (str(p.parent.parent), int(m.group(1)) if m else -1, str(p))

    return sorted(set(found), key=key)


def header(text: str) -> list[str]:
    line = text.split("\n", 1)[0]
    try:
        return next(csv.reader([line]))
    except (StopIteration, csv.Error):
        return []


def looks_like_csv(text: str) -> bool:
    cols = header(text)
    return len(cols) >= 2 and any(c in STEP_COLUMNS for c in cols) and not any(" - " in c for c in cols)


def _rows(f: Path):
    text = read_text(f, what="CSV log", limit=MAX_BYTES)
    reader = csv.reader(io.StringIO(text))
    try:
        head = next(reader)
    except StopIteration:
        raise LrplanError(f"{f} is empty") from None
    return head, reader


def read(path: Path, opts: LogOptions) -> LogSeries:
    files = csv_files(path)
    if not files:
        raise LrplanError(f"{path} holds no metrics.csv", hint="pass the CSVLogger's metrics.csv or its version_N/")
    steps, values, tags, notes = [], [], {}, []
    tag = step_col = None
    for f in files:
        head, reader = _rows(f)
        tags.update(dict.fromkeys(c for c in head if c not in STEP_COLUMNS))
        scol = next((c for c in STEP_COLUMNS if c in head), None)
        if scol is None:
            raise LrplanError(f"{f} has no step column (looked for {', '.join(STEP_COLUMNS[:5])}, ...)",
                              hint="columns in this file: " + ", ".join(head[:20]))
        if tag is None:
            tag, more = pick_tag(str(f), [c for c in head if c not in STEP_COLUMNS], opts.tag, what="column")
            notes += more
            step_col = scol
        if tag not in head:
            raise LrplanError(f"{f} has no column {tag!r} (the other files of this run do)",
                              hint="columns in this file: " + ", ".join(head[:20]))
        ci, si = head.index(tag), head.index(scol)
        for line, row in enumerate(reader, start=2):
            if ci >= len(row) or not row[ci].strip():
                continue
            try:
                steps.append(int(float(row[si])))
                values.append(float(row[ci]))
            except (ValueError, IndexError):
                raise LrplanError(f"{f} line {line}: {scol}={row[si] if si < len(row) else ''!r}, "
                                  f"{tag}={row[ci]!r} are not numbers") from None
    lightning = tag.startswith("lr-") or "/lr-" in tag
    if len(files) > 1:
        notes.append(f"read {len(files)} metrics.csv files (oldest version first); a step logged again later "
                     "takes the later value")
    return build("lightning" if lightning else "csv", str(path), tag, steps, values, precision=EXACT, offset=0,
                 step_field=step_col, rule=rules.LIGHTNING if lightning else rules.GENERIC, tags=list(tags),
                 notes=notes, framework="lightning" if lightning else "", opts=opts)
