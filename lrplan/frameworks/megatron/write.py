"""Schedule IR -> Megatron-LM flags (``convert --to megatron``).

Recognise, then let the gate verify: the IR is matched against the shapes Megatron's
``OptimizerParamScheduler`` can produce (linear warmup from --lr-warmup-init to --lr, then constant /
linear / cosine / inverse-square-root / WSD to --min-lr) and the flags are proposed as candidates;
lrplan.convert reads each back with the Megatron reader and compares both curves at every step of the
run. When no candidate is exact, the nearest flags (one per decay style) follow as ``--approx`` forms.

Mode: iteration flags for a schedule on optimizer steps (the LR per iteration does not depend on the
global batch size then, so --global-batch-size is left to the user) and for a samples axis with one
batch size when every boundary is a whole number of iterations; sample flags otherwise.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

from ...errors import InexpressibleError, LrplanError
from ...ir import ONE, ConstantBatch, Curve, Level, RampupBatch, Schedule, Segment, StepBatch
from ..base import Candidate, ReadOptions
from .tables import FLAG_OF_DEST, SHAPE_WSD

ORDER = ("train_iters", "train_samples", "global_batch_size", "rampup_batch_size", "step_batch_size_schedule",
         "seq_length", "lr", "min_lr", "lr_decay_style", "lr_decay_iters", "lr_decay_samples",
         "lr_wsd_decay_style", "lr_wsd_decay_iters", "lr_wsd_decay_samples", "lr_warmup_iters",
         "lr_warmup_samples", "lr_warmup_fraction", "lr_warmup_init", "decoupled_lr", "decoupled_min_lr",
         "weight_decay", "start_weight_decay", "end_weight_decay", "weight_decay_incr_style")


@dataclass(frozen=True)
class Target:
    iteration_mode: bool
    scale: float  # IR positions per Megatron unit (iterations or samples)
    steps: int  # optimizer steps in the run
    total: float  # run length in Megatron units


def _is_int(x: float) -> bool:
    return x is not None and float(x).is_integer()


def targets(s: Schedule) -> list[Target]:
    """Modes to try, preferred first: iterations when the batch is constant, else samples."""
    from ...batch import step_of_position

    total = s.total if s.total is not None else s.lr.end
    if total is None:
        raise InexpressibleError("a schedule with no run length", hint="pass --steps N")
    ax = s.axis
    if ax.unit == "steps":
        if ax.batch is not None and not isinstance(ax.batch, ConstantBatch):
            raise InexpressibleError("a schedule on optimizer steps with a changing batch size",
                                     hint="Megatron counts the schedule in samples: put it on axis=samples")
        return [Target(True, 1.0, math.ceil(total), total)]
    steps = int(step_of_position(ax, total))
    per_sample = float(ax.seq_len) if ax.unit == "tokens" else 1.0
    out = [Target(False, per_sample, steps, total / per_sample)]
    if isinstance(ax.batch, ConstantBatch) and _is_int(total / (ax.batch.size * per_sample)):
        g = ax.batch.size * per_sample
        out.insert(0, Target(True, g, steps, total / g))
    return out


def _level(lv, peak):
    return lv.value if lv.absolute else lv.value * peak


def recognise(curve, peak: float, scale: float) -> dict:
    """Megatron's scheduler parameters for ``curve`` (positions divided by ``scale``), or raise."""
    segs = list(curve.segments)
    if curve.after == "periodic":
        raise InexpressibleError("a periodic (repeating) curve")
    p = {"W": 0.0, "init": 0.0, "peak": peak}
    first = segs[0]
    rises = first.kind in ("linear", "log", "cosine", "1-sqrt") and _level(first.a, peak) < _level(first.b, peak)
    if rises:
        if first.kind != "linear":
            raise InexpressibleError(f"a {first.kind} warmup", hint="Megatron warms up linearly")
        if first.origin not in (None, 0.0) or not math.isclose(_level(first.b, peak), peak, rel_tol=1e-15):
            raise InexpressibleError("a warmup that does not end at the peak LR")
        p.update(W=first.span_value / scale, init=_level(first.a, peak))
        segs = segs[1:]
    elif (first.kind == "constant" and first.end is not None and first.end <= scale and len(segs) > 1
          and segs[1].kind == "invsqrt"):
        segs = segs[1:]  # Megatron's W = 0 inverse-square-root keeps n = 0 at the peak
    _body(p, segs, peak, scale)
    return p


