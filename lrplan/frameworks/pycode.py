"""The shared Python-code emitter: a schedule as self-contained, stdlib-only code defining ``lr_at(step)``.

The torch, Lightning, HF Python and DeepSpeed client-scheduler writers emit the same closed form: the
schedule as data (``SEGMENTS``, written with ``repr``) plus one small pure function per shape, written
with ``math`` in the same operation order as :mod:`lrplan.shapes`, so the LR the emitted code gives
equals ``lrplan.evaluate.lr`` to the last bit or two for every IR (every shape, any axis: samples/tokens
axes under a batch ramp become a table of batch-size runs that maps the update index to its position).

The gate (:mod:`lrplan.convert`) checks every emitted module by running it: :func:`run` executes the
exact text a writer emitted in a fresh namespace (it imports only ``bisect`` and ``math``) and returns
its ``lr_at``.
"""

from __future__ import annotations

import pprint

from ..batch import runs
from ..errors import InexpressibleError
from ..evaluate import end_value
from ..ir import Schedule, Segment

def code_kind(seg: Segment) -> str:
    """The emitted function a segment uses: its shape, or "linear-torch" for OneCycleLR's linear arithmetic."""
    if seg.kind == "linear" and seg.param("form") == "torch":
        return "linear-torch"
    return seg.kind

# ---- shape functions emitted into the generated code (mirror lrplan/shapes.py, math back end) ----

