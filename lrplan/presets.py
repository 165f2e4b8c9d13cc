"""Published schedules as presets: one TOML file each in the data package ``lrplan/presets_data/``.

A preset file holds the exact numbers as an lrplan spec (without ``total=`` and ``peak=``, which are
separate fields so that ``--steps`` and ``--lr`` can replace them), its primary source, and whether it
is *as published* or an *approximation* (and of what). A preset name is a SOURCE everywhere:
:func:`lookup` is what :mod:`lrplan.sources` calls. ``--steps`` may be a percentage of the preset's own
length (``--steps 100%`` keeps it, ``--steps 200%`` doubles the run, so phases given in % stretch).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from .errors import LrplanError, did_you_mean

STATUSES = ("as published", "approximation")
REQUIRED = ("name", "title", "spec", "total", "peak_lr", "status", "source")
SOURCE_KINDS = ("paper", "repository")


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    spec: str  # the shape, in axis units; no total= and no peak=
    total: str  # planned length in axis units, a spec quantity ("500000", "2Ttok")
    peak_lr: float
    status: str  # "as published" | "approximation"
    source: dict  # kind, citation, where, url; repositories add commit (and file)
    approximated: str = ""  # what was approximated, when status is "approximation"
    summary: str = ""
    notes: tuple[str, ...] = field(default=())

    def spec_text(self, total: str | None = None) -> str:
        """The full spec: the shape plus its total (or the given one)."""
        return f"{self.spec},total={self.total if total is None else total}"

    def source_line(self) -> str:
        s = self.source
        where = f", {s['where']}" if s.get("where") else ""
        commit = f" at commit {s['commit']}" if s.get("commit") else ""
        return f"{s['citation']}{where}{commit}"


def _files():
    return importlib.resources.files("lrplan.presets_data")


@lru_cache(maxsize=1)
def all_presets() -> dict[str, Preset]:
    import tomllib

    out: dict[str, Preset] = {}
    for entry in sorted(_files().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        p = _from_dict(data, entry.name)
        if p.name in out:
            raise LrplanError(f"preset {p.name!r} is defined twice ({entry.name})")
        out[p.name] = p
    return out


def _from_dict(data: dict, filename: str) -> Preset:
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise LrplanError(f"preset file {filename} lacks {', '.join(missing)}")
    if data["status"] not in STATUSES:
        raise LrplanError(f"preset file {filename}: status must be one of {', '.join(STATUSES)}")
    if data["status"] == "approximation" and not data.get("approximated"):
        raise LrplanError(f"preset file {filename}: an approximation must say what was approximated")
    src = data["source"]
    if src.get("kind") not in SOURCE_KINDS or not src.get("citation"):
        raise LrplanError(f"preset file {filename}: source needs kind ({'/'.join(SOURCE_KINDS)}) and citation")
    if src["kind"] == "repository" and not src.get("commit"):
        raise LrplanError(f"preset file {filename}: a repository source needs its commit")
    return Preset(name=data["name"], title=data["title"], spec=data["spec"], total=str(data["total"]),
                  peak_lr=float(data["peak_lr"]), status=data["status"], source=dict(src),
                  approximated=data.get("approximated", ""), summary=data.get("summary", ""),
                  notes=tuple(data.get("notes", ())))


def get(name: str) -> Preset:
    presets = all_presets()
    key = name.strip().lower()
    if key not in presets:
        raise LrplanError(f"no preset named {name!r}", hint=did_you_mean(key, presets, noun="preset"))
    return presets[key]


def lookup(name: str):
    """``name`` -> a loader ``(ReadOptions) -> Loaded``, or None when no preset has that name."""
    key = name.strip().lower()
    if not key or key not in all_presets():
        return None
    preset = all_presets()[key]
    return lambda opts: load(preset, opts)


def load(preset: Preset, opts):
    from .frameworks.base import Loaded
    from .spec import parse_spec

    steps, total = _steps_and_total(preset, opts.steps)
    lr = opts.lr if opts.lr is not None else preset.peak_lr
    schedule = parse_spec(preset.spec_text(total) if total is not None else preset.spec, steps=steps, lr=lr)
    notes = [f"preset {preset.name}: {preset.status}" +
             (f" ({preset.approximated})" if preset.status == "approximation" else "")]
    if opts.lr is not None and opts.lr != preset.peak_lr:
        notes.append(f"--lr {opts.lr:g} replaces the published peak LR {preset.peak_lr:g}")
    raw = {"preset": preset.name, "spec": preset.spec, "total": preset.total, "peak_lr": preset.peak_lr,
           "_defaults_applied": []}
    return Loaded(schedule, "preset", preset.name, tuple(notes), None, raw)


def _steps_and_total(preset: Preset, steps: str | None) -> tuple[str | None, str | None]:
    """(--steps for the parser, total= for the spec). A percentage scales the preset's own total."""
    if steps is None:
        return None, preset.total
    text = steps.strip()
    if not text.endswith("%"):
        return text, None
    from .spec import parse_spec
    from .quantity import QuantityError, format_number, parse_quantity

    try:
        pct = parse_quantity(text).value
    except QuantityError as e:
        raise LrplanError(f"--steps: {e}") from None
    if pct <= 0:
        raise LrplanError("--steps must be positive")
    own = parse_spec(preset.spec_text(), lr=preset.peak_lr).total
    scaled = Fraction(own) * pct / 100
    return None, format_number(float(scaled))
