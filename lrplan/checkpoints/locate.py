"""Which checkpoint layout a path is, and which files hold the schedule state.

Run directories resolve to their latest checkpoint: Megatron's ``latest_checkpointed_iteration.txt``,
DeepSpeed's ``latest`` tag file, the highest HF ``checkpoint-N`` or torchtitan ``step-N``. Tracker
contents are untrusted: a tag must be a plain directory name inside the run directory.
Also reads single entries of torch.distributed.checkpoint (DCP) directories through ``.metadata``
without touching any other bytes.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import fileio
from ..errors import CheckpointError, LrplanError

MEGATRON_RANK0 = ("mp_rank_00", "mp_rank_00_000", "mp_rank_00_000_000", "mp_rank_00_000_000_000")
DS_RANK0 = ("mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_model_states.pt")
_NUMBERED = {"hf": re.compile(r"checkpoint-(\d+)"), "torchtitan": re.compile(r"step-(\d+)"),
             "megatron": re.compile(r"iter_(\d+)"), "deepspeed": re.compile(r"global_step(\d+)")}
MAX_TRACKER_BYTES = 256


@dataclass(frozen=True)
class Found:
    framework: str  # megatron, deepspeed, hf, torchtitan, lightning, torch
    layout: str  # human description
    path: Path  # the checkpoint directory or file that holds the state


def confined(root: Path, path: Path, what: str) -> Path:
    """``path`` itself, refused when it (or a symlink on the way) resolves outside ``root``."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        raise CheckpointError(f"{what} leads outside the checkpoint directory {root} (a symlink?)",
                              hint="lrplan reads only files inside the checkpoint it is given")
    return path


_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("checkpoint_root", default=None)


@contextlib.contextmanager
def reading(found: Found):
    """While a checkpoint is read, every file opened through :func:`inside` must stay in its directory
    (a ``.metadata`` or ``trainer_state.json`` that is a symlink to ``/etc/passwd`` is refused)."""
    root = found.path if found.path.is_dir() else found.path.parent
    token = _ROOT.set(Path(os.path.realpath(root)))
    try:
        yield
    finally:
        _ROOT.reset(token)


def inside(path: Path) -> Path:
    """``path``, checked against the checkpoint being read (no-op outside :func:`reading`)."""
    root = _ROOT.get()
    if root is not None:
        confined(root, path, str(path))
    return path


def safe_child(root: Path, name: str, what: str) -> Path:
    """A file or directory a checkpoint names: a plain name inside ``root`` that stays inside it."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or len(name) > 255:
        raise CheckpointError(f"{what} names {safe_text(name)}, which is not a plain name inside {root}")
    return confined(root, root / name, f"{what} entry {safe_text(name)}")


def safe_text(text: str, limit: int = 40) -> str:
    """``repr`` of untrusted text, shortened: control characters are escaped, never echoed raw."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _tracker(path: Path) -> str:
    confined(path.parent, path, str(path))
    try:
        data = fileio.read_bytes(path, what="checkpoint tracker file", limit=MAX_TRACKER_BYTES)
    except LrplanError as e:
        raise CheckpointError(e.message) from None
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CheckpointError(f"{path} is not a text tracker file") from None


def numbered(d: Path, kind: str) -> list[tuple[int, Path]]:
    """The numbered checkpoint directories (``checkpoint-N``, ``iter_N`` ...) directly in ``d``, by number."""
    pat = _NUMBERED[kind]
    try:
        entries = list(d.iterdir())
    except OSError:
        return []
    out = []
    for p in entries:
        m = pat.fullmatch(p.name)
        if m and len(m.group(1)) < 16 and p.is_dir() and not p.is_symlink():
            out.append((int(m.group(1)), p))
    return sorted(out)


def numbered_ancestor(path: Path, kind: str) -> Path | None:
    """The ``checkpoint-N``-like directory that ``path`` is (or lies in, up to three levels up)."""
    if kind not in _NUMBERED:
        return None
    for p in [Path(path), *list(Path(path).parents)[:3]]:
        if _NUMBERED[kind].fullmatch(p.name):
            return p
    return None


def _latest_numbered(d: Path, kind: str) -> Path | None:
    best, best_n = None, -1
    pat = _NUMBERED[kind]
    try:
        entries = list(d.iterdir())
    except OSError:
        return None
    for p in entries:
        m = pat.fullmatch(p.name)
        if m and p.is_dir() and int(m.group(1)) > best_n:
            best, best_n = p, int(m.group(1))
    return best


