"""Two interchangeable arithmetic back ends for the shape formulas.

Each shape formula is written once against this small namespace and runs either on numpy float64
arrays (tables, plots, diffs: vectorised, no loop per step) or on Python floats (``at-step``: a
single value without importing numpy, which alone costs more than the whole command's start-up
budget; see design.md "Targets"). Both are IEEE-754 double precision and both call the platform
libm for cos/sqrt/log/exp, so the two paths agree to the last bit on the machines we measured.
"""

from __future__ import annotations

import math


class MathOps:
    """Scalar back end: plain floats, no numpy."""

    pi = math.pi
    nan = math.nan

    @staticmethod
    def cos(x):
        return math.cos(x)

    @staticmethod
    def sqrt(x):
        return math.sqrt(x) if x >= 0 else math.nan

    @staticmethod
    def log(x):
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)

    @staticmethod
    def power(x, y):
        try:
            return math.pow(x, y)
        except (ValueError, OverflowError):
            return math.nan if x < 0 else math.inf

    @staticmethod
    def floor(x):
        return float(math.floor(x)) if math.isfinite(x) else x

    @staticmethod
    def where(cond, x, y):
        return x if cond else y

    @staticmethod
    def minimum(x, y):
        return x if x < y else y

    @staticmethod
    def maximum(x, y):
        return x if x > y else y

    @staticmethod
    def searchsorted(sorted_values, x):
        """Number of entries of ``sorted_values`` that are <= x (bisect_right)."""
        import bisect

        return bisect.bisect_right(sorted_values, x)

    @staticmethod
    def take(values, index):
        return values[index]

    @staticmethod
    def full_like(x, value):
        return float(value)

    @staticmethod
    def asarray(x):
        return float(x)

    @staticmethod
    def mix(a, b, wa, wb):
        return a * wa + b * wb

    @staticmethod
    def half_one_plus(c):
        return 0.5 * (1.0 + c)


class NumpyOps:
    """Vector back end: numpy float64 arrays."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.pi = math.pi
        self.nan = math.nan
        self.cos = np.cos
        self.floor = np.floor
        self.minimum = np.minimum
        self.maximum = np.maximum
        self.where = np.where

    def sqrt(self, x):
        with self.np.errstate(invalid="ignore"):
            return self.np.sqrt(x)

    def log(self, x):
        with self.np.errstate(divide="ignore", invalid="ignore"):
            return self.np.log(x)

    def power(self, x, y):
        with self.np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return self.np.power(x, y)

    def searchsorted(self, sorted_values, x):
        return self.np.searchsorted(self.np.asarray(sorted_values, dtype=float), x, side="right")

    def take(self, values, index):
        return self.np.asarray(values, dtype=float)[index]

    def full_like(self, x, value):
        return self.np.full(self.np.shape(x), value, dtype=float)

    def asarray(self, x):
        return self.np.asarray(x, dtype=float)

    # In-place forms of two hot expressions: same operations in the same order (so the same bits as
    # MathOps), without allocating a temporary array per operation. Callers pass fresh arrays.
    def mix(self, a, b, wa, wb):
        np = self.np
        if np.ndim(wa) == 0 or np.ndim(wb) == 0:
            return a * wa + b * wb
        np.multiply(wa, a, out=wa)
        np.multiply(wb, b, out=wb)
        return np.add(wa, wb, out=wa)

    def half_one_plus(self, c):
        np = self.np
        if np.ndim(c) == 0:
            return 0.5 * (1.0 + c)
        np.add(c, 1.0, out=c)
        return np.multiply(c, 0.5, out=c)


_numpy_ops: NumpyOps | None = None


def numpy_ops() -> NumpyOps:
    global _numpy_ops
    if _numpy_ops is None:
        _numpy_ops = NumpyOps()
    return _numpy_ops


math_ops = MathOps()
