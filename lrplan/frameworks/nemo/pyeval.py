"""A NeMo 2.x Python recipe evaluated without running it: ``ast.parse``, then a small interpreter of the
statements that build a recipe, over values that are literals, configs or "unknown".

NeMo 2 writes a run as Python (``nemo/collections/llm/recipes/*.py``, user scripts): ``run.Config(Cls,
k=v)`` / ``run.Partial`` objects (nemo_run, on fiddle), or the classes themselves (``nl.Trainer(...)``,
``CosineAnnealingScheduler(...)``), factories that return them, and attribute assignments that override
their fields (``recipe.optim.lr_scheduler.warmup_steps = 2000``). Nothing here imports, compiles or executes
the file: the tree is walked, and only this is evaluated:

* literals (numbers, strings, True/False/None), arithmetic of numbers (``+ - * / // % **``, unary ``-``),
  comparisons, ``and``/``or``/``not``, ``x if c else y``, ``int()``/``float()``/``min()``/``max()`` of
  numbers, ``str.lower()``; names bound in the module or the function (constants, parameters with their
  defaults or the arguments of the call);
* a call of ``run.Config``/``run.Partial``/``fdl.Config`` or of a class (a capitalised name): a
  :class:`Cfg` of its target and keyword arguments; a call of a function defined in this file (or in
  NeMo's recipe package, read from its source, see :func:`nemo_source`): its body, with the arguments bound;
* ``a.b.c = v`` on a config; ``if`` with a condition it can evaluate (``if __name__ == "__main__":`` holds).

Everything else is an :class:`Unknown` that remembers the line and why: a value read from ``argparse``,
the environment, a loop, a branch whose condition is not known, an external function's result. An
Unknown is only an error when the schedule needs it (the reader names it and the ``--set`` that supplies it).
Whatever is assigned under an unknown condition or in a loop becomes Unknown; a config passed to a function
lrplan does not read is *tainted* (that function may change it). Work is bounded: a node budget, a call
depth, integers below 2**256, no string arithmetic.
"""

from __future__ import annotations

import ast
import importlib.machinery
import operator
import os
from dataclasses import dataclass, field

from ...errors import LrplanError
from .sniff import MAX_CHARS

BUDGET = 50_000  # evaluated nodes per read, over every module it reads (llama3_8b.py takes a few hundred)
MAX_CALLS = 24  # call depth
MAX_INT_BITS = 256


@dataclass
class Unknown:
    """A value lrplan does not know without running the file."""

    why: str
    line: int
    label: str = ""
    origin: str = ""  # where the value it was taken from came from ("the result of get_args(), line 113")

    def where(self) -> str:
        return f"{self.label}:{self.line}" if self.label else f"line {self.line}"

    def describe(self) -> str:
        return self.why + (f" ({self.origin})" if self.origin else "")


@dataclass
class Ref:
    """A name bound by an import (``nemo_run.Config``, ``nemo.collections.llm.llama3_8b.pretrain_recipe``)."""

    dotted: str


@dataclass(eq=False)
class Cfg:
    """A configured object: its target (dotted, through the imports), keyword arguments and later assignments."""

    target: str
    kwargs: dict = field(default_factory=dict)
    args: list = field(default_factory=list)  # positional arguments no table names
    lines: dict = field(default_factory=dict)  # field -> line where it was set
    line: int = 0
    label: str = ""
    implicit: bool = False  # ``recipe`` used in a snippet without being built there
    taint: Unknown | None = None  # passed to a function lrplan does not read, which may change it

    @property
    def name(self) -> str:
        return self.target.rsplit(".", 1)[-1]

    def get(self, attr: str, line: int):
        if attr in self.kwargs:
            return self.kwargs[attr]
        if self.implicit:
            child = Cfg("", line=line, label=self.label, implicit=True)
            self.kwargs[attr] = child
            self.lines[attr] = line
            return child
        return Unknown(f"{self.name or 'the recipe'}.{attr} is not set in the file", line, self.label)


