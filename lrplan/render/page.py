"""What a plot or report shows, as data: pages of panels of (decimated) lines, markers and tables.

``plot`` and ``diff`` build a :class:`Page`; :mod:`.mpl` draws it as PNG/SVG/PDF and :mod:`.html` as
one offline HTML report, so both renderers and the page builders in :mod:`.files` share these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass
class Line:
    label: str
    x: object  # numpy arrays
    y: object
    phases: list = field(default_factory=list)  # (name, first index, last index) into x/y
    color: int = 0
    points: bool = False  # logged points: drawn as markers, never joined


@dataclass
class Panel:
    ylabel: str
    lines: list[Line]
    log_y: bool = False
    vlines: list = field(default_factory=list)  # (x, text, kind, color) kind "phase"/"mark"; color: Line.color
    zero_line: bool = False
    value_name: str = "LR"  # what hover calls the y value


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Page:
    title: str
    panels: list[Panel]
    x_label: str = "step"
    subtitle: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
