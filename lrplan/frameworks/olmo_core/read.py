"""OLMo-core config (``config.json`` / YAML, or a bare scheduler mapping) -> Schedule IR.

The form read is what ``Config.as_config_dict()`` writes (ai2-olmo-core 3.0.0 ``olmo_core/config.py``;
``ConfigSaverCallback`` saves the whole experiment as ``<save_folder>/config.json``): the scheduler at
``train_module.scheduler`` (``_CLASS_: olmo_core.optim.scheduler.CosWithWarmup``, ``type: cos_with_warmup``,
then its fields), the LR at ``train_module.optim.lr``, ``trainer.max_duration: {value, unit}`` and the
global batch size in tokens at ``data_loader.global_batch_size``. A mapping that is only a scheduler
(``{type: wsd, warmup: 2000, ...}``) is read too, with ``--steps`` / ``--lr`` / ``--set batch_tokens=N``.

Step convention (``Trainer._fit_epoch``, ``train/trainer.py``, and ``TransformerTrainModule.optim_step``):
the trainer increments ``global_step`` (and ``global_train_tokens_seen`` by the batch's tokens) *before*
the batch, then ``scheduler.set_lr(group, trainer)`` and ``optim.step()``. So optimizer update k (0-based)
uses ``get_lr(initial_lr, k + 1, max_steps)`` (units ``steps``) or ``get_lr(initial_lr, (k + 1) * B,
max_tokens)`` (units ``tokens``, B tokens per batch). The IR is the ``current``-space curve of curves.py
moved one step (B tokens) to the left.
"""

from __future__ import annotations

import json

from ...errors import LrplanError, ScheduleError, did_you_mean
from ...ir import ONE, Axis, ConstantBatch, Curve, Schedule
from ...values import number
from ..base import Loaded, ReadOptions
from .curves import Ctx, clip, offset, scheduler_pieces
from .tables import (
    ALIASES,
    BASE,
    BY_CLASS,
    CLASSES,
    MODULE,
    OVERRIDE_FIELDS,
    STAGE_FIELDS,
    UNITS,
)

DOCS = "see docs/frameworks/olmo-core.md"
WARMUP_CLASSES = {n for n, (_, fs) in CLASSES.items() if any(k == "warmup" for k, _ in fs)}
DECAY_CLASSES = {"wsd", "power_lr", "cos_with_warmup_and_linear_decay", "wsds"}


# ---- the text ----------------------------------------------------------------------------------------------

def parse(text: str, path) -> dict:
    where = str(path) if path else "OLMo-core config"
    t = text.lstrip()
    if t.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise LrplanError(f"not valid JSON (line {e.lineno}): {e.msg}", where=where) from None
    else:
        import yaml
        from ...yamlsafe import safe_load

        try:
            data = safe_load(text)  # bounded: no alias bombs
        except yaml.YAMLError as e:
            raise LrplanError(f"not valid YAML: {getattr(e, 'problem', None) or e}", where=where) from None
    if not isinstance(data, dict):
        raise LrplanError("an OLMo-core config is a mapping", where=where)
    return data


def _type_of(d) -> str | None:
    if not isinstance(d, dict):
        return None
    cls = d.get("_CLASS_")
    if isinstance(cls, str) and cls.startswith(MODULE + "."):
        return BY_CLASS.get(cls[len(MODULE) + 1:], cls[len(MODULE) + 1:])
    t = d.get("type")
    return t if isinstance(t, str) else None


def _locate(data: dict) -> tuple[dict, str] | None:
    tm = data.get("train_module")
    if isinstance(tm, dict) and isinstance(tm.get("scheduler"), dict):
        return tm["scheduler"], "train_module.scheduler"
    if _type_of(data) is not None and ("_CLASS_" in data or "lr_field" in data or "units" in data
                                       or data.get("type") in CLASSES):
        return data, "scheduler"
    return None


def detect(text: str, path) -> int:
    if len(text) > 5_000_000 or ("olmo_core" not in text and "initial_lr_field" not in text
                                 and "train_module" not in text):
        return 0
    try:
        found = _locate(parse(text, path))
    except LrplanError:
        return 0
    if found is None:
        return 0
    d, _ = found
    if str(d.get("_CLASS_", "")).startswith(MODULE + "."):
        return 9
    return 7 if _type_of(d) in CLASSES and ("lr_field" in d or "initial_lr_field" in d) else 0


# ---- fields, as each class's dataclass and __post_init__ take them -----------------------------------------

def _int(v, where: str) -> int:
    return int(number(v, where, integer=True, text=True))


