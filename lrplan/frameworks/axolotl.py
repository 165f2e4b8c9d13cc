"""axolotl: its training YAML (``lr_scheduler``, ``warmup_steps``/``warmup_ratio``, ``cosine_min_lr_ratio`` ...).

Read from axolotl 0.19.0 (PyPI; the schedule code is byte-identical to git 067b021c):

* ``core/builders/base.py`` ``_configure_warmup_and_logging``: ``warmup_steps`` if set; else
  ``int(warmup_ratio * N)`` (floor, not HF's ceil); else the hidden default ``min(int(0.03 * N), 100)``;
  then ``warmup_steps == 1`` becomes 2. ``_configure_scheduler``: ``one_cycle`` and ``rex`` become
  ``lr_scheduler_type: cosine`` with ``alternate_lr_scheduler_type``; an empty ``lr_scheduler`` is cosine.
  ``_set_base_training_args``: ``max_steps = cfg.max_steps or total_num_steps`` is HF's ``num_training_steps``.
* ``core/trainers/mixins/scheduler.py`` ``SchedulerMixin.create_scheduler``, first match wins:
  ``one_cycle`` -> torch ``OneCycleLR(max_lr=learning_rate, total_steps=N, pct_start=W/N, anneal cos)``;
  ``rex`` -> ``RexLR(max_lr=lr, min_lr=lr * cosine_min_lr_ratio or 0, total_steps=N, num_warmup_steps=W)``,
  one step ahead (``_rex_loaded``; the ``rex`` shape); cosine + ``lr_quadratic_warmup is True`` ->
  ``get_cosine_schedule_with_quadratic_warmup`` (``(k / max(1, W)) ** 2``, then HF's cosine: the ``quadratic``
  shape), before the min-LR forms, whose ratios it then ignores; cosine + truthy ``cosine_min_lr_ratio``
  and truthy ``cosine_constant_lr_ratio`` -> ``get_cosine_schedule_with_warmup_decay_constant``; cosine +
  truthy ``cosine_min_lr_ratio`` -> ``get_cosine_schedule_with_min_lr``; else HF's ``get_scheduler``
  (lrplan/frameworks/hf/schedules.py).
  ``jagged_restart_steps`` wraps the result in ``JaggedLRRestartScheduler`` (below; read as ``Schedule.scale``).
  A ratio of 0 is falsy: plain HF cosine.
* ``utils/schedulers.py``: ``get_cosine_schedule_with_min_lr`` factor ``k / max(1, W)`` for ``k < W``,
  then ``(1 - r) * 0.5 * (1 + cos(pi * p)) + r``, ``p = (k - W) / max(1, N - W)``, unclamped past N;
  the constant variant runs the cosine to ``Cn = int(N * constant_lr_ratio)`` and holds ``r`` after.

* ``utils/schedulers.py`` ``JaggedLRRestartScheduler(optimizer, inner, R, W, A, min_lr_scale=m)`` (wired by
  ``SchedulerMixin.create_scheduler`` with ``W = jagged_restart_warmup_steps or 10``, ``A =
  jagged_restart_anneal_steps or 1``, ``m = cosine_min_lr_ratio or 0.001``; ``core/builders/causal.py`` copies the
  three keys into the TrainingArguments, the RL builder does not): its constructor passes the inner scheduler's
  ``last_epoch`` (0 for a LambdaLR, 1 for RexLR) to torch's LRScheduler, which steps once, so update k uses
  ``last_epoch e = k + 1`` (RexLR: k + 2); ``get_lr`` sets the inner's ``last_epoch = e`` and multiplies its
  ``get_lr()`` by ``scale = t (1 - m) + m``: ``scale = 1`` while ``e < R - A``; else with ``p = e % R``, ``t = p / W``
  for ``p < W``, else ``(R - p) / A`` for ``p > R - A``, else 1. lrplan reads the inner schedule one step ahead and
  the scale as explicit pieces (up-ramp, 1, down-ramp per restart) through the end of the restart period holding
  the run's last update, held after. Around OneCycleLR it raises ValueError at the run's last scheduler.step()
  (step_num total_steps + 1): refused.

The HF Trainer steps the LambdaLR once per optimizer update (after ``optimizer.step()``), so update k
uses the factor at k: lrplan's step k, no shift (HF logs it at global_step k + 1). RexLR is the exception: it
passes ``last_epoch=0`` to torch's LRScheduler, whose constructor steps once, so update k uses last_step k + 1.
"""

from __future__ import annotations

import itertools
import math

