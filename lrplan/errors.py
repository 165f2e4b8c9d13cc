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
    DIFFERENT = 1  # `diff` found a difference beyond the tolerance
    USAGE = 2  # bad command line or bad input, with a message
    INEXPRESSIBLE = 3  # `convert --to X`: X cannot express the schedule exactly
    LINT = 4  # `lint`: a rule of error severity fired
    MISMATCH = 5  # `inspect`/`at-step`: checkpoint disagrees with its recomputed schedule
    HOSTILE = 6  # a checkpoint names code that would run on load (os.system, eval...): nothing ran
    INTERNAL = 70  # a bug in lrplan (rerun with --traceback and report it)
    OUTPUT = 73  # the output file cannot be written (full disk, read-only, bad path); sysexits EX_CANTCREAT


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
        head = f"error: {self.message}"
        if self.where:
            head = f"error: {self.where}: {self.message}"
        lines = [head]
        if self.source is not None and self.span is not None:
            start, end = self.span
            lines.append("  " + self.source)
            lines.append("  " + " " * start + "^" * max(1, end - start))
        if self.hint:
            lines.append(f"hint: {self.hint}")
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


def suggest(word: str, choices, *, n: int = 1) -> str | None:
    """The nearest valid word, for "did you mean" hints."""
    found = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices, *, noun: str = "word") -> str:
    near = suggest(word, choices)
    if near:
        return f"did you mean '{near}'?"
    return "valid choices: " + ", ".join(sorted(choices))
