"""Shared CLI pieces: source options, loading, console output, atomic file writes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import LrplanError

STEPS_HELP = "Total optimizer steps when the source lacks it (100k, 1.5M)."
LR_HELP = "Peak LR when the source lacks it; without it LRs are multipliers of 1.0."
FROM_HELP = "Force the source format (spec, json, megatron, deepspeed, hf, torchtitan, checkpoint)."
INVOCATION: list[str] = []  # this run's arguments (set by lrplan.cli.main), for "run it again with ..." hints


def command_line(*extra: str) -> str:
    """The command that was run, with ``extra`` arguments added, ready to paste."""
    import shlex

    return shlex.join(["lrplan", *INVOCATION, *extra])


STDIN_HELP = " Read from standard input when omitted and piped (or given as -)."
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


def piped_source() -> str:
    """``-`` when standard input is piped (the SOURCE was left out, as Unix filters allow), else a usage error."""
    from ..sources import WHAT_A_SOURCE_IS

    if sys.stdin is None or sys.stdin.isatty():
        raise LrplanError("missing SOURCE (nothing is piped in either)", hint=WHAT_A_SOURCE_IS)
    return "-"


def load(source: str, fmt: str | None, steps, lr, sets):
    from ..sources import load as load_source

    return load_source(source, fmt=fmt, opts=read_options(steps, lr, sets))


def note(message: str) -> None:
    """A diagnostic line on stderr (never mixed into data on stdout)."""
    print(f"note: {message}", file=sys.stderr)


def console(file=None):
    from rich.console import Console

    return Console(file=file or sys.stdout, highlight=False, soft_wrap=False)


def write_atomic(path: Path, data: str | bytes, *, inputs=()) -> None:
    from ..fileio import write_atomic as write

    write(Path(path), data, inputs=list(inputs))


def print_chart(con, lines) -> None:
    """A terminal chart: coloured through rich on a terminal, plain text when piped."""
    from ..render.terminal import as_text

    if not con.is_terminal:
        print(as_text(lines))
        return
    from rich.text import Text

    for runs in lines:
        con.print(Text.assemble(*[(t, st) for t, st in runs]))