def _body(p: dict, segs, peak: float, scale: float) -> None:
    def lv(x):
        return _level(x, peak)

    def tail_is_min(rest, value):
        return all(s.kind == "constant" and lv(s.a) == value for s in rest)

    if not segs or (len(segs) == 1 and segs[0].kind == "constant" and lv(segs[0].a) == peak):
        p.update(style="constant", min=0.0)
        return
    head = segs[0]
    if head.kind == "constant" and lv(head.a) == peak and len(segs) > 1:
        nxt = segs[1]
        if nxt.kind in SHAPE_WSD and lv(nxt.a) == peak and nxt.origin in (None, nxt.start) and nxt.span is None:
            _wsd(p, nxt, lv, scale, anneal_start=nxt.start)
            return _no_more(segs[2:])
        if nxt.kind == "constant" and tail_is_min(segs[2:], lv(nxt.a)):  # WSD with S = 0
            p.update(style="WSD", wsd_style="exponential", S=0.0, D=math.ceil(nxt.start / scale) - 1, min=lv(nxt.a))
            return None
    if head.kind in ("linear", "cosine") and head.origin is None and head.span is None and lv(head.a) == peak:
        if head.kind == "cosine" and (head.param("cycles") != 0.5 or head.param("exponent") != 1.0):
            raise InexpressibleError("a cosine with cycles or exponent other than a half cosine")
        p.update(style=head.kind, D=head.end / scale, min=lv(head.b))
        return _no_more(segs[1:])
    if head.kind in SHAPE_WSD and lv(head.a) == peak:
        _wsd(p, head, lv, scale, anneal_start=head.tau0)
        return _no_more(segs[1:])
    if head.kind == "invsqrt" and lv(head.a) == peak:
        ts = head.param("timescale") / scale
        if head.tau0 != head.start or ts != max(p["W"], 1.0 / scale) and not (p["W"] == 0 and ts == 1 / scale):
            raise InexpressibleError("an inverse-square-root decay whose timescale is not the warmup length")
        rest = segs[1:]
        # Megatron drops to min once n > D: the floor phase starts at the first position past D.
        D = (math.ceil(rest[0].start / scale) - 1) if rest else (head.end or 0) / scale
        if rest and not tail_is_min(rest, lv(head.b)):
            raise InexpressibleError("a phase after the inverse-square-root decay other than its floor")
        p.update(style="inverse-square-root", D=D, min=lv(head.b), ts=ts)
        return None
    raise InexpressibleError(describe(head, peak))


def _wsd(p, seg, lv, scale, anneal_start):
    S = seg.span_value / scale
    p.update(style="WSD", wsd_style=SHAPE_WSD[seg.kind], S=S, D=anneal_start / scale + S, min=lv(seg.b))
    if seg.end is not None and not math.isclose(seg.end / scale, p["D"], rel_tol=1e-12):
        raise InexpressibleError(f"a {seg.kind} anneal that stops before reaching its end level")


def _no_more(rest) -> None:
    if rest:
        raise InexpressibleError("more than one decay phase (" + rest[0].kind + " after the decay)",
                                 hint="Megatron has one warmup and one decay")


def describe(seg, peak) -> str:
    names = {"poly": "a polynomial decay", "exp": "an exponential decay", "multistep": "a multistep decay",
             "restarts": "cosine restarts", "cyclic": "a cyclic schedule", "inverse-time": "an inverse-time decay",
             "log": "a log phase", "constant": "a constant phase below the peak LR"}
    return names.get(seg.kind, f"a {seg.kind} phase not starting at the peak LR")


def _unit_args(p: dict, t: Target) -> dict:
    u = "iters" if t.iteration_mode else "samples"
    T = round(t.total)
    args = {"train_" + u: T, "lr": p["peak"], "lr_decay_style": p["style"]}
    if p["min"]:
        args["min_lr"] = p["min"]
    if p["init"] and p["W"]:
        args["lr_warmup_init"] = p["init"]
    D = p.get("D", T) or T
    if p["style"] == "constant":
        D = T if p["W"] < T else math.floor(p["W"]) + 1
    if not _is_int(D):
        raise InexpressibleError("a decay that ends between two " + ("iterations" if t.iteration_mode else "samples"))
    if D != T:
        args["lr_decay_" + u] = int(D)
    if p["style"] == "WSD":
        if not _is_int(p["S"]):
            raise InexpressibleError("a WSD anneal of a fractional length")
        args["lr_wsd_decay_style"] = p["wsd_style"]
        args["lr_wsd_decay_" + u] = int(p["S"])
    if p["W"]:
        if _is_int(p["W"]):
            args["lr_warmup_" + u] = int(p["W"])
        elif t.iteration_mode and t.scale > 1:  # a whole number of samples: let sample mode say it plainly
            raise InexpressibleError("a warmup ending between two iterations")
        else:
            args["lr_warmup_fraction"] = p["W"] / D
    return args


