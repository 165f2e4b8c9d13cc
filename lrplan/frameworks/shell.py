"""Shell words of a pasted command line or flag block, as the flag dialects (Megatron, HF, torchtitan) read them.

People paste what their launch script holds: ``\\`` line continuations (the last line often still ends in
one), ``#`` comments, quotes, and shell variables in flag values (``--lr $LR``, ``${ITERS:-1000}``). This
module turns that into words the way a POSIX shell would, never with a traceback: a quote left open is
an error saying so. Variables are expanded where their value is known (an assignment in the pasted
text, or ``--set NAME=VALUE``); a ``:-`` default is used with a note; the rest stay, and the dialect that
needs one names it (:func:`unset`).
"""

from __future__ import annotations

import re
import shlex

from ..errors import LrplanError

ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}
VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
                      r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def join_lines(text: str) -> str:
    """Line continuations joined: ``\\`` before a newline (also with blanks after it, which an editor hides
    and a shell would not forgive), and a last line that still ends in ``\\``."""
    joined = re.sub(r"\\[ \t]*\r?\n", " ", text)
    return re.sub(r"\\[ \t]*$", "", joined)


def words(text: str, *, what: str = "flag string") -> list[str]:
    """The shell words of ``text`` (comments dropped, quotes removed)."""
    try:
        lex = shlex.shlex(join_lines(text), posix=True, punctuation_chars=False)
        lex.whitespace_split = True
        lex.commenters = "#"
        return list(lex)
    except ValueError as e:
        raise LrplanError(f"cannot split the {what}: {str(e).lower()}",
                          hint="check the quotes: each ' and \" needs its pair") from None


def _expand_one(word: str, variables: dict[str, str], notes: list[str]) -> str:
    def one(m: re.Match) -> str:
        name = m.group("braced") or m.group("bare")
        if name in variables:
            return variables[name]
        if m.group("op") is not None:
            notes.append(f"${{{name}}} is not set here: its default {m.group('default')!r} is used"
                         f" (--set {name}=VALUE to give another)")
            return m.group("default")
        return m.group(0)

    return VARIABLE.sub(one, word)


def expand(ws: list[str], given: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """``(words, notes)``: shell variables replaced where known. Assignments in the text (``LR=3e-4``, in
    order) are known from where they stand; ``given`` (``--set``) wins over them."""
    notes: list[str] = []
    known: dict[str, str] = {}
    for w in ws:
        m = ASSIGN.match(w)
        if m and not re.search(r"(^|\s)--[A-Za-z]", w[m.end():]):
            known[w[: m.end() - 1]] = _expand_one(w[m.end():], known, [])
    known |= dict(given or {})
    return [w if w.startswith("--") and "=" not in w else _expand_one(w, known, notes) for w in ws], notes


def has_variable(word: str) -> bool:
    return VARIABLE.search(word) is not None


def unset(flag: str, value: str) -> LrplanError:
    """The error for a flag whose value is a shell variable nobody set."""
    missing = sorted({m.group("braced") or m.group("bare") for m in VARIABLE.finditer(value)})
    shown = ", ".join("$" + v for v in missing)
    supply = " ".join(f"--set {v}=VALUE" for v in missing)
    return LrplanError(f"takes the value of {shown}, which is not set in the flag text", where=flag,
                       hint=f"pass {supply}, or paste the lines that set it")
