"""Composer (MosaicML) and llm-foundry: ``scheduler:`` / ``schedulers:`` train YAML <-> Schedule IR.

timestr.py (time strings and ``_convert_time``) · schedulers.py (each scheduler class as a table row and
its curve) · read.py (the YAML, the one-batch lag) · write.py (IR -> YAML candidates) · lint.py (its
pitfalls). Its checkpoints: lrplan/checkpoints/composer.py. Checked against mosaicml 0.32.1 and
llm-foundry 0.22.0; docs/frameworks/composer.md.
"""

from __future__ import annotations

from ..base import Format
from . import read as _read
from .lint import FIRST_STEP_FIX


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("composer", "Composer / llm-foundry train YAML (scheduler: / schedulers:)", title="Composer",
                detect=_read.detect, read=_read.read, write=_write, suffix=".yaml", steps_only=True,
                lint="lrplan.frameworks.composer.lint",
                first_step_fix=FIRST_STEP_FIX)
