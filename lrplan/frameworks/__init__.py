"""Explicit registry of dialects. Adding one: its module or package, one line here, its tests and docs.

Modules are imported on first use, so a spec-only command loads none of them. Each exposes ``FORMAT``
(a :class:`~lrplan.frameworks.base.Format`); writing goes through :func:`lrplan.convert.convert`,
which checks every artefact against the source before it is emitted.
"""

from __future__ import annotations

import importlib

from .base import Format

MODULES: dict[str, str] = {
    "spec": "lrplan.frameworks.spec_format",
    "json": "lrplan.frameworks.json_format",
    "megatron": "lrplan.frameworks.megatron",
    "deepspeed": "lrplan.frameworks.deepspeed",
    "torch": "lrplan.frameworks.torch",
    "torchtitan": "lrplan.frameworks.torchtitan",
    "optax": "lrplan.frameworks.optax",
    "lightning": "lrplan.frameworks.lightning",
    "hf": "lrplan.frameworks.hf",
    "composer": "lrplan.frameworks.composer",
    "nemo": "lrplan.frameworks.nemo",
    "olmo-core": "lrplan.frameworks.olmo_core",
    "timm": "lrplan.frameworks.timm",
    "torchtune": "lrplan.frameworks.torchtune",
    "axolotl": "lrplan.frameworks.axolotl",
    "schedulefree": "lrplan.frameworks.schedulefree",
}


def get(name: str) -> Format:
    return importlib.import_module(MODULES[name]).FORMAT


def readers() -> list[str]:
    return [n for n in MODULES if get(n).read is not None]


def writers() -> list[str]:
    return [n for n in MODULES if get(n).write is not None]
