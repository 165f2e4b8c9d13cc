"""Training stdout, read line by line: Megatron-LM's ``training_log`` lines and DeepSpeed's ``step=`` lines.

Lines are matched by regular expressions only (the log's text is data; nothing in it is run), streamed from
the file so a multi-GB job log costs one pass and no more memory than the points it holds.

Megatron-LM (``megatron/training/training.py`` core_v0.19.0 l. 2844-2875; same format since core_r0.6.0)::

    [2026-01-01 00:00:01.000000] iteration        1/      40 | consumed samples:            4 | ...
    | learning rate: 3.750000E-05 | global batch size:     4 | lm loss: ... |

``{:.6E}`` since core_r0.6.0 (commit 7cb35c1, 2024-03-27; ``{:.3E}`` before, and in forks such as
epfLLM/Megatron-LLM); up to core_v0.15 a ``decoupled learning rate: X |`` may follow the LR. The precision
used is the number of digits each line shows. DeepSpeed (``runtime/engine.py`` 0.19.8 l. 3790-3793 and
``utils/logging.py``)::

    [2026-12-02 02:27:29,295] [INFO] [logging.py:123:log_dist] [Rank 0] step=2, skipped=0, lr=[0.00025], mom=[(0.9, 0.999)]

with one ``repr`` float per parameter group (exact). Step rules: :mod:`.rules`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import LrplanError
from ..fileio import open_regular
from . import rules
from .series import EXACT, LogOptions, LogSeries, Precision, build, digits_of, pick_tag

MAX_BYTES = 64 * 1024**3
MAX_LINE = 1 << 20
_NUM = rb"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
MEGATRON = re.compile(rb"iteration\s+(\d+)\s*/\s*(\d+)\s*\|\s*consumed samples:\s*(\d+)\s*\|(.*?)\blearning rate:\s*"
                      + _NUM + rb"\s*\|(?:\s*decoupled learning rate:\s*" + _NUM
                      + rb"\s*\|)?\s*global batch size:\s*(\d+)\s*\|")
MEGATRON_SKIPPED = re.compile(rb"number of skipped iterations:\s*(\d+)")
DEEPSPEED = re.compile(rb"\[Rank (-?\d+)\] step=(\d+), skipped=(\d+), lr=\[([^\]]*)\]")


def lines(path: Path):
    """(line number, bytes) of a regular text file, streamed; overlong lines are cut (never a hang)."""
    fd = open_regular(path, "log file")
    total = 0
    with os.fdopen(fd, "rb") as f:
        for i, line in enumerate(iter(lambda: f.readline(MAX_LINE), b""), start=1):
            total += len(line)
            if total > MAX_BYTES:
                raise LrplanError(f"{path} is larger than 64 GiB; lrplan reads job logs up to that size")
            yield i, line


def sniff(text: str) -> str | None:
    """'megatron' or 'deepspeed' when the start of a text has such a line."""
    head = text[:4_000_000].encode("utf-8", errors="replace")
    if MEGATRON.search(head):
        return "megatron"
    if DEEPSPEED.search(head):
        return "deepspeed"
    return None


def read_megatron(path: Path, opts: LogOptions) -> LogSeries:
    it, lr, dec, samples, batch, shown = [], [], [], [], [], []
    totals, skipped = set(), 0
    for no, line in lines(path):
        if b"learning rate" not in line:
            continue
        m = MEGATRON.search(line)
        if m is None:
            continue
        it.append(int(m.group(1)))
        totals.add(int(m.group(2)))
        samples.append(int(m.group(3)))
        lr.append(_float(m.group(5), path, no))
        dec.append(_float(m.group(6), path, no) if m.group(6) else None)
        batch.append(int(m.group(7)))
        shown.append(m.group(5).decode())
        s = MEGATRON_SKIPPED.search(line, m.end())
        skipped += int(s.group(1)) if s else 0
    if not it:
        raise LrplanError(f"{path} has no Megatron-LM training lines ('iteration N/ M | ... | learning rate: X |')",
                          hint="is this the stdout of the last pipeline rank?")
    tags = ["learning rate"] + (["decoupled learning rate"] if any(d is not None for d in dec) else [])
    tag, notes = pick_tag(str(path), tags, opts.tag, what="series")
    values = lr
    if tag == "decoupled learning rate":
        keep = [i for i, d in enumerate(dec) if d is not None]
        it, values, samples, batch = ([x[i] for i in keep] for x in (it, dec, samples, batch))
        shown = [shown[i] for i in keep]
    digits = min(digits_of(t) for t in shown)
    notes.append(f"Megatron prints the LR with {digits} significant digits: compared to that precision")
    if skipped:
        notes.append(f"{skipped} iterations were skipped (loss-scale overflow): the scheduler did not step for "
                     "them, so an iteration number is not a count of real updates after the first skip")
    if len(totals) > 1:
        notes.append("the log holds runs with different --train-iters (" + ", ".join(map(str, sorted(totals)))
                     + "): the later lines of a step win")
    if len(set(batch)) > 1:
        notes.append(f"the global batch size changes in the log ({min(batch)} to {max(batch)}: a ramp-up)")
    return build("megatron", str(path), tag, it, values, precision=Precision("digits", digits), offset=0,
                 step_field="iteration", rule=rules.MEGATRON, tags=tags, notes=notes, framework="megatron",
                 opts=opts, extra={"samples": samples, "batch": batch},
                 meta={"planned_total": max(totals) if len(totals) == 1 else None})


def read_deepspeed(path: Path, opts: LogOptions) -> LogSeries:
    steps, groups, skipped = [], [], 0
    for no, line in lines(path):
        if b"step=" not in line:
            continue
        m = DEEPSPEED.search(line)
        if m is None:
            continue
        steps.append(int(m.group(2)))
        skipped = max(skipped, int(m.group(3)))
        items = [x.strip() for x in m.group(4).split(b",") if x.strip()]
        if any(x.startswith(b"tensor") for x in items) or not items:
            raise LrplanError(f"{path} line {no}: lr=[{m.group(4).decode(errors='replace')[:60]}] is not a list "
                              "of numbers", hint="lrplan reads the LRs DeepSpeed prints as Python floats")
        groups.append([_float(x, path, no) for x in items])
    if not steps:
        raise LrplanError(f"{path} has no DeepSpeed progress lines ('[Rank 0] step=N, skipped=K, lr=[...]')",
                          hint="DeepSpeed prints them every steps_per_print updates (default None since 0.15.3) "
                               "at log level info (default warning since 0.17.6): set both in the config")
    width = max(len(g) for g in groups)
    tags = ["lr"] + [f"lr[{i}]" for i in range(1, width)]
    tag, notes = pick_tag(str(path), tags, opts.tag, what="series")
    col = 0 if tag == "lr" else int(tag[3:-1])
    keep = [i for i, g in enumerate(groups) if len(g) > col]
    if skipped:
        notes.append(f"DeepSpeed skipped {skipped} updates (fp16 overflow): its step counter advanced without a "
                     "scheduler step for them")
    return build("deepspeed", str(path), tag, [steps[i] for i in keep], [groups[i][col] for i in keep],
                 precision=EXACT, offset=0, step_field="step", rule=rules.DEEPSPEED, tags=tags, notes=notes,
                 framework="deepspeed", opts=opts)


def _float(b: bytes, path, no: int) -> float:
    try:
        return float(b)
    except ValueError:
        raise LrplanError(f"{path} line {no}: {b.decode(errors='replace')[:40]!r} is not a number") from None
