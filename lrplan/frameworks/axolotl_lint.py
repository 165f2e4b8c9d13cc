"""axolotl's lint facts: pitfalls of its training YAML (docs/lint.md cites each).

The reader leaves the config itself in ``raw`` plus ``raw["_axolotl"]`` (``kind``, the warmup ``W`` and
``N`` it computed) and ``raw["_defaults_applied"]`` (``warmup_steps`` when the hidden default was used).
"""

from __future__ import annotations

from .base import LintRule


def _axolotl(f) -> dict | None:
    if f.format != "axolotl":
        return None
    a = f.raw.get("_axolotl")
    return a if isinstance(a, dict) else None


# ---- LR024 the hidden 3 % warmup ------------------------------------------------------------------------


def hidden_warmup(f):
    a = _axolotl(f)
    if a is None or "warmup_steps" not in f.raw.get("_defaults_applied", ()) or not a.get("W"):
        return []
    return [(f"neither warmup_steps nor warmup_ratio is set: axolotl warms up for min(int(0.03 x {a['N']}), 100) = "
             f"{a['W']} steps anyway (core/builders/base.py), starting at LR 0", "write warmup_steps: 0 for no "
             "warmup, or the warmup you want", "warmup_steps", 0)]


# ---- LR025 a cosine ratio of 0 switches axolotl's scheduler off -------------------------------------------


def zero_ratio(f):
    a = _axolotl(f)
    if a is None or a.get("kind") != "cosine":
        return []
    out = []
    for key, effect in (("cosine_min_lr_ratio", "the plain HF cosine to 0 is used"),
                        ("cosine_constant_lr_ratio", "the constant-tail variant is skipped")):
        v = f.raw.get(key)
        if v is not None and not isinstance(v, bool) and v == 0:
            out.append((f"{key}: 0 is falsy in SchedulerMixin.create_scheduler: {effect}",
                        f"remove {key}, or give a value above 0", key, None))
    return out


# ---- LR026 lr_scheduler: constant ignores the warmup --------------------------------------------------------


def constant_ignores_warmup(f):
    a = _axolotl(f)
    if a is None or a.get("kind") != "constant" or not (f.raw.get("warmup_steps") or f.raw.get("warmup_ratio")):
        return []
    key = "warmup_steps" if f.raw.get("warmup_steps") else "warmup_ratio"
    return [(f"lr_scheduler: constant is HF's constant schedule, which ignores {key}: there is no warmup",
             "use lr_scheduler: constant_with_warmup", "lr_scheduler", 0)]


HOOKS: dict = {}

RULES = (
    LintRule("LR024", "axolotl-hidden-warmup", "warning", "axolotl warms up 3% (at most 100 steps) unless told",
             hidden_warmup),
    LintRule("LR025", "axolotl-zero-ratio", "warning", "an axolotl cosine_*_lr_ratio of 0 is ignored", zero_ratio),
    LintRule("LR026", "axolotl-constant-ignores-warmup", "warning", "axolotl's lr_scheduler constant has no warmup",
             constant_ignores_warmup),
)
