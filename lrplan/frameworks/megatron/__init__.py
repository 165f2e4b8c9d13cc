"""Megatron-LM: command-line flags and checkpoint ``args`` <-> Schedule IR.

tables.py (one row per flag, read by both directions) · flags.py (command line -> args dict) ·
args.py (Megatron's own checks) · build.py (args -> IR) · read.py (the reader, ``from_args``) ·
write.py (IR -> flags) · lint.py (Megatron's pitfalls). Its checkpoints: lrplan/checkpoints/megatron.py.
"""

from __future__ import annotations

from ..base import Format
from .lint import FIRST_STEP_FIX
from . import read as _read
from .read import check_wd, from_args, resolve, step_name  # noqa: F401


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("megatron", "Megatron-LM command-line flags (--lr, --lr-decay-style, --train-iters ...)",
                title="Megatron-LM", detect=_read.detect, read=_read.read, write=_write, suffix=".sh",
                lint="lrplan.frameworks.megatron.lint", first_step_fix=FIRST_STEP_FIX)
