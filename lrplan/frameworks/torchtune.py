"""torchtune: recipe YAML ``lr_scheduler: {_component_: ...get_cosine_schedule_with_warmup, ...}``, read and written.

torchtune has one schedule, ``get_cosine_schedule_with_warmup`` (``torchtune/training/lr_schedulers.py``,
PyPI 0.6.1; ``torchtune.modules.lr_schedulers`` before PR #1801, 2024-10), a LambdaLR whose factor for
``last_epoch == k`` is

* ``k / max(1, W)`` for ``k < W`` (update 0 at LR 0; torchtune issue #2010),
* ``max(0, 0.5 * (1 + cos(pi * num_cycles * 2 * p)))``, ``p = (k - W) / max(1, N - W)``, with no clamp
  past N (with num_cycles 0.5 the cosine rises again after the run).

``W = num_warmup_steps`` (YAML); ``num_training_steps = N`` and ``last_epoch`` are injected by the recipe
(v0.6.1 lora_finetune_single_device L328-343, full_finetune_distributed L370-384, ...):
``N = epochs * steps_per_epoch``, ``steps_per_epoch = len(dataloader) // gradient_accumulation_steps``
capped by ``max_steps_per_epoch``; the dataloader uses a DistributedSampler (``ceil(samples / world)``
per rank) and ``drop_last=True`` (``floor(per_rank / batch_size)`` batches). The recipes call
``optimizer.step(); lr_scheduler.step()`` once per ``gradient_accumulation_steps`` micro-batches, so
update k uses the factor at k: lrplan's step k, no shift. ``base`` is ``optimizer.lr``.
"""

from __future__ import annotations

import math

from ..errors import InexpressibleError, LrplanError
from ..ir import ONE, ZERO, Curve, Schedule, Segment
from ..values import number
from .base import Candidate, Format, Loaded, ReadOptions

COMPONENT = "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup"
OLD_COMPONENT = "torchtune.modules.lr_schedulers.get_cosine_schedule_with_warmup"  # before torchtune 0.4
ARGS = {"num_warmup_steps": None, "num_cycles": 0.5}  # YAML keywords (num_warmup_steps is required)
INJECTED = ("num_training_steps", "last_epoch")  # the recipe passes these; in the YAML they are a TypeError
DOCS = "see docs/frameworks/torchtune.md"
HINT = ("torchtune has one scheduler (a k/W warmup then a cosine over the run); for any other curve pass "
        "--to torch and put the emitted LambdaLR in lr_scheduler._component_")


def step_name(k: int) -> str:
    return f"torchtune's recipe counts this update as global_step {k + 1}"


# ---- reading ------------------------------------------------------------------------------------------------


def parse(text: str, path=None) -> dict:
    from ..yamlsafe import load_mapping

    return load_mapping(text, "a torchtune config", str(path or "torchtune YAML"))


def _component(node) -> str:
    return str(node.get("_component_", "")) if isinstance(node, dict) else ""


def detect(text: str, path) -> int:
    if ("_component_" not in text and "max_steps_per_epoch" not in text) or len(text) > 2_000_000:
        return 0
    try:
        data = parse(text)
    except LrplanError:
        return 0
    if _component(data.get("lr_scheduler")).startswith("torchtune."):
        return 9
    optim = data.get("optimizer")
    if isinstance(optim, dict) and (_component(optim) or "lr" in optim) and "max_steps_per_epoch" in data:
        return 7  # a recipe config without a scheduler (constant LR), or lrplan's fragment of one
    return 0


def _num(v, where: str, **kw):
    return number(v, where, text=True, hint=DOCS, **kw)


def _literal(v, where: str):
    if isinstance(v, str) and "${" in v:
        raise LrplanError(f"{v!r} is an interpolation; lrplan reads literal values here", where=where,
                          hint="write the number itself in the config")
    return v




