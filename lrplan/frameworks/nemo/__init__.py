"""NeMo: 1.x model YAML (``model.optim.sched``) <-> Schedule IR.

tables.py (scheduler names, their arguments and defaults, NeMo 2.x wrappers) · curves.py (each scheduler
class as IR, from the numbers NeMo computes) · read.py (YAML -> those numbers: max_steps from the trainer,
ratios) · write.py (IR -> YAML candidates) · lint.py (its pitfalls). Its checkpoints: lrplan/checkpoints/nemo.py.
"""

from __future__ import annotations

from ..base import Format
from . import read as _read
from .lint import FIRST_STEP_FIX
from .read import from_config  # noqa: F401


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("nemo", "NeMo 1.x model YAML (model.optim.sched; trainer.max_steps)", title="NeMo",
                detect=_read.detect, read=_read.read, write=_write, suffix=".yaml", steps_only=True,
                lint="lrplan.frameworks.nemo.lint", first_step_fix=FIRST_STEP_FIX)
