"""Known accidents and their signatures in a logged LR series, each checked against the plan exactly.

A signature is a transformation of the plan that reproduces the log within the log's precision at every
logged point it claims (never "looks similar"): the run's lr(k) equals

======================  ===========================================================================
constant LR             one value at every logged step, where the plan moves
peak LR mismatch        ``c * plan(k)`` for one factor c != 1
one-step shift          ``plan(k + 1)`` (ahead) or ``plan(k - 1)`` (behind)
LR-0 start              0 at update 0 where the plan is above 0
warmup restarted        ``plan(k)`` before update N and ``plan(k - N)`` from N on
GA× time compression    ``plan(G * k)``: the scheduler stepped G times per update
time stretched ×G       ``plan(k / G)``: the run's lengths counted in micro-batches
horizon mismatch        the plan with its part after the warmup stretched to another total T'
======================  ===========================================================================

Each diagnosis names the cause in the run's framework's own terms (the log says which framework wrote
it) and the fix. Candidates are screened on a probe of spread points and then verified on all points.
"""

from __future__ import annotations

import math

from . import Diagnosis, fmt_lr, matches

PROBE = 96
MAX_FACTOR = 256
MAX_RESTART_CANDIDATES = 2_000_000


def _plan(result):
    from ..evaluate import lr

    return lambda x: lr(result.schedule, x)


def _probe(n: int, extra=()) -> object:
    import numpy as np

    idx = np.unique(np.r_[np.linspace(0, n - 1, min(n, PROBE)).astype(np.int64), np.asarray(extra, dtype=np.int64)])
    return idx[(idx >= 0) & (idx < n)]


def _sub(series, idx):
    """A view of the series restricted to ``idx`` (for matches())."""
    from copy import copy

    s = copy(series)
    s.steps, s.lr = series.steps[idx], series.lr[idx]
    return s


def _explains(series, pred, valid, extra_rel) -> int:
    """Points explained: all valid points must match, else 0."""
    import numpy as np

    if not valid.any():
        return 0
    idx = np.flatnonzero(valid)
    ok = matches(_sub(series, idx), pred[idx] if pred.size == series.lr.size else pred, extra_rel)
    return int(idx.size) if ok.all() else 0


def _convert(result) -> str:
    from .. import frameworks

    fw = result.series.framework
    target = fw if fw in frameworks.MODULES and frameworks.get(fw).write is not None else "FRAMEWORK"
    return f"lrplan convert PLAN --to {target}"


# ---- the signatures ----------------------------------------------------------------------------------

def constant(result, extra_rel):
    import numpy as np

    s, planned = result.series, result.planned
    if s.lr.size < 3:
        return None
    v = float(s.lr[0])
    if not matches(s, np.full(s.lr.size, v), extra_rel).all():
        return None
    if np.ptp(planned) <= 2 * float(np.max(np.abs(planned))) * 1e-9:
        return None
    peak = result.schedule.peak
    if math.isclose(v, peak, rel_tol=1e-6):
        what = f"the peak LR {fmt_lr(v)}"
    elif v == 0:
        what = "LR 0 (nothing trained)"
    elif math.isclose(v, float(planned[0]), rel_tol=1e-6):
        what = f"the plan's first LR {fmt_lr(v)}"
    else:
        what = f"{fmt_lr(v)}"
    fw = s.framework
    cause = {"hf": "the Trainer ran lr_scheduler_type='constant' (or a custom optimizer passed without its "
                   "scheduler)",
             "megatron": "--lr-decay-style constant with no warmup, or an --override-opt_param-scheduler that "
                         "replaced the schedule",
             "deepspeed": "no scheduler section and no client lr_scheduler was given to deepspeed.initialize",
             "lightning": "configure_optimizers returned no lr_scheduler (or one with interval 'epoch' over a "
                          "run shorter than an epoch)"}.get(fw, "the scheduler never stepped (or steps another "
                                                               "optimizer than the one training)")
    return Diagnosis("constant LR", f"the run held {what} at all {s.lr.size:,} logged steps; the plan moves from "
                     f"{fmt_lr(float(planned.min()))} to {fmt_lr(float(planned.max()))} over them",
                     cause, f"attach the plan's scheduler to the optimizer and step it once per update "
                            f"({_convert(result)} prints the config)", {"value": v}, int(s.lr.size))