def normalize(d, where: str) -> dict:
    """The scheduler's fields with defaults, aliases folded in and OLMo-core's own checks applied."""
    if not isinstance(d, dict):
        raise LrplanError("a scheduler is a mapping", where=where)
    name = _type_of(d)
    if name not in CLASSES:
        shown = d.get("_CLASS_") or d.get("type")
        raise LrplanError(f"unknown OLMo-core scheduler {shown!r}" if shown else "the scheduler has no type / _CLASS_",
                          where=f"{where}.type", hint=did_you_mean(str(shown), CLASSES, noun="scheduler"))
    cls, fields = CLASSES[name]
    allowed = dict(BASE + fields)
    f = {}
    for k, v in d.items():
        if k in ("_CLASS_", "type"):
            continue
        if k not in allowed:
            raise LrplanError(f"{cls} has no field {k!r}", where=f"{where}.{k}",
                              hint=did_you_mean(str(k), allowed, noun="field"))
        f[k] = v
    for k, default in allowed.items():
        f.setdefault(k, default)
    for old, new in ALIASES.items():
        if old in allowed and f.get(old) is not None:
            if f.get(new) is None:
                f[new] = f[old]
            f[old] = None
    f["type"], f["class"] = name, cls
    if f["units"] not in UNITS:
        raise LrplanError(f"units must be steps or tokens, got {f['units']!r}", where=f"{where}.units")
    if name in WARMUP_CLASSES:
        if (f.get("warmup") is None) == (f.get("warmup_fraction") is None):
            raise LrplanError("Either 'warmup_fraction' or 'warmup' must be specified. (OLMo-core raises "
                              "OLMoConfigurationError)", where=f"{where}.warmup")
        if f.get("warmup") is not None:
            f["warmup"] = _int(f["warmup"], f"{where}.warmup")
        else:
            f["warmup_fraction"] = number(f["warmup_fraction"], f"{where}.warmup_fraction", text=True)
            if f["warmup_fraction"] > 1:
                raise LrplanError("'warmup_fraction' must be between 0 and 1.", where=f"{where}.warmup_fraction")
    if name in DECAY_CLASSES:
        if f.get("decay") is not None and "decay_fraction" not in d and name != "wsds":
            # as_config_dict() leaves out decay_fraction=None, and from_dict() then restores the 0.1 default
            # and fails: lrplan reads what was meant (decay in units), and the note says so.
            f["decay_fraction"] = None
            f["_roundtrip_bug"] = True
        if (f.get("decay") is None) == (f.get("decay_fraction") is None):
            raise LrplanError("Either 'decay_fraction' or 'decay' must be specified. Never both. (OLMo-core raises "
                              "OLMoConfigurationError)", where=f"{where}.decay")
        if f.get("decay") is not None:
            f["decay"] = _int(f["decay"], f"{where}.decay")
        else:
            f["decay_fraction"] = number(f["decay_fraction"], f"{where}.decay_fraction", text=True)
            if f["decay_fraction"] > 1:
                raise LrplanError("decay_fraction must be between 0 and 1.", where=f"{where}.decay_fraction")
    for k in ("alpha_f", "warmup_min_lr", "decay_min_lr", "lr_min", "b"):
        if k in allowed and f.get(k) is not None:
            f[k] = number(f[k], f"{where}.{k}", minimum=None, text=True)
    if f.get("t_max") is not None:
        f["t_max"] = _int(f["t_max"], f"{where}.t_max")
    if name == "sequential":
        _sequential_fields(f, where)
    if name == "composable":
        stages = f.get("stages")
        if not isinstance(stages, list) or not stages:
            raise LrplanError("stages must be a non-empty list", where=f"{where}.stages")
        for i, st in enumerate(stages):
            _sub_fields(st, STAGE_FIELDS, f"{where}.stages.{i}")
    if f.get("override_decay") is not None:
        _sub_fields(f["override_decay"], OVERRIDE_FIELDS, f"{where}.override_decay")
    if name == "wsds":
        if not isinstance(f.get("period_lengths"), list) or not f["period_lengths"]:
            raise LrplanError("period_lengths must be a non-empty list", where=f"{where}.period_lengths")
        if (f.get("warmup") is None) == (f.get("warmup_fraction") is None):
            raise LrplanError("Either 'warmup_fraction' or 'warmup' must be specified.", where=f"{where}.warmup")
    return f


