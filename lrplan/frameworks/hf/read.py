"""HF transformers ``TrainingArguments``: reader (YAML/JSON recipe or ``--flag value`` string) and writer.

Facts read from transformers 5.23.0 (``training_args.py``, ``trainer.py``, ``optimization.py``,
``integrations/deepspeed.py``) and reference/hf-torch-others.md section 1 (4.x history):

* T = ``max_steps`` if > 0, else ``ceil(num_train_epochs * updates_per_epoch)``
  (``Trainer.set_initial_training_values``); updates_per_epoch counts a trailing partial accumulation window.
* W (5.x ``TrainingArguments.get_warmup_steps``): ``int(warmup_steps)`` if ``warmup_steps >= 1``, else
  ``ceil(T * warmup_steps)``. 4.x: ``warmup_steps if warmup_steps > 0 else ceil(T * warmup_ratio)``.
* The Trainer steps the LambdaLR after each optimizer step: update k uses ``lr * lambda(k)``, logged at
  ``global_step`` k+1 since 4.51 (before: the log showed the next LR).
"""

from __future__ import annotations

import json
import math
import re
import shlex

from ...errors import LrplanError
from ..base import Format, Loaded, ReadOptions
from .schedules import build

# TrainingArguments fields the schedule depends on, with their 5.23.0 defaults (None: no default used).
DEFAULTS: dict[str, object] = {
    "learning_rate": 5e-5,
    "lr_scheduler_type": "linear",
    "lr_scheduler_kwargs": None,
    "warmup_steps": 0,
    "max_steps": -1,
    "num_train_epochs": 3.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "dataloader_drop_last": False,
}
FLOATS = ("learning_rate", "warmup_steps", "warmup_ratio", "num_train_epochs")
INTS = ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps")
# Keys that mark a mapping as TrainingArguments (other recipe keys are kept in raw but ignored).
MARKERS = ("lr_scheduler_type", "lr_scheduler_kwargs", "warmup_ratio", "warmup_steps", "learning_rate",
           "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps")
NOT_HF = ("scheduler", "optimizer", "zero_optimization", "train_micro_batch_size_per_gpu")  # DeepSpeed JSON


def step_name(k: int) -> str:
    return (f"HF logs this LR at global_step {k + 1} (transformers >= 4.51; "
            f"<= 4.50 logged it at global_step {k})")


# ---- parsing ------------------------------------------------------------------------------------


def parse_flags(text: str) -> dict:
    """``--name value`` / ``--name=value`` / bare ``--flag`` (True); leading non-flag words are skipped."""
    try:
        words = shlex.split(text.replace("\\\n", " "), comments=True)
    except ValueError as e:
        raise LrplanError(f"cannot split the flag string: {e}", hint="check the quotes") from None
    out: dict[str, object] = {}
    i = 0
    while i < len(words):
        w = words[i]
        i += 1
        if not w.startswith("--"):
            continue
        name, eq, value = w[2:].partition("=")
        if not eq:
            if i < len(words) and not words[i].startswith("--"):
                value, i = words[i], i + 1
            else:
                value = True
        out[name.replace("-", "_")] = value  # HfArgumentParser accepts both spellings
    return out


def parse_mapping(text: str) -> dict | None:
    if text.lstrip().startswith("{"):
        try:  # JSON first: YAML 1.1 would read 1e-06 (no dot) as a string
            data = json.loads(text)
            return data if isinstance(data, dict) else None
        except json.JSONDecodeError:
            pass
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


_YAML_KEY = re.compile(r"^\s*[A-Za-z_][\w.-]*\s*:(\s|$)", re.M)


def _is_flags(text: str) -> bool:
    t = text.lstrip()
    if t.startswith(("{", "[", "---")) or _YAML_KEY.search(t):
        return False  # a YAML/JSON mapping (which may hold "--" inside a value)
    return "--" in t


def detect(text, path) -> int:
    if _is_flags(text):
        flags = parse_flags(text) if text.count("--") < 2000 else {}
        if "lr_scheduler_type" in flags or ("learning_rate" in flags and "--learning_rate" in text):
            return 7
        return 5 if sum(k in flags and f"--{k}" in text for k in MARKERS) >= 2 else 0
    if len(text) > 1_000_000 or not (":" in text or "{" in text):
        return 0
    data = parse_mapping(text)
    if not data or any(k in data for k in NOT_HF):
        return 0
    if "lr_scheduler_type" in data:
        return 7
    return 5 if sum(k in data for k in MARKERS) >= 2 else 0


