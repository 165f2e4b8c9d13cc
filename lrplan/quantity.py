"""Quantities in specs and options: ``2000``, ``2k``, ``1.5M``, ``2B``, ``10%``, ``4Btok``.

Parsed as exact fractions and rounded to float once, so ``10%`` of 100000 is exactly 10000.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction

SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_NUMBER = re.compile(r"^(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+\.)(?P<suffix>[kKMBGT]?)(?P<unit>%|tok|tokens|samples|s)?$")


class QuantityError(ValueError):
    pass


@dataclass(frozen=True)
class Quantity:
    """A parsed count with its unit (steps, samples, tokens, a fraction of the run)."""

    value: Fraction
    unit: str  # "" (axis units), "%", "tok", "samples"

    def resolve(self, *, total: float | None = None, per_unit: dict[str, Fraction] | None = None) -> float:
        """In axis units. ``per_unit`` maps "tok"/"samples" to how many of them make one axis unit."""
        if self.unit == "%":
            if total is None:
                raise QuantityError("a percentage needs the total length (pass --steps)")
            return float(Fraction(total) * self.value / 100)
        if self.unit in ("tok", "samples"):
            if not per_unit or self.unit not in per_unit:
                what = "tokens per step (gbs= and seq=)" if self.unit == "tok" else "samples per step (gbs=)"
                raise QuantityError(f"a count in {self.unit} needs {what}")
            return float(self.value / per_unit[self.unit])
        return float(self.value)


def parse_quantity(text: str) -> Quantity:
    m = _NUMBER.match(text.strip())
    if not m:
        raise QuantityError(f"expected a number like 2000, 2k, 1.5M, 10% or 4Btok, got {text!r}")
    _check_range(text, m["num"])
    num = Fraction(m["num"])
    mult = SUFFIXES[m["suffix"]]
    unit = m["unit"] or ""
    if unit in ("tokens",):
        unit = "tok"
    if unit == "s":
        unit = "samples"
    if unit == "%" and m["suffix"]:
        raise QuantityError(f"a percentage takes no k/M/B suffix: {text!r}")
    value = num * mult
    if value > _MAX:
        raise QuantityError(f"{text.strip()} is too large: beyond the range of a double (about 1.8e308)")
    if value and float(value) == 0.0:
        raise QuantityError(f"{text.strip()} is too small: it rounds to 0 as a double (write 0 if 0 is meant)")
    return Quantity(value, unit)


_MAX = Fraction(sys.float_info.max)
_MAX_DIGITS = 400  # a double has 17 significant digits; 400 covers every exact decimal anyone writes


def _check_range(text: str, num: str) -> None:
    """Refuse, before any arithmetic, what no double can hold: ``1e999999999`` would otherwise make
    ``Fraction`` build a billion-digit integer, and a megabyte of digits trips int()'s digit limit."""
    mantissa, _, exp = num.lower().partition("e")
    digits = len(mantissa.replace(".", "").lstrip("0"))
    if digits > _MAX_DIGITS:
        raise QuantityError(f"a number with {digits} digits is more than a double can hold (17 significant digits)")
    if exp and abs(int(exp)) > 400 + digits:
        word = "large" if not exp.startswith("-") else "small"
        raise QuantityError(f"{text.strip()} is too {word} for a double (about 1e-308 .. 1.8e308)")


def parse_float(text: str) -> float:
    """A plain float (levels, factors): ``0.1``, ``3e-4``, ``1.5k`` is accepted too."""
    q = parse_quantity(text)
    if q.unit:
        raise QuantityError(f"expected a plain number, got {text!r}")
    v = float(q.value)
    if not math.isfinite(v):
        raise QuantityError(f"expected a finite number, got {text!r}")
    return v


def format_number(x: float) -> str:
    """Shortest text that parses back to exactly ``x``."""
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(float(x))


def parse_count(text, what: str = "--steps", *, integer: bool = False) -> float:
    """A positive count of optimizer steps (``--steps``, ``--extend-to``, ``max_steps=auto``): ``100k``, ``1.5M``.

    The one parser of step counts: every reader and option that takes one calls it, so ``--steps``
    means the same everywhere and its errors read the same.
    """
    from .errors import LrplanError

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        n = float(text)
    else:
        try:
            q = parse_quantity(str(text))
            if q.unit:
                raise QuantityError(f"{what} takes a count of optimizer steps like 100k")
            n = float(q.value)
        except (QuantityError, OverflowError) as e:
            raise LrplanError(f"{what}: {e}") from None
    if not math.isfinite(n) or not n > 0:
        raise LrplanError(f"{what} must be a positive number of steps, got {text}")
    if n > MAX_STEPS:
        raise LrplanError(f"{what} {text} is more steps than a double counts exactly (2^53, about 9e15)",
                          hint="step numbers past 2^53 cannot be told apart in floating point")
    if integer and n != int(n):
        raise LrplanError(f"{what} must be a whole number of steps, got {text}")
    return n


MAX_STEPS = 2**53
