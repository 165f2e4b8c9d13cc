"""The IR's native, versioned JSON form (``convert --to json``; read back as any SOURCE).

Floats are written with ``repr`` (Python's json does), so every value reads back bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import LrplanError, ScheduleError
from .ir import Axis, ConstantBatch, Curve, Level, RampupBatch, Schedule, Segment, StepBatch

FORMAT_KEY = "lrplan_ir"
VERSION = 1


def _level(lv: Level) -> dict:
    return {"value": lv.value, "absolute": lv.absolute}


def _segment(s: Segment) -> dict:
    out: dict[str, Any] = {"kind": s.kind, "start": s.start, "end": s.end, "a": _level(s.a), "b": _level(s.b)}
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in s.params}
    if params:
        out["params"] = params
    for key in ("origin", "span"):
        if getattr(s, key) is not None:
            out[key] = getattr(s, key)
    if s.label:
        out["label"] = s.label
    return out


def _curve(c: Curve | None) -> dict | None:
    if c is None:
        return None
    return {"after": c.after, "segments": [_segment(s) for s in c.segments]}


def _batch(b) -> dict | None:
    if b is None:
        return None
    if isinstance(b, ConstantBatch):
        return {"kind": "constant", "size": b.size}
    if isinstance(b, RampupBatch):
        return {"kind": "rampup", "start": b.start, "increment": b.increment, "ramp_samples": b.ramp_samples,
                "final": b.final}
    return {"kind": "step", "entries": [list(e) for e in b.entries]}


def to_dict(s: Schedule) -> dict:
    out = {
        FORMAT_KEY: VERSION,
        "peak_lr": s.peak_lr,
        "total": s.total,
        "axis": {"unit": s.axis.unit, "batch": _batch(s.axis.batch), "seq_len": s.axis.seq_len},
        "lr": _curve(s.lr),
        "weight_decay": _curve(s.weight_decay),
        "momentum": _curve(s.momentum),
        "groups": [{"name": n, "curve": _curve(c)} for n, c in s.groups],
    }
    if s.scale is not None:  # written only when set: every schedule without one keeps its JSON
        out["scale"] = _curve(s.scale)
    return out


def dumps(s: Schedule) -> str:
    return json.dumps(to_dict(s), indent=2, allow_nan=False) + "\n"


def _req(d: dict, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise ScheduleError(f"missing {key!r}", where=where)
    return d[key]


def _read_level(d, where) -> Level:
    return Level(_req(d, "value", where), bool(d.get("absolute", False)))


def _read_curve(d, where) -> Curve | None:
    if d is None:
        return None
    segs = []
    for i, sd in enumerate(_req(d, "segments", where)):
        w = f"{where}.segments[{i}]"
        params = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in (sd.get("params") or {}).items())
        segs.append(Segment(_req(sd, "kind", w), _req(sd, "start", w), sd.get("end"), _read_level(_req(sd, "a", w), w),
                            _read_level(sd.get("b", {"value": 0.0}), w), params, sd.get("origin"), sd.get("span"),
                            sd.get("label", "")))
    return Curve(tuple(segs), d.get("after", "hold"))


def _read_batch(d):
    if d is None:
        return None
    kind = d.get("kind")
    if kind == "constant":
        return ConstantBatch(d["size"])
    if kind == "rampup":
        return RampupBatch(d["start"], d["increment"], d["ramp_samples"], d["final"])
    if kind == "step":
        return StepBatch(tuple((int(t), int(s)) for t, s in d["entries"]))
    raise ScheduleError(f"unknown batch kind {kind!r}", where="axis.batch")


def from_dict(d: dict) -> Schedule:
    version = d.get(FORMAT_KEY)
    if version != VERSION:
        raise ScheduleError(f"unsupported lrplan IR version {version!r} (this lrplan reads {VERSION})")
    try:
        ax = d.get("axis") or {}
        axis = Axis(ax.get("unit", "steps"), _read_batch(ax.get("batch")), ax.get("seq_len"))
        groups = tuple((g["name"], _read_curve(g["curve"], f"groups.{g['name']}")) for g in d.get("groups") or [])
        return Schedule(lr=_read_curve(_req(d, "lr", "IR"), "lr"), peak_lr=d.get("peak_lr"), total=d.get("total"),
                        axis=axis, weight_decay=_read_curve(d.get("weight_decay"), "weight_decay"),
                        momentum=_read_curve(d.get("momentum"), "momentum"), groups=groups,
                        scale=_read_curve(d.get("scale"), "scale"))
    except LrplanError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ScheduleError(f"malformed lrplan IR: {e}") from None


def loads(text: str) -> Schedule:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScheduleError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return from_dict(d)
