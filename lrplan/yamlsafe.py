"""YAML for configs: PyYAML's safe loader, bounded.

A drop-in for ``yaml.safe_load`` that every YAML reader uses. Syntax errors stay ``yaml.YAMLError``
(format detection tries YAML on text that may be something else). What is refused, as an
:class:`~lrplan.errors.LrplanError`:

- aliases that expand to more than :data:`MAX_NODES` nodes: a "billion laughs" document is a few
  hundred bytes on disk and gigabytes once anything walks it (a ``--json`` dump, a flattening reader);
- a recursive alias (``&a [*a]``), which no config has and which would loop a walker;
- nesting deeper than the parser's recursion allows.

PyYAML already refuses to construct arbitrary Python objects under the safe loader; the alias budget is
what it lacks (it builds shared references, which is cheap until a reader expands them).
"""

from __future__ import annotations

from .errors import LrplanError

MAX_NODES = 100_000  # expanded nodes: the largest real configs have a few thousand


def safe_load(text: str, where: str = "the YAML"):
    import yaml

    class _BoundedLoader(yaml.SafeLoader):
        def compose_document(self):
            node = super().compose_document()
            _check_expansion(node, where)
            return node

    try:
        return yaml.load(text, Loader=_BoundedLoader)
    except RecursionError:
        raise LrplanError(f"{where} is nested too deeply to be a config") from None


def load_mapping(text: str, what: str, where: str) -> dict:
    """A config that must be a YAML mapping: ``what`` names it in the error ("an axolotl config")."""
    import yaml

    try:
        data = safe_load(text, where)
    except yaml.YAMLError as e:
        raise LrplanError(f"not valid YAML: {str(e).splitlines()[0]}", where=where) from None
    if not isinstance(data, dict):
        raise LrplanError(f"{what} is a YAML mapping", where=where)
    return data


def _check_expansion(root, where: str) -> None:
    """Count the nodes a full walk would visit (shared alias targets counted once per use)."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = _children(node, yaml)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise LrplanError(f"{where}: its aliases expand to more than {MAX_NODES:,} nodes "
                                  "(a 'billion laughs' document?)",
                                  hint="a config does not need YAML aliases that multiply; expand them by hand")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in active:
            raise LrplanError(f"{where}: a recursive alias (a node that contains itself)",
                              hint="a config cannot refer to itself")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node, yaml) if id(c) not in sizes)


def _children(node, yaml) -> list:
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def syntax_error(text: str) -> str | None:
    """Where PyYAML fails on ``text`` ("line 2, column 1: found character '\\t' ..."), or None."""
    import yaml

    try:
        safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return where + (e.problem or e.context or "invalid YAML")
    except yaml.YAMLError as e:
        return str(e).splitlines()[0]
    except LrplanError as e:
        return e.message
    return None
