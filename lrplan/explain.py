"""``lrplan explain``: a schedule in plain words, plus its key-point table.

What it says: the run (steps, samples, tokens), the peak and the floor, each phase with its shape and
its length in steps, tokens and percent of the run, and the framework conventions that apply (first
update at LR 0, log warmup, counting in samples, per-group floors, what happens after the end). The
reader's own notes (``Loaded.notes``: which setting won, defaults filled) come first among those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .batch import position, step_of_position
from .evaluate import curve_value, lr_at
from .ir import Axis, ConstantBatch, RampupBatch, Schedule, Segment, StepBatch, phase_label
from .keypoints import total_steps
from .ops import math_ops
from .shapes import SHAPES

OTHER_NAMES = {"preset": "an lrplan preset", "checkpoint": "a checkpoint"}


def format_title(fmt: str) -> str:
    """How a source format is named in words: the dialect's own title (Format.title)."""
    from . import frameworks

    if fmt in frameworks.MODULES:
        return frameworks.get(fmt).title or fmt
    return OTHER_NAMES.get(fmt, fmt)

SHAPE_WORDS = {
    "constant": "holds {a}",
    "linear": "goes linearly from {a} to {b}",
    "cosine": "follows a cosine from {a} to {b}",
    "poly": "decays polynomially (power {power:g}) from {a} to {b}",
    "1-sqrt": "follows 1 - sqrt(p) from {a} to {b}",
    "exp-anneal": "anneals exponentially (Megatron WSD 'exponential') from {a} to {b}",
    "log": "rises along a log curve, log(k+1)/log(W), from {a} to {b}",
    "exp": "decays exponentially from {a}, x{rate:g} every {every:g} positions, not below {b}",
    "invsqrt": "decays as 1/sqrt from {a} (timescale {timescale:g}), not below {b}",
    "multistep": "starts at {a} and is multiplied by {gammas} at {milestones} positions into the phase",
    "restarts": "repeats a cosine from {a} to {b} every {cycle:g} positions (x{mult:g} longer each time)",
    "cyclic": "cycles between {a} and {b} ({up:g} up, {down:g} down, {mode})",
    "inverse-time": "decays as {a} / (1 + {rate:g} t / {every:g})",
    "rex": "decays along REX, z / (0.1 + 0.9 z) with z = 1 - p (axolotl's RexLR), from {a} to {b}",
    "quadratic": "rises quadratically, p^2, from {a} to {b}",
    "swa": ("is SWA (torch SWALR): anneals from {a} to swa_lr {b} over {anneal:g} SWALR steps ({strategy}, one every"
            " {every:g} position(s)), then holds it; the weights are averaged over this phase (AveragedModel."
            "update_parameters at each SWALR step)"),
    "schedulefree": ("is a Schedule-Free optimizer's own LR ({variant}): {a} after a warmup_steps={warmup:g} ramp"
                     " ((k+1)/warmup_steps), no decay; it averages its iterates with weights c_(k+1) proportional to"
                     " (k+1)^{r:g} * lr_max^{power:g} (see lrplan convert --to schedulefree)"),
}


@dataclass
class Phase:
    name: str
    words: str
    first_step: int
    end_step: int | None  # first step of the next phase
    steps: int | None
    tokens: float | None
    percent: float | None


@dataclass
class Explanation:
    label: str
    format: str
    summary: list[str] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    conventions: list[str] = field(default_factory=list)
    companions: dict[str, list[Phase]] = field(default_factory=dict)  # weight decay, momentum, LR groups


def explain(loaded) -> Explanation:
    s: Schedule = loaded.schedule
    ex = Explanation(loaded.label, loaded.format)
    n = total_steps(s)
    ex.summary = _summary(s, n, loaded.format)
    ex.phases = [_phase(s, seg, n) for seg in s.lr.segments]
    named = [("weight decay", s.weight_decay), ("momentum", s.momentum)] + [(f"LR of group {g}", c) for g, c in s.groups]
    ex.companions = {name: [_phase(s, seg, n, level=_plain) for seg in c.segments] for name, c in named if c is not None}
    ex.conventions = list(loaded.notes) + [c for c in _conventions(s, n) if not _said(c, loaded.notes)]
    return ex


SAME_FACT = {"The first update": "first update", "The warmup is log-shaped": "log"}


