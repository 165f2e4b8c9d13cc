"""The layers of lrplan/ (docs/architecture.md): imports run down, never up, and never in a circle.

Every import counts, also the ones inside functions (a lazy import is still a dependency). A package's
``__init__`` importing its own children is not an edge (it only gathers them), as in Python itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "lrplan"

# Bottom to top. A module may import its own layer and the layers below it.
LAYERS = (
    ("lrplan.version", "lrplan.errors", "lrplan.values", "lrplan.quantity", "lrplan.ops", "lrplan.fileio",
     "lrplan.yamlsafe"),
    ("lrplan.shapes", "lrplan.ir", "lrplan.batch", "lrplan.evaluate", "lrplan.irjson", "lrplan.regrid",
     "lrplan.keypoints", "lrplan.exact"),
    ("lrplan.spec",),
    ("lrplan.frameworks",),
    ("lrplan.checkpoints", "lrplan.logs"),
    ("lrplan.presets", "lrplan.sources", "lrplan.convert", "lrplan.diff", "lrplan.explain", "lrplan.lint",
     "lrplan.presets_data", "lrplan.runcheck", "lrplan.fit"),
    ("lrplan.render",),
    ("lrplan.commands", "lrplan.cli", "lrplan.__main__"),
    ("lrplan",),  # the package itself: the public API, imported by nothing inside
)


def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = modules()


def layer(name: str) -> int:
    best, depth = None, -1
    for i, group in enumerate(LAYERS):
        for prefix in group:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = i, len(prefix)
    assert best is not None, f"{name} is in no layer: add it to LAYERS (and docs/architecture.md)"
    return best


def imports(name: str) -> set[str]:
    """The lrplan modules ``name`` imports, anywhere in its file."""
    path = MODULES[name]
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import sub` depends on the submodule; `from pkg import name` on the package
            candidates = [target + "." + a.name if target + "." + a.name in MODULES else target for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        out |= {c for c in candidates if c in MODULES and c != name and not c.startswith(name + ".")}
    return out


EDGES = {name: imports(name) for name in MODULES}


def test_every_module_has_a_layer():
    for name in MODULES:
        layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_down_the_layers(name):
    up = sorted(t for t in EDGES[name] if layer(t) > layer(name))
    assert not up, f"{name} (layer {layer(name)}) imports upwards: " + ", ".join(f"{t} (layer {layer(t)})" for t in up)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in EDGES[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(EDGES):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert _cycles() == []


def test_the_checker_sees_a_circle_and_an_upward_import():
    """The two checks above can fail: a planted circle and a planted upward import are found."""
    saved = dict(EDGES)
    try:
        EDGES["lrplan.ir"] = EDGES["lrplan.ir"] | {"lrplan.evaluate"}  # evaluate imports ir
        assert any({"lrplan.evaluate", "lrplan.ir"} <= set(c) for c in _cycles())
    finally:
        EDGES.clear()
        EDGES.update(saved)
    assert layer("lrplan.commands.core") > layer("lrplan.frameworks.megatron.read") > layer("lrplan.ir")