def total_steps(data: dict, opts: ReadOptions, notes: list[str]) -> int:
    """num_training_steps = epochs * steps_per_epoch, as the recipe computes it."""
    if opts.steps is not None:
        from ..quantity import parse_count

        N = int(parse_count(opts.steps, integer=True))
        notes.append(f"num_training_steps = {N} from --steps")
        return N
    epochs = _num(_literal(data.get("epochs", 1), "epochs"), "epochs", integer=True, positive=True)
    GA = _num(_literal(data.get("gradient_accumulation_steps", 1), "gradient_accumulation_steps"),
              "gradient_accumulation_steps", integer=True, positive=True)
    cap = _literal(data.get("max_steps_per_epoch"), "max_steps_per_epoch")
    cap = None if cap is None else _num(cap, "max_steps_per_epoch", integer=True, positive=True)
    spe = opts.positive_int("steps_per_epoch")
    n = opts.positive_int("dataset_size")
    if spe is None and n is not None:
        world = opts.positive_int("world_size") or 1
        bs = opts.positive_int("batch_size")
        if bs is None:
            if data.get("batch_size") is None:
                raise LrplanError("batch_size is not set", where="batch_size", hint="pass --set batch_size=N")
            bs = _num(_literal(data["batch_size"], "batch_size"), "batch_size", integer=True, positive=True)
        batches = math.ceil(n / world) // bs  # DistributedSampler per rank, DataLoader(drop_last=True)
        spe = batches // GA
        notes.append(f"steps per epoch = ({batches} batches per rank // gradient_accumulation_steps {GA}) = {spe} "
                     f"(dataset_size {n}, world_size {world}, batch_size {bs}, drop_last)")
    if spe is not None:
        if cap is not None and cap < spe:
            spe = cap
            notes.append(f"max_steps_per_epoch {cap} caps the steps per epoch")
        N = epochs * spe
        notes.append(f"num_training_steps = epochs {epochs} x {spe} steps per epoch = {N}")
        return N
    if cap is not None:
        N = epochs * cap
        notes.append(f"num_training_steps = epochs {epochs} x max_steps_per_epoch {cap} = {N}, assuming each epoch "
                     f"has at least {cap} optimizer steps (len(dataloader) // gradient_accumulation_steps; "
                     "--set dataset_size=N [world_size=W] computes it)")
        return N
    raise LrplanError("the run length depends on the dataset: num_training_steps = epochs x (len(dataloader) // "
                      "gradient_accumulation_steps), and max_steps_per_epoch is null", where="max_steps_per_epoch",
                      hint="pass --steps N, --set steps_per_epoch=N, or --set dataset_size=N [world_size=W]")


def cosine_schedule(W: int, N: int, cycles: float, base: float) -> Schedule:
    """get_cosine_schedule_with_warmup(W, N, num_cycles) as IR."""
    segs = []
    if W > 0:  # current_step / max(1, W)
        segs.append(Segment("linear", 0.0, float(W), ZERO, ONE, label="warmup" if W < N else "ramp"))
    span = max(1, N - W)  # the cosine's progress divides by max(1, N - W)
    segs.append(Segment("cosine", float(W), float(W + span), ONE, ZERO, (("cycles", float(cycles)),),
                        label="decay"))
    return Schedule(Curve(tuple(segs), "continue"), peak_lr=float(base), total=float(N))


