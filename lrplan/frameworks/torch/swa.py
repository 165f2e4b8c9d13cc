"""torch SWA: ``SWALR``'s real recurrence, and the ``--to torch`` / ``--to lightning`` SWA writers.

``torch.optim.swa_utils.SWALR`` (torch 2.13.0 ``torch/optim/swa_utils.py:474-561``) does not evaluate a
closed form. Each ``get_lr()`` call ``n`` (``n = _step_count - 1``: 0 inside the constructor, then 1,
2, ... at each ``swa_scheduler.step()``) "un-anneals" the LR currently in the param group and anneals it
one step further::

    step   = max(1, n) if anneal_epochs == 0 else n
    a_prev = f(clamp((step - 1) / max(1, anneal_epochs), 0, 1))
    prev   = swa_lr if a_prev == 1 else (lr - a_prev * swa_lr) / (1 - a_prev)
    a      = f(clamp(step / max(1, anneal_epochs), 0, 1))
    lr     = swa_lr * a + prev * (1 - a)

with ``f(t) = t`` ("linear") or ``(1 - cos(pi t)) / 2`` ("cos"). When nothing else writes the LR between
its steps this equals the closed form ``swa_lr * a_n + L * (1 - a_n)`` of the ``swa`` shape
(lrplan/shapes.py), with ``L`` the LR in the group at its *first step* (not at its construction), to a few
ulp; it differs when another scheduler keeps changing the LR (torch's recipe steps only one of them
per epoch, as the code below does), and ``anneal_epochs=0`` sets ``swa_lr`` inside the constructor
already (so building it before the hand-over, as the torch docstring does, drags the other scheduler
along: lint LR040). :func:`swalr_lrs` is that recurrence; the gate checks emitted SWALR code against it.
"""

from __future__ import annotations

import math

from ...errors import InexpressibleError
from ...ir import Schedule, Segment
from ..base import Candidate
from ..pycode import assign, closed_form_module, comment, header, run


def _anneal(strategy: str):
    if strategy == "cos":
        return lambda t: (1 - math.cos(math.pi * t)) / 2
    return lambda t: t


def swalr_get_lr(cur_lr: float, swa_lr: float, n: int, anneal: int, strategy: str) -> float:
    """The LR that SWALR's ``get_lr()`` call number ``n`` writes, from the LR ``cur_lr`` in the group."""
    f = _anneal(strategy)
    step = max(1, n) if anneal == 0 else n
    prev_alpha = f(max(0.0, min(1.0, (step - 1) / max(1, anneal))))
    prev = swa_lr if prev_alpha == 1 else (cur_lr - prev_alpha * swa_lr) / (1 - prev_alpha)
    alpha = f(max(0.0, min(1.0, step / max(1, anneal))))
    return swa_lr * alpha + prev * (1 - alpha)


def swalr_lrs(start_lr: float, swa_lr: float, anneal: int, strategy: str, count: int) -> list[float]:
    """LRs after SWALR calls 0..count-1 (0 = its constructor), nothing else writing the LR in between."""
    out, cur = [], start_lr
    for n in range(count):
        cur = swalr_get_lr(cur, swa_lr, n, anneal, strategy)
        out.append(cur)
    return out


def swalr_start_lr(lr: float, swa_lr: float, n: int, anneal: int, strategy: str) -> float | None:
    """The LR SWALR took over (``L``), from the LR after call ``n``: only while it is still annealing."""
    if anneal == 0 or not 0 < n < anneal:
        return None
    a = _anneal(strategy)(n / anneal)
    return (lr - a * swa_lr) / (1 - a)


# ---- the SWA phase of a schedule ----------------------------------------------------------------------


def swa_segment(schedule: Schedule) -> Segment | None:
    segs = schedule.lr.segments
    return segs[-1] if segs[-1].kind == "swa" else None


def window(schedule: Schedule) -> tuple[int, int | None, int] | None:
    """(first update of the SWA phase, run length or None, updates per SWALR step): averaging covers the
    weights after the updates ``start + every - 1, start + 2 * every - 1, ...`` (update_parameters at each
    SWALR step, as in the torch recipe)."""
    seg = swa_segment(schedule)
    if seg is None:
        return None
    from ...keypoints import total_steps

    return math.ceil(seg.start), total_steps(schedule), int(seg.param("every"))


def _fields(schedule: Schedule, target: str):
    """(start, swa_lr, anneal, strategy, every, hand-over LR) or InexpressibleError in SWALR's words."""
    seg = swa_segment(schedule)
    every, anneal = seg.param("every"), seg.param("anneal")
    if schedule.axis.unit != "steps":
        raise InexpressibleError(f"{target}: SWALR steps per update or per epoch; this schedule is on "
                                 f"{schedule.axis.unit}", hint="write the SWA phase on an update axis")
    if seg.start != int(seg.start) or every != int(every) or seg.origin is not None or seg.span is not None:
        raise InexpressibleError(f"{target}: SWALR starts at a whole update and steps every whole number of updates "
                                 f"(start {seg.start:g}, every {every:g})", hint="use whole update counts")
    if schedule.peak_lr is None and not seg.b.absolute:
        raise InexpressibleError(f"{target}: SWALR's swa_lr is an LR, and this schedule has no peak LR",
                                 hint="pass --lr PEAK (or give swa lr= as an LR)")
    if any(s.kind == "swa" for s in schedule.lr.segments[:-1]):
        raise InexpressibleError(f"{target}: SWALR takes over once; this schedule has more than one swa phase")
    return int(seg.start), seg.b.resolve(schedule.peak), int(anneal), seg.param("strategy"), int(every), \
        seg.a.resolve(schedule.peak)


