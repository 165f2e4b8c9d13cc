"""The Python API: ``lrplan.load(SOURCE)`` gives a :class:`Plan`, the CLI's commands as methods.

Every method is a call into the library the CLI uses, through the same code path: ``load`` is
``lrplan.sources.load`` with the options the CLI builds from ``--steps``/``--lr``/``--set``
(``commands.common.read_options``), ``lr`` is :mod:`lrplan.evaluate` (``lr_at`` for one step, as
``at-step``; the vectorised ``lr`` for arrays, as ``table``), ``to`` is :func:`lrplan.convert.convert`
(the one exactness gate), ``explain``/``lint``/``table``/``diff`` are the modules behind those
commands. Errors are the CLI's: :class:`~lrplan.errors.LrplanError` and its subclasses, with the same
messages (the CLI prints ``e.render()``). Nothing here re-implements a schedule rule.

Heavy libraries are imported inside the methods that need them: numpy on the first array evaluation,
matplotlib in :meth:`Plan.figure`, plotly in :meth:`Plan.plotly` and the notebook view.
"""

from __future__ import annotations

import importlib
import inspect
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from . import evaluate as _evaluate
from .errors import LrplanError

__all__ = ["Artifact", "Diff", "Plan", "diff", "load"]


def _sets(facts: dict[str, Any]) -> list[str]:
    """``**facts`` as the CLI's ``--set KEY=VALUE`` items."""
    return [f"{k}={v}" for k, v in facts.items()]


def _steps_text(steps) -> str | None:
    if steps is None or isinstance(steps, str):
        return steps
    if isinstance(steps, bool) or not float(steps).is_integer():
        raise LrplanError(f"steps must be a whole number or text such as '100k', got {steps!r}", where="steps")
    return str(int(steps))


def load(source, *, steps: int | str | None = None, lr: float | None = None, fmt: str | None = None,
         **facts: Any) -> Plan:
    """The plan of any SOURCE the CLI takes, read exactly as the CLI reads it.

    ``source`` is a spec (``"warmup=2000,cosine,min=0.1"``), a preset name, a flag string, a path to a
    config file or a checkpoint (``str`` or ``Path``), IR JSON text, or a :class:`Plan` (returned as it
    is). ``steps`` and ``lr`` are ``--steps`` and ``--lr`` (``steps`` may be ``100_000`` or ``"100k"``);
    ``fmt`` is ``--from``; every other keyword is a ``--set KEY=VALUE`` fact
    (``gradient_accumulation_steps=16``, ``dataset_size=...``).

    >>> plan = lrplan.load("warmup=2000,cosine,min=0.1", steps=100_000, lr=3e-4)
    >>> plan.lr(53210)   # the LR update 53210 uses (0-based), as `lrplan at-step 53210 ...` prints

    Raises :class:`lrplan.LrplanError` (or a subclass) with the message the CLI prints.
    """
    if isinstance(source, Plan):
        return source
    from .commands.common import read_options
    from .sources import load as load_source

    text = str(source) if isinstance(source, Path) else source
    if not isinstance(text, str):
        raise LrplanError(f"a SOURCE is text or a path, got {type(source).__name__}")
    opts = read_options(_steps_text(steps), lr, _sets(facts))
    return Plan(load_source(text, fmt=fmt, opts=opts))


class Artifact(str):
    """The text ``lrplan convert`` prints (a ``str``), with the gate's ``notes`` and the ``variant`` chosen."""

    notes: tuple[str, ...]
    variant: str
    deviation: Any  # with approx=True: the comparison of the nearest form (None when exact)

    def __new__(cls, text: str, notes=(), variant: str = "", deviation=None) -> Self:
        self = super().__new__(cls, text)
        self.notes, self.variant, self.deviation = tuple(notes), variant or "", deviation
        return self