@dataclass
class Func:
    """A function the file defines, with the module it closes over."""

    node: ast.FunctionDef | ast.AsyncFunctionDef
    module: Module


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Stop(Exception):
    """A ``raise`` or an unknown ``return`` ends this path."""

    def __init__(self, value):
        self.value = value


@dataclass
class Module:
    """A parsed source file: its tree and the names its top level binds."""

    label: str
    dotted: str
    tree: ast.Module
    globals: dict = field(default_factory=dict)
    ready: bool = False


# Calls whose argument is the finished recipe: it is run, not changed (nemo_run, nemo.collections.llm.api).
CONSUMERS = {"run", "dryrun", "add", "main", "pretrain", "finetune", "train", "print"}
RUNNERS = {f"nemo.collections.llm{api}.{fn}" for api in ("", ".api") for fn in ("pretrain", "finetune", "train",
                                                                                 "distill")}
CONFIG_CALLS = {"Config", "Partial"}
CONFIG_ROOTS = {"nemo_run", "fiddle", "fdl"}


def parse(text: str, label: str) -> ast.Module:
    if len(text) > MAX_CHARS:
        raise LrplanError(f"the file has {len(text)} characters, more than a NeMo recipe reader reads "
                          f"({MAX_CHARS})", where=label)
    try:
        return ast.parse(text, filename=label)
    except SyntaxError as e:
        raise LrplanError(f"not valid Python: {e.msg} (line {e.lineno})", where=label) from None
    except (RecursionError, MemoryError, ValueError) as e:
        raise LrplanError(f"not a Python file lrplan can read ({type(e).__name__})", where=label) from None


