"""The public Python API is listed in one place (each public module's ``__all__``, and the public members of
the classes it exports) and docs/api.md documents exactly that: one ``### `name(signature)` `` heading per
name. Adding, removing or re-signing a public name without the docs fails here; so does a public name
without a docstring. ``python tests/api/test_surface.py`` prints the headings the docs must have."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "api.md"
# module -> its public names come from its __all__; torch/transformers/lightning are needed for the last three
MODULES = ("lrplan", "lrplan.torch", "lrplan.integrations.hf", "lrplan.integrations.lightning")
SKIP = {"lrplan": {"__version__", "LrplanError", "SpecError", "ScheduleError", "InexpressibleError",
                   "CheckpointError", "ExitCode"}}  # documented together, in prose, under "Errors"
ALSO = {"lrplan": ("diff",)}  # lrplan.diff is the callable module; its signature is that of lrplan.api.diff


def plain_signature(obj) -> str:
    """``(source, *, steps=None, lr=None, fmt=None, **facts)``: names, defaults and kinds, no annotations."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    parts, star = [], False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if p.kind is p.VAR_POSITIONAL:
            parts.append("*" + p.name)
            star = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append("**" + p.name)
        else:
            parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(parts) + ")"


def _members(cls) -> list[str]:
    """Public members the class defines or inherits from an lrplan class (not those it inherits from
    torch/transformers/lightning)."""
    out = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("lrplan"):
            continue
        for name, value in vars(klass).items():
            if (name.startswith("_") and name != "_repr_html_") or name in ("__init__",) or name in out:
                continue
            if callable(value) or isinstance(value, property):
                out.append(name)
    return out


def surface() -> list[tuple[str, object]]:
    """(heading, object) of every public name, in order."""
    rows = []
    for modname in MODULES:
        mod = importlib.import_module(modname)
        for name in sorted(mod.__all__):
            if name in SKIP.get(modname, ()):
                continue
            obj = getattr(mod, name)
            if isinstance(obj, str):
                rows.append((f"{modname}.{name}", obj))
                continue
            if modname == "lrplan" and name in ALSO["lrplan"]:
                from lrplan.api import diff

                rows.append((f"{modname}.{name}{plain_signature(diff)}", diff))
                continue
            rows.append((f"{modname}.{name}{plain_signature(obj)}", obj))
            if inspect.isclass(obj) and not issubclass(obj, Exception):
                for member in _members(obj):
                    value = inspect.getattr_static(obj, member)
                    sig = "" if isinstance(value, property) else plain_signature(getattr(obj, member))
                    rows.append((f"{modname}.{name}.{member}{sig}", value))
    return rows


def documented() -> list[str]:
    return re.findall(r"^### `([^`]+)`$", DOC.read_text(), re.MULTILINE)


@pytest.fixture(scope="module")
def rows():
    for m in ("torch", "transformers", "lightning"):
        pytest.importorskip(m)
    return surface()


def test_docs_list_exactly_the_public_surface(rows):
    want = [h for h, _ in rows]
    have = documented()
    missing = [h for h in want if h not in have]
    stale = [h for h in have if h not in want]
    assert not missing and not stale, (
        "docs/api.md is out of sync with the public API\n  add: " + "\n       ".join(missing)
        + "\n  remove: " + "\n          ".join(stale))
    assert len(have) == len(set(have))


def test_every_public_name_has_a_docstring(rows):
    bare = []
    for heading, obj in rows:
        target = obj.fget if isinstance(obj, property) else obj
        if not isinstance(target, str) and not inspect.getdoc(target):
            bare.append(heading)
    assert not bare, bare


def test_the_checker_sees_a_missing_name(rows, monkeypatch):
    """The sync test can fail: a name added to lrplan.__all__ is reported as missing from the docs."""
    import lrplan

    monkeypatch.setattr(lrplan, "__all__", [*lrplan.__all__, "brand_new"])
    monkeypatch.setattr(lrplan, "brand_new", lambda plan, k=1: None, raising=False)
    assert "lrplan.brand_new(plan, k=1)" in [h for h, _ in surface()]
    assert "lrplan.brand_new(plan, k=1)" not in documented()


def test_the_exceptions_are_documented():
    text = DOC.read_text()
    import lrplan

    for name in SKIP["lrplan"] - {"__version__"}:
        assert f"`lrplan.{name}`" in text, name
        assert getattr(lrplan, name).__module__ == "lrplan.errors"


if __name__ == "__main__":
    for heading, _ in surface():
        print(f"### `{heading}`")