def _batch_args(s: Schedule, t: Target) -> dict:
    b = s.axis.batch
    if b is None:
        return {}
    if isinstance(b, ConstantBatch):
        return {"global_batch_size": b.size}
    if isinstance(b, RampupBatch):
        return {"global_batch_size": b.final, "rampup_batch_size": (b.start, b.increment, b.ramp_samples)}
    if s.axis.seq_len is None:
        raise InexpressibleError("a step batch-size schedule without a sequence length",
                                 hint="Megatron reads the thresholds in tokens: give the schedule a seq length")
    entries = " ".join(f"{thr * s.axis.seq_len}:{size}" for thr, size in b.entries)
    return {"step_batch_size_schedule": entries, "seq_length": s.axis.seq_len}


def _wd_args(s: Schedule, t: Target) -> dict:
    c = s.weight_decay
    if c is None:
        return {}
    segs = c.segments
    if len(segs) == 1 and segs[0].kind == "constant":
        return {"weight_decay": segs[0].a.value}
    seg = segs[0]
    if (len(segs) == 1 and seg.kind in ("linear", "cosine") and seg.origin is None and seg.span is None
            and seg.end is not None and math.isclose(seg.end / t.scale, t.total) and seg.b.value >= seg.a.value):
        return {"weight_decay_incr_style": seg.kind, "start_weight_decay": seg.a.value, "end_weight_decay": seg.b.value}
    raise InexpressibleError("a weight-decay curve other than a constant or one linear/cosine increase over the run")


def _group_args(s: Schedule, t: Target, main: dict) -> dict:
    out = {}
    for name, curve in s.groups:
        if name != "embedding" or out:
            raise InexpressibleError(f"an extra LR group {name!r}",
                                     hint="Megatron has only --decoupled-lr (embedding and output layers)")
        top = max(max(seg.a.value, seg.b.value) for seg in curve.segments)  # group levels are absolute
        g = recognise(curve, top, t.scale)
        out["decoupled_lr"] = top
        out["decoupled_min_lr"] = g["min"]
    return out


def candidate(s: Schedule, t: Target) -> dict:
    peak = s.peak
    p = recognise(s.lr, peak, t.scale)
    if p["style"] == "inverse-square-root" and p["W"] == 0 and s.axis.batch is None:
        raise InexpressibleError("an inverse-square-root decay without warmup on optimizer steps",
                                 hint="Megatron's is 1/sqrt(samples): give the schedule a global batch size")
    if s.peak_lr is None and (p["min"] or p["init"]):
        raise InexpressibleError("an LR floor given as a ratio with no peak LR", hint="pass --lr PEAK")
    args = _unit_args(p, t) | _batch_args(s, t) | _wd_args(s, t)
    args |= _group_args(s, t, p)
    return args


# ---- approximation ------------------------------------------------------------------------------


def nearest(s: Schedule, t: Target, facts: ReadOptions = ReadOptions()) -> list[dict]:
    """Megatron flags close to ``s``: one candidate per decay style (the gate ranks them)."""
    from ...evaluate import curve_value
    from .read import from_args

    segs, peak = s.lr.segments, s.peak
    first = segs[0]
    W = 0.0
    if len(segs) > 1 and _level(first.a, peak) < _level(first.b, peak):
        W = first.end / t.scale
    end = (s.lr.end or s.total) / t.scale
    floor = max(0.0, min(curve_value(s.lr, peak, s.lr.end or s.total), peak))
    init = min(_level(first.a, peak), peak) if W else 0.0
    base = {"W": W, "init": init, "peak": peak, "min": floor, "D": max(math.ceil(end), math.floor(W) + 1)}
    last_start = segs[-1].start / t.scale
    options = [dict(style=st) for st in ("constant", "linear", "cosine")]
    options += [dict(style="WSD", wsd_style=w, S=float(math.floor(base["D"] - max(last_start, W))))
                for w in ("linear", "cosine", "exponential", "minus_sqrt")]
    out = []
    for opt in options:
        try:
            args = _unit_args(base | opt, t) | _batch_args(s, t)
            from_args(dict(args, lr=args.get("lr", peak)), facts)  # Megatron itself would accept it
        except LrplanError:  # a candidate Megatron itself would reject: skip it
            continue
        out.append(args)
    return out


# ---- output -------------------------------------------------------------------------------------


# Values whose last digits move a phase boundary (Megatron compares steps with fraction * decay length):
# printed in full, never shortened.
EXACT_DIGITS = ("lr_warmup_fraction",)


def _value_words(value, dest: str = "") -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, tuple):
        return [str(v) for v in value]
    if isinstance(value, float):
        return [repr(value) if dest in EXACT_DIGITS else _short_float(value)]
    return [str(value)]


