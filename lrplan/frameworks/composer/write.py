"""``convert --to composer``: llm-foundry train YAML (``scheduler: {name: ...}``), or the Composer YAML
``schedulers:`` list for the classes llm-foundry does not register.

The IR is first taken back to Composer's t-space (undoing the one-batch lag of read.py: every piece moves
one batch left, and update 0's value is dropped -- Composer gives update 0 the value of update 1, so a
schedule with ``lr(0) != lr(1)`` cannot be exact and the gate says so). The t-space pieces then suggest
(scheduler, kwargs) candidates; each is emitted as YAML and the gate (lrplan.convert) reads it back with
the Composer reader and keeps the first that matches at every step. Times are written in batches
(``ba``), ``max_duration`` as ``{T}ba``.
"""

from __future__ import annotations

from ...errors import InexpressibleError, LrplanError
from ...evaluate import lr_at
from ...ir import Schedule, Segment
from ..base import Candidate
from .schedulers import LLMFOUNDRY, YAHP

VARIANTS = ("llm-foundry", "yahp")
CLASS_TO_LLMF = {v: k for k, v in LLMFOUNDRY.items()}
CLASS_TO_YAHP = {v: k for k, v in YAHP.items()}
DEFAULTS = {"alpha_f": 0.0, "alpha_i": 1.0, "alpha": 1.0, "gamma": 0.1, "t_mult": 1.0, "power": None,
            "alpha_f_decay": 0.0, "alpha_f_cooldown": 0.0}


def _shift_back(seg: Segment) -> Segment | None:
    if seg.end is not None and seg.end <= 1:
        return None
    span = seg.span
    if seg.start < 1 and span is None and seg.end is not None:
        span = seg.end - seg.start  # the piece loses its first step; its formula keeps its length
    return Segment(seg.kind, max(seg.start - 1.0, 0.0), None if seg.end is None else seg.end - 1.0, seg.a, seg.b,
                   seg.params, origin=seg.tau0 - 1.0, span=span, label=seg.label)


def t_space(schedule: Schedule) -> list[Segment]:
    """The IR curve one batch earlier: what Composer's alpha(t) must be."""
    return [s for s in (_shift_back(seg) for seg in schedule.lr.segments) if s is not None]


def _ba(x: float) -> str | None:
    return f"{int(x)}ba" if float(x).is_integer() and x >= 0 else None


def _ratio(level, peak) -> float | None:
    return level.value / peak if level.absolute else level.value


def _plain(seg: Segment) -> bool:
    return seg.origin is None and (seg.span is None or seg.kind == "constant")


def candidates(segs: list[Segment], T: int, peak: float):
    """(class, kwargs) guesses from the t-space pieces; the gate decides which is exact."""
    first = segs[0]
    W = 0
    if (first.kind == "linear" and _ratio(first.a, peak) == 0.0 and _plain(first) and first.end is not None
            and len(segs) > 1):
        W = first.end
    body = segs[1:] if W else segs
    main, rest = body[0], body[1:]
    if _ba(W) is None or not _plain(main) and main.kind not in ("multistep",):
        return
    tw = _ba(W)
    end = main.end
    tmax = {} if end is None or end == T else ({"t_max": _ba(end)} if _ba(end) else None)
    a, b = _ratio(main.a, peak), _ratio(main.b, peak)
    target = _ratio(first.b, peak) if W else 1.0
    if main.kind == "constant" and not rest:
        yield "ConstantWithWarmupScheduler", {"t_warmup": tw, "alpha": a}
    if main.kind == "cosine" and main.param("cycles") == 0.5 and main.param("exponent") == 1.0 and tmax is not None:
        if W:
            yield "CosineAnnealingWithWarmupScheduler", {"t_warmup": tw, **tmax, "alpha_f": b}
        else:
            yield "CosineAnnealingScheduler", {**tmax, "alpha_f": b}
            yield "CosineAnnealingWithWarmupScheduler", {"t_warmup": "0ba", **tmax, "alpha_f": b}
    if main.kind in ("linear", "constant") and tmax is not None:
        if W:
            yield "LinearWithWarmupScheduler", {"t_warmup": tw, "alpha_i": target, "alpha_f": b if main.kind ==
                                                "linear" else a, **tmax}
        else:
            yield "LinearScheduler", {"alpha_i": a, "alpha_f": b if main.kind == "linear" else a, **tmax}
            yield "LinearWithWarmupScheduler", {"t_warmup": "0ba", "alpha_i": a, "alpha_f": b if main.kind ==
                                                "linear" else a, **tmax}
    if main.kind == "poly" and tmax is not None:
        if W:
            yield "PolynomialWithWarmupScheduler", {"t_warmup": tw, "power": main.param("power"), **tmax,
                                                    "alpha_f": b}
        else:
            yield "PolynomialScheduler", {"power": main.param("power"), **tmax, "alpha_f": b}
    if main.kind == "multistep":
        ms, gs = main.param("milestones"), main.param("gammas")
        at = [_ba(main.tau0 + m) for m in ms]
        if gs and len(set(gs)) == 1 and all(at):
            if W:
                yield "MultiStepWithWarmupScheduler", {"t_warmup": tw, "milestones": at, "gamma": gs[0]}
            else:
                yield "MultiStepScheduler", {"milestones": at, "gamma": gs[0]}
    if main.kind == "exp" and not W and not main.param("bounded") and _ba(main.param("every")):
        every = _ba(main.param("every"))
        if main.param("staircase"):
            yield "StepScheduler", {"step_size": every, "gamma": main.param("rate")}
        else:
            yield "ExponentialScheduler", {"gamma": main.param("rate"), "decay_period": every}
    if main.kind == "restarts" and not W and main.param("decay") == 1.0 and _ba(main.param("cycle")):
        yield "CosineAnnealingWarmRestartsScheduler", {"t_0": _ba(main.param("cycle")),
                                                       "t_mult": main.param("mult"), "alpha_f": b}
    if main.kind == "invsqrt" and b == 0.0 and _ba(main.param("timescale")):
        cool = rest[0] if rest and rest[0].kind == "linear" and rest[0].end is not None else None
        if cool is not None:
            kw = {"t_cooldown": _ba(cool.end - cool.start), "t_max": _ba(cool.end),
                  "alpha_f_cooldown": _ratio(cool.b, peak)}
        else:
            kw = {"t_cooldown": "0ba", "t_max": _ba(end if end is not None else T)}
        if all(kw.values()) or kw.get("alpha_f_cooldown") == 0.0:
            yield "InverseSquareRootWithWarmupScheduler", {"t_warmup": tw, "t_scale": _ba(main.param("timescale")),
                                                           **kw}
    if main.kind == "constant" and rest and rest[0].kind == "constant" and _ratio(rest[0].a, peak) == 1.0 and not W:
        yield "ConstantScheduler", {"alpha": a, "t_max": _ba(main.end)}


