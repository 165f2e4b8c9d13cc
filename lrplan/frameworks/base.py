"""What a format module provides: detection, a reader, a writer (each optional but one).

A format module (one per framework, plus the spec and the IR JSON) exposes ``FORMAT``, an instance
of :class:`Format`. Readers return :class:`Loaded`; writers return :class:`Written`. Neither imports
the framework itself: formulas and mapping tables only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..ir import Schedule


@dataclass(frozen=True)
class ReadOptions:
    steps: str | None = None  # --steps: total optimizer steps when the source lacks it
    lr: float | None = None  # --lr: peak LR when the source lacks it
    extra: tuple[tuple[str, str], ...] = ()  # --set KEY=VALUE (dataset_size=, world_size=, seq_length=...)

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.extra).get(key, default)


@dataclass(frozen=True)
class Loaded:
    schedule: Schedule
    format: str
    label: str
    notes: tuple[str, ...] = ()  # conventions applied, which setting won, warnings
    step_name: Callable[[int], str] | None = None  # "Megatron logs this LR at iteration 53211"
    raw: dict = field(default_factory=dict, compare=False)  # parsed source fields, for lint/explain


@dataclass(frozen=True)
class WriteOptions:
    approx: bool = False
    source_label: str = ""
    variant: str | None = None  # e.g. hf: yaml | json | python
    version: str = ""


@dataclass(frozen=True)
class Written:
    text: str
    notes: tuple[str, ...] = ()
    deviation: tuple[float, int] | None = None  # with --approx: (largest |difference|, at step)


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    detect: Callable[[str, Path | None], int] | None = None  # 0: not mine; higher: more certain
    read: Callable[[str, Path | None, ReadOptions], Loaded] | None = None
    write: Callable[[Schedule, WriteOptions], Written] | None = None
    suffix: str = ".txt"  # default file suffix for `convert -o`
    steps_only: bool = False  # the target counts optimizer steps: move samples/tokens schedules first