def _short_float(v: float) -> str:
    """The shortest decimal within 1e-15 relative of ``v`` (0.1 * 3e-4 prints as 3e-05, not ...97e-05)."""
    for digits in range(1, 18):
        text = format(v, "." + str(digits) + "g")
        if abs(float(text) - v) <= 1e-15 * abs(v):
            return repr(float(text))
    return repr(v)


def argv(args: dict) -> list[list[str]]:
    """One argv chunk per flag, in a fixed order (tables first, so output is stable)."""
    return [[FLAG_OF_DEST[d], *_value_words(args[d], d)] for d in ORDER if d in args]


def render(args: dict, comments: list[str]) -> str:
    lines = ["# " + c for c in comments]
    flags = [shlex.join(chunk) for chunk in argv(args)]
    return "\n".join(lines) + "\n" + " \\\n".join(flags) + "\n"


def _text(s: Schedule, t: Target, args: dict, opts) -> str:
    args = dict(args)
    source = opts.source_label or "a schedule"
    comments = [" ".join(filter(None, ["lrplan", opts.version])) + ": Megatron-LM schedule flags for " + source]
    if t.iteration_mode and s.axis.batch is None:
        comments.append("iteration mode: the LR per iteration does not depend on --global-batch-size; set it as usual")
    if s.peak_lr is None:
        args.pop("lr", None)
        comments.append("the schedule has no peak LR: add --lr PEAK")
    return render(args, comments)


def _era(opts):
    from .args import era

    return era(ReadOptions(extra=opts.facts), {})


def shifted_warmup_equivalent(s: Schedule) -> Schedule | None:
    """The same curve with a ``(k + 1) / W`` warmup (torchtitan, Schedule-Free) written as Megatron can
    say it: ``W - 1`` warmup iterations from ``peak / W`` (lr(k) = init + (peak - init) * k / (W - 1)
    = peak (k + 1) / W), then the peak held for the warmup's last step. The gate checks the result."""
    first = s.lr.segments[0]
    if (first.kind != "linear" or first.start != 0 or first.end is None or first.origin != -1.0
            or first.a.value != 0 or first.a.absolute or first.b != ONE or first.span_value != first.end):
        return None
    w = first.end
    if w < 2 or w != int(w):
        return None
    rest = s.lr.segments[1:]
    hold_end = w
    if rest and rest[0].kind == "constant" and rest[0].a == ONE:  # the peak held on: one constant phase
        hold_end, rest = rest[0].end, rest[1:]
    head = (Segment("linear", 0.0, w - 1, Level(1.0 / w), ONE, label=first.label),
            Segment("constant", w - 1, hold_end, ONE, label="stable" if hold_end != w else first.label))
    return s.with_(lr=Curve(head + rest, s.lr.after))


def write(s: Schedule, opts):
    if s.momentum is not None:
        raise InexpressibleError("a momentum schedule", hint="Megatron never schedules momentum or Adam betas")
    when = _era(opts)
    if isinstance(s.axis.batch, RampupBatch) and s.axis.unit != "steps" and when.new_batch_rules:
        raise InexpressibleError(f"a batch-size ramp-up: {when.name} ignores --rampup-batch-size (from 0.18 on)",
                                 hint="--set megatron_version=0.17 writes it for Megatron-LM 0.17 and older")
    if isinstance(s.axis.batch, StepBatch) and s.axis.unit != "steps" and not when.new_batch_rules:
        raise InexpressibleError(f"a step batch-size schedule: --step-batch-size-schedule is new in Megatron-LM"
                                 f" 0.18 ({when.name} is asked for)", hint="drop --set megatron_version")
    tried = targets(s)
    error = None
    alt = shifted_warmup_equivalent(s)
    for t in tried:
        for form in (s, alt) if alt is not None else (s,):
            try:
                args = candidate(form, t)
            except InexpressibleError as e:
                error = error or e
                continue
            name = "iteration flags" if t.iteration_mode else "sample flags"
            yield Candidate(_text(s, t, args, opts), "flags", name=name)
    carried = " (weight decay and LR groups are not carried over)" if (s.weight_decay or s.groups) else ""
    t = tried[-1]
    for args in nearest(s, t, ReadOptions(extra=opts.facts)):
        yield Candidate(_text(s, t, args, opts), "flags", ("--approx: the nearest Megatron schedule" + carried,),
                        why=error.message if error else "", hint=error.hint if error else None, approx=True,
                        name="--lr-decay-style " + args["lr_decay_style"]
                        + (" " + args["lr_wsd_decay_style"] if "lr_wsd_decay_style" in args else ""))
