"""The compact spec as a format: read with the spec parser, written with the canonical printer."""

from __future__ import annotations

from ..spec import parse_spec, print_spec
from .base import Candidate, Format, Loaded, ReadOptions


def read(text, path, opts: ReadOptions) -> Loaded:
    schedule = parse_spec(text.strip(), steps=opts.steps, lr=opts.lr)
    return Loaded(schedule, "spec", str(path) if path else text.strip())


def write(schedule, opts):
    yield Candidate(print_spec(schedule) + "\n", "spec")


def detect(text, path) -> int:
    t = text.strip()
    return 1 if t and "\n" not in t and not t.startswith(("-", "{", "[")) else 0


FORMAT = Format("spec", "lrplan's compact spec (docs/spec.md)", title="an lrplan spec", detect=detect, read=read,
                write=write, suffix=".txt")
