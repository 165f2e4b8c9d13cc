"""optax writer: Python code that defines ``schedule``, an optax schedule (a function of ``count``).

optax evaluates ``schedule(state.count)`` before incrementing the count (optax 0.2.8
``optax/_src/transform.py`` ``scale_by_schedule``/``scale_by_learning_rate``), so update ``k`` uses
``schedule(k)``: lrplan's step ``k`` with no shift. Under ``optax.MultiSteps`` the inner count only
advances on real updates, which is what the IR counts too.

Built-in optax schedules are emitted where optax has the form and its arithmetic stays within the
1e-12 contract (``optax/schedules/_schedule.py``, ``_join.py``, 0.2.8):

| IR segment (plain, steps axis)    | optax                                                   |
|-----------------------------------|---------------------------------------------------------|
| constant a                        | ``constant_schedule(a)``                                |
| linear a -> b                     | ``linear_schedule(a, b, span)``                         |
| poly(power) a -> b                | ``polynomial_schedule(a, b, power, span)``              |
| cosine(exponent) a -> b, a > b    | ``cosine_decay_schedule(a, span, alpha=b/a, exponent)`` |
| exp(rate, every, staircase, bounded) | ``exponential_decay(a, every, rate, staircase, end_value=b if bounded)`` |
| multistep                         | ``piecewise_constant_schedule(a, {milestone: gamma})``  |
| linear a -> peak, cosine peak -> b | ``warmup_cosine_decay_schedule`` (its ``decay_steps`` *includes* the warmup) |

pieces joined with ``join_schedules`` (each child sees the count since its own boundary). optax's
polynomial computes ``1 - count / N``, which loses ``N * eps`` relative accuracy where a ramp meets
zero; such ramps (longer than 4096 steps and reaching below 1e-3 of their other end) go to the
closed form instead. Everything else -- log, 1-sqrt, exp-anneal, invsqrt, restarts, cyclic,
inverse-time, rising cosines, shifted origins, periodic or continuing curves, samples/tokens axes --
is a pure ``jax.numpy`` function of ``count`` (jit-safe), written in :mod:`lrplan.shapes`' operation
order. Both forms need float64 (``jax_enable_x64``) to be exact; the emitted code turns it on.
"""

from __future__ import annotations

from ...errors import InexpressibleError, LrplanError
from ...ir import Schedule, Segment
from ..base import Candidate
from ..pycode import check_companions, code_kind, comment, data_lines, header, hold_value, shape_function_name

