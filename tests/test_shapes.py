"""Reference tables per shape: values worked out by hand at 0, warmup-1, warmup, mid, end-1, end, beyond.

Parameters are chosen so the values are exact or short decimals (a cosine midpoint is the mean of its
ends, sqrt(0.25) = 0.5, 0.5 ** 2 = 0.25, ...). Where a value is irrational it is written as the
expression a person would evaluate by hand (sqrt(2) - 1), never as lrplan's own output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrplan.evaluate import lr, lr_at
from lrplan.spec import parse_spec

# (spec, --steps, [(step, expected multiplier)])
TABLES = [
    # The mission's normative example: peak*k/2000 below 2000, cosine from 1 at 2000 to 0.1 at 100000, held.
    ("warmup=2000,cosine,min=0.1", "100k", [
        (0, 0.0), (1, 1 / 2000), (1999, 0.9995), (2000, 1.0), (51000, 0.55),
        (100000, 0.1), (100001, 0.1), (10**9, 0.1)]),
    ("warmup=100,linear", "1100", [
        (0, 0.0), (99, 0.99), (100, 1.0), (600, 0.5), (1099, 0.001), (1100, 0.0), (5000, 0.0)]),
    ("warmup=10,constant", "100", [(0, 0.0), (9, 0.9), (10, 1.0), (55, 1.0), (99, 1.0), (100, 1.0), (10**6, 1.0)]),
    ("poly(power=2)", "1000", [(0, 1.0), (500, 0.25), (900, 0.01), (999, 1e-6), (1000, 0.0), (2000, 0.0)]),
    ("poly(power=0.5),min=0.2", "100", [(0, 1.0), (75, 0.2 + 0.8 * 0.5), (100, 0.2)]),
    ("1-sqrt", "100", [(0, 1.0), (25, 0.5), (64, 0.2), (81, 0.1), (100, 0.0), (101, 0.0)]),
    ("constant=80,1-sqrt,min=0.1", "180", [(79, 1.0), (80, 1.0), (105, 0.1 + 0.9 * 0.5), (180, 0.1)]),
    ("exp-anneal,min=0.1", "100", [(0, 1.0), (50, 0.1 + 0.9 * (math.sqrt(2) - 1)), (100, 0.1), (150, 0.1)]),
    ("warmup=10(shape=log),constant", "20", [
        (0, 0.0), (3, math.log(4) / math.log(10)), (9, 1.0), (10, 1.0), (19, 1.0)]),
    ("warmup=4(shape=cosine),constant", "10", [(0, 0.0), (2, 0.5), (4, 1.0)]),
    ("warmup=4(shape=1-sqrt),constant", "10", [(0, 0.0), (3, 0.5), (4, 1.0)]),
    ("exp(half_life=1000)", "5000", [(0, 1.0), (1000, 0.5), (2000, 0.25), (3000, 0.125), (5000, 1 / 32)]),
    ("exp(rate=0.1,every=100,staircase=true)", "1000", [(0, 1.0), (99, 1.0), (100, 0.1), (250, 0.01)]),
    ("exp(half_life=100,to=0.3)", "1000", [(100, 0.5), (200, 0.3), (900, 0.3)]),
    ("warmup=100,invsqrt(timescale=100)", "10000", [
        (0, 0.0), (99, 0.99), (100, 1.0), (400, 0.5), (1600, 0.25), (9999, 1 / math.sqrt(99.99)), (10000, 0.1)]),
    ("warmup=2000,multistep(at=80%|90%,gamma=0.316)", "100k", [
        (0, 0.0), (2000, 1.0), (79999, 1.0), (80000, 0.316), (89999, 0.316), (90000, 0.316 * 0.316),
        (100000, 0.316 * 0.316)]),
    ("restarts(cycle=100,mult=2,decay=0.5)", "700", [
        (0, 1.0), (50, 0.5), (100, 0.5), (200, 0.25), (300, 0.25), (500, 0.125), (700, 0.0)]),
    ("restarts(cycle=100),min=0.2", "300", [(0, 1.0), (50, 0.6), (100, 1.0), (250, 0.6), (300, 0.2)]),
    ("cyclic(from=0.1,up=10,down=10)", "100", [(0, 0.1), (5, 0.55), (10, 1.0), (15, 0.55), (20, 0.1), (25, 0.55)]),
    ("inverse-time(rate=1,every=10)", "100", [(0, 1.0), (10, 0.5), (30, 0.25), (90, 0.1)]),
    # HF cosine with num_cycles: 0.5 -> one half period; 1.0 -> back up to the peak at the end (after=continue).
    ("cosine(cycles=1),after=continue", "100", [(0, 1.0), (25, 0.5), (50, 0.0), (75, 0.5), (100, 1.0)]),
    ("cosine(exponent=2),min=0.1", "100", [(0, 1.0), (50, 0.1 + 0.9 * 0.25), (100, 0.1)]),
    # after=continue keeps evaluating the cosine (torch's CosineAnnealingLR rises again past T_max).
    ("cosine,after=continue", "100", [(100, 0.0), (150, 0.5), (200, 1.0)]),
    ("warmup=10,linear=90,after=periodic", "100", [(0, 0.0), (5, 0.5), (100, 0.0), (105, 0.5), (110, 1.0)]),
    # Warmup from a ratio of the peak (init), and a warmup that starts above zero and an absolute floor.
    ("warmup=10,linear,init=0.1", "110", [(0, 0.1), (5, 0.55), (10, 1.0), (60, 0.5), (110, 0.0)]),
    ("warmup=10(from=0.5),constant", "20", [(0, 0.5), (5, 0.75), (10, 1.0)]),
    # Shifted progress (torchtitan's (k+1)/W warmup).
    ("warmup=4(shift=1),constant", "10", [(0, 0.25), (1, 0.5), (3, 1.0), (4, 1.0)]),
    # REX (axolotl RexLR): z / (0.1 + 0.9 z), z = 1 - p: z = 0.5 -> 0.5 / 0.55 = 10/11, z = 0.1 -> 0.1 / 0.19 = 10/19.
    ("rex", "10", [(0, 1.0), (5, 10 / 11), (9, 10 / 19), (10, 0.0), (20, 0.0)]),
    ("warmup=10,rex,min=0.1", "20", [(0, 0.0), (10, 1.0), (15, 0.1 + 0.9 * 10 / 11), (19, 0.1 + 0.9 * 10 / 19),
                                     (20, 0.1)]),
    # Quadratic rise (axolotl lr_quadratic_warmup): (k / W) ** 2.
    ("warmup=10(shape=quadratic),constant", "20", [(0, 0.0), (1, 0.01), (5, 0.25), (9, 0.81), (10, 1.0), (19, 1.0)]),
    ("warmup=4,quadratic=10(from=0.1,to=0.5),constant", "20", [(4, 0.1), (9, 0.1 + 0.4 * 0.25), (14, 0.5)]),
]


@pytest.mark.parametrize("spec,steps,rows", TABLES, ids=[t[0] for t in TABLES])
def test_reference_table(spec, steps, rows):
    s = parse_spec(spec, steps=steps)
    ks = [k for k, _ in rows]
    want = [v for _, v in rows]
    vec = lr(s, ks)
    for k, w, got in zip(ks, want, vec):
        assert got == pytest.approx(w, rel=1e-12, abs=1e-15), f"{spec} at step {k}"
        assert lr_at(s, k) == pytest.approx(w, rel=1e-12, abs=1e-15), f"{spec} (scalar) at step {k}"


def test_torch_onecycle_trace():
    # torch OneCycleLR(max_lr=1, total_steps=10) as traced in the reference notes
    # (shared/reference/hf-torch-others.md §2.2): .04 .52 1 .9505 .8117 .6113 .3887 .1883 .0495 4e-6
    s = parse_spec("onecycle", steps="10")
    got = lr(s, range(10))
    want = [0.04, 0.52, 1.0, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 4e-6]
    assert got == pytest.approx(want, abs=6e-5)
    assert got[9] == pytest.approx(1 / 25 / 1e4, rel=1e-12)  # the floor: initial / final_div exactly


def test_absolute_levels_need_and_use_the_peak():
    s = parse_spec("warmup=2000,cosine,min_lr=3e-5", steps="100k", lr=3e-4)
    assert lr_at(s, 2000) == pytest.approx(3e-4, rel=1e-15)
    assert lr_at(s, 100000) == 3e-5
    assert lr_at(s, 51000) == pytest.approx((3e-4 + 3e-5) / 2, rel=1e-12)


def test_peak_scales_ratio_levels():
    s = parse_spec("warmup=2000,cosine,min=0.1", steps="100k", lr=3e-4)
    assert lr_at(s, 1000) == pytest.approx(1.5e-4, rel=1e-15)
    assert lr_at(s, 100000) == pytest.approx(3e-5, rel=1e-15)


def test_vector_and_scalar_paths_agree_bit_for_bit():
    specs = [t[0] for t in TABLES]
    rng = np.random.default_rng(7)
    for spec, steps, _ in TABLES:
        s = parse_spec(spec, steps=steps)
        total = float(s.total)
        ks = np.unique(rng.integers(0, int(total * 1.5) + 2, 400))
        vec = lr(s, ks)
        for k, v in zip(ks, vec):
            assert v == lr_at(s, int(k)), f"{spec} at {k}"
    assert specs


def test_huge_steps_are_exact():
    # 1e13 steps: positions stay exact integers in float64, no overflow or loss at the boundaries.
    s = parse_spec("warmup=1T,cosine,min=0.1", steps="10T")
    ks = np.array([0, 10**12 - 1, 10**12, 5.5 * 10**12, 10**13 - 1, 10**13])
    got = lr(s, ks)
    assert got[0] == 0.0
    assert got[1] == pytest.approx(1 - 1e-12, rel=1e-15)
    assert got[2] == 1.0
    assert got[3] == pytest.approx(0.55, rel=1e-12)
    assert got[5] == 0.1


def test_ten_million_steps_vectorised():
    s = parse_spec("warmup=2000,cosine,min=0.1", steps="10M")
    got = lr(s, np.arange(10_000_000))
    assert got.shape == (10_000_000,)
    assert got[0] == 0.0 and got[2000] == 1.0
    assert np.all(np.diff(got[2000:]) <= 0)  # monotone decay after warmup
    assert got[-1] == pytest.approx(0.1, rel=1e-9)


@pytest.mark.parametrize("kind", ["rex", "quadratic"])
def test_open_ended_span_shapes_need_a_span(kind):
    """rex and quadratic read tau / span: open-ended without a span they would run off (rex past 1 x the peak)."""
    from lrplan.errors import LrplanError

    with pytest.raises(LrplanError, match=f"an open-ended '{kind}' segment needs a span"):
        parse_spec(f"warmup=10,{kind}=open", steps="100")
    assert lr_at(parse_spec(f"warmup=10,{kind}=open(span=90)", steps="100"), 55) == pytest.approx(
        10 / 11 if kind == "rex" else 1.0, rel=1e-12)


SCALED = [  # Schedule.scale on every kind of LR curve the emitted Python has to follow
    ("warmup=100,cosine,min=0.1,total=5000,peak=3e-4,scale=[constant=1000,linear=50(from=0.001,to=1,shift=1),"
     "constant=3000,linear=10(to=0.2),constant]"),
    "linear=1000(from=1,to=0.1),after=periodic,total=5000,peak=1e-3,scale=[linear=300(from=0.5,to=1),constant]",
    "warmup=200,cosine=open(span=4000),min=0.0,total=5000,peak=1e-3,scale=[constant=2500,linear=2500(to=0.5)]",
    "warmup=10,exp(rate=0.5,every=700),gbs=16,total=5000,peak=1e-3,scale=[linear=10k(from=0.2,to=1)]",
    "warmup=100,cosine,total=5000,peak=1e-3,scale=[linear=100(from=0.1,to=1),constant=100,after=periodic]",
]


@pytest.mark.parametrize("spec", SCALED)
def test_scale_multiplies_in_every_evaluator(spec):
    """lr (vectorised, sorted and unsorted), lr_at and the stdlib code `--to torch` emits all multiply the LR curve
    by the scale curve at the same position (the scale keeps its own after-policy: a periodic LR does not fold it)."""
    from lrplan.convert import convert
    from lrplan.evaluate import curve_values
    from lrplan.frameworks.base import WriteOptions
    from lrplan.frameworks.pycode import closed_form_module, run

    s = parse_spec(spec)
    ks = np.arange(6000)
    got = lr(s, ks)
    unscaled = lr(s.with_(scale=None), ks)
    factor = curve_values(s.scale, 1.0, ks.astype(float), clamp=False)
    assert not np.allclose(factor, 1.0)
    np.testing.assert_array_equal(got, unscaled * factor)
    np.testing.assert_array_equal(lr(s, ks[::-1]), got[::-1])
    assert [lr_at(s, int(k)) for k in ks[::97]] == pytest.approx(got[::97], rel=1e-15, abs=0)
    lr_code = run("\n".join(closed_form_module(s)))
    assert [lr_code(int(k)) for k in ks] == pytest.approx(got, rel=1e-12, abs=1e-18)
    for target in ("torch", "optax", "json", "spec"):  # through the gate (optax: lrplan's numpy model of optax)
        convert(s, target, WriteOptions())
