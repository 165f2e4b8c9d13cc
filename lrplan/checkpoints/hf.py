"""HF Trainer checkpoints: ``checkpoint-N/`` with ``trainer_state.json``, ``scheduler.pt``, ``optimizer.pt``
and ``training_args.bin`` (a pickled ``TrainingArguments``, read as an inert record).

Position (transformers 5.23 trainer.py): ``global_step`` = updates done; ``scheduler.pt._last_lr`` = the
LR of the next update. With a DeepSpeed ``scheduler`` section the engine's own scheduler runs: HF
saves no ``scheduler.pt`` and ``global_stepN/`` holds the engine state. Resume: ``load_state_dict``
restores ``base_lrs`` and ``last_epoch``; the optimizer's restored ``lr`` is used by the first update.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import CheckpointError, LrplanError
from ..frameworks.base import Loaded, ReadOptions
from . import safepickle
from .info import (
    Info,
    Outcome,
    count,
    first_group_lr,
    load_config,
    plain_fields,
    relabel,
    restored_outcomes,
)
from .locate import DS_RANK0, Found, _latest_numbered
from .torch import PLAN_KEY, plan_of

CONFIG_FORMAT = "hf"
MAX_JSON_BYTES = 16 * 1024 * 1024

RESUME_REFUSAL = ""
RESUME_NOTE = "resume_from_checkpoint restores scheduler.pt (last_epoch, base_lrs): keep learning_rate unchanged"


def _load(path: Path):
    return safepickle.plain(safepickle.load_file(path))


# TrainingArguments.lr_scheduler_type is a SchedulerType member. Pickled by name (Python 3.12+, and 3.11.0-2
# for str enums) it reads back as the member's name; its value is that name in lower case, but for one.
MEMBER_VALUES = {"REDUCE_ON_PLATEAU": "reduce_lr_on_plateau"}


def _training_args(path: Path) -> dict:
    fields = plain_fields(_load(path))
    kind = fields.get("lr_scheduler_type")
    if isinstance(kind, safepickle.EnumName):
        fields["lr_scheduler_type"] = MEMBER_VALUES.get(str(kind), str(kind).lower())
    return fields


def state_json(path: Path) -> dict:
    from ..fileio import read_text
    from .locate import inside

    try:
        d = json.loads(read_text(inside(path), what="state file", limit=MAX_JSON_BYTES))
    except LrplanError as e:
        raise CheckpointError(e.message, hint=e.hint) from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(d, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return d


def read(found: Found, opts: ReadOptions, config: str | None) -> Info:
    from ..frameworks.hf import from_training_args

    d = found.path
    ts = state_json(d / "trainer_state.json")
    gs = count(ts.get("global_step"), "trainer_state.json global_step", d)
    info = Info("hf", found.layout, d, {"global_step": gs, "epoch": ts.get("epoch")}, gs or 0)
    saved_plan = None  # the plan an lrplan.torch.LRScheduler (Trainer(optimizers=(opt, sched))) saved
    if (d / "scheduler.pt").is_file():
        sch = _load(d / "scheduler.pt")
        if isinstance(sch, dict):
            if PLAN_KEY in sch:
                saved_plan = plan_of(sch, f"{d} scheduler.pt")
            le = count(sch.get("last_epoch"), "scheduler.pt last_epoch", d)
            info.position["scheduler.last_epoch"] = le
            last = sch.get("_last_lr")
            if isinstance(last, list) and last and isinstance(last[0], (int, float)) and math.isfinite(last[0]):
                info.stored_lr, info.stored_from = float(last[0]), "scheduler.pt _last_lr"
            if le != gs:
                info.notes.append(f"scheduler.pt last_epoch {le} != global_step {gs}: "
                                  "the scheduler was stepped a different number of times than the optimizer")
    elif not _deepspeed_scheduler(info, d, gs):
        info.missing.append("scheduler.pt")
    if info.stored_lr is None and (d / "optimizer.pt").is_file():
        info.stored_lr = first_group_lr(_load(d / "optimizer.pt"))
        info.stored_from = "optimizer.pt param group lr"
    ds = sorted(p.name for p in d.glob("global_step*") if p.is_dir())
    if ds:
        info.notes.append(f"this HF run used DeepSpeed ({ds[-1]}/ holds the engine state)")
    fields = _training_args(d / "training_args.bin") if (d / "training_args.bin").is_file() else {}
    max_steps = count(ts.get("max_steps"), "trainer_state.json max_steps", d)
    if config:
        info.loaded = load_config(config, CONFIG_FORMAT, opts)
    elif saved_plan is not None:
        info.loaded = saved_plan
        info.notes.append("schedule from scheduler.pt (lrplan.torch.LRScheduler passed as Trainer(optimizers=...));"
                          " training_args.bin's lr_scheduler_type did not run")
    elif fields:
        info.loaded = relabel(from_training_args(fields, opts, max_steps=max_steps or None),
                              f"{d} training_args.bin")
    else:
        info.missing.append("training_args.bin: pass --config with the TrainingArguments (YAML/JSON/flags)")
    info.state = {"log_history": ts.get("log_history") or [], "max_steps": ts.get("max_steps")}
    return info


def _deepspeed_scheduler(info: Info, d: Path, gs: int | None) -> bool:
    """HF + a DeepSpeed ``scheduler`` section: no scheduler.pt; the engine file in global_stepN/ holds the
    DeepSpeed scheduler's ``last_batch_iteration`` (update k runs with k - 1) and, without ZeRO, the LR."""
    sub = _latest_numbered(d, "deepspeed")
    f = next((sub / n for n in DS_RANK0 if (sub / n).is_file()), None) if sub else None
    st = _load(f) if f else None
    sched = st.get("lr_scheduler") if isinstance(st, dict) else None
    if not isinstance(sched, dict) or "last_batch_iteration" not in sched:
        return False
    lbi = count(sched.get("last_batch_iteration"), f"{sub.name}/lr_scheduler.last_batch_iteration", d, minimum=-1)
    info.position[f"{sub.name}/lr_scheduler.last_batch_iteration"] = lbi
    if gs is not None and lbi + 1 != gs:
        info.notes.append(f"{sub.name}/ last_batch_iteration {lbi} + 1 != global_step {gs}: the DeepSpeed "
                          "scheduler was stepped a different number of times than the optimizer")
    lr = first_group_lr(st.get("optimizer"))
    if lr is not None:
        info.stored_lr, info.stored_from = lr, f"{sub.name}/{f.name} optimizer param group lr"
    # transformers 5.23 trainer.py reads the LR after the optimizer step, but the DeepSpeed engine has
    # already stepped its own scheduler inside that step: log_history at global_step g holds update g's LR.
    info.notes.append(f"DeepSpeed's own scheduler ran (its state is in {sub.name}/, HF saved no scheduler.pt); "
                      "log_history at global_step g shows the LR of update g (the engine steps the scheduler "
                      "before HF reads it), whatever the transformers version")
    return True


