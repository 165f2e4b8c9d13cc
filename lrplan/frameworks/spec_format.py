"""The compact spec as a format: read with the spec parser, written with the canonical printer."""

from __future__ import annotations

from ..spec import parse_spec, print_spec
from .base import Format, Loaded, ReadOptions, Written


def read(text, path, opts: ReadOptions) -> Loaded:
    schedule = parse_spec(text.strip(), steps=opts.steps, lr=opts.lr)
    return Loaded(schedule, "spec", str(path) if path else text.strip())


def write(schedule, opts) -> Written:
    return Written(print_spec(schedule) + "\n")


def detect(text, path) -> int:
    t = text.strip()
    return 1 if t and "\n" not in t and not t.startswith(("-", "{", "[")) else 0


FORMAT = Format("spec", "lrplan's compact spec (docs/spec.md)", detect=detect, read=read, write=write,
                suffix=".txt")