def _said(convention: str, notes) -> bool:
    """True when the reader's notes already state this convention (keep the reader's wording)."""
    return any(convention.startswith(head) and any(word in n for n in notes) for head, word in SAME_FACT.items())


def _level(v: float, s: Schedule) -> str:
    if s.peak_lr is None:
        return f"{v:.4g} x peak"
    return f"{v:.4g} ({100 * v / s.peak_lr:.3g}% of peak)"


def _tokens(s: Schedule, step: float) -> float | None:
    if s.axis.batch is None or s.axis.seq_len is None:
        return None
    return float(position(Axis("tokens", s.axis.batch, s.axis.seq_len), float(step), math_ops))


def _samples(s: Schedule, step: float) -> float | None:
    if s.axis.batch is None:
        return None
    return float(position(Axis("samples", s.axis.batch), float(step), math_ops))


def _count(x: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            v = x / div
            return (f"{v:.0f}" if v == int(v) else f"{v:.4g}") + suf
    return f"{x:.0f}" if x == int(x) else f"{x:.4g}"


def _summary(s: Schedule, n: int | None, fmt: str) -> list[str]:
    where = format_title(fmt)
    out = [f"Read from {where}."]
    if n is None:
        out.append("The run length is not known (pass --steps to see lengths in percent).")
    else:
        run = f"The run has {n:,} optimizer steps"
        tok, smp = _tokens(s, n), _samples(s, n)
        if smp is not None:
            run += f" ({_count(smp)} samples" + (f", {_count(tok)} tokens)" if tok is not None else ")")
        out.append(run + ".")
    if s.peak_lr is None:
        out.append("No peak LR is given: values are multipliers of the peak (pass --lr for LRs).")
    else:
        out.append(f"Peak LR {s.peak_lr:.4g}.")
    if n is not None:
        last = lr_at(s, n - 1)
        lo = min(lr_at(s, k) for k in _probe_steps(s, n))
        out.append(f"Floor: the last step (step {n - 1:,}) uses {_level(last, s)}"
                   + (f"; the lowest LR after the warmup is {_level(lo, s)}." if lo < last else "."))
    return out


def _probe_steps(s: Schedule, n: int) -> list[int]:
    """Steps where a minimum can sit: phase boundaries (and the step before each) and the end."""
    ks = {n - 1}
    for seg in s.lr.segments[1:]:
        k = int(math.ceil(step_of_position(s.axis, seg.start)))
        ks.update({max(k - 1, 0), k})
    return sorted(k for k in ks if 0 < k < n)


def _plain(v: float, s: Schedule) -> str:
    return f"{v:.4g}"  # a companion curve's levels are absolute values (weight decay, momentum)


def _phase(s: Schedule, seg: Segment, n: int | None, level=_level) -> Phase:
    peak = s.peak
    a, b = seg.a.resolve(peak), seg.b.resolve(peak)
    params = dict(seg.params)
    fmt = {"a": level(a, s), "b": level(b, s)}
    fmt.update({k: v for k, v in params.items() if not isinstance(v, tuple)})
    if seg.kind == "multistep":
        fmt["gammas"] = ", ".join(f"{g:g}" for g in params["gammas"])
        fmt["milestones"] = ", ".join(_count(m) for m in params["milestones"])
    words = SHAPE_WORDS[seg.kind].format(**fmt)
    if seg.kind == "cosine" and params.get("cycles", 0.5) != 0.5:
        words += f" ({params['cycles']:g} cycles)"
    if seg.origin is not None or seg.span is not None:
        words += f"; its formula counts from position {_count(seg.tau0)} over {_count(seg.span_value)}"
    k0 = int(math.ceil(step_of_position(s.axis, seg.start)))
    k1 = None if seg.end is None else int(math.ceil(step_of_position(s.axis, seg.end)))
    if k1 is not None and n is not None and k1 > n:
        if k1 > n + 1 or seg.end > (s.total or math.inf):  # the run stops before the phase does
            words += "; the run ends before this phase does"
        k1 = n
    steps = None if k1 is None else k1 - k0
    tokens = None
    if k1 is not None:
        t0, t1 = _tokens(s, k0), _tokens(s, k1)
        tokens = None if t0 is None else t1 - t0
    pct = None if (steps is None or not n) else 100 * steps / n
    return Phase(phase_label(seg), words, k0, k1, steps, tokens, pct)


def _conventions(s: Schedule, n: int | None) -> list[str]:
    out = []
    if n is None or n > 1:
        if lr_at(s, 0) == 0.0:
            out.append("The first update (step 0) runs at LR 0: it only warms up the optimizer state.")
    if any(seg.kind == "log" for seg in s.lr.segments):
        out.append("The warmup is log-shaped (DeepSpeed's default warmup_type): most of the rise happens in"
                   " the first few steps.")
    out += _axis_words(s)
    if s.scale is not None:
        levels = [lv.value for seg in s.scale.segments for lv in (seg.a, seg.b)
                  if SHAPES[seg.kind].uses_to or lv is seg.a]
        out.append(f"A multiplier applies: each step's LR is the phases' LR times a scale curve of "
                   f"{len(s.scale.segments):,} pieces between {min(levels):.4g} and {max(levels):.4g} (the phases "
                   "above are before it).")
    for name, curve in s.groups:
        floor = curve_value(curve, s.peak, curve.end if curve.end is not None else 0.0)
        out.append(f"Parameter group {name!r} has its own curve (absolute LRs) ending at {floor:.4g}.")
    if s.lr.after == "hold" and s.lr.end is not None and s.total is not None and s.lr.end < s.total:
        k = int(math.ceil(step_of_position(s.axis, s.lr.end)))
        out.append(f"After the last phase ends (step {k:,}) the LR holds its final value.")
    elif s.lr.after == "continue":
        out.append("After the last phase ends, its formula keeps running.")
    elif s.lr.after == "periodic":
        out.append("The whole curve repeats periodically.")
    return out


def _axis_words(s: Schedule) -> list[str]:
    ax = s.axis
    out = []
    if ax.unit != "steps":
        out.append(f"The schedule counts {ax.unit}, not steps: the LR of step k is the curve at the {ax.unit}"
                   " consumed before step k.")
    if isinstance(ax.batch, RampupBatch):
        b = ax.batch
        out.append(f"The global batch ramps up from {b.start} by {b.increment} over {_count(b.ramp_samples)}"
                   f" samples to {b.final}.")
    elif isinstance(ax.batch, StepBatch):
        steps = ", ".join(f"{_count(t)} samples: {size}" for t, size in ax.batch.entries)
        out.append(f"The global batch follows a step schedule ({steps}).")
    elif isinstance(ax.batch, ConstantBatch) and ax.unit != "steps":
        out.append(f"The global batch is {ax.batch.size} samples per step.")
    return out


def as_text(ex: Explanation) -> str:
    lines = [f"{ex.label}", ""]
    lines += ex.summary
    lines += ["", "Phases:"]
    for i, ph in enumerate(ex.phases, 1):
        span = f"steps {ph.first_step:,}" + ("" if ph.end_step is None else f"-{ph.end_step - 1:,}")
        size = []
        if ph.steps is not None:
            size.append(f"{ph.steps:,} steps")
        if ph.tokens is not None:
            size.append(f"{_count(ph.tokens)} tokens")
        if ph.percent is not None:
            size.append(f"{ph.percent:.3g}% of the run")
        tail = f" ({', '.join(size)})" if size else " (open-ended)"
        lines.append(f"  {i}. {ph.name}, {span}{tail}: {ph.words}.")
    for name, phases in ex.companions.items():
        lines += ["", f"{name[0].upper() + name[1:]} (a companion curve, on the same steps):"]
        for ph in phases:
            span = f"steps {ph.first_step:,}" + ("" if ph.end_step is None else f"-{ph.end_step - 1:,}")
            lines.append(f"  - {span}: {ph.words}.")
    if ex.conventions:
        lines += ["", "Conventions that apply:"]
        lines += [f"  - {c}" for c in ex.conventions]
    return "\n".join(lines) + "\n"


def as_dict(ex: Explanation) -> dict:
    return {"source": ex.label, "format": ex.format, "summary": ex.summary,
            "phases": [ph.__dict__ for ph in ex.phases], "conventions": ex.conventions,
            "companions": {name: [ph.__dict__ for ph in phases] for name, phases in ex.companions.items()}}
