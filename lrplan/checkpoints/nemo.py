"""NeMo 1.x training checkpoints: Lightning ``.ckpt`` files whose ``lr_schedulers[0]`` is a NeMo scheduler.

Lightning 2.6 saves each scheduler's ``state_dict()`` (its ``__dict__`` minus the optimizer) under
``lr_schedulers``. A NeMo scheduler keeps the *effective* numbers there (nemo_toolkit 2.7.3
``nemo/core/optim/lr_scheduler.py``): ``max_steps`` (as injected from ``trainer.max_steps``),
``warmup_steps`` (ratios already turned into steps), ``hold_steps`` (the absolute end of the hold),
``constant_steps``/``decay_steps``, ``min_lr``, ``power``/``cycle``/``decay_rate``/``_normalize``, plus
``base_lrs``, ``last_epoch`` (updates done: the next update's index) and ``_last_lr`` (its LR). The class
itself is not stored; ModelPT saves the model config as ``hyper_parameters['cfg']`` (an OmegaConf
DictConfig, read here as inert records), whose ``optim.sched.name`` names it.

Resume: Lightning's ``load_state_dict`` is ``__dict__.update``, so the checkpoint's max_steps, warmup,
min_lr ... replace whatever the new config says (NeMo PR #4472; recorded with the real code in
tests/fixtures/checkpoints/nemo/expected.json: max_steps doubled on resume, the old curve continues).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import Info, Outcome, count, load_config

CONFIG_FORMAT = "nemo"
RESUME_REFUSAL = ""
RESUME_NOTE = ("a NeMo resume restores the scheduler's own max_steps, warmup_steps, min_lr ... from the checkpoint "
               "(load_state_dict), whatever the new config says: to change the schedule, start the scheduler fresh "
               "(load the weights only, e.g. init_from_ptl_ckpt) with the new config")

# Attributes every NeMo scheduler of the Warmup/WarmupHold/WarmupAnnealHold families stores.
CORE = ("max_steps", "warmup_steps", "min_lr", "base_lrs", "last_epoch")
# Classes an attribute set identifies without the config (the rest share WarmupPolicy's attributes).
BY_KEYS = (("NoamAnnealing", ("_normalize", "warmup_steps", "min_lr")),
           ("T5InverseSquareRootAnnealing", ("constant_lr", "constant_steps", "min_lr")),
           ("NoamHoldAnnealing", ("decay_rate", "hold_steps", *CORE)),
           ("PolynomialHoldDecayAnnealing", ("power", "cycle", "hold_steps", *CORE)),
           ("PolynomialDecayAnnealing", ("power", "cycle", *CORE)),
           ("CosineAnnealing", ("constant_steps", "decay_steps", *CORE)))
_CACHE: dict = {}


def _state(path: Path):
    """The checkpoint's pickle as plain data (read once for locate's probe and the reader)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = safepickle.plain(safepickle.load_file(path))
    return _CACHE[key]


def nemo_scheduler_state(st) -> dict | None:
    """``lr_schedulers[0]`` when it is a NeMo scheduler's state, else None."""
    scheds = st.get("lr_schedulers") if isinstance(st, dict) else None
    if not isinstance(scheds, list) or not scheds or not isinstance(scheds[0], dict):
        return None
    s = scheds[0]
    if all(k in s for k in ("warmup_steps", "min_lr", "base_lrs", "last_epoch")) or "_normalize" in s \
            or ("constant_lr" in s and "constant_steps" in s):
        return s
    return None


def probe(path: Path) -> bool:
    """locate's probe: a Lightning .ckpt whose scheduler state is a NeMo scheduler's."""
    try:
        return nemo_scheduler_state(_state(path)) is not None
    except CheckpointError:
        return False  # the Lightning reader says what is wrong with it


def omegaconf_plain(v):
    """An OmegaConf DictConfig/ListConfig/node, read as inert records, as plain dicts, lists and values."""
    if isinstance(v, dict):
        cls = str(v.get("__class__", ""))
        if cls.startswith("omegaconf."):
            content = v.get("_content", v.get("_val"))
            if cls.endswith("DictConfig") and isinstance(content, dict):
                return {k: omegaconf_plain(x) for k, x in content.items()}
            if cls.endswith("ListConfig") and isinstance(content, list):
                return [omegaconf_plain(x) for x in content]
            return omegaconf_plain(content) if isinstance(content, (dict, list)) else content
        return {k: omegaconf_plain(x) for k, x in v.items() if k != "__class__"}
    if isinstance(v, list):
        return [omegaconf_plain(x) for x in v]
    return v


def model_config(st: dict) -> dict:
    hp = omegaconf_plain(st.get("hyper_parameters") or {})
    cfg = hp.get("cfg") if isinstance(hp, dict) else None
    return cfg if isinstance(cfg, dict) else {}