# jax.numpy versions of the shape formulas (numpy back end of lrplan/ops.py, same operation order).
JNP_SHAPES: dict[str, str] = {
    "constant": "def _constant(a, b, tau, span):\n    return jnp.full_like(tau, a)\n",
    "linear-torch": '''def _linear_torch(a, b, tau, span):
    return (b - a) * (tau / span) + a
''',
    "linear": '''def _linear(a, b, tau, span):
    if a > b:
        return b + (a - b) * ((span - tau) / span)
    return a + (b - a) * (tau / span)
''',
    "cosine": '''def _cosine(a, b, tau, span, cycles, exponent):
    p = tau / span
    if a >= b or cycles != 0.5:
        c = 0.5 * (1.0 + jnp.cos(math.pi * cycles * 2.0 * p))
        if exponent != 1.0:
            c = jnp.power(c, exponent)
        return b + (a - b) * c
    g = 0.5 * (jnp.cos(math.pi * (1.0 - p)) + 1.0)
    if exponent != 1.0:
        g = 1.0 - jnp.power(1.0 - g, exponent)
    return a + (b - a) * g
''',
    "poly": '''def _poly(a, b, tau, span, power):
    return b + (a - b) * jnp.power(jnp.maximum(span - tau, 0.0) / span, power)
''',
    "1-sqrt": '''def _one_minus_sqrt(a, b, tau, span):
    p = tau / span
    if a >= b:
        return b + (a - b) * (1.0 - jnp.sqrt(p))
    return a + (b - a) * (1.0 - jnp.sqrt(1.0 - p))
''',
    "exp-anneal": '''def _exp_anneal(a, b, tau, span):
    return b + (a - b) * (2.0 * jnp.power(0.5, tau / span) - 1.0)
''',
    "log": '''def _log(a, b, tau, span):
    return a + (b - a) * (jnp.log(tau + 1.0) * (1.0 / math.log(span)))
''',
    "exp": '''def _exp(a, b, tau, span, rate, every, staircase, bounded):
    e = tau / every
    if staircase:
        e = jnp.floor(e)
    v = a * jnp.power(rate, e)
    if bounded:
        v = jnp.maximum(v, b) if rate < 1 else jnp.minimum(v, b)
    return v
''',
    "invsqrt": '''def _invsqrt(a, b, tau, span, timescale):
    return jnp.maximum(a * (1.0 / jnp.sqrt((tau + timescale) / timescale)), b)
''',
    "multistep": '''def _multistep(a, b, tau, span, milestones, gammas):
    levels = [a]
    for g in gammas:
        levels.append(levels[-1] * g)
    i = jnp.searchsorted(jnp.asarray(milestones, dtype=jnp.float64), tau, side="right")
    return jnp.asarray(levels, dtype=jnp.float64)[i]
''',
    "restarts": '''def _restarts(a, b, tau, span, cycle, mult, decay):
    if mult == 1.0:
        i = jnp.floor(tau / cycle)
        t_cur, t_i = tau - i * cycle, cycle
    else:
        bounds, length, total = [0.0], cycle, 0.0
        while len(bounds) < 4096 and total < 1e16:
            total += length
            bounds.append(total)
            length *= mult
        lengths = [hi - lo for lo, hi in zip(bounds, bounds[1:])] + [math.inf]
        j = jnp.searchsorted(jnp.asarray(bounds), tau, side="right") - 1
        i, t_cur, t_i = j + 0.0, tau - jnp.asarray(bounds)[j], jnp.asarray(lengths)[j]
    peak = a * jnp.power(decay, i) if decay != 1.0 else a
    return b + 0.5 * (peak - b) * (1.0 + jnp.cos(math.pi * t_cur / t_i))
''',
    "cyclic": '''def _cyclic(a, b, tau, span, up, down, mode, gamma):
    total = up + down
    ratio = up / total
    cycle = jnp.floor(1.0 + tau / total)
    x = 1.0 + tau / total - cycle
    scale = jnp.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
    if mode == "triangular2":
        height = (b - a) * (1.0 / jnp.power(2.0, cycle - 1.0))
    elif mode == "exp_range":
        height = (b - a) * jnp.power(gamma, tau)
    else:
        height = b - a
    return a + height * scale
''',
    "inverse-time": '''def _inverse_time(a, b, tau, span, rate, every):
    return a / (1.0 + rate * (tau / every))
''',
    "swa": '''def _swa(a, b, tau, span, anneal, every, strategy):
    if anneal == 0:
        return jnp.full_like(tau, b)
    t = jnp.maximum(jnp.minimum(jnp.floor(tau / every) / anneal, 1.0), 0.0)
    f = (1.0 - jnp.cos(math.pi * t)) / 2.0 if strategy == "cos" else t
    return a * (1.0 - f) + b * f
''',
    "schedulefree": '''def _schedulefree(a, b, tau, span, warmup, variant, beta2, r, power, silent):
    step = tau + 1.0
    if variant == "radam":
        b2t = jnp.power(beta2, step)
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * b2t / (1.0 - b2t)
        q = (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        return a * jnp.where(rho_t > 4.0, jnp.power(jnp.maximum(q, 0.0), 0.5), 0.0 if silent else 1.0)
    v = a * jnp.where(tau < warmup, step / max(warmup, 1.0), 1.0)
    if variant == "paper":
        v = v * jnp.sqrt(1.0 - jnp.power(beta2, step))
    return v
''',
    "rex": '''def _rex(a, b, tau, span):
    z = (span - tau) / span
    g = z / (0.1 + 0.9 * z)
    return a * g + b * (1.0 - g)
''',
    "quadratic": '''def _quadratic(a, b, tau, span):
    g = jnp.power(tau / span, 2.0)
    return a * (1.0 - g) + b * g
''',
}


# jax_enable_x64 is process-wide: said in the code and in a note, so nobody's model silently turns 64-bit.
X64_LINES = [comment("float64 counts and values: needed for the schedule to match lrplan exactly. Note that"),
             comment("jax_enable_x64 is global: every jax array in this program becomes 64-bit by default."),
             comment("Without it the schedule is computed in float32 (about 1e-7 relative)."),
             'jax.config.update("jax_enable_x64", True)']
X64_NOTE = ("the emitted optax code turns on jax_enable_x64 for the whole program (64-bit arrays by default "
            "everywhere); without that line the schedule rounds to float32, about 1e-7 relative")