def peak_mismatch(result, extra_rel):
    import numpy as np

    s, planned = result.series, result.planned
    pos = planned > 0
    if pos.sum() < 2:
        return None
    c = float(np.median(s.lr[pos] / planned[pos]))
    if not c > 0 or math.isclose(c, 1.0, rel_tol=1e-9) or not matches(s, c * planned, extra_rel).all():
        return None
    peak = result.schedule.peak
    return Diagnosis("peak LR mismatch", f"every logged LR is {c:.6g} × the plan's (the run's peak {fmt_lr(c * peak)}, "
                     f"the plan's {fmt_lr(peak)})",
                     "a different peak LR (--lr / learning_rate), or an LR scaled by batch size or world size",
                     f"set the run's peak LR to {fmt_lr(peak)} (or the plan's, if the run is right)",
                     {"factor": c, "run_peak_lr": c * peak}, int(s.lr.size))


def shift(result, extra_rel):
    import numpy as np

    s, P = result.series, _plan(result)
    k = s.steps.astype(float)
    for d in (1, -1, 2, -2):
        valid = k + d >= 0
        if valid.sum() < 2:
            continue
        pred = np.zeros_like(k)
        pred[valid] = P(k[valid] + d)
        n = _explains(s, pred, valid, extra_rel)
        if n:
            return _shift_diagnosis(result, d, n)
    return None


def _shift_diagnosis(result, d: int, n: int) -> Diagnosis:
    s = result.series
    ahead = d > 0
    what = ("one-step shift" if abs(d) == 1 else f"{abs(d)}-step shift")
    evidence = (f"the run's LR at update k is the plan's at k{'+' if ahead else '-'}{abs(d)}, at all {n:,} logged "
                "steps it can be compared at")
    if s.framework == "hf" and s.offset == -1 and ahead and abs(d) == 1:
        cause = ("the log was read with the rule of transformers >= 4.51 (global_step g shows update g-1), but an "
                 "older transformers (<= 4.50) logs the next update's LR at each global_step")
        fix = "rerun with --set transformers_version=4.50 if the run used transformers <= 4.50; else its scheduler " \
              "runs one update ahead of the plan"
    elif s.framework == "hf" and s.offset == 0 and not ahead and abs(d) == 1:
        cause = ("the log was read with the <= 4.50 (or DeepSpeed) rule, global_step g = update g, but the run "
                 "logged the LR of the update just done (transformers >= 4.51)")
        fix = "rerun with --set transformers_version=4.51 (or without --set transformers_version)"
    elif ahead:
        cause = ("the run's scheduler is ahead of the plan: scheduler.step() ran before the first optimizer.step() "
                 "(torch warns about that order), or the run counts its warmup from k+1 where the plan counts "
                 "from k")
        fix = f"step the optimizer, then the scheduler, once per update ({_convert(result)} gives the exact config)"
    else:
        cause = ("the run's scheduler lags the plan: it is stepped after the LR is read (DeepSpeed's own "
                 "schedulers apply their first value to update 0 and f(k-1) after), or the plan counts from k+1 "
                 "where the run counts from k")
        fix = (f"{_convert(result)} writes the config that reproduces the plan under the framework's own "
               "counting; or shift the plan (shift=1)")
    return Diagnosis(what, evidence, cause, fix, {"shift": d}, n)


def lr0_start(result, extra_rel):
    s, planned = result.series, result.planned
    if s.first != 0 or s.lr[0] != 0.0 or planned[0] <= 0:
        return None
    from .. import frameworks

    fw = s.framework
    fix = frameworks.get(fw).first_step_fix if fw in frameworks.MODULES else ""
    fix = fix or ("start the warmup above 0 (init=0.01) or count it from k+1 (warmup=W(shift=1,span=W+1)); or, "
                  "if the run is right, write the plan's warmup from 0")
    return Diagnosis("LR-0 start", f"update 0 ran at LR 0; the plan gives it {fmt_lr(float(planned[0]))}",
                     "the run's warmup starts at LR 0 (k/W): its first update changes nothing but the optimizer "
                     "state", fix, {}, 1)


def restart(result, extra_rel):
    import numpy as np

    s, ok, P = result.series, result.ok, _plan(result)
    bad = np.flatnonzero(~ok)
    if not bad.size or (bad[0] == 0 and s.first == 0):
        return None
    i = int(bad[0])
    # The restart lies after the last agreeing point (or, for a log of the resumed part only, anywhere
    # from update 1 up to its first point).
    lo, hi = (int(s.steps[i - 1]) + 1 if i else 1), int(s.steps[i])
    if hi - lo + 1 > MAX_RESTART_CANDIDATES:
        return None
    cand = np.arange(lo, hi + 1, dtype=float)
    x = s.steps[i] - cand
    first = matches(_sub(s, np.full(cand.size, i)), P(x), extra_rel)
    k = s.steps.astype(float)
    for N in cand[first][:64]:
        after = k >= N
        pred = P(np.where(after, k - N, k))
        n = _explains(s, pred, after, extra_rel)
        if n:
            return _restart_diagnosis(result, int(N), n)
    return None


