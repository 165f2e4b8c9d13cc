"""The spec language: what parses to what, and the exact text of every error (with its caret)."""

from __future__ import annotations

import pytest

from lrplan.errors import LrplanError, SpecError
from lrplan.ir import ONE, ZERO, ConstantBatch, Level, RampupBatch, StepBatch
from lrplan.spec import parse_spec, print_spec


def err(spec: str, **kw) -> str:
    with pytest.raises(LrplanError) as e:
        parse_spec(spec, **kw)
    return e.value.render()


# (spec, kwargs, exact rendered error)
ERRORS = [
    ("warmup=2000,cosne,min=0.1", {"steps": "100k"},
     "error: unknown phase or option 'cosne'\n  warmup=2000,cosne,min=0.1\n              ^^^^^\n"
     "hint: did you mean 'cosine'?"),
    ("warmup=2000,,cosine", {},
     "error: expected an item after ','\n  warmup=2000,,cosine\n             ^\nhint: remove the extra comma"),
    ("warmup=2000 cosine", {},
     "error: expected ',' before 'cosine'\n  warmup=2000 cosine\n              ^^^^^^\n"
     "hint: separate items with commas"),
    ("warmup=120k,cosine", {"steps": "100k"},
     "error: warmup=120k is longer than the whole schedule (100000)\n  warmup=120k,cosine\n         ^^^^\n"
     "hint: shorten the warmup or raise --steps"),
    ("warmup=2000,cosine,min=1.5", {"steps": "100k"},
     "error: the floor 1.5 is above the peak\n  warmup=2000,cosine,min=1.5\n                         ^^^\n"
     "hint: min= is a ratio of the peak (0..1); min_lr= is an LR"),
    ("warmup=2000,cosine,min_lr=1e-3", {"steps": "100k", "lr": 3e-4},
     "error: the floor 1e-3 is above the peak\n  warmup=2000,cosine,min_lr=1e-3\n                            ^^^^\n"
     "hint: min= is a ratio of the peak (0..1); min_lr= is an LR"),
    ("warmup=-5,cosine", {"steps": "100"},
     "error: expected a number like 2000, 2k, 1.5M, 10% or 4Btok, got '-5'\n  warmup=-5,cosine\n"
     "         ^^\n"),
    ("warmup=10%,cosine", {},
     "error: a percentage needs the total length (pass --steps)\n  warmup=10%,cosine\n         ^^^\n"
     "hint: pass --steps N (or total=N in the spec)"),
    ("warmup,cosine", {"steps": "100"},
     "error: warmup needs a length (warmup=2000, warmup=1%)\n  warmup,cosine\n  ^^^^^^\n"),
    ("warmup=10,cosine,linear", {"steps": "100"},
     "error: only one phase can leave out its length\n  warmup=10,cosine,linear\n                   ^^^^^^\n"
     "hint: give linear a length, e.g. linear=10%"),
    ("warmup=100,cosine=50,constant", {"steps": "100"},
     "error: no room left for constant: the other phases already take 150 of 100\n"
     "  warmup=100,cosine=50,constant\n                       ^^^^^^^^\nhint: shorten them or raise --steps"),
    ("warmup=10,cosine(cycels=1)", {"steps": "100"},
     "error: cosine has no argument 'cycels'\n  warmup=10,cosine(cycels=1)\n                   ^^^^^^\n"
     "hint: did you mean 'cycles'?"),
    ("warmup=10(shape=lin),cosine", {"steps": "100"},
     "error: warmup shape must be one of linear, log, cosine, 1-sqrt, quadratic\n  warmup=10(shape=lin),cosine\n"
     "                  ^^^\nhint: did you mean 'linear'?"),
    ("warmup=10,cosine,after=stay", {"steps": "100"},
     "error: after must be one of hold, continue, periodic\n  warmup=10,cosine,after=stay\n"
     "                         ^^^^\nhint: valid choices: continue, hold, periodic"),
    ("warmup=10,cosine(", {"steps": "100"},
     "error: expected a phase or option name, found the end of the spec\n  warmup=10,cosine(\n"
     "                   ^\n"),
    ("warmup=10,cosine,min=0.1,min=0.2", {"steps": "100"},
     "error: option 'min' is given twice\n  warmup=10,cosine,min=0.1,min=0.2\n                           ^^^^^^^\n"),
    ("warmup=10,invsqrt", {"steps": "100"},
     "error: invsqrt needs timescale=N (HF and Megatron use the warmup length)\n  warmup=10,invsqrt\n"
     "            ^^^^^^^\nhint: e.g. invsqrt(timescale=4000)"),
    ("warmup=10,cosine,min=0.1", {"steps": "abc"},
     "error: --steps: expected a number like 2000, 2k, 1.5M, 10% or 4Btok, got 'abc'"),
    ("warmup=10,cosine,total=100", {"steps": "200"},
     "error: the spec says total=100 but --steps gives 200\n  warmup=10,cosine,total=100\n"
     "                         ^^^\n"),
    ("", {}, "error: the spec is empty\n  \n  ^\nhint: try \"warmup=2000,cosine,min=0.1\""),
    ("warmup=10,cosine", {},
     "error: an open-ended 'cosine' segment needs a span (its length)\n  warmup=10,cosine\n"
     "            ^^^^^^\nhint: pass --steps N or give the phase a length"),
    ("warmup=4Btok,cosine", {"steps": "100"},
     "error: a count in tok needs tokens per step (gbs= and seq=)\n  warmup=4Btok,cosine\n"
     "         ^^^^^\n"),
    ("warmup=10,multistep(gamma=0.1)", {"steps": "100"},
     "error: multistep needs at=POSITIONS (e.g. at=80%|90%)\n  warmup=10,multistep(gamma=0.1)\n"
     "            ^^^^^^^^^^^^^^^^^^^^\n"),
]