# ---- field normalisation ------------------------------------------------------------------------


def _number(fields: dict, name: str, kind):
    v = fields[name]
    if isinstance(v, str):  # flags; YAML 1.1 reads 2e-5 (no dot) as a string
        try:
            v = float(v)
        except ValueError:
            raise LrplanError(f"{name} must be a number, got {v!r}", where=name) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise LrplanError(f"{name} must be a finite number, got {v!r}", where=name)
    if kind is int:
        if v != int(v):
            raise LrplanError(f"{name} must be a whole number, got {v!r}", where=name)
        return int(v)
    return float(v)


def _kwargs(v) -> dict:
    if v is None or v == "":
        return {}
    if isinstance(v, str):  # TrainingArguments.__post_init__ parses a JSON string
        try:
            v = json.loads(v)
        except json.JSONDecodeError as e:
            raise LrplanError(f"lr_scheduler_kwargs is not valid JSON: {e.msg}", where="lr_scheduler_kwargs",
                              hint='write it as a JSON object, e.g. \'{"min_lr_rate": 0.1}\'') from None
    if not isinstance(v, dict):
        raise LrplanError(f"lr_scheduler_kwargs must be a mapping, got {type(v).__name__}",
                          where="lr_scheduler_kwargs")
    return dict(v)


def normalise(fields: dict) -> tuple[dict, list[str]]:
    """Typed copy of the schedule fields with HF defaults filled; returns (values, defaults applied)."""
    vals, applied = {}, []
    for name, default in DEFAULTS.items():
        if fields.get(name) is None:
            vals[name] = default
            applied.append(name)
        else:
            vals[name] = fields[name]
    if fields.get("warmup_ratio") is not None:
        vals["warmup_ratio"] = fields["warmup_ratio"]
    for name in FLOATS + INTS:
        if name in vals:
            vals[name] = _number(vals, name, int if name in INTS else float)
    for name in ("learning_rate", "warmup_steps", "warmup_ratio", "num_train_epochs"):
        if name in vals and vals[name] < 0:
            raise LrplanError(f"{name} cannot be negative, got {vals[name]!r}", where=name)
    if vals["learning_rate"] <= 0:
        raise LrplanError(f"learning_rate must be positive, got {vals['learning_rate']!r}", where="learning_rate")
    for name in ("per_device_train_batch_size", "gradient_accumulation_steps"):
        if vals[name] <= 0:
            raise LrplanError(f"{name} must be a positive integer, got {vals[name]!r}", where=name)
    kind = vals["lr_scheduler_type"]
    vals["lr_scheduler_type"] = str(getattr(kind, "value", kind)).strip()
    vals["lr_scheduler_kwargs"] = _kwargs(vals["lr_scheduler_kwargs"])
    drop = vals["dataloader_drop_last"]
    vals["dataloader_drop_last"] = drop if isinstance(drop, bool) else str(drop).lower() in ("1", "true", "yes")
    return vals, applied


# ---- T and W ------------------------------------------------------------------------------------


def _int_option(opts: ReadOptions, key: str, default: str | None) -> int | None:
    v = opts.get(key, default)
    if v is None:
        return None
    try:
        n = int(str(v))
    except ValueError:
        raise LrplanError(f"--set {key}= takes a positive integer, got {v!r}") from None
    if n <= 0:
        raise LrplanError(f"--set {key}= takes a positive integer, got {v!r}")
    return n


