"""Checkpoints: find the schedule state in a checkpoint file or run directory, safely and without torch.

One module per framework (``megatron``, ``deepspeed``, ``hf``, ``torchtitan``, ``lightning``, ``torch``),
each with ``read(found, opts, config) -> Info``, ``outcomes(info, new, opts)`` (what a resume really
uses), ``CONFIG_FORMAT`` (the reader ``--config`` goes through) and its resume wording
(``RESUME_REFUSAL``, ``RESUME_NOTE``). :mod:`.locate` says which framework a path is. The registry is
lazy: a command imports only the module of the checkpoint it reads.

Entry points: :func:`looks_like_checkpoint` and :func:`load_checkpoint` (lrplan.sources),
:func:`read_info` (``inspect``, ``at-step``, ``resume``), :func:`compare` (stored vs recomputed LR).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

from ..errors import CheckpointError, LrplanError
from ..frameworks.base import Loaded, ReadOptions

FRAMEWORKS: dict[str, str] = {
    "megatron": "lrplan.checkpoints.megatron",
    "deepspeed": "lrplan.checkpoints.deepspeed",
    "hf": "lrplan.checkpoints.hf",
    "torchtitan": "lrplan.checkpoints.torchtitan",
    "lightning": "lrplan.checkpoints.lightning",
    "torch": "lrplan.checkpoints.torch",
    "nemo": "lrplan.checkpoints.nemo",
    "axolotl": "lrplan.checkpoints.axolotl",
    "composer": "lrplan.checkpoints.composer",
    "olmo-core": "lrplan.checkpoints.olmo_core",
}
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".distcp")
MAGICS = (b"PK\x03\x04", b"\x80")
REL_TOL = 1e-9  # stored vs recomputed LR: float32 optimizer state is not involved, doubles agree closely

# A checkpoint's fields are untrusted data of any type: a value the readers cannot use (a string where a
# number belongs, NaN, a list...) must end in a CheckpointError, never a crash.
BAD_VALUE = (TypeError, ValueError, OverflowError, KeyError, IndexError, AttributeError, ZeroDivisionError)


def module(framework: str):
    """The checkpoint module of ``framework`` (read, outcomes, CONFIG_FORMAT, resume wording)."""
    return importlib.import_module(FRAMEWORKS[framework])


def looks_like_checkpoint(path: Path) -> bool:
    from .. import fileio

    path = Path(path)
    try:
        if path.is_dir():
            from .locate import _locate_dir

            try:
                return _locate_dir(path) is not None
            except CheckpointError:
                return True  # a checkpoint layout, but damaged: let the reader explain
        if path.suffix in CHECKPOINT_SUFFIXES:
            return True
        try:
            fd = fileio.open_regular(path)
        except LrplanError:
            return False  # not a regular file: the text reader says what it is
        import os

        with os.fdopen(fd, "rb") as f:
            head = f.read(4)
        return head.startswith(MAGICS) and path.suffix not in (".json", ".yaml", ".yml", ".toml", ".txt")
    except OSError:
        return False


def bad_value(path, e: Exception) -> CheckpointError:
    return CheckpointError(f"{path}: the checkpoint holds a value lrplan cannot use ({type(e).__name__}: "
                           f"{str(e)[:120]})",
                           hint="the checkpoint may be damaged; pass --config with the run's config")


def read_info(path: Path, opts: ReadOptions = ReadOptions(), *, config: str | None = None,
              plan: Loaded | None = None):
    """The checkpoint's :class:`~.info.Info`, with ``plan`` as the schedule when the checkpoint lacks one."""
    from .info import MAX_STEP
    from .locate import locate, reading

    found = locate(Path(path))
    try:
        with reading(found):
            info = module(found.framework).read(found, opts, config)
    except RecursionError:
        raise CheckpointError(f"{found.path}: the checkpoint metadata is nested too deeply") from None
    except LrplanError:
        raise
    except BAD_VALUE as e:
        raise bad_value(found.path, e) from None
    if not 0 <= info.next_step <= MAX_STEP:
        raise CheckpointError(f"{found.path}: the saved position {info.next_step} is out of range")
    if plan is not None and info.state.get("metric_driven"):
        raise CheckpointError(f"{found.path}: --plan cannot stand in for a {info.state['scheduler_class']} state: "
                              "its LR follows the metric history, not the step, so no plan can be checked "
                              "against it", hint="inspect or at-step without --plan report the current LR, the "
                                                 "best metric and the patience counter")
    if info.loaded is None and plan is not None:
        base = info.state.get("base_lr")
        if plan.schedule.peak_lr is None and base:
            # a LambdaLR multiplies base_lrs by its lambda: without --lr, the checkpoint's base LR is the peak
            plan = Loaded(plan.schedule.with_(peak_lr=base), plan.format, plan.label,
                          plan.notes + (f"peak LR {base:g} from the checkpoint's base_lrs (the plan has none)",),
                          plan.step_name, plan.raw)
        info.loaded = plan
        info.state["plan_is_schedule"] = True  # --plan stands in for the schedule the checkpoint lacks
        info.notes.append(f"schedule from --plan {plan.label}")
        info.missing = [m for m in info.missing if "--plan" not in m and "--config" not in m]
    return info