@pytest.mark.parametrize("spec,kw,expected", ERRORS, ids=[e[0] or "empty" for e in ERRORS])
def test_error_text(spec, kw, expected):
    assert err(spec, **kw) == expected.rstrip("\n")


def test_mission_example_structure():
    s = parse_spec("warmup=2000,cosine,min=0.1", steps="100k")
    warm, cos = s.lr.segments
    assert (warm.kind, warm.start, warm.end, warm.a, warm.b, warm.label) == ("linear", 0, 2000, ZERO, ONE, "warmup")
    assert (cos.kind, cos.start, cos.end, cos.a, cos.b) == ("cosine", 2000, 100000, ONE, Level(0.1))
    assert s.lr.after == "hold" and s.total == 100000 and s.peak_lr is None


@pytest.mark.parametrize("text,value", [("2000", 2000), ("2k", 2000), ("1.5M", 1_500_000), ("2B", 2e9),
                                        ("1T", 1e12), ("10%", 10_000), ("0.5%", 500), ("2e3", 2000)])
def test_quantities(text, value):
    s = parse_spec(f"warmup={text},constant", steps="100k" if "%" in text else "3T")
    assert s.lr.segments[0].end == value


def test_tokens_and_batch_axis():
    s = parse_spec("warmup=1Btok,cosine,min=0.1,gbs=512,seq=4096", steps="100k")
    assert s.lr.segments[0].end == pytest.approx(1e9 / (512 * 4096))
    r = parse_spec("warmup=100,cosine,gbs=32,rampup=8:8:240,axis=samples", steps="1000")
    assert r.axis.batch == RampupBatch(8, 8, 240, 32) and r.axis.unit == "samples"
    t = parse_spec("warmup=1000,cosine,axis=tokens,seq=4,bsched=0:16|2.4Btok:320", steps="100")
    assert t.axis.batch == StepBatch(((0, 16), (600_000_000, 320)))
    c = parse_spec("cosine,gbs=8", steps="10")
    assert c.axis.batch == ConstantBatch(8)


def test_open_ended_last_phase_without_total():
    s = parse_spec("warmup=2000,constant")
    assert s.lr.segments[-1].end is None and s.total is None


def test_companions():
    s = parse_spec("warmup=10,cosine,wd=[cosine(from=0.01,to=0.1)],momentum=0.9,group.embedding=[constant(at=1e-4)]",
                   steps="100", lr=3e-4)
    assert s.weight_decay.segments[0].a == Level(0.01, True)
    assert s.momentum.segments[0].a == Level(0.9, True)
    assert dict(s.groups)["embedding"].segments[0].a == Level(1e-4, True)
    assert parse_spec(print_spec(s)) == s


def test_spec_error_is_an_lrplan_error_with_span():
    with pytest.raises(SpecError) as e:
        parse_spec("warmup=2000,cosine,mn=0.1", steps="100k")
    assert e.value.span == (19, 21)


def test_scale_sub_spec_multiplies_the_lr_and_round_trips():
    """``scale=[...]``: a multiplier curve (relative levels, the companions' sub-spec syntax) on the LR curve."""
    from lrplan.evaluate import lr, lr_at

    base = parse_spec("warmup=100,cosine,total=1000,peak=1e-3")
    s = parse_spec("warmup=100,cosine,total=1000,peak=1e-3,scale=[constant=500,linear=100(from=0.25,to=1),constant]")
    assert s.lr == base.lr and s.scale is not None and not s.scale.segments[1].a.absolute
    text = print_spec(s)
    assert text.endswith(",scale=[constant=500,linear=100(from=0.25,to=1),constant=400]")
    assert parse_spec(text) == s
    ks = [0, 499, 500, 550, 600, 999]
    factors = [1.0, 1.0, 0.25, 0.625, 1.0, 1.0]  # 0.25 + 0.75 * 50 / 100 at step 550
    for k, f in zip(ks, factors):
        assert lr_at(s, k) == pytest.approx(f * lr_at(base, k), rel=1e-15)
    assert lr(s, ks) == pytest.approx([f * v for f, v in zip(factors, lr(base, ks))], rel=1e-15)
    half = parse_spec("warmup=100,cosine,total=1000,peak=1e-3,scale=0.5")
    assert print_spec(half).endswith(",scale=0.5") and lr_at(half, 300) == pytest.approx(0.5 * lr_at(base, 300))
    assert parse_spec("warmup=100,cosine,total=1000").scale is None


@pytest.mark.parametrize("spec,message,caret", [
    ("cosine,total=1000,peak=1e-3,scale=[constant(at_lr=1e-4)]", "scale multiplies the LR: its levels are ratios",
     "[constant(at_lr=1e-4)]"),
    ("cosine,total=1000,scale=[min=0.1]", "unknown phase or option 'min'", "min"),
    ("cosine,total=1000,scale=[cosin]", "unknown phase or option 'cosin'", "cosin"),
])
def test_scale_sub_spec_errors(spec, message, caret):
    with pytest.raises(SpecError) as e:
        parse_spec(spec)
    text = e.value.render()
    assert message in text
    line, marks = text.splitlines()[1:3]
    start = marks.index("^")
    assert line[start:start + marks.count("^")] == caret