class Plan:
    """A loaded schedule: the IR (:attr:`schedule`) with what its reader said about it.

    Step convention (design.md): step ``k`` is the 0-based index of an optimizer update and
    ``lr(k)`` is the LR that update uses.
    """

    def __init__(self, loaded) -> None:
        self._loaded = loaded

    # ---- what it is -------------------------------------------------------------------------------

    @property
    def schedule(self):
        """The IR (:class:`lrplan.ir.Schedule`, frozen)."""
        return self._loaded.schedule

    @property
    def label(self) -> str:
        """What the plan was read from, as the CLI names it."""
        return self._loaded.label

    @property
    def format(self) -> str:
        """The format it was read as (``spec``, ``deepspeed``, ``hf``, ``json``, ``checkpoint``...)."""
        return self._loaded.format

    @property
    def notes(self) -> tuple[str, ...]:
        """The reader's notes (conventions applied, which setting won), as the CLI prints them on stderr."""
        return tuple(self._loaded.notes)

    @property
    def peak_lr(self) -> float | None:
        """The peak LR; None when LRs are multipliers of 1.0 (no ``lr=``/``--lr`` and none in the source)."""
        return self.schedule.peak_lr

    @property
    def total_steps(self) -> int | None:
        """The planned number of optimizer updates, when known."""
        from .keypoints import total_steps

        return total_steps(self.schedule)

    @property
    def next_step(self) -> int | None:
        """For a plan read from a checkpoint: the lrplan step of the next update after it; else None."""
        return self._loaded.raw.get("_next_step")

    @property
    def phases(self) -> list:
        """The phases as ``lrplan explain`` lists them (:class:`lrplan.explain.Phase`: name, words,
        first_step, end_step, steps, tokens, percent)."""
        from .explain import explain

        return explain(self._loaded).phases

    # ---- numbers ----------------------------------------------------------------------------------

    def lr(self, step):
        """The LR of update ``step``: a float for an int (as ``at-step``), a float64 array for an array
        of steps (vectorised, as ``table``; 10M steps in well under a second)."""
        if _is_int(step):
            return _evaluate.lr_at(self._loaded.schedule, _checked_step(step))
        return _evaluate.lr(self._loaded.schedule, _checked_steps(step))

    def weight_decay(self, step):
        """The planned weight decay at ``step`` (int or array); None when the plan has no weight-decay curve."""
        return self._companion("weight_decay", step)

    def momentum(self, step):
        """The planned momentum (Adam's beta1) at ``step`` (int or array); None when the plan has none."""
        return self._companion("momentum", step)

    def _companion(self, name: str, step):
        s = self._loaded.schedule
        curve = _evaluate.companion(s, name)
        if curve is None:
            return None
        if _is_int(step):  # one step with plain floats, as lr_at (no numpy)
            from .batch import position
            from .ops import math_ops

            return _evaluate.curve_value(curve, 1.0, position(s.axis, float(_checked_step(step)), math_ops),
                                         clamp=False)
        return _evaluate.companion_values(s, name, _checked_steps(step))

    # ---- the commands -----------------------------------------------------------------------------

    def explain(self) -> str:
        """The text ``lrplan explain`` prints: phases, peak and floor, conventions, key points."""
        from . import explain as ex
        from .render.tables import key_point_text

        return ex.as_text(ex.explain(self._loaded)) + "\nKey points:\n" + key_point_text(self._loaded)

    def lint(self, **facts: Any) -> list:
        """The findings of ``lrplan lint`` (:class:`lrplan.lint.Finding`: rule, severity, message, fix,
        where, step), errors first; ``facts`` are its ``--set`` facts."""
        from . import lint as lt

        return lt.run(self._loaded, {k: str(v) for k, v in facts.items()})

    def to(self, target: str, *, variant: str | None = None, approx: bool = False, **facts: Any) -> Artifact:
        """The config ``lrplan convert --to TARGET`` prints, through the same exactness gate.

        Raises :class:`lrplan.InexpressibleError` when ``target`` cannot express the plan exactly;
        ``approx=True`` returns the nearest form with its deviation in ``notes``.
        """
        from .convert import convert
        from .frameworks.base import WriteOptions
        from .version import __version__

        facts_t = tuple((k, str(v)) for k, v in facts.items())
        w = convert(self.schedule, target, WriteOptions(approx=approx, source_label=self.label, variant=variant,
                                                        version=__version__, facts=facts_t))
        return Artifact(w.text, w.notes, w.variant, w.deviation)

    def to_json(self) -> str:
        """The IR's native JSON (``lrplan convert --to json`` without the gate's header); ``lrplan.load``
        reads it back to an equal plan."""
        from .irjson import dumps

        return dumps(self.schedule)

    def table(self, at=None, every=None, format: str | None = None):
        """Key points (or ``at`` steps, or a row ``every`` N steps) as ``lrplan table`` shows them.

        ``at`` is ``"0,1,50%"`` or a list of steps; ``every`` an int or ``"10k"``. ``format=None``
        returns the points (:class:`lrplan.keypoints.Point`: step, lr, phase, note, position);
        ``"text"``, ``"csv"``, ``"json"`` or ``"md"`` returns the text the CLI prints.
        """
        from .keypoints import named, points, table_steps
        from .render.tables import STREAM_ROWS, render_table, stream_table

        if format not in (None, "text", "csv", "json", "md"):
            raise LrplanError(f"--format must be text, csv, json or md, got {format!r}")
        at_text = None if at is None else at if isinstance(at, str) else ",".join(str(k) for k in at)
        every_text = None if every is None else str(every)
        position = self.next_step
        chosen, notes = table_steps(self.schedule, at_text, every_text,
                                    {position: "the checkpoint's next update"} if position is not None else None)
        if format is not None and isinstance(chosen, range) and len(chosen) > STREAM_ROWS:
            parts: list[str] = []
            stream_table(parts.append, self._loaded, chosen, format)
            return "".join(parts)
        pts = named(points(self.schedule, list(chosen), notes), self._loaded)
        return pts if format is None else render_table(pts, self._loaded, format)

    # ---- pictures ---------------------------------------------------------------------------------

    def _page(self, *, html: bool, until=None, log_y: bool = False, marks=()):
        from .keypoints import parse_step, shown_until
        from .render.files import plot_page
        from .render.terminal import Series

        s = self.schedule
        k_max = shown_until([s], None if until is None else str(until), at_least=self.next_step or 0)
        marked = tuple(parse_step(str(m), s, what="marks") for m in marks)
        return plot_page([Series(s, self.label)], k_max, log_y=log_y, marks=marked, html=html)

    def figure(self, *, until=None, log_y: bool = False, marks=()):
        """A matplotlib Figure of the curve, as ``lrplan plot -o curve.png`` draws it (matplotlib is
        imported here, not by ``import lrplan``)."""
        from .render.mpl import page_figure

        return page_figure(self._page(html=False, until=until, log_y=log_y, marks=marks))

    def plotly(self, *, until=None, log_y: bool = False, marks=()):
        """A plotly Figure of the curve, as ``lrplan plot -o curve.html`` draws it."""
        from .render.html import _figure

        return _figure(self._page(html=True, until=until, log_y=log_y, marks=marks))

    def _repr_html_(self) -> str:
        """The notebook view: the ``plot -o x.html`` page (curve, key points, phases) in an iframe.
        plotly.js is inside it, so it works offline; no CDN is contacted."""
        import html

        from .render.html import page_html

        doc = page_html(self._page(html=True))
        return (f'<iframe srcdoc="{html.escape(doc, quote=True)}" style="width:100%;height:820px;border:0" '
                f'title="{html.escape(self.label)}"></iframe>')

    # ---- Python niceties --------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and other.schedule == self.schedule

    def __hash__(self) -> int:
        return hash(self.schedule)

    def __repr__(self) -> str:
        from .spec.printer import print_spec

        try:
            spec = print_spec(self.schedule)
        except LrplanError:
            spec = self.label
        return f"Plan({spec!r})"