def _schedule_fn(schedule: Schedule) -> list[str]:
    curve, unit = schedule.lr, schedule.axis.unit
    body = ["def schedule(count):",
            '    """LR for the update that has `count` updates before it (optax passes state.count)."""',
            "    step = jnp.asarray(count, dtype=jnp.float64)"]
    if unit != "steps":
        body += ["    i = jnp.searchsorted(jnp.asarray(RUN_STEPS, dtype=jnp.float64), step, side=\"right\") - 1",
                 "    x = jnp.asarray(RUN_SAMPLES, dtype=jnp.float64)[i] + (step - jnp.asarray(RUN_STEPS, dtype="
                 "jnp.float64)[i]) * jnp.asarray(RUN_SIZES, dtype=jnp.float64)[i]"]
        if unit == "tokens":
            body.append("    x = x * SEQ_LEN")
    else:
        body.append("    x = step")
    if schedule.scale is None:
        return body + _curve_lines(curve, "", "HOLD_LR", "x", "value") + ["    return jnp.maximum(value, 0.0)"]
    return body + ["    position = x"] + _curve_lines(curve, "", "HOLD_LR", "x", "value") + [
        "    x = position  # the scale curve, at the same position (its own after-policy)"] + _curve_lines(
        schedule.scale, "SCALE_", "SCALE_HOLD", "x", "scale") + ["    return jnp.maximum(value, 0.0) * scale"]


def _curve_lines(curve, prefix: str, hold: str, x: str, out: str) -> list[str]:
    """jnp lines setting ``out`` to ``curve`` at ``x`` from the constants ``{prefix}SEGMENTS`` ..."""
    body = []
    if curve.end is not None and curve.after == "periodic":
        body.append(f"    {x} = jnp.where({x} >= {prefix}END, jnp.mod({x}, {prefix}END), {x})"
                    "  # the whole curve repeats")
    body += [f"    idx = jnp.maximum(jnp.searchsorted(jnp.asarray({prefix}STARTS), {x}, side=\"right\") - 1, 0)",
             f"    {out} = jnp.zeros_like({x})",
             f"    for i, seg in enumerate({prefix}SEGMENTS):",
             f'        piece = _SHAPES[seg["shape"]](seg["a"], seg["b"], {x} - seg["origin"], seg["span"], '
             '**seg["params"])',
             f"        {out} = jnp.where(idx == i, piece, {out})"]
    if curve.end is not None and curve.after == "hold":
        body.append(f"    {out} = jnp.where({x} >= {prefix}END, {hold}, {out})  # the curve holds its end value")
    return body


def function_code(schedule: Schedule) -> list[str]:
    kinds = sorted({code_kind(s) for s in (*schedule.lr.segments, *(schedule.scale.segments if schedule.scale
                                                                      else ()))})
    lines = ["import math", "", "import jax", "import jax.numpy as jnp", "",
             *X64_LINES, "", *data_lines(schedule), ""]
    for k in kinds:
        lines += ["", JNP_SHAPES[k]]
    lines += ["_SHAPES = {" + ", ".join(repr(k) + ": " + shape_function_name(k) for k in kinds) + "}", "", "",
              *_schedule_fn(schedule)]
    return lines


# ---- built-in optax schedules ----------------------------------------------------------------------


def call(fn: str, **kwargs) -> str:
    return "optax." + fn + "(" + ", ".join(k + "=" + repr(v) for k, v in kwargs.items()) + ")"


def _ramp_ok(a: float, b: float, span: float) -> bool:
    """optax's 1 - count / N keeps 1e-12 where the ramp stays away from 0 or is short."""
    lo, hi = min(a, b), max(a, b)
    return span <= 4096 or lo >= 1e-3 * hi


def _builtin_piece(seg: Segment, peak: float) -> str | None:
    a, b, span = seg.a.resolve(peak), seg.b.resolve(peak), seg.span_value
    P = dict(seg.params)
    whole = float(span).is_integer()
    if seg.kind == "constant":
        return call("constant_schedule", value=a)
    if seg.kind in ("linear", "poly") and whole and _ramp_ok(a, b, span):
        if seg.kind == "linear":
            return call("linear_schedule", init_value=a, end_value=b, transition_steps=int(span))
        return call("polynomial_schedule", init_value=a, end_value=b, power=P["power"], transition_steps=int(span))
    if seg.kind == "cosine" and a > b and P["cycles"] == 0.5 and whole:
        return call("cosine_decay_schedule", init_value=a, decay_steps=int(span), alpha=b / a,
                    exponent=P["exponent"])
    if seg.kind == "exp":
        return call("exponential_decay", init_value=a, transition_steps=P["every"], decay_rate=P["rate"],
                    staircase=P["staircase"], end_value=b if P["bounded"] else None)
    ms = P.get("milestones", ())
    if seg.kind == "multistep" and len(set(ms)) == len(ms) and all(float(m).is_integer() for m in ms):
        return call("piecewise_constant_schedule", init_value=a,
                    boundaries_and_scales={int(m): g for m, g in zip(ms, P["gammas"])})
    return None


