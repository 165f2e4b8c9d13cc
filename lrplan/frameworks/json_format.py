"""The IR's own JSON form as a format."""

from __future__ import annotations

import json

from .. import irjson
from .base import Candidate, Format, Loaded, ReadOptions


def detect(text, path) -> int:
    t = text.lstrip()
    if not t.startswith("{"):
        return 0
    try:
        d = json.loads(t)
    except json.JSONDecodeError:
        return 0
    return 10 if isinstance(d, dict) and irjson.FORMAT_KEY in d else 0


def read(text, path, opts: ReadOptions) -> Loaded:
    schedule = irjson.loads(text)
    if schedule.total is None and opts.steps is not None:
        from ..batch import steps_total

        schedule = schedule.with_(total=steps_total(opts.steps, schedule.axis))
    if schedule.peak_lr is None and opts.lr is not None:
        schedule = schedule.with_(peak_lr=opts.lr)
    return Loaded(schedule, "json", str(path) if path else "IR JSON")


def write(schedule, opts):
    yield Candidate(irjson.dumps(schedule), "json")


FORMAT = Format("json", "lrplan IR JSON (native, versioned)", title="lrplan IR JSON", detect=detect, read=read,
                write=write, suffix=".json")
