"""Explicit registry of formats. Adding a framework: its module, one line here, its tests and docs.

Modules are imported on first use so that a spec-only command loads none of them.
"""

from __future__ import annotations

import importlib

from .base import Format, WriteOptions, Written

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
}

def get(name: str) -> Format:
    return importlib.import_module(MODULES[name]).FORMAT


def readers() -> list[str]:
    return [n for n in MODULES if get(n).read is not None]


def writers() -> list[str]:
    return [n for n in MODULES if get(n).write is not None]


def write(name: str, schedule, opts: WriteOptions) -> Written:
    """Write ``schedule`` for target ``name``. Targets that count optimizer steps get the schedule moved
    off a samples/tokens axis first when that is exact (a constant batch; see lrplan.regrid)."""
    fmt = get(name)
    if fmt.steps_only and schedule.axis.unit != "steps":
        from ..regrid import to_steps

        schedule = to_steps(schedule) or schedule
    return fmt.write(schedule, opts)