from ..errors import InexpressibleError, LrplanError, did_you_mean
from ..ir import ONE, ZERO, Curve, Level, Schedule, Segment
from ..values import number
from .base import Candidate, Format, Loaded, ReadOptions

DOCS = "see docs/frameworks/axolotl.md"
# HF lr_scheduler_type names axolotl passes through, and its own two.
OWN = ("one_cycle", "rex")
MAX_RESTARTS = 100_000  # the scale is written out restart by restart
MARKERS = ("base_model", "micro_batch_size", "num_epochs", "datasets", "sequence_len", "sample_packing",
           "cosine_min_lr_ratio", "lr_scheduler")


def step_name(k: int) -> str:
    return f"axolotl (HF Trainer) logs this LR at global_step {k + 1}"


# ---- reading ------------------------------------------------------------------------------------------------


def parse(text: str, path=None) -> dict:
    from ..yamlsafe import load_mapping

    return load_mapping(text, "an axolotl config", str(path or "axolotl YAML"))


def detect(text: str, path) -> int:
    if len(text) > 2_000_000 or "lr_scheduler_type" in text or not any(m in text for m in MARKERS):
        return 0
    try:
        data = parse(text)
    except LrplanError:
        return 0
    if "lr_scheduler_type" in data or "learning_rate" not in data:
        return 0
    n = sum(k in data for k in MARKERS)
    if n >= 3 or "cosine_min_lr_ratio" in data:
        return 9
    sched = data.get("lr_scheduler", ...)
    # lrplan's own fragment: axolotl's lr_scheduler is a name (torchtune's is a {_component_} mapping)
    return 7 if "micro_batch_size" in data or sched is None or isinstance(sched, str) else 0


def _num(v, where: str, **kw):
    return number(v, where, text=True, hint=DOCS, **kw)




def total_steps(data: dict, opts: ReadOptions, notes: list[str]) -> int:
    """HF's num_training_steps: ``max_steps`` from the config, else axolotl's total_num_steps."""
    if data.get("max_steps"):
        N = _num(data["max_steps"], "max_steps", integer=True, positive=True)
        notes.append(f"num_training_steps = max_steps {N} (axolotl caps its estimate of the run at max_steps; the "
                     "dataset must give at least that many steps for the warmup to be computed from it too)")
        return N
    if opts.steps is not None:
        from ..quantity import parse_count

        N = int(parse_count(opts.steps, integer=True))
        notes.append(f"num_training_steps = {N} from --steps (axolotl logs its estimate as total_num_steps)")
        return N
    n = opts.positive_int("dataset_size")
    if n is not None:
        if data.get("sample_packing"):
            raise LrplanError("with sample_packing axolotl estimates the steps from a packing dry run of the "
                              "tokenized dataset", where="sample_packing",
                              hint="pass --steps N (the total_num_steps axolotl logs)")
        micro = _num(data.get("micro_batch_size", 1), "micro_batch_size", integer=True, positive=True)
        GA = data.get("gradient_accumulation_steps")
        if GA is None and data.get("batch_size") is not None:  # normalize_config: batch_size // micro_batch_size
            GA = _num(data["batch_size"], "batch_size", integer=True, positive=True) // micro
        GA = _num(GA if GA is not None else 1, "gradient_accumulation_steps", integer=True, positive=True)
        world = opts.positive_int("world_size") or 1
        epochs = _num(data.get("num_epochs", 1.0), "num_epochs", positive=True)
        batch = micro * GA * world
        N = int(math.ceil(n * epochs / batch))  # utils/trainer.py calculate_total_num_steps (no packing)
        notes.append(f"total_num_steps = ceil({n} samples x num_epochs {epochs:g} / batch {batch}) = {N} "
                     f"(micro_batch_size {micro} x gradient_accumulation_steps {GA} x world_size {world})")
        return N
    raise LrplanError("the run length is not in the config: axolotl estimates total_num_steps from the dataset "
                      "and num_epochs", where="max_steps",
                      hint="pass --steps N (the total_num_steps axolotl logs), or --set dataset_size=N [world_size=W]")