def locate(path: Path) -> Found:
    path = Path(path)
    if path.is_dir():
        found = _locate_dir(path)
        if found is None:
            raise CheckpointError(f"{path} is a directory but not a checkpoint layout lrplan knows",
                                  hint="see docs/checkpoints.md for the layouts lrplan reads")
        return found
    if not path.exists():
        raise CheckpointError(f"{path} does not exist")
    name = path.name
    if name == "model_optim_rng.pt" or name == "common.pt":
        return Found("megatron", f"Megatron {name}", path)
    if name.endswith("_model_states.pt"):
        return Found("deepspeed", f"DeepSpeed {name}", path)
    if name.endswith(".ckpt") and _probe("nemo", path):  # a Lightning .ckpt holding a NeMo scheduler
        return Found("nemo", "NeMo Lightning .ckpt", path)
    if name.endswith(".ckpt"):
        return Found("lightning", "Lightning .ckpt", path)
    if COMPOSER_FILE.fullmatch(name):
        return Found("composer", f"Composer checkpoint ({name})", path)
    return Found("torch", "torch.save file", path)


def _locate_dir(d: Path) -> Found | None:
    if (d / "trainer_state.json").is_file():  # before `latest`: HF+DeepSpeed checkpoint-N/ holds both
        if _probe("axolotl", d):  # its training_args.bin is AxolotlTrainingArguments
            return Found("axolotl", f"axolotl (HF Trainer) checkpoint ({d.name})", d)
        return Found("hf", f"HF Trainer checkpoint ({d.name})", d)
    tracker = d / "latest_checkpointed_iteration.txt"
    if tracker.is_file():
        t = _tracker(tracker)
        sub = "release" if t == "release" else (f"iter_{int(t):07d}" if t.isascii() and t.isdigit() else None)
        if sub is None:
            raise CheckpointError(f"{tracker} holds {safe_text(t)}, not an iteration number or 'release'")
        target = d / sub
        if not target.is_dir():
            raise CheckpointError(f"{tracker} points at {sub}/, which is missing", hint="pass the iteration directory")
        return _megatron_iter(target)
    if (d / "latest").is_file():
        tag = _tracker(d / "latest")
        target = safe_child(d, tag, f"{d / 'latest'}")
        if not target.is_dir():
            raise CheckpointError(f"{d / 'latest'} names tag {safe_text(tag)}, but that directory is missing",
                                  hint="pass the tag directory itself")
        return _locate_dir(target)
    for name in DS_RANK0:
        if (d / name).is_file():
            return Found("deepspeed", f"DeepSpeed save directory ({d.name}/{name})", d / name)
    if (d / "train" / "rank0.pt").is_file():  # OLMo-core step{N}/: train/rank0.pt (+ model_and_optim/, config.json)
        return Found("olmo-core", f"OLMo-core checkpoint ({d.name})", d)
    if _NUMBERED["megatron"].fullmatch(d.name) or d.name == "release":
        return _megatron_iter(d)
    if (d / ".metadata").is_file():
        if (d / "metadata.json").is_file() or (d / "common.pt").is_file():
            return _megatron_iter(d)
        return Found("torchtitan", f"torchtitan DCP checkpoint ({d.name})", d)
    for kind in ("hf", "torchtitan", "megatron", "deepspeed"):
        sub = _latest_numbered(d, kind)
        if sub is not None:
            return _locate_dir(sub)
    composer = _latest_composer(d)
    if composer is not None:
        return Found("composer", f"Composer save folder ({d.name}/{composer.name})", composer)
    if (d / "checkpoint").is_dir():
        return _locate_dir(d / "checkpoint")
    return None


def _probe(framework: str, path: Path) -> bool:
    """A framework's own test that ``path`` is its checkpoint (``probe`` in lrplan/checkpoints/<framework>.py)."""
    import importlib

    return importlib.import_module(f"lrplan.checkpoints.{framework}").probe(path)


COMPOSER_FILE = re.compile(r"(?:ep\d+-ba(\d+)|latest)-rank(\d+)\.pt")  # composer/utils/checkpoint.py filename


def _latest_composer(d: Path) -> Path | None:
    """The rank-0 Composer checkpoint with the most batches in a save folder (``ep{e}-ba{b}-rank0.pt``)."""
    best, best_n = None, -1
    try:
        entries = list(d.iterdir())
    except OSError:
        return None
    for p in entries:
        m = COMPOSER_FILE.fullmatch(p.name)
        if m and m.group(1) and m.group(2) == "0" and len(m.group(1)) < 16 and p.is_file() and not p.is_symlink():
            if int(m.group(1)) > best_n:
                best, best_n = p, int(m.group(1))
    return best


def _megatron_iter(d: Path) -> Found:
    if (d / "common.pt").is_file():
        return Found("megatron", f"Megatron torch_dist ({d.name}/common.pt)", d / "common.pt")
    for sub in MEGATRON_RANK0:
        f = d / sub / "model_optim_rng.pt"
        if f.is_file():
            return Found("megatron", f"Megatron legacy torch ({d.name}/{sub}/model_optim_rng.pt)", f)
    if (d / ".metadata").is_file():
        return Found("megatron", f"Megatron torch_dist, common state inside .distcp ({d.name}/.metadata)", d)
    raise CheckpointError(f"{d} looks like a Megatron iteration directory but holds no model_optim_rng.pt, "
                          "common.pt or .metadata")
