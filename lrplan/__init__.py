"""lrplan: plan, convert and check learning-rate schedules across training stacks.

The Python API (docs/api.md): ``lrplan.load(SOURCE, steps=..., lr=...)`` gives a :class:`Plan`;
``lrplan.diff(a, b)``; ``lrplan.torch.LRScheduler(optimizer, plan)``. Names are imported on first use,
so ``import lrplan`` (and every CLI start-up) stays as light as before: no numpy, torch, matplotlib
or plotly.
"""

from .version import __version__

# The public surface, in one place (tests/api/test_surface.py checks it against docs/api.md).
__all__ = [
    "Artifact",
    "CheckpointError",
    "Diff",
    "ExitCode",
    "InexpressibleError",
    "LrplanError",
    "Plan",
    "ScheduleError",
    "SpecError",
    "__version__",
    "diff",
    "load",
]
SUBMODULES = ("torch", "integrations")

_FROM = {"load": "api", "Plan": "api", "Artifact": "api", "Diff": "api", "LrplanError": "errors",
         "SpecError": "errors", "ScheduleError": "errors", "InexpressibleError": "errors",
         "CheckpointError": "errors", "ExitCode": "errors"}


def __getattr__(name: str):
    import importlib

    if name == "diff":  # the library module lrplan.diff, made callable as the API's diff() by lrplan.api
        importlib.import_module(f"{__name__}.api")
        return importlib.import_module(f"{__name__}.diff")
    if name in _FROM:
        value = getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
        globals()[name] = value
        return value
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'lrplan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(SUBMODULES))
