"""NeMo 1.x YAML (``model.optim.sched``) -> Schedule IR.

What NeMo does with the config (nemo_toolkit 2.7.3; unchanged in substance since 1.23):

* ``ModelPT.setup_optimization`` (``nemo/core/classes/modelPT.py`` L710-730): with ``trainer.max_steps >= 0``
  it sets ``sched.max_steps = trainer.max_steps`` (overriding a value written in ``sched``); with
  ``trainer.max_steps < 0`` (Lightning's default -1) it stores ``t_max_epochs`` etc. instead.
* ``prepare_lr_scheduler`` (``nemo/core/optim/lr_scheduler.py`` L759-1016): ``sched.max_steps: -1`` means
  *no scheduler at all* (a warning; the LR stays at ``optim.lr``); otherwise max_steps is ``sched.max_steps``
  or, from epochs, ``compute_max_steps`` (L1019): ``ceil(batches_per_epoch / accumulate_grad_batches) *
  max_epochs`` with ``batches_per_epoch = round(ceil(samples / workers) / batch_size)`` (floor with
  drop_last, else ceil), capped by ``limit_train_batches``. Every other ``sched`` key but ``name``,
  ``monitor``, ``reduce_on_plateau`` and the ``t_*`` keys is a constructor argument.
* Lightning steps the scheduler once per optimizer update (``interval: step``), so update k uses
  ``get_lr()`` at ``last_epoch == k``: no index shift (lightning 2.6 ``training_epoch_loop.py``).

``${a.b.c}`` interpolations (OmegaConf) are resolved against the whole document.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from ...errors import LrplanError, did_you_mean
from ...ir import ONE, Curve, Schedule, Segment
from ...values import number
from ..base import Loaded, ReadOptions
from .curves import Effective, schedule
from .tables import NOT_ARGUMENTS, NOT_READ, SCHEDULERS, TRAINER_DEFAULTS

SCHED = "model.optim.sched"
_MAX_STEPS_WHERE = {"epochs": "trainer.max_epochs", "--steps": "--steps"}
DOCS = "see docs/frameworks/nemo.md"


def step_name(k: int) -> str:
    return f"NeMo (Lightning) logs this LR at step {k}"


# ---- parsing ----------------------------------------------------------------------------------------


def parse(text: str, path=None) -> dict:
    from ...yamlsafe import load_mapping

    return load_mapping(text, "a NeMo config (model: optim: sched: ...)", str(path or "NeMo YAML"))


def sections(data: dict) -> tuple[dict | None, str]:
    """(the optim mapping, its dotted name): ``model.optim`` of a full config, or a bare ``optim`` section."""
    model = data.get("model")
    if isinstance(model, dict) and isinstance(model.get("optim"), dict):
        return model["optim"], "model.optim"
    if isinstance(data.get("optim"), dict):
        return data["optim"], "optim"
    return None, ""


def detect(text: str, path) -> int:
    if "optim" not in text or len(text) > 2_000_000:
        return 0
    try:
        data = parse(text)
    except LrplanError:
        return 0
    optim, where = sections(data)
    if optim is None:
        return 0
    if isinstance(optim.get("sched"), dict):
        return 9 if where == "model.optim" else 8
    return 6 if where == "model.optim" and isinstance(data.get("trainer"), dict) else 0


_INTERP = re.compile(r"\$\{([^{}]*)\}")


def lookup(data: dict, dotted: str):
    cur = data
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None, False
        cur = cur[part]
    return cur, True


def resolve(data: dict, v, where: str, depth: int = 0):
    """A value with OmegaConf ``${absolute.path}`` interpolations replaced (whole value or inside a string)."""
    if not isinstance(v, str) or "${" not in v:
        return v
    if depth > 16:
        raise LrplanError("interpolation loop", where=where)
    m = _INTERP.fullmatch(v.strip())

    def target(expr: str):
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", expr):
            raise LrplanError(f"cannot resolve the interpolation ${{{expr}}} (lrplan resolves ${{absolute.key.path}}"
                              " only, not resolvers or relative paths)", where=where,
                              hint="write the value itself in the config")
        value, ok = lookup(data, expr)
        if not ok:
            raise LrplanError(f"the interpolation ${{{expr}}} names a key the config does not have", where=where)
        return resolve(data, value, where, depth + 1)

    if m:
        return target(m.group(1))
    return _INTERP.sub(lambda mm: str(target(mm.group(1))), v)


# ---- numbers -----------------------------------------------------------------------------------------


def _num(v, where: str, *, integer: bool = False, minimum: float | None = 0, positive: bool = False):
    return number(v, where, integer=integer, minimum=minimum, positive=positive, text=True, hint=DOCS)


def _ratio(v, where: str) -> float:
    return _num(v, where)


# ---- max_steps ------------------------------------------------------------------------------------------




def _trainer(data: dict) -> dict:
    t = data.get("trainer")
    if not isinstance(t, dict):
        return {}
    return {k: resolve(data, v, f"trainer.{k}") for k, v in t.items()}


def max_steps(data: dict, sched: dict, opts: ReadOptions, notes: list[str]) -> tuple[int | None, str]:
    """(max_steps NeMo passes the scheduler, where it came from); (None, why) when it creates no scheduler
    or the config alone does not say (the caller decides whether the class needs it)."""
    trainer = _trainer(data)
    given = sched.get("max_steps")
    if "max_steps" in trainer and trainer["max_steps"] is not None:
        tmax = _num(trainer["max_steps"], "trainer.max_steps", integer=True, minimum=None)
        if tmax >= 0:
            if given is not None and _num(given, f"{SCHED}.max_steps", integer=True, minimum=None) != tmax:
                notes.append(f"trainer.max_steps {tmax} overrides {SCHED}.max_steps {given} (ModelPT.setup_optimization)")
            return tmax, "trainer.max_steps"
    if given is not None:
        g = _num(given, f"{SCHED}.max_steps", integer=True, minimum=None)
        if g == -1:
            return None, "no-scheduler"
        if g < 0:
            raise LrplanError(f"must be a non-negative integer, got {g} (NeMo asserts it)", where=f"{SCHED}.max_steps")
        return g, f"{SCHED}.max_steps"
    if trainer:
        T = _from_epochs(data, trainer, opts, notes)
        if T is not None:
            return T, "epochs"
    if opts.steps is not None:
        from ...quantity import parse_count

        T = int(parse_count(opts.steps, integer=True))
        notes.append(f"max_steps = {T} from --steps (the config does not fix it)")
        return T, "--steps"
    return None, "unknown"


def _from_epochs(data: dict, trainer: dict, opts: ReadOptions, notes: list[str]) -> int | None:
    """compute_max_steps (lr_scheduler.py L1019) with --set dataset_size=N [world_size=W batch_size=B]."""
    n = opts.positive_int("dataset_size")
    if n is None:
        return None
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    if model.get("global_batch_size") is not None:
        raise LrplanError("a Megatron-style NeMo model (model.global_batch_size) with trainer.max_steps -1 counts "
                          "len(train_dataloader) x max_epochs; lrplan does not derive that from dataset_size",
                          where="trainer.max_steps", hint="pass --steps N (the number of optimizer updates)")
    ds = model.get("train_ds") if isinstance(model.get("train_ds"), dict) else {}
    t = {k: trainer.get(k) if trainer.get(k) is not None else d for k, d in TRAINER_DEFAULTS.items()}
    epochs = t["max_epochs"]
    epochs = 1000 if epochs is None or epochs == -1 else _num(epochs, "trainer.max_epochs", integer=True, minimum=1)
    acc = _num(t["accumulate_grad_batches"], "trainer.accumulate_grad_batches", integer=True, minimum=1)
    limit = t["limit_train_batches"]
    limit = _num(limit, "trainer.limit_train_batches") if not isinstance(limit, int) else limit
    world = opts.positive_int("world_size")
    if world is None:
        devices, nodes = t["devices"], t["num_nodes"]
        if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
            raise LrplanError(f"trainer.devices is {devices!r}: the number of data-parallel workers is not known",
                              where="trainer.devices", hint="pass --set world_size=N")
        world = devices * _num(nodes, "trainer.num_nodes", integer=True, minimum=1)
    bs = opts.positive_int("batch_size")
    if bs is None:
        b = resolve(data, ds.get("batch_size"), "model.train_ds.batch_size")
        if b is None:
            raise LrplanError("model.train_ds.batch_size is not set", where="model.train_ds.batch_size",
                              hint="pass --set batch_size=N (per device)")
        bs = _num(b, "model.train_ds.batch_size", integer=True, minimum=1)
    drop = bool(resolve(data, ds.get("drop_last"), "model.train_ds.drop_last") or False)
    rnd = math.floor if drop else math.ceil
    per_worker = math.ceil(n / max(1, world))
    batches = rnd(per_worker / bs)
    if isinstance(limit, int) or limit == 0.0:
        batches = min(batches, int(limit))
    else:
        batches = int(batches * limit)
    T = math.ceil(batches / acc) * epochs
    notes.append(f"max_steps = ceil({batches} batches / accumulate_grad_batches {acc}) x max_epochs {epochs} = {T} "
                 f"(compute_max_steps: dataset_size {n}, {world} workers, batch_size {bs}, drop_last {drop})")
    return T


# ---- effective values ---------------------------------------------------------------------------------


def _steps_or_ratio(sched: dict, steps_key: str, ratio_key: str, T: int | None, name: str) -> tuple[int | None, str]:
    s, r = sched.get(steps_key), sched.get(ratio_key)
    if s is not None and r is not None:
        raise LrplanError(f"both {steps_key} and {ratio_key} are set (NeMo asserts 'Either use particular number "
                          "of step or ratio')", where=f"{SCHED}.{ratio_key}", hint="keep one of them")
    if s is not None:
        return _num(s, f"{SCHED}.{steps_key}", integer=True), "steps"
    if r is not None:
        ratio = _ratio(r, f"{SCHED}.{ratio_key}")
        if T is None:
            raise LrplanError(f"{ratio_key} needs max_steps, and the config does not fix it", where=f"{SCHED}.{ratio_key}",
                              hint="pass --steps N, or --set dataset_size=N to count from trainer.max_epochs")
        return int(ratio * T), "ratio"  # int(): truncation, as NeMo
    return None, ""


def effective(name: str, sched: dict, base: float, T: int | None, notes: list[str]) -> Effective:
    """What NeMo's constructor makes of the arguments (its state_dict attributes)."""
    spec = SCHEDULERS[name]
    args = {k: v for k, v in sched.items() if k not in NOT_ARGUMENTS and k != "max_steps"}
    unknown = sorted(set(args) - set(spec.args))
    if unknown:
        raise LrplanError(f"{name} takes no argument {unknown[0]!r} (NeMo passes every sched key but name, monitor "
                          "and reduce_on_plateau to the constructor: TypeError)", where=f"{SCHED}.{unknown[0]}",
                          hint="accepted: " + ", ".join(a for a in spec.args if a != "max_steps"))
    le = args.get("last_epoch")
    if le is not None and _num(le, f"{SCHED}.last_epoch", integer=True, minimum=None) != -1:
        raise LrplanError(f"last_epoch {le}: torch requires 'initial_lr' in the optimizer's param groups to start a "
                          "scheduler there (KeyError on a fresh optimizer)", where=f"{SCHED}.last_epoch",
                          hint="resume from the checkpoint instead (lrplan inspect CKPT); leave last_epoch at -1")
    d = dict(spec.defaults)
    for k in ("min_lr", "power", "decay_rate", "gamma"):
        if args.get(k) is not None:
            d[k] = _num(args[k], f"{SCHED}.{k}", minimum=None if k == "gamma" else 0)
    W, _ = _steps_or_ratio(args, "warmup_steps", "warmup_ratio", T, name) if "warmup_steps" in spec.args else (0, "")
    W = W or 0
    H = 0
    if "hold_steps" in spec.args:
        h, _ = _steps_or_ratio(args, "hold_steps", "hold_ratio", T, name)
        H = (h + W) if h is not None else 0  # NeMo keeps the absolute end of the hold; 0 without a hold
    C = 0
    if "constant_steps" in spec.args:
        c, _ = _steps_or_ratio(args, "constant_steps", "constant_ratio", T, name)
        C = c or 0
        if name == "T5InverseSquareRootAnnealing" and (args.get("constant_steps") is None or C == 0):
            raise LrplanError("T5InverseSquareRootAnnealing computes 1 / constant_steps ** 0.5 from constant_steps "
                              "itself (NeMo raises TypeError/ZeroDivisionError without a positive one)",
                              where=f"{SCHED}.constant_steps")
    cycle = args.get("cycle", d.get("cycle", False))
    if not isinstance(cycle, bool):
        raise LrplanError(f"must be true or false, got {cycle!r}", where=f"{SCHED}.cycle")
    e = Effective(name, base, T, warmup_steps=W, hold_steps=H, constant_steps=C, min_lr=float(d.get("min_lr", 0.0)),
                  power=float(d.get("power", 1.0)), cycle=cycle, decay_rate=float(d.get("decay_rate", 0.5)))
    if name == "NoamAnnealing":
        dm = args.get("d_model")
        if dm is None:
            raise LrplanError("NoamAnnealing needs d_model", where=f"{SCHED}.d_model")
        dm = _num(dm, f"{SCHED}.d_model", positive=True)
        if base < e.min_lr:
            raise LrplanError(f"model.optim.lr {base:g} is below min_lr {e.min_lr:g} (NeMo's NoamAnnealing raises "
                              "ValueError)", where=f"{SCHED}.min_lr")
        e = replace(e, d_model=dm, normalize=dm ** (-0.5))
    if name == "StepLR":
        if args.get("step_size") is None:
            raise LrplanError("StepLR needs step_size", where=f"{SCHED}.step_size")
        e = replace(e, step_size=_num(args["step_size"], f"{SCHED}.step_size", positive=True, integer=True),
                    gamma=float(d["gamma"]))
    return e


