"""Megatron-LM's lint facts: pitfalls of its schedule flags (docs/lint.md cites each)."""

from __future__ import annotations

from ..base import LintRule

FIRST_STEP_FIX = "set --lr-warmup-init to a small LR (e.g. 1% of --lr)"


# ---- LR006 Megatron --lr-warmup-fraction is a fraction of the decay ------------------------------


def megatron_warmup_fraction(f):
    frac = f.number("lr_warmup_fraction")
    if frac is None:
        return []
    for decay_key, train_key, unit in (("lr_decay_iters", "train_iters", "iterations"),
                                       ("lr_decay_samples", "train_samples", "samples")):
        decay, train = f.number(decay_key), f.number(train_key)
        if decay is not None and train is not None and decay != train:
            return [(f"--lr-warmup-fraction {frac:g} is taken of --{decay_key.replace('_', '-')} ({decay:g}),"
                     f" not of --{train_key.replace('_', '-')} ({train:g}): warmup is {frac * decay:g} {unit}"
                     f" (you may expect {frac * train:g})",
                     f"give --lr-warmup-{unit if unit == 'samples' else 'iters'} explicitly", "lr_warmup_fraction",
                     None)]
    return []


# ---- LR008 batch ramp-up with an iteration-based schedule ---------------------------------------


def rampup_with_iterations(f):
    ramp = f.get("rampup_batch_size", "step_batch_size_schedule")
    iter_flags = [k for k in ("train_iters", "lr_decay_iters", "lr_warmup_iters", "lr_wsd_decay_iters")
                  if f.number(k)]
    if ramp is None or not iter_flags:
        return []
    which = "--rampup-batch-size" if f.get("rampup_batch_size") is not None else "--step-batch-size-schedule"
    return [(f"{which} with an iteration-based schedule (--{iter_flags[0].replace('_', '-')}): Megatron counts"
             " the LR in samples (iterations x the final global batch), so under the smaller early batches"
             " warmup and decay stretch over more iterations than you asked for",
             "use sample-based flags: --train-samples, --lr-decay-samples, --lr-warmup-samples", which.lstrip("-")
             .replace("-", "_"), None)]


# ---- LR014 Megatron --lr-decay-iters given as train minus warmup ---------------------------------


def megatron_decay_minus_warmup(f):
    for unit in ("iters", "samples"):
        decay, train, warm = (f.number(f"lr_decay_{unit}"), f.number(f"train_{unit}"),
                              f.number(f"lr_warmup_{unit}"))
        if decay and train and warm and decay == train - warm:
            return [(f"--lr-decay-{unit} {decay:g} equals --train-{unit} minus warmup: Megatron's decay length is"
                     f" absolute (it includes warmup), so the LR reaches --min-lr {warm:g} {unit} early",
                     f"set --lr-decay-{unit} {train:g}", f"lr_decay_{unit}", None)]
    return []


def wsd_window_overlap(f):
    """LR007 on Megatron's own flags: the WSD anneal window reaches into the warmup."""
    style = str(f.get("lr_decay_style") or "").lower()
    if style == "wsd":
        for unit in ("iters", "samples"):
            wsd, decay = f.number(f"lr_wsd_decay_{unit}"), f.number(f"lr_decay_{unit}", f"train_{unit}")
            warm = f.number(f"lr_warmup_{unit}") or 0.0
            frac = f.number("lr_warmup_fraction")
            if frac is not None and decay is not None:
                warm = frac * decay
            if wsd is not None and decay is not None and wsd > decay - warm:
                return [(f"--lr-wsd-decay-{unit} {wsd:g} is longer than decay minus warmup ({decay - warm:g}):"
                         " the anneal starts inside the warmup, so there is no stable phase and the LR drops"
                         " right after warmup", f"make --lr-wsd-decay-{unit} at most {decay - warm:g}",
                         f"lr_wsd_decay_{unit}", None)]
    return []


HOOKS = {"LR007": wsd_window_overlap}

RULES = (
    LintRule("LR006", "megatron-warmup-fraction", "warning", "--lr-warmup-fraction is a fraction of the decay length",
             megatron_warmup_fraction),
    LintRule("LR008", "rampup-with-iterations", "error", "batch ramp-up with an iteration-based schedule",
             rampup_with_iterations),
    LintRule("LR014", "megatron-decay-minus-warmup", "warning", "--lr-decay-iters given as train minus warmup",
             megatron_decay_minus_warmup),
)
