"""Checkpoints: find the schedule state in a checkpoint file or run directory, safely and without torch.

Entry points used elsewhere: :func:`looks_like_checkpoint` and :func:`load_checkpoint` (lrplan.sources),
:func:`inspect` (``lrplan inspect``) and :mod:`.resume` (``lrplan at-step``/``lrplan resume``).
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import CheckpointError
from ..frameworks.base import Loaded, ReadOptions

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".distcp")
MAGICS = (b"PK\x03\x04", b"\x80")
REL_TOL = 1e-9  # stored vs recomputed LR: float32 optimizer state is not involved, doubles agree closely


def looks_like_checkpoint(path: Path) -> bool:
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
        with open(path, "rb") as f:
            head = f.read(4)
        return head.startswith(MAGICS) and path.suffix not in (".json", ".yaml", ".yml", ".toml", ".txt")
    except OSError:
        return False


def read_info(path: Path, opts: ReadOptions = ReadOptions(), *, config: str | None = None,
              plan: str | None = None):
    """The checkpoint's :class:`~.info.Info`, with ``plan`` as the schedule when the checkpoint lacks one."""
    from .locate import locate
    from .readers import read

    info = read(locate(Path(path)), opts, config)
    if info.loaded is None and plan is not None:
        from ..sources import load

        info.loaded = load(plan, opts=opts)
        info.notes.append(f"schedule from --plan {plan}")
        info.missing = [m for m in info.missing if "--plan" not in m and "--config" not in m]
    return info


def load_checkpoint(path: Path, opts: ReadOptions = ReadOptions()) -> Loaded:
    info = read_info(path, opts)
    if info.loaded is None:
        raise CheckpointError(f"{path}: the checkpoint does not hold its schedule ({'; '.join(info.missing)})",
                              hint="use `lrplan inspect` / `lrplan at-step` with --config or --plan")
    ld = info.loaded
    where = f"{info.framework} checkpoint, next update is lrplan step {info.next_step}"
    return Loaded(ld.schedule, ld.format, str(path), (where,) + tuple(ld.notes), ld.step_name, ld.raw)


def compare(info) -> dict:
    """Stored LR of the next update against the recomputed one, with likely causes on a mismatch."""
    from .readers import BAD_VALUE, bad_value
    from .rules import at

    if info.loaded is None or info.stored_lr is None:
        return {"stored": info.stored_lr, "recomputed": None, "match": None, "causes": []}
    try:
        value = at(info.loaded, info)
    except BAD_VALUE as e:
        raise bad_value(info.path, e) from None
    ok = math.isclose(value, info.stored_lr, rel_tol=REL_TOL, abs_tol=1e-18)
    causes = []
    if not ok:
        causes = _causes(info)
    return {"stored": info.stored_lr, "recomputed": value, "match": ok, "causes": causes}


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


def log_history_rule(info) -> dict | None:
    """HF: which logging rule the log_history LRs follow (>= 4.51: global_step k+1; <= 4.50: global_step k)."""
    from ..evaluate import lr_at

    hist = info.state.get("log_history") if info.framework == "hf" else None
    if not hist or info.loaded is None:
        return None
    s = info.loaded.schedule
    new = old = n = 0
    for e in hist:
        if not isinstance(e, dict) or not isinstance(e.get("learning_rate"), (int, float)):
            continue
        step = e.get("step")
        if not isinstance(step, int) or step < 1:
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
