"""The part of the jax/optax API that emitted optax code uses, in numpy: how the gate runs that code.

The gate (lrplan.convert) executes the exact text the optax writer emitted, with ``import jax``,
``import jax.numpy as jnp`` and ``import optax`` answered by this module, and evaluates the
``schedule`` it defines on every step at once. So an optax artefact is checked without jax installed.

Each schedule below follows optax 0.2.8 ``optax/schedules/_schedule.py`` and ``_join.py`` operation by
operation (the same clips, the same ``1 - count / N``, the same ``jnp.where`` joins); the test suite
runs emitted code under the real optax and under this model and compares both with the IR.
"""

from __future__ import annotations

import types

import numpy as np


def constant_schedule(value):
    return lambda count: value


def polynomial_schedule(init_value, end_value, power, transition_steps, transition_begin=0):
    if transition_steps <= 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)

    def schedule(count):
        count = np.clip(count - transition_begin, 0, transition_steps)
        frac = 1 - count / transition_steps
        return (init_value - end_value) * (frac**power) + end_value

    return schedule


def linear_schedule(init_value, end_value, transition_steps, transition_begin=0):
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def piecewise_constant_schedule(init_value, boundaries_and_scales=None):
    if boundaries_and_scales is not None and not all(s >= 0.0 for s in boundaries_and_scales.values()):
        raise ValueError("`piecewise_constant_schedule` expects non-negative scale factors")

    def schedule(count):
        v = init_value
        for threshold, scale in sorted((boundaries_and_scales or {}).items()):
            indicator = np.maximum(0.0, np.sign(threshold - count))
            v = v * indicator + (1 - indicator) * scale * v
        return v

    return schedule


def exponential_decay(init_value, transition_steps, decay_rate, transition_begin=0, staircase=False, end_value=None):
    if transition_steps <= 0 or decay_rate == 0:
        return lambda count: init_value
    transition_begin = max(transition_begin, 0)
    clip_fn = (np.maximum if decay_rate < 1.0 else np.minimum) if end_value is not None else None

    def schedule(count):
        decreased_count = count - transition_begin
        p = decreased_count / transition_steps
        if staircase:
            p = np.floor(p)
        with np.errstate(over="ignore"):
            decayed_value = np.where(decreased_count <= 0, init_value, init_value * np.power(decay_rate, p))
        if clip_fn is not None:
            decayed_value = clip_fn(decayed_value, end_value)
        return decayed_value

    return schedule


def cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0):
    if not decay_steps > 0:
        raise ValueError(f"The cosine_decay_schedule requires positive decay_steps, got {decay_steps=}.")
    decay_steps = float(decay_steps)

    def schedule(count):
        count = np.minimum(count, decay_steps)
        cosine_decay = 0.5 * (1 + np.cos(np.pi * count / decay_steps))
        decayed = (1 - alpha) * cosine_decay**exponent + alpha
        return init_value * decayed

    return schedule


def warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0):
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    schedules = [linear_schedule(init_value, peak_value, warmup_steps),
                 cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)]
    return join_schedules(schedules, [warmup_steps])


def join_schedules(schedules, boundaries):
    def schedule(step):
        output = schedules[0](step)
        for boundary, sched in zip(boundaries, schedules[1:]):
            output = np.where(step < boundary, output, sched(step - boundary))
        return output

    return schedule


OPTAX = types.SimpleNamespace(
    constant_schedule=constant_schedule, polynomial_schedule=polynomial_schedule, linear_schedule=linear_schedule,
    piecewise_constant_schedule=piecewise_constant_schedule, exponential_decay=exponential_decay,
    cosine_decay_schedule=cosine_decay_schedule, warmup_cosine_decay_schedule=warmup_cosine_decay_schedule,
    join_schedules=join_schedules)
JAX = types.SimpleNamespace(numpy=np, config=types.SimpleNamespace(update=lambda *args: None))
MODULES = {"jax": JAX, "jax.numpy": JAX, "optax": OPTAX}


class Schedule:
    """The emitted ``schedule(count)``, evaluated on an array of steps at once."""

    vectorised = True

    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, steps):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.asarray(self.fn(np.asarray(steps, dtype=np.float64)), dtype=float)


def run(text: str) -> Schedule:
    """Execute emitted optax code (``import math`` / jax / optax only) and return its ``schedule``."""
    import builtins
    import math

    def importer(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "math":
            return math
        if name in MODULES:
            return MODULES[name]
        raise ImportError(f"emitted optax code imports {name!r}, which the gate does not provide")

    namespace = {"__name__": "lrplan_emitted", "__builtins__": dict(vars(builtins), __import__=importer)}
    exec(compile(text, "<emitted by lrplan>", "exec"), namespace)  # our own generated text, data via repr
    return Schedule(namespace["schedule"])