@dataclass(frozen=True)
class Diff:
    """What ``lrplan diff A B`` found; ``bool(d)`` is True when they differ (the CLI's exit 1)."""

    result: Any  # lrplan.diff.DiffResult
    labels: tuple[str, str]

    @property
    def equal(self) -> bool:
        """Equal within the tolerance at every compared point."""
        return self.result.equal

    def as_dict(self) -> dict:
        """The object ``lrplan diff --json`` prints."""
        from .diff import to_json

        return to_json(self.result, *self.labels)

    def __str__(self) -> str:
        from .diff import summary_lines

        return "\n".join(summary_lines(self.result, *self.labels))

    def __bool__(self) -> bool:
        return not self.result.equal


def diff(a, b, *, tolerance: float = 1e-12, abs_tolerance: float = 1e-18, steps=None, lr: float | None = None,
         fmt: str | None = None, **facts: Any) -> Diff:
    """Compare two plans (or SOURCEs, read with ``steps``/``lr``/``facts`` as ``lrplan diff`` reads them)
    step by step, or token by token when their batch sizes differ."""
    from .diff import compare
    from .diff import tolerance as checked_tolerance

    tol = checked_tolerance(tolerance, abs_tolerance)
    pa = load(a, steps=steps, lr=lr, fmt=fmt, **facts)
    pb = load(b, steps=steps, lr=lr, fmt=fmt, **facts)
    _, result = compare(pa.schedule, pb.schedule, tol)
    return Diff(result, (pa.label, pb.label))


class _DiffModule(types.ModuleType):
    """``lrplan.diff`` names both the library module (``lrplan.diff.compare``, the ``diff`` command's
    code) and the API function: Python binds a package attribute to a submodule whenever the submodule
    is imported, so the module itself is made callable, as :func:`diff`."""

    def __call__(self, a, b, **kwargs) -> Diff:
        return diff(a, b, **kwargs)


_diff_module = importlib.import_module(f"{__package__}.diff")
_diff_module.__class__ = _DiffModule
_diff_module.__signature__ = inspect.signature(diff)  # type: ignore[attr-defined]


def _is_int(step) -> bool:
    if isinstance(step, bool):
        return False
    if isinstance(step, int):
        return True
    kind = getattr(getattr(step, "dtype", None), "kind", None)
    return kind in ("i", "u") and getattr(step, "ndim", 1) == 0


def _checked_step(step) -> int:
    k = int(step)
    if k < 0:
        raise LrplanError("steps are 0-based and cannot be negative")
    return k


def _checked_steps(steps):
    import numpy as np

    arr = np.asarray(steps)
    if arr.dtype.kind not in "iuf" or arr.dtype == bool:
        raise LrplanError(f"steps must be whole numbers (an int or a numeric array), got {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise LrplanError("steps are 0-based and cannot be negative")
    return arr