def _readback(start: int, swa_lr: float, anneal: int, strategy: str, every: int, module: str, start_level: float):
    """What the emitted code makes torch do, per update: its LambdaLR before ``start``, then SWALR's
    recurrence from the LR the LambdaLR hands over (the emitted code run, not lrplan's own evaluation)."""
    lam = run(module)
    first = lam(start) if start > 0 else start_level
    seq = swalr_lrs(first, swa_lr, anneal, strategy, max(anneal, 1) + 1)

    def lr_of(k: int) -> float:
        if k < start:
            return lam(k)
        n = (k - start) // every
        return seq[min(n, len(seq) - 1)]

    return lr_of


def _constants(start: int, swa_lr: float, anneal: int, strategy: str, every: int, schedule: Schedule) -> list[str]:
    from ...keypoints import total_steps

    total = total_steps(schedule)
    lines = [comment("SWA phase: SWALR takes over at update SWA_START (0-based; that update still uses the LR"),
             comment("the schedule before it reached, unless ANNEAL_EPOCHS is 0) and anneals to SWA_LR."),
             assign("SWA_START", start), assign("SWA_LR", swa_lr), assign("ANNEAL_EPOCHS", anneal),
             assign("ANNEAL_STRATEGY", strategy),
             comment("Updates per swa_scheduler.step() (and per update_parameters): 1 = every update;"),
             comment("the updates of one epoch = per epoch."),
             assign("SWA_EVERY", every)]
    if total is not None:
        lines.append(assign("TOTAL_STEPS", total))
    return lines


TORCH_STEP = [
    "",
    "",
    "def after_update(step):",
    '    """Call once right after optimizer.step() of update `step` (0-based; every optimizer update,',
    '    not micro-batches). Update `step + 1` then uses the LR of lrplan step `step + 1`."""',
    "    global swa_scheduler, swa_model",
    "    if step + 1 < SWA_START:",
    "        scheduler.step()",
    "    elif step + 1 == SWA_START:",
    "        scheduler.step()  # update SWA_START's LR: SWALR anneals from it",
    "        swa_scheduler = SWALR(optimizer, swa_lr=SWA_LR, anneal_epochs=ANNEAL_EPOCHS,",
    "                              anneal_strategy=ANNEAL_STRATEGY)",
    "        swa_model = AveragedModel(model)  # the equal-weight mean of the models passed to update_parameters",
    "    elif (step + 1 - SWA_START) % SWA_EVERY == 0:",
    "        swa_model.update_parameters(model)  # average the weights after this SWALR period",
    "        swa_scheduler.step()",
]
FROM_THE_START = [
    "",
    "",
    "def after_update(step):",
    '    """Call once right after optimizer.step() of update `step` (0-based; every optimizer update)."""',
    "    global swa_model",
    "    if swa_model is None:",
    "        swa_model = AveragedModel(model)  # the equal-weight mean of the models passed to update_parameters",
    "    if (step + 1) % SWA_EVERY == 0:",
    "        swa_model.update_parameters(model)",
    "        swa_scheduler.step()",
]
AFTER_TRAINING = [
    "",
    "",
    "# After training: with BatchNorm, recompute its statistics for the averaged weights, then use swa_model:",
    "#     update_bn(train_loader, swa_model)",
]


def torch_candidate(schedule: Schedule, opts) -> Candidate:
    start, swa_lr, anneal, strategy, every, level = _fields(schedule, "torch")
    module_lines = closed_form_module(schedule)
    module = "\n".join(module_lines)
    lines = [*header(opts, "torch.optim.swa_utils (SWALR + AveragedModel)"),
             comment("Uses an existing `model` and `optimizer`; call after_update(step) after every optimizer.step()."),
             comment("Before SWA_START a closed-form LambdaLR (lr_at is lrplan's closed form of the whole curve: after"),
             comment("the hand-over SWALR sets the LR, and lr_at gives the values it reaches)."),
             "import torch", "from torch.optim.lr_scheduler import LambdaLR",
             "from torch.optim.swa_utils import SWALR, AveragedModel, update_bn", *module_lines, "",
             *_constants(start, swa_lr, anneal, strategy, every, schedule), ""]
    if start > 0:
        lines += ["for group in optimizer.param_groups:",
                  '    group["lr"] = PEAK_LR  # the schedule\'s peak; set before the scheduler is built',
                  "scheduler = LambdaLR(optimizer, lr_lambda)",
                  comment("SWALR is built at the hand-over, not here: built earlier with ANNEAL_EPOCHS = 0 it would"),
                  comment("set SWA_LR at once, and a recursive scheduler would then run from it."),
                  "swa_scheduler = swa_model = None", *TORCH_STEP]
    else:
        lines += [assign("START_LR", level),
                  "for group in optimizer.param_groups:",
                  '    group["lr"] = START_LR  # SWALR anneals from the LR in the optimizer',
                  "swa_scheduler = SWALR(optimizer, swa_lr=SWA_LR, anneal_epochs=ANNEAL_EPOCHS,",
                  "                      anneal_strategy=ANNEAL_STRATEGY)",
                  "swa_model = None", *FROM_THE_START]
    lines += AFTER_TRAINING
    notes = ((f"SWA: SWALR from update {start}, anneal_epochs={anneal} ({strategy}), one step every {every} "
             f"update(s); swa_model averages the weights after each of its steps"),)
    return Candidate("\n".join(lines) + "\n", "swalr", notes, name="SWALR",
                     readback=lambda: _readback(start, swa_lr, anneal, strategy, every, module, level))