def warmup(data: dict, N: int, notes: list[str], raw_applied: list[str]) -> int:
    """_configure_warmup_and_logging, with total_num_steps known."""
    ws, wr = data.get("warmup_steps"), data.get("warmup_ratio")
    if ws and wr:
        raise LrplanError("warmup_steps and warmup_ratio are mutually exclusive (axolotl's config validation)",
                          where="warmup_ratio", hint="keep one of them")
    if ws is not None:
        W = _num(ws, "warmup_steps", integer=True)
    elif wr is not None:
        r = _num(wr, "warmup_ratio")
        W = max(int(r * N), 0)
        notes.append(f"warmup = int(warmup_ratio {r:g} x {N}) = {W} steps (axolotl floors; HF alone would ceil)")
    else:
        W = min(int(0.03 * N), 100)
        raw_applied.append("warmup_steps")
        notes.append(f"no warmup_steps/warmup_ratio: axolotl warms up for min(int(0.03 x {N}), 100) = {W} steps")
    if W == 1:
        W = 2
        notes.append("warmup_steps 1 becomes 2 (axolotl)")
    return W


def _floor_ratio(data: dict, key: str) -> float | None:
    v = data.get(key)
    if v is None:
        return None
    r = _num(v, key)
    if r > 1:
        raise LrplanError(f"must be between 0.0 and 1.0, got {r:g} (axolotl asserts it)", where=key)
    return r


def _min_lr_cosine(W: int, N: int, r: float) -> list:
    segs = [Segment("linear", 0.0, float(W), ZERO, ONE, label="warmup")] if W > 0 else []
    segs.append(Segment("cosine", float(W), float(W + max(1, N - W)), ONE, Level(r), label="decay"))
    return segs


def _constant_cosine(W: int, N: int, r: float, c: float) -> list:
    Cn = int(N * c)
    segs = [Segment("linear", 0.0, float(W), ZERO, ONE, label="warmup")] if W > 0 else []
    if Cn < W:
        raise LrplanError(f"int(num_training_steps x cosine_constant_lr_ratio) = {Cn} is inside the warmup ({W} "
                          "steps): axolotl's cosine then runs backwards; lrplan does not read that",
                          where="cosine_constant_lr_ratio")
    if Cn > W:
        segs.append(Segment("cosine", float(W), float(Cn), ONE, Level(r), label="decay"))
        segs.append(Segment("constant", float(Cn), None, Level(r), label="floor"))
    else:  # progress 0 for ever: the peak
        segs.append(Segment("constant", float(W), None, ONE, label="constant"))
    return segs


def _ignored_kwargs(data: dict, what: str, notes: list[str]) -> None:
    if data.get("lr_scheduler_kwargs"):
        notes.append(f"lr_scheduler_kwargs is ignored: axolotl builds {what} without it")


def _rex_loaded(data: dict, W: int, N: int, lr: float, rmin, notes: list[str], label: str, raw: dict) -> Loaded:
    """``RexLR(max_lr=learning_rate, min_lr=learning_rate * cosine_min_lr_ratio (0 when unset), total_steps=N,
    num_warmup_steps=W)`` (core/trainers/mixins/scheduler.py), stepped by the HF Trainer.

    RexLR passes ``last_epoch=0`` to torch's LRScheduler, whose constructor takes one step itself, so the first
    update already uses ``get_lr()`` at ``last_step = 1``: update k uses last_step k + 1. Its ``get_lr``
    (utils/schedulers.py): ``base_lr * last_step / W`` for ``1 <= last_step <= W`` (the warmup reaches
    learning_rate at update W - 1); then ``s = last_step - W``, ``R = N - W`` and ``min_lr`` once ``s >= R``
    (updates N - 1 on), else ``learning_rate * (m + (1 - m) * z / (0.1 + 0.9 z))``, ``z = (R - s) / R``,
    ``m = min_lr / max_lr``. As IR: a linear warmup with origin -1, a ``rex`` piece on [W, N - 1) with origin
    W - 1 and span R, and the floor held from N - 1.
    """
    if W > N:
        raise LrplanError(f"the warmup ({W} steps) is longer than the run ({N} steps): RexLR raises ValueError",
                          where="warmup_steps", hint="lower warmup_steps/warmup_ratio or raise max_steps")
    floor = Level(rmin or 0.0)
    segs = [Segment("linear", 0.0, float(W), ZERO, ONE, origin=-1.0, span=float(W), label="warmup")] if W else []
    if N - 1 > W:
        segs.append(Segment("rex", float(W), float(N - 1), ONE, floor, origin=float(W - 1), span=float(N - W),
                            label="decay"))
    segs.append(Segment("constant", float(max(W, N - 1)), None, floor, label="floor"))
    notes.append(f"rex: axolotl's RexLR, warmup (k+1)/{W}, then z / (0.1 + 0.9 z) down to "
                 f"{rmin or 0:g} x learning_rate (cosine_min_lr_ratio), reached at update {N - 1}; RexLR's "
                 "constructor steps once, so update k uses its last_step k + 1")
    if data.get("cosine_constant_lr_ratio"):
        notes.append("cosine_constant_lr_ratio is ignored: RexLR takes cosine_min_lr_ratio only")
    _ignored_kwargs(data, "RexLR", notes)
    s = Schedule(Curve(tuple(segs), "hold"), peak_lr=lr, total=float(N))
    return Loaded(s, "axolotl", label, tuple(notes), step_name, raw)