def _restart_diagnosis(result, N: int, n: int) -> Diagnosis:
    s = result.series
    fix = {"hf": "resume with trainer.train(resume_from_checkpoint=...), which loads scheduler.pt; a new Trainer "
                 "started from the weights alone restarts the schedule",
           "lightning": "resume with trainer.fit(model, ckpt_path=...), which restores the lr_schedulers",
           "megatron": "resume without --finetune (it resets the iteration to 0) and with the scheduler state "
                       "(no --no-load-optim; --use-checkpoint-opt_param-scheduler)",
           "deepspeed": "engine.load_checkpoint(..., load_lr_scheduler_states=True)"}.get(
        s.framework, "load the scheduler's state_dict with the optimizer's when resuming")
    before = (f"the run follows the plan up to update {N - 1:,}, then" if s.first < N else
              "the log starts after the restart:")
    return Diagnosis("warmup restarted", f"{before} from {s.where(N)} on it is the plan's curve started again from "
                     f"update 0 ({n:,} logged points after it match)",
                     f"the run was resumed at update {N:,} without its scheduler state, so the schedule began again",
                     fix + f"; `lrplan resume CHECKPOINT --plan PLAN` shows what a resume at {N:,} uses",
                     {"restart_step": N}, n)


def time_scale(result, extra_rel):
    import numpy as np

    s, P = result.series, _plan(result)
    k = s.steps.astype(float)
    total = result.plan_total
    for G in range(2, MAX_FACTOR + 1):
        for compress in (True, False):
            x = k * G if compress else k / G
            # Past the plan's end the run's scheduler does what its own code does there (HF's cosine
            # lambda comes back up, torch's CosineAnnealingLR cycles): only the points whose compressed
            # time is inside the plan are compared.
            valid = x <= total if (compress and total is not None) else np.ones(k.size, dtype=bool)
            if valid.sum() < 3:
                continue
            idx = _probe(int(valid.sum()))
            inside = np.flatnonzero(valid)[idx]
            if not matches(_sub(s, inside), P(x[inside]), extra_rel).all():
                continue
            n = _explains(s, P(x), valid, extra_rel)
            if n:
                return _scale_diagnosis(result, G, compress, n, int(k.size - n))
    return None


def _scale_diagnosis(result, G: int, compress: bool, n: int, past: int = 0) -> Diagnosis:
    s = result.series
    after = (f" (the {past:,} logged steps after update {result.plan_total // G:,} are past the plan's end at "
             f"{G}× speed, where the run's scheduler does what its code does beyond its total)" if past else "")
    if compress:
        cause = {"deepspeed": f"the scheduler is stepped {G} times per update: handed to deepspeed.initialize (the "
                              "engine steps it every update) and stepped by the training loop as well",
                 "hf": f"lr_scheduler.step() runs {G} times per optimizer update (a custom loop or callback "
                       "stepping it every micro-batch; the Trainer itself steps once per update)",
                 "lightning": f"the scheduler is stepped {G} times per update (manual optimization calling "
                              "sch.step() every batch with gradient accumulation)"}.get(
            s.framework, f"the scheduler is stepped once per micro-batch: {G} times per optimizer update "
                         f"(gradient accumulation {G}, or once per device)")
        return Diagnosis("GA× time compression", f"the run's LR at update k is the plan's at {G}·k, at all {n:,} "
                         f"logged steps{after}: the schedule ran {G}× too fast", cause,
                         "step the scheduler once per optimizer update, after optimizer.step() (inside the "
                         f"accumulation boundary, `if (i + 1) % {G} == 0`)", {"factor": G}, n)
    return Diagnosis("time stretched", f"the run's LR at update k is the plan's at k/{G}, at all {n:,} logged steps: "
                     f"the schedule runs {G}× too slow",
                     f"the run's schedule lengths (warmup, total) were counted in micro-batches or samples, {G}× "
                     "the optimizer updates the scheduler is stepped by (e.g. len(dataloader) × epochs without "
                     "dividing by the gradient accumulation steps)",
                     f"count warmup and total in optimizer updates (divide by {G})", {"factor": G}, n)


