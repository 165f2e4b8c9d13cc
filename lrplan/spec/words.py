"""The words of the spec language, in one table that the parser, the phase builder and the printer read.

What a phase or option is called, which arguments each takes, and where a phase starts and ends by
default: the printer leaves out exactly what the parser would assume, so both use these tables.
"""

from __future__ import annotations

from ..shapes import ALIASES, SHAPES

# Phase words that are not shape names.
WARMUP_SHAPES = ("linear", "log", "cosine", "1-sqrt", "quadratic")
MACROS = ("warmup", "onecycle")
PHASE_WORDS = tuple(SHAPES) + tuple(ALIASES) + MACROS

LR_OPTIONS = ("peak", "lr", "min", "min_lr", "init", "init_lr", "total", "steps", "after", "axis", "gbs",
              "seq", "rampup", "bsched", "wd", "momentum", "scale")
COMMON_ARGS = ("from", "from_lr", "to", "to_lr", "at", "at_lr", "shift", "span", "label")

# Where a phase starts and ends by default ("current" = where the previous phase ended).
DEFAULT_FROM = {"cyclic": "min"}
DEFAULT_TO = {"linear": "min", "cosine": "min", "poly": "min", "1-sqrt": "min", "exp-anneal": "min",
              "restarts": "min", "invsqrt": "min", "cyclic": "one", "log": "one", "rex": "min", "quadratic": "one"}

# Phase-specific argument words beyond the shape's own parameters.
EXTRA_ARGS = {
    "warmup": ("shape",),
    "exp": ("half_life",),
    "multistep": ("at", "gamma"),
    "swa": ("start", "lr", "cos", "linear"),
    "onecycle": ("max_at", "div", "final_div", "anneal", "three_phase", "mom"),
}
POSITION_PARAMS = {"every", "timescale", "cycle", "up", "down", "warmup"}
BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
