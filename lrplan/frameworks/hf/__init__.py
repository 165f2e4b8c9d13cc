"""HF transformers ``TrainingArguments``: recipes and flag strings <-> Schedule IR.

read.py (fields, T and W rules, the reader) · schedules.py (each lr_scheduler_type as IR) ·
deepspeed_section.py (a recipe's DeepSpeed config, whose scheduler wins) · write.py (IR -> fields) ·
python.py (the Python variant) · lint.py (its pitfalls). Its checkpoints: lrplan/checkpoints/hf.py.
"""

from __future__ import annotations

from ..base import Format
from .lint import FIRST_STEP_FIX
from . import read as _read
from .read import from_training_args  # noqa: F401


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


def _resume_code(text: str, framework: str, r: int) -> str:
    from .write import resume_code

    return resume_code(text, framework, r)


FORMAT = Format("hf", "HF transformers TrainingArguments (YAML/JSON recipe or --flags)", title="HF Transformers",
                detect=_read.detect, read=_read.read, write=_write, suffix=".yaml", steps_only=True,
                variants={".yaml": "yaml", ".yml": "yaml", ".json": "json", ".py": "python"},
                lint="lrplan.frameworks.hf.lint", first_step_fix=FIRST_STEP_FIX, resume_code=_resume_code)
