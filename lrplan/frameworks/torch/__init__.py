"""PyTorch: the writer of scheduler code (write.py) and torch.optim.lr_scheduler states as IR (state.py)."""

from __future__ import annotations

from ..base import Format


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


def _resume_code(text: str, framework: str, r: int) -> str:
    from .write import resume_code

    return resume_code(text, framework, r)


FORMAT = Format("torch", "PyTorch LambdaLR (closed form) or built-in schedulers (writer)", title="torch.optim",
                write=_write, suffix=".py", resume_code=_resume_code, lint="lrplan.frameworks.torch.lint")