def _quadratic_loaded(data: dict, W: int, N: int, lr: float, rmin, notes: list[str], label: str,
                      raw: dict) -> Loaded:
    """cosine + ``lr_quadratic_warmup: true``: ``get_cosine_schedule_with_quadratic_warmup(W, N)`` (num_cycles 0.5,
    no kwargs), a LambdaLR of ``(k / max(1, W)) ** 2`` for k < W, then HF's cosine to 0 (utils/schedulers.py). It
    is chosen before the min-LR cosines: cosine_min_lr_ratio is then ignored (axolotl only warns)."""
    from .hf.schedules import build

    base = build("cosine", {}, W, N, lr)
    segs = list(base.lr.segments)
    if W:
        segs[0] = Segment("quadratic", 0.0, float(W), ZERO, ONE, label="warmup")
    notes.append(f"lr_quadratic_warmup: axolotl's get_cosine_schedule_with_quadratic_warmup, (k/{W})^2 for k < {W}, "
                 f"then HF's cosine to 0 at step {N}")
    if rmin or data.get("cosine_constant_lr_ratio"):
        notes.append("cosine_min_lr_ratio / cosine_constant_lr_ratio are ignored: axolotl picks the quadratic "
                     "warmup first (it logs 'Both cosine quadratic warmup and min lr detected')")
    _ignored_kwargs(data, "the quadratic-warmup cosine", notes)
    s = base.with_(lr=Curve(tuple(segs), base.lr.after))
    return Loaded(s, "axolotl", label, tuple(notes), step_name, raw)


def _one_cycle(data: dict, W: int, N: int, lr: float) -> Schedule:
    from ..spec import parse_spec

    kw = data.get("lr_scheduler_kwargs") or {}
    if not isinstance(kw, dict):
        raise LrplanError("must be a mapping", where="lr_scheduler_kwargs")
    allowed = {"pct_start": "max_at", "div_factor": "div", "final_div_factor": "final_div",
               "anneal_strategy": "anneal", "three_phase": "three_phase"}
    args = {"max_at": repr(W / N)}
    for k, v in kw.items():
        if k not in allowed:
            raise LrplanError(f"lrplan reads OneCycleLR's {', '.join(allowed)} only, not {k!r}",
                              where=f"lr_scheduler_kwargs.{k}", hint=did_you_mean(str(k), allowed))
        args[allowed[k]] = str(v).lower() if isinstance(v, bool) else repr(_num(v, f"lr_scheduler_kwargs.{k}")) \
            if k != "anneal_strategy" else str(v)
    if not 0 < float(args["max_at"]) < 1:
        raise LrplanError(f"OneCycleLR's pct_start (warmup / num_training_steps = {args['max_at']}) must be between 0 "
                          "and 1 for lrplan (torch divides by pct_start * N - 1)", where="warmup_steps")
    spec = "onecycle(" + ",".join(f"{k}={v}" for k, v in args.items()) + f"),total={N},peak={lr!r}"
    return parse_spec(spec)


def _jagged_int(data: dict, key: str, default: int) -> int:
    """``cfg.<key> or default`` as axolotl takes it (a falsy value, ``false`` included, is the default)."""
    v = data.get(key)
    if not v:
        return default
    n = _num(int(v) if isinstance(v, bool) else v, key, integer=True, minimum=None)
    if n < 1:
        raise LrplanError(f"lrplan reads a positive number of steps here, got {n}", where=key)
    return n


def _ahead(curve: Curve, d: int) -> Curve:
    """``curve`` read ``d`` steps ahead: step k gets what step k + d had."""
    if curve.after == "periodic":
        raise LrplanError("jagged_restart_steps around a periodic schedule is not read", where="jagged_restart_steps")
    segs = []
    for s in curve.segments:
        if s.end is not None and s.end - d <= 0:
            continue
        start = max(s.start - d, 0.0)
        segs.append(Segment(s.kind, start, None if s.end is None else s.end - d, s.a, s.b, s.params,
                            origin=s.tau0 - d, span=s.span if s.end is None else s.span_value, label=s.label))
    return Curve(tuple(segs), curve.after)