SHAPE_CODE: dict[str, str] = {
    "constant": '''
def _constant(a, b, tau, span):
    return a
''',
    "linear": '''
def _linear(a, b, tau, span):
    if a > b:
        return b + (a - b) * ((span - tau) / span)
    return a + (b - a) * (tau / span)
''',
    "linear-torch": '''
def _linear_torch(a, b, tau, span):
    return (b - a) * (tau / span) + a
''',
    "cosine": '''
def _cosine(a, b, tau, span, cycles, exponent):
    p = tau / span
    if a >= b or cycles != 0.5:
        c = 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * p))
        if exponent != 1.0:
            c = _pow(c, exponent)
        return b + (a - b) * c
    g = 0.5 * (math.cos(math.pi * (1.0 - p)) + 1.0)
    if exponent != 1.0:
        g = 1.0 - _pow(1.0 - g, exponent)
    return a + (b - a) * g
''',
    "poly": '''
def _poly(a, b, tau, span, power):
    remaining = max(span - tau, 0.0) / span
    return b + (a - b) * _pow(remaining, power)
''',
    "1-sqrt": '''
def _one_minus_sqrt(a, b, tau, span):
    p = tau / span
    if a >= b:
        return b + (a - b) * (1.0 - _sqrt(p))
    return a + (b - a) * (1.0 - _sqrt(1.0 - p))
''',
    "exp-anneal": '''
def _exp_anneal(a, b, tau, span):
    return b + (a - b) * (2.0 * _pow(0.5, tau / span) - 1.0)
''',
    "log": '''
def _log(a, b, tau, span):
    return a + (b - a) * (_ln(tau + 1.0) * (1.0 / _ln(span)))
''',
    "exp": '''
def _exp(a, b, tau, span, rate, every, staircase, bounded):
    e = tau / every
    if staircase:
        e = float(math.floor(e))
    v = a * _pow(rate, e)
    if bounded:
        v = max(v, b) if rate < 1 else min(v, b)
    return v
''',
    "invsqrt": '''
def _invsqrt(a, b, tau, span, timescale):
    return max(a * (1.0 / _sqrt((tau + timescale) / timescale)), b)
''',
    "multistep": '''
def _multistep(a, b, tau, span, milestones, gammas):
    levels = [a]
    for g in gammas:
        levels.append(levels[-1] * g)
    return levels[bisect.bisect_right(milestones, tau)]
''',
    "restarts": '''
def _restarts(a, b, tau, span, cycle, mult, decay):
    if mult == 1.0:
        i = float(math.floor(tau / cycle))
        t_cur, t_i = tau - i * cycle, cycle
    else:
        bounds, length, total = [0.0], cycle, 0.0
        while len(bounds) < 4096 and total < 1e16:
            total += length
            bounds.append(total)
            length *= mult
        j = bisect.bisect_right(bounds, tau) - 1
        i, t_cur = float(j), tau - bounds[j]
        t_i = bounds[j + 1] - bounds[j] if j + 1 < len(bounds) else math.inf
    peak = a * _pow(decay, i) if decay != 1.0 else a
    return b + 0.5 * (peak - b) * (1.0 + math.cos(math.pi * t_cur / t_i))
''',
    "cyclic": '''
def _cyclic(a, b, tau, span, up, down, mode, gamma):
    total = up + down
    ratio = up / total
    cycle = float(math.floor(1.0 + tau / total))
    x = 1.0 + tau / total - cycle
    scale = x / ratio if x <= ratio else (x - 1.0) / (ratio - 1.0)
    if mode == "triangular2":
        height = (b - a) * (1.0 / _pow(2.0, cycle - 1.0))
    elif mode == "exp_range":
        height = (b - a) * _pow(gamma, tau)
    else:
        height = b - a
    return a + height * scale
''',
    "inverse-time": '''
def _inverse_time(a, b, tau, span, rate, every):
    return a / (1.0 + rate * (tau / every))
''',
    "swa": '''
def _swa(a, b, tau, span, anneal, every, strategy):
    # torch SWALR in closed form: swa_lr * f + L * (1 - f) after n = floor(tau / every) steps
    if anneal == 0:
        return b
    t = max(min(float(math.floor(tau / every)) / anneal, 1.0), 0.0)
    f = (1.0 - math.cos(math.pi * t)) / 2.0 if strategy == "cos" else t
    return a * (1.0 - f) + b * f
''',
    "schedulefree": '''
def _schedulefree(a, b, tau, span, warmup, variant, beta2, r, power, silent):
    # a Schedule-Free optimizer's own LR (schedulefree 1.4.1); r and power only set its averaging weights
    step = tau + 1.0
    if variant == "radam":
        b2t = _pow(beta2, step)
        rho_inf = 2.0 / (1.0 - beta2) - 1.0
        rho_t = rho_inf - 2.0 * step * b2t / (1.0 - b2t)
        if rho_t > 4.0:
            q = (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
            return a * _pow(max(q, 0.0), 0.5)
        return a * (0.0 if silent else 1.0)
    v = a * (step / max(warmup, 1.0) if tau < warmup else 1.0)
    if variant == "paper":
        v = v * _sqrt(1.0 - _pow(beta2, step))
    return v
''',
    "rex": '''
def _rex(a, b, tau, span):
    # REX as axolotl's RexLR computes it: z / (0.1 + 0.9 z), z = (span - tau) / span
    z = (span - tau) / span
    g = z / (0.1 + 0.9 * z)
    return a * g + b * (1.0 - g)
''',
    "quadratic": '''
def _quadratic(a, b, tau, span):
    g = _pow(tau / span, 2.0)
    return a * (1.0 - g) + b * g
''',
}


# Domain-safe math like lrplan/ops.py MathOps: NaN (not an exception) outside the domain, so a curve
# evaluated past its end ('continue') behaves exactly as lrplan evaluates it.
SAFE_MATH: dict[str, str] = {
    "_sqrt": """
def _sqrt(v):
    return math.sqrt(v) if v >= 0 else math.nan
""",
    "_ln": """
def _ln(v):
    return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)
""",
    "_pow": """
def _pow(x, y):
    try:
        return math.pow(x, y)
    except (ValueError, OverflowError):
        return math.nan if x < 0 else math.inf
""",
}


def shape_function_name(kind: str) -> str:
    return "_" + kind.replace("-", "_").replace("1_sqrt", "one_minus_sqrt")


# ---- a tiny code builder: names and static lines, values only through repr/pformat ----------------


