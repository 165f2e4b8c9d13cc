"""timm (pytorch-image-models) ``train.py``: its schedule flags or its ``args.yaml`` <-> Schedule IR.

Checked against timm 1.0.31 (``timm/scheduler/scheduler_factory.py`` ``create_scheduler_v2`` /
``scheduler_kwargs``, ``cosine_lr.py``, ``tanh_lr.py``, ``poly_lr.py``, ``step_lr.py``, ``multistep_lr.py``,
``scheduler.py``) and the repository's ``train.py`` at aa4b5850 (argparse defaults, the training loop).

Sources: a command line (``./distributed_train.sh 8 --model resnet50 --sched cosine --epochs 200 ...``; only
the schedule flags are read, every other flag is skipped) or the ``args.yaml`` train.py writes next to its
checkpoints (``yaml.safe_dump(args.__dict__)``, argparse dests as keys). Missing keys take train.py's
defaults (TRAIN_DEFAULTS), which differ from the factory's own (``--lr-cycle-decay`` 0.5, ``--decay-epochs`` 90).

Step convention (train.py ``train_one_epoch`` and the epoch loop): the scheduler's constructor sets the
first LR (``warmup_lr`` when there is a warmup, else the base LR). Per epoch (the default,
``t_in_epochs=True``): after epoch e the loop calls ``lr_scheduler.step(e + 1)``, so epoch e >= 1 runs at
``_get_lr(e)`` -- one constant per epoch, ``updates_per_epoch`` updates long. With ``--sched-on-updates``
every update calls ``step_update(num_updates)`` after incrementing it, so update k >= 1 uses
``_get_lr(k)``, with ``t_initial``, ``warmup_t``, ``decay_t`` and milestones multiplied by
``updates_per_epoch``. Either way lrplan needs ``updates_per_epoch`` = ceil(len(loader_train) /
grad_accum_steps): ``--set updates_per_epoch=N``.

Writing (``convert --to timm``, see "writing" below and docs/frameworks/timm.md): an args.yaml fragment (or, with
``--variant flags``, train.py flags) per epoch for a staircase of whole epochs, else ``--sched-on-updates``; the
gate reads each candidate back with ``read`` above.
"""

from __future__ import annotations

import bisect
import itertools
import math
import shlex

from ..errors import LrplanError, did_you_mean
from ..ir import Curve, Level, Schedule, Segment
from ..values import number
from .base import Candidate, Format, LintRule, Loaded, ReadOptions

# train.py argparse defaults, 'Learning rate schedule parameters' group (+ batch/accumulation/optimizer).
TRAIN_DEFAULTS = {
    "sched": "cosine", "sched_on_updates": False, "lr": None, "lr_base": 0.1, "lr_base_size": 256,
    "lr_base_scale": "", "lr_noise": None, "lr_noise_pct": 0.67, "lr_noise_std": 1.0, "lr_cycle_mul": 1.0,
    "lr_cycle_decay": 0.5, "lr_cycle_limit": 1, "lr_k_decay": 1.0, "warmup_lr": 1e-5, "min_lr": 0.0,
    "epochs": 300, "epoch_repeats": 0.0, "start_epoch": None, "decay_milestones": [90, 180, 270],
    "decay_epochs": 90.0, "warmup_epochs": 5, "warmup_prefix": False, "cooldown_epochs": 0, "patience_epochs": 10,
    "decay_rate": 0.1, "batch_size": 128, "grad_accum_steps": 1, "opt": "sgd",
}
# flag -> (dest, kind): kind "bool" (store_true), "list" (nargs='+'), or a type
FLAGS = {f"--{k.replace('_', '-')}": k for k in TRAIN_DEFAULTS}
FLAGS.update({"--dr": "decay_rate", "-b": "batch_size"})
BOOLS = {"sched_on_updates", "warmup_prefix"}
LISTS = {"lr_noise": float, "decay_milestones": int}
INTS = {"lr_base_size", "lr_cycle_limit", "epochs", "start_epoch", "warmup_epochs", "cooldown_epochs",
        "patience_epochs", "batch_size", "grad_accum_steps"}
STRS = {"sched", "lr_base_scale", "opt"}
SCHEDS = ("cosine", "tanh", "step", "multistep", "poly", "constant", "plateau", "wsd", "rsqrt", "none")
DOCS = "see docs/frameworks/timm.md"


# ---- the text -----------------------------------------------------------------------------------------------

def _flags(text: str) -> dict:
    try:
        words = shlex.split(text, comments=True)
    except ValueError as e:
        raise LrplanError(f"cannot split the command line: {e}", where="timm command line") from None
    out: dict = {}
    i = 0
    while i < len(words):
        w = words[i]
        name, _, inline = w.partition("=") if w.startswith("--") else (w, "", "")
        dest = FLAGS.get(name)
        i += 1
        if dest is None:
            continue  # a model / data / augmentation flag, or a positional: not part of the schedule
        if dest in BOOLS:
            out[dest] = True
            continue
        values = [inline] if inline else []
        while i < len(words) and not (words[i].startswith("-") and not _is_number(words[i])) and \
                (not values or dest in LISTS):
            values.append(words[i])
            i += 1
        if not values:
            raise LrplanError(f"{name} needs a value", where=name)
        out[dest] = values if dest in LISTS else values[0]
    return out


def _is_number(w: str) -> bool:
    try:
        float(w)
        return True
    except ValueError:
        return False


