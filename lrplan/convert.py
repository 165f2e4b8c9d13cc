"""Write a schedule for a target, through the one exactness gate.

Every emitted artefact passes here before it is printed or written (``convert``, ``resume --to``,
and the Python API's ``plan.to()``): the target's writer proposes :class:`~lrplan.frameworks.base.Candidate`
artefacts, each is read back by lrplan's own reader of the target (for code targets: the emitted
stdlib-only ``lr_at`` is run, or, for optax, the emitted code itself against lrplan's numpy model of
optax) and compared with the source by :func:`lrplan.exact.compare` over the whole run. The first
candidate that agrees at every step is emitted. When none does, the nearest one is named with its
deviation (exit 3), and ``--approx`` emits it with that deviation. A target never gets a silently
different curve.
"""

from __future__ import annotations

from . import exact, frameworks
from .errors import InexpressibleError, LrplanError, did_you_mean
from .frameworks.base import Candidate, ReadOptions, WriteOptions, Written
from .ir import Schedule


def target_format(target: str):
    if target not in frameworks.MODULES or frameworks.get(target).write is None:
        raise LrplanError(f"unknown target {target!r}", hint=did_you_mean(target, frameworks.writers(), noun="target"))
    return frameworks.get(target)


class _Tried:
    """The nearest inexact candidate so far (by its probe), with its full comparison on demand."""

    def __init__(self, source: Schedule, n: int) -> None:
        self.source, self.n = source, n
        self.best = None  # (key, candidate, text, theirs, comparison)
        self.first: Candidate | None = None  # the first candidate tried (its form is the default one)
        self.count = 0

    def add(self, cand: Candidate, text: str, theirs, cmp: exact.Comparison) -> None:
        if self.first is None:
            self.first = cand
        missing = sum(d.missing is not None for d in cmp.curves) + (cmp.failure is not None)
        key = (missing, cmp.lr.worst if cmp.lr.missing is None else float("inf"), self.count)
        self.count += 1
        if self.best is None or key < self.best[0]:
            self.best = (key, cand, text, theirs, cmp)

    def full(self) -> exact.Comparison | None:
        if self.best is None:
            return None
        key, cand, text, theirs, cmp = self.best
        if theirs is not None and cmp.failure is None and not all(d.exhaustive for d in cmp.curves):
            cmp = exact.compare(self.source, theirs, n=self.n)
            self.best = (key, cand, text, theirs, cmp)
        return cmp

    def reason(self) -> str:
        """Why the candidates so far are not exact, in one clause ("the nearest, 'linear', is off by ...")."""
        cmp = self.full()
        if cmp is None:
            return "no form of this target has this shape"
        cand = self.best[1]
        if cmp.failure is None and cmp.lr.missing is None and cmp.length[0] == cmp.length[1]:
            return f"the nearest, {cand.name}, is off by {cmp.lr.worst:.3g} at step {cmp.lr.worst_step}"
        return f"the nearest, {cand.name}: {cmp.describe()}"


def _proposals(fmt, schedule: Schedule, opts: WriteOptions):
    """The writer's candidates; an InexpressibleError after some were proposed ends the list."""
    it = iter(fmt.write(schedule, opts))
    proposed = False
    while True:
        try:
            cand = next(it)
        except StopIteration:
            return
        except InexpressibleError:
            if not proposed:
                raise
            return
        proposed = True
        yield cand


# A schedule without a peak LR is a multiplier: the artefact must reproduce it for whatever peak the user
# sets. A config read back with --lr 1 could hide an absolute level (a --min-lr 0.1 that only looks like a
# ratio at peak 1), so configs are also read back at this second peak and compared with the scaled source.
PROBE_PEAK = 0.0123


def _readback(fmt, cand: Candidate, text: str, opts: ReadOptions, written: Schedule):
    if cand.readback is not None:
        return cand.readback()
    if cand.code is not None:
        from .frameworks.pycode import run

        if cand.code not in text:  # pragma: no cover - a writer bug: the checked code must be what is emitted
            raise AssertionError(f"{fmt.name}: the checked module is not part of the emitted text")
        return run(cand.code)
    return _read(fmt, text, opts.lr, written, opts.extra)


