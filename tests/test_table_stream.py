"""Streamed tables (``lrplan table ... --every N`` past STREAM_ROWS rows): every number reads back exactly as
lrplan.evaluate computes it, across chunk boundaries; the text of each number follows the table's number rule
(checked here with an implementation of its own, from Python's repr digits); JSON is valid JSON; streamed and
non-streamed tables agree where they overlap; the fast layout and the row-by-row one write the same text."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import struct
from decimal import Decimal

import numpy as np
import pytest
from conftest import run_cli

import lrplan
from lrplan.evaluate import companion_values, lr
from lrplan.keypoints import framework_step
from lrplan.render import tables

LONG = "warmup=2000,cosine,min=0.1"
# (source, steps, lr): LRs on both sides of 1e-5 (positional / exponent) and of 1e-4 (where Python's repr
# would switch), a multiplier curve, phases that change inside a chunk, a tokens axis (a position column),
# companion curves (weight decay, momentum, a second group's LR).
CASES = [
    (LONG, "60k", 3e-5),
    ("warmup=1000,constant=20%,linear,min=0", "60k", None),
    ("warmup=2.5k,cosine=30k,constant,min=1e-3", "60k", 2e-7),
    ("axis=tokens,gbs=1024,seq=4096,warmup=2Btok,cosine,min=0.1", "60k", 3e-4),
    (("warmup=2000,cosine,min=0.1,wd=[constant=50%(at=0.1),linear(to=0.01)],momentum=0.9,"
      "group.embed=[warmup=2000(to=5e-4),cosine(to=4.5e-5)]"), "60k", 3e-4),
]
MEGATRON = ("--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 100 --train-iters 12000 "
            "--start-weight-decay 0.01 --end-weight-decay 0.1 --weight-decay-incr-style linear")  # step notes


def rule(v: float) -> str:
    """The number rule, written from its statement (lrplan/render/tables.py): the shortest round-trip digits
    (Python's repr has them), positional when the decimal exponent E is in -5..15, else d[.ddd]e-N/e+N."""
    if v == 0:
        return "-0.0" if math.copysign(1, v) < 0 else "0.0"
    sign, digits, exp = Decimal(repr(float(v))).normalize().as_tuple()
    d = "".join(map(str, digits))
    e = len(d) - 1 + exp  # v = d[0].d[1:] * 10**e
    head = "-" if sign else ""
    if -5 <= e <= 15:
        if exp >= 0:
            return head + d + "0" * exp + ".0"
        if e >= 0:
            return head + d[:e + 1] + "." + d[e + 1:]
        return head + "0." + "0" * (-e - 1) + d
    return head + d[0] + ("." + d[1:] if len(d) > 1 else "") + ("e+" if e > 0 else "e-") + str(abs(e))


def _doubles(n: int, seed: int = 7):
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        v = struct.unpack("<d", struct.pack("<Q", rnd.getrandbits(64)))[0]
        if math.isfinite(v):
            out.append(v)
    return out


def test_the_rule_is_orjsons_text_and_round_trips():
    edges = [1e-5, math.nextafter(1e-5, 0), 1e-4, math.nextafter(1e-4, 0), 1e16, math.nextafter(1e16, 0),
             1e15, 0.0, -0.0, 1.0, 5e-324, 1.7976931348623157e308, 3e-4, 3e-5, 1.5e-7, 0.1 + 0.2, 2.0 ** 60]
    rnd = random.Random(3)
    lrs = [rnd.uniform(0, 1e-3) * 10 ** -rnd.randrange(6) for _ in range(20_000)]  # LR-sized values
    for v in edges + [-x for x in edges] + _doubles(50_000) + lrs:
        text = tables.exact_text(v)
        assert float(text) == v and math.copysign(1, float(text)) == math.copysign(1, v), (v, text)
        assert text == rule(v), (v, text)
    # the rule is not Python's repr (that is why the tests check it): repr switches at 1e-4 and pads exponents
    assert (repr(3e-5), tables.exact_text(3e-5), tables.exact_text(1.5e-7)) == ("3e-05", "0.00003", "1.5e-7")


def _plan(spec, steps, peak):
    return lrplan.load(spec, steps=steps, lr=peak)


def _csv_rows(text: str):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("spec, steps, peak", CASES, ids=[c[0][:30] for c in CASES])
def test_streamed_csv_and_json_read_back_exactly_across_chunk_boundaries(spec, steps, peak, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 7_919)  # a prime: chunk boundaries fall everywhere, inside phases too
    plan = _plan(spec, steps, peak)
    s = plan.schedule
    n = plan.total_steps
    for every in (1, 3):
        ks = np.arange(0, n + 1, every)
        assert len(ks) > tables.STREAM_ROWS  # streamed
        want = lr(s, ks.astype(float))
        comps = tables.companion_columns(s, ks)
        rows = _csv_rows(plan.table(every=every, format="csv"))
        assert [int(r["step"]) for r in rows] == ks.tolist()
        assert [float(r["lr"]) for r in rows] == want.tolist()
        assert [r["lr"] for r in rows] == [rule(v) for v in want.tolist()]
        for name, vals in comps:
            assert [float(r[name]) for r in rows] == vals and [r[name] for r in rows] == [rule(v) for v in vals]
        doc_text = plan.table(every=every, format="json")
        doc = json.loads(doc_text)  # valid JSON, all of it
        pts = doc["points"]
        assert [p["step"] for p in pts] == ks.tolist() and [p["lr"] for p in pts] == want.tolist()
        raw = json.loads(doc_text, parse_float=str)["points"]  # each number's own text
        assert [p["lr"] for p in raw] == [rule(v) for v in want.tolist()]
        for name, vals in comps:
            assert [p[name] for p in pts] == vals
        assert [p["phase"] for p in pts] == [r["phase"] for r in rows]
        assert list(pts[0]) == ["step", "lr", *(c for c, _ in comps), "phase"] + (
            [s.axis.unit] if s.axis.unit != "steps" else [])
        if s.axis.unit != "steps":
            assert [p[s.axis.unit] for p in pts] == [int(r[s.axis.unit]) for r in rows]
        assert doc["peak_lr"] == s.peak_lr and doc["multiplier"] is (s.peak_lr is None)


def test_companion_columns_are_the_evaluated_curves():
    """The companion columns above are checked against companion_columns; this checks that against
    lrplan.evaluate.companion_values, name by name."""
    spec, steps, peak = CASES[-1]
    s = _plan(spec, steps, peak).schedule
    ks = np.arange(0, 60_001, 7)
    got = dict(tables.companion_columns(s, ks))
    assert set(got) == {"weight_decay", "momentum", "lr[embed]"}
    for name, col in (("weight_decay", "weight_decay"), ("momentum", "momentum"), ("embed", "lr[embed]")):
        assert got[col] == [float(v) for v in companion_values(s, name, ks)]


def _phases(s, ks):
    names, idx, _ = tables._phase_index(s, ks)
    return [names[i] for i in idx]


@pytest.mark.parametrize("spec, steps, peak", [*CASES, (MEGATRON, None, None)],
                         ids=[c[0][:30] for c in CASES] + ["megatron-with-notes"])
def test_fast_layout_writes_what_the_row_by_row_layout_writes(spec, steps, peak, monkeypatch):
    """The same chunks through the fast layouts (_fast_rows for csv/json, _format_rows for text/md) and
    through _chunk (row by row, for the rows they leave): the same text, byte for byte, in every format
    (with a framework's step notes too)."""
    monkeypatch.setattr(tables, "CHUNK", 7_919)
    plan = _plan(spec, steps, peak)
    formats = ("csv", "json", "text", "md")
    fast = {f: plan.table(every=2, format=f) for f in formats}
    monkeypatch.setattr(tables, "_fast_rows", lambda *a: None)
    monkeypatch.setattr(tables, "_format_rows", lambda *a: None)
    for f in formats:
        assert plan.table(every=2, format=f) == fast[f], f


def test_streamed_and_small_tables_agree_where_they_overlap():
    args = ("--steps", "250k", "--lr", "3e-5")
    at = [0, 1, 1999, 2000, 2001, 99_999, 100_000, 100_001, 199_999, 200_000, 249_999, 250_000]
    big = run_cli("table", LONG, *args, "--every", "1", "--format", "csv")  # the CLI, the real chunk size
    small = run_cli("table", LONG, *args, "--at", ",".join(map(str, at)), "--format", "csv")
    assert big.returncode == 0 and small.returncode == 0, big.stderr + small.stderr
    assert big.stdout.splitlines()[0] == small.stdout.splitlines()[0] == "step,lr,phase,note"
    rows = big.stdout.splitlines()[1:]
    assert len(rows) == 250_001
    want = lr(_plan(LONG, "250k", 3e-5).schedule, np.arange(250_001.0))
    assert [float(r.split(",")[1]) for r in rows] == want.tolist()
    small_rows = small.stdout.splitlines()[1:]
    assert [rows[k] for k in at] == [r[:r.rindex(",") + 1] for r in small_rows]  # the same but the notes
    assert [r.split(",")[1] for r in small_rows] == [rule(want[k]) for k in at]
    bj = run_cli("table", LONG, *args, "--every", "1", "--format", "json")
    sj = run_cli("table", LONG, *args, "--at", ",".join(map(str, at)), "--format", "json")
    big_pts = json.loads(bj.stdout, parse_float=str)["points"]
    small_pts = json.loads(sj.stdout, parse_float=str)["points"]
    assert [{k: v for k, v in big_pts[k].items()} for k in at] == [
        {k: v for k, v in p.items() if k != "note"} for p in small_pts]
    assert json.loads(bj.stdout)["peak_lr"] == json.loads(sj.stdout)["peak_lr"] == 3e-5


def test_a_framework_config_with_step_notes_streams_exactly():
    """A framework source names its steps ("Megatron logs this LR at iteration 5"): the note column, CSV
    quoting of the note past the run's end, and still the exact numbers."""
    flags = MEGATRON
    r = run_cli("table", flags, "--every", "1", "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = _csv_rows(r.stdout)
    assert len(rows) == 12_001 > tables.STREAM_ROWS
    s = lrplan.load(flags).schedule
    ks = np.arange(12_001)
    assert [float(x["lr"]) for x in rows] == lr(s, ks.astype(float)).tolist()
    assert [x["lr"] for x in rows] == [rule(v) for v in lr(s, ks.astype(float)).tolist()]
    assert [float(x["weight_decay"]) for x in rows] == [float(v) for v in companion_values(s, "weight_decay", ks)]
    assert "iteration" in rows[5]["note"] and "after the run's last step (11,999)" in rows[-1]["note"]
    ld = lrplan.load(flags)._loaded
    assert [x["note"] for x in rows] == [framework_step(ld, k) for k in range(12_001)]
    doc = json.loads(run_cli("table", flags, "--every", "1", "-f", "json").stdout)
    assert [p["note"] for p in doc["points"]] == [x["note"] for x in rows]
    assert [p["lr"] for p in doc["points"]] == [float(x["lr"]) for x in rows]
    assert [p["samples"] for p in doc["points"]] == [int(x["samples"]) for x in rows]


def test_non_finite_values_are_never_written_as_null():
    """orjson writes NaN as null; a chunk with a non-finite value is laid out row by row, as Python writes it."""
    vals = np.array([0.5, float("nan"), float("inf")])
    assert tables._fast_rows("csv", range(3), vals, [], ["x"], np.zeros(3, dtype=int), None, "steps") is None
    text = tables._chunk("json", [0, 1, 2], vals.tolist(), ["x"] * 3, None, None, "steps", 1, True)
    assert json.loads(text.split(",\n")[0])["lr"] == 0.5 and "null" not in text
    assert "NaN" in text and "Infinity" in text
    csv_text = tables._chunk("csv", [0, 1, 2], vals.tolist(), ["x"] * 3, None, None, "steps", 1, True)
    assert csv_text == "0,0.5,x,\n1,nan,x,\n2,inf,x,\n"


def test_phase_text_needing_quotes_is_quoted_in_both_layouts():
    """Segment labels are plain words (lrplan.ir checks them), but the layouts do not rely on it: a name with
    a comma, a quote or a non-ASCII letter is CSV-quoted and JSON-escaped, the same by both."""
    odd = 'ramp "up", slow \u2197'
    vals = np.array([0.0, 1.5e-7, 3e-5, 1e-3])
    idx = np.array([0, 0, 1, 1])
    text = {}
    for fmt in ("csv", "json"):
        text[fmt] = tables._fast_rows(fmt, range(4), vals, [], [odd, "cosine"], idx, None, "steps")
        slow = tables._chunk(fmt, [0, 1, 2, 3], vals.tolist(), [odd, odd, "cosine", "cosine"], None, None,
                             "steps", 1, True)
        assert text[fmt] == slow, fmt
    rows = list(csv.reader(io.StringIO(text["csv"])))
    assert rows[1] == ["1", "1.5e-7", odd, ""] and rows[2] == ["2", "0.00003", "cosine", ""]
    doc = json.loads("[" + text["json"] + "]")
    assert doc[0] == {"step": 0, "lr": 0.0, "phase": odd} and doc[3]["lr"] == 1e-3


def test_json_tables_stay_ascii_like_json_dumps(tmp_path):
    """orjson writes UTF-8; lrplan's JSON escapes non-ASCII text as json.dumps does (any stdout encoding can
    carry it), streamed or not, and reads back to the same text."""
    src = tmp_path / "plan-ré↗😀.txt"
    src.write_text(MEGATRON + "\n", encoding="utf-8")
    for args in (("--every", "1"), ("--at", "0,5")):
        r = run_cli("table", str(src), *args, "--format", "json")
        assert r.returncode == 0, r.stderr
        assert r.stdout.isascii() and json.loads(r.stdout)["source"].endswith("plan-ré↗😀.txt"), args


def test_ctrl_c_during_a_streamed_table_exits_130_quietly():
    import signal
    import subprocess
    import sys
    import time

    for fmt in ("csv", "json"):
        p = subprocess.Popen([sys.executable, "-m", "lrplan", "table", LONG, "--steps", "50M", "--every", "1",
                              "-f", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout.read(100_000)  # the table is streaming
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)  # then close the pipe (a closed pipe alone ends it with 141)
        p.stdout.close()
        assert p.wait(timeout=60) == 130, fmt
        assert p.stderr.read() == b"", fmt


def test_a_step_past_64_bits_in_json():
    """orjson refuses integers past 64 bits; the table falls back to json.dumps rather than an internal error."""
    r = run_cli("table", "warmup=10,cosine,peak=3e-4", "--steps", "1000", "--at", "100000000000000000000", "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["points"][0]["step"] == 10**20