def from_config(data: dict, opts: ReadOptions = ReadOptions(), label: str = "torchtune config") -> Loaded:
    notes: list[str] = []
    optim = data.get("optimizer")
    if not isinstance(optim, dict):
        raise LrplanError("no optimizer section: not a torchtune recipe config", where="optimizer",
                          hint="a torchtune config has optimizer: {_component_, lr} and lr_scheduler: {...}")
    raw = dict(data, _defaults_applied=[])
    lr = _literal(optim.get("lr"), "optimizer.lr")
    if lr is None:
        if opts.lr is None:
            raise LrplanError("the optimizer LR is not set", where="optimizer.lr", hint="pass --lr PEAK")
        lr = opts.lr
        raw["_defaults_applied"].append("optimizer.lr")
    base = _num(lr, "optimizer.lr", positive=True)
    sched = data.get("lr_scheduler")
    N = total_steps(data, opts, notes)
    if sched is None:
        notes.append("no lr_scheduler: the LR stays at optimizer.lr (full_finetune_single_device allows this; the "
                     "LoRA recipes read cfg.lr_scheduler and fail without it)")
        s = Schedule(Curve((Segment("constant", 0.0, None, ONE, label="constant"),)), peak_lr=base, total=float(N))
        return Loaded(s, "torchtune", label, tuple(notes), step_name, raw)
    if not isinstance(sched, dict):
        raise LrplanError(f"must be a mapping, got {type(sched).__name__}", where="lr_scheduler")
    comp = _component(sched)
    if comp not in (COMPONENT, OLD_COMPONENT):
        got = comp or "a mapping without _component_"
        raise LrplanError(f"lrplan reads torchtune's own scheduler ({COMPONENT}), not {got}",
                          where="lr_scheduler._component_",
                          hint="for a torch scheduler, read its state from a checkpoint or write it as a spec")
    args = {k: v for k, v in sched.items() if k != "_component_"}
    for k in args:
        if k in INJECTED:
            raise LrplanError(f"{k} is passed by the recipe (config.instantiate(cfg.lr_scheduler, optimizer, "
                              f"num_training_steps=..., last_epoch=...)): in the YAML it is a TypeError (multiple "
                              "values)", where=f"lr_scheduler.{k}", hint="remove it; set epochs/max_steps_per_epoch")
        if k not in ARGS:
            raise LrplanError(f"get_cosine_schedule_with_warmup takes no argument {k!r} (TypeError)",
                              where=f"lr_scheduler.{k}", hint="accepted: num_warmup_steps, num_cycles")
    if args.get("num_warmup_steps") is None:
        raise LrplanError("num_warmup_steps is required", where="lr_scheduler.num_warmup_steps")
    W = _num(_literal(args["num_warmup_steps"], "lr_scheduler.num_warmup_steps"), "lr_scheduler.num_warmup_steps",
             integer=True)
    cycles = _num(_literal(args.get("num_cycles", 0.5), "lr_scheduler.num_cycles"), "lr_scheduler.num_cycles",
                  positive=True)
    raw["_sched"] = {"num_warmup_steps": W, "num_cycles": cycles, "num_training_steps": N}
    if W >= N:
        notes.append(f"warning: num_warmup_steps {W} is not shorter than the run ({N} steps): the LR rises for the "
                     "whole run and never reaches optimizer.lr")
    elif W > 0:
        notes.append(f"torchtune warms up with k/{W}: the first update uses LR 0 (issue #2010)")
    if cycles == 0.5:
        notes.append("past num_training_steps the cosine is not clamped (it rises again); a run of that length "
                     "never uses it")
    return Loaded(cosine_schedule(W, N, cycles, base), "torchtune", label, tuple(notes), step_name, raw)


def read(text: str, path, opts: ReadOptions) -> Loaded:
    return from_config(parse(text, path), opts, str(path) if path else "torchtune config")


# ---- writing ------------------------------------------------------------------------------------------------


def _whole(x) -> bool:
    return x is not None and float(x).is_integer()


def _guess(schedule: Schedule, T: int):
    """(W, num_cycles) or None when the curve has no torchtune form (the constant case: W None)."""
    segs = schedule.lr.segments
    if len(segs) == 1 and segs[0].kind == "constant" and segs[0].a == ONE:
        return "constant", 0, 0.5
    s = segs[0]
    W = 0
    if s.kind == "linear" and s.a == ZERO and s.b == ONE and _whole(s.end) and len(segs) > 1:
        W = int(s.end)
        s = segs[1]
    if s.kind == "cosine":
        return "cosine", W, dict(s.params).get("cycles", 0.5)
    return None


def _why(schedule: Schedule) -> str:
    segs = schedule.lr.segments
    parts = []
    for s in segs:
        if s.kind == "cosine" and s.b.resolve(schedule.peak) != 0:
            parts.append(f"a cosine to {s.b.resolve(schedule.peak):g}")
        elif s.kind == "linear" and s is segs[0] and s.tau0 != 0:
            parts.append("a (k+1)-style warmup")
        elif s.kind not in ("linear", "cosine"):
            parts.append(f"{'an' if s.kind[:1] in 'aeiou' else 'a'} {s.kind} phase")
    if len(segs) > 1 and segs[-1].kind == "constant" and schedule.total and segs[-1].start < schedule.total:
        parts.append("a constant tail")
    what = ", ".join(dict.fromkeys(parts)) or "its pieces (" + ", ".join(s.kind for s in segs) + ")"
    return ("torchtune's get_cosine_schedule_with_warmup is a k/W linear warmup then one cosine to 0 over the rest of "
            f"the run (num_warmup_steps, num_cycles); this schedule has {what}")


