"""Megatron ``args`` -> validated scheduler inputs (a :class:`Plan` plus the batch schedule).

The checks are Megatron's own (``validate_args`` in megatron/training/arguments.py, core_v0.17.1,
and the asserts in ``OptimizerParamScheduler.__init__``, megatron-core 0.16.1), reported as one-line
errors naming the flag instead of an AssertionError on the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import LrplanError
from ...values import INT_LIMIT, number, shown
from .build import Plan, constant_batch, rampup_batch, step_batch
from .tables import DESTS, FLAG_OF_DEST

# Schedule-relevant dests whose Megatron default is filled in when absent.
DEFAULTED = ("min_lr", "lr_decay_style", "lr_wsd_decay_style", "lr_warmup_init", "lr_warmup_iters",
             "lr_warmup_samples", "weight_decay", "weight_decay_incr_style")
SUFFIX = {"T": 10**12, "B": 10**9, "M": 10**6, "K": 10**3}


def flag(dest: str) -> str:
    return FLAG_OF_DEST.get(dest, "--" + dest.replace("_", "-"))


def fail(dest: str, message: str, hint: str | None = None) -> LrplanError:
    return LrplanError(message, where=flag(dest), hint=hint)


# ---- which Megatron-LM ---------------------------------------------------------------------------------
# The batch-size rules changed in core_v0.18.0 (megatron/core/num_microbatches_calculator.py): the
# --rampup-batch-size calculator is gone (the argument is accepted, logged as deprecated and ignored, in
# iteration and sample mode alike: the batch is --global-batch-size from iteration 1), validate_args no longer
# asserts "expected no batch-size rampup for iteration-based training", and --step-batch-size-schedule is new.
# lrplan applies the newest rules it has checked unless told otherwise (--set megatron_version=0.17), and
# says so whenever the difference matters.
NEWEST = (0, 19)  # core_v0.19.0: the newest release these rules were read from
RAMPUP_IGNORED_FROM = (0, 18)


@dataclass(frozen=True)
class Era:
    version: tuple[int, int]
    why: str  # where the version comes from, for notes

    @property
    def new_batch_rules(self) -> bool:
        return self.version >= RAMPUP_IGNORED_FROM

    @property
    def name(self) -> str:
        return f"Megatron-LM {self.version[0]}.{self.version[1]}"


def era(opts, args: dict, from_checkpoint: bool = False) -> Era:
    """The Megatron-LM whose rules apply: ``--set megatron_version=X.Y`` (also ``core_v0.17.1``), else for a
    checkpoint the era its args show (a Namespace without ``step_batch_size_schedule`` was written by 0.17 or
    older), else the newest checked."""
    text = opts.get("megatron_version") if opts is not None else None
    if text is not None:
        import re

        m = re.fullmatch(r"\s*(?:core_)?v?(\d+)\.(\d+)(?:\.\d+)?(?:rc\d+)?\s*", str(text))
        if not m:
            raise LrplanError(f"--set megatron_version= takes a version like 0.17 or core_v0.18.0, got {text!r}")
        return Era((int(m.group(1)), int(m.group(2))), "--set megatron_version")
    if from_checkpoint and "step_batch_size_schedule" not in args:
        return Era((0, 17), "the checkpoint's args (no step_batch_size_schedule: written by Megatron-LM <= 0.17)")
    return Era(NEWEST, f"the newest rules lrplan checked (core_v{NEWEST[0]}.{NEWEST[1]}.0;"
                       " --set megatron_version=0.17 for older)")


@dataclass
class Resolved:
    args: dict  # every dest with Megatron's value after defaults
    defaults: list[str]
    iteration_mode: bool
    G: int  # args.global_batch_size as the scheduler conversion uses it
    batch: object  # ConstantBatch | RampupBatch | StepBatch
    notes: list[str]


def with_defaults(args: dict) -> tuple[dict, list[str]]:
    out = dict(args)
    applied = []
    for dest, f in DESTS.items():
        if out.get(dest) is None:
            out[dest] = f.default
            if dest in DEFAULTED:
                applied.append(dest)
    check_types(out)
    return out, applied


# ---- value types -----------------------------------------------------------------------------------------
# A checkpoint's ``args`` is an unpickled Namespace: any value may have any type (a damaged or hand-edited
# file, another fork's field). Megatron's argparse only ever stores these kinds (arguments.py, core_v0.17.1),
# so anything else is rejected here, naming the flag, before any arithmetic sees it.


def check_types(a: dict) -> None:
    """Every schedule dest in ``a`` is None or a value of its flag's kind; int3 strings become ints."""
    for dest, f in DESTS.items():
        v = a.get(dest)
        if v is not None:
            a[dest] = _checked(dest, f.kind, v, f.choices)