def _parse(text: str) -> tuple[dict, str]:
    body = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    first = body[0] if body else ""  # comment lines (a fixture's header, lrplan's own) decide nothing
    if first.startswith(("--", "./", "python", "torchrun", "sh ", "bash ")) or "train.py" in first \
            or any("distributed_train.sh" in ln for ln in body):
        return _flags(text), "command line"
    import yaml

    from ..yamlsafe import safe_load

    try:
        data = safe_load(text)  # bounded: no alias bombs
    except yaml.YAMLError as e:
        raise LrplanError(f"not valid YAML: {getattr(e, 'problem', None) or e}", where="args.yaml") from None
    if not isinstance(data, dict):
        raise LrplanError("a timm args.yaml is a mapping of train.py's arguments", where="args.yaml")
    return data, "args.yaml"


def detect(text: str, path) -> int:
    if len(text) > 1_000_000:
        return 0
    flagged = "--sched" in text or ("--warmup-epochs" in text and "--model" in text)
    yamlish = "sched:" in text and "warmup_epochs:" in text
    if not (flagged or yamlish):
        return 0
    try:
        cfg, _ = _parse(text)
    except LrplanError:
        return 0
    if "sched" in cfg and ("epochs" in cfg or "warmup_epochs" in cfg or flagged):
        return 8
    return 0


# ---- the arguments -------------------------------------------------------------------------------------------

def _where(key: str, form: str) -> str:
    return f"--{key.replace('_', '-')}" if form == "command line" else key


def resolve(cfg: dict, form: str) -> dict:
    """train.py's args: the given ones typed and checked, the others at train.py's defaults."""
    a = dict(TRAIN_DEFAULTS)
    for k, v in cfg.items():
        if k not in TRAIN_DEFAULTS:
            continue  # args.yaml holds every train.py argument; only the schedule's are read
        w = _where(k, form)
        if v is None:
            a[k] = None
        elif k in BOOLS:
            a[k] = v if isinstance(v, bool) else str(v).lower() in ("true", "1")
        elif k in LISTS:
            items = v if isinstance(v, list) else [v]
            a[k] = [number(x, w, minimum=None, text=True, integer=LISTS[k] is int) for x in items]
        elif k in STRS:
            a[k] = str(v)
        else:
            a[k] = number(v, w, minimum=None, text=True, integer=k in INTS)
    if a["sched"] not in SCHEDS:
        raise LrplanError(f"unknown scheduler {a['sched']!r} (timm 1.0.31 raises ValueError)", where=_where("sched", form),
                          hint=did_you_mean(a["sched"], SCHEDS, noun="scheduler"))
    return a


def _refuse(a: dict, form: str) -> None:
    w = lambda k: _where(k, form)
    if a["lr_noise"] is not None:
        raise LrplanError("timm multiplies the LR by seeded random noise (1 + N(0, lr_noise_std) clipped to "
                          "lr_noise_pct) inside the noise range: the LR of a step is a random draw, not a schedule, so "
                          "lrplan does not read it", where=w("lr_noise"), hint="drop --lr-noise to read the schedule "
                                                                                "underneath it")
    if a["sched"] == "plateau":
        raise LrplanError("plateau follows the eval metric (ReduceLROnPlateau): no schedule to read",
                          where=w("sched"))
    if a["sched"] in ("wsd", "rsqrt"):
        raise LrplanError(f"lrplan does not read timm's {a['sched']} scheduler yet", where=w("sched"), hint=DOCS)
    if a["epoch_repeats"]:
        raise LrplanError("epoch_repeats changes the loader length; give the resulting updates_per_epoch and "
                          "drop it", where=w("epoch_repeats"))
    if a["start_epoch"] not in (None, 0):
        raise LrplanError("a run resumed at start_epoch: read the args of the first run", where=w("start_epoch"))


# ---- the scheduler, as create_scheduler_v2 builds it ---------------------------------------------------------