def _config(schedule: Schedule, form: str, W: int, cycles: float, T: int) -> dict:
    cfg: dict = {"optimizer": {"lr": float(schedule.peak)}}
    if form == "cosine":
        sched = {"_component_": COMPONENT, "num_warmup_steps": int(W)}
        if cycles != 0.5:
            sched["num_cycles"] = float(cycles)
        cfg["lr_scheduler"] = sched
    cfg["epochs"] = 1
    cfg["max_steps_per_epoch"] = int(T)
    return cfg


def _text(cfg: dict, opts, form: str) -> str:
    import yaml

    words = " ".join(("Generated by lrplan", opts.version or "", "for torchtune from:", opts.source_label or "-"))
    head = ["# " + " ".join(words.split()),
            "# Merge into your recipe config (keep optimizer._component_ and the rest). num_training_steps = epochs x",
            "# min(len(dataloader) // gradient_accumulation_steps, max_steps_per_epoch): the dataset must give at least",
            "# max_steps_per_epoch optimizer steps per epoch."]
    if form == "constant":
        head.append("# No lr_scheduler: a constant LR (full_finetune_single_device; the LoRA recipes require one).")
    return "\n".join(head) + "\n" + yaml.safe_dump(cfg, sort_keys=False)


def write(schedule: Schedule, opts):
    if opts.variant not in (None, "yaml"):
        raise LrplanError(f"unknown torchtune variant {opts.variant!r}", hint="the torchtune writer emits YAML")
    if schedule.peak_lr is None:
        raise LrplanError("torchtune needs optimizer.lr and the schedule has no peak LR", hint="pass --lr PEAK")
    if schedule.total is None:
        raise LrplanError("torchtune needs the run length and the schedule has none", hint="pass --steps N")
    if schedule.axis.unit != "steps" or not _whole(schedule.total):
        raise InexpressibleError("torchtune's scheduler counts whole optimizer steps; this schedule is on "
                                 f"{schedule.axis.unit}", hint=HINT)
    if schedule.weight_decay or schedule.momentum or schedule.groups:
        raise InexpressibleError("torchtune's lr_scheduler has no weight-decay, momentum or LR-group curves",
                                 hint="drop them from the schedule")
    T = int(schedule.total)
    guess = _guess(schedule, T)
    why = _why(schedule)
    if guess is not None:
        form, W, cycles = guess
        yield Candidate(_text(_config(schedule, form, W, cycles, T), opts, form), "yaml", (),
                        name="get_cosine_schedule_with_warmup" if form == "cosine" else "no lr_scheduler",
                        why=why, hint=HINT)
    # the nearest member: the same warmup length (a k/W rise) and a cosine to 0 over the rest
    segs = schedule.lr.segments
    W = int(segs[0].end) if len(segs) > 1 and segs[0].end is not None and _whole(segs[0].end) \
        and segs[0].end < T and segs[0].label in ("warmup", "ramp") else 0
    yield Candidate(_text(_config(schedule, "cosine", W, 0.5, T), opts, "cosine"), "yaml", (),
                    name="get_cosine_schedule_with_warmup", why=why, hint=HINT, approx=True)


def _write(schedule, opts):
    return write(schedule, opts)


FORMAT = Format("torchtune", "torchtune recipe YAML (lr_scheduler._component_ get_cosine_schedule_with_warmup)",
                title="torchtune", detect=detect, read=read, write=_write, suffix=".yaml", steps_only=True,
                first_step_fix="torchtune's only scheduler warms up with k/W from 0; set num_warmup_steps: 0 to "
                               "start at optimizer.lr")
