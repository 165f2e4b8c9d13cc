"""The wheel holds every package under lrplan/: a new subpackage cannot be left out by a hand-kept list."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_packages_are_found_not_listed():
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" in config and "find" in config["packages"], "pyproject must find packages, not list them"
    found = set(find_packages(str(ROOT), **config["packages"]["find"]))
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lrplan").rglob("__init__.py")}
    assert on_disk <= found, sorted(on_disk - found)
    assert "lrplan.presets_data" in found and "lrplan.frameworks.megatron" in found