def jagged_scale(R: int, W: int, A: int, m: float, lead: int, N: int) -> Curve:
    """JaggedLRRestartScheduler's multiplier as IR pieces on lrplan's steps: update k uses its ``e = k + lead``.

    Per restart period (e in [jR, (j+1)R), p = e - jR): an up-ramp ``m + (1 - m) p / W`` for p < min(W, R), 1, then
    a down-ramp ``m + (1 - m) (R - p) / A`` from max(min(W, R), R - A) (where it is still 1); a scale of 1 replaces
    all of it while e < R - A. Written out through the period holding update N - 1, held after."""
    lo = Level(m)
    u = min(W, R)
    d = max(u, R - A)
    periods = (N - 1 + lead) // R + 1
    if periods > MAX_RESTARTS:
        raise LrplanError(f"{periods} restarts: lrplan writes the restart ramps out one by one, up to "
                          f"{MAX_RESTARTS}", where="jagged_restart_steps")
    pieces: list[tuple] = []  # (start e, end e, a, b, origin e, span) or (start, end) for a scale of 1
    for j in range(periods):
        o = j * R
        if u > 0:
            pieces.append((o, o + u, lo, ONE, o, W))
        if d > u:
            pieces.append((o + u, o + d))
        if R > d:
            pieces.append((o + d, o + R, ONE, lo, o + R - A, A))
    first = max(R - A, 0)  # e < R - A: a scale of 1
    out: list[tuple] = [(0, first)] if first else []
    for p in pieces:
        if p[1] <= first:
            continue
        out.append((max(p[0], first), *p[1:]))
    segs: list[Segment] = []
    for p in out:
        start, end = max(p[0] - lead, 0), p[1] - lead
        if end <= 0:
            continue
        if len(p) == 2:
            if segs and segs[-1].kind == "constant":
                last = segs.pop()
                start = last.start
            segs.append(Segment("constant", float(start), float(end), ONE))
        else:
            segs.append(Segment("linear", float(start), float(end), p[2], p[3], origin=float(p[4] - lead),
                                span=float(p[5])))
    return Curve(tuple(segs), "hold")


def from_config(data: dict, opts: ReadOptions = ReadOptions(), label: str = "axolotl config") -> Loaded:
    ld = _from_config(data, opts, label)
    if not data.get("jagged_restart_steps"):
        return ld
    if data.get("rl"):
        note = (f"jagged_restart_steps is ignored: axolotl's RL trainer builder (rl: {data['rl']}) does not pass "
                "the jagged_restart_* keys on")
        return Loaded(ld.schedule, ld.format, ld.label, (*ld.notes, note), ld.step_name, ld.raw)
    kind = ld.raw["_axolotl"]["kind"]
    N = ld.raw["_axolotl"]["N"]
    R = _num(int(data["jagged_restart_steps"]) if isinstance(data["jagged_restart_steps"], bool)
             else data["jagged_restart_steps"], "jagged_restart_steps", integer=True, positive=True)
    if kind == "one_cycle":
        raise LrplanError("JaggedLRRestartScheduler around one_cycle (OneCycleLR) runs it one step ahead, so "
                          f"OneCycleLR raises ValueError at the run's last scheduler.step() (step {N + 1} of {N}); "
                          "axolotl cannot finish this run", where="jagged_restart_steps",
                          hint="use lr_scheduler cosine (or another HF type) with jagged_restart_steps")
    W = _jagged_int(data, "jagged_restart_warmup_steps", 10)
    A = _jagged_int(data, "jagged_restart_anneal_steps", 1)
    ratio = data.get("cosine_min_lr_ratio")
    m = _floor_ratio(data, "cosine_min_lr_ratio") if ratio else 0.001
    lead = 2 if kind == "rex" else 1  # RexLR's own constructor step, then the wrapper's
    s = ld.schedule
    scale = jagged_scale(R, W, A, m, lead, N)
    s = s.with_(lr=_ahead(s.lr, 1), scale=scale)
    end = int(scale.end)
    notes = ld.notes + (
        f"jagged_restart_steps {R}: axolotl's JaggedLRRestartScheduler multiplies the schedule by a restart scale, "
        f"{m:g} -> 1 over jagged_restart_warmup_steps {W} after every multiple of {R} (not the first) and 1 -> {m:g} "
        f"over jagged_restart_anneal_steps {A} before it (min_lr_scale "
        + ("cosine_min_lr_ratio)" if ratio else "0.001, axolotl's default: cosine_min_lr_ratio is unset)"),
        "JaggedLRRestartScheduler's constructor steps once more: update k uses the inner schedule (and the scale) "
        f"at its step k + {lead}" + (" (RexLR steps once itself)" if lead == 2 else ""),
        (f"past update {end - 1} (the end of the restart period holding the run's last update) lrplan holds the "
         "scale; axolotl keeps restarting"),
    )
    return Loaded(s, "axolotl", ld.label, notes, step_name, ld.raw)


