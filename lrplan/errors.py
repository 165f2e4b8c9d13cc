"""Diagnostics and exit codes.

Every user-visible problem is an :class:`LrplanError`: a one-line message, optionally the source text
with a caret under the bad part, and one next step (``hint``). The CLI renders it and exits with its
``exit_code``; nothing below the CLI prints.
"""

from __future__ import annotations

import difflib
from enum import IntEnum


class ExitCode(IntEnum):
    """The one documented enum of exit statuses (docs/commands.md)."""

    OK = 0
    DIFFERENT = 1  # `diff` found a difference beyond the tolerance; `check`/`fit`: the run is off plan / unfitted
    USAGE = 2  # bad command line or bad input, with a message
    INEXPRESSIBLE = 3  # `convert --to X`: X cannot express the schedule exactly
    LINT = 4  # `lint`: a rule of error severity fired
    MISMATCH = 5  # `inspect`/`at-step`: checkpoint disagrees with its recomputed schedule
    HOSTILE = 6  # a checkpoint names code that would run on load (os.system, eval...): nothing ran
    INTERNAL = 70  # a bug in lrplan (rerun with --traceback and report it)
    OUTPUT = 73  # the output file cannot be written (full disk, read-only, bad path); sysexits EX_CANTCREAT
    INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM ends with 143. No temporary file is left behind.
    CLOSED_PIPE = 141  # stdout is a pipe whose reader went away (`| head`): what a SIGPIPE-killed tool reports


class LrplanError(Exception):
    """A problem with the user's input, located where possible."""

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        span: tuple[int, int] | None = None,
        hint: str | None = None,
        where: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.span = span
        self.hint = hint
        self.where = where

    def render(self) -> str:
        """Plain-text rendering: message, then the source line with a caret, then the hint."""
        head = f"error: {printable(self.message)}"
        if self.where:
            head = f"error: {printable(self.where)}: {printable(self.message)}"
        lines = [head]
        if self.source is not None and self.span is not None:
            text, start, end = source_window(self.source, *self.span)
            lines.append("  " + text)
            lines.append("  " + " " * start + "^" * max(1, end - start))
        if self.hint:
            lines.append(f"hint: {printable(self.hint)}")
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - used by tracebacks only
        return self.render()


class SpecError(LrplanError):
    """A malformed schedule spec, located by character span."""


class ScheduleError(LrplanError):
    """A schedule that parses but cannot be (warmup longer than the run, floor above peak...)."""


class InexpressibleError(LrplanError):
    """A writer cannot express part of the schedule exactly."""

    exit_code = ExitCode.INEXPRESSIBLE


class CheckpointError(LrplanError):
    """A checkpoint that cannot be read (corrupt, truncated, hostile, missing parts)."""


def printable(text: str, limit: int = 1000) -> str:
    """``text`` with control characters shown as escapes: a file or spec can hold ESC sequences, and an
    error message must never let them reach the terminal (where they could recolour, retitle or hide)."""
    if len(text) > limit:  # a message quoting a megabyte token: keep its head and tail
        text = text[: limit * 3 // 4] + " … " + text[-(limit // 4):]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else _escape(c) for c in text)


def _escape(c: str) -> str:
    return repr(c)[1:-1] if ord(c) < 0x10000 else c.encode("unicode_escape").decode()


WINDOW = 100  # characters of a source line shown around a caret


def source_window(source: str, start: int, end: int, width: int = WINDOW) -> tuple[str, int, int]:
    """The part of ``source`` to show under a message, and the caret span in it.

    Control characters become escapes (the caret follows them), and a long line (a megabyte spec) is
    cut to ``width`` characters around the span, with an ellipsis on each cut side.
    """
    start = max(0, min(start, len(source)))
    end = max(start, min(end, len(source)))
    if len(source) > 4 * width:  # only the neighbourhood can be shown; do not escape a megabyte
        lo = max(0, start - width)
        source, start, end = source[lo : end + width], start - lo, end - lo
        prefix_cut = lo > 0
    else:
        prefix_cut = False
    pieces = [c if c.isprintable() else _escape(c) for c in source]
    offsets = [0]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))
    text = "".join(pieces)
    a, b = offsets[start], offsets[end]
    suffix_cut = False
    if len(text) > width:
        keep = max(width - (b - a), 10)
        lo = max(0, a - keep // 2)
        hi = max(b, min(len(text), lo + width))
        if hi - lo > width and b - a > width:  # the span alone is too long: show its start
            hi = lo + width
        suffix_cut = hi < len(text)
        prefix_cut = prefix_cut or lo > 0
        text, a, b = text[lo:hi], a - lo, min(b, hi) - lo
    if prefix_cut:
        text, a, b = "…" + text, a + 1, b + 1
    if suffix_cut:
        text += "…"
    return text, a, b


def suggest(word: str, choices, *, n: int = 1) -> str | None:
    """The nearest valid word, for "did you mean" hints."""
    found = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices, *, noun: str = "word") -> str:
    near = suggest(word, choices)
    if near:
        return f"did you mean '{near}'?"
    return "valid choices: " + ", ".join(sorted(choices))