def _sub_fields(d, names, where: str) -> None:
    if not isinstance(d, dict):
        raise LrplanError("must be a mapping", where=where)
    for k in d:
        if k not in names and k not in ("_CLASS_", "type"):
            raise LrplanError(f"unknown field {k!r}", where=f"{where}.{k}", hint=did_you_mean(str(k), names,
                                                                                             noun="field"))


def _sequential_fields(f: dict, where: str) -> None:
    subs = f.get("schedulers")
    if not isinstance(subs, list) or not subs:
        raise LrplanError("schedulers must be a non-empty list of schedulers", where=f"{where}.schedulers")
    f["schedulers"] = [normalize(s, f"{where}.schedulers.{i}") for i, s in enumerate(subs)]
    ms = f.get("schedulers_max")
    if ms is None:
        raise LrplanError("'schedulers_max' must be specified", where=f"{where}.schedulers_max")
    ms = [_int(m, f"{where}.schedulers_max.{i}") for i, m in enumerate(ms)]
    if len(ms) == len(subs):
        ms.pop()  # OLMo-core: the last scheduler runs to the end; its value is ignored
    if len(ms) + 1 != len(subs):
        raise LrplanError("Max steps must be set for all schedulers except the last when using "
                          "'SequentialScheduler'", where=f"{where}.schedulers_max")
    f["schedulers_max"] = ms


# ---- the run -----------------------------------------------------------------------------------------------

def _get(data: dict, dotted: str):
    cur = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur




def _duration(data: dict, opts: ReadOptions, notes: list[str]) -> tuple[int, str]:
    md = _get(data, "trainer.max_duration")
    if md is None:
        if opts.steps is None:
            raise LrplanError("the config has no trainer.max_duration, which the scheduler's t_max comes from",
                              where="trainer.max_duration", hint="pass --steps N (N optimizer steps)")
        from ...quantity import parse_count

        n = int(parse_count(opts.steps, integer=True))
        notes.append(f"max_duration {n} steps from --steps (the config has none)")
        return n, "steps"
    if not isinstance(md, dict) or "value" not in md or "unit" not in md:
        raise LrplanError("max_duration is a mapping {value: N, unit: steps | tokens | epochs}",
                          where="trainer.max_duration")
    unit = md["unit"]
    if unit not in ("steps", "tokens", "epochs"):
        raise LrplanError(f"unit must be steps, tokens or epochs, got {unit!r}", where="trainer.max_duration.unit")
    v = _int(md["value"], "trainer.max_duration.value")
    if v <= 0:
        raise LrplanError("must be positive", where="trainer.max_duration.value")
    return v, unit


def _batch(data: dict, opts: ReadOptions) -> int | None:
    b = opts.positive_int("batch_tokens")
    if b is not None:
        return b
    v = _get(data, "data_loader.global_batch_size")
    return None if v is None else _int(v, "data_loader.global_batch_size")


def _need(b, what: str) -> int:
    if b is None:
        raise LrplanError(f"{what} needs the global batch size in tokens, which the config does not say",
                          where="data_loader.global_batch_size", hint="pass --set batch_tokens=N")
    return b