def _scheduler_name(sched: dict, cfg: dict, config_text: Loaded | None) -> tuple[str | None, str]:
    optim = cfg.get("optim") if isinstance(cfg.get("optim"), dict) else {}
    s = optim.get("sched") if isinstance(optim.get("sched"), dict) else {}
    if isinstance(s.get("name"), str):
        return s["name"], "hyper_parameters cfg.optim.sched.name"
    if config_text is not None:
        n = (config_text.raw.get("_sched") or {}).get("name")
        if isinstance(n, str):
            return n, "--config model.optim.sched.name"
    for name, keys in BY_KEYS:
        if all(k in sched for k in keys):
            return name, "the scheduler state's attributes"
    return None, ""


def _num(sched: dict, key: str, path, *, default=None, integer=False):
    v = sched.get(key, default)
    if integer:
        return count(v, f"lr_schedulers[0].{key}", path, allow_none=False)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CheckpointError(f"{path}: lr_schedulers[0].{key} is {v!r}, not a number")
    return float(v)


def effective_from_state(name: str, sched: dict, path):
    """The scheduler's effective numbers, read back from its state (the same record the reader builds)."""
    from ..frameworks.nemo.curves import Effective

    base = sched.get("base_lrs")
    if not isinstance(base, list) or not base or isinstance(base[0], bool) or not isinstance(base[0], (int, float)) \
            or not base[0] > 0:
        raise CheckpointError(f"{path}: lr_schedulers[0].base_lrs has no positive LR")
    kw = {"name": name, "base": float(base[0]),
          "max_steps": count(sched.get("max_steps"), "lr_schedulers[0].max_steps", path)}
    for key in ("warmup_steps", "hold_steps", "constant_steps"):
        if key in sched:
            kw[key] = _num(sched, key, path, integer=True)
    for key in ("min_lr", "power", "decay_rate"):
        if key in sched:
            kw[key] = _num(sched, key, path)
    if "cycle" in sched:
        kw["cycle"] = bool(sched["cycle"])
    if "_normalize" in sched:
        kw["normalize"] = _num(sched, "_normalize", path)
    if name == "StepLR":
        kw["step_size"], kw["gamma"] = _num(sched, "step_size", path), _num(sched, "gamma", path)
    return Effective(**kw)


def read(found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.nemo.curves import schedule
    from ..frameworks.nemo.read import step_name
    from ..frameworks.nemo.tables import NOT_READ, SCHEDULERS

    st = _state(found.path)
    sched = nemo_scheduler_state(st)
    if sched is None:
        raise CheckpointError(f"{found.path} holds no NeMo scheduler state")
    gs = count(st.get("global_step"), "global_step", found.path)
    le = count(sched.get("last_epoch"), "lr_schedulers[0].last_epoch", found.path)
    info = Info("nemo", found.layout, found.path, {"global_step": gs, "epoch": st.get("epoch"), "last_epoch": le},
                gs if gs is not None else le or 0)
    last = sched.get("_last_lr")
    if isinstance(last, list) and last and isinstance(last[0], (int, float)) and math.isfinite(last[0]):
        info.stored_lr, info.stored_from = float(last[0]), "lr_schedulers[0]._last_lr"
    if gs is not None and le is not None and le != gs:
        info.notes.append(f"warning: lr_schedulers[0].last_epoch {le} != global_step {gs}: the scheduler was stepped "
                          "a different number of times than the optimizer (Megatron models rewind it on skipped fp16 "
                          "steps)")
    cfg = model_config(st)
    given = load_config(config, CONFIG_FORMAT, opts) if config else None
    name, source = _scheduler_name(sched, cfg, given)
    if name is None:
        info.missing.append("the scheduler class (the checkpoint has no hyper_parameters cfg.optim.sched.name): pass "
                            "--config with the model YAML")
        return info
    if name in NOT_READ or name not in SCHEDULERS:
        info.missing.append(f"a schedule for {name}: " + NOT_READ.get(name, "not a NeMo scheduler lrplan reads"))
        return info
    info.layout += f" ({name})"
    eff = effective_from_state(name, sched, found.path)
    label = f"{found.path} lr_schedulers[0]"
    notes = [f"scheduler {name} from {source}; its max_steps {eff.max_steps}, warmup_steps {eff.warmup_steps} and "
             f"min_lr {eff.min_lr:g} from the checkpoint (what a resume uses)"]
    if given is not None:
        notes.append(f"--config {config}: only its scheduler name is used; a resume keeps the checkpoint's numbers")
    info.loaded = Loaded(schedule(eff, SCHEDULERS[name].family), "nemo", label, tuple(notes), step_name,
                         {"_effective": dict(eff.__dict__), "_sched": {"name": name, **{k: v for k, v in sched.items()
                                                                                        if not k.startswith("_")}}})
    info.state = {"scheduler_class": name, "base_lr": eff.base}
    return info


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    first = info.stored_lr
    old = info.loaded
    note = ("Lightning restores the optimizer (its LR is the stored one) and the NeMo scheduler's attributes "
            "(load_state_dict = __dict__.update): the run continues the checkpoint's schedule")
    if new is not None:
        note += "; the new config's schedule is not used (its max_steps, warmup and min_lr are overwritten)"
    return [Outcome("resume (trainer.fit(ckpt_path=...))", first, old, note=note)]
