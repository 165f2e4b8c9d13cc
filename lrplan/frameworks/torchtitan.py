"""torchtitan: job TOML ``[lr_scheduler]`` / ``--lr_scheduler.*`` flags, read and written.

torchtitan has one schedule family, a LambdaLR built in ``LRSchedulersContainer.Config.build``
(``torchtitan/components/optimizer/lr_scheduler.py``, PyPI 0.3.0; the TOML form is JobConfig
``[lr_scheduler]`` up to v0.2.2, the same names as CLI overrides since). With ``T = total_steps or
training.steps``, ``W = min(int(warmup_steps), T)``, ``D = round(T * decay_ratio)`` clamped to
``T - W`` (or ``T - W`` when ``decay_ratio`` is unset) and one *virtual* extra stable step
``S = T + 1 - W - D``, update ``k`` (0-based; torchtitan logs it as step ``k + 1``) uses

* ``(k + 1) / W`` for ``k < W``          -> IR linear 0 -> 1 on ``[0, W)`` with ``origin = -1``;
* ``1`` for ``W <= k < W + S``            -> IR constant on ``[W, T + 1 - D)``;
* ``f + (1 - f) * g(q)``, ``q = (k - (T - D)) / D`` -> IR decay on ``[T + 1 - D, T + 1)`` with
  ``origin = T - D``; ``g`` = ``1 - q`` (linear), ``1 - sqrt(q)`` (sqrt), ``(1 + cos(pi q)) / 2`` (cosine).

So the floor ``f = min_lr_factor`` is reached at ``k = T``, one step after the run. Past that,
torchtitan keeps extrapolating the decay (not used by a run of T steps); the IR holds ``f``.
"""

from __future__ import annotations

import re

import tomllib

from ..errors import InexpressibleError, LrplanError, did_you_mean
from ..ir import ONE, ZERO, Curve, Level, Schedule, Segment
from ..values import number
from . import shell
from .base import Candidate, Format, Loaded, ReadOptions

# torchtitan decay_type -> IR shape kind (both directions).
DECAY_TYPES = {"linear": "linear", "sqrt": "1-sqrt", "cosine": "cosine"}
KIND_TO_DECAY = {v: k for k, v in DECAY_TYPES.items()}

# Defaults of torchtitan 0.3.0 (LRSchedulersContainer.Config; TrainingConfig.steps; default_adamw lr).
DEFAULTS = {"lr_scheduler.warmup_steps": 200, "lr_scheduler.total_steps": None, "lr_scheduler.decay_ratio": None,
            "lr_scheduler.decay_type": "linear", "lr_scheduler.min_lr_factor": 0.0,
            "optimizer.lr": 8e-4, "training.steps": 10000}
OLD_NAMES = {"lr_scheduler.lr_min": "lr_scheduler.min_lr_factor"}  # renamed in torchtitan #1471 (2025-07)
SCHEDULER_KEYS = {k.split(".", 1)[1] for k in DEFAULTS if k.startswith("lr_scheduler.")} | {"lr_min"}

_TOML_TABLE = re.compile(r"^\s*\[lr_scheduler\]\s*$", re.M)


def detect(text: str, path) -> int:
    if _TOML_TABLE.search(text):
        return 8
    return 7 if re.search(r"(^|\s)--lr_scheduler\.\w", text) else 0


# ---- reading -----------------------------------------------------------------------------------


