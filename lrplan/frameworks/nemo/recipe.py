"""NeMo 2.x Python recipes and scripts -> Schedule IR, read without running them (pyeval.py walks the tree).

What NeMo 2 does with a recipe (nemo_toolkit 2.7.3; NVIDIA/NeMo 8cfedd72):

* ``recipe.optim`` is a ``MegatronOptimizerModule(config=OptimizerConfig(lr=...), lr_scheduler=...)``
  (``nemo/lightning/pytorch/optim/megatron.py``) or a ``PytorchOptimizerModule(optimizer_fn=Partial(Adam,
  lr=...), lr_scheduler=...)`` (``pytorch.py``); the optimizer's ``lr`` is the scheduler's ``base_lrs[0]``.
  Without ``lr_scheduler`` there is no scheduler: the LR stays at ``lr``.
* ``lr_scheduler`` is an ``LRSchedulerModule`` wrapper (``nemo/lightning/pytorch/optim/lr_scheduler.py``)
  whose ``scheduler()`` builds one NeMo 1 class (``nemo/core/optim/lr_scheduler.py``) with the arguments it
  forwards (tables.NEMO2_WRAPPERS; an argument it does not forward takes the NeMo 1 default, e.g. no warmup)
  and is stepped by Lightning once per update (``interval: step``): update k uses ``get_lr()`` at
  ``last_epoch == k``, as in NeMo 1 (read.py).
* ``max_steps``: ``MegatronStrategy.setup`` (``nemo/lightning/pytorch/strategies/megatron_strategy.py``
  L505-519) sets ``model.optim.lr_scheduler.max_steps = trainer.max_steps``, replacing what the recipe wrote;
  no other strategy does, so there the wrapper keeps its own value (default 10: NVIDIA/NeMo issue #14186).
* The optim helpers of ``nemo/collections/llm/recipes/optim/adam.py`` (tables.RECIPES) build a
  CosineAnnealingScheduler with ``min_lr`` 0.1 * max_lr when not given.

A value that is not a literal (an argparse result, a computed expression) is an error naming it and the
``--set NAME=VALUE`` that supplies it; ``--set`` values replace the file's (NAME: ``lr``, ``max_steps`` or a
scheduler argument). ``--set recipe=FUNCTION`` picks the factory to read (default: what the script runs,
else ``pretrain_recipe``); ``--set nemo_source=DIR`` says where NeMo's recipe sources are (default: the
installed nemo_toolkit, whose files are read, never imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import LrplanError, did_you_mean
from ...ir import ONE, Curve, Schedule, Segment
from ...values import number
from ..base import Loaded, ReadOptions
from .pyeval import Cfg, Func, Interpreter, Unknown, is_number, nemo_source
from .sniff import detect, looks_like_recipe  # noqa: F401 - the reader's detection, light
from .tables import (
    NEMO2_STEPPING,
    NEMO2_WRAPPERS,
    RECIPES,
    SCHEDULERS,
    WSD_DECAY,
    WSD_WRAPPER,
    WSD_WRAPPER_DEFAULTS,
)

WRAPPERS = {**{k: v[1] for k, v in NEMO2_WRAPPERS.items()}, WSD_WRAPPER: WSD_WRAPPER_DEFAULTS}
OPTIM_MODULES = ("MegatronOptimizerModule", "PytorchOptimizerModule")
NOT_KEYS = ("recipe", "nemo_source")  # --set keys that are not values
DOCS = "see docs/frameworks/nemo.md (NeMo 2.x)"



# ---- the adam.py helpers, from the table -----------------------------------------------------------


def helper(name: str, args: list, kwargs: dict, line: int, label: str):
    """What ``nemo.collections.llm.recipes.optim.adam.<name>(...)`` returns (adam.py, 2.7.3)."""
    params, rule, module = RECIPES[name]
    names = [p for p, _ in params]
    extra = sorted(set(kwargs) - set(names))
    if len(args) > len(names) or extra:
        return Unknown(f"{name}() called with an argument it does not take ({extra[0] if extra else 'positional'})",
                       line, label)
    v = dict(params)
    v.update(zip(names, args))
    v.update(kwargs)
    at = {k: line for k in v}
    if rule is None:
        opt = Cfg("torch.optim.Adam", {"lr": v["lr"]}, lines=at, line=line, label=label)
        return Cfg(module, {"optimizer_fn": opt, "lr_scheduler": None}, lines=at, line=line, label=label)
    max_lr, min_lr = v["max_lr"], v["min_lr"]
    use_default = min_lr is None if rule == "none" else (not min_lr if not isinstance(min_lr, Unknown) else None)
    if use_default is None:
        pass  # min_lr itself is not known
    elif use_default:
        min_lr = 0.1 * max_lr if is_number(max_lr) else Unknown(f"{name}'s min_lr = 0.1 * max_lr", line, label,
                                                              getattr(max_lr, "why", ""))
    sched = Cfg("nemo.lightning.pytorch.optim.CosineAnnealingScheduler",
                {"warmup_steps": v["warmup_steps"], "constant_steps": v["constant_steps"], "min_lr": min_lr},
                lines=at, line=line, label=label)
    if module == "MegatronOptimizerModule":
        inner = ("config", Cfg("megatron.core.optimizer.OptimizerConfig", {"lr": max_lr}, lines=at, line=line,
                               label=label))
    else:
        inner = ("optimizer_fn", Cfg("torch.optim.Adam", {"lr": max_lr}, lines=at, line=line, label=label))
    return Cfg(f"nemo.lightning.pytorch.optim.{module}", {inner[0]: inner[1], "lr_scheduler": sched}, lines=at,
               line=line, label=label)


# ---- which object is the run -------------------------------------------------------------------------


def _root(interp: Interpreter, text: str, label: str, opts: ReadOptions):
    """(the value the schedule is read from, how it was found)."""
    choice = opts.get("recipe")
    m = interp.load(text, label, "__main__" if not choice else "__recipe__")
    interp.run_module(m)
    if choice:
        f = m.globals.get(choice)
        if not isinstance(f, Func):
            funcs = [k for k, v in m.globals.items() if isinstance(v, Func)]
            raise LrplanError(f"--set recipe={choice}: the file defines no function of that name", where=label,
                              hint=did_you_mean(choice, funcs, noun="function") or "functions: " + ", ".join(funcs))
        return interp.invoke(f, [], {}, f.node.lineno), f"{choice}() with its defaults"
    if interp.used:
        runs = [(v, line) for v, line in interp.used if isinstance(v, Cfg) and _kind(v) != "other"] or [
            (v, line) for v, line in interp.used if isinstance(v, Unknown)]
        value, line = (runs or interp.used)[-1]
        return value, f"the run at line {line}"
    f = m.globals.get("pretrain_recipe")
    if isinstance(f, Func):
        return interp.invoke(f, [], {}, f.node.lineno), "pretrain_recipe() with its defaults"
    for name, line, value in reversed(interp.recorded):
        if isinstance(value, Cfg) and (value.implicit or _kind(value) != "other"):
            return value, f"{name} (line {line})"
    implicit = m.globals.get("recipe")
    if isinstance(implicit, Cfg):
        return implicit, "recipe"
    raise LrplanError("no NeMo 2 schedule found: lrplan looks for what the script runs (run.run, llm.pretrain, "
                      "run.cli.main's default_factory), else pretrain_recipe(), else a recipe, optimizer module or "
                      "LR scheduler built at module level", where=label,
                      hint="pass --set recipe=FUNCTION to read the recipe a factory returns")


def _kind(c: Cfg) -> str:
    if c.name in WRAPPERS:
        return "scheduler"
    if c.name in OPTIM_MODULES or any(k in c.kwargs for k in ("lr_scheduler", "optimizer_fn")):
        return "optim"
    if "optim" in c.kwargs:
        return "recipe"
    return "other"


# ---- fields -----------------------------------------------------------------------------------------


@dataclass
class Fields:
    """Reads literal fields, with the --set values that replace them and errors that name the source."""

    label: str
    opts: ReadOptions
    root: object = None  # the recipe: a function it was passed to may have changed any field

    def override(self, key: str):
        v = self.opts.get(key)
        if v is None:
            return None
        t = v.strip()
        if t in ("None", "none", "null"):
            return ("set", None)
        if t in ("true", "True", "false", "False"):
            return ("set", t.lower() == "true")
        try:
            return ("set", int(t) if re.fullmatch(r"[+-]?\d+", t) else float(t))
        except ValueError:
            return ("set", t)

    def value(self, v, what: str, key: str, path=(), attr: str = ""):
        """A literal ``v`` (what: how the recipe names it; ``path``: the configs it is read through, the last
        holding it as ``attr``); ``--set key=`` replaces it."""
        o = self.override(key)
        if o is not None:
            return o[1]
        for owner in (self.root, *path):
            if isinstance(owner, Cfg) and owner.taint is not None:
                t = owner.taint
                raise LrplanError(f"{what} {t.describe()}, so lrplan cannot tell its value without running the "
                                  "file", where=t.where(), hint=f"pass --set {key}=VALUE")
        if isinstance(v, Unknown):
            holder = path[-1] if path else None
            line = holder.lines.get(attr) if isinstance(holder, Cfg) and attr else None
            also = f" (line {v.line})" if line and line != v.line and v.label == self.label else ""
            raise LrplanError(f"{what} is {v.describe()}{also}: not a literal, and lrplan does not run the file",
                              where=f"{self.label}:{line}" if line else v.where(), hint=f"pass --set {key}=VALUE")
        if isinstance(v, (Cfg, Func)) or not isinstance(v, (int, float, str, bool, type(None))):
            raise LrplanError(f"{what} is not a number", where=self.label, hint=f"pass --set {key}=VALUE")
        return v

    def where(self, c: Cfg | None, attr: str, what: str) -> str:
        line = c.lines.get(attr, c.line) if isinstance(c, Cfg) else 0
        return f"{self.label}:{line} {what}" if line else f"{self.label} {what}"


# ---- the reader ---------------------------------------------------------------------------------------


def read(text: str, path, opts: ReadOptions) -> Loaded:
    from .read import step_name

    label = str(path) if path is not None else "NeMo 2 recipe"
    bad = sorted(k for k, _ in opts.extra if k not in NOT_KEYS and k not in _set_keys())
    if bad:
        raise LrplanError(f"--set {bad[0]}= is not a NeMo 2 recipe value", hint="accepted: " + ", ".join(
            sorted(_set_keys() | set(NOT_KEYS))))
    interp = Interpreter(nemo_source(opts.get("nemo_source")), dict.fromkeys(RECIPES, helper))
    try:
        root, how = _root(interp, text, label, opts)
        f = Fields(label, opts, root)
        notes: list[str] = []
        schedule, raw = build(root, how, f, notes)
    except (RecursionError, MemoryError):  # expressions nested deeper than the interpreter's stack
        raise LrplanError("the file's expressions are nested too deeply for lrplan to read", where=label) from None
    return Loaded(schedule, "nemo", label, tuple(notes), step_name, raw)


def _set_keys() -> set[str]:
    return {a for args in WRAPPERS.values() for a, _ in args} | {"lr", "decay_schedule", "interval", "frequency"}


def _parts(root, how: str, f: Fields):
    """(scheduler config or None, optimizer module or None, trainer or None, path to the scheduler)."""
    if isinstance(root, Unknown):
        raise LrplanError(f"the recipe ({how}) is {root.describe()}, which lrplan does not read",
                          where=root.where(), hint="pass --set recipe=FUNCTION for a factory defined in the file")
    if not isinstance(root, Cfg):
        raise LrplanError(f"the recipe ({how}) is not a NeMo config object", where=f.label)
    kind = _kind(root)
    if kind == "scheduler":
        return root, None, None
    if kind == "optim":
        return root.kwargs.get("lr_scheduler"), root, None
    optim = root.kwargs.get("optim")
    trainer = root.kwargs.get("trainer")
    if isinstance(optim, Unknown) or optim is None:
        why = optim.describe() if isinstance(optim, Unknown) else "None"
        raise LrplanError(f"the recipe's optim ({how}) is {why}: lrplan needs the optimizer module "
                          "(MegatronOptimizerModule / PytorchOptimizerModule) to read the LR and its scheduler",
                          where=optim.where() if isinstance(optim, Unknown) else f.label,
                          hint="build recipe.optim in the file, or pass a spec with --from spec")
    return optim.kwargs.get("lr_scheduler"), optim, trainer


def _peak(optim, f: Fields, notes: list[str]) -> float:
    o = f.override("lr")
    if o is not None:
        notes.append(f"the LR {o[1]} from --set lr")
        return number(o[1], "--set lr", positive=True)
    if optim is None:
        if f.opts.lr is not None:
            return f.opts.lr
        raise LrplanError("the file has an LR scheduler but no optimizer, so the LR is not known", where=f.label,
                          hint="pass --set lr=PEAK (or --lr PEAK)")
    pytorch = "optimizer_fn" in optim.kwargs or optim.name == "PytorchOptimizerModule"
    inner_key = "optimizer_fn" if pytorch and "config" not in optim.kwargs else "config"
    inner = optim.get(inner_key, optim.line) if isinstance(optim, Cfg) else None
    what = f"optim.{inner_key}.lr"
    if isinstance(inner, Cfg) and "lr" not in inner.kwargs and f.opts.lr is not None:
        notes.append(f"{what} is not set: the LR {f.opts.lr:g} from --lr")
        return f.opts.lr
    if isinstance(inner, Cfg) and inner.implicit and "lr" not in inner.kwargs:
        raise LrplanError(f"{what} is not set in the file (the recipe is built elsewhere)", where=f.label,
                          hint="pass --set lr=PEAK (or --lr PEAK)")
    v = inner.get("lr", inner.line) if isinstance(inner, Cfg) else inner
    lr = f.value(v, what, "lr", (optim, inner), "lr")
    if lr is None:
        raise LrplanError(f"{what} is None (OptimizerConfig's default): the LR is not set",
                          where=f.where(inner, "lr", what), hint="pass --set lr=PEAK")
    return number(lr, f.where(inner, "lr", what), positive=True, hint=DOCS)


def build(root, how: str, f: Fields, notes: list[str]) -> tuple[Schedule, dict]:
    sched, optim, trainer = _parts(root, how, f)
    base = _peak(optim, f, notes)
    raw: dict = {"nemo2": {"how": how}}
    if sched is None or isinstance(sched, Cfg) and sched.implicit and not sched.kwargs:
        notes.append("no lr_scheduler: NeMo 2 creates no scheduler, the LR stays at the optimizer's lr")
        T = _plain_steps(trainer, f)
        s = Schedule(Curve((Segment("constant", 0.0, None, ONE, label="constant"),)), peak_lr=base,
                     total=float(T) if T else None)
        raw["_max_steps_source"] = "no-scheduler"
        return s, raw
    if isinstance(sched, Unknown):
        raise LrplanError(f"optim.lr_scheduler is {sched.describe()}: lrplan does not run the file",
                          where=sched.where(), hint="build it with run.Config(CosineAnnealingScheduler, ...) in the "
                                                    "file, or read a spec instead")
    if not isinstance(sched, Cfg) or sched.name not in WRAPPERS:
        name = sched.target if isinstance(sched, Cfg) else type(sched).__name__
        raise LrplanError(f"optim.lr_scheduler is {name or 'an object'}: lrplan reads NeMo's LRSchedulerModule "
                          "classes (nemo.lightning.pytorch.optim)", where=f.where(sched if isinstance(sched, Cfg)
                                                                                  else None, "", "lr_scheduler"),
                          hint=did_you_mean(str(name).rsplit(".", 1)[-1], WRAPPERS, noun="scheduler"))
    return _scheduled(sched, optim, trainer, base, how, f, notes, raw)


def _scheduled(sched: Cfg, optim, trainer, base: float, how: str, f: Fields, notes: list[str], raw: dict):
    from .curves import schedule
    from .read import _convention_notes, effective

    name = sched.name
    forwarded = dict(WRAPPERS[name])
    stepping = dict(NEMO2_STEPPING)
    extra = sorted(set(sched.kwargs) - set(forwarded) - set(stepping))
    if extra:
        raise LrplanError(f"{name} takes no argument {extra[0]!r} (TypeError in NeMo)",
                          where=f.where(sched, extra[0], f"lr_scheduler.{extra[0]}"),
                          hint="accepted: " + ", ".join(list(forwarded) + list(stepping)))
    if sched.args:
        raise LrplanError(f"{name} has more positional arguments than it takes", where=f.where(sched, "", name))
    for k, want in (("interval", "step"), ("frequency", 1)):
        if k in sched.kwargs:
            v = f.value(sched.kwargs[k], f"lr_scheduler.{k}", k, (sched,), k)
            if v != want:
                raise LrplanError(f"{k}={v!r}: lrplan reads schedulers Lightning steps after every update "
                                  f"({k}={want!r})", where=f.where(sched, k, f"lr_scheduler.{k}"))
    args: dict = {}
    given: dict = {}  # the keywords the wrapper is built with (the file's, --set replacing them)
    for a, d in forwarded.items():
        if a == "max_steps":
            continue
        o = f.override(a)
        if o is not None:
            args[a] = given[a] = o[1]
        elif a in sched.kwargs:
            args[a] = given[a] = f.value(sched.kwargs[a], f"lr_scheduler.{a}", a, (optim, sched), a)
        else:
            args[a] = d
            core_default = dict(SCHEDULERS[NEMO2_WRAPPERS[name][0]].defaults).get(a) if name in NEMO2_WRAPPERS else None
            if d is not None and d != core_default and a != "decay_schedule":
                notes.append(f"lr_scheduler.{a} is not set: {name}'s own default {a}={d!r} applies")
    T, source = _max_steps(sched, trainer, f, notes, optim)
    core = NEMO2_WRAPPERS[name][0] if name != WSD_WRAPPER else WSD_DECAY.get(args.pop("decay_schedule"))
    if core is None:
        raise LrplanError(f"decay_schedule={sched.kwargs.get('decay_schedule')!r}: NeMo raises ValueError "
                          "('Unknown decay schedule')", where=f.where(sched, "decay_schedule", "decay_schedule"),
                          hint="linear or one_minus_square_root")
    if T == 0:
        raise LrplanError("max_steps is 0: the run has no optimizer updates", where=source)
    if T < 0:
        raise LrplanError(f"max_steps is {T} (Lightning's 'no limit'): {core} needs the run length", where=source,
                          hint="set trainer.max_steps, or pass --set max_steps=N")
    for k in ("min_lr", "power", "cycle", "decay_rate"):
        if k in given and given[k] is None:  # the NeMo 1 class does arithmetic with it: TypeError
            raise LrplanError(f"{k}=None: {name} passes it on to {core}, which computes with it (TypeError in NeMo)",
                              where=f.where(sched, k, f"lr_scheduler.{k}"), hint=f"give a number, or leave {k} out")
    core_args = {k: v for k, v in args.items() if v is not None}
    if name == "T5InverseSquareRootAnnealingScheduler":
        raise LrplanError("T5InverseSquareRootAnnealingScheduler forwards no constant_steps, and "
                          "T5InverseSquareRootAnnealing computes 1 / constant_steps ** 0.5 (TypeError in NeMo)",
                          where=f.where(sched, "", name), hint="use InverseSquareRootAnnealingScheduler")
    sched_dict = {"name": core, **core_args}
    try:
        e = effective(core, sched_dict, base, T, notes)
        s = schedule(e, SCHEDULERS[core].family)
    except LrplanError as err:
        if err.where and err.where.startswith("model.optim.sched"):
            attr = err.where.rsplit(".", 1)[-1]
            err.where = f.where(sched, attr, f"lr_scheduler.{attr}")
        raise
    notes.insert(0, f"NeMo 2 {name} ({how}) builds {core}(" + ", ".join(
        f"{k}={v!r}" for k, v in {**core_args, "max_steps": T}.items()) + f") on an LR of {base:g}")
    notes += _convention_notes(e)
    raw.update({"_sched": dict(sched_dict, max_steps=T), "_effective": dict(e.__dict__), "_max_steps_source": source})
    raw["nemo2"].update(scheduler=name, given=given, args=core_args, lr=base, max_steps=T)
    return s, raw


def _trainer_steps(trainer, f: Fields):
    """(trainer.max_steps or None when the file does not set it, its Cfg)."""
    if not isinstance(trainer, Cfg):
        return None
    if "max_steps" not in trainer.kwargs:
        return None if trainer.implicit else -1  # lightning.Trainer(max_steps=-1)
    return f.value(trainer.kwargs["max_steps"], "trainer.max_steps", "max_steps", (trainer,), "max_steps")


def _strategy(trainer) -> str:
    """megatron | other | unknown | none: whether the strategy copies trainer.max_steps into the scheduler."""
    if isinstance(trainer, Unknown):  # a trainer lrplan cannot see may well be a MegatronStrategy one
        raise LrplanError(f"the recipe's trainer is {trainer.describe()}: its max_steps (which MegatronStrategy "
                          "copies into the scheduler) is not known", where=trainer.where(),
                          hint="pass --set max_steps=VALUE")
    if not isinstance(trainer, Cfg):
        return "none"
    s = trainer.kwargs.get("strategy")
    if s is None:
        return "unknown" if trainer.implicit else "other"  # lightning's 'auto'
    if isinstance(s, Cfg) and not s.implicit:
        return "megatron" if s.name == "MegatronStrategy" else "other"
    if isinstance(s, str):
        return "other"
    return "unknown"


def _max_steps(sched: Cfg, trainer, f: Fields, notes: list[str], optim) -> tuple[int, str]:
    o = f.override("max_steps")
    if o is not None:
        notes.append(f"max_steps = {o[1]} from --set max_steps")
        return number(o[1], "--set max_steps", integer=True, minimum=None), "--set max_steps"
    own = None
    if "max_steps" in sched.kwargs:
        own = f.value(sched.kwargs["max_steps"], "lr_scheduler.max_steps", "max_steps", (optim, sched), "max_steps")
        own = number(own, f.where(sched, "max_steps", "lr_scheduler.max_steps"), integer=True, minimum=None)
    strategy = _strategy(trainer)
    tw = f.where(trainer, "max_steps", "trainer.max_steps")
    tmax = _trainer_steps(trainer, f) if strategy in ("megatron", "unknown") else None
    if tmax is not None:
        tmax = number(tmax, tw, integer=True, minimum=None)
    if strategy == "megatron":
        if own is not None and own != tmax:
            notes.append(f"MegatronStrategy copies trainer.max_steps {tmax} into lr_scheduler.max_steps, replacing "
                         f"its {own} (megatron_strategy.py setup)")
        return tmax, tw
    if strategy == "unknown" and (tmax is not None or own is not None):
        if tmax is not None and own is not None and tmax != own:
            raise LrplanError(f"trainer.max_steps {tmax} and lr_scheduler.max_steps {own} differ, and the strategy "
                              "is not in the file: MegatronStrategy uses the trainer's, other strategies the "
                              "scheduler's", where=tw, hint="pass --set max_steps=N")
        if own is None:
            notes.append(f"max_steps = trainer.max_steps {tmax}, which MegatronStrategy (the recipes' strategy) "
                         "copies into the scheduler")
            return tmax, tw
        return own, f.where(sched, "max_steps", "lr_scheduler.max_steps")
    if strategy == "other":
        v = own if own is not None else 10
        notes.append(f"warning: the trainer's strategy is not MegatronStrategy, which alone copies trainer.max_steps "
                     f"into the scheduler (NVIDIA/NeMo #14186): {sched.name} keeps max_steps={v}")
        return v, f.where(sched, "max_steps", "lr_scheduler.max_steps")
    if own is not None:
        return own, f.where(sched, "max_steps", "lr_scheduler.max_steps")
    if f.opts.steps is not None:
        from ...quantity import parse_count

        T = int(parse_count(f.opts.steps, integer=True))
        notes.append(f"max_steps = {T} from --steps (MegatronStrategy would copy trainer.max_steps)")
        return T, "--steps"
    raise LrplanError(f"{sched.name}'s max_steps is not in the file: MegatronStrategy copies trainer.max_steps "
                      "into it, and there is no trainer here", where=f.where(sched, "", sched.name),
                      hint="pass --set max_steps=N (or --steps N)")


def _plain_steps(trainer, f: Fields) -> int | None:
    o = f.override("max_steps")
    if o is not None:
        return number(o[1], "--set max_steps", integer=True, minimum=1)
    try:
        T = _trainer_steps(trainer, f)
    except LrplanError:
        T = None
    if isinstance(T, int) and T > 0:
        return T
    if f.opts.steps is not None:
        from ...quantity import parse_count

        return int(parse_count(f.opts.steps, integer=True))
    return None