def _checked(dest: str, kind: str, v, choices: tuple[str, ...]):
    if kind == "float":
        return _finite(dest, v)
    if kind == "int":
        return _integer(dest, v)
    if kind in ("str", "choice"):
        if not isinstance(v, str):
            raise fail(dest, f"must be a string, got {_show(v)}")
        if kind == "choice" and v not in choices:
            raise fail(dest, f"invalid choice {v!r}", hint="choices: " + ", ".join(choices))
        return v
    if kind == "store_true":
        if not isinstance(v, bool):
            raise fail(dest, f"is a switch and must be true or false, got {_show(v)}")
        return v
    if not isinstance(v, (list, tuple)):
        raise fail(dest, f"must be a list of integers, got {_show(v)}")
    if kind == "int3":
        if len(v) != 3:
            raise fail(dest, f"takes 3 values (start, increment, ramp-up samples), got {len(v)}")
        # before core_v0.13 arguments.py declared it nargs='*' without a type: the checkpoint holds strings,
        # which the microbatch calculator int()-casts (megatron/core/num_microbatches_calculator.py)
        return tuple(_integer(dest, int(x) if isinstance(x, str) and x.strip().isdigit() else x) for x in v)
    return tuple(_integer(dest, x) for x in v)


def _finite(dest: str, v) -> float | int:
    number(v, flag(dest), minimum=None)
    return v  # an int stays an int: Megatron multiplies iterations by it


def _integer(dest: str, v) -> int:
    if not isinstance(v, int) or isinstance(v, bool):  # argparse stores an int: a float here is damage
        raise fail(dest, f"must be an integer, got {_show(v)}",
                   hint="Megatron's argparse stores an int here; the value may be damaged")
    if abs(v) >= INT_LIMIT:
        raise fail(dest, f"{v} is out of range (more than 64 bits)")
    return v


_show = shown


def check_modes(a: dict, when: Era | None = None) -> bool:
    """Iteration vs sample mode and the validate_args rules for each (reference §2.2)."""
    when = when or Era(NEWEST, "")
    if a["warmup"] is not None:
        raise fail("warmup", "was removed from Megatron-LM", hint="use --lr-warmup-fraction or --lr-warmup-iters")
    if a["train_samples"] is not None:  # sample mode; a checkpoint also has the derived train_iters
        for dest, bad in (("lr_decay_iters", None), ("lr_warmup_iters", 0)):
            if a[dest] != bad and a[dest] is not None:
                raise fail(dest, "is an iteration-mode flag but --train-samples selects sample mode",
                           hint=f"use {flag(dest).replace('iters', 'samples')}")
        if a["lr_warmup_fraction"] is not None and a["lr_warmup_samples"]:
            raise fail("lr_warmup_samples", "can only specify one of --lr-warmup-fraction and --lr-warmup-samples")
        return False
    if a["train_iters"] is None:
        raise fail("train_iters", "either --train-iters or --train-samples is required",
                   hint="add --train-iters N (or pass --steps N)")
    for dest, bad in (("lr_decay_samples", None), ("lr_warmup_samples", 0)):
        if a[dest] != bad and a[dest] is not None:
            raise fail(dest, "is a sample-mode flag but --train-iters selects iteration mode",
                       hint=f"use {flag(dest).replace('samples', 'iters')} or --train-samples")
    if a["rampup_batch_size"] is not None and not when.new_batch_rules:
        raise fail("rampup_batch_size", f"expected no batch-size rampup for iteration-based training ({when.name}"
                   " asserts this)", hint="use --train-samples with --rampup-batch-size; Megatron-LM 0.18 and"
                   " later ignore --rampup-batch-size (--set megatron_version=0.18)")
    if a["lr_warmup_fraction"] is not None and a["lr_warmup_iters"]:
        raise fail("lr_warmup_iters", "can only specify one of --lr-warmup-fraction and --lr-warmup-iters")
    return True


