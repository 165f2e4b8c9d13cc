"""Composer / llm-foundry train YAML -> Schedule IR, with Composer's one-batch lag.

Two config forms (both detected from the file):

* **llm-foundry** train YAML (``scripts/train/train.py``): ``scheduler: {name: cosine_with_warmup, t_warmup:
  100ba, alpha_f: 0.1}`` -- ``name`` is looked up in ``llmfoundry.registry.schedulers`` and the rest are the
  class's keyword arguments; ``max_duration``, ``global_train_batch_size``, ``max_seq_len``,
  ``optimizer.lr``. OmegaConf ``${variables.x}`` references are resolved.
* **Composer YAML** of the yahp era (Composer <= 0.11): ``schedulers:`` a list of ``{name: kwargs}``
  (a single mapping is accepted too) with the names of ``scheduler_hparams_registry.py``;
  ``max_duration``, ``train_batch_size``, ``scale_schedule_ratio``, ``optimizers: {name: {lr: ...}}``.

Step convention (mosaicml 0.32.1 ``trainer.py`` ``_train_loop``): after the optimizer step of batch k the
trainer calls ``scheduler.step()`` -- a LambdaLR whose lambda evaluates ``alpha(state)`` at the timestamp
of batch k, not yet incremented -- and only then advances ``state.timestamp``. So update k uses
``alpha(t)`` at ``t = max(k - 1, 0)``: updates 0 and 1 share ``alpha(0)`` (0 under a warmup), and the last
update of a T-batch run sees ``t = T - 2``, so the run never uses ``alpha_f`` itself. The IR is the t-space
curve shifted right by one batch, with ``alpha(0)`` on ``[0, 1)``.
"""

from __future__ import annotations

import re

from ...errors import LrplanError, did_you_mean
from ...evaluate import curve_value
from ...ir import Axis, ConstantBatch, Curve, Level, Schedule, Segment
from ...values import number
from ..base import Loaded, ReadOptions
from .schedulers import (
    ARGS,
    BOOL_ARGS,
    BUILDERS,
    LIST_ARGS,
    LLMFOUNDRY,
    REQUIRED,
    TIME_ARGS,
    YAHP,
    Args,
    Span,
)
from .timestr import Clock, Time, parse_time

DOCS = "see docs/frameworks/composer.md"
LLMF_MARKERS = ("max_duration", "global_train_batch_size", "device_train_microbatch_size", "train_loader",
                "max_seq_len", "optimizer")


# ---- the YAML and its ${...} references -------------------------------------------------------------------

def parse_yaml(text: str, path) -> dict:
    import yaml
    from ...yamlsafe import safe_load

    try:
        data = safe_load(text)  # bounded: no alias bombs
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise LrplanError(f"not valid YAML{at}: {getattr(e, 'problem', None) or e}",
                          where=str(path) if path else "Composer YAML") from None
    if not isinstance(data, dict):
        raise LrplanError("a Composer / llm-foundry config is a YAML mapping", where=str(path) if path else None)
    return data


_REF = re.compile(r"\$\{([^}]*)\}")


def resolve(config: dict, value, where: str, _depth: int = 0):
    """OmegaConf-style ``${a.b}`` references of a value (absolute paths from the root; no resolvers)."""
    if not isinstance(value, str) or "${" not in value:
        return value
    if _depth > 20:
        raise LrplanError("the ${...} references go round in a circle", where=where)
    whole = _REF.fullmatch(value.strip())
    if whole:
        return resolve(config, _lookup(config, whole.group(1), where), where, _depth + 1)
    return _REF.sub(lambda m: str(resolve(config, _lookup(config, m.group(1), where), where, _depth + 1)), value)


def _lookup(config: dict, ref: str, where: str):
    ref = ref.strip()
    if ":" in ref or ref.startswith("."):
        raise LrplanError(f"${{{ref}}} uses an OmegaConf resolver or a relative reference, which lrplan does not"
                          " evaluate", where=where, hint="write the value itself in the YAML")
    cur = config
    for part in ref.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise LrplanError(f"${{{ref}}} refers to a key the config does not have", where=where)
    return cur


def _get(config: dict, dotted: str):
    cur = config
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return resolve(config, cur, dotted)


# ---- detection --------------------------------------------------------------------------------------------

