"""Composer time strings (``100ba``, ``1ep``, ``500sp``, ``10000tok``, ``0.1dur``) and their conversion.

Mirrors ``composer/core/time.py`` (``Time.from_timestring``, mosaicml 0.32.1) and
``composer/optim/scheduler.py::_convert_time``:

* a wall-clock string (``1h30m``, anything ``verify_wct`` accepts) is tried first and is seconds, which no
  scheduler accepts (``ValueError('Wall clock time not an allowed time unit.')``);
* otherwise ``^(.+)(iter|ep|ba|sp|tok|dur|sec)$`` (case-insensitive); the number is parsed with ``float``
  (``1e3ba`` is 1000 batches) and must be whole for every unit but ``dur``;
* ``dur`` is a fraction of ``max_duration``: ``int(v * max_duration)`` in its unit, or, when
  ``max_duration`` is in epochs, ``int(v * dataloader_len * max_epochs)`` batches -- truncated, and
  *not* scaled by ``scale_schedule_ratio``;
* ``ep`` becomes ``v * dataloader_len`` batches; every non-``dur`` time is then ``int(v * ssr)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...errors import LrplanError

UNITS = ("iter", "ep", "ba", "sp", "tok", "dur", "sec")
UNIT_WORDS = {"ba": "batches", "sp": "samples", "tok": "tokens", "ep": "epochs", "dur": "of max_duration",
              "iter": "iterations", "sec": "seconds"}
_TIME = re.compile(r"^(.+)(" + "|".join(UNITS) + r")$", re.IGNORECASE | re.DOTALL)
_WCT = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$")
HINT = "a Composer time is a string such as '100ba', '2ep', '500sp', '10000tok' or '0.1dur'"


@dataclass(frozen=True)
class Time:
    value: float  # int for every unit but dur
    unit: str

    def __str__(self) -> str:
        v = self.value
        return f"{v:g}{self.unit}" if self.unit == "dur" else f"{int(v)}{self.unit}"


def _is_wall_clock(text: str) -> bool:
    # composer.core.time.verify_wct: fill in 0h / 0m / 0s, then ^(\d+h)?(\d+m)?(\d+s)?$
    t = text if "h" in text else "0h" + text
    t = t if "m" in t else t.replace("h", "h0m")
    t = t if "s" in t else t + "0s"
    return bool(_WCT.match(t))


def parse_time(value, where: str) -> Time:
    """A time field as Composer's ``Time.from_timestring`` reads it (an error names the field)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise LrplanError(f"must be a time string, got {type(value).__name__} {value!r}"[:120], where=where,
                          hint=HINT + " (Composer fails on a bare number here)")
    text = value
    if _is_wall_clock(text):
        raise LrplanError(f"{text!r} is wall-clock time, which Composer's schedulers refuse "
                          "('Wall clock time not an allowed time unit.')", where=where, hint=HINT)
    m = _TIME.match(text)
    if m is None:
        raise LrplanError(f"{text!r} is not a Composer time string (Composer: 'Invalid time string')",
                          where=where, hint=HINT)
    unit = m.group(2).lower()
    try:
        v = float(m.group(1))
    except ValueError:
        raise LrplanError(f"{text!r} is not a Composer time string (its number {m.group(1)!r} is not one)",
                          where=where, hint=HINT) from None
    if not math.isfinite(v):
        raise LrplanError(f"{text!r} is not a finite time", where=where, hint=HINT)
    if unit != "dur":
        if int(v) != v:
            raise LrplanError(f"{text!r}: {UNIT_WORDS[unit]} must be a whole number (Composer raises TypeError)",
                              where=where, hint=HINT)
        v = int(v)
    if v < 0:
        raise LrplanError(f"{text!r} is negative", where=where, hint=HINT)
    return Time(v, unit)


@dataclass(frozen=True)
class Clock:
    """What Composer's ``_convert_time`` needs: max_duration (already scaled by the SSR), the dataloader
    length in batches (for ``ep``, and ``dur`` of an epoch ``max_duration``) and the SSR."""

    max_duration: Time  # unit ba | sp | tok | ep
    dataloader_len: int | None
    ssr: float = 1.0

    def convert(self, t: Time, where: str, *, ssr: bool = True) -> Time:
        """``_convert_time(t, state, ssr)`` -> a whole number of ba | sp | tok."""
        if t.unit == "sec":
            raise LrplanError("wall-clock time is not an allowed time unit (Composer raises ValueError)",
                              where=where, hint=HINT)
        if t.unit == "iter":
            raise LrplanError("lrplan does not read times in iterations ('iter'); Composer's schedulers use"
                              " ba, sp, tok, ep or dur", where=where, hint=HINT)
        md = self.max_duration
        if t.unit == "dur":
            if md.unit == "ep":
                dl = self._need_len(where)
                return Time(int(t.value * dl * md.value), "ba")  # float product, truncated (Composer)
            return Time(int(t.value * md.value), md.unit)
        if t.unit == "ep":
            t = Time(t.value * self._need_len(where), "ba")
        return Time(int(t.value * (self.ssr if ssr else 1.0)), t.unit)

    def _need_len(self, where: str) -> int:
        if self.dataloader_len is None:
            raise LrplanError("a time in epochs needs the dataloader length in batches, which the config does "
                              "not say (Composer: 'Cannot convert time, as state.dataloader_len is None.')",
                              where=where, hint="pass --set batches_per_epoch=N (len(train_dataloader)), or "
                                                "--set dataset_size=N [world_size=W]")
        return self.dataloader_len

    def max_in(self, unit_of: str) -> Time:
        """max_duration as a whole number of ba | sp | tok (epochs become batches)."""
        md = self.max_duration
        if md.unit == "ep":
            return Time(md.value * self._need_len("max_duration"), "ba")
        return md