def horizon(result, extra_rel):
    """The plan with everything after its warmup stretched by r, so its end moves to another total."""
    import numpy as np

    from ..batch import step_of_position

    sched = result.schedule
    if sched.total is None:
        return None
    w = _warmup_end(sched)
    s = result.series
    k = s.steps.astype(float)
    from ..batch import position
    from ..ops import numpy_ops

    x = position(sched.axis, k, numpy_ops())
    after = x > w
    if after.sum() < 2 or sched.total <= w:
        return None
    idx = _probe(k.size, np.flatnonzero(after)[:: max(1, int(after.sum()) // PROBE)])
    sub = _sub(s, idx)
    T = float(sched.total)

    def score(r):
        pred = _stretched_lr(sched, w, r, k[idx])
        tol = np.maximum(_tol(sub, pred, extra_rel), 1e-300)
        return float(np.max(np.abs(sub.lr - pred) / tol))

    grid = np.geomspace(0.02, 50.0, 600)
    scores = np.array([score(r) for r in grid])
    best = float(grid[int(np.argmin(scores))])
    lo, hi = best / 1.02, best * 1.02
    for _ in range(60):  # golden-section refinement
        a, b = lo + (hi - lo) * 0.382, lo + (hi - lo) * 0.618
        if score(a) < score(b):
            hi = b
        else:
            lo = a
    r = (lo + hi) / 2
    new_total = w + (T - w) * r
    # whole totals first (a run's total is a whole number of steps), then the fitted value itself
    for t in sorted({round(new_total) + d for d in (0, -1, 1, -2, 2)}, key=lambda t: abs(t - new_total)) + [new_total]:
        if t <= w or math.isclose(t, T, rel_tol=1e-12):
            continue
        rr = (t - w) / (T - w)
        pred = _stretched_lr(sched, w, rr, k)
        n = _explains(s, pred, np.ones(k.size, dtype=bool), extra_rel)
        if n:
            run_total = math.ceil(step_of_position(sched.axis, t))
            return _horizon_diagnosis(result, run_total, n)
    return None


def _tol(series, pred, extra_rel):
    from . import tolerance_of

    return tolerance_of(series, pred, extra_rel)


def _horizon_diagnosis(result, run_total: int, n: int) -> Diagnosis:
    s = result.series
    plan_total = result.plan_total
    field = {"hf": "max_steps (or num_train_epochs × updates per epoch)", "megatron": "--train-iters / "
             "--lr-decay-iters", "deepspeed": "total_num_steps", "lightning": "the scheduler's total (e.g. "
             "trainer.estimated_stepping_batches)"}.get(s.framework, "the scheduler's total steps")
    stated = s.meta.get("planned_total")
    also = f" (the log itself says {stated:,})" if isinstance(stated, int) else ""
    return Diagnosis("horizon mismatch", f"the run follows the plan's shape with its end at update {run_total:,} "
                     f"instead of {plan_total:,}{also}, at all {n:,} logged steps",
                     f"the run's schedule was set up for {run_total:,} updates: {field} differ from the plan",
                     f"set {field} to give {plan_total:,} updates ({_convert(result)} prints the config), or, if "
                     f"the run is right, plan for {run_total:,} (--steps {run_total})",
                     {"run_total_steps": run_total, "plan_total_steps": plan_total}, n)


def _warmup_end(sched) -> float:
    segs = sched.lr.segments
    if segs[0].label == "warmup" and segs[0].end is not None:
        return float(segs[0].end)
    return 0.0


LENGTH_PARAMS = {"exp": ("every",), "invsqrt": ("timescale",), "restarts": ("cycle",), "cyclic": ("up", "down"),
                 "inverse-time": ("every",), "multistep": ("milestones",)}


def stretch(sched, w: float, r: float):
    """``sched`` with every position after ``w`` moved to ``w + (x - w) * r`` (lengths scaled by r)."""
    from dataclasses import replace

    from ..ir import Curve

    def f(x):
        return None if x is None else (x if x <= w else w + (x - w) * r)

    segs = []
    for seg in sched.lr.segments:
        if seg.start < w:
            segs.append(seg)
            continue
        params = dict(seg.params)
        for name in LENGTH_PARAMS.get(seg.kind, ()):
            v = params[name]
            params[name] = tuple(x * r for x in v) if isinstance(v, tuple) else v * r
        segs.append(replace(seg, start=f(seg.start), end=f(seg.end), params=tuple(params.items()),
                            origin=None if seg.origin is None else w + (seg.origin - w) * r,
                            span=None if seg.span is None else seg.span * r))
    return sched.with_(lr=Curve(tuple(segs), sched.lr.after), total=f(sched.total), weight_decay=None,
                       momentum=None, groups=())


def _stretched_lr(sched, w, r, k):
    from ..evaluate import lr

    return lr(stretch(sched, w, r), k)


ORDER = (constant, peak_mismatch, shift, restart, time_scale, horizon)


def diagnose(result, extra_rel=None) -> list[Diagnosis]:
    """Every signature that explains all the points it claims, most specific first; LR-0 start as well when
    it holds (it names the first point only)."""
    from ..errors import LrplanError

    out = []
    for find in ORDER:
        try:
            d = find(result, extra_rel)
        except LrplanError:  # a transformed plan that is no valid schedule (e.g. a stretch past a limit)
            d = None
        if d is not None:
            out.append(d)
            break
    z = lr0_start(result, extra_rel)
    if z is not None:
        out.append(z)
    return out