# ---- Lightning's StochasticWeightAveraging callback ----------------------------------------------------

LIGHTNING_METHOD = [
    "def configure_optimizers(self):",
    '    """Optimizer and the per-update schedule before SWA (Lightning steps it after each update)."""',
    "    optimizer = torch.optim.SGD(self.parameters(), lr=PEAK_LR)  # any torch optimizer works",
    "    scheduler = LambdaLR(optimizer, lr_lambda)",
    '    return {"optimizer": optimizer,',
    '            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}',
    "",
    "",
    "def swa_callback():",
    '    """The callback: it replaces the scheduler above by SWALR at the start of epoch SWA_EPOCH_START - 1',
    "    (0-based), steps it once per epoch and averages the weights at the start of every epoch from then on",
    "    (lightning/pytorch/callbacks/stochastic_weight_avg.py, Lightning 2.6.6). With BatchNorm it adds one",
    '    epoch that refreshes the statistics and makes one more update at SWA_LR."""',
    "    return StochasticWeightAveraging(swa_lrs=SWA_LR, swa_epoch_start=SWA_EPOCH_START,",
    "                                     annealing_epochs=ANNEAL_EPOCHS, annealing_strategy=ANNEAL_STRATEGY)",
    "",
    "",
    "# trainer = lightning.Trainer(max_epochs=MAX_EPOCHS, callbacks=[swa_callback()], ...)",
]


def lightning_candidate(schedule: Schedule, opts) -> Candidate:
    start, swa_lr, anneal, strategy, every, level = _fields(schedule, "lightning")
    from ...keypoints import total_steps

    total = total_steps(schedule)
    if start % every or total is None or total % every or start == 0:
        raise InexpressibleError(
            "lightning: StochasticWeightAveraging starts SWALR at an epoch boundary after the configured scheduler"
            f" and steps it per epoch; this SWA phase starts at update {start} with SWA_EVERY={every} updates per"
            f" epoch over {total} updates, which is not whole epochs after a schedule of its own",
            hint="make start (> 0) and the run length multiples of every= (the updates per epoch), or --to torch")
    module_lines = closed_form_module(schedule)
    module = "\n".join(module_lines)
    lines = [*header(opts, "Lightning StochasticWeightAveraging"),
             comment(f"Epochs of {every} optimizer updates each (len(train_dataloader) // accumulate_grad_batches);"),
             comment("SWALR is stepped once per epoch. lr_at is lrplan's closed form of the whole curve."),
             "import torch", "from lightning.pytorch.callbacks import StochasticWeightAveraging",
             "from torch.optim.lr_scheduler import LambdaLR", *module_lines, "",
             assign("SWA_EPOCH_START", start // every + 1), assign("SWA_LR", swa_lr),
             assign("ANNEAL_EPOCHS", anneal), assign("ANNEAL_STRATEGY", strategy),
             assign("MAX_EPOCHS", total // every), "", *LIGHTNING_METHOD]
    notes = ((f"SWA: StochasticWeightAveraging from epoch {start // every} (0-based; swa_epoch_start="
             f"{start // every + 1}), {every} updates per epoch"),)
    return Candidate("\n".join(lines) + "\n", "swa", notes, name="StochasticWeightAveraging",
                     readback=lambda: _readback(start, swa_lr, anneal, strategy, every, module, level))


def swa_candidates(schedule: Schedule, opts, notes: tuple, target: str):
    """The SWA form of ``target`` for a schedule ending in an ``swa`` phase (nothing otherwise). Without
    ``--variant`` a form the SWA classes cannot take falls through to the closed-form LambdaLR."""
    if swa_segment(schedule) is None:
        if opts.variant in ("swalr", "swa"):
            raise InexpressibleError(f"{target} --variant {opts.variant}: the schedule has no swa phase",
                                     hint="add one, e.g. ...,swa(start=80%,lr=0.05), or drop --variant")
        return
    make = torch_candidate if target == "torch" else lightning_candidate
    try:
        c = make(schedule, opts)
    except InexpressibleError:
        if opts.variant is not None:
            raise
        return
    yield Candidate(c.text, c.variant, notes + c.notes, name=c.name, readback=c.readback)