def outcomes(info: Info, new: Loaded | None, opts: ReadOptions) -> list[Outcome]:
    return restored_outcomes(info, new, opts)


def checks(info: Info) -> dict:
    """inspect's extra checks: which rule the ``log_history`` LRs follow."""
    rule = log_history_rule(info)
    return {"log_history": rule} if rule else {}


def log_history_rule(info: Info) -> dict | None:
    """Which logging rule the log_history LRs follow (>= 4.51: global_step k+1; <= 4.50: global_step k)."""
    from ..evaluate import lr_at

    hist = info.state.get("log_history")
    if not hist or info.loaded is None:
        return None
    s = info.loaded.schedule
    new = old = n = 0
    for e in hist:
        if not isinstance(e, dict) or not isinstance(e.get("learning_rate"), (int, float)):
            continue
        step = e.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= 10**13:
            continue
        n += 1
        v = float(e["learning_rate"])
        new += math.isclose(lr_at(s, step - 1), v, rel_tol=1e-9, abs_tol=1e-18)
        old += math.isclose(lr_at(s, step), v, rel_tol=1e-9, abs_tol=1e-18)
    # With DeepSpeed's own scheduler the engine steps it inside the optimizer step, before HF reads the
    # LR, so every transformers version logs update k's LR at global_step k (tests/checkpoints/
    # test_hf_deepspeed.py, real runs): say that instead of blaming an old transformers.
    ds = any("DeepSpeed config's scheduler" in note for note in getattr(info.loaded, "notes", ()))
    older = "DeepSpeed's scheduler (logged at global_step k)" if ds else "<= 4.50 (logged at global_step k)"
    rule = ">= 4.51 (logged at global_step k+1)" if new == n and n else (older if old == n and n else "neither")
    return {"entries": n, "match_new_rule": new, "match_old_rule": old, "rule": rule}
