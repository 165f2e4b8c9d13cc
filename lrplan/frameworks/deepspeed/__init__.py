"""DeepSpeed: the JSON config's ``scheduler`` section <-> Schedule IR.

read.py (the five classes' parameters, defaults and checks) · curves.py (each class as IR, with the
engine's one-step lag) · write.py (IR -> JSON, or the exact client scheduler) · lint.py (its pitfalls).
Its checkpoints: lrplan/checkpoints/deepspeed.py.
"""

from __future__ import annotations

from ..base import Format
from .lint import FIRST_STEP_FIX
from . import read as _read
from .read import PARAMS, from_config  # noqa: F401


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("deepspeed", "DeepSpeed JSON config (scheduler + optimizer sections)", title="DeepSpeed",
                detect=_read.detect, read=_read.read, write=_write, suffix=".json", steps_only=True,
                variants={".json": "json", ".py": "python"},
                lint="lrplan.frameworks.deepspeed.lint", first_step_fix=FIRST_STEP_FIX)
