"""Lint rules of an SWA phase (torch ``SWALR``; ids LR040-LR049, docs/lint.md).

They look at the IR only, so they fire for any source with an ``swa`` phase: a spec, a plan, a
checkpoint rebuilt from an SWALR state.
"""

from __future__ import annotations

import math

from ..base import LintRule


def _swa(f):
    segs = f.s.lr.segments
    return segs[-1] if segs[-1].kind == "swa" else None


def swa_anneals_up(f):
    """torch's documented recipe (CosineAnnealingLR(T_max=300), swa_lr=0.05 from epoch 161) hands SWALR an LR
    already below swa_lr, so SWALR raises it (0.04425 -> 0.05 over 10 epochs; notes in docs/swa.md)."""
    seg = _swa(f)
    if seg is None:
        return []
    a, b = seg.a.resolve(f.s.peak), seg.b.resolve(f.s.peak)
    if not b > a:
        return []
    step = math.ceil(seg.start)
    return [((f"SWALR takes over at LR {a:.6g} (step {step}) and raises it to swa_lr {b:.6g}: the schedule before "
             "it has already fallen below swa_lr"), "start SWA earlier or lower swa_lr (lr=) if the rise is not meant",
             None, step)]


def swa_never_settles(f):
    seg = _swa(f)
    if seg is None or f.n is None or seg.param("anneal") == 0:
        return []
    start, every, anneal = seg.start, seg.param("every"), seg.param("anneal")
    if start + anneal * every <= f.n:
        return []
    return [((f"the run ends before SWALR reaches swa_lr: it anneals over {anneal:g} steps of {every:g} update(s) "
             f"from step {math.ceil(start)}, past the end of the run ({f.n})"),
             "shorten anneal= or start SWA earlier", None, math.ceil(start))]


def swa_window_tiny(f):
    seg = _swa(f)
    if seg is None or f.n is None:
        return []
    models = int((f.n - math.ceil(seg.start)) // seg.param("every"))
    if models >= 2:
        return []
    return [((f"the SWA phase averages {models} model(s): update_parameters runs once per SWALR step "
             f"(every {seg.param('every'):g} updates)"), "start SWA earlier (start=) or step it more often",
             None, math.ceil(seg.start))]


RULES = (
    LintRule("LR040", "swa-anneals-up", "warning", "SWALR raises the LR to swa_lr (the LR is already below it)",
             swa_anneals_up),
    LintRule("LR041", "swa-never-settles", "warning", "the run ends before SWALR reaches swa_lr", swa_never_settles),
    LintRule("LR042", "swa-window-tiny", "warning", "the SWA phase averages fewer than 2 models", swa_window_tiny),
)