def _scheduler_entries(config: dict) -> tuple[str, list[tuple[str, object, str]]] | None:
    """('llm-foundry' | 'yahp', [(name, kwargs, where), ...]) of the config's scheduler section, or None."""
    sched = config.get("scheduler")
    if isinstance(sched, dict) and "name" in sched:
        return "llm-foundry", [(sched.get("name"), {k: v for k, v in sched.items() if k != "name"}, "scheduler")]
    scheds = config.get("schedulers")
    if isinstance(scheds, dict):
        return "yahp", [(k, v, f"schedulers.{k}") for k, v in scheds.items()]
    if isinstance(scheds, list):
        out = []
        for i, item in enumerate(scheds):
            if not isinstance(item, dict) or len(item) != 1:
                raise LrplanError("each entry is a one-key mapping {name: {kwargs}}", where=f"schedulers[{i}]",
                                  hint="e.g. - cosine_decay_with_warmup: {t_warmup: 100ba}")
            (k, v), = item.items()
            out.append((k, v, f"schedulers[{i}].{k}"))
        return "yahp", out
    return None


def detect(text: str, path) -> int:
    if len(text) > 2_000_000 or ("scheduler" not in text):
        return 0
    t = text.lstrip()
    if t.startswith(("--", "[")):
        return 0
    try:
        config = parse_yaml(text, path)
        found = _scheduler_entries(config)
    except LrplanError:
        return 0
    if found is None:
        return 0
    form, entries = found
    names = LLMFOUNDRY if form == "llm-foundry" else YAHP
    if entries and all(isinstance(n, str) and n in names for n, _, _ in entries):
        return 8
    return 6 if "max_duration" in config or any(k in config for k in LLMF_MARKERS) else 0


# ---- reading ----------------------------------------------------------------------------------------------



def _first_dataset(config: dict, key: str):
    """``train_loader.<key>`` (llm-foundry), else ``train_dataset.<name>.<key>`` (yahp)."""
    v = _get(config, f"train_loader.{key}")
    if v is None and isinstance(config.get("train_dataset"), dict):
        for sub in config["train_dataset"].values():
            if isinstance(sub, dict) and key in sub:
                return resolve(config, sub[key], f"train_dataset.{key}")
    return v


