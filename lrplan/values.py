"""Numbers read from configs and checkpoints, checked once: every reader calls :func:`number`.

A field's value may be anything a YAML/JSON/TOML parser or an unpickled object produces: a string, a
bool, NaN, a list. :func:`number` accepts it only when it is a finite number in range (whole when an
integer is due), and otherwise raises an :class:`LrplanError` located at the field, quoting the value
safely (control characters escaped, long values cut). A field with a legal sentinel value (DeepSpeed's
``last_batch_iteration = -1``) states its own ``minimum``.
"""

from __future__ import annotations

import math

from .errors import LrplanError

INT_LIMIT = 2**63  # counters are int64 in every framework lrplan reads


def shown(v, limit: int = 40) -> str:
    """``type repr`` of an untrusted value, escaped and cut to ``limit`` characters."""
    text = repr(v)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(v).__name__} {text}"


def number(v, where: str, *, minimum: float | None = 0, positive: bool = False, integer: bool = False,
           text: bool = False, hint: str | None = None):
    """``v`` as a float (or an int when ``integer``), or an error at ``where`` saying what is wrong.

    ``minimum`` None allows any sign; ``positive`` excludes 0; ``text`` accepts numeric strings (YAML 1.1
    reads ``2e-5`` as a string, flag values are strings)."""
    if text and isinstance(v, str):
        try:
            v = float(v.strip()) if not integer else _int_text(v)
        except (ValueError, OverflowError):
            raise LrplanError(f"must be a number, got {shown(v)}", where=where, hint=hint) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise LrplanError(f"must be a number, got {shown(v)}", where=where, hint=hint)
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an int beyond float range
        finite = False
    if not finite or abs(v) >= INT_LIMIT:
        raise LrplanError(f"must be a finite number, got {shown(v)}", where=where, hint=hint)
    if integer and v != int(v):
        raise LrplanError(f"must be a whole number, got {shown(v)}", where=where, hint=hint)
    if positive and not v > 0:
        raise LrplanError(f"must be positive, got {shown(v)}", where=where, hint=hint)
    if minimum is not None and v < minimum:
        raise LrplanError(f"must be at least {minimum:g}, got {shown(v)}", where=where, hint=hint)
    return int(v) if integer else float(v)


def _int_text(v: str) -> int:
    t = v.strip()
    f = float(t)
    if f != int(f):
        raise ValueError(t)
    return int(f)
