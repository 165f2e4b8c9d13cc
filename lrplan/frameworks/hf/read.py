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
import re

from ...errors import LrplanError
from .. import shell
from ..base import Loaded, ReadOptions
from .schedules import build
from .trainer import normalise, total_steps, warmup_steps

MARKERS = ("lr_scheduler_type", "lr_scheduler_kwargs", "warmup_ratio", "warmup_steps", "learning_rate",
           "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps")
NOT_HF = ("scheduler", "optimizer", "zero_optimization", "train_micro_batch_size_per_gpu")  # DeepSpeed JSON


def step_name(k: int) -> str:
    return (f"HF logs this LR at global_step {k + 1} (transformers >= 4.51; "
            f"<= 4.50 logged it at global_step {k})")


# ---- parsing ------------------------------------------------------------------------------------


def parse_flags(text: str) -> dict:
    """``--name value`` / ``--name=value`` / bare ``--flag`` (True); leading non-flag words are skipped."""
    words = shell.words(text)
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

    from ...yamlsafe import safe_load

    try:
        data = safe_load(text)
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
        try:
            flags = parse_flags(text) if text.count("--") < 2000 else {}
        except LrplanError:  # broken shell words (an open quote): HF's if it names HF fields, and the
            return 5 if any(f"--{k}" in text for k in MARKERS) else 0  # reader then says what is wrong
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