# ---- the reader ---------------------------------------------------------------------------------------------


def _constant(base: float, T: int | None) -> Schedule:
    return Schedule(Curve((Segment("constant", 0.0, None, ONE, label="constant"),)), peak_lr=base,
                    total=float(T) if T else None)


def from_config(data: dict, opts: ReadOptions = ReadOptions(), label: str = "NeMo config") -> Loaded:
    optim, where = sections(data)
    if optim is None:
        raise LrplanError("no model.optim section: not a NeMo model config", where=label,
                          hint="a NeMo config has model: optim: {lr, sched: {name, ...}}")
    notes: list[str] = []
    applied: list[str] = []
    raw = dict(data, _defaults_applied=applied)
    lr = resolve(data, optim.get("lr"), f"{where}.lr")
    if lr is None:
        if opts.lr is None:
            raise LrplanError("the optimizer LR is not set", where=f"{where}.lr", hint="pass --lr PEAK")
        lr = opts.lr
        applied.append(f"{where}.lr")
    base = _num(lr, f"{where}.lr", positive=True)
    sched = optim.get("sched")
    if sched is None:
        notes.append(f"no {where}.sched: NeMo creates no scheduler, the LR stays at {where}.lr")
        T, _ = max_steps(data, {}, opts, notes)
        return Loaded(_constant(base, T), "nemo", label, tuple(notes), step_name, raw)
    if not isinstance(sched, dict):
        raise LrplanError(f"must be a mapping, got {type(sched).__name__}", where=f"{where}.sched")
    sched = {k: resolve(data, v, f"{where}.sched.{k}") for k, v in sched.items()}
    raw["_sched"] = sched
    if "args" in sched or "_target_" in sched:
        raise LrplanError("the Hydra-0.x 'args:' / '_target_' form of sched is not read", where=f"{where}.sched",
                          hint="write the scheduler's arguments directly under sched (name, warmup_steps, ...)")
    name = sched.get("name")
    if name is None:
        notes.append(f"{where}.sched has no name: NeMo cannot resolve a scheduler and creates none (constant LR)")
        T, _ = max_steps(data, sched, opts, notes)
        return Loaded(_constant(base, T), "nemo", label, tuple(notes), step_name, raw)
    if name in NOT_READ:
        raise LrplanError(f"{name}: {NOT_READ[name]}", where=f"{where}.sched.name")
    if name not in SCHEDULERS:
        raise LrplanError(f"unknown scheduler {name!r} (NeMo raises 'Cannot resolve scheduler')",
                          where=f"{where}.sched.name", hint=did_you_mean(str(name), SCHEDULERS, noun="scheduler"))
    T, source = max_steps(data, sched, opts, notes)
    raw["_max_steps_source"] = source
    if T == 0:
        raise LrplanError("max_steps is 0: the run has no optimizer updates", where=_MAX_STEPS_WHERE.get(source, source),
                          hint="check trainer.max_steps, trainer.limit_train_batches and the dataset size")
    if source == "no-scheduler":
        notes.append(f"{where}.sched.max_steps is -1: NeMo warns and creates no scheduler, so the LR stays at "
                     f"{where}.lr for the whole run")
        return Loaded(_constant(base, None), "nemo", label, tuple(notes), step_name, raw)
    spec = SCHEDULERS[name]
    if T is None and ("max_steps" in spec.required or sched.get("warmup_ratio") is not None
                      or sched.get("hold_ratio") is not None or name in ("WarmupHoldPolicy",)):
        raise LrplanError(f"{name} needs max_steps, and the config does not fix it (trainer.max_steps is -1 and "
                          f"{where}.sched has none)", where="trainer.max_steps",
                          hint="pass --steps N, or --set dataset_size=N [world_size=W] to count from trainer.max_epochs")
    e = effective(name, sched, base, T, notes)
    s = schedule(e, spec.family)
    raw["_effective"] = dict(e.__dict__)
    notes += _convention_notes(e)
    return Loaded(s, "nemo", label, tuple(notes), step_name, raw)


