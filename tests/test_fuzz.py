"""The hardening corpus (tests/fuzz/corpus.py) through the installed entry point.

Every case must end with its documented exit status and message, never an internal error or a
traceback, never change an input, finish inside the replay's time-out and stay under its memory cap.
``python tests/fuzz/replay.py`` runs the same cases outside pytest and prints time and peak memory.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))

import corpus
import replay

CASES = [c for c in corpus.cases() if corpus.applies(c)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path):
    r = replay.run(case, tmp_path)
    assert replay.problems(case, r) == [], r["stderr"][-2000:]


def test_corpus_covers_every_class():
    ids = {c.id for c in CASES}
    for needed in ("resume-o-into-hf-checkpoint", "spec-1mb-number", "yaml-billion-laughs", "o-dev-null",
                   "hf-global-step-nan", "table-stdout-closed", "dcp-metadata-symlink-out", "escape-in-spec",
                   "truncated-json", "convert-1e8-hf", "fifo-checkpoint", "pickle-dag-2e40"):
        assert needed in ids


def test_dev_null_stays_a_device(tmp_path):
    case = next(c for c in CASES if c.id == "o-dev-null")
    r = replay.run(case, tmp_path)
    assert r["rc"] == 0
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_escapes_are_shown_escaped(tmp_path):
    case = next(c for c in CASES if c.id == "escape-in-yaml")
    r = replay.run(case, tmp_path)
    assert "\x1b" not in r["stderr"] and "\\x1b[2J" in r["stderr"]


def test_the_replay_catches_an_internal_error(tmp_path):
    """The checker itself can fail: an internal error (exit 70) is reported as a problem."""
    case = corpus.Case("probe", [], (2,), shell="echo 'error: internal error (KeyError)' >&2; exit 70")
    r = replay.run(case, tmp_path)
    assert "internal error" in replay.problems(case, r)


def test_the_replay_catches_a_changed_input(tmp_path):
    case = corpus.Case("probe", [], (0,), setup=None, unchanged=("f",), shell="echo changed > f")
    (tmp_path / "f").write_text("original\n")
    r = replay.run(case, tmp_path)
    assert any("input changed" in p for p in replay.problems(case, r))