# Kinds whose optax schedule itself holds the IR's end value after the segment.
SELF_HOLDING = {"constant", "linear", "poly", "cosine"}


def builtin_pieces(schedule: Schedule) -> tuple[list[str], list[int]] | None:
    """optax calls and join boundaries for the whole curve, or None where it has no exact form."""
    curve, peak = schedule.lr, schedule.peak
    if schedule.axis.unit != "steps" or curve.after == "periodic" or schedule.scale is not None:
        return None
    if curve.after == "continue" and curve.end is not None and curve.segments[-1].kind not in ("exp", "constant"):
        return None
    pieces, bounds = [], []
    for seg in curve.segments:
        plain = seg.origin in (None, seg.start) and seg.span in (None, seg.length())
        if not plain or not float(seg.start).is_integer():
            return None
        piece = _builtin_piece(seg, peak)
        if piece is None:
            return None
        if seg.start > 0:
            bounds.append(int(seg.start))
        pieces.append(piece)
    last = curve.segments[-1]
    if curve.end is not None and curve.after == "hold" and last.kind not in SELF_HOLDING:
        if not float(curve.end).is_integer():
            return None
        pieces.append(call("constant_schedule", value=hold_value(schedule)))
        bounds.append(int(curve.end))
    return _warmup_cosine(schedule, pieces, bounds) or (pieces, bounds)


def _warmup_cosine(schedule: Schedule, pieces, bounds):
    """Linear warmup + cosine decay as optax's own warmup_cosine_decay_schedule."""
    segs, peak = schedule.lr.segments, schedule.peak
    if len(pieces) != 2 or not (pieces[0].startswith("optax.linear_schedule")
                                and pieces[1].startswith("optax.cosine_decay")):
        return None
    w, c = segs
    if w.b.resolve(peak) != peak or c.a.resolve(peak) != peak:
        return None
    return [call("warmup_cosine_decay_schedule", init_value=w.a.resolve(peak), peak_value=peak,
                 warmup_steps=int(w.end), decay_steps=int(c.end), end_value=c.b.resolve(peak),
                 exponent=c.param("exponent"))], []


CAST = [
    "", "",
    "def schedule(count):",
    comment("optax keeps its count as int32, and jax divides int32 by int in float32 (even with x64):"),
    comment("hand the optax schedules a float64 count so that they compute in float64."),
    "    count = jnp.asarray(count, dtype=jnp.float64)",
    "    return _optax_schedule(count) + jnp.zeros_like(count)  # + 0: array-shaped even where constant",
]


def builtin_code(pieces: list[str], bounds: list[int]) -> list[str]:
    lines = ["import jax", "import jax.numpy as jnp", "import optax", "", *X64_LINES, ""]
    if not bounds:
        return lines + ["_optax_schedule = " + pieces[0], *CAST]
    if pieces[0].startswith("optax.warmup_cosine"):
        lines.append(comment("decay_steps counts the whole schedule, warmup included (optax's convention)."))
    return lines + ["_optax_schedule = optax.join_schedules(", "    schedules=[",
                    *("        " + p + "," for p in pieces), "    ],",
                    "    boundaries=" + repr(bounds) + ",", ")", *CAST]


USAGE = [comment("optimizer = optax.adamw(learning_rate=schedule)  # update k uses schedule(k): optax reads"),
         comment("the count before incrementing it; wrap in optax.MultiSteps for gradient accumulation.")]


def write(schedule: Schedule, opts):
    from .model import run

    if opts.variant not in (None, "builtin", "function"):
        raise LrplanError(f"unknown optax variant {opts.variant!r}",
                          hint="variants: default (built-ins where exact), builtin, function")
    notes = check_companions(schedule, "optax", opts.approx) + [X64_NOTE]
    if schedule.peak_lr is None:
        notes.append("no peak LR: schedule(count) is a multiplier; multiply it by your learning rate")
    found = builtin_pieces(schedule) if opts.variant != "function" else None
    if found is None and opts.variant == "builtin":
        raise InexpressibleError("optax has no exact built-in schedule for this curve",
                                 hint="drop --variant builtin: the default falls back to an exact jax.numpy function")
    bodies = []
    if found is not None:
        bodies.append(("builtin", builtin_code(*found)))
    if opts.variant != "builtin":
        bodies.append(("function", function_code(schedule)))
    for variant, body in bodies:
        text = "\n".join([*header(opts, "optax"), *body, "", "", *USAGE]) + "\n"
        yield Candidate(text, variant, tuple(notes), readback=lambda text=text: run(text),
                        name="optax built-in schedules" if variant == "builtin" else "a jax.numpy function",
                        fallback=variant == "function" and found is not None)
