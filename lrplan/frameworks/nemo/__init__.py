"""NeMo: 1.x model YAML (``model.optim.sched``) and 2.x Python recipes <-> Schedule IR.

tables.py (scheduler names, their arguments and defaults, NeMo 2.x wrappers) · curves.py (each scheduler
class as IR, from the numbers NeMo computes) · read.py (YAML -> those numbers: max_steps from the trainer,
ratios) · recipe.py + pyeval.py (NeMo 2 Python recipes, read with ``ast``, never run) · write.py (IR -> YAML or
NeMo 2 Python candidates) · lint.py (its pitfalls). Its checkpoints: lrplan/checkpoints/nemo.py.
"""

from __future__ import annotations

from ..base import Format
from . import read as _read
from .lint import FIRST_STEP_FIX
from .read import from_config  # noqa: F401


def _is_recipe(text: str, path) -> bool:
    from .sniff import looks_like_recipe

    suffix = path.suffix.lower() if path is not None else ""
    return suffix == ".py" or (suffix == "" and looks_like_recipe(text))


def _detect(text: str, path) -> int:
    from .sniff import detect

    return max(_read.detect(text, path), detect(text, path))


def _read_any(text: str, path, opts):
    if _is_recipe(text, path):
        from .recipe import read

        return read(text, path, opts)
    return _read.read(text, path, opts)


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("nemo", "NeMo 1.x model YAML (model.optim.sched; trainer.max_steps) or NeMo 2.x Python recipe",
                title="NeMo", detect=_detect, read=_read_any, write=_write, suffix=".yaml", steps_only=True,
                variants={".yaml": "yaml", ".yml": "yaml", ".py": "python"},
                lint="lrplan.frameworks.nemo.lint", first_step_fix=FIRST_STEP_FIX)