def _run(data: dict, units: str, opts: ReadOptions, notes: list[str]) -> tuple[int, int, int | None]:
    """(t_max handed to get_lr, the number of updates, tokens per batch or None)."""
    v, unit = _duration(data, opts, notes)
    B = _batch(data, opts)
    if unit == "epochs":
        spe = opts.positive_int("steps_per_epoch")
        if spe is None:
            raise LrplanError("max_duration in epochs needs the data loader's batches per epoch",
                              where="trainer.max_duration", hint="pass --set steps_per_epoch=N")
        notes.append(f"{v} epochs x {spe} steps per epoch (steps_per_epoch)")
        v, unit = v * spe, "steps"
    if unit == "steps":
        n = v
        if units == "steps":
            return n, n, B
        B = _need(B, "a token-unit scheduler with a max_duration in steps")
        return n * B, n, B  # Trainer._get_max_tokens: tokens seen + remaining steps x tokens per batch
    B = _need(B, "a max_duration in tokens")
    n = -(-v // B)  # Trainer._get_max_steps: ceil(tokens remaining / tokens per batch)
    if units == "steps":
        notes.append(f"max_steps = ceil({v} / {B}) = {n} (tokens / tokens per batch)")
        return n, n, B
    return v, n, B


def _peak(data: dict, opts: ReadOptions, raw: dict) -> float | None:
    lr = _get(data, "train_module.optim.lr")
    if lr is None:
        if opts.lr is not None:
            raw["_defaults_applied"].append("train_module.optim.lr")
        return opts.lr
    return number(lr, "train_module.optim.lr", positive=True, text=True)


def _axis(data: dict, B: int, opts: ReadOptions, notes: list[str]) -> Axis:
    seq = opts.positive_int("seq_len")
    if seq is None:
        for key in ("dataset.sequence_length", "train_module.max_sequence_length"):
            v = _get(data, key)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                seq = v
                break
    if seq is None or B % seq:
        notes.append(f"tokens axis: {B} tokens per batch (the sequence length is not known, so one 'sample' here "
                     "is the whole batch)")
        return Axis("tokens", ConstantBatch(1), B)
    return Axis("tokens", ConstantBatch(B // seq), seq)


def _overshoot(f: dict, T: int, n: int, B: int, where: str) -> None:
    """The last update sees current = n x B > t_max when max_duration is not a whole number of batches."""
    kinds = {f["type"]} | {s["type"] for s in f.get("schedulers") or ()}
    why = ""
    if f["type"] == "sequential":
        why = "SequentialScheduler asserts current <= t_max (AssertionError)"
    elif kinds & {"wsd", "cos_with_warmup_and_linear_decay", "power_lr"}:
        why = "_linear_decay(lr, t_max - current, ...) goes below decay_min_lr (negative for decay_min_lr 0)"
    if why:
        raise LrplanError(f"max_duration {T} tokens is not a whole number of {B}-token batches: the last update "
                          f"sees current {n * B} > t_max {T}, and {why}", where="trainer.max_duration",
                          hint=f"make max_duration a multiple of the global batch size (e.g. {(n - 1) * B} or "
                               f"{n * B} tokens)")


def step_name(k: int) -> str:
    return f"OLMo-core runs this update as step {k + 1} (trainer.global_step, incremented before the batch)"


def from_config(data: dict, opts: ReadOptions | None = None, label: str = "OLMo-core config") -> Loaded:
    opts = ReadOptions() if opts is None else opts
    found = _locate(data)
    if found is None:
        raise LrplanError("no train_module.scheduler and not a scheduler mapping", hint=DOCS)
    d, where = found
    f = normalize(d, where)
    notes: list[str] = []
    raw = {"_defaults_applied": [f"{where}.{k}" for k in dict(BASE + CLASSES[f["type"]][1]) if k not in d],
           "_scheduler": f, "_where": where}
    peak = _peak(data, opts, raw)
    T, n, B = _run(data, f["units"], opts, notes)
    ctx = Ctx(peak, where)
    if f["units"] == "tokens" and n * B > T:
        _overshoot(f, T, n, B, where)
    c_segs = scheduler_pieces(f, ONE, T, ctx)
    shift = 1 if f["units"] == "steps" else B
    per = 1 if f["units"] == "steps" else B
    segs = clip(offset(c_segs, -float(shift)), 0.0, None)
    axis = Axis() if f["units"] == "steps" else _axis(data, B, opts, notes)
    try:
        schedule = Schedule(Curve(tuple(segs), "hold"), peak_lr=peak, total=float(n * per), axis=axis)
    except ScheduleError as e:  # e.g. a warmup longer than the run
        raise LrplanError(str(e), where=where) from None
    notes.append(f"{f['class']} ({f['type']!r}), units {f['units']}: update k uses get_lr(lr, "
                 + ("k + 1" if f["units"] == "steps" else f"(k + 1) x {B} tokens")
                 + f", t_max {T}) -- the trainer counts the step before it runs it")
    if f.get("_roundtrip_bug"):
        notes.append("decay is given and decay_fraction is absent: OLMo-core's own Config.from_dict would restore "
                     "decay_fraction 0.1 and refuse the pair (an as_config_dict round-trip bug); lrplan reads the "
                     "decay as given -- write decay_fraction: null")
    if f.get("warmup_fraction") is not None and f.get("warmup") is None:
        notes.append(f"warmup_fraction {f['warmup_fraction']:g} of t_max {T} is round() = "
                     f"{round(T * f['warmup_fraction'])} (banker's rounding)")
    if peak is None:
        notes.append("no train_module.optim.lr: the curve is a multiplier of the optimizer's LR (pass --lr)")
    raw["_t_max"], raw["_batch_tokens"], raw["_updates"] = T, B, n
    return Loaded(schedule, "olmo-core", label, tuple(dict.fromkeys(notes)), step_name, raw)


def read(text: str, path, opts: ReadOptions) -> Loaded:
    return from_config(parse(text, path), opts, str(path) if path else "OLMo-core config")

