"""Lightning writer: a ``configure_optimizers`` method with a closed-form LambdaLR stepped per update.

Lightning 2.6.6 (``lightning/pytorch/loops/training_epoch_loop.py``, ``update_lr_schedulers``) steps a
scheduler configured with ``"interval": "step", "frequency": 1`` after every optimizer step and
skips the batches that only accumulate gradients (``_should_accumulate``), so with
``accumulate_grad_batches=G`` it still steps once per optimizer update: update ``k`` uses the value
at ``last_epoch == k``, lrplan's step ``k``. The schedule itself is the torch writer's closed form
(``lrplan/frameworks/torch/write.py``), exact for every IR.
"""

from __future__ import annotations

from ..ir import Schedule
from .base import Candidate, Format
from .pycode import check_companions, closed_form_module, comment, header

METHOD = [
    "def configure_optimizers(self):",
    '    """Optimizer and per-update LR schedule (Lightning steps it after each optimizer step)."""',
    "    optimizer = torch.optim.AdamW(self.parameters(), lr=PEAK_LR)  # any torch optimizer works",
    "    scheduler = LambdaLR(optimizer, lr_lambda)",
    "    return {",
    '        "optimizer": optimizer,',
    "        # interval \"step\": scheduler.step() after every optimizer update, not per micro-batch",
    "        # (Lightning skips the batches that only accumulate gradients), so update k uses lr_at(k).",
    '        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},',
    "    }",
]


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "lambda", "swa"):
        from ..errors import LrplanError

        raise LrplanError(f"unknown lightning variant {opts.variant!r}", hint="variants: lambda, swa")
    notes = check_companions(schedule, "lightning", opts.approx)
    if opts.variant in (None, "swa"):
        from .torch.swa import swa_candidates  # an SWA phase: the StochasticWeightAveraging callback

        yield from swa_candidates(schedule, opts, tuple(notes), "lightning")
        if opts.variant == "swa":
            return
    method = list(METHOD)
    if schedule.peak_lr is None:
        method[2] = ("    optimizer = torch.optim.AdamW(self.parameters(), lr=1e-3)  # your lr: lr_lambda"
                     " multiplies it")
    module = closed_form_module(schedule)
    lines = [*header(opts, "Lightning"),
             comment("Paste the module-level part next to your LightningModule and configure_optimizers"),
             comment("into it (replacing yours)."),
             "import torch", "from torch.optim.lr_scheduler import LambdaLR", *module, "", *method]
    yield Candidate("\n".join(lines) + "\n", "lambda", tuple(notes), code="\n".join(module))


FORMAT = Format("lightning", "Lightning configure_optimizers with a per-step LambdaLR (writer)", title="Lightning",
                write=write, suffix=".py")