def assign(name: str, value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return name + " = [\n" + "".join("    " + repr(v) + ",\n" for v in value) + "]"
    return name + " = " + pprint.pformat(value, width=108, sort_dicts=False)


def comment(*words: str) -> str:
    text = " ".join(w for w in words if w)
    return "# " + " ".join(text.split())  # one line, whatever the source label held


def segment_data(seg: Segment, peak: float) -> dict:
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in seg.params if k != "form"}
    return {"shape": code_kind(seg), "start": float(seg.start), "origin": float(seg.tau0),
            "span": float(seg.span_value), "a": seg.a.resolve(peak), "b": seg.b.resolve(peak), "params": params}


def hold_value(schedule: Schedule) -> float:
    v = end_value(schedule.lr.segments[-1], schedule.peak)
    return max(v, 0.0)


def data_lines(schedule: Schedule) -> list[str]:
    """Module-level constants describing the curve (shared by the torch and Lightning writers)."""
    curve, peak = schedule.lr, schedule.peak
    lines = [comment("Pieces of the curve: positions [start, next start), LR from a towards b (absolute"),
             comment("values), tau = position - origin, span = the piece's length in its formula."),
             assign("SEGMENTS", [segment_data(s, peak) for s in curve.segments]),
             assign("STARTS", [float(s.start) for s in curve.segments])]
    if curve.end is not None and curve.after != "continue":
        lines.append(assign("END", float(curve.end)))
        if curve.after == "hold":
            lines.append(assign("HOLD_LR", hold_value(schedule)))
    axis = schedule.axis
    if axis.unit != "steps":
        r = runs(axis.batch)
        lines += [comment("Batch-size runs: from update RUN_STEPS[i] on, RUN_SIZES[i] samples per update,"),
                  comment("RUN_SAMPLES[i] samples consumed before it."),
                  assign("RUN_STEPS", list(r.first_step)), assign("RUN_SAMPLES", list(r.samples_before)),
                  assign("RUN_SIZES", list(r.size))]
        if axis.unit == "tokens":
            lines.append(assign("SEQ_LEN", float(axis.seq_len)))
    scale = schedule.scale
    if scale is not None:  # a multiplier of the LR curve (e.g. axolotl's per-restart ramps)
        lines += [comment("The LR above is multiplied by a scale curve: the same kind of pieces, a and b multipliers."),
                  assign("SCALE_SEGMENTS", [segment_data(s, 1.0) for s in scale.segments]),
                  assign("SCALE_STARTS", [float(s.start) for s in scale.segments])]
        if scale.end is not None and scale.after != "continue":
            lines.append(assign("SCALE_END", float(scale.end)))
            if scale.after == "hold":
                lines.append(assign("SCALE_HOLD", float(end_value(scale.segments[-1], 1.0))))
    return lines


def function_lines(schedule: Schedule) -> list[str]:
    """Shape helpers, the position map and ``lr_at(step)``."""
    kinds = sorted({code_kind(s) for s in (*schedule.lr.segments, *(schedule.scale.segments if schedule.scale
                                                                      else ()))})
    shapes = [SHAPE_CODE[k].strip("\n") + "\n" for k in kinds]
    used = [name for name in SAFE_MATH if any(name + "(" in code for code in shapes)]
    out = [SAFE_MATH[name].strip("\n") + "\n" for name in used] + shapes
    table = ", ".join(repr(k) + ": " + shape_function_name(k) for k in kinds)
    out.append("_SHAPES = {" + table + "}\n")
    unit = schedule.axis.unit
    if unit != "steps":
        out.append("\n".join([
            "def _position(step):",
            '    """Samples (or tokens) consumed before update `step`."""',
            "    i = bisect.bisect_right(RUN_STEPS, step) - 1",
            "    samples = RUN_SAMPLES[i] + (step - RUN_STEPS[i]) * RUN_SIZES[i]",
            "    return float(samples) * SEQ_LEN" if unit == "tokens" else "    return float(samples)",
        ]) + "\n")
    pos = "_position(step)" if unit != "steps" else "float(step)"
    if schedule.scale is None:
        body = ["def lr_at(step):", '    """The LR that optimizer update `step` (0-based) uses."""', f"    x = {pos}"]
        out.append("\n".join(body + _curve_body(schedule.lr, "", "HOLD_LR", "max(value, 0.0)")) + "\n")
        return out
    out.append("\n".join(["def _unscaled(x):", '    """The LR curve at position x, before the scale."""',
                          *_curve_body(schedule.lr, "", "HOLD_LR", "max(value, 0.0)")]) + "\n")
    out.append("\n".join(["def _scale(x):", '    """The multiplier of the LR at position x."""',
                          *_curve_body(schedule.scale, "SCALE_", "SCALE_HOLD", "value")]) + "\n")
    out.append("\n".join(["def lr_at(step):", '    """The LR that optimizer update `step` (0-based) uses."""',
                          f"    x = {pos}", "    return _unscaled(x) * _scale(x)"]) + "\n")
    return out


