"""DeepSpeed JSON config (``"scheduler": {"type": ..., "params": {...}}``): reader and writer.

Checked against DeepSpeed 0.19.8: ``deepspeed/runtime/lr_schedules.py`` (the five classes),
``deepspeed/runtime/engine.py`` (``_scheduler_from_config``: ``cls(optimizer, **params)``, so an
unknown key is a TypeError; a ``type`` that is not a DeepSpeed class is looked up in
``torch.optim.lr_scheduler``) and ``deepspeed/runtime/config.py`` (top-level keys it does not know
are ignored, which is where the writer puts its provenance ``_comment``).

The curves themselves, with the engine's one-step lag, are in :mod:`.deepspeed_curves`; the writer
is :mod:`.deepspeed_write`. Docs: docs/frameworks/deepspeed.md.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ...errors import LrplanError, did_you_mean
from ...values import number, shown
from ...ir import Axis, Curve, Level, Schedule, Segment
from . import curves
from ..base import Loaded, ReadOptions

# ---- tables --------------------------------------------------------------------------------------

# Constructor keyword arguments and their defaults (deepspeed/runtime/lr_schedules.py, 0.19.8).
# REQUIRED marks arguments without a default. WarmupLR's warmup_max_lr default None means "the
# optimizer's lr" from 0.17.2 on (0.001 before); WarmupDecayLR keeps 0.001 and so ignores the optimizer.
REQUIRED = object()
OPTIMIZER_LR = object()
PARAMS: dict[str, dict[str, object]] = {
    "WarmupLR": {"warmup_min_lr": 0.0, "warmup_max_lr": OPTIMIZER_LR, "warmup_num_steps": 1000,
                 "warmup_type": "log", "last_batch_iteration": -1},
    "WarmupDecayLR": {"total_num_steps": REQUIRED, "warmup_min_lr": 0.0, "warmup_max_lr": 0.001,
                      "warmup_num_steps": 1000, "warmup_type": "log", "last_batch_iteration": -1},
    "WarmupCosineLR": {"total_num_steps": REQUIRED, "warmup_min_ratio": 0.0, "warmup_num_steps": 1000,
                       "cos_min_ratio": 0.0001, "warmup_type": "log", "last_batch_iteration": -1},
    "OneCycle": {"cycle_min_lr": REQUIRED, "cycle_max_lr": REQUIRED, "decay_lr_rate": 0.0,
                 "cycle_first_step_size": 2000, "cycle_second_step_size": None, "cycle_first_stair_count": 0,
                 "cycle_second_stair_count": None, "decay_step_size": 0, "cycle_momentum": True,
                 "cycle_min_mom": 0.8, "cycle_max_mom": 0.9, "decay_mom_rate": 0.0, "last_batch_iteration": -1},
    "LRRangeTest": {"lr_range_test_min_lr": 1e-3, "lr_range_test_step_size": 2000, "lr_range_test_step_rate": 1.0,
                    "lr_range_test_staircase": False, "last_batch_iteration": -1},
}

# What the constructor writes into the optimizer before the first update (used by update 0).
CTOR_VALUE = {"WarmupLR": "warmup_min_lr", "WarmupDecayLR": "warmup_min_lr", "WarmupCosineLR": "0.0",
              "OneCycle": "cycle_min_lr", "LRRangeTest": "lr_range_test_min_lr"}

# Names DeepSpeed resolves in torch.optim.lr_scheduler when they are not its own (torch 2.x).
TORCH_SCHEDULERS = frozenset({
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
    "SequentialLR", "CosineAnnealingLR", "ChainedScheduler", "ReduceLROnPlateau", "CyclicLR",
    "CosineAnnealingWarmRestarts", "OneCycleLR", "PolynomialLR", "LRScheduler",
})

# Where HF Transformers / Accelerate fill "auto" (transformers/integrations/deepspeed.py) and what
# lrplan takes instead.
AUTO_FILL = {
    "total_num_steps": ("steps", "pass --steps N"),
    "warmup_max_lr": ("lr", "pass --lr PEAK"),
    "warmup_num_steps": ("warmup_num_steps", "pass --set warmup_num_steps=N"),
    "warmup_min_lr": ("zero", ""),  # HF fills 0 (fill_only, not a trainer argument)
}

# Optimizer types whose torch class has no ``betas`` (OneCycle then disables momentum cycling).
NO_BETAS = frozenset({"sgd", "adagrad", "rmsprop"})

INT_PARAMS = {"warmup_num_steps", "lr_range_test_step_size"}
BOOL_PARAMS = {"cycle_momentum", "lr_range_test_staircase"}


def step_name(k: int) -> str:
    return (f"DeepSpeed runs update {k} with last_batch_iteration={k - 1}; "
            f"engine.global_steps is {k + 1} after it")


# ---- detection -----------------------------------------------------------------------------------


def _parse(text: str, path: Path | None) -> dict:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise LrplanError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                          where=str(path) if path else None) from None
    if not isinstance(d, dict):
        raise LrplanError("a DeepSpeed config is a JSON object", where=str(path) if path else None)
    return d


def detect(text: str, path: Path | None) -> int:
    if not text.lstrip().startswith("{"):
        return 0
    try:
        d = json.loads(text)
    except json.JSONDecodeError:
        return 0
    if not isinstance(d, dict):
        return 0
    sched = d.get("scheduler")
    if isinstance(sched, dict) and "type" in sched:
        return 8
    if isinstance(d.get("optimizer"), dict) and any(
            k in d for k in ("train_batch_size", "train_micro_batch_size_per_gpu", "zero_optimization")):
        return 6
    return 0


# ---- reading -------------------------------------------------------------------------------------


def read(text: str, path: Path | None, opts: ReadOptions) -> Loaded:
    loaded = from_config(_parse(text, path), opts)
    if path is not None:
        return Loaded(loaded.schedule, loaded.format, str(path), loaded.notes, loaded.step_name, loaded.raw)
    return loaded


def from_config(config: dict, opts: ReadOptions = ReadOptions()) -> Loaded:
    """A DeepSpeed config dict (e.g. a checkpoint's ds_config) -> Loaded schedule."""
    ctx = _Ctx(config, opts)
    sched = config.get("scheduler")
    if sched is None:
        return _no_scheduler(ctx)
    if not isinstance(sched, dict) or not isinstance(sched.get("type"), str):
        raise LrplanError("scheduler must be an object with a string \"type\"",
                          hint="e.g. {\"type\": \"WarmupCosineLR\", \"params\": {...}}")
    kind = sched["type"]
    if kind not in PARAMS:
        _unknown_type(kind)
    params = sched.get("params")
    if not isinstance(params, dict):
        raise LrplanError("scheduler.params is missing: DeepSpeed calls the scheduler with **params and fails"
                          " with a TypeError", hint="add \"params\": {} at least")
    values = ctx.resolve(kind, params)
    lr, peak, mom = BUILDERS[kind](ctx, values)
    total = ctx.total(values)
    lr = _fit_warmup(lr, total, ctx)
    schedule = Schedule(lr=lr, peak_lr=peak, total=total, axis=_axis(config), momentum=mom)
    ctx.notes.append(f"DeepSpeed's first update uses the constructor value ({CTOR_VALUE[kind]}); "
                     "update k then uses the class's f(k-1) (the engine steps the scheduler after the update)")
    raw = dict(config)
    raw["_defaults_applied"] = list(ctx.defaults)
    return Loaded(schedule, "deepspeed", f"DeepSpeed {kind}", tuple(ctx.notes), step_name, raw)


def _axis(config: dict) -> Axis:
    """Optimizer steps, with the global batch when the config says it (``train_batch_size``: samples per
    step), so that diff can line a DeepSpeed run up with one on samples or tokens."""
    from ...ir import ConstantBatch

    size = config.get("train_batch_size")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return Axis(batch=ConstantBatch(size))
    return Axis()


def _fit_warmup(curve: Curve, total: float | None, ctx: "_Ctx") -> Curve:
    """A warmup running past total_num_steps is legal in DeepSpeed (it only warns): label it a ramp."""
    segs = list(curve.segments)
    for i, seg in enumerate(segs):
        if total is not None and seg.label == "warmup" and seg.end is not None and seg.end > total:
            segs[i] = replace(seg, label="ramp")
            ctx.notes.append(f"the warmup (with the one-step lag) ends at step {seg.end:g}, past total_num_steps"
                             f" {total:g}: DeepSpeed only warns")
    return Curve(tuple(segs), curve.after)


def _unknown_type(kind: str):
    if kind in TORCH_SCHEDULERS:
        raise LrplanError(f"scheduler.type {kind!r} is a torch scheduler that DeepSpeed passes through"
                          " (torch.optim.lr_scheduler); lrplan reads only DeepSpeed's own classes from a DS config",
                          where="scheduler.type",
                          hint="write it as a spec, or use one of " + ", ".join(PARAMS))
    raise LrplanError(f"unknown scheduler.type {kind!r}: DeepSpeed would fail"
                      " ('DeepSpeed does not recognize LR scheduler')", where="scheduler.type",
                      hint=did_you_mean(kind, list(PARAMS) + sorted(TORCH_SCHEDULERS), noun="scheduler type"))


class _Ctx:
    """Reading state: the config, the CLI options, notes and the defaults that were applied."""

    def __init__(self, config: dict, opts: ReadOptions):
        self.config, self.opts = config, opts
        self.notes: list[str] = []
        self.defaults: list[str] = []

    def optimizer_lr(self, why: str) -> float:
        opt = self.config.get("optimizer")
        params = opt.get("params") if isinstance(opt, dict) else None
        lr = params.get("lr") if isinstance(params, dict) else None
        if lr == "auto" or lr is None:
            if self.opts.lr is None:
                said = "is \"auto\"" if lr == "auto" else "is not set (a client optimizer?)"
                raise LrplanError(f"optimizer.params.lr {said} and {why}", hint="pass --lr PEAK")
            self.notes.append(f"optimizer lr taken from --lr ({self.opts.lr:g})")
            return float(self.opts.lr)
        return _number(lr, "optimizer.params.lr", positive=True)

    def resolve(self, kind: str, params: dict) -> dict:
        table = PARAMS[kind]
        for key in params:
            if key not in table:
                raise LrplanError(f"{kind} has no parameter {key!r}: DeepSpeed would raise TypeError",
                                  where=f"scheduler.params.{key}",
                                  hint=did_you_mean(key, [k for k in table if k != "last_batch_iteration"],
                                                    noun="parameter"))
        out = {}
        for key, default in table.items():
            if key in params:
                out[key] = self._given(key, params[key])
            elif default is REQUIRED:
                raise LrplanError(f"{kind} needs {key}: DeepSpeed would raise TypeError",
                                  where=f"scheduler.params.{key}")
            else:
                self.defaults.append(f"scheduler.params.{key}")
                out[key] = default
        if out["last_batch_iteration"] != -1:
            raise LrplanError("last_batch_iteration other than -1 resumes a schedule mid-way; lrplan reads"
                              " a schedule from its start", where="scheduler.params.last_batch_iteration",
                              hint="remove it; use `lrplan at-step` for a position in the run")
        return out

    def _given(self, key: str, value):
        where = f"scheduler.params.{key}"
        if value == "auto":
            return self._auto(key, where)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # a per-group list for a single group
        if key in BOOL_PARAMS:
            if not isinstance(value, bool):
                raise LrplanError(f"must be true or false, got {value!r}", where=where)
            return value
        if key == "warmup_type":
            if value not in ("log", "linear"):
                self.notes.append(f"unknown warmup_type {value!r}: DeepSpeed warns and uses log")
                return "log"
            return value
        if key in ("cycle_second_step_size", "cycle_second_stair_count") and value is None:
            return None
        if isinstance(value, list):
            raise LrplanError("a per-group list; lrplan reads one param group", where=where,
                              hint="give a single number")
        if key in INT_PARAMS and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise LrplanError(f"must be a positive integer, got {shown(value)} (DeepSpeed 0.19.8 raises ValueError)",
                              where=where)
        if key == "last_batch_iteration":  # -1 (the default) is legal: its own rule, not the non-negative one
            return number(value, where, minimum=-1, integer=True)
        return _number(value, where)

    def _auto(self, key: str, where: str):
        if key not in AUTO_FILL:
            raise LrplanError(f"{where} is \"auto\", which HF Transformers does not fill for this key",
                              hint="give a number")
        source, hint = AUTO_FILL[key]
        if source == "zero":
            self.notes.append(f"{where} is \"auto\": HF fills 0")
            return 0.0
        if source == "steps" and self.opts.steps is not None:
            self.notes.append(f"{where} \"auto\" taken from --steps")
            return _steps_value(self.opts.steps, where)
        if source == "lr" and self.opts.lr is not None:
            self.notes.append(f"{where} \"auto\" taken from --lr")
            return float(self.opts.lr)
        if source == "warmup_num_steps" and self.opts.get("warmup_num_steps") is not None:
            return _steps_value(self.opts.get("warmup_num_steps"), where, integer=True)
        raise LrplanError(f"{where} is \"auto\" (HF Transformers fills it): {hint}", hint=hint)

    def total(self, values: dict) -> float | None:
        if "total_num_steps" in values:
            return float(values["total_num_steps"])
        if self.opts.steps is not None:
            return _steps_value(self.opts.steps, "--steps")
        return None


def _number(value, where: str, *, positive: bool = False):
    return number(value, where, positive=positive, integer=isinstance(value, int) and not isinstance(value, bool))


def _steps_value(text, where: str, *, integer: bool = False):
    from ...quantity import parse_count

    n = parse_count(text, where, integer=integer)
    return int(n) if n == int(n) else n


def _no_scheduler(ctx: _Ctx) -> Loaded:
    lr = ctx.optimizer_lr("there is no scheduler section to say otherwise")
    curve = Curve((Segment("constant", 0.0, None, Level(1.0), label="constant"),))
    total = ctx.total({})
    ctx.notes.append("no scheduler section: DeepSpeed keeps optimizer.params.lr constant (unless the script"
                     " passes a client lr_scheduler to deepspeed.initialize, which always wins)")
    raw = dict(ctx.config)
    raw["_defaults_applied"] = []
    return Loaded(Schedule(lr=curve, peak_lr=lr, total=total, axis=_axis(ctx.config)), "deepspeed",
                  "DeepSpeed (no scheduler)",
                  tuple(ctx.notes), step_name, raw)


# ---- per-class builders: validated values -> curves ----------------------------------------------


def _warmup_steps(v: dict) -> int:
    return max(2, int(v["warmup_num_steps"]))  # W' = max(2, warmup_num_steps)


def _note_warmup(ctx: _Ctx, v: dict) -> None:
    if "scheduler.params.warmup_type" in ctx.defaults:
        ctx.notes.append("warmup_type defaults to log (ln(j+1)/ln(W')): the first two updates run at the start"
                         " value")
    if v["warmup_num_steps"] < 2:
        ctx.notes.append(f"warmup_num_steps {v['warmup_num_steps']} is raised to 2 by DeepSpeed (max(2, W))")


def _build_warmup(ctx: _Ctx, v: dict):
    _note_warmup(ctx, v)
    max_lr = v["warmup_max_lr"]
    if max_lr is OPTIMIZER_LR:
        max_lr = ctx.optimizer_lr("WarmupLR's warmup_max_lr defaults to it (DeepSpeed >= 0.17.2)")
        ctx.notes.append("warmup_max_lr defaulted to optimizer.params.lr (DeepSpeed >= 0.17.2; 0.001 before)")
    return curves.warmup_lr(v["warmup_min_lr"], _peak_ok(max_lr, v["warmup_min_lr"]), _warmup_steps(v),
                            v["warmup_type"])


def _build_decay(ctx: _Ctx, v: dict):
    _note_warmup(ctx, v)
    if "scheduler.params.warmup_max_lr" in ctx.defaults:
        ctx.notes.append("warmup_max_lr defaulted to 0.001 and ignores optimizer.params.lr (WarmupDecayLR)")
    return curves.warmup_decay_lr(v["warmup_min_lr"], _peak_ok(v["warmup_max_lr"], v["warmup_min_lr"]),
                                  _warmup_steps(v), v["warmup_type"], float(v["total_num_steps"]))


def _build_cosine(ctx: _Ctx, v: dict):
    _note_warmup(ctx, v)
    base = ctx.optimizer_lr("WarmupCosineLR multiplies the optimizer's lr")
    ctx.notes.append(f"WarmupCosineLR is relative: LR = optimizer.params.lr ({base:g}) x ratio;"
                     " the first update uses the constructor value 0.0")
    return curves.warmup_cosine_lr(base, v["warmup_min_ratio"], v["cos_min_ratio"], _warmup_steps(v),
                                   v["warmup_type"], float(v["total_num_steps"]))


def _peak_ok(max_lr: float, min_lr: float) -> float:
    if max(max_lr, min_lr) <= 0:
        raise LrplanError("warmup_min_lr and warmup_max_lr are both 0: the LR is 0 throughout",
                          where="scheduler.params.warmup_max_lr")
    return max_lr


def _build_one_cycle(ctx: _Ctx, v: dict):
    s1 = float(v["cycle_first_step_size"])
    s2 = s1 if v["cycle_second_step_size"] is None else float(v["cycle_second_step_size"])
    if s1 <= 0:
        raise LrplanError("cycle_first_step_size must be positive (DeepSpeed raises ValueError)",
                          where="scheduler.params.cycle_first_step_size")
    m1 = int(v["cycle_first_stair_count"])
    m2 = m1 if v["cycle_second_stair_count"] is None else int(v["cycle_second_stair_count"])
    every = v["decay_step_size"]
    momentum = v["cycle_momentum"] and _has_betas(ctx)
    if momentum:
        ctx.notes.append("OneCycle cycles beta1 only and sets beta2 to 0.99 (betas = (beta1, 0.99))")
    if max(v["cycle_min_lr"], v["cycle_max_lr"]) <= 0:
        raise LrplanError("cycle_min_lr and cycle_max_lr are both 0", where="scheduler.params.cycle_max_lr")
    p = {"s1": s1, "s2": s2, "m1": m1, "m2": m2, "min_lr": v["cycle_min_lr"], "max_lr": v["cycle_max_lr"],
         "every": float(every) if every else 1.0, "lr_rate": v["decay_lr_rate"], "mom_rate": v["decay_mom_rate"],
         # math.isclose(x, 0) with its default tolerances is x == 0 (deepspeed lr_schedules.py OneCycle).
         "skip_lr_decay": every == 0 or v["decay_lr_rate"] == 0,
         "skip_mom_decay": every == 0 or v["decay_mom_rate"] == 0,
         "momentum": momentum, "min_mom": v["cycle_min_mom"], "max_mom": v["cycle_max_mom"]}
    return curves.one_cycle(p)


def _has_betas(ctx: _Ctx) -> bool:
    opt = ctx.config.get("optimizer")
    kind = opt.get("type") if isinstance(opt, dict) else None
    if isinstance(kind, str) and kind.lower() in NO_BETAS:
        ctx.notes.append(f"optimizer {kind} has no betas: DeepSpeed disables OneCycle's momentum cycling")
        return False
    return True


def _build_range(ctx: _Ctx, v: dict):
    if v["lr_range_test_min_lr"] <= 0:
        raise LrplanError("lr_range_test_min_lr must be positive", where="scheduler.params.lr_range_test_min_lr")
    return curves.lr_range_test(v["lr_range_test_min_lr"], v["lr_range_test_step_size"],
                                v["lr_range_test_step_rate"], v["lr_range_test_staircase"], ctx.total(v))


BUILDERS = {"WarmupLR": _build_warmup, "WarmupDecayLR": _build_decay, "WarmupCosineLR": _build_cosine,
            "OneCycle": _build_one_cycle, "LRRangeTest": _build_range}
