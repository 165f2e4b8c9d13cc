"""The schedule IR: framework-neutral, frozen, validated on construction.

A :class:`Schedule` is an LR :class:`Curve` (contiguous :class:`Segment` pieces on a position axis),
an optional peak LR (without it every level is a multiplier of 1.0), the planned length, the
:class:`Axis` that maps optimizer steps to positions (steps, samples or tokens, through a batch-size
schedule), optional companion curves for weight decay, momentum and extra LR groups, and an optional
``scale`` curve that multiplies the LR curve (relative levels; None is a scale of 1 everywhere).

Step convention (design.md): step ``k`` is the 0-based index of an optimizer update and the curve's
value at position ``x(k)`` is the LR that update uses. Readers translate each framework's counting
into this; the IR never names a framework.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ScheduleError
from .shapes import SHAPES

AFTER_POLICIES = ("hold", "continue", "periodic")
_LABEL = re.compile(r"[A-Za-z0-9_.-]*")
UNITS = ("steps", "samples", "tokens")


def _finite(name: str, value: float, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ScheduleError(f"{name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class Level:
    """A level of the curve: a ratio of the peak LR, or an absolute LR."""

    value: float
    absolute: bool = False

    def __post_init__(self) -> None:
        _finite("level", self.value)
        if self.value < 0:
            raise ScheduleError(f"a level cannot be negative, got {self.value!r}")

    def resolve(self, peak: float) -> float:
        return self.value if self.absolute else self.value * peak


ZERO = Level(0.0)
ONE = Level(1.0)


@dataclass(frozen=True)
class Segment:
    """One piece of a curve on ``[start, end)``; ``end`` is None only for an open last piece."""

    kind: str
    start: float
    end: float | None
    a: Level
    b: Level = ZERO
    params: tuple[tuple[str, Any], ...] = ()
    origin: float | None = None  # tau = x - origin; defaults to start
    span: float | None = None  # p = tau / span; defaults to end - start
    label: str = ""  # phase name for tables and hover text ("warmup", "decay", ...)

    def __post_init__(self) -> None:
        if self.kind not in SHAPES:
            raise ScheduleError(f"unknown shape {self.kind!r}")
        if not _LABEL.fullmatch(self.label):
            raise ScheduleError(f"a segment label is a word of letters, digits, '_', '-', '.', got {self.label!r}")
        _finite("segment start", self.start)
        _finite("segment end", self.end, allow_none=True)
        if self.end is not None and not self.end > self.start:
            raise ScheduleError(f"segment {self.kind!r} has end {self.end!r} not after its start {self.start!r}")
        _finite("segment origin", self.origin, allow_none=True)
        _finite("segment span", self.span, allow_none=True)
        if self.span is not None and self.span <= 0:
            raise ScheduleError(f"segment {self.kind!r} needs a positive span, got {self.span!r}")
        if self.span is None and self.end is None and self.kind in _NEEDS_SPAN:
            raise ScheduleError(f"an open-ended {self.kind!r} segment needs a span (its length)")
        # Fill defaults so that equal schedules compare equal however they were written.
        sdef = SHAPES[self.kind]
        if not sdef.uses_to and self.b != Level(0.0, self.a.absolute):
            object.__setattr__(self, "b", Level(0.0, self.a.absolute))  # unused by this shape
        given = dict(self.params)
        unknown = set(given) - {p.name for p in sdef.params}
        if unknown:
            raise ScheduleError(f"shape {self.kind!r} has no parameter {sorted(unknown)[0]!r}")
        full = sdef.defaults() | given
        for p in sdef.params:
            v = full[p.name]
            if p.kind == "floats":
                v = tuple(float(x) for x in v)
                full[p.name] = v
            elif p.kind == "float":
                _finite(f"{self.kind} {p.name}", v)
                full[p.name] = v = float(v)
            if p.check is not None and (problem := p.check(v)):
                raise ScheduleError(f"{self.kind} {p.name} {problem}, got {v!r}")
        if self.kind == "multistep":
            ms, gs = full["milestones"], full["gammas"]
            if not ms or len(ms) != len(gs):
                raise ScheduleError("multistep needs at least one milestone and one gamma per milestone")
            if list(ms) != sorted(ms) or any(m < 0 for m in ms):
                raise ScheduleError("multistep milestones must be non-negative and increasing")
            if any(not math.isfinite(g) or g < 0 for g in gs):
                raise ScheduleError("multistep gammas must be finite and non-negative")
        if self.kind == "log" and self.span_value < 2:
            raise ScheduleError("a log ramp needs a span of at least 2 (log(1) is 0)")
        object.__setattr__(self, "params", tuple(sorted(full.items())))
        # Canonical form: an origin at the start or a span equal to the length is the default, not a value.
        if self.origin is not None and self.origin == self.start:
            object.__setattr__(self, "origin", None)
        if self.span is not None and self.end is not None and self.span == self.end - self.start:
            object.__setattr__(self, "span", None)

    def param(self, name: str) -> Any:
        return dict(self.params)[name]

    def length(self) -> float | None:
        return None if self.end is None else self.end - self.start

    @property
    def tau0(self) -> float:
        return self.start if self.origin is None else self.origin

    @property
    def span_value(self) -> float:
        if self.span is not None:
            return self.span
        length = self.length()
        return 1.0 if length is None else length


_NEEDS_SPAN = {"linear", "cosine", "poly", "1-sqrt", "exp-anneal", "log", "rex", "quadratic"}


@dataclass(frozen=True)
class Curve:
    """Contiguous segments from position 0, plus what happens after the last one ends."""

    segments: tuple[Segment, ...]
    after: str = "hold"

    def __post_init__(self) -> None:
        if not self.segments:
            raise ScheduleError("a curve needs at least one segment")
        if self.after not in AFTER_POLICIES:
            raise ScheduleError(f"after must be one of {', '.join(AFTER_POLICIES)}, got {self.after!r}")
        if self.segments[0].start != 0:
            raise ScheduleError("the first segment must start at position 0")
        for prev, nxt in zip(self.segments, self.segments[1:]):
            if prev.end is None:
                raise ScheduleError(f"segment {prev.kind!r} is open-ended but is not the last one")
            if nxt.start != prev.end:
                raise ScheduleError(f"segments must be contiguous: {prev.end!r} then {nxt.start!r}")
        if self.after == "periodic" and self.segments[-1].end is None:
            raise ScheduleError("a periodic curve needs a last segment with an end")

    @property
    def end(self) -> float | None:
        return self.segments[-1].end

    def boundaries(self) -> list[float]:
        out = [s.start for s in self.segments]
        if self.end is not None:
            out.append(self.end)
        return out


# ---- axis and batch-size schedules ------------------------------------------------------------


@dataclass(frozen=True)
class ConstantBatch:
    """The same global batch size at every step."""

    size: int

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size <= 0:
            raise ScheduleError(f"batch size must be a positive integer, got {self.size!r}")


@dataclass(frozen=True)
class RampupBatch:
    """Megatron ``--rampup-batch-size START INCR SAMPLES`` towards ``final``."""

    start: int
    increment: int
    ramp_samples: int
    final: int

    def __post_init__(self) -> None:
        for name in ("start", "increment", "final"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ScheduleError(f"rampup {name} must be a positive integer, got {v!r}")
        if not isinstance(self.ramp_samples, int) or self.ramp_samples <= 0:
            # Megatron divides by samples-per-increment, so a zero-sample ramp fails there too.
            raise ScheduleError(f"rampup samples must be a positive integer, got {self.ramp_samples!r}")
        diff = self.final - self.start
        if diff <= 0 or diff % self.increment:
            raise ScheduleError(
                f"rampup: final batch {self.final} minus start {self.start} must be a positive multiple"
                f" of the increment {self.increment}"
            )


@dataclass(frozen=True)
class StepBatch:
    """Batch size by consumed samples: ``((threshold_samples, size), ...)``, first threshold 0."""

    entries: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.entries or self.entries[0][0] != 0:
            raise ScheduleError("a step batch schedule must start at threshold 0")
        last = -1
        for thr, size in self.entries:
            if not isinstance(thr, int) or thr <= last:
                raise ScheduleError("step batch thresholds must be increasing integers")
            if not isinstance(size, int) or size <= 0:
                raise ScheduleError(f"step batch sizes must be positive integers, got {size!r}")
            last = thr


BatchSchedule = ConstantBatch | RampupBatch | StepBatch


@dataclass(frozen=True)
class Axis:
    """Where positions live: optimizer steps, or samples/tokens consumed before the step."""

    unit: str = "steps"
    batch: BatchSchedule | None = None  # samples per step
    seq_len: int | None = None  # tokens per sample

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ScheduleError(f"axis unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.unit in ("samples", "tokens") and self.batch is None:
            raise ScheduleError(f"a schedule on {self.unit} needs a batch size (samples per step)")
        if self.unit == "tokens" and self.seq_len is None:
            raise ScheduleError("a schedule on tokens needs a sequence length (tokens per sample)")
        if self.seq_len is not None and (not isinstance(self.seq_len, int) or self.seq_len <= 0):
            raise ScheduleError(f"sequence length must be a positive integer, got {self.seq_len!r}")


@dataclass(frozen=True)
class Schedule:
    """The schedule IR: the LR curve, its peak, planned length, axis and companion curves."""

    lr: Curve
    peak_lr: float | None = None
    total: float | None = None  # planned length, in axis units
    axis: Axis = field(default_factory=Axis)
    weight_decay: Curve | None = None  # absolute levels
    momentum: Curve | None = None  # absolute levels
    groups: tuple[tuple[str, Curve], ...] = ()  # extra LR curves (absolute levels), e.g. embeddings
    scale: Curve | None = None  # a multiplier of the LR curve (relative levels), e.g. per-restart ramps

    def __post_init__(self) -> None:
        _finite("peak LR", self.peak_lr, allow_none=True)
        if self.peak_lr is not None and self.peak_lr <= 0:
            raise ScheduleError(f"the peak LR must be positive, got {self.peak_lr!r}")
        _finite("total", self.total, allow_none=True)
        if self.total is not None and self.total <= 0:
            raise ScheduleError(f"the total length must be positive, got {self.total!r}")
        for seg in self.lr.segments:
            if self.total is not None and seg.label == "warmup" and (seg.end is None or seg.end > self.total):
                raise ScheduleError(f"the warmup ends at {seg.end:g} but the schedule is only {self.total:g} long"
                                    if seg.end is not None else "the warmup never ends",
                                    hint="shorten the warmup or raise the total (--steps)")
        absolute = any(lv.absolute for s in self.lr.segments for lv in (s.a, s.b))
        if absolute and self.peak_lr is None:
            raise ScheduleError("the schedule has absolute LR levels but no peak LR", hint="pass --lr PEAK")
        for curve in (self.weight_decay, self.momentum, *(c for _, c in self.groups)):
            if curve is not None and any(not lv.absolute for s in curve.segments for lv in (s.a, s.b)):
                raise ScheduleError("companion curves (weight decay, momentum, groups) take absolute levels")
        if self.scale is not None and any(lv.absolute for s in self.scale.segments for lv in (s.a, s.b)):
            raise ScheduleError("the LR scale curve is a multiplier: it takes relative levels, not absolute LRs")

    @property
    def peak(self) -> float:
        return 1.0 if self.peak_lr is None else self.peak_lr

    def with_(self, **changes) -> "Schedule":
        return replace(self, **changes)


def phase_label(seg: Segment) -> str:
    return seg.label or seg.kind