def _convention_notes(e: Effective) -> list[str]:
    out = []
    W = e.warmup_steps
    if e.max_steps is not None and W >= e.max_steps and e.name != "T5InverseSquareRootAnnealing":
        out.append(f"warning: warmup_steps {W} is not shorter than max_steps {e.max_steps}: the LR rises for the "
                   "whole run and never decays")
    if e.name == "CosineAnnealing" and e.constant_steps > 0:
        out.append(f"constant_steps {e.constant_steps} > 0 switches CosineAnnealing to the Megatron cosine: warmup "
                   f"k/{W} (the first update at LR 0), cosine over max_steps - constant_steps - warmup_steps = "
                   f"{e.decay_steps} steps, then min_lr for the last {e.constant_steps} steps")
    elif W > 0 and e.name not in ("NoamAnnealing", "T5InverseSquareRootAnnealing", "StepLR"):
        out.append(f"NeMo warms up with (k+1)/(W+1): the first update uses lr/{W + 1} and the LR reaches "
                   f"model.optim.lr at step {W} (warmup_steps = {W})")
    if e.name == "SquareRootAnnealing" and W > 0:
        out.append("SquareRootAnnealing decays ((max_steps - k) / max_steps) ** 0.5 counted from step 0: the warmup "
                   "is laid over the decay, not before it")
    if e.name == "PolynomialHoldDecayAnnealing" and e.hold_steps == 0 and W > 0:
        out.append("PolynomialHoldDecayAnnealing without a hold counts the decay from step 0 over max_steps - "
                   f"warmup_steps: the LR drops right after the warmup and reaches min_lr at step {e.max_steps - W}")
    if e.min_lr > 0 and e.name in ("SquareAnnealing", "SquareRootAnnealing", "NoamHoldAnnealing",
                                   "WarmupHoldAnnealOneMinusSquareRoot"):
        out.append(f"{e.name} clamps: max(lr x factor, min_lr), so the decay stops where it reaches min_lr")
    if e.max_steps is not None and e.name not in ("NoamAnnealing", "StepLR"):
        out.append(f"after max_steps ({e.max_steps}) NeMo returns min_lr ({e.min_lr:g})")
    return out


def read(text: str, path, opts: ReadOptions) -> Loaded:
    data = parse(text, path)
    return from_config(data, opts, str(path) if path else "NeMo config")