def _clean(cls: str, kw: dict) -> dict:
    out = {}
    for k, v in kw.items():
        if k in DEFAULTS and DEFAULTS[k] == v or (k == "t_max" and v is None):
            continue
        out[k] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    return out


def _document(cls: str, kw: dict, form: str, T: int, peak: float | None) -> dict:
    doc: dict = {"max_duration": f"{T}ba"}
    if form == "llm-foundry":
        if peak is not None:
            doc["optimizer"] = {"name": "decoupled_adamw", "lr": float(peak)}
        doc["scheduler"] = {"name": CLASS_TO_LLMF[cls], **kw}
    else:
        if peak is not None:
            doc["optimizers"] = {"decoupled_adamw": {"lr": float(peak)}}
        doc["schedulers"] = [{CLASS_TO_YAHP[cls]: kw}]
    return doc


def _text(doc: dict, cls: str, form: str, opts) -> str:
    import yaml

    what = "llm-foundry train YAML" if form == "llm-foundry" else "YAML schedulers: list, yahp era"
    words = " ".join(("Generated by lrplan", opts.version, f"for Composer ({what}) from:", opts.source_label or "-"))
    lines = ["# " + " ".join(words.split()),
             f"# composer.optim.{cls}; Composer lags one batch: update k uses alpha at batch max(k - 1, 0).",
             "# Merge into your train config (keep your own optimizer; lrplan sets only its lr)."]
    return "\n".join(lines) + "\n" + yaml.safe_dump(doc, sort_keys=False)


def _why(schedule: Schedule) -> str:
    a, b = lr_at(schedule, 0), lr_at(schedule, 1)
    if a != b:
        return (f"Composer lags one batch, so updates 0 and 1 always share one LR (alpha at batch 0); here they "
                f"differ ({a:.6g} and {b:.6g})")
    return "no Composer scheduler reproduces it"


def write(schedule: Schedule, opts):
    variant = opts.variant or None
    if variant not in (None, *VARIANTS):
        raise LrplanError(f"unknown --variant {variant!r} for composer", hint="use llm-foundry or yahp")
    parts = [n for n, c in (("weight-decay curve", schedule.weight_decay), ("momentum curve", schedule.momentum))
             if c is not None] + ["LR group " + repr(n) for n, _ in schedule.groups]
    if parts and not opts.approx:
        raise InexpressibleError("Composer's schedulers set the LR only; cannot express the " + ", ".join(parts),
                                 hint="drop them from the schedule, or pass --approx")
    if schedule.total is None:
        raise LrplanError("Composer needs max_duration and the schedule has no total", hint="pass --steps N")
    if schedule.axis.unit != "steps" or not float(schedule.total).is_integer():
        raise InexpressibleError(f"lrplan writes Composer times in whole batches; this schedule is on "
                                 f"{schedule.axis.unit} and does not move to whole optimizer steps exactly",
                                 hint="pass --approx, or --to torch for a LambdaLR")
    T = int(schedule.total)
    segs = t_space(schedule)
    if not segs:
        raise InexpressibleError("the schedule is one step long; Composer's lag leaves no batch to schedule")
    notes = tuple(f"--approx: {p} not emitted" for p in parts)
    if schedule.peak_lr is None:
        notes += ("no peak LR: optimizer.lr is left to your config; the scheduler is a multiplier of it",)
    why = _why(schedule)
    seen = []
    # Exact-intended: the IR taken back to t-space. Then the nearest: the IR's own pieces read as t-space
    # (off by the one-batch lag wherever the curve moves).
    for approx, pieces in ((False, segs), (True, list(schedule.lr.segments))):
        for cls, kw in candidates(pieces, T, schedule.peak):
            kw = _clean(cls, kw)
            if (cls, kw) in seen:
                continue
            seen.append((cls, kw))
            form = "llm-foundry" if cls in CLASS_TO_LLMF and variant != "yahp" else "yahp"
            if variant == "llm-foundry" and form != "llm-foundry":
                continue
            doc = _document(cls, kw, form, T, schedule.peak_lr)
            name = CLASS_TO_LLMF[cls] if form == "llm-foundry" else CLASS_TO_YAHP[cls]
            yield Candidate(_text(doc, cls, form, opts), form, notes, name=repr(name), why=why, approx=approx,
                            hint="pass --approx for the nearest Composer scheduler, or --to torch for a LambdaLR")
