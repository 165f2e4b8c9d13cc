"""Shared CLI pieces: source options, loading, console output, atomic file writes."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer

from ..errors import LrplanError

STEPS_HELP = "Total optimizer steps when the source lacks it (100k, 1.5M)."
LR_HELP = "Peak LR when the source lacks it; without it LRs are multipliers of 1.0."
FROM_HELP = "Force the source format (spec, json, megatron, deepspeed, hf, torchtitan, checkpoint)."
SET_HELP = "Extra facts a source may need, KEY=VALUE (dataset_size=, world_size=, seq_length=...)."


def steps_option():
    return typer.Option(None, "--steps", "-n", help=STEPS_HELP)


def lr_option():
    return typer.Option(None, "--lr", help=LR_HELP)


def from_option():
    return typer.Option(None, "--from", help=FROM_HELP)


def set_option():
    return typer.Option(None, "--set", help=SET_HELP)


def read_options(steps: str | None, lr: float | None, sets: list[str] | None):
    from ..frameworks.base import ReadOptions

    extra = []
    for item in sets or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise LrplanError(f"--set takes KEY=VALUE, got {item!r}")
        extra.append((key.strip(), value.strip()))
    if lr is not None and not lr > 0:
        raise LrplanError("--lr must be positive")
    return ReadOptions(steps=steps, lr=lr, extra=tuple(extra))


def load(source: str, fmt: str | None, steps, lr, sets):
    from ..sources import load as load_source

    return load_source(source, fmt=fmt, opts=read_options(steps, lr, sets))


def note(message: str) -> None:
    """A diagnostic line on stderr (never mixed into data on stdout)."""
    print(f"note: {message}", file=sys.stderr)


def console(file=None):
    from rich.console import Console

    return Console(file=file or sys.stdout, highlight=False, soft_wrap=False)


def write_atomic(path: Path, data: str | bytes, *, inputs: list[str] = ()) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename; refuse to overwrite an input."""
    path = Path(path)
    target = path.resolve()
    for src in inputs:
        try:
            if Path(src).exists() and Path(src).resolve() == target:
                raise LrplanError(f"refusing to overwrite the input {src}", hint="choose another -o path")
        except OSError:
            continue
    if not target.parent.is_dir():
        raise LrplanError(f"the directory {path.parent} does not exist")
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
