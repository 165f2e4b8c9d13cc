"""Lint rules of a Schedule-Free optimizer (ids LR043-LR044, docs/lint.md): the pitfalls visible in the
curve. The missing ``optimizer.train()`` / ``optimizer.eval()`` switch is in the training loop, which
lrplan never sees (docs/schedulefree.md)."""

from __future__ import annotations

from .base import LintRule

DECAYS = ("linear", "cosine", "poly", "1-sqrt", "exp-anneal", "exp", "invsqrt", "multistep", "restarts", "swa")


def _sf_index(f):
    for i, seg in enumerate(f.s.lr.segments):
        if seg.kind == "schedulefree":
            return i
    return None


def stacked_scheduler(f):
    i = _sf_index(f)
    if i is None or i == 0:
        return []
    before = " + ".join(s.kind for s in f.s.lr.segments[:i])
    return [((f"an LR schedule ({before}) runs before the Schedule-Free phase: a scheduler stacked on a Schedule-Free "
              "optimizer multiplies its lr, and its built-in warmup (warmup_steps) then starts from the wrong place"),
             "drop the scheduler and use warmup_steps (schedulefree(warmup=N))", None, 0)]


def decay_added(f):
    i = _sf_index(f)
    if i is None:
        return []
    later = [s for s in f.s.lr.segments[i + 1:] if s.kind in DECAYS]
    if not later:
        return []
    return [((f"a {later[0].kind} decay follows the Schedule-Free phase: Schedule-Free replaces the decay (its "
              "averaging weights keep using lr_max, so a decayed lr shrinks the steps but not the weights)"),
             "drop the decay; evaluate with optimizer.eval() (the averaged weights) instead", None,
             int(later[0].start))]


RULES = (
    LintRule("LR043", "schedulefree-stacked-scheduler", "error", "an LR scheduler stacked on a Schedule-Free optimizer",
             stacked_scheduler),
    LintRule("LR044", "schedulefree-decay", "warning", "a decay added to a Schedule-Free optimizer", decay_added),
)