def _from_config(data: dict, opts: ReadOptions, label: str) -> Loaded:
    notes: list[str] = []
    applied: list[str] = []
    raw = dict(data, _defaults_applied=applied)
    lr = data.get("learning_rate")
    if lr is None:
        if opts.lr is None:
            raise LrplanError("learning_rate is not set", where="learning_rate", hint="pass --lr PEAK")
        lr = opts.lr
        applied.append("learning_rate")
    lr = _num(lr, "learning_rate", positive=True)
    kind = data.get("lr_scheduler") or "cosine"
    if not data.get("lr_scheduler"):
        applied.append("lr_scheduler")
    if not isinstance(kind, str):
        raise LrplanError(f"must be a scheduler name, got {kind!r}", where="lr_scheduler")
    quadratic = data.get("lr_quadratic_warmup")
    if quadratic is not None and not isinstance(quadratic, bool):
        raise LrplanError(f"must be true or false, got {quadratic!r}", where="lr_quadratic_warmup")
    if data.get("deepspeed"):
        notes.append("deepspeed is set: if its JSON has a scheduler, that one replaces this schedule (axolotl only "
                     "warns)")
    N = total_steps(data, opts, notes)
    W = warmup(data, N, notes, applied)
    rmin = _floor_ratio(data, "cosine_min_lr_ratio")
    rconst = _floor_ratio(data, "cosine_constant_lr_ratio")
    raw["_axolotl"] = {"kind": kind, "W": W, "N": N}
    if quadratic and kind != "cosine":
        notes.append(f"lr_quadratic_warmup is ignored: axolotl applies it to lr_scheduler cosine only, not {kind!r}")
    if kind == "rex":
        return _rex_loaded(data, W, N, lr, rmin, notes, label, raw)
    if kind == "cosine" and quadratic:
        return _quadratic_loaded(data, W, N, lr, rmin, notes, label, raw)
    if kind == "one_cycle":
        s = _one_cycle(data, W, N, lr)
        notes.append(f"one_cycle: torch OneCycleLR with max_lr learning_rate, pct_start {W}/{N}, cos anneal "
                     "(div_factor 25, final_div_factor 1e4 unless lr_scheduler_kwargs says otherwise)")
        return Loaded(s, "axolotl", label, tuple(notes), step_name, raw)
    if kind == "cosine" and rmin and rconst:
        segs, after = _constant_cosine(W, N, rmin, rconst), "hold"
        notes.append(f"cosine_min_lr_ratio {rmin:g} with cosine_constant_lr_ratio {rconst:g}: a cosine to "
                     f"{rmin:g} x learning_rate until step int({N} x {rconst:g}) = {int(N * rconst)}, then constant")
    elif kind == "cosine" and rmin:
        segs, after = _min_lr_cosine(W, N, rmin), "continue"
        notes.append(f"cosine_min_lr_ratio {rmin:g}: axolotl's get_cosine_schedule_with_min_lr (to {rmin:g} x "
                     "learning_rate at the last step, unclamped after)")
    else:
        from .hf.schedules import build

        if kind == "cosine" and (rmin == 0 or rconst == 0) and (rmin is not None or rconst is not None):
            notes.append("a cosine_*_lr_ratio of 0 is falsy in axolotl: the plain HF cosine is used")
        kwargs = data.get("lr_scheduler_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise LrplanError("must be a mapping", where="lr_scheduler_kwargs")
        s = build(kind, kwargs, W, N, lr)
        notes.append(f"HF get_scheduler({kind!r}, num_warmup_steps={W}, num_training_steps={N})")
        if kind == "constant" and (data.get("warmup_steps") or data.get("warmup_ratio")):
            notes.append("lr_scheduler constant ignores the warmup (HF's constant); use constant_with_warmup")
        return Loaded(s, "axolotl", label, tuple(notes), step_name, raw)
    s = Schedule(Curve(tuple(segs), after), peak_lr=lr, total=float(N))
    return Loaded(s, "axolotl", label, tuple(notes), step_name, raw)


def read(text: str, path, opts: ReadOptions) -> Loaded:
    return from_config(parse(text, path), opts, str(path) if path else "axolotl config")


# ---- writing ------------------------------------------------------------------------------------------------

HINT = "pass --approx for the nearest axolotl form, or --to hf --variant python for a LambdaLR"


def _whole(x) -> bool:
    return x is not None and float(x).is_integer()


def _own_candidates(schedule: Schedule, T: int):
    """axolotl's own cosine forms: (fields) dicts."""
    segs = schedule.lr.segments
    W = 0
    rest = segs
    first = segs[0]
    if first.kind == "linear" and first.a == ZERO and first.b == ONE and first.tau0 == 0 and _whole(first.end) \
            and first.span_value == first.end and len(segs) > 1:
        W, rest = int(first.end), segs[1:]
    if not rest or rest[0].kind != "cosine" or rest[0].a != ONE or dict(rest[0].params).get("cycles", 0.5) != 0.5:
        return
    r = float(rest[0].b.resolve(schedule.peak)) / float(schedule.peak)  # axolotl's floor is a ratio of the peak
    if not 0 < r <= 1:
        return
    end = rest[0].end
    if len(rest) == 1 and (end is None or end >= T):
        yield {"lr_scheduler": "cosine", "cosine_min_lr_ratio": r, "warmup_steps": W}
    elif (len(rest) == 1 or (len(rest) == 2 and rest[1].kind == "constant")) and _whole(end) and end < T:
        Cn = int(end)  # the cosine ends before the run, then holds its floor: the constant variant
        c = Cn / T
        for _ in range(4):  # the shortest ratio whose int(T * ratio) is Cn
            if int(T * c) == Cn:
                break
            c = math.nextafter(c, 2.0)
        if 0 < c <= 1:
            yield {"lr_scheduler": "cosine", "cosine_min_lr_ratio": r, "cosine_constant_lr_ratio": c,
                   "warmup_steps": W}


def _rex_candidates(schedule: Schedule, T: int):
    """``lr_scheduler: rex``: an optional (k+1)/W warmup, a rex piece, then its floor (the gate checks the rest)."""
    segs = schedule.lr.segments
    W, i = 0, 0
    if segs[0].kind == "linear" and _whole(segs[0].end) and len(segs) > 1:
        W, i = int(segs[0].end), 1
    rex = segs[i]
    if rex.kind != "rex" or W == 1 or W > T:
        return
    r = float(rex.b.resolve(schedule.peak)) / float(schedule.peak)
    if not 0 <= r <= 1:
        return
    yield {"lr_scheduler": "rex", "warmup_steps": W, **({"cosine_min_lr_ratio": r} if r else {})}


def _quadratic_candidates(schedule: Schedule, T: int):
    """cosine + ``lr_quadratic_warmup: true``: a (k/W)^2 warmup from 0, then HF's cosine to 0."""
    first = schedule.lr.segments[0]
    if first.kind == "quadratic" and first.a == ZERO and first.b == ONE and first.origin is None \
            and first.span is None and _whole(first.end) and int(first.end) != 1:
        yield {"lr_scheduler": "cosine", "lr_quadratic_warmup": True, "warmup_steps": int(first.end)}


def _hf_candidates(schedule: Schedule, T: int):
    from .hf.write import typed_candidates

    for kind, kw, W in typed_candidates(schedule, T):
        if kind in OWN or W == 1:  # axolotl turns warmup_steps 1 into 2
            continue
        out = {"lr_scheduler": kind, "warmup_steps": int(W)}
        if kw:
            out["lr_scheduler_kwargs"] = kw
        yield out


def _inner_candidates(schedule: Schedule, T: int) -> list[dict]:
    return [*_own_candidates(schedule, T), *_rex_candidates(schedule, T), *_quadratic_candidates(schedule, T),
            *_hf_candidates(schedule, T)]


def _behind(curve: Curve) -> Curve:
    """The inverse of ``_ahead(curve, 1)``: step k gets what step k - 1 had (the first piece reaches back to 0)."""
    segs = []
    for i, s in enumerate(curve.segments):
        segs.append(Segment(s.kind, 0.0 if i == 0 else s.start + 1, None if s.end is None else s.end + 1, s.a, s.b,
                            s.params, origin=s.tau0 + 1, span=s.span if s.end is None else s.span_value,
                            label=s.label))
    return Curve(tuple(segs), curve.after)


def _jagged_candidates(schedule: Schedule, T: int):
    """A scale curve as JaggedLRRestartScheduler's (R, W, A, m) around an inner axolotl schedule one step behind; the
    readback gate checks each guess (read from the ramps: W and m from the up-ramps, A from the down-ramps, R from
    their spacing or, with one restart, from where the first ramp sits)."""
    segs = schedule.scale.segments
    ups = [s for s in segs if s.kind == "linear" and s.b == ONE and s.a != ONE]
    downs = [s for s in segs if s.kind == "linear" and s.a == ONE and s.b != ONE]
    if any(s.kind not in ("linear", "constant") for s in segs) or not (ups or downs):
        return
    floors = {s.a for s in ups} | {s.b for s in downs}
    if len(floors) != 1:
        return
    m = next(iter(floors)).value
    W = ups[0].span_value if ups else 10.0
    A = downs[0].span_value if downs else 1.0
    if not (_whole(W) and _whole(A)) or not 0 < m <= 1:
        return
    W, A = int(W), int(A)
    inner = schedule.with_(lr=_behind(schedule.lr), scale=None)
    for fields in _inner_candidates(inner, T):
        lead = 2 if fields["lr_scheduler"] == "rex" else 1
        guesses = [b.tau0 - a.tau0 for ramps in (ups, downs) for a, b in itertools.pairwise(ramps)]
        guesses += [ups[0].tau0 + lead] if ups else []
        guesses += [downs[0].tau0 + lead + A] if downs else []
        ratio = fields.get("cosine_min_lr_ratio")
        if (ratio or 0.001) != m:
            if ratio is not None or fields["lr_scheduler"] in ("cosine", "rex"):
                continue  # there cosine_min_lr_ratio also sets the inner schedule's floor
            fields = dict(fields, cosine_min_lr_ratio=m)
        for R in dict.fromkeys(guesses):
            if _whole(R) and R >= 1:
                yield dict(fields, jagged_restart_steps=int(R), jagged_restart_warmup_steps=W,
                           jagged_restart_anneal_steps=A)


def _text(fields: dict, schedule: Schedule, T: int, opts) -> str:
    import yaml

    cfg = {"learning_rate": float(schedule.peak), **fields, "max_steps": int(T)}
    words = " ".join(("Generated by lrplan", opts.version or "", "for axolotl from:", opts.source_label or "-"))
    head = ["# " + " ".join(words.split()),
            "# Merge into your axolotl config. max_steps is the schedule's length: the dataset must give at least",
            "# that many optimizer steps (axolotl caps its estimate at max_steps); warmup_steps is written even when",
            "# 0 (without it axolotl warms up for min(int(0.03 x steps), 100) steps)."]
    return "\n".join(head) + "\n" + yaml.safe_dump(cfg, sort_keys=False)


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "yaml"):
        raise LrplanError(f"unknown axolotl variant {opts.variant!r}", hint="the axolotl writer emits YAML")
    if schedule.peak_lr is None:
        raise LrplanError("axolotl needs learning_rate and the schedule has no peak LR", hint="pass --lr PEAK")
    if schedule.total is None:
        raise LrplanError("axolotl needs max_steps and the schedule has no run length", hint="pass --steps N")
    if schedule.axis.unit != "steps" or not _whole(schedule.total):
        raise InexpressibleError(f"axolotl counts whole optimizer steps; this schedule is on {schedule.axis.unit}",
                                 hint=HINT)
    if schedule.weight_decay or schedule.momentum or schedule.groups:
        raise InexpressibleError("axolotl's config has no weight-decay, momentum or LR-group curves",
                                 hint="drop them from the schedule")
    T = int(schedule.total)
    why = ("no axolotl lr_scheduler (HF's types, rex, cosine with cosine_min_lr_ratio / cosine_constant_lr_ratio "
           "or lr_quadratic_warmup) reproduces it")
    if schedule.scale is not None:
        why += " under jagged_restart_steps restarts matching its scale curve"
    seen = []
    for fields in (_jagged_candidates(schedule, T) if schedule.scale is not None else _inner_candidates(schedule, T)):
        if fields in seen:
            continue
        seen.append(fields)
        yield Candidate(_text(fields, schedule, T, opts), "yaml", (), name=repr(fields["lr_scheduler"]), why=why,
                        hint=HINT)
    if not seen:
        raise InexpressibleError("axolotl cannot express this schedule: " + why, hint=HINT)


FORMAT = Format("axolotl", "axolotl training YAML (lr_scheduler, warmup_steps/warmup_ratio, cosine_min_lr_ratio)",
                title="axolotl", detect=detect, read=read, write=write, suffix=".yaml", steps_only=True,
                lint="lrplan.frameworks.axolotl_lint",
                first_step_fix="axolotl's cosine and HF types warm up with k/W from 0; warmup_steps: 0 starts at "
                               "learning_rate")
