"""timm (pytorch-image-models) ``train.py``: its schedule flags or its ``args.yaml`` -> Schedule IR (read only).

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
"""

from __future__ import annotations

import bisect
import math
import shlex

from ..errors import LrplanError, did_you_mean
from ..ir import Curve, Level, Schedule, Segment
from ..values import number
from .base import Format, LintRule, Loaded, ReadOptions

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
    t = text.lstrip()
    if t.startswith(("--", "./", "python", "torchrun", "sh ", "bash ")) or "train.py" in t.split("\n")[0] \
            or "distributed_train.sh" in t:
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
        if s.limit != 1 or s.k != 1.0:
            raise LrplanError("lrplan reads --sched-on-updates cosine with one cycle and lr_k_decay 1 only",
                              where=where("lr_cycle_limit" if s.limit != 1 else "lr_k_decay"), hint=DOCS)
        end = origin + s.t_initial
        if end <= W:
            raise LrplanError("the warmup outlasts the cosine (warmup_epochs >= epochs without warmup_prefix)",
                              where=where("warmup_epochs"))
        low = Level(s.lr_min, absolute=True)
        segs.append(Segment("cosine", float(W), end, v, low, origin=origin, span=float(s.t_initial), label="decay"))
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

FORMAT = Format("timm", "timm train.py schedule flags or args.yaml (read only)", title="timm", detect=detect,
                read=read, suffix=".yaml", lint="lrplan.frameworks.timm")
