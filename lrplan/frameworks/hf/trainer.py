"""The HF Trainer's own rules for the schedule's inputs: TrainingArguments defaults, T and W.

Read from transformers 5.23.0 (``training_args.py``, ``trainer.py``) and reference/hf-torch-others.md
section 1 (4.x history):

* T = ``max_steps`` if > 0, else ``ceil(num_train_epochs * updates_per_epoch)``
  (``Trainer.set_initial_training_values``); updates_per_epoch counts a trailing partial accumulation window.
* W (5.x ``TrainingArguments.get_warmup_steps``): ``int(warmup_steps)`` if ``warmup_steps >= 1``, else
  ``ceil(T * warmup_steps)``. 4.x: ``warmup_steps if warmup_steps > 0 else ceil(T * warmup_ratio)``.

The reader (read.py) and the DeepSpeed section (deepspeed_section.py, which fills DeepSpeed's "auto"
values from them) both use these rules.
"""

from __future__ import annotations

import json
import math

from ...errors import LrplanError
from ...values import number
from ..base import ReadOptions

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


# ---- field normalisation ------------------------------------------------------------------------


def _number(fields: dict, name: str, kind):
    # flags are strings, and YAML 1.1 reads 2e-5 (no dot) as a string; max_steps=-1 is HF's "unset"
    return number(fields[name], name, minimum=None, integer=kind is int, text=True)


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
        from ...quantity import parse_count

        t = parse_count(opts.steps, integer=True)
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