def total_steps(vals: dict, opts: ReadOptions, notes: list[str]) -> int | None:
    if vals["max_steps"] > 0:
        return vals["max_steps"]
    n = _int_option(opts, "dataset_size", None)
    if n is not None:
        world = _int_option(opts, "world_size", "1")
        bs, G = vals["per_device_train_batch_size"], vals["gradient_accumulation_steps"]
        # Per-process dataloader length: torch batches, then accelerate's BatchSamplerShard (even_batches).
        batches = n // bs if vals["dataloader_drop_last"] else -(-n // bs)
        len_dl = batches // world if vals["dataloader_drop_last"] else -(-batches // world)
        if len_dl <= 0:
            raise LrplanError(f"dataset_size={n} gives no full batch of {bs} per process",
                              where="per_device_train_batch_size")
        per_epoch = max(len_dl // G + int(len_dl % G > 0), 1)
        T = math.ceil(vals["num_train_epochs"] * per_epoch)
        notes.append(f"T = ceil(num_train_epochs {vals['num_train_epochs']} x {per_epoch} updates/epoch) = {T} "
                     f"(dataset_size {n}, world_size {world}, batch {bs}, accumulation {G})")
        return T
    if opts.steps is not None:
        from ...ir import Axis
        from ...spec.parser import _Ctx, _external_total

        t = _external_total(opts.steps, _Ctx("", axis=Axis()))
        if t != int(t):
            raise LrplanError(f"--steps must be a whole number of optimizer steps, got {opts.steps}")
        notes.append(f"T = {int(t)} from --steps (the config has no max_steps)")
        return int(t)
    return None


def warmup_steps(vals: dict, T: int | None, notes: list[str]) -> int:
    ws, ratio = vals["warmup_steps"], vals.get("warmup_ratio")
    if ratio is not None and ratio > 0 and ws > 0:
        notes.append(f"both warmup_steps ({ws}) and warmup_ratio ({ratio}) are set: warmup_steps wins "
                     "(transformers 4.x; warmup_ratio was removed in 5.15)")
    elif ratio is not None and ratio > 0:
        if T is None:
            raise _ratio_needs_total("warmup_ratio")
        W = math.ceil(T * ratio)
        notes.append(f"W = ceil(T x warmup_ratio) = {W} (4.x rule; 5.0-5.14 copy warmup_ratio into warmup_steps)")
        return W
    if ws >= 1:
        return int(ws)  # 5.x truncates a float >= 1 (1.9 -> 1)
    if ws == 0:
        return 0
    if T is None:
        raise _ratio_needs_total("warmup_steps < 1 (a ratio)")
    W = math.ceil(T * ws)
    notes.append(f"W = ceil(T x warmup_steps) = {W} (5.x: warmup_steps < 1 is a ratio of T)")
    return W


def _ratio_needs_total(what: str) -> LrplanError:
    return LrplanError(f"{what} needs the run length, and the config has no max_steps", where="max_steps",
                       hint="pass --steps N, or --set dataset_size=N [world_size=W] to use num_train_epochs")


# ---- reading ------------------------------------------------------------------------------------


def from_training_args(fields: dict, opts: ReadOptions, *, max_steps: int | None = None,
                       path=None, label: str = "HF TrainingArguments") -> Loaded:
    """Schedule of a TrainingArguments field dict; ``max_steps`` (trainer_state.json) overrides T."""
    fields = dict(fields)
    if fields.get("learning_rate") is None and opts.lr is not None:
        fields["learning_rate"] = opts.lr
    vals, applied = normalise(fields)
    notes: list[str] = []
    T = int(max_steps) if max_steps is not None else total_steps(vals, opts, notes)
    raw = dict(fields, _defaults_applied=applied)
    ds = fields.get("deepspeed")
    if ds:
        from .deepspeed_section import deepspeed_schedule

        loaded = deepspeed_schedule(ds, vals, T, opts, path, notes)
        if loaded is not None:
            return Loaded(loaded.schedule, "hf", label, tuple(notes) + loaded.notes, loaded.step_name, raw)
    W = warmup_steps(vals, T, notes)
    kind = vals["lr_scheduler_type"]
    schedule = build(kind, vals["lr_scheduler_kwargs"], W, T, vals["learning_rate"])
    notes.append(f"update k uses learning_rate x lambda(k) of {kind!r} with W={W}, T={T}")
    if kind == "constant" and W > 0:
        notes.append("lr_scheduler_type 'constant' ignores warmup; use constant_with_warmup to warm up")
    if kind == "constant_with_warmup" and vals["lr_scheduler_kwargs"]:
        notes.append("constant_with_warmup ignores lr_scheduler_kwargs (HF passes none)")
    if kind == "inverse_sqrt" and "timescale" in vals["lr_scheduler_kwargs"]:
        notes.append("timescale reaches inverse_sqrt only in transformers >= 5.4 (ignored before)")
    if "learning_rate" in applied and opts.lr is None:
        notes.append("learning_rate not set: HF default 5e-5")
    return Loaded(schedule, "hf", label, tuple(notes), step_name, raw)


def read(text, path, opts: ReadOptions) -> Loaded:
    if _is_flags(text):
        fields = parse_flags(text)
    else:
        fields = parse_mapping(text)
        if fields is None:
            raise LrplanError("not a TrainingArguments mapping (YAML/JSON object) or --flag string",
                              where=str(path) if path else None)
    return from_training_args(fields, opts, path=path, label=str(path) if path else "HF TrainingArguments")


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("hf", "HF transformers TrainingArguments (YAML/JSON recipe or --flags)", detect=detect,
                read=read, write=_write, suffix=".yaml", steps_only=True)