class Sched:
    """The scheduler's constructor arguments in its own units (epochs, or updates with --sched-on-updates)."""

    def __init__(self, a: dict, U: int) -> None:
        self.kind, self.v = a["sched"], a["lr"]
        m = 1 if not a["sched_on_updates"] else U
        self.t_initial, self.warmup_t = a["epochs"] * m, a["warmup_epochs"] * m
        self.decay_t, self.cooldown_t = a["decay_epochs"] * m, a["cooldown_epochs"] * m
        self.milestones = sorted(d * m for d in a["decay_milestones"])
        self.init, self.prefix = a["warmup_lr"], a["warmup_prefix"]
        self.lr_min, self.rate = a["min_lr"], a["decay_rate"]
        self.mul, self.cdecay, self.limit, self.k = a["lr_cycle_mul"], a["lr_cycle_decay"], a["lr_cycle_limit"], \
            a["lr_k_decay"]
        if self.kind == "constant":
            self.kind, self.decay_t, self.rate = "step", 1, 1.0
        if self.kind == "multistep":
            self.prefix = a["warmup_prefix"]
        self.step_on_epochs, self.U = not a["sched_on_updates"], U

    def first(self) -> float:
        """What the constructor sets: warmup_lr_init with a warmup, else the base LR."""
        return self.init if self.warmup_t and self.kind != "none" else self.v

    def lr(self, t):
        """``_get_lr(t)`` in timm's own order of operations."""
        if self.kind == "none":
            return self.v
        if t < self.warmup_t:
            # tanh_lr.py: without warmup_prefix the warmup climbs to _get_lr(warmup_t), not to the base LR
            top = self.lr(self.warmup_t) if self.kind == "tanh" and not self.prefix else self.v
            return self.init + t * ((top - self.init) / self.warmup_t)
        if self.prefix:
            t = t - self.warmup_t
        if self.kind == "step":
            return self.v * (self.rate ** (t // self.decay_t))
        if self.kind == "multistep":
            return self.v * (self.rate ** bisect.bisect_right(self.milestones, t + 1))
        T = self.t_initial
        if self.mul != 1:
            i = math.floor(math.log(1 - t / T * (1 - self.mul), self.mul))
            t_i = self.mul ** i * T
            t_curr = t - (1 - self.mul ** i) / (1 - self.mul) * T
        else:
            i = t // T
            t_i = T
            t_curr = t - (T * i)
        lr_max = self.v * self.cdecay ** i
        if i >= self.limit:
            return self.lr_min
        if self.kind == "cosine":
            return self.lr_min + 0.5 * (lr_max - self.lr_min) * (1 + math.cos(math.pi * t_curr ** self.k / t_i ** self.k))
        if self.kind == "poly":
            return self.lr_min + (lr_max - self.lr_min) * (1 - t_curr ** self.k / t_i ** self.k) ** self.rate
        tr = t_curr / t_i  # tanh, lb -7, ub 3 (the factory passes neither)
        return self.lr_min + 0.5 * (lr_max - self.lr_min) * (1 - math.tanh(-7.0 * (1.0 - tr) + 3.0 * tr))

    def run_epochs(self) -> int:
        """The ``num_epochs`` create_scheduler_v2 returns (the length of train.py's epoch loop)."""
        if self.kind in ("cosine", "tanh", "poly"):
            cycles = max(1, self.limit)
            if self.mul == 1.0:
                t = self.t_initial * cycles
            else:
                t = math.floor(-self.t_initial * (self.mul ** cycles - 1) / (1 - self.mul))
            t = (t + self.warmup_t if self.prefix else t) + self.cooldown_t
            return t if self.step_on_epochs else t // self.U
        epochs = self.t_initial if self.step_on_epochs else self.t_initial // self.U
        warm = self.warmup_t if self.step_on_epochs else self.warmup_t // self.U
        return epochs + warm if self.prefix else epochs  # cooldown is ignored here (as in timm)


def _epoch_curve(s: Sched, E: int) -> Curve:
    """One constant per epoch (equal neighbours merged): epoch 0 the constructor's LR, epoch e _get_lr(e)."""
    values = [s.first()] + [s.lr(e) for e in range(1, E + 1)]  # epoch E: past the run (the hold)
    segs: list[Segment] = []
    start = 0
    for e in range(1, E + 2):
        if e <= E and values[e] == values[start]:
            continue
        end = None if e > E else float(e * s.U)
        label = "warmup" if e <= s.warmup_t else "epochs"
        segs.append(Segment("constant", float(start * s.U), end, Level(values[start], absolute=True), label=label))
        start = e
    return Curve(tuple(segs), "hold")


def _update_curve(s: Sched, where) -> Curve:
    """Closed forms for per-update stepping (cosine / step / multistep / constant, one cycle)."""
    v, W = Level(s.v, absolute=True), s.warmup_t
    segs = []
    if W:
        segs.append(Segment("linear", 0.0, float(W), Level(s.init, absolute=True), v, label="warmup"))
    origin = float(W) if s.prefix else 0.0
    if s.kind == "cosine":
        if s.k != 1.0 or s.limit < 1 or (s.limit != 1 and (s.mul != 1.0 or not s.cdecay > 0)):
            raise LrplanError("lrplan reads --sched-on-updates cosine with lr_k_decay 1, and more than one cycle only "
                              "with lr_cycle_mul 1 and a positive lr_cycle_decay", hint=DOCS,
                              where=where("lr_k_decay" if s.k != 1.0 else "lr_cycle_limit" if s.limit < 1 else
                                          "lr_cycle_mul" if s.mul != 1.0 else "lr_cycle_decay"))
        end = origin + s.t_initial * s.limit
        if end <= W:
            raise LrplanError("the warmup outlasts the cosine (warmup_epochs >= epochs without warmup_prefix)",
                              where=where("warmup_epochs"))
        low = Level(s.lr_min, absolute=True)
        if s.limit == 1:
            segs.append(Segment("cosine", float(W), end, v, low, origin=origin, span=float(s.t_initial),
                                label="decay"))
        else:  # cycle i: lr_max = lr * lr_cycle_decay ** i, t_curr = t - i * t_initial (i = t // t_initial)
            segs.append(Segment("restarts", float(W), end, v, low, origin=origin, label="cycles", params=(
                ("cycle", float(s.t_initial)), ("mult", 1.0), ("decay", float(s.cdecay)))))
        segs.append(Segment("constant", end, None, low, label="floor"))
    elif s.kind == "step":
        segs.append(Segment("exp", float(W), None, v, params=(("rate", s.rate), ("every", float(s.decay_t)),
                                                              ("staircase", True)), origin=origin, label="steps"))
    elif s.kind == "multistep":
        ms = tuple(float(m - 1) for m in s.milestones)  # decays at t == m - 1 (timm's t + 1)
        segs.append(Segment("multistep", float(W), None, v, params=(("milestones", ms), ("gammas", (s.rate,) * len(ms))),
                            origin=origin, label="steps"))
    else:
        raise LrplanError(f"lrplan reads --sched-on-updates only for cosine, step, multistep and constant, not "
                          f"{s.kind}", where=where("sched"), hint="per-epoch stepping reads every scheduler")
    return Curve(tuple(segs), "hold")


def step_name(k: int) -> str:
    return f"timm: update {k} (num_updates {k} before it; step_update({k + 1}) runs after it)"


def read(text: str, path, opts: ReadOptions) -> Loaded:
    cfg, form = _parse(text)
    a = resolve(cfg, form)
    _refuse(a, form)
    notes = []
    raw = {"_form": form, "_args": a, "_defaults_applied": [k for k in TRAIN_DEFAULTS if k not in cfg]}
    if a["lr"] is None:
        if opts.lr is None:
            raise LrplanError("no --lr: train.py then derives it from lr_base x (global batch / lr_base_size) at run "
                              "time", where=_where("lr", form), hint="pass --lr (the value train.py logs)")
        a["lr"] = opts.lr
        raw["_defaults_applied"].append("lr")
    a["lr"] = number(a["lr"], _where("lr", form), positive=True, text=True)
    U = opts.get("updates_per_epoch")
    if U is None and form == "args.yaml" and cfg.get("updates_per_epoch") is not None:
        U = cfg["updates_per_epoch"]  # not a train.py argument: a fact the user added to the file for lrplan
        notes.append(f"updates_per_epoch {U} from the file (lrplan's key, not train.py's)")
    if U is None:
        raise LrplanError("lrplan counts optimizer updates and the args do not say how many an epoch has",
                          where="updates_per_epoch", hint="pass --set updates_per_epoch=N (ceil(len(loader_train) "
                                                           "/ grad_accum_steps), train.py logs the loader length), "
                                                           "or add updates_per_epoch: N to args.yaml")
    U = int(number(U, "--set updates_per_epoch", integer=True, positive=True, text=True))
    s = Sched(a, U)
    if s.kind in ("cosine", "tanh", "poly") and not s.t_initial > 0:
        raise LrplanError("epochs must be positive (timm asserts t_initial > 0)", where=_where("epochs", form))
    if s.kind == "step" and not s.decay_t > 0:
        raise LrplanError("decay_epochs must be positive (timm divides by it)", where=_where("decay_epochs", form))
    E = s.run_epochs()
    if E <= 0:
        raise LrplanError("the run has no epochs", where=_where("epochs", form))
    where = lambda k: _where(k, form)
    curve = _epoch_curve(s, E) if s.step_on_epochs else _update_curve(s, where)
    notes.append(f"{E} epochs x {U} updates = {E * U} updates" + (
        "; per-epoch stepping: one LR per epoch (epoch 0 runs at the constructor's value, epoch e at _get_lr(e))"
        if s.step_on_epochs else "; --sched-on-updates: update k uses _get_lr(k)"))
    if a["warmup_epochs"] and not a["warmup_prefix"] and s.kind in ("cosine", "tanh", "poly"):
        notes.append("warmup_prefix is off: the decay counts from epoch 0, so it is already under way when the "
                     "warmup ends (a kink at the peak)")
    if s.kind in ("step", "multistep") and a["cooldown_epochs"]:
        notes.append("cooldown_epochs is ignored by timm for step / multistep / constant")
    schedule = Schedule(curve, peak_lr=a["lr"], total=float(E * U))
    return Loaded(schedule, "timm", str(path) if path else f"timm {form}", tuple(notes), step_name, raw)


# ---- writing: lrplan -> train.py args --------------------------------------------------------------------------
#
# timm counts whole epochs (train.py's argparse: --epochs, --warmup-epochs, --cooldown-epochs and
# --decay-milestones are int, --decay-epochs is float), so every phase boundary must be a whole number of epochs
# of U = updates_per_epoch updates. Two steppings, both train.py's:
#  * --sched-on-updates (update k uses _get_lr(k), every *_epochs x U): a linear warmup from warmup_lr to lr,
#    then cosine (one cycle, lr_k_decay 1) / step / multistep / constant, as closed forms;
#  * per epoch (the default): a staircase of whole epochs; cosine / tanh / poly / step / multistep / constant
#    candidates are derived from its epoch values and the gate keeps the one that reproduces it.
# U is the target run's fact (--set updates_per_epoch=N); without it, the largest U that makes every boundary a
# whole number of epochs, written into the file as lrplan's key and said in its header.

HINT = "pass --approx for the nearest timm args and their largest deviation, or --to torch (any curve, exactly)"
UPE = "updates_per_epoch"
MAX_EPOCHS = 100_000  # a staircase of more epochs than this is not searched for per-epoch args


class _NoMatch(Exception):
    """The schedule is not of this form; the message says why, in timm's field names."""


class Plan:
    """train.py's schedule args with every *_epochs value in the scheduler's units: updates with
    sched_on_updates, epochs without (create_scheduler_v2 multiplies by updates_per_epoch)."""

    def __init__(self, sched: str, on_updates: bool, lr: float, **kw) -> None:
        self.sched, self.on_updates, self.lr = sched, on_updates, lr
        self.warmup, self.warmup_lr, self.prefix = kw.get("warmup", 0), kw.get("warmup_lr", 0.0), kw.get("prefix", False)
        self.t_initial, self.cooldown, self.min_lr = kw.get("t_initial", 0), kw.get("cooldown", 0), kw.get("min_lr", 0.0)
        self.decay_t, self.milestones, self.rate = kw.get("decay_t", 1.0), tuple(kw.get("milestones", ())), \
            kw.get("rate", 0.1)
        self.mul, self.cdecay, self.limit, self.k = kw.get("mul", 1.0), kw.get("cdecay", 0.5), kw.get("limit", 1), \
            kw.get("k", 1.0)

    def name(self) -> str:
        return f"--sched {self.sched}" + (" --sched-on-updates" if self.on_updates else " (per epoch)")

    def quantities(self) -> list[float]:
        """The values that must be whole epochs (in the scheduler's units)."""
        return [self.warmup, self.t_initial, self.cooldown, *self.milestones]


def _whole(x: float) -> bool:
    return float(x).is_integer()


SHAPES_RISING = ("linear", "cosine", "1-sqrt", "log", "poly", "exp-anneal")


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _num(x: float) -> str:
    return str(int(x)) if _whole(x) else repr(float(x))


def _decay_epochs(decay_t: float, m: int) -> float:
    """--decay-epochs d with d * m == decay_t exactly (create_scheduler_v2 multiplies), when a float has it."""
    d = decay_t / m
    for cand in (d, math.nextafter(d, math.inf), math.nextafter(d, -math.inf)):
        if cand * m == decay_t:
            return cand
    return d


def args_of(p: Plan, U: int) -> tuple[dict, list[str]]:
    """train.py's args (argparse dests, in the order args.yaml lists them) and the values that are not whole epochs."""
    m = U if p.on_updates else 1
    unit = "updates" if p.on_updates else "epochs"
    problems: list[str] = []

    def epochs(field: str, x: float) -> int:
        if _whole(x) and int(x) % m == 0:
            return int(x) // m
        near = max(round(x / m), 0)
        problems.append(f"{field}: {_num(x)} {unit} is not a whole number of epochs of {U} updates (nearest "
                        f"{field} {near} = {near * m} {unit})")
        return near

    a = {"sched": p.sched, "sched_on_updates": p.on_updates, "lr": p.lr, "epochs": epochs("epochs", p.t_initial),
         "warmup_epochs": epochs("warmup_epochs", p.warmup)}
    if a["warmup_epochs"]:
        a["warmup_lr"] = p.warmup_lr
    a["warmup_prefix"] = p.prefix
    if p.sched in ("cosine", "tanh", "poly"):
        a["min_lr"] = p.min_lr
        a["cooldown_epochs"] = epochs("cooldown_epochs", p.cooldown)
        a.update(lr_cycle_mul=p.mul, lr_cycle_decay=p.cdecay, lr_cycle_limit=p.limit)
        if p.sched != "tanh":
            a["lr_k_decay"] = p.k
    if p.sched == "step":
        a["decay_epochs"] = _decay_epochs(p.decay_t, m)
    if p.sched == "multistep":
        a["decay_milestones"] = [epochs("decay_milestones", x) for x in p.milestones]
    if p.sched in ("step", "multistep", "poly"):
        a["decay_rate"] = p.rate
    a["lr_noise"] = None
    return a, problems


# -- the per-update forms --

def _is_warmup(seg: Segment, peak: float) -> bool:
    return seg.kind == "linear" and seg.end is not None and seg.origin is None and seg.span is None \
        and seg.param("form") == "mix" and seg.a.resolve(peak) < seg.b.resolve(peak)


def match_updates(s: Schedule) -> Plan:
    """The --sched-on-updates args whose curve this is, or _NoMatch saying which part timm has no form for."""
    peak, segs, total = s.peak, list(s.lr.segments), float(s.total)
    W, init = 0.0, 0.0
    if len(segs) > 1 and _is_warmup(segs[0], peak):
        head = segs.pop(0)
        W, init = head.end, head.a.resolve(peak)
    body, rest = segs[0], segs[1:]
    v = body.a.resolve(peak)
    if not W and rest and body.end is not None and body.b.resolve(peak) > v and body.kind in SHAPES_RISING:
        raise _NoMatch(f"{_a(body.kind)} warmup (timm's warmup is a straight line from warmup_lr to lr, "
                       "warmup_epochs long)")
    if W and segs and v != head.b.resolve(peak):
        raise _NoMatch(f"a warmup to {head.b.resolve(peak):g} and a next phase from {v:g} (timm's warmup climbs from "
                       "warmup_lr to lr, where the schedule starts)")
    if not v > 0:
        raise _NoMatch("a phase at LR 0 after the warmup (timm's lr is positive)")
    o = body.tau0
    if o not in (0.0, W):
        raise _NoMatch(f"{_a(body.kind)} phase counted from {o:g} (timm counts from update 0, or from the end of the "
                       "warmup with warmup_prefix)")
    prefix = bool(W) and o == W
    common = {"warmup": W, "warmup_lr": init, "prefix": prefix}
    if body.kind == "cosine":
        if body.param("cycles") != 0.5 or body.param("exponent") != 1.0:
            raise _NoMatch("a cosine with cycles or an exponent (timm's cosine is one half period, lr_k_decay 1 per "
                           "update)")
        lo, T = body.b.resolve(peak), body.span_value
        if lo > v:
            raise _NoMatch("a rising cosine (timm's cosine decays from lr to min_lr)")
        if body.end != o + T:
            raise _NoMatch("a cosine cut off before its end (timm's cosine runs its whole epochs, then holds min_lr "
                           "for cooldown_epochs)")
        if any(r.kind != "constant" or r.a.resolve(peak) != lo for r in rest):
            raise _NoMatch(f"{_a(rest[0].kind)} phase after the cosine (timm holds min_lr there, cooldown_epochs)")
        return Plan("cosine", True, v, **common, t_initial=T, cooldown=total - (o + T), min_lr=lo)
    if body.kind == "restarts":
        T, lo = body.param("cycle"), body.b.resolve(peak)
        if body.param("mult") != 1.0:
            raise _NoMatch("restarts with a cycle multiplier (lrplan reads timm's lr_cycle_mul per update only as 1)")
        cycles = (body.end - o) / T if body.end is not None else 0.5
        if not _whole(cycles) or lo > v:
            raise _NoMatch("restarts cut off inside a cycle (timm runs lr_cycle_limit whole cycles, then holds "
                           "min_lr for cooldown_epochs)")
        if any(r.kind != "constant" or r.a.resolve(peak) != lo for r in rest):
            raise _NoMatch(f"{_a(rest[0].kind)} phase after the restarts (timm holds min_lr there, cooldown_epochs)")
        return Plan("cosine", True, v, **common, t_initial=T, cooldown=total - body.end, min_lr=lo,
                    limit=int(cycles), cdecay=body.param("decay"))
    if rest and all(seg.kind == "constant" for seg in s.lr.segments):
        raise _NoMatch("a staircase of constant phases that is neither whole epochs (per-epoch stepping) nor one of "
                       "timm's schedulers per epoch")
    if rest:
        raise _NoMatch(f"{_a(rest[0].kind)} phase after the {body.kind} (timm's step, multistep and constant run "
                       "to the end)")
    run = total - (W if prefix else 0.0)
    if body.kind == "constant":
        return Plan("constant", True, v, warmup=W, warmup_lr=init, t_initial=total)
    if body.kind == "exp" and body.param("rate") == 1.0:  # a staircase that never decays: timm's constant
        return Plan("constant", True, v, warmup=W, warmup_lr=init, t_initial=total)
    if body.kind == "exp" and not body.param("bounded"):
        rate, every = body.param("rate"), body.param("every")
        if not body.param("staircase"):  # at whole updates, rate ** (k / every) is a staircase of one update
            rate, every = rate ** (1.0 / every), 1.0
        return Plan("step", True, v, **common, t_initial=run, decay_t=every, rate=rate)
    if body.kind == "multistep":
        ms, gs = body.param("milestones"), body.param("gammas")
        if len(set(gs)) != 1:
            raise _NoMatch(f"multistep factors {list(gs)} (timm's multistep has one decay_rate)")
        if not all(_whole(x) and x >= 1 for x in ms):
            raise _NoMatch("a multistep decay at update 0 or between updates")
        # bisect_right(milestones, t + 1): a milestone of m updates decays at t = m - 1
        return Plan("multistep", True, v, **common, t_initial=run, milestones=[x + 1 for x in ms], rate=gs[0])
    word = {"linear": "a linear decay (timm's poly with decay_rate 1 is 1 - t/T, which lrplan does not read per "
                      "update)", "poly": "a poly decay per update (lrplan reads timm's poly per epoch only)"}
    raise _NoMatch(word.get(body.kind, f"{_a(body.kind)} phase (timm's per-update schedulers: cosine, step, multistep, "
                                       "constant; per epoch: a staircase of whole epochs)"))


# -- the per-epoch forms: a staircase of whole epochs --

def epoch_values(s: Schedule, U: int) -> list[float] | None:
    """The LR of each epoch 0..E (E = the run's epochs; the last one past the run), when the curve is a staircase
    of whole epochs of U updates; else None."""
    import numpy as np

    from ..evaluate import lr

    if any(seg.kind != "constant" for seg in s.lr.segments):
        return None
    if not all(_whole(b) and int(b) % U == 0 for b in s.lr.boundaries() + [s.total]):
        return None
    E = int(s.total) // U
    if E > MAX_EPOCHS:
        return None
    return [float(x) for x in lr(s, np.arange(E + 1, dtype=float) * U)]


def _nice(x: float) -> list[float]:
    """x, and the shortest decimals near it (a ratio of two LRs is a rate like 0.97 to an ulp)."""
    out = []
    for digits in (3, 6, 9, 12):
        y = float(f"{x:.{digits}g}")
        if abs(y - x) <= 1e-12 * abs(x) and y not in out:
            out.append(y)
    return out + ([x] if x not in out else [])


def epoch_plans(vals: list[float], v: float):
    """Per-epoch args whose epoch values may be these (the gate decides): each timm scheduler, one cycle."""
    E = len(vals) - 1
    init = vals[0]
    warmups = [0] if init == v else []
    if init < v and E >= 2 and vals[1] > init:
        est = (v - init) / (vals[1] - init)  # warmup_lr + e (lr - warmup_lr) / W
        warmups += [w for w in {round(est), 1} if 1 <= w <= E]
    elif init < v:
        warmups.append(1)
    for W in warmups:
        for prefix in ((False, True) if W else (False,)):
            o = W if prefix else 0
            common = {"warmup": W, "warmup_lr": init if W else 0.0, "prefix": prefix}
            after = vals[max(W, 1):]
            if all(x == v for x in after):
                yield Plan("constant", False, v, warmup=W, warmup_lr=common["warmup_lr"], t_initial=E)
                if not W:
                    yield Plan("none", False, v, t_initial=E)
            lo = vals[E]
            ends = [e for e in range(max(W, 1), E + 1) if vals[e] == lo]
            if ends and lo < v and ends[0] - o > 0:
                T, cool = ends[0] - o, E - ends[0]
                yield Plan("cosine", False, v, **common, t_initial=T, cooldown=cool, min_lr=lo)
                yield Plan("tanh", False, v, **common, t_initial=T, cooldown=cool, min_lr=lo)
                inner = [e for e in range(max(W, 1), ends[0]) if lo < vals[e] < v]
                if inner:
                    t = inner[0] - o
                    ratio = (vals[inner[0]] - lo) / (v - lo)
                    if 0 < t < T and 0 < ratio < 1:
                        for power in _nice(math.log(ratio) / math.log(1 - t / T)):
                            yield Plan("poly", False, v, **common, t_initial=T, cooldown=cool, min_lr=lo, rate=power)
            yield from _staircases(vals, v, W, prefix, common)


def _staircases(vals: list[float], v: float, W: int, prefix: bool, common: dict):
    """step / multistep args for epoch values v * r ** n(e) after the warmup (n: the decays so far)."""
    E, o = len(vals) - 1, (W if prefix else 0)
    first = max(W, 1)
    drops = [e for e in range(first + 1, E) if vals[e] < vals[e - 1]]
    if not drops or not vals[drops[0]] > 0:
        return
    for r in _nice(vals[drops[0]] / vals[drops[0] - 1]):
        if not 0 < r < 1:
            continue
        n = [round(math.log(vals[e] / v) / math.log(r)) if vals[e] > 0 else -1 for e in range(first, E)]
        if any(k < 0 or abs(v * r ** k - vals[e]) > 1e-9 * vals[e] for k, e in zip(n, range(first, E))):
            continue
        ts = [e - o for e in range(first, E)]
        run = E - o
        tl, nl = ts[-1], n[-1]
        tried = set()
        for digits in (0, 1, 2, 3, 4, 6):  # decay_epochs d: n(t) = t // d, so d in (t / (n + 1), t / n]
            d = round(tl / nl, digits) if nl else 0.0
            if d > 0 and d not in tried:
                tried.add(d)
                if all(t // d == k for t, k in zip(ts, n)):
                    yield Plan("step", False, v, **common, t_initial=run, decay_t=d, rate=r)
                    break
        ms, prev = [], 0  # bisect_right(milestones, t + 1): a milestone m decays from t = m - 1
        for t, k in zip(ts, n):
            ms += [t + 1] * max(k - prev, 0)
            prev = max(prev, k)
        if ms and all(k2 >= k1 for k1, k2 in itertools.pairwise(n)):
            yield Plan("multistep", False, v, **common, t_initial=run, milestones=ms, rate=r)


# -- the text --

def _header(opts, U: int, chosen: bool, flags: bool) -> list[str]:
    words = " ".join(("Generated by lrplan", opts.version or "", "for timm train.py from:", opts.source_label or "-"))
    out = ["# " + " ".join(words.split())]
    if flags:
        out.append("# Add these flags to your train.py / distributed_train.sh command line; --sched-on-updates,")
        out.append("# --warmup-prefix and --lr-noise must be off where they are not listed here.")
    else:
        out.append("# Pass with train.py --config FILE (or merge into your args.yaml); train.py ignores updates_per_epoch,")
        out.append("# lrplan's key for the loader length.")
    out.append(f"# Exact when an epoch has {U} optimizer updates (ceil(len(loader_train) / grad_accum_steps)).")
    if chosen:
        out.append(f"# lrplan chose {U}: for your loader, convert with --set updates_per_epoch=N.")
    return out


def _flag_words(a: dict) -> list[str]:
    words = []
    for k, val in a.items():
        if val is None or val is False:
            continue  # train.py's defaults (lr_noise None, store_true flags off)
        flag = "--" + k.replace("_", "-")
        if val is True:
            words.append(flag)
        elif isinstance(val, list):
            words += [flag, *(str(x) for x in val)]
        else:
            words += [flag, val if isinstance(val, str) else repr(val)]
    return words


def render(a: dict, U: int, opts, *, chosen: bool, flags: bool) -> str:
    head = _header(opts, U, chosen, flags)
    if flags:
        return "\n".join(head) + "\n" + " ".join(_flag_words(a)) + "\n"
    import yaml

    return "\n".join(head) + "\n" + yaml.safe_dump({**a, UPE: U}, sort_keys=False)


def _gcd(values) -> int:
    g = 0
    for x in values:
        g = math.gcd(g, int(x))
    return g


def write(schedule: Schedule, opts):
    from ..errors import InexpressibleError

    variant = opts.variant or "yaml"
    if variant not in ("yaml", "flags"):
        raise LrplanError(f"unknown timm variant {opts.variant!r}", hint="yaml (args.yaml) or flags (train.py "
                                                                          "command line)")
    if schedule.axis.unit != "steps":
        raise InexpressibleError(f"timm counts epochs of optimizer updates; this schedule is on {schedule.axis.unit}",
                                 hint=HINT)
    if schedule.weight_decay or schedule.momentum or schedule.groups:
        raise InexpressibleError("timm's LR schedulers have no weight-decay, momentum or LR-group curves",
                                 hint="drop them from the schedule, or --to torch")
    if schedule.peak_lr is None:
        raise LrplanError("timm's lr, warmup_lr and min_lr are absolute LRs and the schedule has no peak LR",
                          hint="pass --lr PEAK")
    if schedule.total is None:
        raise LrplanError("timm needs the run length (epochs) and the schedule has none", hint="pass --steps N")
    if not _whole(schedule.total) or schedule.total <= 0:
        raise InexpressibleError(f"a run of {schedule.total:g} updates (timm runs whole epochs of whole updates)",
                                 hint=HINT)
    given = dict(opts.facts).get(UPE)
    U_fact = ReadOptions(extra=tuple(opts.facts)).positive_int(UPE) if given is not None else None
    if variant == "flags" and U_fact is None:
        raise LrplanError("a train.py command line has no place for the loader length lrplan needs to check it",
                          where=UPE, hint="pass --set updates_per_epoch=N (ceil(len(loader_train) / "
                                          "grad_accum_steps)), or take the yaml variant, which carries it")
    flags = variant == "flags"
    total = int(schedule.total)

    def chose(U: int) -> tuple[str, ...]:  # said on stderr too: a header comment is easy to miss
        return () if U_fact else (f"timm counts in epochs: this config is exact only with {U} optimizer updates per "
                                  "epoch, which lrplan chose; pass --set updates_per_epoch=N for your loader",)

    def text(p: Plan, U: int) -> tuple[str, list[str]]:
        a, problems = args_of(p, U)
        return render(a, U, opts, chosen=U_fact is None, flags=flags), problems

    # a staircase of whole epochs: per-epoch stepping (timm's default), its candidates first
    U = U_fact or _gcd(b for b in schedule.lr.boundaries() + [total] if _whole(b) and b > 0)
    vals = epoch_values(schedule, U) if U else None
    per_epoch = [] if vals is None else [p for v in dict.fromkeys((schedule.peak, max(vals))) if v > 0
                                          for p in epoch_plans(vals, v)]  # lr: the peak (a warmup inside the decay
    # never reaches it per epoch) or the largest epoch LR
    for p in per_epoch:
        t, problems = text(p, U)
        if not problems:
            yield Candidate(t, variant, name=p.name() + f" over {p.t_initial:g} epochs", notes=chose(U))
    try:
        p = match_updates(schedule)
        why = ""
    except _NoMatch as e:
        why = str(e)
        p = _nearest(schedule)
    qs = p.quantities() + [total]
    if not all(_whole(x) for x in qs):
        why = why or "a phase boundary between updates"
    nice = [p.decay_t] if p.sched == "step" and _whole(p.decay_t) else []  # whole decay_epochs, when it can be
    U = U_fact or _gcd(x for x in qs + nice if _whole(x) and x > 0) or 1
    t, problems = text(p, U)
    if problems and not why:
        why = "; ".join(problems)
    if not why:
        yield Candidate(t, variant, name=p.name(), notes=chose(U))
        return
    if per_epoch and vals is not None:
        why = "no timm scheduler's epoch values are this staircase"
    yield Candidate(t, variant, name=p.name(), why=why, hint=HINT, approx=True)


def _nearest(s: Schedule) -> Plan:
    """The --sched-on-updates cosine closest in form: the same warmup, then a cosine to the last LR, no cooldown."""
    peak, segs, total = s.peak, s.lr.segments, float(s.total)
    rises = segs[0].end is not None and segs[0].b.resolve(peak) > segs[0].a.resolve(peak)
    W = segs[0].end if len(segs) > 1 and rises else 0.0
    v = max(max(seg.a.resolve(peak), seg.b.resolve(peak)) for seg in segs)
    from ..evaluate import lr_at

    lo = min(lr_at(s, total - 1), v)
    init = segs[0].a.resolve(peak) if W else 0.0
    W = float(round(W))
    return Plan("cosine", True, v, warmup=W, warmup_lr=init, prefix=bool(W), t_initial=max(round(total) - W, 1),
                min_lr=lo)


# ---- lint (docs/lint.md LR035, LR036) ------------------------------------------------------------------------

def multistep_early(f):
    a = f.raw.get("_args") or {}
    if f.format != "timm" or a.get("sched") != "multistep":
        return []
    ms = a.get("decay_milestones") or []
    return [((f"timm's multistep decays at epoch m - 1 for each milestone m (bisect_right(milestones, t + 1)): "
              f"decay_milestones {ms} decay at epochs {[m - 1 for m in ms]}"),
             "add 1 to each milestone if the decay was meant to start at the milestone", "decay_milestones", None)]


def warmup_without_prefix(f):
    a = f.raw.get("_args") or {}
    if f.format != "timm" or a.get("sched") not in ("cosine", "tanh", "poly") or not a.get("warmup_epochs") \
            or a.get("warmup_prefix"):
        return []
    return [((f"warmup_epochs {a['warmup_epochs']} without warmup_prefix: the {a['sched']} decay counts from epoch 0, "
              "so the warmup climbs to a peak the decay has already left (a kink) and the decay ends on time "
              "but shorter"), "pass --warmup-prefix (the decay then starts after the warmup; the run grows by it)",
             "warmup_prefix", None)]


RULES = (
    LintRule("LR035", "timm-multistep-early", "warning", "timm's multistep decays one epoch before each milestone",
             multistep_early),
    LintRule("LR036", "timm-warmup-without-prefix", "warning", "a timm warmup inside the decay (no `--warmup-prefix`)",
             warmup_without_prefix),
)

FORMAT = Format("timm", "timm train.py schedule flags or args.yaml", title="timm", detect=detect, read=read,
                write=write, suffix=".yaml", variants={".yaml": "yaml", ".yml": "yaml", ".sh": "flags"},
                steps_only=True, lint="lrplan.frameworks.timm")
