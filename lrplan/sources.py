"""SOURCE -> Loaded schedule: detect what the user gave and call the right reader.

A SOURCE is a spec string, a preset name, a flag string, a path to a JSON/YAML/TOML/flags file, a
checkpoint file or directory, or ``-`` for standard input (design.md "Command line"). ``--from``
forces the format.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import frameworks
from .errors import LrplanError, did_you_mean
from .fileio import read_text
from .frameworks.base import Loaded, ReadOptions
_PRESET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")  # a spec has '=' or ',' and never looks like this


def load(source: str, *, fmt: str | None = None, opts: ReadOptions = ReadOptions()) -> Loaded:
    if fmt is not None and fmt not in frameworks.MODULES and fmt != "checkpoint":
        raise LrplanError(f"unknown format {fmt!r} for --from",
                          hint=did_you_mean(fmt, list(frameworks.MODULES) + ["checkpoint"], noun="format"))
    if source == "-":
        return _read_text(sys.stdin.read(), None, fmt, opts, label="stdin")
    path = _as_path(source)
    if path is not None:
        if fmt == "checkpoint" or (fmt is None and is_checkpoint(path)):
            from .checkpoints import load_checkpoint

            return load_checkpoint(path, opts)
        if path.is_dir():
            raise LrplanError(f"{source} is a directory but not a checkpoint lrplan knows",
                              hint="see `lrplan inspect --help` for the checkpoint layouts it reads")
        return _read_text(read_text(path), path, fmt, opts, label=str(path))
    if fmt is None and _PRESET_NAME.fullmatch(source):
        preset = _preset(source)
        if preset is not None:
            return preset(opts)
    if fmt is None and not source.lstrip().startswith(("-", "{", "[")):
        fmt = "spec"  # the common case: no other reader needs to be imported
    return _read_text(source, None, fmt, opts, label=source)


def checkpoint_path(source: str, fmt: str | None) -> Path | None:
    """The path of ``source`` when it is a checkpoint (or ``--from checkpoint`` says so), else None."""
    path = _as_path(source)
    if path is not None and (fmt == "checkpoint" or (fmt is None and is_checkpoint(path))):
        return path
    return None


def _as_path(source: str) -> Path | None:
    if "\n" in source or len(source) > 4096:
        return None
    p = Path(source).expanduser()
    try:
        return p if p.exists() else None
    except OSError:
        return None


def is_checkpoint(path: Path) -> bool:
    from .checkpoints import looks_like_checkpoint

    return looks_like_checkpoint(path)


def _preset(name: str):
    from .presets import lookup

    return lookup(name)


def _read_text(text: str, path: Path | None, fmt: str | None, opts: ReadOptions, *, label: str) -> Loaded:
    if fmt is None:
        fmt = detect(text, path)
    reader = frameworks.get(fmt).read
    if reader is None:
        raise LrplanError(f"format {fmt!r} can be written but not read",
                          hint="readers: " + ", ".join(frameworks.readers()))
    loaded = reader(text, path, opts)
    if loaded.label == text.strip() and path is None and fmt != "spec":
        loaded = Loaded(loaded.schedule, loaded.format, label, loaded.notes, loaded.step_name, loaded.raw)
    return loaded


def detect(text: str, path: Path | None) -> str:
    best, score = None, 0
    for name in frameworks.MODULES:
        f = frameworks.get(name)
        if f.detect is None or f.read is None:
            continue
        s = f.detect(text, path)
        if s > score:
            best, score = name, s
    if best is None:
        where = str(path) if path else "the source"
        raise LrplanError(f"cannot tell what format {where} is in",
                          hint="force it with --from " + "|".join(frameworks.readers()))
    return best
