"""Tokens and the item tree of a spec, with character spans for error carets.

    spec   = item *("," item)
    item   = NAME ["=" value] ["(" args ")"]
    args   = arg *("," arg)
    arg    = NAME ["=" value]
    value  = ATOM | "[" spec "]"

An ATOM is any run of characters other than whitespace and ``= , ( ) [ ]`` (so ``1-sqrt``,
``3e-4``, ``10%``, ``80%|90%`` and ``16:16:5.86M`` are single atoms). Written by hand because the
grammar is tiny and every error must point at its exact character span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpecError

PUNCT = "=,()[]"


@dataclass(frozen=True)
class Token:
    """A spec token with its position in the text (for carets)."""

    kind: str  # "atom" or one of PUNCT, or "end"
    text: str
    start: int
    end: int


@dataclass
class Value:
    """A parsed value with its source span."""

    text: str
    start: int
    end: int
    items: list[Item] | None = None  # for "[ ... ]" sub-specs


@dataclass
class Item:
    """One comma-separated item of a spec."""

    name: str
    start: int
    end: int
    value: Value | None = None
    args: list[Item] = field(default_factory=list)
    args_span: tuple[int, int] | None = None
    name_end: int = 0

    @property
    def name_node(self) -> Value:
        return Value(self.name, self.start, self.name_end or self.end)


def tokenize(src: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
            continue
        if c in PUNCT:
            out.append(Token(c, c, i, i + 1))
            i += 1
            continue
        j = i
        while j < n and not src[j].isspace() and src[j] not in PUNCT:
            j += 1
        out.append(Token("atom", src[i:j], i, j))
        i = j
    out.append(Token("end", "", n, n))
    return out


MAX_DEPTH = 32


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = tokenize(src)
        self.i = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, message: str, tok: Token, hint: str | None = None) -> SpecError:
        start, end = tok.start, max(tok.end, tok.start + 1)
        return SpecError(message, source=self.src, span=(start, end), hint=hint)

    def expect(self, kind: str, what: str) -> Token:
        t = self.peek()
        if t.kind != kind:
            found = "the end of the spec" if t.kind == "end" else repr(t.text)
            raise self.fail(f"expected {what}, found {found}", t)
        return self.take()

    def items(self, closer: str) -> list[Item]:
        if closer != "end":
            self.depth += 1
            if self.depth > MAX_DEPTH:  # no schedule nests this deep; recursion would overflow first
                opener = self.toks[self.i - 1]
                raise self.fail(f"brackets nested more than {MAX_DEPTH} deep", opener,
                                hint="a spec nests at most a phase's arguments and a list inside them")
        items = self._items(closer)
        if closer != "end":
            self.depth -= 1
        return items

    def _items(self, closer: str) -> list[Item]:
        items = [self.item()]
        while self.peek().kind == ",":
            comma = self.take()
            if self.peek().kind in (closer, "end", ","):
                raise self.fail("expected an item after ','", comma, hint="remove the extra comma")
            items.append(self.item())
        t = self.peek()
        if t.kind != closer:
            if t.kind == "atom":
                raise self.fail(f"expected ',' before {t.text!r}", t, hint="separate items with commas")
            found = "the end of the spec" if t.kind == "end" else repr(t.text)
            want = "the end of the spec" if closer == "end" else repr(closer)
            raise self.fail(f"expected ',' or {want}, found {found}", t)
        return items

    def item(self) -> Item:
        t = self.peek()
        if t.kind != "atom":
            found = "the end of the spec" if t.kind == "end" else repr(t.text)
            raise self.fail(f"expected a phase or option name, found {found}", t)
        name = self.take()
        item = Item(name.text, name.start, name.end, name_end=name.end)
        if self.peek().kind == "=":
            eq = self.take()
            item.value = self.value(eq)
            item.end = item.value.end
        if self.peek().kind == "(":
            op = self.take()
            if self.peek().kind == ")":
                raise self.fail("empty argument list", self.peek(), hint="remove '()' or add name=value")
            item.args = self.items(")")
            cl = self.expect(")", "')'")
            item.args_span = (op.start, cl.end)
            item.end = cl.end
        return item

    def value(self, eq: Token) -> Value:
        t = self.peek()
        if t.kind == "atom":
            self.take()
            return Value(t.text, t.start, t.end)
        if t.kind == "[":
            op = self.take()
            items = self.items("]")
            cl = self.expect("]", "']'")
            return Value(self.src[op.start : cl.end], op.start, cl.end, items=items)
        raise self.fail("expected a value after '='", t if t.kind != "end" else eq)


def parse_items(src: str) -> list[Item]:
    if not src.strip():
        raise SpecError("the spec is empty", source=src, span=(0, 1),
                        hint='try "warmup=2000,cosine,min=0.1"')
    p = _Parser(src)
    items = p.items("end")
    return items
