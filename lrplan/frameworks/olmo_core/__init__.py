"""OLMo-core (AI2): ``train_module.scheduler`` of a train config (``config.json`` / YAML) <-> Schedule IR.

tables.py (registry names, classes and their fields) · curves.py (each class's ``get_lr`` as IR pieces) ·
read.py (the config, the trainer's step counting) · write.py (IR -> scheduler config candidates). Checked
against ai2-olmo-core 3.0.0 (``olmo_core/optim/scheduler.py``, ``olmo_core/train/trainer.py``);
docs/frameworks/olmo-core.md.
"""

from __future__ import annotations

from ..base import Format
from . import read as _read


def _write(schedule, opts):
    from .write import write

    return write(schedule, opts)


FORMAT = Format("olmo-core", "OLMo-core train config (config.json train_module.scheduler, or a scheduler mapping)",
                title="OLMo-core", detect=_read.detect, read=_read.read, write=_write, suffix=".json", steps_only=True,
                lint="lrplan.frameworks.olmo_core.lint",
                first_step_fix="OLMo-core's warmups start at warmup_min_lr + (lr - warmup_min_lr) / warmup for the "
                               "first update (the trainer counts it as step 1), so no update runs at LR 0")
