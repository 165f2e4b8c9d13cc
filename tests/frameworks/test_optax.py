"""optax writer: emitted code is executed, and its schedule drives a real optax optimizer for 12k updates.

The LR each update uses is read back from the update itself: with ``optax.sgd(schedule)`` and a
gradient of 1, update k moves the parameter by ``-schedule(count_k)``, so the optimizer's own count
convention is what is checked (jax float64 enabled, as the emitted code does).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan.errors import InexpressibleError
from lrplan.evaluate import lr
from lrplan.spec import parse_spec
from test_torch import CASES, N, PEAK, emit

BUILTIN = {"warmup_cosine_min", "warmup_cosine_zero", "linear_poly", "exp_staircase", "exp_smooth_open",
           "multistep", "multiplier_only", "absolute_floor"}


def optax_lrs(text: str, steps: int) -> np.ndarray:
    jax = require("jax")
    optax = require("optax")
    ns: dict = {}
    exec(compile(text, "<emitted>", "exec"), ns)
    assert jax.config.jax_enable_x64
    jnp = jax.numpy
    tx = optax.sgd(learning_rate=ns["schedule"])
    params = jnp.zeros((), dtype=jnp.float64)
    grad = jnp.ones((), dtype=jnp.float64)

    def one_update(state, _):
        updates, state = tx.update(grad, state, params)
        return state, -updates  # sgd: update = -lr * grad

    _, used = jax.lax.scan(one_update, tx.init(params), None, length=steps)
    return np.asarray(used, dtype=float)


@pytest.mark.parametrize("name", sorted(CASES))
def test_optax_matches_lrplan_every_update(name):
    case = CASES[name]
    text = emit("optax", case)
    assert ("_optax_schedule = optax." in text) == (name in BUILTIN), "built-in vs closed-form choice changed"
    ours = lr(case, np.arange(N))
    assert_lr_close(optax_lrs(text, N), ours, what=name)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_function_variant_also_exact(name):
    case = CASES[name]
    assert_lr_close(optax_lrs(emit("optax", case, variant="function"), N), lr(case, np.arange(N)), what=name)


def test_int32_count_is_passed_as_float64():
    # optax's own count is int32; jax computes int32 / int in float32, so the emitted code casts it.
    jax = require("jax")
    ns: dict = {}
    exec(compile(emit("optax", CASES["absolute_floor"]), "<emitted>", "exec"), ns)
    count = jax.numpy.asarray(0, dtype=jax.numpy.int32)
    assert float(ns["schedule"](count)) == pytest.approx(1e-6, rel=1e-12, abs=0)
    assert float(ns["_optax_schedule"](count)) != pytest.approx(1e-6, rel=1e-9, abs=0)  # float32 rounding


def test_warmup_cosine_uses_optax_convention():
    text = emit("optax", CASES["warmup_cosine_min"])
    # optax's decay_steps is the whole schedule, warmup included: 10k, not 8k.
    assert "warmup_cosine_decay_schedule(" in text and "decay_steps=10000" in text and "warmup_steps=2000" in text


def test_long_ramp_to_zero_goes_to_closed_form():
    case = parse_spec("linear", steps="100k", lr=PEAK)  # 1 - count/N would lose 1e-11 near the end
    text = emit("optax", case)
    assert "optax.linear_schedule" not in text
    k = np.arange(100_000)
    assert_lr_close(optax_lrs(text, 100_000), lr(case, k))


def test_builtin_variant_refuses():
    with pytest.raises(InexpressibleError, match="no exact built-in"):
        emit("optax", CASES["restarts"], variant="builtin")


@pytest.mark.parametrize("name", ["warmup_cosine_min", "multistep", "wsd_1sqrt", "tokens_stepbatch"])
def test_golden(name, golden):
    golden(f"optax/{name}.py", emit("optax", CASES[name]))


def test_cli_convert_to_optax(tmp_path):
    out = tmp_path / "sched.py"
    r = run_cli("convert", "warmup=1000,constant=7000,1-sqrt,min=0.01", "--steps", "10k", "--lr", "3e-4",
                "--to", "optax", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert_lr_close(optax_lrs(out.read_text(), N), lr(CASES["wsd_1sqrt"], np.arange(N)))


from hypothesis import given, settings  # noqa: E402

from test_torch import schedules  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(case=schedules())
def test_any_schedule_through_emitted_optax(case):
    jax = require("jax")
    ns: dict = {}
    exec(compile(emit("optax", case), "<emitted>", "exec"), ns)
    k = np.unique(np.linspace(0, case.total * 1.5, 500).astype(int))
    got = np.asarray(ns["schedule"](jax.numpy.asarray(k, dtype=jax.numpy.int32)), dtype=float)
    assert_lr_close(got, lr(case, k), steps=k)
