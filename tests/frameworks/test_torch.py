"""torch writer: emitted code is executed against a real torch optimizer and stepped >= 10k updates.

``CASES`` (every shape kind, every ``after`` policy, shifted origins, samples/tokens axes under a
batch ramp) is shared with the Lightning and optax tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli, stepped_lrs
from lrplan.convert import convert
from lrplan.errors import InexpressibleError
from lrplan.evaluate import lr
from lrplan.frameworks.base import WriteOptions
from lrplan.ir import ONE, ZERO, Axis, Curve, Level, RampupBatch, Schedule, Segment, StepBatch
from lrplan.spec import parse_spec

N = 12_000  # steps compared per case (>= 10k, past the end of most curves)
PEAK = 3e-4


def _s(*segs, after="hold", peak=PEAK, total=10_000.0, axis=None):
    return Schedule(Curve(tuple(segs), after), peak_lr=peak, total=total, axis=axis or Axis())


def L(v, absolute=False):
    return Level(v, absolute)


RAMP = Axis("samples", RampupBatch(32, 32, 300_000, 256))
TOKENS = Axis("tokens", StepBatch(((0, 64), (200_000, 128), (600_000, 256))), seq_len=2048)

CASES = {
    "warmup_cosine_min": parse_spec("warmup=2000,cosine,min=0.1", steps="10k", lr=PEAK),
    "warmup_cosine_zero": parse_spec("warmup=2000,cosine", steps="10k", lr=PEAK),
    "wsd_1sqrt": parse_spec("warmup=1000,constant=7000,1-sqrt,min=0.01", steps="10k", lr=PEAK),
    "linear_poly": _s(Segment("linear", 0, 500, ZERO, ONE), Segment("poly", 500, 10_000, ONE, L(1e-5, True),
                                                                   (("power", 2.0),))),
    "exp_anneal_log": _s(Segment("log", 0, 800, L(0.01), ONE), Segment("exp-anneal", 800, 10_000, ONE, L(0.05))),
    "cosine_shapes": _s(Segment("cosine", 0, 3000, L(0.1), ONE, (("exponent", 2.0),)),
                        Segment("cosine", 3000, 10_000, ONE, L(0.2), (("cycles", 1.5),))),
    "rising_1sqrt_continue": _s(Segment("1-sqrt", 0, 1000, ZERO, ONE),
                                Segment("invsqrt", 1000, 4000, ONE, L(0.1), (("timescale", 1000.0),)),
                                after="continue"),
    "exp_staircase": _s(Segment("exp", 0, 10_000, ONE, L(0.02), (("rate", 0.5), ("every", 1500.0),
                                                                   ("staircase", True), ("bounded", True)))),
    "exp_smooth_open": _s(Segment("constant", 0, 100, ONE),
                          Segment("exp", 100, None, ONE, ZERO, (("rate", 0.9996),))),
    "multistep": _s(Segment("linear", 0, 100, ZERO, ONE),
                    Segment("multistep", 100, 10_000, ONE, ZERO, (("milestones", (5000.0, 8000.0)),
                                                                  ("gammas", (0.316, 0.316))))),
    "restarts": _s(Segment("restarts", 0, 10_000, ONE, L(0.05), (("cycle", 700.0), ("mult", 2.0),
                                                                   ("decay", 0.8)))),
    "restarts_flat": _s(Segment("restarts", 0, 10_000, ONE, ZERO, (("cycle", 1250.0),))),
    "cyclic_tri2": _s(Segment("cyclic", 0, 10_000, L(0.1), ONE, (("up", 800.0), ("down", 1200.0),
                                                                   ("mode", "triangular2")))),
    "cyclic_exp_range": _s(Segment("cyclic", 0, 10_000, L(0.1), ONE, (("up", 500.0), ("down", 500.0),
                                                                       ("mode", "exp_range"), ("gamma", 0.9999)))),
    "inverse_time": _s(Segment("inverse-time", 0, None, ONE, ZERO, (("rate", 0.5), ("every", 1000.0)))),
    "periodic": _s(Segment("linear", 0, 300, L(0.2), ONE), Segment("cosine", 300, 2500, ONE, L(0.2)),
                   after="periodic"),
    "titan_origin": _s(Segment("linear", 0, 200, ZERO, ONE, origin=-1.0), Segment("constant", 200, 9001, ONE),
                       Segment("linear", 9001, 10_001, ONE, ZERO, origin=9000.0)),
    "multiplier_only": _s(Segment("linear", 0, 1000, ZERO, ONE), Segment("cosine", 1000, 10_000, ONE, L(0.1)),
                          peak=None),
    "absolute_floor": _s(Segment("linear", 0, 1000, L(1e-6, True), ONE),
                         Segment("cosine", 1000, 10_000, ONE, L(3e-5, True))),
    "samples_rampup": _s(Segment("linear", 0, 100_000, ZERO, ONE),
                         Segment("cosine", 100_000, 2_500_000, ONE, L(0.1)), total=2_500_000.0, axis=RAMP),
    "tokens_stepbatch": _s(Segment("linear", 0, 2e8, ZERO, ONE), Segment("1-sqrt", 2e8, 5e9, ONE, L(0.1)),
                           total=5e9, axis=TOKENS),
}


def emit(name: str, case: Schedule, **kw) -> str:
    return convert(case, name, WriteOptions(source_label="test case", version="0.0-test", **kw)).text


def run_torch_code(text: str, steps: int, base_lr: float = 1.0) -> np.ndarray:
    """Execute the emitted code for a real SGD optimizer and read the LR each update uses."""
    torch = require("torch")
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=base_lr)
    ns = {"optimizer": opt}
    exec(compile(text, "<emitted>", "exec"), ns)
    sched = ns["scheduler"]
    return stepped_lrs(opt, sched, steps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_lambda_matches_lrplan_every_step(name):
    case = CASES[name]
    got = run_torch_code(emit("torch", case), N)
    assert_lr_close(got, lr(case, np.arange(N)), what=name)


def test_multiplier_only_scales_the_optimizers_own_lr():
    case = CASES["multiplier_only"]
    got = run_torch_code(emit("torch", case), N, base_lr=0.02)
    assert_lr_close(got, 0.02 * lr(case, np.arange(N)))


@pytest.mark.parametrize("spec", ["warmup=2000,cosine,min=0.1", "cosine,min=0.05", "warmup=500,cosine,min=0.01"])
def test_builtin_cosine_recipe(spec):
    case = parse_spec(spec, steps="10k", lr=PEAK)
    with pytest.raises(InexpressibleError, match="recursively"):  # exact only with the closed form
        emit("torch", case, variant="builtin")
    text = emit("torch", case, variant="builtin", approx=True)
    assert "CosineAnnealingLR" in text and "def " not in text
    # Checked up to the planned end of a 10k run, where the recursive drift is still < 1e-12
    # (it reaches ~1.8e-12 by 1e5 steps, hence --approx); CosineAnnealingLR rises again after it.
    assert_lr_close(run_torch_code(text, 10_000), lr(case, np.arange(10_000)))


def test_builtin_multistep():
    case = _s(Segment("multistep", 0, 10_000, ONE, ZERO, (("milestones", (3000.0, 7000.0)), ("gammas", (0.1, 0.1)))))
    text = emit("torch", case, variant="builtin")
    assert "MultiStepLR" in text
    assert_lr_close(run_torch_code(text, N), lr(case, np.arange(N)))


@pytest.mark.parametrize("name", ["warmup_cosine_zero", "restarts", "samples_rampup"])
def test_builtin_refuses_what_it_cannot_do_exactly(name):
    with pytest.raises(InexpressibleError, match="built-in"):
        emit("torch", CASES[name], variant="builtin")


def test_companion_curves_are_refused_without_approx():
    case = CASES["warmup_cosine_min"]
    case = case.with_(weight_decay=Curve((Segment("constant", 0, None, Level(0.1, True)),)))
    with pytest.raises(InexpressibleError, match="weight-decay"):
        emit("torch", case)
    written = convert(case, "torch", WriteOptions(approx=True))
    # the LR is exact; the weight-decay curve is what the emitted code lacks (named, not a fake zero deviation)
    assert written.deviation.lr.exact and written.deviation.worst.curve == "weight_decay"
    assert written.deviation.worst.missing == "B" and any("weight-decay" in n for n in written.notes)


@pytest.mark.parametrize("name", ["warmup_cosine_min", "samples_rampup", "periodic"])
def test_golden(name, golden):
    golden(f"torch/{name}.py", emit("torch", CASES[name]))


def test_golden_builtin(golden):
    golden("torch/builtin_cosine.py", emit("torch", CASES["warmup_cosine_min"], variant="builtin", approx=True))


@pytest.mark.parametrize("spec", ["multistep=2000(at=1000|1500),after=periodic",
                                  "multistep=2000(at=1000|2500)"])
def test_builtin_multistep_refuses_what_multisteplr_does_not_do(spec):
    # torch's MultiStepLR never repeats and never stops applying milestones.
    with pytest.raises(InexpressibleError, match="built-in"):
        emit("torch", parse_spec(spec, steps="5000", lr=PEAK), variant="builtin")


def test_cli_convert_spec_to_torch(tmp_path):
    out = tmp_path / "sched.py"
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "10k", "--lr", "3e-4", "--to", "torch",
                "-o", str(out))
    assert r.returncode == 0, r.stderr
    got = run_torch_code(out.read_text(), N)
    assert_lr_close(got, lr(CASES["warmup_cosine_min"], np.arange(N)))


def test_cli_builtin_refusal_exit_code():
    r = run_cli("convert", "warmup=2000,cosine", "--steps", "10k", "--lr", "3e-4", "--to", "torch",
                "--variant", "builtin")
    assert r.returncode == 3
    assert "built-in" in r.stderr and "Traceback" not in r.stderr


# ---- property: any IR the strategy builds runs exactly through the emitted code ----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PARAMS = {
    "cosine": st.fixed_dictionaries({"cycles": st.sampled_from([0.5, 1.0, 2.5]), "exponent": st.floats(0.5, 3)}),
    "poly": st.fixed_dictionaries({"power": st.floats(0.3, 4)}),
    "exp": st.fixed_dictionaries({"rate": st.floats(0.1, 0.99), "every": st.floats(10, 3000),
                                  "staircase": st.booleans(), "bounded": st.booleans()}),
    "invsqrt": st.fixed_dictionaries({"timescale": st.floats(10, 5000)}),
    "restarts": st.fixed_dictionaries({"cycle": st.floats(50, 3000), "mult": st.sampled_from([1.0, 1.5, 2.0]),
                                       "decay": st.floats(0.5, 1)}),
    "cyclic": st.fixed_dictionaries({"up": st.floats(10, 1000), "down": st.floats(10, 1000),
                                     "mode": st.sampled_from(["triangular", "triangular2", "exp_range"]),
                                     "gamma": st.floats(0.999, 1)}),
    "inverse-time": st.fixed_dictionaries({"rate": st.floats(0, 2), "every": st.floats(10, 1000)}),
}
KINDS = ["constant", "linear", "1-sqrt", "exp-anneal", "log", *PARAMS]


@st.composite
def schedules(draw):
    n = draw(st.integers(1, 4))
    start, segs = 0.0, []
    for _ in range(n):
        kind = draw(st.sampled_from(KINDS))
        length = float(draw(st.integers(2, 4000)))
        params = tuple(draw(PARAMS[kind]).items()) if kind in PARAMS else ()
        a, b = (Level(draw(st.floats(0, 1))) for _ in range(2))
        origin = start - draw(st.sampled_from([0.0, 0.0, 1.0]))
        segs.append(Segment(kind, start, start + length, a, b, params, origin=origin))
        start += length
    after = draw(st.sampled_from(["hold", "continue", "periodic"]))
    return _s(*segs, after=after, peak=draw(st.floats(1e-6, 1e-2)), total=start)


@settings(max_examples=40, deadline=None)
@given(case=schedules())
def test_any_schedule_through_emitted_lambda(case):
    ns = {"optimizer": None}
    text = emit("torch", case).replace("from torch.optim.lr_scheduler import LambdaLR", "")
    text = text.split("for group in optimizer.param_groups:")[0]  # the closed form alone, no optimizer
    exec(compile(text, "<emitted>", "exec"), ns)
    k = np.unique(np.linspace(0, case.total * 1.5, 500).astype(int))
    got = np.array([ns["lr_lambda"](int(i)) * ns["PEAK_LR"] for i in k])
    assert_lr_close(got, lr(case, k), rel=2e-15 * 8, steps=k)
