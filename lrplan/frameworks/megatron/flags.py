"""Megatron-LM command lines -> an ``args`` dict keyed by argparse dest names.

Accepts what people paste: a ``pretrain_gpt.py`` / ``torchrun`` line with ``\\`` continuations,
``--flag=value`` or ``--flag value`` in any order, ``#`` comments, and shell variables holding flag
groups (``GPT_ARGS="--lr 3e-4 ..."``). Flags that do not touch the schedule are ignored; an unknown flag
that is a near miss of a schedule flag (``--lr-decay-stlye``) is an error with a suggestion, because
Megatron's argparse would reject it and a silently ignored schedule flag is the worst outcome.
Values are converted like argparse does (``int("1e5")`` fails there too).
"""

from __future__ import annotations

import difflib
import math
import re

from ...errors import LrplanError
from .. import shell
from .tables import FLAGS, SPELLINGS, UNRELATED_LOOKALIKES, Flag

NEAR_MISS = 0.8  # difflib ratio above which an unknown flag is taken for a misspelt schedule flag


def tokens(text: str) -> list[str]:
    """Shell words of ``text`` (see :mod:`..shell`); a quoted word that itself holds flags is split again."""
    out: list[str] = []
    for w in shell.words(text, what="Megatron command line"):
        inner = shell.ASSIGN.sub("", w, count=1)
        if re.search(r"(^|\s)--[A-Za-z]", inner) and (inner != w or any(c.isspace() for c in inner)):
            out.extend(tokens(inner))
        else:
            out.append(w)
    return out


def _convert(name: str, flag: Flag, text: str):
    kind = flag.kind
    try:
        if kind == "float":
            v = float(text)
            if not math.isfinite(v):
                raise LrplanError(f"must be a finite number, got {text!r}", where=name)
            return v
        if kind in ("int", "int3", "ints"):
            return int(text)
    except ValueError:
        noun = "an integer" if kind != "float" else "a number"
        hint = "Megatron's argparse would reject it too"
        raise LrplanError(f"takes {noun}, got {text!r}", where=name, hint=hint) from None
    if kind == "choice" and text not in flag.choices:
        near = difflib.get_close_matches(text, flag.choices, n=1, cutoff=0.5)
        hint = f"did you mean '{near[0]}'?" if near else "choices: " + ", ".join(flag.choices)
        raise LrplanError(f"invalid choice {text!r}", where=name, hint=hint)
    return text


def _is_value(word: str) -> bool:
    return not word.startswith("--")


def _take_values(name: str, flag: Flag, inline: str | None, rest: list[str], i: int):
    """The converted value of one flag and the index after what it consumed."""
    if flag.kind == "store_true":
        if inline is not None:
            raise LrplanError(f"takes no value, got {inline!r}", where=name)
        return True, i
    if flag.kind in ("int3", "ints"):
        vals = [] if inline is None else [inline]
        while i < len(rest) and _is_value(rest[i]) and (flag.kind == "ints" or len(vals) < 3):
            vals.append(rest[i])
            i += 1
        if flag.kind == "int3" and len(vals) != 3:
            raise LrplanError(f"takes 3 integers (start increment samples), got {len(vals)}",
                              where=name, hint="e.g. --rampup-batch-size 32 32 1000000")
        return tuple(_convert(name, flag, v) for v in vals), i
    if inline is None:
        if i >= len(rest) or not _is_value(rest[i]):
            raise LrplanError("needs a value", where=name)
        inline, i = rest[i], i + 1
    return _convert(name, flag, inline), i


def _near_miss(name: str) -> str | None:
    if name in UNRELATED_LOOKALIKES:
        return None
    found = difflib.get_close_matches(name, list(SPELLINGS), n=1, cutoff=NEAR_MISS)
    return SPELLINGS[found[0]] if found else None


def parse_flags(text: str, variables: dict[str, str] | None = None) -> tuple[dict, list[str]]:
    """``(args, notes)``: the schedule flags the user gave, by dest, converted; plus notes.

    ``variables`` (from ``--set``) give shell variables the flag values use (``--lr $LR``)."""
    words, notes = shell.expand(tokens(text), variables)
    args: dict = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("--") or word == "--":
            continue  # the launcher, the script, values of flags lrplan does not need
        name, eq, inline = word.partition("=")
        canonical = SPELLINGS.get(name)
        if canonical is None:
            near = _near_miss(name)
            if near is not None:
                raise LrplanError("unknown flag", where=name,
                                  hint=f"did you mean '{near}'? (Megatron would reject {name})")
            continue
        flag = FLAGS[canonical]
        if flag.kind != "store_true":
            given = [inline] if eq else words[i: i + (1 if flag.kind not in ("int3", "ints") else 3)]
            for v in given:
                if v.startswith("--"):
                    break
                if shell.has_variable(v):
                    raise shell.unset(canonical, v)
        value, i = _take_values(canonical, flag, inline if eq else None, words, i)
        if flag.dest in args and args[flag.dest] != value:
            notes.append(f"{canonical} is given twice; the last value ({value!r}) wins, as in argparse")
        args[flag.dest] = value
    return args, notes


def has_megatron_flags(text: str) -> int:
    """How many distinct Megatron schedule flags appear in ``text`` (cheap, for detection).

    Comment lines do not count: other writers' provenance comments quote their Megatron source."""
    text = re.sub(r"(?m)^\s*#.*$", "", text)
    found = set(re.findall(r"(?:^|[\s\"'(])(--[a-z][a-z_-]*)", text))
    return len(found & set(SPELLINGS))
