"""optax: the writer of optax schedules (write.py) and the numpy model the gate runs them with (model.py)."""

from __future__ import annotations

from ..base import Format


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("optax", "optax schedule (Python code, writer)", title="optax", write=_write, suffix=".py",
                steps_only=True)
