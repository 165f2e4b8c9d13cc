"""Property tests for the spec language and the IR JSON form."""

from __future__ import annotations


import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from lrplan import irjson
from lrplan.errors import LrplanError
from lrplan.evaluate import lr
from lrplan.ir import AFTER_POLICIES, Axis, ConstantBatch, Curve, Level, Schedule, Segment
from lrplan.shapes import SHAPES
from lrplan.spec import parse_spec, print_spec

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ratio = st.floats(0.0, 1.0, allow_nan=False).map(lambda v: round(v, 6))
lengths = st.one_of(st.integers(1, 10**7).map(float), st.floats(0.5, 1e6, allow_nan=False))


@st.composite
def params_for(draw, kind: str, length: float | None):
    p = {}
    if kind == "cosine":
        p["cycles"] = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0]))
        p["exponent"] = draw(st.sampled_from([1.0, 2.0, 0.5]))
    elif kind == "poly":
        p["power"] = draw(st.sampled_from([1.0, 2.0, 0.5, 3.0]))
    elif kind == "exp":
        p["rate"] = draw(st.floats(0.05, 0.99))
        p["every"] = draw(st.floats(1.0, 1e5))
        p["staircase"] = draw(st.booleans())
        p["bounded"] = draw(st.booleans())
    elif kind == "invsqrt":
        p["timescale"] = draw(st.floats(1.0, 1e5))
    elif kind == "multistep":
        n = draw(st.integers(1, 3))
        ms = sorted(draw(st.lists(st.integers(0, 10**6).map(float), min_size=n, max_size=n)))
        p["milestones"] = tuple(ms)
        p["gammas"] = tuple(draw(st.lists(st.sampled_from([0.1, 0.316, 0.5]), min_size=n, max_size=n)))
    elif kind == "restarts":
        p["cycle"] = draw(st.floats(1.0, 1e5))
        p["mult"] = draw(st.sampled_from([1.0, 2.0]))
        p["decay"] = draw(st.sampled_from([1.0, 0.5]))
    elif kind == "cyclic":
        p["up"] = draw(st.floats(1.0, 1e4))
        p["down"] = draw(st.floats(1.0, 1e4))
        p["mode"] = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
        p["gamma"] = draw(st.sampled_from([1.0, 0.999]))
    elif kind == "inverse-time":
        p["rate"] = draw(st.floats(0.0, 10.0))
        p["every"] = draw(st.floats(1.0, 1e4))
    return p


@st.composite
def schedules(draw):
    n = draw(st.integers(1, 4))
    peak = draw(st.one_of(st.none(), st.sampled_from([3e-4, 1e-3, 6e-5, 1.0])))
    segs, pos = [], 0.0
    for i in range(n):
        kind = draw(st.sampled_from(sorted(SHAPES)))
        last = i == n - 1
        open_end = last and draw(st.booleans()) and kind not in ("linear", "cosine", "poly", "1-sqrt",
                                                                 "exp-anneal", "log")
        length = None if open_end else draw(lengths)
        if kind == "log" and length is not None and length < 2:
            length = 2.0
        end = None if length is None else pos + length
        absolute = peak is not None and draw(st.booleans())
        scale = peak if absolute else 1.0
        a = Level(draw(ratio) * scale, absolute)
        b = Level(draw(ratio) * scale, absolute)
        origin = pos - draw(st.sampled_from([1.0, -1.0, 2.0])) if draw(st.booleans()) else None
        span = draw(st.floats(1.0, 1e6)) if draw(st.integers(0, 4)) == 0 else None
        label = draw(st.sampled_from(["", "", "warmup", "decay", "stable"]))
        try:
            segs.append(Segment(kind, pos, end, a, b, tuple(draw(params_for(kind, length)).items()),
                                origin=origin, span=span, label=label))
        except LrplanError:
            reject()
        if end is None:
            break
        pos = end
    after = draw(st.sampled_from(AFTER_POLICIES))
    if segs[-1].end is None and after == "periodic":
        after = "hold"
    total = draw(st.one_of(st.none(), st.integers(1, 10**8).map(float)))
    axis = Axis()
    if draw(st.integers(0, 5)) == 0:
        axis = Axis("samples", ConstantBatch(draw(st.integers(1, 4096))))
    wd = None
    if draw(st.booleans()):
        wd = Curve((Segment("constant", 0.0, None, Level(draw(ratio), True), Level(0.0, True)),))
    try:
        return Schedule(Curve(tuple(segs), after), peak_lr=peak, total=total, axis=axis, weight_decay=wd)
    except LrplanError:
        reject()


@SETTINGS
@given(schedules())
def test_print_then_parse_is_identity(s):
    text = print_spec(s)
    back = parse_spec(text)
    assert back == s, text


@SETTINGS
@given(schedules())
def test_ir_json_round_trip(s):
    assert irjson.loads(irjson.dumps(s)) == s


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_round_trip_preserves_the_curve(s):
    back = parse_spec(print_spec(s))
    end = s.lr.end if s.lr.end is not None else 1000.0
    ks = np.unique(np.linspace(0, end * 1.3 + 3, 200).astype(np.int64))
    a, b = lr(s, ks), lr(back, ks)
    assert np.array_equal(a, b, equal_nan=True)


WORDS = ["warmup", "cosine", "linear", "constant", "stable", "poly", "1-sqrt", "exp", "invsqrt", "multistep",
         "restarts", "cyclic", "onecycle", "min", "min_lr", "peak", "total", "after", "init", "gbs", "seq", "axis",
         "wd", "momentum", "shape", "from", "to", "at", "gamma", "power", "cycle", "timescale", "half_life", "log",
         "hold", "continue", "open", "samples", "tokens", "cosne", "warmpu", "2000", "10%", "0.1", "1e-4", "3k",
         "-5", "nan", "inf", "1.5M", "80%|90%", "0", "2Btok", "x"]
PUNCT = ["=", ",", "(", ")", "[", "]", " ", "|", ":"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(WORDS + PUNCT), min_size=0, max_size=14),
       st.sampled_from([None, "100", "100k", "10%"]), st.sampled_from([None, 3e-4]))
def test_random_specs_parse_or_fail_with_a_location(parts, steps, peak):
    text = "".join(parts)
    try:
        s = parse_spec(text, steps=steps, lr=peak)
    except LrplanError as e:
        rendered = e.render()
        assert rendered.startswith("error: ")
        if e.span is not None:
            start, end = e.span
            assert 0 <= start <= len(text) and start < end <= len(text) + 1, (text, e.span)
            assert "^" in rendered
        return
    assert parse_spec(print_spec(s)) == s, text


@SETTINGS
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes(text):
    try:
        parse_spec(text, steps="1000")
    except LrplanError:
        pass


def test_generated_schedules_cover_every_shape():
    seen = set()

    @settings(max_examples=400, deadline=None, database=None)
    @given(schedules())
    def collect(s):
        seen.update(seg.kind for seg in s.lr.segments)

    collect()
    assert seen == set(SHAPES)