def _flag_value(text: str):
    if text in ("None", "none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def parse_flags(text: str) -> dict:
    """``--section.key value`` / ``--section.key=value`` flags -> nested dict."""
    config: dict = {}
    tokens = shell.words(text, what="torchtitan flags")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or "." not in tok.split("=", 1)[0]:
            raise LrplanError(f"unexpected argument {tok!r} in torchtitan flags",
                              hint="flags look like --lr_scheduler.warmup_steps 200")
        name, eq, value = tok[2:].partition("=")
        if not eq:
            if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                value, i = tokens[i + 1], i + 1
            else:
                value = "true"
        section, key = name.split(".", 1)
        config.setdefault(section, {})[key] = _flag_value(value)
        i += 1
    return config


def _number(raw: dict, name: str, *, integer: bool = False, minimum: float = 0.0):
    v = raw[name]
    if v is None:
        return None
    return number(v, name, minimum=minimum, integer=integer, hint="see docs/frameworks/torchtitan.md")


def _flatten(config: dict, opts: ReadOptions) -> tuple[dict, list[str], list[str]]:
    """Dotted field -> value, with defaults, CLI fill-ins and old names resolved."""
    sched = config.get("lr_scheduler", {}) or {}
    for key in sched:
        if key not in SCHEDULER_KEYS:
            raise LrplanError(f"unknown field lr_scheduler.{key}", where="torchtitan",
                              hint=did_you_mean(key, SCHEDULER_KEYS, noun="field"))
    given = {"lr_scheduler." + k: v for k, v in sched.items()}
    for section, key in (("optimizer", "lr"), ("training", "steps")):
        if key in (config.get(section) or {}):
            given[section + "." + key] = config[section][key]
    notes = []
    for old, new in OLD_NAMES.items():
        if old in given:
            if new in given:
                raise LrplanError(f"both {old} and {new} are set", where="torchtitan", hint=f"keep only {new}")
            given[new] = given.pop(old)
            notes.append(f"{old} is the pre-2025-07 name of {new}")
    raw = dict(given)
    applied = []
    if "optimizer.lr" not in given and opts.lr is not None:
        given["optimizer.lr"] = opts.lr
    if "training.steps" not in given and given.get("lr_scheduler.total_steps") is None and opts.steps:
        from ..quantity import parse_count

        given["training.steps"] = parse_count(opts.steps)
    for k, v in DEFAULTS.items():
        if k not in given:
            given[k] = v
            applied.append(k)
    raw["_defaults_applied"] = applied
    return given, notes, raw


def from_job_config(config: dict, opts: ReadOptions = ReadOptions(), label: str = "torchtitan") -> Loaded:
    """Schedule of a torchtitan job config (``{"lr_scheduler": {...}, "optimizer": {...}, ...}``)."""
    f, notes, raw = _flatten(config, opts)
    lr = _number(f, "optimizer.lr")
    if not lr > 0:
        raise LrplanError("optimizer.lr must be positive", where="torchtitan")
    steps = _number(f, "training.steps", integer=True, minimum=1)
    total = _number(f, "lr_scheduler.total_steps", integer=True, minimum=1)
    T = total if total is not None else steps
    W = _number(f, "lr_scheduler.warmup_steps", integer=True)
    ratio = _number(f, "lr_scheduler.decay_ratio")
    factor = _number(f, "lr_scheduler.min_lr_factor")
    dtype = f["lr_scheduler.decay_type"]
    if dtype not in DECAY_TYPES:
        raise LrplanError(f"lr_scheduler.decay_type must be linear, sqrt or cosine, got {dtype!r}",
                          where="torchtitan", hint=did_you_mean(str(dtype), DECAY_TYPES, noun="decay type"))
    if W > T:
        notes.append(f"warmup_steps {W} exceeds the {T} total steps; torchtitan uses {T}")
        W = T
    D = T - W if ratio is None else round(T * ratio)  # Python's round, as torchtitan
    if W + D > T:
        notes.append(f"warmup {W} + decay {D} steps exceed {T}; torchtitan decays over {T - W}")
        D = T - W
    notes.append("torchtitan warms up with (k+1)/W and holds the peak one extra (virtual) step; "
                 "the floor is reached one step after the run")
    schedule = Schedule(wsd_curve(T, W, D, DECAY_TYPES[dtype], factor), peak_lr=lr, total=float(T))
    return Loaded(schedule, "torchtitan", label, tuple(notes),
                  step_name=lambda k: f"torchtitan logs this LR at step {k + 1}", raw=raw)


def wsd_curve(T: int, W: int, D: int, kind: str, factor: float) -> Curve:
    segs = []
    if W > 0:
        segs.append(Segment("linear", 0.0, float(W), ZERO, ONE, origin=-1.0, label="warmup"))
    stable_end = float(T + 1 - D)
    segs.append(Segment("constant", float(W), stable_end, ONE, label="stable"))
    if D > 0:
        segs.append(Segment(kind, stable_end, float(T + 1), ONE, Level(factor), origin=float(T - D),
                            label="decay"))
    return Curve(tuple(segs), "hold")


def read(text: str, path, opts: ReadOptions) -> Loaded:
    if not text.lstrip().startswith("--"):  # flags start with --; anything else must be job TOML
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise LrplanError(f"not valid TOML: {e}", where=str(path or "torchtitan TOML")) from None
    else:
        config = parse_flags(text)
    return from_job_config(config, opts, str(path) if path else "torchtitan flags")


# ---- writing -----------------------------------------------------------------------------------


def _is(seg: Segment, kind: str, a: float, origin: float | None) -> bool:
    return seg.kind == kind and seg.a == Level(a) and seg.origin == origin


def match_wsd(schedule: Schedule) -> tuple[int, int, int, str, float]:
    """(T, W, D, decay_type, min_lr_factor) of a schedule torchtitan computes exactly, else raise."""
    s, segs = schedule, list(schedule.lr.segments)
    why = None
    if s.axis.unit != "steps":
        why = f"a schedule on {s.axis.unit} (torchtitan counts optimizer steps)"
    elif s.total is None or s.total != int(s.total):
        why = "a schedule without a whole number of total steps"
    T = int(s.total or 0)
    W = 0
    head = segs[0] if segs else None
    if not why and head.kind == "linear" and head.a == ZERO and head.end is not None and head.tau0 == 0:
        why = "a k/W warmup (torchtitan warms up with (k+1)/W, a linear phase with shift=1)"
    if not why and segs and _is(segs[0], "linear", 0.0, -1.0) and segs[0].b == ONE and segs[0].span is None:
        W = int(segs.pop(0).end)
    if not why and len(segs) > 2:
        why = f"{len(segs)} phases after the warmup (torchtitan has a stable phase and a decay)"
    dec = segs[-1] if len(segs) == 2 else None
    if not why and dec is not None:
        f = dec.b.value if not dec.b.absolute else dec.b.value / s.peak
        ok = (dec.kind in KIND_TO_DECAY and dec.a == ONE and dec.end == T + 1 and dec.span is None
              and dec.origin == dec.start - 1 and (dec.kind != "cosine" or dec.params == Segment(
                  "cosine", 0, 1, ONE).params))
        why = None if ok else f"a last phase {dec.kind} that is not torchtitan's decay (linear, sqrt or " \
                              "cosine from the peak, ending one step after the run)"
        D = int(T + 1 - dec.start)
    else:
        f, D = 0.0, 0
    stable = segs[0] if segs else None
    if not why and (stable is None or not _is(stable, "constant", 1.0, None) or stable.start != W
                    or stable.end != T + 1 - D or s.lr.after != "hold" or W != int(W)):
        why = "a shape outside torchtitan's family: (k+1)/W warmup, peak held to T+1-D, then decay"
    if not why and (s.weight_decay or s.momentum or s.groups):
        why = "weight-decay, momentum or group curves"
    if why:
        raise InexpressibleError("torchtitan cannot express " + why,
                                 hint="torchtitan has one schedule family; pass --approx for the nearest one")
    return T, W, D, KIND_TO_DECAY[dec.kind] if dec else "linear", f


def _decay_ratio(T: int, W: int, D: int) -> float | None:
    if D == T - W:
        return None
    for digits in range(1, 18):  # the shortest ratio torchtitan rounds back to D
        r = round(D / T, digits)
        if round(T * r) == D:
            return r
    raise InexpressibleError(f"no decay_ratio gives {D} decay steps of {T}")


def job_config(T: int, W: int, D: int, dtype: str, factor: float, peak: float | None) -> dict:
    sched = {"warmup_steps": W}
    ratio = _decay_ratio(T, W, D)
    if ratio is not None:
        sched["decay_ratio"] = ratio
    sched["decay_type"] = dtype
    sched["min_lr_factor"] = factor
    out = {"optimizer": {"lr": peak}} if peak is not None else {}
    return out | {"lr_scheduler": sched, "training": {"steps": T}}


def _nearest(schedule: Schedule) -> tuple[int, int, int, str, float]:
    """The torchtitan schedule closest in form: warmup, decay shape, decay length and floor."""
    segs = schedule.lr.segments
    T = int(round(schedule.total or segs[-1].end or 1))
    first, last = segs[0], segs[-1]
    W = int(first.end) if len(segs) > 1 and first.end and first.b.value > first.a.value else 0
    W = min(W, T)
    dec = last if (len(segs) > 1 or W == 0) and last.kind != "constant" else None
    kind = {"poly": "linear", "linear": "linear", "1-sqrt": "sqrt"}.get(dec.kind, "cosine") if dec else "linear"
    D = min(T - W, int(round(T - dec.start))) if dec else 0
    b = dec.b if dec else ONE
    f = b.value / schedule.peak if b.absolute else b.value
    return T, W, max(D, 0), kind, f


def _text(T: int, W: int, D: int, dtype: str, f: float, schedule: Schedule, opts) -> str:
    import tomli_w

    body = tomli_w.dumps(job_config(T, W, D, dtype, f, schedule.peak_lr))
    words = " ".join(("Generated by lrplan", opts.version, "for torchtitan from:", opts.source_label or "-"))
    return "# " + " ".join(words.split()) + "\n" + body  # one comment line whatever the label holds


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "toml"):
        raise LrplanError(f"unknown torchtitan variant {opts.variant!r}", hint="the torchtitan writer emits job TOML")
    notes = () if schedule.peak_lr is not None else (
        "no peak LR: [optimizer] lr is left to your config (torchtitan default 8e-4)",)
    try:
        T, W, D, dtype, f = match_wsd(schedule)
    except InexpressibleError as e:
        if schedule.axis.unit != "steps" or schedule.weight_decay or schedule.momentum or schedule.groups:
            raise
        if schedule.total is None:
            raise InexpressibleError("torchtitan needs the run length (training.steps) and the schedule has none",
                                     hint="pass --steps N") from None
        # The nearest in form; it may still be exact (a different IR of the same curve, e.g. a plain constant).
        T, W, D, dtype, f = _nearest(schedule)
        yield Candidate(_text(T, W, D, dtype, f, schedule, opts), "toml", notes,
                        why=e.message.removeprefix("torchtitan cannot express "), hint=e.hint, approx=True,
                        name=f"warmup {W}, {dtype} decay over {D} of {T} steps")
        return
    yield Candidate(_text(T, W, D, dtype, f, schedule, opts), "toml", notes,
                    name=f"warmup {W}, {dtype} decay over {D} of {T} steps")


# ---- lint facts ------------------------------------------------------------------------------

FIRST_STEP_FIX = "torchtitan warms up with (k+1)/W (its first update is not at 0); check warmup_steps"


def decay_inside_warmup(f):
    """LR007 on torchtitan's own fields: warmup_steps + decay_ratio x steps exceeds training.steps."""
    steps, warm, ratio = f.number("training.steps", "steps"), f.number("lr_scheduler.warmup_steps"), \
        f.number("lr_scheduler.decay_ratio")
    if steps and warm is not None and ratio is not None and warm + ratio * steps > steps:
        return [(f"warmup_steps {warm:g} + decay_ratio x steps ({ratio * steps:g}) exceeds training.steps"
                 f" {steps:g}: the decay starts inside the warmup", "lower decay_ratio or warmup_steps",
                 "lr_scheduler.decay_ratio", None)]
    return []


RULES = ()
HOOKS = {"LR007": decay_inside_warmup}


FORMAT = Format("torchtitan", "torchtitan job TOML [lr_scheduler] / --lr_scheduler.* flags", title="torchtitan",
                detect=detect, read=read, write=write, suffix=".toml", steps_only=True,
                lint="lrplan.frameworks.torchtitan", first_step_fix=FIRST_STEP_FIX)