def _read(fmt, text: str, peak: float | None, written: Schedule, facts: tuple = ()) -> Schedule:
    """The artefact read back with the target's reader; what it leaves to the user (the run length,
    which a DeepSpeed WarmupLR or staircase range test has not) is the source's."""
    try:
        theirs = fmt.read(text, None, ReadOptions(lr=peak, extra=facts)).schedule
    except LrplanError:
        length = exact.run_length(written)
        if length is None:
            raise
        theirs = fmt.read(text, None, ReadOptions(steps=str(length), lr=peak, extra=facts)).schedule
    if theirs.total is None and written.total is not None and theirs.axis == written.axis:
        theirs = theirs.with_(total=written.total)
    return theirs


def _compare(source: Schedule, fmt, cand: Candidate, text: str, theirs, read_opts: ReadOptions, n: int, *,
             probe: bool) -> exact.Comparison:
    cmp = exact.compare(source, theirs, n=n, probe=probe)
    if cmp.exact and source.peak_lr is None and cand.readback is None and cand.code is None:
        try:
            scaled = _read(fmt, text, PROBE_PEAK, theirs, read_opts.extra)
        except LrplanError as e:
            return exact.Comparison(cmp.curves, failure=f"with a peak LR of {PROBE_PEAK:g} its levels are "
                                                        f"not ratios of the peak ({e.message})")
        other = exact.compare(source.with_(peak_lr=PROBE_PEAK), scaled, n=n, probe=probe)
        if not other.exact:
            other.failure = f"its levels are not ratios of the peak: at peak {PROBE_PEAK:g} it " + other.describe()
            return other
    return cmp


# Targets with a writer that can carry Schedule.scale (a multiplier of the LR curve): emitted Python multiplies it
# (hf and deepspeed through their Python variants; optax's jax.numpy function), json and spec keep it, axolotl
# writes jagged_restart_*. Every other target is refused up front, by name, rather than by the gate's numbers.
SCALE_TARGETS = ("spec", "json", "torch", "lightning", "hf", "deepspeed", "axolotl", "optax")


def convert(schedule: Schedule, target: str, opts: WriteOptions = WriteOptions()) -> Written:
    """The artefact for ``target`` that reproduces ``schedule`` at every step (or, with --approx, the nearest)."""
    fmt = target_format(target)
    if schedule.scale is not None and fmt.name not in SCALE_TARGETS and not opts.approx:
        title = fmt.title or fmt.name
        raise InexpressibleError(
            f"{title} cannot express this schedule exactly: its LR is multiplied by a scale curve (per-restart "
            f"ramps such as axolotl's jagged_restart_steps), and {title} has no multiplier of its LR schedule",
            hint="--to torch (or --to hf --variant python) emits it exactly; --approx emits the nearest "
                 f"{title} form with its largest deviation")
    s = schedule
    if fmt.steps_only and s.axis.unit != "steps":
        from .regrid import to_steps

        s = to_steps(s) or s
    n = exact.horizon(schedule)
    read_opts = ReadOptions(lr=schedule.peak, extra=opts.facts)  # the target run's facts (--set)
    title = fmt.title or fmt.name
    tried = _Tried(schedule, n)
    for cand in _proposals(fmt, s, opts):
        text = cand.text if isinstance(cand.text, str) else cand.text(tried.reason())
        try:
            theirs = _readback(fmt, cand, text, read_opts, s)
        except LrplanError as e:  # the writer proposed something its own reader refuses
            tried.add(cand, text, None, exact.Comparison([exact.Deviation("lr")], failure=f"its reader refuses it"
                                                                                          f" ({e.message})"))
            continue
        cmp = _compare(schedule, fmt, cand, text, theirs, read_opts, n, probe=True)
        if cmp.exact:
            cmp = _compare(schedule, fmt, cand, text, theirs, read_opts, n, probe=False)
        if cmp.exact:
            notes = list(cand.notes)
            if tried.first is not None and cand.variant != tried.first.variant:
                first = tried.first.variant
                why = f"{tried.first.why}; " if tried.first.why else ""
                notes.append(f"the {title} {_word(first)} form cannot reproduce this schedule exactly: {why}"
                             f"{tried.reason()} (`--variant {first} --approx` prints it); this is the exact "
                             f"{_word(cand.variant)} variant instead")
            return Written(text, tuple(notes), None, cand.variant)
        tried.add(cand, text, theirs, cmp)
    cmp = tried.full()
    if cmp is None:
        raise InexpressibleError(f"{title} has no form for this schedule")
    _, cand, text, theirs, _ = tried.best
    if not opts.approx or theirs is None:
        raise InexpressibleError(_refusal(title, cand, cmp), hint=cand.hint or (
            "pass --approx to emit it with its largest deviation" if theirs is not None else None))
    notes = tuple(cand.notes) + (f"--approx: the nearest {title} form is {cand.name}",)
    for d in cmp.curves:
        if d.missing is not None:
            notes += (f"--approx: {d.describe('lrplan', title)}",)
        elif not d.exact or d.curve == "lr":
            what = "" if d.curve == "lr" else f"{d.curve}: "
            notes += (f"--approx: {what}largest difference {d.worst:.3g} at step {d.worst_step}",)
    return Written(text, notes, cmp, cand.variant)