class _Run:
    """max_duration, batch and dataloader facts of the config, with --set / --steps fill-ins."""

    def __init__(self, config: dict, opts: ReadOptions, notes: list[str], raw: dict) -> None:
        self.config, self.opts, self.notes = config, opts, notes
        md = _get(config, "max_duration")
        if md is None and opts.steps is not None:
            from ...quantity import parse_count

            md = f"{int(parse_count(opts.steps, integer=True))}ba"
            notes.append(f"max_duration {md} from --steps (the config has none)")
            raw["_defaults_applied"].append("max_duration")
        if md is None:
            raise LrplanError("the config has no max_duration, which every Composer schedule is relative to",
                              where="max_duration", hint="pass --steps N (N batches)")
        if isinstance(md, int) and not isinstance(md, bool):
            md = f"{md}ep"  # Trainer: ensure_time(max_duration, TimeUnit.EPOCH)
        self.max_raw = parse_time(md, "max_duration")
        if self.max_raw.unit in ("dur", "sec", "iter"):
            raise LrplanError(f"max_duration {md!r} must be in ba, ep, sp or tok", where="max_duration")
        ssr = _get(config, "scale_schedule_ratio")
        self.ssr = 1.0 if ssr is None else number(ssr, "scale_schedule_ratio", positive=True, text=True)
        scaled = Time(type(self.max_raw.value)(self.max_raw.value * self.ssr), self.max_raw.unit)
        if scaled.value == 0:
            raise LrplanError("scale_schedule_ratio reduces max_duration to 0 (Composer raises ValueError)",
                              where="scale_schedule_ratio")
        if self.ssr != 1.0:
            notes.append(f"scale_schedule_ratio {self.ssr:g}: max_duration {self.max_raw} becomes {scaled}")
        self.batch = self._batch()
        self.clock = Clock(scaled, self._dataloader_len(), self.ssr)

    def _batch(self) -> int | None:
        b = self.opts.positive_int("batch_size")
        if b is not None:
            return b
        for key in ("global_train_batch_size", "train_batch_size"):
            v = _get(self.config, key)
            if v is not None:
                return int(number(v, key, integer=True, positive=True, text=True))
        return None

    def _dataloader_len(self) -> int | None:
        n = self.opts.positive_int("batches_per_epoch")
        if n is not None:
            self.notes.append(f"{n} batches per epoch (batches_per_epoch)")
            return n
        size = self.opts.positive_int("dataset_size")
        sub = _get(self.config, "train_subset_num_batches")
        sub = None if sub is None else int(number(sub, "train_subset_num_batches", minimum=None, integer=True,
                                                  text=True))
        length = None
        if size is not None:
            if self.batch is None:
                raise LrplanError("--set dataset_size needs the global batch size, which the config does not say",
                                  where="global_train_batch_size", hint="pass --set batch_size=N too")
            world = self.opts.positive_int("world_size") or 1
            device = self.batch // world
            if device <= 0 or self.batch % world:
                raise LrplanError(f"global batch {self.batch} does not split over world_size {world}",
                                  where="global_train_batch_size")
            drop = _first_dataset(self.config, "drop_last")
            drop = bool(drop) if isinstance(drop, bool) else False
            per_rank = -(-size // world)  # DistributedSampler(drop_last=False) pads to ceil(N / world)
            length = per_rank // device if drop else -(-per_rank // device)
            self.notes.append(f"{length} batches per epoch = {'floor' if drop else 'ceil'}(ceil({size} / {world}) "
                              f"/ {device}) (dataset_size {size}, world_size {world}, drop_last {drop}); pass "
                              "--set batches_per_epoch=N for the exact len(train_dataloader)")
        if sub is not None and sub > 0:
            length = sub if length is None else min(sub, length)
            self.notes.append(f"train_subset_num_batches {sub}: {length} batches per epoch")
        return length

    def seq_len(self) -> int | None:
        s = self.opts.positive_int("seq_len")
        if s is not None:
            return s
        for v, key in ((_get(self.config, "max_seq_len"), "max_seq_len"),
                       (_first_dataset(self.config, "max_seq_len"), "train_dataset.max_seq_len")):
            if v is not None:
                return int(number(v, key, integer=True, positive=True, text=True))
        return None


def _peak(config: dict, opts: ReadOptions, raw: dict) -> float | None:
    lr = _get(config, "optimizer.lr")
    where = "optimizer.lr"
    opt = config.get("optimizers")
    if lr is None and isinstance(opt, dict) and len(opt) == 1:
        (name, params), = opt.items()
        if isinstance(params, dict) and params.get("lr") is not None:
            lr, where = resolve(config, params["lr"], f"optimizers.{name}.lr"), f"optimizers.{name}.lr"
    if lr is None:
        if opts.lr is not None:
            raw["_defaults_applied"].append("optimizer.lr")
        return opts.lr
    return number(lr, where, positive=True, text=True)


def _kwargs(config: dict, cls: str, kw, where: str) -> dict:
    if kw is None:
        kw = {}
    if not isinstance(kw, dict):
        raise LrplanError(f"the arguments of {cls} must be a mapping", where=where)
    names = dict(ARGS[cls])
    out = {}
    for k, v in kw.items():
        if k not in names:
            raise LrplanError(f"{cls} takes no argument {k!r} (Composer raises TypeError)", where=f"{where}.{k}",
                              hint=did_you_mean(str(k), names, noun="argument"))
        v = resolve(config, v, f"{where}.{k}")
        if k in TIME_ARGS:
            parse_time(v, f"{where}.{k}")
        elif k in BOOL_ARGS:
            if not isinstance(v, bool):
                raise LrplanError(f"must be true or false, got {v!r}", where=f"{where}.{k}")
        elif k in LIST_ARGS:
            if not isinstance(v, list):
                raise LrplanError("must be a list of time strings", where=f"{where}.{k}")
            v = [resolve(config, m, f"{where}.{k}") for m in v]
            for m in v:
                parse_time(m, f"{where}.{k}")
        else:
            v = number(v, f"{where}.{k}", minimum=None, text=True)
            if k in ("alpha", "alpha_i", "alpha_f", "alpha_f_decay", "alpha_f_cooldown", "gamma") and v < 0:
                raise LrplanError(f"{k} cannot be negative for lrplan (an LR below 0)", where=f"{where}.{k}")
            if k in ("power", "t_mult") and not v > 0:
                raise LrplanError(f"{k} must be positive", where=f"{where}.{k}")
        out[k] = v
    for k, default in names.items():
        if k not in out:
            if default is REQUIRED:
                raise LrplanError(f"{cls} needs {k!r} (Composer raises TypeError)", where=f"{where}.{k}")
            out[k] = default
    return out


def _units(cls: str, kw: dict, clock: Clock) -> set[str]:
    """The units Composer compares this scheduler's times in (after ep/dur conversion)."""
    out = set()
    md = clock.max_duration.unit
    times = [kw[k] for k in TIME_ARGS if k in kw] + list(kw.get("milestones") or [])
    for t in times + [str(clock.max_duration)]:
        u = parse_time(t, "time").unit
        u = (md if u == "dur" else u)
        out.add("ba" if u == "ep" else u)
    return out


def _span(units: set[str], run: _Run) -> tuple[Span, Axis, list[str]]:
    notes = []
    if units <= {"ba"}:
        return Span("ba", {"ba": 1}), Axis(), notes
    B = run.batch
    if B is None:
        raise LrplanError("times in samples or tokens need the global batch size", where="global_train_batch_size",
                          hint="set global_train_batch_size (train_batch_size), or pass --set batch_size=N")
    if "tok" not in units:
        notes.append(f"samples axis: {B} samples per batch (a constant global batch; a partial last batch "
                     "would shift every later sample count)")
        return Span("sp", {"ba": B, "sp": 1}), Axis("samples", ConstantBatch(B)), notes
    S = run.seq_len()
    if S is None:
        raise LrplanError("times in tokens need the tokens per sample", where="max_seq_len",
                          hint="set max_seq_len, or pass --set seq_len=N")
    notes.append(f"tokens axis: {B} samples x {S} tokens per batch; llm-foundry counts non-padding tokens, so "
                 "this assumes no padding")
    return Span("tok", {"ba": B * S, "sp": S, "tok": 1}), Axis("tokens", ConstantBatch(B), S), notes


def _shift(seg: Segment, lag: float) -> Segment:
    return Segment(seg.kind, seg.start + lag, None if seg.end is None else seg.end + lag, seg.a, seg.b, seg.params,
                   origin=seg.tau0 + lag, span=seg.span, label=seg.label)


def lagged(t_curve: Curve, lag: float, total: float | None) -> Curve:
    """The IR of a t-space curve under Composer's one-batch lag: alpha(0) on [0, lag), the rest shifted."""
    alpha0 = curve_value(t_curve, 1.0, 0.0)
    segs = [Segment("constant", 0.0, lag, Level(alpha0), label="lag")]
    for seg in t_curve.segments:
        s = _shift(seg, lag)
        if s.label == "warmup" and total is not None and (s.end is None or s.end > total):
            s = Segment(s.kind, s.start, s.end, s.a, s.b, s.params, origin=s.origin, span=s.span, label="ramp")
        segs.append(s)
    return Curve(tuple(segs), t_curve.after)


def step_name(k: int) -> str:
    if k == 0:
        return "Composer's LRMonitor never logs update 0's LR (update 1 uses the same one, logged at batch 1)"
    return f"Composer's LRMonitor logs this LR at batch {k} (at the end of batch {k - 1})"


def from_config(config: dict, opts: ReadOptions | None = None, label: str = "Composer YAML") -> Loaded:
    opts = ReadOptions() if opts is None else opts
    found = _scheduler_entries(config)
    if found is None:
        raise LrplanError("no scheduler: section (llm-foundry) and no schedulers: list (Composer YAML)",
                          hint=DOCS)
    form, entries = found
    notes: list[str] = []
    raw = dict(config, _defaults_applied=[], _form=form)
    every = _get(config, "step_schedulers_every_batch")
    if every is False:
        raise LrplanError("step_schedulers_every_batch: false steps the schedulers once per epoch; lrplan reads "
                          "Composer schedules stepped every batch (the default)", where="step_schedulers_every_batch")
    peak = _peak(config, opts, raw)
    run = _Run(config, opts, notes, raw)
    if not entries:
        s = Schedule(Curve((Segment("constant", 0.0, None, Level(1.0), label="constant"),)), peak_lr=peak,
                     total=_total(run, Span("ba", {"ba": 1})))
        return Loaded(s, "composer", label, ("no schedulers: the LR is constant",), step_name, raw)
    if len(entries) > 1:
        notes.append(f"{len(entries)} schedulers: each is its own LambdaLR writing initial_lr x its alpha, so the"
                     f" last ({entries[-1][0]}) sets every LR (they do not stack, whatever the docstring says)")
    name, kw, where = entries[-1]
    names = LLMFOUNDRY if form == "llm-foundry" else YAHP
    if not isinstance(name, str) or name not in names:
        other = YAHP if form == "llm-foundry" else LLMFOUNDRY
        also = (f"; {name!r} is a name of the {'Composer (yahp)' if form == 'llm-foundry' else 'llm-foundry'} "
                "registry, not this one") if isinstance(name, str) and name in other else ""
        raise LrplanError(f"unknown scheduler {name!r}{also}", where=where if form == "yahp" else "scheduler.name",
                          hint=did_you_mean(str(name), names, noun="scheduler"))
    cls = names[name]
    kw = _kwargs(config, cls, kw, where)
    units = _units(cls, kw, run.clock)
    sp, axis, axis_notes = _span(units, run)
    notes += axis_notes
    total = _total(run, sp)

    def parse(field, value):
        return parse_time(value, f"{where}.{field}")

    def convert(field, value, ssr):
        given = parse(field, value)
        t = run.clock.convert(given, f"{where}.{field}", ssr=ssr)
        if given.unit in ("dur", "ep") and (field, str(value)) not in {c[:2] for c in conversions}:
            conversions.append((field, str(value), str(t), t.value))
        if given.unit == "dur":
            exact = t.value == given.value * run.clock.max_in("ba").value or run.clock.max_duration.unit != "ep" \
                and t.value == given.value * run.clock.max_duration.value
            how = [] if exact else ["int() truncates"]
            how += [] if run.ssr == 1.0 else ["not scaled by scale_schedule_ratio"]
            notes.append(f"{field} {value} of max_duration {run.clock.max_duration} is {t}"
                         + (f" ({'; '.join(how)})" if how else ""))
        elif given.unit == "ep":
            notes.append(f"{field} {value} is {t} ({run.clock.dataloader_len} batches per epoch)")
        return t

    conversions: list = []
    args = Args(cls, kw, convert, parse, where, total)
    segs = BUILDERS[cls](args, sp, run.clock)
    t_curve = Curve(tuple(segs), "hold")
    lag = float(sp.per["ba"])
    curve = lagged(t_curve, lag, total)
    schedule = Schedule(curve, peak_lr=peak, total=total, axis=axis)
    notes.append(f"{cls} ({name!r}); Composer lags one batch: update k uses alpha at batch max(k - 1, 0), so "
                 "updates 0 and 1 share one LR and the run ends one batch short of the schedule's end")
    if peak is None:
        notes.append("no optimizer lr: the curve is a multiplier of the optimizer's LR (pass --lr)")
    raw["_defaults_applied"] += [f"{where}.{k}" for k in dict(ARGS[cls]) if k not in (entries[-1][1] or {})]
    raw["_scheduler"] = {"class": cls, "name": name, "where": where, "kwargs": kw}
    raw["_max_duration"] = str(run.clock.max_duration)
    raw["_conversions"] = conversions  # (field, as written, as Composer converts it, value) of dur / ep times
    raw["_scale_schedule_ratio"] = run.ssr
    raw["_schedulers"] = [n for n, _, _ in entries]
    return Loaded(schedule, "composer", label, tuple(dict.fromkeys(notes)), step_name, raw)


def _total(run: _Run, sp: Span) -> float:
    md = run.clock.max_in("ba")
    if md.unit == "ba":
        return float(md.value * sp.per["ba"])
    if md.unit not in sp.per:  # max_duration in tok on a samples axis cannot happen: tok forces the tokens axis
        raise LrplanError(f"max_duration in {md.unit} needs the {md.unit} per batch", where="max_duration")
    return float(md.value * sp.per[md.unit])


def read(text: str, path, opts: ReadOptions) -> Loaded:
    config = parse_yaml(text, path)
    return from_config(config, opts, str(path) if path else "Composer YAML")

