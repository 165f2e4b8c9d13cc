"""Quantities in specs and options: ``2000``, ``2k``, ``1.5M``, ``2B``, ``10%``, ``4Btok``.

Parsed as exact fractions and rounded to float once, so ``10%`` of 100000 is exactly 10000.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_NUMBER = re.compile(r"^(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+\.)(?P<suffix>[kKMBGT]?)(?P<unit>%|tok|tokens|samples|s)?$")


class QuantityError(ValueError):
    pass


@dataclass(frozen=True)
class Quantity:
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
    num = Fraction(m["num"])
    mult = SUFFIXES[m["suffix"]]
    unit = m["unit"] or ""
    if unit in ("tokens",):
        unit = "tok"
    if unit == "s":
        unit = "samples"
    if unit == "%" and m["suffix"]:
        raise QuantityError(f"a percentage takes no k/M/B suffix: {text!r}")
    return Quantity(num * mult, unit)


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
    if integer and n != int(n):
        raise LrplanError(f"{what} must be a whole number of steps, got {text}")
    return n