def nemo_source(opts_root: str | None = None) -> str | None:
    """The directory of NeMo's Python sources: ``--set nemo_source=DIR`` (a checkout's ``nemo/``), else the
    installed ``nemo`` package, found on sys.path without importing it (PathFinder ignores sys.modules)."""
    if opts_root:
        return opts_root
    spec = importlib.machinery.PathFinder.find_spec("nemo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(iter(spec.submodule_search_locations))


class Interpreter:
    def __init__(self, root: str | None, helpers: dict | None = None) -> None:
        self.root = root
        self.helpers = helpers or {}  # function name -> what a call returns (recipe.py: the adam.py table)
        self.budget = BUDGET
        self.depth = 0
        self.modules: dict[str, Module] = {}
        self.used: list[tuple[object, int]] = []  # values handed to a runner (run.run, llm.pretrain ...)
        self.recorded: list[tuple[str, int, object]] = []  # (name, line, value) bound at module level

    # ---- modules ---------------------------------------------------------------------------------------

    def load(self, text: str, label: str, dotted: str = "__main__") -> Module:
        m = Module(label, dotted, parse(text, label))
        self.modules[dotted] = m
        return m

    def run_module(self, m: Module) -> None:
        m.globals.setdefault("__name__", m.dotted)
        try:
            self.block(m.tree.body, m.globals, m, top=True)
        except (_Return, _Stop):
            pass
        m.ready = True

    def source_module(self, dotted: str) -> Module | None:
        """A module of NeMo's recipe package from its source file (defs and constants only: ``__name__`` is
        the module's, so its ``__main__`` block does not run)."""
        if dotted in self.modules:
            return self.modules[dotted]
        if self.root is None or not dotted.startswith("nemo.collections."):
            return None
        parts = dotted.split(".")[1:]
        paths = [os.path.join(self.root, *parts) + ".py"]
        if len(parts) == 3 and parts[2] != "recipes":  # llm.llama3_8b is llm.recipes.llama3_8b (a re-export)
            paths.append(os.path.join(self.root, parts[0], parts[1], "recipes", parts[2] + ".py"))
        for p in paths:
            if "recipes" in p.split(os.sep) and os.path.isfile(p):
                from ...fileio import read_text

                m = self.load(read_text_safely(read_text, p), "nemo/" + "/".join(p[len(self.root):].strip(os.sep)
                                                                                   .split(os.sep)), dotted)
                self.run_module(m)
                return m
        return None

    # ---- statements ------------------------------------------------------------------------------------

    def block(self, body, env: dict, m: Module, top: bool = False) -> None:
        for stmt in body:
            self.stmt(stmt, env, m, top)

    def stmt(self, s, env: dict, m: Module, top: bool) -> None:
        self.tick()
        line = getattr(s, "lineno", 0)
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            env[s.name] = Func(s, m)
        elif isinstance(s, ast.ClassDef):
            env[s.name] = Unknown(f"the class {s.name}", line, m.label)
        elif isinstance(s, ast.Import):
            for a in s.names:
                if a.asname:
                    env[a.asname] = Ref(a.name)
                else:
                    env[a.name.split(".")[0]] = Ref(a.name.split(".")[0])
        elif isinstance(s, ast.ImportFrom):
            base = self.relative(s, m)
            for a in s.names:
                if a.name != "*":
                    env[a.asname or a.name] = Ref(f"{base}.{a.name}" if base else a.name)
        elif isinstance(s, ast.Assign):
            value = self.expr(s.value, env, m)
            for t in s.targets:
                self.assign(t, value, env, m, line, top)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.assign(s.target, self.expr(s.value, env, m), env, m, line, top)
        elif isinstance(s, ast.AugAssign):
            current = self.expr(_load(s.target), env, m)
            self.assign(s.target, self.binop(s.op, current, self.expr(s.value, env, m), line, m), env, m, line, top)
        elif isinstance(s, ast.Expr):
            self.expr(s.value, env, m)
        elif isinstance(s, ast.Return):
            raise _Return(self.expr(s.value, env, m) if s.value is not None else None)
        elif isinstance(s, ast.If):
            cond = self.truth(self.expr(s.test, env, m))
            if cond is None:
                self.poison(s.body + s.orelse, env, m, f"set under the condition at line {line}, which lrplan "
                                                       "cannot evaluate")
            else:
                self.block(s.body if cond else s.orelse, env, m, top)
        elif isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            if not isinstance(s, ast.While):
                self.poison([ast.Assign([s.target], ast.Constant(None), lineno=line)], env, m, "a loop variable")
            self.poison(s.body + s.orelse, env, m, f"set in the loop at line {line}")
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                v = self.expr(item.context_expr, env, m)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, Unknown("a with-statement's value", line, m.label), env, m,
                                line, top)
                del v
            self.block(s.body, env, m, top)
        elif isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            self.block(s.body, env, m, top)
            for h in s.handlers:
                self.poison(h.body, env, m, f"set in the except clause at line {h.lineno}")
            self.block(s.orelse, env, m, top)
            self.block(s.finalbody, env, m, top)
        elif isinstance(s, ast.Raise):
            raise _Stop(Unknown(f"the raise at line {line}", line, m.label))
        elif isinstance(s, ast.Match):
            self.poison([c for case in s.cases for c in case.body], env, m, f"set in the match at line {line}")
        # pass, assert, global, nonlocal, delete, break, continue: nothing a schedule depends on

    def relative(self, s: ast.ImportFrom, m: Module) -> str:
        if not s.level:
            return s.module or ""
        pkg = m.dotted.split(".")[:-s.level] if m.dotted != "__main__" else []
        return ".".join(pkg + ([s.module] if s.module else []))

    def assign(self, t, value, env: dict, m: Module, line: int, top: bool) -> None:
        if isinstance(t, ast.Name):
            env[t.id] = value
            if top:
                self.recorded.append((t.id, line, value))
        elif isinstance(t, ast.Attribute):
            base = self.expr(t.value, env, m, implicit=True)
            if isinstance(base, Cfg):
                base.kwargs[t.attr] = value
                base.lines[t.attr] = line
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self.assign(e.value if isinstance(e, ast.Starred) else e,
                            Unknown("an unpacked value", line, m.label), env, m, line, top)
        # a subscript (x[0] = ...) sets nothing a schedule reads

    def poison(self, body, env: dict, m: Module, why: str) -> None:
        """Everything these statements may bind or change becomes Unknown (they are not run)."""
        for node in [n for s in body for n in ast.walk(s)]:
            self.tick()
            line = getattr(node, "lineno", 0)
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for leaf in _leaves(t):
                        self.assign(leaf, Unknown(why, line, m.label), env, m, line, False)
            elif isinstance(node, ast.Return):
                raise _Stop(Unknown(f"the result depends on the condition or loop before line {line}", line,
                                    m.label))
            elif isinstance(node, ast.Call):
                fn = self.expr(node.func, env, m) if isinstance(node.func, (ast.Name, ast.Attribute)) else None
                plain = {k.arg: k.value for k in node.keywords
                         if k.arg is not None and isinstance(k.value, (ast.Name, ast.Attribute))}
                if isinstance(fn, Ref) and fn.dotted in RUNNERS:  # llm.pretrain(...) under an if: it runs these
                    kw = {k: self.expr(v, env, m) for k, v in plain.items()}
                    self.used.append((_cfg(fn.dotted, [], kw, line, m.label), line))
                    continue
                for a in list(node.args) + [k.value for k in node.keywords]:
                    if isinstance(a, (ast.Name, ast.Attribute)):
                        v = self.expr(a, env, m)
                        if isinstance(v, Cfg):
                            v.taint = Unknown(f"may be changed by the call at line {line} ({why})", line, m.label)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                env[node.name] = Unknown(why, line, m.label)

    # ---- expressions -----------------------------------------------------------------------------------

    def tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise LrplanError(f"the recipe takes more than {BUDGET} steps to read: not a recipe lrplan reads",
                              hint="write the schedule's values in a small script, or pass a spec")

    def expr(self, e, env: dict, m: Module, implicit: bool = False):
        self.tick()
        line = getattr(e, "lineno", 0)
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > MAX_INT_BITS:
                return Unknown("an integer too large to be a step count", line, m.label)
            return v if isinstance(v, (int, float, str, bool, type(None))) else Unknown("a literal", line, m.label)
        if isinstance(e, ast.Name):
            return self.name(e.id, env, m, line, implicit)
        if isinstance(e, ast.Attribute):
            base = self.expr(e.value, env, m, implicit)
            if isinstance(base, Ref):
                return Ref(f"{base.dotted}.{e.attr}")
            if isinstance(base, Cfg):
                return base.get(e.attr, line)
            if isinstance(base, Unknown):
                return Unknown(_text(e), line, m.label, base.origin or f"{base.why}, line {base.line}")
            if isinstance(base, str) and e.attr in ("lower", "upper", "strip"):
                return ("str", base, e.attr)
            return Unknown(f"{_text(e)}", line, m.label)
        if isinstance(e, ast.UnaryOp):
            v = self.expr(e.operand, env, m)
            if isinstance(e.op, ast.Not):
                t = self.truth(v)
                return Unknown(f"not {_text(e.operand)}", line, m.label) if t is None else (not t)
            if is_number(v) and isinstance(e.op, (ast.USub, ast.UAdd)):
                return -v if isinstance(e.op, ast.USub) else +v
            return Unknown(_text(e), line, m.label) if not isinstance(v, Unknown) else v
        if isinstance(e, ast.BinOp):
            return self.binop(e.op, self.expr(e.left, env, m), self.expr(e.right, env, m), line, m)
        if isinstance(e, ast.BoolOp):
            return self.boolop(e, env, m, line)
        if isinstance(e, ast.Compare):
            return self.compare(e, env, m, line)
        if isinstance(e, ast.IfExp):
            t = self.truth(self.expr(e.test, env, m))
            if t is None:
                return Unknown(f"{_text(e)} (its condition is not known)", line, m.label)
            return self.expr(e.body if t else e.orelse, env, m)
        if isinstance(e, ast.Call):
            return self.call(e, env, m, line)
        if isinstance(e, ast.JoinedStr):
            return Unknown("an f-string", line, m.label)
        if isinstance(e, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            for sub in ast.iter_child_nodes(e):  # built for their side effects (configs inside)
                if isinstance(sub, ast.expr) and not isinstance(sub, ast.expr_context):
                    self.expr(sub, env, m)
            return Unknown(f"a {type(e).__name__.lower()}", line, m.label)
        return Unknown(_text(e), line, m.label)

    def name(self, n: str, env: dict, m: Module, line: int, implicit: bool):
        for scope in (env, m.globals):
            if n in scope:
                return scope[n]
        if n in ("int", "float", "min", "max", "print", "len", "str", "bool", "round", "abs"):
            return Ref(f"builtins.{n}")
        if implicit and n == "recipe":  # a snippet to paste after the recipe is built
            c = Cfg("", line=line, label=m.label, implicit=True)
            m.globals[n] = c
            return c
        return Unknown(f"{n} is not defined in the file", line, m.label)

    def truth(self, v):
        if isinstance(v, (bool, int, float, str, type(None))):
            return bool(v)
        if isinstance(v, (Cfg, Func, Ref)):
            return True
        return None

    def binop(self, op, a, b, line: int, m: Module):
        for v in (a, b):
            if isinstance(v, Unknown):
                return v
        if not (is_number(a) and is_number(b)):
            return Unknown("arithmetic on something other than numbers", line, m.label)
        try:
            if isinstance(op, ast.Pow):
                if abs(b) > 1024 or (isinstance(a, int) and isinstance(b, int) and b > 0
                                     and a.bit_length() * b > MAX_INT_BITS):
                    return Unknown("a power too large", line, m.label)
                out = a ** b
            else:
                out = _ARITHMETIC[type(op)](a, b)
        except (KeyError, ZeroDivisionError, OverflowError, ValueError, TypeError):
            return Unknown("arithmetic lrplan does not evaluate (or that fails)", line, m.label)
        if isinstance(out, complex) or (isinstance(out, int) and out.bit_length() > MAX_INT_BITS):
            return Unknown("a number out of range", line, m.label)
        return out

    def boolop(self, e: ast.BoolOp, env: dict, m: Module, line: int):
        v = None
        for sub in e.values:
            v = self.expr(sub, env, m)
            t = self.truth(v)
            if t is None:
                return Unknown(f"{_text(e)} (not known)", line, m.label)
            if isinstance(e.op, ast.Or) and t or isinstance(e.op, ast.And) and not t:
                return v
        return v

    def compare(self, e: ast.Compare, env: dict, m: Module, line: int):
        left = self.expr(e.left, env, m)
        for op, comp in zip(e.ops, e.comparators):
            literals = isinstance(comp, (ast.List, ast.Tuple, ast.Set)) and all(
                isinstance(x, ast.Constant) and isinstance(x.value, (int, float, str, bool, type(None)))
                for x in comp.elts)
            right = tuple(x.value for x in comp.elts) if literals else self.expr(comp, env, m)
            if isinstance(op, (ast.In, ast.NotIn)) and literals and isinstance(left, (int, float, str, bool,
                                                                                     type(None))):
                ok = (left in right) == isinstance(op, ast.In)
            elif isinstance(op, (ast.Is, ast.IsNot)) and (left is None or right is None) \
                    and not isinstance(left, Unknown) and not isinstance(right, Unknown):
                ok = (left is right) == isinstance(op, ast.Is)
            elif all(isinstance(v, (int, float, str, bool, type(None))) for v in (left, right)) \
                    and not isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
                try:
                    ok = _COMPARE[type(op)](left, right)
                except (TypeError, KeyError):
                    return Unknown(_text(e), line, m.label)
            else:
                return Unknown(f"{_text(e)} (not known)", line, m.label)
            if not ok:
                return False
            left = right
        return True

    # ---- calls -----------------------------------------------------------------------------------------

    def call(self, e: ast.Call, env: dict, m: Module, line: int):
        fn = self.expr(e.func, env, m)
        args = [self.expr(a.value if isinstance(a, ast.Starred) else a, env, m) for a in e.args]
        kwargs = {}
        for k in e.keywords:
            v = self.expr(k.value, env, m)
            if k.arg is None:
                return Unknown(f"a call with **{_text(k.value)} (line {line})", line, m.label)
            kwargs[k.arg] = v
        if any(isinstance(a, ast.Starred) for a in e.args):
            return Unknown(f"a call with *{_text(e)}", line, m.label)
        if isinstance(fn, tuple) and fn[0] == "str":  # "x".lower()
            return getattr(fn[1], fn[2])()
        if isinstance(fn, Func):
            return self.invoke(fn, args, kwargs, line)
        if isinstance(fn, Ref):
            return self.external(fn.dotted, args, kwargs, line, m)
        if isinstance(fn, Cfg) and fn.name in CONSUMERS:  # exp.add(recipe) on an Experiment config
            self.consume(args, kwargs, line)
        self.taint(args, kwargs, f"{_text(e.func)}(...) at line {line}, which lrplan does not read", line, m)
        return Unknown(f"the result of {_text(e.func)}(...)", line, m.label)

    def consume(self, args, kwargs, line: int) -> None:
        for v in list(args) + list(kwargs.values()):
            if isinstance(v, (Cfg, Unknown)):  # an Unknown run is named in the error, not skipped
                self.used.append((v, line))

    def taint(self, args, kwargs, why: str, line: int, m: Module) -> None:
        for v in list(args) + list(kwargs.values()):
            if isinstance(v, Cfg) and v.taint is None:
                v.taint = Unknown(f"may be changed by {why}", line, m.label)

    def external(self, dotted: str, args: list, kwargs: dict, line: int, m: Module):
        parts = dotted.split(".")
        last = parts[-1]
        if parts[0] in CONFIG_ROOTS and last in CONFIG_CALLS:
            if not args:
                return Unknown(f"{dotted}() without a target", line, m.label)
            target = args[0]
            name = target.dotted if isinstance(target, Ref) else (
                target.node.name if isinstance(target, Func) else "")
            return _cfg(name, args[1:], kwargs, line, m.label)
        if parts[0] == "nemo_run" and last == "main":  # run.cli.main(llm.pretrain, default_factory=f)
            f = kwargs.get("default_factory")
            if isinstance(f, Func):
                value = self.invoke(f, [], {}, line)
                self.used.append((value, line))
                return Unknown("run.cli.main's result", line, m.label)
            self.consume(args, kwargs, line)
            return Unknown("run.cli.main's result", line, m.label)
        if parts[0] == "nemo_run" and last in CONSUMERS or parts[0] == "builtins" and last == "print":
            self.consume(args, kwargs, line)
            return Unknown(f"{dotted}(...)", line, m.label)
        if dotted in RUNNERS:  # llm.pretrain(model=..., trainer=..., optim=...) runs these objects
            c = _cfg(dotted, args, kwargs, line, m.label)
            self.used.append((c, line))
            return Unknown(f"{dotted}(...)'s result", line, m.label)
        if parts[0] == "builtins":
            return _builtin(last, args, kwargs, line, m)
        if last in self.helpers:
            return self.helpers[last](last, args, kwargs, line, m.label)
        if len(parts) > 1:
            mod = self.source_module(".".join(parts[:-1]))
            if mod is not None:
                f = mod.globals.get(last)
                if isinstance(f, Func):
                    return self.invoke(f, args, kwargs, line)
        if last[:1].isupper():  # a class: its arguments are its attributes (as in a fiddle Config of it)
            return _cfg(dotted, args, kwargs, line, m.label)
        self.taint(args, kwargs, f"{dotted}(...) at line {line}, which lrplan does not read", line, m)
        if dotted.startswith("nemo.collections.") and self.root is None:
            return Unknown(f"the result of {dotted}(...), from NeMo's recipe package, whose source lrplan reads "
                           "from an installed nemo_toolkit or --set nemo_source=DIR (neither is here)", line, m.label)
        return Unknown(f"the result of {dotted}(...), a function lrplan does not read", line, m.label)

    def invoke(self, f: Func, args: list, kwargs: dict, line: int):
        if self.depth >= MAX_CALLS:
            return Unknown(f"calls nested deeper than {MAX_CALLS}", line, f.module.label)
        a = f.node.args
        env: dict = {}
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        m = f.module
        for i, p in enumerate(positional):
            if i < len(args):
                env[p.arg] = args[i]
            elif p.arg in kwargs:
                env[p.arg] = kwargs.pop(p.arg)
            elif defaults[i] is not None:
                env[p.arg] = self.expr(defaults[i], m.globals, m)
            else:
                env[p.arg] = Unknown(f"{f.node.name}()'s parameter {p.arg} has no value", line, m.label)
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            if p.arg in kwargs:
                env[p.arg] = kwargs.pop(p.arg)
            else:
                env[p.arg] = self.expr(d, m.globals, m) if d is not None else Unknown(
                    f"{f.node.name}()'s parameter {p.arg} has no value", line, m.label)
        if a.vararg:
            env[a.vararg.arg] = Unknown(f"*{a.vararg.arg}", line, m.label)
        if a.kwarg:
            env[a.kwarg.arg] = Unknown(f"**{a.kwarg.arg}", line, m.label)
        elif kwargs:
            return Unknown(f"{f.node.name}() called with an argument it does not take "
                           f"({min(kwargs)})", line, m.label)
        self.depth += 1
        try:
            self.block(f.node.body, env, m)
        except _Return as r:
            return r.value
        except _Stop as s:
            return s.value
        finally:
            self.depth -= 1
        return None


_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


def read_text_safely(read_text, path: str) -> str:
    from pathlib import Path

    return read_text(Path(path), what="NeMo recipe source")


def _cfg(target: str, args: list, kwargs: dict, line: int, label: str) -> Cfg:
    """A config of ``target``; positional arguments take their names from :data:`tables.POSITIONAL`."""
    from .tables import POSITIONAL

    names = POSITIONAL.get(target.rsplit(".", 1)[-1], ())
    kw = dict(zip(names, args))
    rest = list(args[len(names):])
    kw.update(kwargs)
    return Cfg(target, kw, rest, {k: line for k in kw}, line, label)


def _leaves(t):
    if isinstance(t, (ast.Tuple, ast.List)):
        return [x for e in t.elts for x in _leaves(e.value if isinstance(e, ast.Starred) else e)]
    return [t]


def _load(t):
    if isinstance(t, ast.Attribute):
        return ast.Attribute(_load(t.value), t.attr, ast.Load(), lineno=t.lineno, col_offset=t.col_offset)
    if isinstance(t, ast.Name):
        return ast.Name(t.id, ast.Load(), lineno=t.lineno, col_offset=t.col_offset)
    return t


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


TEXT_NODES = 64  # an excerpt of at most this many nodes: a hostile file's huge expression is never unparsed


def _text(e) -> str:
    """A short excerpt of ``e`` for a message (its nodes are counted first, and only up to TEXT_NODES)."""
    if not _smaller_than(e, TEXT_NODES):
        return f"an expression ({type(e).__name__})"
    try:
        s = ast.unparse(e)
    except Exception:  # noqa: BLE001 - unparse of a hostile tree: any failure just loses the excerpt
        return "an expression"
    return s if len(s) <= 60 else s[:57] + "..."


def _smaller_than(e, limit: int) -> bool:
    """Does ``e`` have fewer than ``limit`` nodes? Depth first through lazy child iterators, so a list of a
    million elements costs ``limit`` steps (ast.walk would queue every child first)."""
    n, stack = 0, [iter((e,))]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        n += 1
        if n >= limit:
            return False
        stack.append(ast.iter_child_nodes(node))
    return True


def _builtin(name: str, args: list, kwargs: dict, line: int, m: Module):
    if kwargs or not args or not all(is_number(a) for a in args):
        return Unknown(f"{name}(...) of something other than numbers", line, m.label)
    try:
        if name == "int" and len(args) == 1:
            return int(args[0])
        if name == "float" and len(args) == 1:
            return float(args[0])
        if name in ("min", "max") and len(args) >= 2:
            return (min if name == "min" else max)(args)
        if name == "abs" and len(args) == 1:
            return abs(args[0])
    except (OverflowError, ValueError):
        pass
    return Unknown(f"{name}(...)", line, m.label)