def _curve_body(curve, prefix: str, hold: str, result: str) -> list[str]:
    """Lines evaluating ``curve`` at ``x`` from the constants named ``{prefix}SEGMENTS`` ...; returns ``result``."""
    body = []
    if curve.end is not None and curve.after == "hold":
        body += [f"    if x >= {prefix}END:", f"        return {hold}  # the curve holds its end value"]
    elif curve.end is not None and curve.after == "periodic":
        body += [f"    if x >= {prefix}END:", f"        x = math.fmod(x, {prefix}END)  # the whole curve repeats"]
    body += [f"    seg = {prefix}SEGMENTS[max(bisect.bisect_right({prefix}STARTS, x) - 1, 0)]",
             '    value = _SHAPES[seg["shape"]](seg["a"], seg["b"], x - seg["origin"], seg["span"], **seg["params"])',
             f"    return {result}"]
    return body


def closed_form_module(schedule: Schedule) -> list[str]:
    """Self-contained Python (stdlib only) defining PEAK_LR, lr_at(step) and lr_lambda(step)."""
    lines = ["import bisect", "import math", "",
             comment("Peak LR: LambdaLR multiplies each param group's initial lr by lr_lambda(step)."),
             assign("PEAK_LR", float(schedule.peak)), *data_lines(schedule), ""]
    lines += ["\n" + block for block in function_lines(schedule)]
    lines += ["\ndef lr_lambda(step):",
              '    """Multiplier of PEAK_LR for update `step`."""',
              "    return lr_at(step) / PEAK_LR", ""]
    return lines


def check_companions(schedule: Schedule, target: str, approx: bool) -> list[str]:
    """Weight-decay / momentum / group curves are not emitted: refuse, or note it under --approx."""
    parts = [name for name, c in (("weight-decay curve", schedule.weight_decay),
                                  ("momentum curve", schedule.momentum)) if c is not None]
    parts += ["LR group " + repr(n) for n, _ in schedule.groups]
    if parts and not approx:
        raise InexpressibleError(f"the {target} writer emits the LR curve only; cannot express the "
                                 + ", ".join(parts), hint="drop them from the schedule, or pass --approx")
    return [f"--approx: {p} not emitted" for p in parts]


STEP_COMMENT = [
    comment("Call scheduler.step() once per optimizer update, right after optimizer.step()"),
    comment("(not per micro-batch under gradient accumulation): update k then uses the LR of step k."),
]


def header(opts, target: str) -> list[str]:
    return [comment("Generated by lrplan", opts.version, "for", target, "from:", opts.source_label or "-")]


def run(code: str):
    """``lr_at`` of an emitted stdlib-only module, executed in a namespace of its own."""
    namespace: dict = {"__name__": "lrplan_emitted"}
    exec(compile(code, "<emitted by lrplan>", "exec"), namespace)  # our own generated text, data via repr
    return namespace["lr_at"]