def load_checkpoint(path: Path, opts: ReadOptions = ReadOptions()) -> Loaded:
    info = read_info(path, opts)
    if info.loaded is None:
        raise CheckpointError(f"{path}: the checkpoint does not hold its schedule ({'; '.join(info.missing)})",
                              hint="use `lrplan inspect` / `lrplan at-step` with --config or --plan")
    ld = info.loaded
    s = ld.schedule
    notes = [f"{info.framework} checkpoint, next update is lrplan step {info.next_step}"]
    if s.total is None and opts.steps is not None:
        from ..batch import steps_total

        s = s.with_(total=steps_total(opts.steps, s.axis))  # the run length the checkpoint does not say
        notes.append(f"the run length from --steps {opts.steps}")
    raw = dict(ld.raw, _next_step=info.next_step)
    return Loaded(s, ld.format, str(path), tuple(notes) + tuple(ld.notes), ld.step_name, raw)


def compare(info) -> dict:
    """Stored LR of the next update against the recomputed one, with likely causes on a mismatch."""
    from .info import at

    if info.loaded is None or info.stored_lr is None:
        return {"stored": info.stored_lr, "recomputed": None, "match": None, "causes": []}
    try:
        value = at(info.loaded, info)
    except BAD_VALUE as e:
        raise bad_value(info.path, e) from None
    ok = math.isclose(value, info.stored_lr, rel_tol=REL_TOL, abs_tol=1e-18)
    return {"stored": info.stored_lr, "recomputed": value, "match": ok, "causes": [] if ok else _causes(info)}


def _causes(info) -> list[str]:
    from ..evaluate import lr_at

    out = [n for n in info.notes if any(w in n for w in ("skipped", "stepped a different", "double-stepped"))]
    s = info.loaded.schedule
    for d, why in ((-1, "the scheduler is one step behind (stepped before the optimizer, or a skipped update)"),
                   (1, "the scheduler is one step ahead (stepped twice, e.g. an extra step() after load)")):
        k = info.next_step + d
        if k >= 0 and math.isclose(lr_at(s, k), info.stored_lr, rel_tol=REL_TOL):
            out.append(why)
    k2 = 2 * info.next_step
    if info.next_step and math.isclose(lr_at(s, k2), info.stored_lr, rel_tol=REL_TOL):
        out.append("the scheduler position was counted twice (load_state_dict after stepping: double-stepped)")
    if not out:
        out.append("the schedule lrplan recovered differs from the run's (a changed batch size, a changed "
                   "config, or a value lrplan could not read); pass --config with the run's config")
    return out


MAX_SIBLINGS = 50  # checkpoints of one run checked besides the one read (the latest ones)


def history(info, opts: ReadOptions, config: str | None = None) -> dict:
    """What else the run's files say about the LR it used, checked against the recovered schedule.

    The stored LR covers one step. A run directory with several checkpoints (``checkpoint-N``,
    ``iter_N``, ``global_stepN``, ``step-N``) records one more step each: every earlier checkpoint's
    stored LR is compared with the schedule at its own position. HF's ``trainer_state.json`` adds its
    ``log_history`` (see :func:`extra_checks`). The result says what was checked and what was not.
    """
    from .info import at
    from .locate import numbered, numbered_ancestor

    out = {"checkpoints": [], "not_checked": "the steps between the ones checked: no file records their LR"}
    if info.loaded is None:
        return out
    here = numbered_ancestor(info.path, info.framework)
    if here is None:
        return out
    others = [p for _, p in numbered(here.parent, info.framework) if p != here][-MAX_SIBLINGS:]
    for p in others:
        try:
            sib = read_info(p, opts, config=config)
        except LrplanError as e:
            out["checkpoints"].append({"checkpoint": p.name, "error": e.message})
            continue
        if sib.stored_lr is None:
            continue
        value = at(info.loaded, sib, sib.next_step)
        ok = math.isclose(value, sib.stored_lr, rel_tol=REL_TOL, abs_tol=1e-18)
        out["checkpoints"].append({"checkpoint": p.name, "step": sib.next_step, "stored": sib.stored_lr,
                                   "recomputed": value, "match": ok})
    return out


def extra_checks(info) -> dict:
    """Framework-specific checks for ``inspect`` (e.g. HF's log_history rule); {} when there are none."""
    checks = getattr(module(info.framework), "checks", None)
    return checks(info) if checks is not None else {}


def outcomes(info, new: Loaded | None, opts: ReadOptions):
    """What the first update after a resume uses, per the framework's load rules ([] when it has none)."""
    rules = getattr(module(info.framework), "outcomes", None)
    return rules(info, new, opts) if rules is not None else []
