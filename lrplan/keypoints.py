"""Which steps a table shows, and the rows: step, LR, phase, and the axis position."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from .batch import position, step_of_position
from .errors import LrplanError
from .ir import Axis, Schedule, phase_label
from .ops import math_ops, numpy_ops
from .quantity import QuantityError, parse_quantity


@dataclass(frozen=True)
class Point:
    """A key point of a schedule: a step, its LR and what happens there."""

    step: int
    lr: float
    phase: str
    note: str = ""
    position: float | None = None  # samples or tokens before the step, when the axis is not steps


def total_steps(s: Schedule) -> int | None:
    """The planned number of optimizer steps, if known."""
    if s.total is None:
        return None
    return int(math.ceil(step_of_position(s.axis, s.total)))


def boundary_steps(s: Schedule, curve=None) -> list[int]:
    """First step of every segment after the first (and the step before it), and the end."""
    c = s.lr if curve is None else curve
    out = []
    for x in c.boundaries()[1:]:
        k = int(math.ceil(step_of_position(s.axis, x)))
        out.extend([k - 1, k])
    return sorted({k for k in out if k >= 0})


def phase_at(s: Schedule, step: float, starts: list[float] | None = None) -> str:
    """The label of the phase ``step`` falls in (``starts``: the segments' starts, to reuse across calls)."""
    x = position(s.axis, float(step), math_ops)
    if s.lr.end is not None and x >= s.lr.end:
        return "after end" if s.lr.after == "hold" else s.lr.after
    if starts is None:
        starts = [seg.start for seg in s.lr.segments]
    i = bisect.bisect_right(starts, x) - 1  # the last segment starting at or before x
    return phase_label(s.lr.segments[i]) if i >= 0 else ""


SCALE_KEY_POINTS = 24  # a scale curve with at most this many pieces gets a key point at each


def key_steps(s: Schedule) -> list[tuple[int, str]]:
    """Start, the first step of every phase (and the last of the one before), 25/50/75/90 %, end."""
    out: list[tuple[int, str]] = [(0, "start")]
    for prev, seg in zip(s.lr.segments, s.lr.segments[1:]):
        k = int(math.ceil(step_of_position(s.axis, seg.start)))
        if k > 0:
            out.append((k - 1, f"last {phase_label(prev)} step"))
        out.append((k, f"{phase_label(seg)} starts"))
    scale = s.scale.segments if s.scale is not None else ()
    if len(scale) <= SCALE_KEY_POINTS:  # the multiplier's own changes (restart ramps); a long periodic one is
        for seg in scale[1:]:  # shown by the curve, not by a key point per period
            k = int(math.ceil(step_of_position(s.axis, seg.start)))
            out.append((k, f"scale {phase_label(seg)} starts"))
    n = total_steps(s)
    if n is None:
        end = s.lr.end
        if end is not None:
            k = int(math.ceil(step_of_position(s.axis, end)))
            out += [(k - 1, "last scheduled step"), (k, "after the schedule")]
        return _unique(out)
    for pct in (25, 50, 75, 90):
        out.append((n * pct // 100, f"{pct}%"))
    out.append((n - 1, "last step"))
    out.append((n, "after the end"))
    return _unique(out)


def _unique(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    seen: dict[int, str] = {}
    for k, note in rows:
        if k < 0:
            continue
        seen[k] = f"{seen[k]}; {note}" if k in seen else note
    return sorted(seen.items())


def parse_steps(text: str, s: Schedule, *, what: str = "--at") -> list[int]:
    """``0,1,500,10%,1.5M`` -> step numbers."""
    out = []
    for part in text.split(","):
        out.append(parse_step(part.strip(), s, what=what))
    return out


def parse_step(text: str, s: Schedule, *, what: str = "STEP") -> int:
    try:
        q = parse_quantity(text)
        if q.unit == "%":
            n = total_steps(s)
            if n is None:
                raise QuantityError("a percentage needs the total (pass --steps)")
            v = n * q.value / 100
        elif q.unit in ("tok", "samples"):
            if s.axis.batch is None:
                raise QuantityError(f"a step in {q.unit} needs the batch size (gbs=) in the schedule")
            if q.unit == "tok" and s.axis.seq_len is None:
                raise QuantityError("a step in tokens needs the sequence length (seq=) in the schedule")
            samples = q.value if q.unit == "samples" else q.value / s.axis.seq_len
            # the step during which that many samples have been consumed (a whole step or an error below)
            v = step_of_position(Axis("samples", s.axis.batch), float(samples))
        else:
            v = q.value
    except QuantityError as e:
        raise LrplanError(f"{what}: {e}") from None
    if v != int(v):
        raise LrplanError(f"{what}: {text} is not a whole step ({float(v)!r})")
    return int(v)


def points(s: Schedule, steps: list[int], notes: dict[int, str] | None = None) -> list[Point]:
    from .evaluate import lr

    ops = numpy_ops()
    values = lr(s, steps) if steps else []
    pos = position(s.axis, ops.asarray(steps), ops) if s.axis.unit != "steps" and steps else None
    out = []
    starts = [seg.start for seg in s.lr.segments]
    for i, k in enumerate(steps):
        out.append(Point(k, float(values[i]), phase_at(s, k, starts), (notes or {}).get(k, ""),
                         None if pos is None else float(pos[i])))
    return out



def framework_step(loaded, k: int) -> str | None:
    """What the source's framework calls update ``k`` ("Megatron logs this LR at iteration 5 ..."); past
    the run's last step, that the run never takes it (a framework's counter says nothing there)."""
    if loaded.step_name is None:
        return None
    n = total_steps(loaded.schedule)
    if n is not None and k >= n:
        return f"after the run's last step ({n - 1:,}): {loaded.format} never runs it"
    return loaded.step_name(k)


def named(pts: list[Point], loaded) -> list[Point]:
    """The points with what the framework itself calls each step appended to their notes."""
    if loaded.step_name is None:
        return pts
    return [Point(p.step, p.lr, p.phase, (p.note + "; " if p.note else "") + framework_step(loaded, p.step),
                  p.position) for p in pts]


def key_points(loaded) -> list[Point]:
    """The key points of a loaded source, each named in its framework's own step counting."""
    s = loaded.schedule
    rows = key_steps(s)
    return named(points(s, [k for k, _ in rows], dict(rows)), loaded)


def at_step_point(loaded, step_text: str) -> dict:
    """``at-step STEP SOURCE`` for a schedule: the LR, the phase, the fraction of the run."""
    from .evaluate import lr_at

    s = loaded.schedule
    k = parse_step(step_text, s)
    if k < 0:
        raise LrplanError("steps are 0-based and cannot be negative")
    n = total_steps(s)
    out = {"step": k, "lr": lr_at(s, k), "phase": phase_at(s, k), "peak_lr": s.peak_lr,
           "fraction": None if not n else k / n, "multiplier": s.peak_lr is None, "total_steps": n}
    comps = companions_at(s, k)
    if comps:
        out["companions"] = comps
    if loaded.step_name:
        out["framework_step"] = framework_step(loaded, k)
    return out


def companions_at(s: Schedule, k: int) -> dict[str, float]:
    """Weight decay, momentum and LR-group values update ``k`` uses (only the curves the schedule has)."""
    from .evaluate import companion_values

    names = [n for n in ("weight_decay", "momentum") if getattr(s, n) is not None] + [g for g, _ in s.groups]
    return {n if n in ("weight_decay", "momentum") else f"lr[{n}]": float(companion_values(s, n, [k])[0])
            for n in names}


MAX_TABLE_ROWS = 100_000_000  # a table is streamed, so only the disk it fills bounds it; this stops typos


def table_steps(s: Schedule, at: str | None, every: str | None,
                extra: dict[int, str] | None = None) -> tuple[list[int], dict[int, str]]:
    """The steps a table shows (``--at``, ``--every`` or the key points, with ``extra`` ones such as a
    checkpoint's next update) and the notes of each."""
    if at is not None:
        chosen, notes = parse_steps(at, s), {}
    elif every is not None:
        step = parse_step(every, s, what="--every")
        n = total_steps(s)
        if step <= 0:
            raise LrplanError("--every must be a positive number of steps")
        if n is None:
            raise LrplanError("--every needs the total (pass --steps)")
        if n // step > MAX_TABLE_ROWS:
            raise LrplanError(f"--every {every} would print {n // step:,} rows (at most {MAX_TABLE_ROWS:,})",
                              hint="choose a larger step")
        chosen, notes = range(0, n + 1, step), {}
    else:
        rows = _unique(key_steps(s) + sorted((extra or {}).items()))
        chosen, notes = [k for k, _ in rows], dict(rows)
    if any(k < 0 for k in chosen):
        raise LrplanError("steps are 0-based and cannot be negative")
    return chosen, notes


def shown_until(schedules, until: str | None, at_least: int = 0) -> int:
    """The last step a plot shows: ``--until``, else the longest run (or twice the last boundary), and
    at least ``at_least`` (a checkpoint's position, so the part of the run already done shows)."""
    if until is not None:
        k = parse_step(until, schedules[0], what="--until")
        if k <= 0:
            raise LrplanError("--until must be a positive step")
        return k
    ends = []
    for s in schedules:
        n = total_steps(s)
        if n is None:
            b = boundary_steps(s)
            n = (b[-1] if b else 0) * 2 or 1000
        ends.append(n)
    return max(max(ends), int(at_least * 1.25))
