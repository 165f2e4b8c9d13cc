"""HF Trainer's ``trainer_state.json`` ``log_history``: a file, a ``checkpoint-N/`` directory, or an output
directory (its own ``trainer_state.json`` from ``save_state()``, else the latest ``checkpoint-N/``).

``Trainer.log`` appends ``{**logs, "step": state.global_step}`` (trainer.py 5.24.0 l. 4189-4211); training
entries carry ``learning_rate`` (JSON doubles: exact), eval entries and the final summary do not. Which
update's LR an entry holds depends on the transformers version (:mod:`.rules`): a checkpoint's
``config.json`` names it (``transformers_version``), and ``global_stepN/`` next to it means DeepSpeed ran.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import LrplanError
from ..fileio import read_text
from . import rules
from .series import EXACT, LogOptions, LogSeries, build

MAX_BYTES = 512 * 1024 * 1024
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def state_file(path: Path) -> Path | None:
    """The trainer_state.json a path stands for, or None."""
    if path.is_file():
        return path if path.name.endswith(".json") else None
    own = path / "trainer_state.json"
    if own.is_file():
        return own
    numbered = sorted(((int(m.group(1)), p) for p in path.glob("checkpoint-*")
                       if (m := _CHECKPOINT.fullmatch(p.name)) and (p / "trainer_state.json").is_file()),
                      key=lambda t: t[0])
    return numbered[-1][1] / "trainer_state.json" if numbered else None


def looks_like_state(text: str) -> bool:
    return '"log_history"' in text[:1_000_000] and '"global_step"' in text


def _version(d: Path) -> str | None:
    """The transformers version the run saved with: the model's config.json next to trainer_state.json (a
    checkpoint-N directory), else that of the output directory's newest checkpoint (``save_state()`` writes
    trainer_state.json to the output directory without a config)."""
    numbered = sorted(((int(m.group(1)), p) for p in d.glob("checkpoint-*") if (m := _CHECKPOINT.fullmatch(p.name))),
                      key=lambda t: t[0], reverse=True)
    for cfg in [d / "config.json"] + [p / "config.json" for _, p in numbered[:3]]:
        if not cfg.is_file():
            continue
        try:
            v = json.loads(read_text(cfg)).get("transformers_version")
        except (ValueError, LrplanError, AttributeError):
            continue
        if isinstance(v, str):
            return v
    return None


def read(path: Path, opts: LogOptions) -> LogSeries:
    f = state_file(path)
    if f is None:
        raise LrplanError(f"{path} holds no trainer_state.json", hint="pass the file, a checkpoint-N directory or "
                          "the Trainer's output directory")
    try:
        state = json.loads(read_text(f, what="trainer_state.json", limit=MAX_BYTES))
    except ValueError as e:
        raise LrplanError(f"{f} is not valid JSON ({e})") from None
    hist = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(hist, list):
        raise LrplanError(f"{f} has no log_history list", hint="is this HF's trainer_state.json?")
    keys: dict[str, None] = {}
    for e in hist:
        if isinstance(e, dict):
            keys.update(dict.fromkeys(k for k, v in e.items() if isinstance(v, (int, float)) and k != "step"))
    tag = opts.tag or "learning_rate"
    if tag not in keys:
        from .series import pick_tag

        tag, _ = pick_tag(str(f), list(keys), opts.tag, what="log_history key")
    steps, values = [], []
    for i, e in enumerate(hist):
        if not isinstance(e, dict) or tag not in e:
            continue
        s, v = e.get("step"), e[tag]
        if isinstance(s, bool) or not isinstance(s, int):
            raise LrplanError(f"log_history[{i}] has step {s!r}, not a whole number", where=str(f))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LrplanError(f"log_history[{i}] has {tag} {v!r}, not a number", where=str(f))
        steps.append(s)
        values.append(float(v))
    d = f.parent
    ds = any(p.is_dir() and p.name.startswith("global_step") for p in d.glob("global_step*"))
    offset, rule, notes = rules.hf(_version(d), ds, opts)
    if ds:
        notes.append(f"{d} holds a DeepSpeed engine state (global_step*/): read with DeepSpeed's rule")
    return build("hf", str(path), tag, steps, values, precision=EXACT, offset=offset, step_field="global_step",
                 rule=rule, tags=sorted(keys), notes=notes, framework="hf", opts=opts,
                 meta={"planned_total": state.get("max_steps")})