def _word(variant: str) -> str:
    return {"json": "JSON", "yaml": "YAML", "python": "Python", "toml": "TOML"}.get(variant, variant)


def _refusal(title: str, cand: Candidate, cmp: exact.Comparison) -> str:
    why = cand.why or "no form of it reproduces this curve"
    lr = cmp.lr
    if cmp.failure is None and lr.missing is None and lr.first_step is not None and cmp.length[0] == cmp.length[1]:
        where = (f"differs by {lr.worst:.3g} at step {lr.worst_step} (first at step {lr.first_step}: "
                 f"lrplan {lr.first_a:.6g}, {title} {lr.first_b:.6g})")
    else:
        where = "differs: " + cmp.describe("lrplan", title)
    return f"{title} cannot express this schedule exactly: {why}; the nearest ({cand.name}) {where}"


def resume_artifact(info, extend_to: str, *, target: str | None, shape: str | None, wsd: str | None,
                    rewarm: str | None, approx: bool, label: str, version: str, facts: tuple = ()) -> Written:
    """``lrplan resume``: the extended schedule emitted for ``target`` (default: the checkpoint's framework),
    through the exactness gate, with the lines that make emitted code resume in place and the notes to
    print (the LR on both sides of the resume step, the new spec, what the framework's resume needs)."""
    from .checkpoints import FRAMEWORKS, module
    from .checkpoints.extend import extend
    from .evaluate import lr_at
    from .quantity import parse_count
    from .spec.printer import print_spec

    def count(text, what):
        return None if text is None else int(parse_count(text, what, integer=True))

    if info.loaded is None:
        raise LrplanError(f"{info.path}: no schedule to extend ({'; '.join(info.missing)})")
    old = info.loaded.schedule
    r = info.next_step
    new = extend(old, r, count(extend_to, "--extend-to"), shape=shape, wsd=count(wsd, "--wsd"),
                 rewarm=count(rewarm, "--rewarm"))
    notes = [f"resume at step {r}: lr {lr_at(old, r):.6g} before, {lr_at(new, r):.6g} after",
             f"new schedule: {print_spec(new)}"]
    if lr_at(old, r) == 0.0 and lr_at(new, r) == 0.0:
        notes.append("warning: the run has decayed to LR 0 by the resume step, so the extension stays at 0;"
                     " pass --rewarm N to climb back to the peak first")
    name = target or info.framework
    fmt = target_format(name)
    hook = getattr(module(info.framework), "target_facts", None) if name == info.framework else None
    facts = tuple(facts) + (hook(info, dict(facts)) if hook is not None else ())  # e.g. its Megatron-LM era
    try:
        written = convert(new, name, WriteOptions(approx=approx, source_label=label, version=version, facts=facts))
    except InexpressibleError as e:
        refusal = getattr(module(name), "RESUME_REFUSAL", "") if name in FRAMEWORKS else ""
        raise InexpressibleError(
            f"{name} cannot express the extended run exactly: {e.message}",
            hint=refusal + "pass --approx for the nearest config and its largest deviation, "
                           "or --to torch / --to hf for an exact scheduler in Python") from None
    extra = fmt.resume_code(written.text, info.framework, r) if fmt.resume_code is not None else ""
    notes += list(written.notes)
    if getattr(module(info.framework), "RESUME_NOTE", ""):
        notes.append(module(info.framework).RESUME_NOTE)
    return Written(written.text + extra, tuple(notes), written.deviation, written.variant)
