"""The compact schedule spec: ``warmup=2000,cosine,min=0.1`` (grammar in docs/spec.md)."""

from .parser import parse_spec
from .printer import print_spec

__all__ = ["parse_spec", "print_spec"]
