"""A logged LR series in lrplan's step convention, with the precision the log printed it in.

Every reader turns its log into a :class:`LogSeries`: the 0-based update ``k`` of each logged point
(design.md: step k = the k-th optimizer update, lr(k) = the LR it uses), the LR, and how the log's own
step number maps to ``k`` (``rule``, with its source). ``check`` compares a plan with it point by point
within :meth:`Precision.tolerance`; ``fit`` recovers a spec from it.

Precision matters because logs round: TensorBoard stores float32 (``Summary.Value.simple_value``),
Megatron prints ``{:.6E}`` (7 significant digits; ``.3E`` before core_r0.6.0), while JSON, CSV, MLflow and
DeepSpeed's ``repr`` of a float are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import LrplanError

STEP_LIMIT = 10**13  # the evaluator's step range (lrplan.evaluate)


@dataclass(frozen=True)
class Precision:
    """How precisely the log holds its values: ``exact`` (a float64 repr), ``float32``/``float16``/
    ``bfloat16`` (a binary format), or ``digits`` (decimal text with ``digits`` significant digits)."""

    kind: str = "exact"
    digits: int = 17

    def describe(self) -> str:
        if self.kind == "digits":
            return f"{self.digits} significant digits as printed"
        if self.kind == "exact":
            return "exact (float64)"
        return self.kind

    def tolerance(self, logged):
        """Absolute tolerance per point: half a unit in the last place the log kept (0 when exact)."""
        import numpy as np

        v = np.abs(np.asarray(logged, dtype=float))
        if self.kind == "exact":
            return np.zeros_like(v)
        if self.kind == "digits":
            with np.errstate(divide="ignore"):
                e = np.floor(np.log10(np.where(v > 0, v, 1.0)))
            half = 0.5 * np.power(10.0, e - (self.digits - 1))
            return np.where(v > 0, half * (1 + 1e-9), 0.0)
        bits = {"float32": 24, "float16": 11, "bfloat16": 8}[self.kind]
        with np.errstate(divide="ignore"):
            e = np.floor(np.log2(np.where(v > 0, v, 1.0)))
        tiny = {"float32": 2.0**-149, "float16": 2.0**-24, "bfloat16": 2.0**-133}[self.kind]
        return np.where(v > 0, np.maximum(np.power(2.0, e - bits), tiny / 2), tiny / 2)


EXACT = Precision()
FLOAT32 = Precision("float32")


def digits_of(text: str) -> int:
    """Significant digits of a printed number (``1.420000E-05`` -> 7, ``2.000E-06`` -> 4, ``0.001`` -> 1)."""
    mant = text.strip().lstrip("+-").lower().split("e")[0]
    digits = mant.replace(".", "").lstrip("0")
    if "." in mant:
        return max(1, len(digits)) if digits else len(mant.replace(".", ""))
    return max(1, len(digits.rstrip("0")) if digits else 1)


@dataclass
class LogSeries:
    """One logged LR curve, sorted by update ``k`` (each ``k`` once)."""

    kind: str  # tensorboard, wandb, wandb-csv, mlflow, hf, lightning, megatron, deepspeed
    source: str  # the path read
    tag: str  # the series' name in the log (train/learning_rate, lr-AdamW, learning rate ...)
    steps: object  # numpy int64: lrplan's update k of each point
    lr: object  # numpy float64
    precision: Precision
    offset: int  # k = logged step + offset
    step_field: str  # what the log calls its step (global_step, iteration, step, _step ...)
    rule: str  # the step rule applied, with its source
    tags: tuple[str, ...] = ()  # every scalar series the log holds
    notes: list[str] = field(default_factory=list)
    framework: str = ""  # which trainer wrote it (hf, lightning, megatron, deepspeed, "" when unknown)
    extra: dict = field(default_factory=dict)  # per-point companions: samples, batch, other groups
    meta: dict = field(default_factory=dict)  # facts the log states: planned_total (train_iters, max_steps)

    @property
    def label(self) -> str:
        return f"{self.source} [{self.tag}]"

    def logged_step(self, k: int) -> int:
        return int(k) - self.offset

    def where(self, k: int) -> str:
        """``update 41 (global_step 42)``: lrplan's step and the log's own."""
        own = self.logged_step(k)
        return f"update {int(k):,}" + ("" if self.step_field == "step" and own == k else
                                       f" ({self.step_field} {own:,})")

    @property
    def first(self) -> int:
        return int(self.steps[0])

    @property
    def last(self) -> int:
        return int(self.steps[-1])

    def __len__(self) -> int:
        return int(self.steps.size)


@dataclass(frozen=True)
class LogOptions:
    tag: str | None = None  # --tag
    extra: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE (transformers_version=, step_offset=)

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.extra).get(key, default)


def step_offset_override(opts: LogOptions) -> int | None:
    v = opts.get("step_offset")
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise LrplanError(f"--set step_offset must be a whole number, got {v!r}",
                          hint="k = the log's step + step_offset (e.g. -1 when the log counts updates done)") from None


def build(kind: str, source: str, tag: str, logged_steps, values, *, precision: Precision, offset: int,
          step_field: str, rule: str, tags=(), notes=(), framework: str = "", opts: LogOptions = LogOptions(),
          extra: dict | None = None, meta: dict | None = None) -> LogSeries:
    """The series from raw (logged step, value) pairs in log order: later records of a step win (a resumed
    run logs again the steps after its checkpoint), NaN or negative LRs are refused, and ``--set
    step_offset=N`` overrides the reader's rule."""
    import numpy as np

    forced = step_offset_override(opts)
    if forced is not None:
        rule = f"k = {step_field} {'+' if forced >= 0 else '-'} {abs(forced)} (--set step_offset={forced})"
        offset = forced
    s = np.asarray(logged_steps, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    notes = list(notes)
    if s.size == 0:
        raise LrplanError(f"{source}: {tag!r} has no logged points", hint=_tags_hint(tags))
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LrplanError(f"{source}: {tag!r} is {float(v[i])!r} at {step_field} {int(s[i]):,} "
                          f"({int(bad.sum()):,} of {v.size:,} logged LRs are not finite numbers)",
                          hint="the run's LR itself was not a number there; lrplan compares finite LRs only")
    if (v < 0).any():
        i = int(np.flatnonzero(v < 0)[0])
        raise LrplanError(f"{source}: {tag!r} is negative ({float(v[i])!r}) at {step_field} {int(s[i]):,}",
                          hint="is this an LR series? pass --tag to pick another: " + _tags_hint(tags))
    k = s + offset
    if (k < 0).any():
        i = int(np.flatnonzero(k < 0)[0])
        raise LrplanError(f"{source}: {step_field} {int(s[i])} maps to update {int(k[i])} under the rule "
                          f"'{rule}'", hint="the log does not follow this rule; pass --set step_offset=N")
    if (k >= STEP_LIMIT).any():
        raise LrplanError(f"{source}: a logged {step_field} is beyond {STEP_LIMIT:.0e}")
    # Later records win: a stable sort by step, then the last record of each run of equal steps.
    order = np.argsort(k, kind="stable")
    k, v = k[order], v[order]
    last = np.r_[k[1:] != k[:-1], True]
    dups = int(k.size - last.sum())
    if dups:
        same = _same_repeats(k, v)
        if same < dups:
            notes.append(f"{dups - same:,} logged steps appear more than once with different LRs (a resumed "
                         "run logging again after its checkpoint?): the later record of each is used")
    k, v = k[last], v[last]
    ex = {}
    for name, arr in (extra or {}).items():
        a = np.asarray(arr)[order]
        ex[name] = a[last]
    m = {key: val for key, val in (meta or {}).items() if val is not None}
    return LogSeries(kind, source, tag, k, v, precision, offset, step_field, rule, tuple(tags), notes,
                     framework, ex, m)


def _same_repeats(k, v) -> int:
    import numpy as np

    rep = np.flatnonzero(k[1:] == k[:-1])
    return int(np.sum(v[rep] == v[rep + 1]))


def _tags_hint(tags) -> str:
    tags = list(tags)
    if not tags:
        return "the log holds no scalar series"
    shown = ", ".join(tags[:20]) + (f", ... ({len(tags)} in all)" if len(tags) > 20 else "")
    return f"series in this log: {shown}"


# What an LR series is called, most specific first. Lightning's LearningRateMonitor: "lr-<Optimizer>"
# (lightning 2.6 pytorch/callbacks/lr_monitor.py l. 314, 338), "/pgN" or "/<group name>" per group,
# "-momentum" / "-weight_decay" companions; HF: "train/learning_rate" (TensorBoard, W&B) or
# "learning_rate" (MLflow, log_history); Megatron: "learning-rate" (TensorBoard, W&B).
LR_NAMES = ("train/learning_rate", "learning_rate", "learning-rate", "lr", "train/lr", "learning rate",
            "train/learning-rate", "optim/lr", "trainer/learning_rate")
NOT_LR = ("momentum", "weight_decay", "weight-decay", "vs samples", "decoupled", "beta", "scale", "loss",
          "grad", "norm")


def is_lr_name(name: str) -> bool:
    low = name.lower()
    if any(w in low for w in NOT_LR):
        return False
    last = low.rsplit("/", 1)[-1]
    return (low in LR_NAMES or last in ("lr", "learning_rate", "learning-rate") or low.startswith("lr-")
            or "/lr-" in low or last.startswith("lr_") or last.endswith("_lr"))


def pick_tag(source: str, tags, wanted: str | None, *, what: str = "series") -> tuple[str, list[str]]:
    """The LR series to read: ``--tag`` when given (it must exist), else the LR-named one; several
    candidates (per-group tags) pick the first and say so."""
    tags = list(tags)
    if wanted is not None:
        if wanted in tags:
            return wanted, []
        from ..errors import suggest

        near = suggest(wanted, tags)
        hint = (f"did you mean {near!r}? " if near else "") + _tags_hint(tags)
        raise LrplanError(f"{source} has no {what} named {wanted!r}", hint=hint)
    ranked = [t for name in LR_NAMES for t in tags if t.lower() == name]
    ranked += sorted((t for t in tags if is_lr_name(t) and t not in ranked), key=_group_order)
    if not ranked:
        raise LrplanError(f"{source} has no learning-rate {what}", hint=_tags_hint(tags) + "; pass --tag NAME")
    notes = []
    others = [t for t in ranked[1:] if t != ranked[0]]
    if others:
        notes.append(f"read {ranked[0]!r}; the log also has {', '.join(repr(t) for t in others[:6])}"
                     + (" ..." if len(others) > 6 else "") + " (--tag picks another)")
    return ranked[0], notes


def _group_order(tag: str):
    """Lightning's groups: 'lr-AdamW' before 'lr-AdamW/pg1' before 'lr-AdamW/pg2' (numbers as numbers)."""
    import re

    parts = re.split(r"(\d+)", tag)
    return (tag.count("/"), [int(p) if p.isdigit() else p for p in parts])


def finite_or_none(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
