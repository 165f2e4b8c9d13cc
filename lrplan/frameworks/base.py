"""What a dialect provides: detection, a reader, a writer of candidate artefacts, its lint facts and words.

A dialect module (one per framework, plus the spec and the IR JSON) exposes ``FORMAT``, a
:class:`Format`. Readers return :class:`Loaded`. Writers *propose*: they yield :class:`Candidate`
artefacts, the exact-intended ones first, then the nearest forms; :mod:`lrplan.convert` reads each
candidate back with this dialect's own reader (or runs its emitted ``lr_at``) and keeps the first one
that reproduces the schedule at every step (the one gate, lrplan.exact's comparator). Writers never
check their own output. Neither side imports the framework itself: formulas and mapping tables only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..ir import Schedule


@dataclass(frozen=True)
class ReadOptions:
    """What the command line adds to a source: --steps, --lr, --set facts."""

    steps: str | None = None  # --steps: total optimizer steps when the source lacks it
    lr: float | None = None  # --lr: peak LR when the source lacks it
    extra: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE (dataset_size=, world_size=, seq_length=...)

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.extra).get(key, default)

    def positive_int(self, key: str) -> int | None:
        """``--set KEY=N`` as a positive whole number (None when not given): the one check of such facts."""
        from ..errors import LrplanError

        v = self.get(key)
        if v is None:
            return None
        text = str(v).strip()
        if not text.isdigit() or len(text) > 18 or int(text) <= 0:
            raise LrplanError(f"--set {key}= takes a positive integer, got {v!r}")
        return int(text)


@dataclass(frozen=True)
class Loaded:
    """A schedule read from a source, with its format, label, notes and step names."""

    schedule: Schedule
    format: str
    label: str
    notes: tuple[str, ...] = ()  # conventions applied, which setting won, warnings
    step_name: Callable[[int], str] | None = None  # "Megatron logs this LR at iteration 53211"
    raw: dict = field(default_factory=dict, compare=False)  # parsed source fields, for lint/explain


@dataclass(frozen=True)
class WriteOptions:
    """How a writer is asked to emit: --approx, --variant, the target's --set facts."""

    approx: bool = False
    source_label: str = ""
    variant: str | None = None  # e.g. hf: yaml | json | python
    version: str = ""
    facts: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE: facts of the target run (megatron_version=0.17)


@dataclass(frozen=True)
class Candidate:
    """One artefact a writer proposes; the gate reads it back and decides whether it is exact."""

    text: str | Callable[[str], str]  # or a function of why the candidates before it are not exact
    variant: str = ""  # which form this is (json, python, yaml, flags ...)
    notes: tuple[str, ...] = ()
    name: str = ""  # what it is, for messages: "'cosine'", "WarmupDecayLR", "iteration flags"
    code: str | None = None  # emitted code: the stdlib-only module (inside ``text``) that defines lr_at(step)
    readback: Callable[[], object] | None = None  # instead of the reader: a Schedule or a vectorised lr(k)
    why: str = ""  # the writer's account of why this form may not be exact (shown with the nearest)
    hint: str | None = None  # what to do instead, when this form is not exact
    approx: bool = False  # a nearest form, offered only after every exact-intended one
    fallback: bool = False  # another form, used only when every candidate before it is inexact


@dataclass(frozen=True)
class Written:
    """An emitted artefact: its text and the notes said beside it."""

    text: str
    notes: tuple[str, ...] = ()
    deviation: object | None = None  # lrplan.exact.Comparison of an --approx artefact; None when exact
    variant: str = ""


@dataclass(frozen=True)
class LintRule:
    """One lint rule (rules live with the dialect whose pitfall they name; lrplan.lint runs them)."""

    id: str
    name: str
    severity: str  # "error" | "warning"
    summary: str
    check: Callable[[object], list[tuple[str, str, str | None, int | None]]]  # Facts -> findings


@dataclass(frozen=True)
class Format:
    """One dialect: its name, reader, writer, detector and lint rules (one registry entry)."""

    name: str
    description: str
    title: str = ""  # how explain names it ("Megatron-LM")
    detect: Callable[[str, Path | None], int] | None = None  # 0: not mine; higher: more certain
    read: Callable[[str, Path | None, ReadOptions], Loaded] | None = None
    write: Callable[[Schedule, WriteOptions], Iterable[Candidate]] | None = None
    suffix: str = ".txt"  # default file suffix for `convert -o`
    variants: dict[str, str] = field(default_factory=dict)  # output suffix -> variant (-o recipe.json)
    steps_only: bool = False  # the target counts optimizer steps: move samples/tokens schedules first
    lint: str | None = None  # module whose RULES are this dialect's lint rules
    first_step_fix: str = ""  # how to avoid a first update at LR 0 in this dialect (lint LR001)
    resume_code: Callable[[str, str, int], str] | None = None  # lines that make emitted code resume at step r