def parse_step_schedule(text: str, seq_length: int | None) -> list[tuple[int, int]]:
    """``"THRESH:BS ..."`` as StepBatchsizeNumMicroBatchesCalculator._parse_schedule (Megatron-LM main)."""
    out = []
    for entry in text.strip().replace(",", " ").split():
        thr_text, colon, bs_text = entry.partition(":")
        if not colon:
            raise fail("step_batch_size_schedule", f"invalid entry {entry!r}", hint='expected "THRESHOLD:BATCH_SIZE"')
        thr, bs = _suffixed(thr_text), _suffixed(bs_text)
        out.append((thr // seq_length if seq_length is not None else thr, bs))
    out.sort(key=lambda e: e[0])
    if not out or out[0][0] != 0:
        raise fail("step_batch_size_schedule", "the first threshold must be 0")
    for (t0, _), (t1, _) in zip(out, out[1:]):
        if t1 <= t0:
            raise fail("step_batch_size_schedule",
                       f"thresholds must be strictly increasing (in samples), got {t0} then {t1}")
    if any(bs <= 0 for _, bs in out):
        raise fail("step_batch_size_schedule", "batch sizes must be positive")
    return out


def _suffixed(text: str) -> int:
    t = text.strip().upper()
    mult = SUFFIX.get(t[-1:], 1)
    if mult != 1:
        t = t[:-1]
    try:
        return int(float(t) * mult)
    except ValueError:
        raise fail("step_batch_size_schedule", f"not a number: {text!r}") from None


def resolve_batch(a: dict, iteration_mode: bool, opts, when: Era | None = None) -> tuple[int, object, list[str]]:
    """G (what the scheduler multiplies iterations by) and the per-iteration batch schedule."""
    when = when or Era(NEWEST, "")
    notes = []
    if a["step_batch_size_schedule"] is not None and not when.new_batch_rules:
        raise fail("step_batch_size_schedule", f"is not a {when.name} flag (it is new in Megatron-LM 0.18;"
                   f" the version is from {when.why})", hint="--set megatron_version=0.18 if the run uses 0.18+")
    if a["step_batch_size_schedule"] is not None:
        if a["global_batch_size"] is not None:
            raise fail("step_batch_size_schedule", "is mutually exclusive with --global-batch-size")
        if a["rampup_batch_size"] is not None:
            raise fail("rampup_batch_size", "cannot be combined with --step-batch-size-schedule"
                       " (Megatron-LM v0.18+ ignores --rampup-batch-size)")
        if iteration_mode:
            raise fail("step_batch_size_schedule", "with --train-iters, Megatron converts iterations to samples"
                       " with micro-batch-size x data-parallel size, not the schedule", hint="use --train-samples")
        entries = parse_step_schedule(a["step_batch_size_schedule"], a["seq_length"])
        check_divisible(a, [bs for _, bs in entries], opts, notes)
        return entries[-1][1], step_batch(entries), notes
    G = a["global_batch_size"]
    if G is None:
        G, note = _default_gbs(a, iteration_mode, opts)
        notes.append(note)
    if G <= 0:
        raise fail("global_batch_size", f"must be positive, got {G}")
    if a["rampup_batch_size"] is not None and when.new_batch_rules:
        start, incr, ramp = a["rampup_batch_size"]
        older = ("stop with \"expected no batch-size rampup for iteration-based training\"" if iteration_mode
                 else f"ramp the batch from {start} by {incr} over {ramp:,} samples")
        notes.append(f"--rampup-batch-size is ignored: {when.name} (from {when.why}) runs every iteration at"
                     f" --global-batch-size {G}; Megatron-LM 0.17 and older would {older}"
                     " (--set megatron_version=0.17)")
        return _constant(a, G, opts, notes)
    if a["rampup_batch_size"] is not None:
        start, incr, ramp = a["rampup_batch_size"]
        if start <= 0 or incr <= 0 or ramp < 0:
            raise fail("rampup_batch_size", "start and increment must be positive and the samples non-negative")
        if G - start <= 0 or (G - start) % incr:
            raise fail("rampup_batch_size", f"--global-batch-size {G} minus the start {start} must be a positive"
                       f" multiple of the increment {incr}")
        notes.append(f"the batch ramps from {start} by {incr} over {ramp:,} samples ({when.name}, from"
                     f" {when.why}); Megatron-LM 0.18 and later ignore --rampup-batch-size and run at {G}")
        check_divisible(a, list(range(start, G + 1, incr)), opts, notes)
        return G, rampup_batch((start, incr, ramp), G), notes
    return _constant(a, G, opts, notes)


def _constant(a: dict, G: int, opts, notes: list[str]) -> tuple[int, object, list[str]]:
    """A constant global batch; with --decrease-batch-size-if-needed and a known DP, the running batch is
    rounded down to a multiple of micro-batch x DP (ConstantNumMicroBatchesCalculator): each iteration consumes
    that many samples while the schedule's lengths stay --*-iters x --global-batch-size."""
    check_divisible(a, [G], opts, notes)
    dp, why = data_parallel(a, opts)
    mbs = a["micro_batch_size"]
    if a["decrease_batch_size_if_needed"] and dp is not None and mbs:
        unit = mbs * dp
        running = G // unit * unit
        if running < 1:
            raise fail("global_batch_size", f"number of microbatches should be at least 1, got 0: --global-batch-size"
                       f" {G} is below micro-batch-size x DP = {unit} (DP {dp} from {why})")
        if running != G:
            notes.append(f"--decrease-batch-size-if-needed: each iteration consumes {running} samples (--global-batch"
                         f"-size {G} rounded down to a multiple of micro-batch-size {mbs} x DP {dp}), while the"
                         f" schedule's lengths are counted with {G}")
            return G, constant_batch(running), notes
    return G, constant_batch(G), notes


# ---- data-parallel divisibility ---------------------------------------------------------------------------




def data_parallel(a: dict, opts) -> tuple[int | None, str]:
    """The data-parallel size and where it comes from: --set data_parallel_size (or dp), --set world_size
    divided as validate_args does (world size // (TP x PP x CP), which must divide it), a checkpoint's
    args.data_parallel_size; else None."""
    dp = (opts.positive_int("data_parallel_size") or opts.positive_int("dp")) if opts is not None else None
    if dp is not None:
        return dp, "--set data_parallel_size"
    world = opts.positive_int("world_size") if opts is not None else None
    if world is not None:
        tp, pp, cp = (a.get(d) or 1 for d in ("tensor_model_parallel_size", "pipeline_model_parallel_size",
                                              "context_parallel_size"))
        model = tp * pp * cp
        if world % model:
            raise LrplanError(f"world size ({world}) is not divisible by total_model_size (total_model_size={model})"
                              f" = TP {tp} x PP {pp} x CP {cp}: Megatron stops at start-up",
                              where="--tensor-model-parallel-size", hint="fix --set world_size or the parallel sizes")
        return world // model, f"--set world_size {world} // (TP {tp} x PP {pp} x CP {cp})"
    v = a.get("data_parallel_size")
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v, "the checkpoint's args"
    return None, ""


def check_divisible(a: dict, sizes: list[int], opts, notes: list[str]) -> None:
    """Megatron's num-microbatches assertions: every global batch size the run uses is a multiple of
    micro-batch-size x data-parallel size (megatron/core/num_microbatches_calculator.py, 0.16.1 .. 0.19.0)."""
    mbs = a["micro_batch_size"]
    dp, why = data_parallel(a, opts)
    if dp is None:
        if mbs is not None:
            notes.append("the data-parallel size is unknown, so Megatron's check that each global batch size is a"
                         " multiple of micro-batch-size x DP is not made (--set data_parallel_size=N or"
                         " world_size=N makes it)")
        return
    if mbs is None or mbs <= 0:
        return
    unit = mbs * dp
    if a["decrease_batch_size_if_needed"]:
        if len(sizes) > 1 and any(size % unit for size in sizes):
            raise fail("decrease_batch_size_if_needed", "rounding a changing batch size down is not modelled by"
                       " lrplan", hint=f"make every batch size a multiple of micro-batch-size x DP = {unit}")
        return  # a constant batch is rounded down instead (_constant models it)
    for i, size in enumerate(sizes):
        if size % unit:
            first = len(sizes) == 1
            text = (f"global batch size ({size}) is not divisible by micro batch size ({mbs}) times data parallel"
                    f" size ({dp})" if first else
                    f"current global batch size ({size}) is not divisible by micro-batch-size ({mbs}) times"
                    f" data parallel size ({dp})")
            lower, upper = size // unit * unit, -(-size // unit) * unit
            raise fail("global_batch_size" if first else ("rampup_batch_size" if a["rampup_batch_size"]
                                                           else "step_batch_size_schedule"),
                       f"{text}: Megatron stops with this assertion (DP {dp} from {why})",
                       hint=f"use a multiple of {unit}" + (f", e.g. {lower} or {upper}" if lower else f", e.g. {upper}"))


def _default_gbs(a: dict, iteration_mode: bool, opts) -> tuple[int, str]:
    mbs = a["micro_batch_size"]
    dp = data_parallel(a, opts)[0] or 1
    if mbs is not None:
        return mbs * dp, (f"--global-batch-size not given: using micro-batch-size x data-parallel size = {mbs * dp}"
                          " (pass --set data_parallel_size=N for the real DP)")
    if not iteration_mode:
        raise fail("global_batch_size", "is needed in sample mode (the LR per iteration depends on it)",
                   hint="add --global-batch-size N")
    return 1, ("--global-batch-size not given: in iteration mode the LR per iteration does not depend on it"
               " (except inverse-square-root without warmup); lrplan counts 1 sample per iteration")


def make_plan(a: dict, iteration_mode: bool, G: int) -> Plan:
    if iteration_mode:
        T = a["train_iters"]
        D = (a["lr_decay_iters"] if a["lr_decay_iters"] is not None else T) * G
        S = None if a["lr_wsd_decay_iters"] is None else a["lr_wsd_decay_iters"] * G
        W = a["lr_warmup_iters"] * G
        total = N_wd = T * G
    else:
        total = N_wd = a["train_samples"]
        D = a["lr_decay_samples"] if a["lr_decay_samples"] is not None else total
        S = a["lr_wsd_decay_samples"]
        W = a["lr_warmup_samples"]
    if a["lr_warmup_fraction"] is not None:
        W = a["lr_warmup_fraction"] * D  # of the DECAY length, as training.py does
    return Plan(W=W, D=D, S=S, N_wd=N_wd, total=total, style=a["lr_decay_style"], wsd_style=a["lr_wsd_decay_style"])


def check_plan(a: dict, plan: Plan, iteration_mode: bool) -> None:
    """OptimizerParamScheduler.__init__'s asserts, with the flag to fix."""
    unit = "iters" if iteration_mode else "samples"
    if plan.total <= 0:
        raise fail("train_iters" if iteration_mode else "train_samples", "must be positive")
    if plan.D <= 0:
        raise fail(f"lr_decay_{unit}", f"the decay length must be positive, got {plan.D}")
    if plan.W < 0:
        raise fail("lr_warmup_fraction" if a["lr_warmup_fraction"] is not None else f"lr_warmup_{unit}",
                   "the warmup cannot be negative")
    if not plan.W < plan.D:
        raise fail(f"lr_decay_{unit}", f"the warmup ({plan.W:g} samples) must be shorter than the decay length"
                   f" ({plan.D} samples): Megatron asserts lr_warmup_steps < lr_decay_steps",
                   hint="--lr-decay-* counts from step 0 and includes the warmup")
    if plan.style == "WSD" and plan.S is None:
        raise fail(f"lr_wsd_decay_{unit}", "is required with --lr-decay-style WSD (the anneal length)")
    if plan.S is not None and plan.S < 0:
        raise fail(f"lr_wsd_decay_{unit}", "cannot be negative")


def check_levels(a: dict) -> None:
    lr, mn, init = a["lr"], a["min_lr"], a["lr_warmup_init"]
    if not lr > 0:
        raise fail("lr", f"the peak LR must be positive, got {lr}")
    if mn < 0:
        raise fail("min_lr", f"cannot be negative, got {mn}")
    if mn > lr:
        raise fail("min_lr", f"{mn} is above --lr {lr}: Megatron asserts min_lr <= lr")
    if init < 0 or init > lr:
        raise fail("lr_warmup_init", f"must be between 0 and --lr {lr}, got {init}")
    for dest in ("decoupled_lr", "decoupled_min_lr"):
        if a[dest] is not None and a[dest] < 0:
            raise fail(dest, f"cannot be negative, got {a[dest]}")


def check_wd(a: dict) -> tuple[float, float]:
    style, wd, s, e = a["weight_decay_incr_style"], a["weight_decay"], a["start_weight_decay"], a["end_weight_decay"]
    if style == "constant":
        # validate_args asserts start/end are None, then sets both to --weight-decay; a checkpoint's args
        # carry those filled-in values, which are accepted here.
        for dest, v in (("start_weight_decay", s), ("end_weight_decay", e)):
            if v is not None and v != wd:
                raise fail(dest, "is not allowed with --weight-decay-incr-style constant",
                           hint="use --weight-decay, or pick --weight-decay-incr-style linear|cosine")
        s = e = wd
    else:
        for dest, v in (("start_weight_decay", s), ("end_weight_decay", e)):
            if v is None:
                raise fail(dest, f"is required with --weight-decay-incr-style {style}")
    if s < 0:
        raise fail("start_weight_decay" if style != "constant" else "weight_decay", f"cannot be negative, got {s}")
    if e < s:
        raise fail("end_weight_decay", f"{e} is below the start {s}: Megatron's weight decay can only increase")
    return s, e
