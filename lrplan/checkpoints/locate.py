"""Which checkpoint layout a path is, and which files hold the schedule state.

Run directories resolve to their latest checkpoint: Megatron's ``latest_checkpointed_iteration.txt``,
DeepSpeed's ``latest`` tag file, the highest HF ``checkpoint-N`` or torchtitan ``step-N``. Tracker
contents are untrusted: a tag must be a plain directory name inside the run directory.
Also reads single entries of torch.distributed.checkpoint (DCP) directories through ``.metadata``
without touching any other bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from . import safepickle

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


def _safe_child(root: Path, name: str, what: str) -> Path:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise CheckpointError(f"{what} names {name!r}, which is not a directory name inside {root}")
    return root / name


def _tracker(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TRACKER_BYTES + 1)
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_TRACKER_BYTES:
        raise CheckpointError(f"{path} is too long for a checkpoint tracker file")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CheckpointError(f"{path} is not a text tracker file") from None


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
    if name.endswith(".ckpt"):
        return Found("lightning", "Lightning .ckpt", path)
    return Found("torch", "torch.save file", path)


def _locate_dir(d: Path) -> Found | None:
    if (d / "trainer_state.json").is_file():  # before `latest`: HF+DeepSpeed checkpoint-N/ holds both
        return Found("hf", f"HF Trainer checkpoint ({d.name})", d)
    tracker = d / "latest_checkpointed_iteration.txt"
    if tracker.is_file():
        t = _tracker(tracker)
        sub = "release" if t == "release" else (f"iter_{int(t):07d}" if t.isdigit() else None)
        if sub is None:
            raise CheckpointError(f"{tracker} holds {t[:40]!r}, not an iteration number or 'release'")
        target = d / sub
        if not target.is_dir():
            raise CheckpointError(f"{tracker} points at {sub}/, which is missing", hint="pass the iteration directory")
        return _megatron_iter(target)
    if (d / "latest").is_file():
        tag = _tracker(d / "latest")
        target = _safe_child(d, tag, f"{d / 'latest'}")
        if not target.is_dir():
            raise CheckpointError(f"{d / 'latest'} names tag {tag!r}, but {target} is missing",
                                  hint="pass the tag directory itself")
        return _locate_dir(target)
    for name in DS_RANK0:
        if (d / name).is_file():
            return Found("deepspeed", f"DeepSpeed save directory ({d.name}/{name})", d / name)
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
    if (d / "checkpoint").is_dir():
        return _locate_dir(d / "checkpoint")
    return None


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


# ---- DCP (torch.distributed.checkpoint) entries ------------------------------------------------------


def dcp_index(d: Path) -> dict[str, tuple[str, int, int]]:
    """fqn -> (relative file, offset, length) for every bytes/tensor entry in ``d/.metadata``."""
    meta = safepickle.load_file(d / ".metadata")
    fields = meta.fields() if isinstance(meta, safepickle.Record) else {}
    storage = fields.get("storage_data")
    if not isinstance(storage, dict):
        raise CheckpointError(f"{d / '.metadata'} is not torch.distributed.checkpoint metadata")
    out = {}
    for key, info in storage.items():
        kf = key.fields() if isinstance(key, safepickle.Record) else {}
        vf = info.fields() if isinstance(info, safepickle.Record) else {}
        fqn, rel, off, length = kf.get("fqn"), vf.get("relative_path"), vf.get("offset"), vf.get("length")
        if isinstance(fqn, str) and isinstance(rel, str) and isinstance(off, int) and isinstance(length, int):
            if vf.get("transform_descriptors"):
                continue  # transformed (e.g. compressed) entries are not read
            out.setdefault(fqn, (rel, off, length))
    return out


def dcp_entry(d: Path, index: dict, fqn: str):
    """Unpickle one bytes entry (a ``torch.save`` payload) of a DCP directory, safely."""
    rel, off, length = index[fqn]
    f = _safe_child(d, rel, f"{d / '.metadata'} entry {fqn!r}")
    if length < 0 or off < 0 or length > safepickle.MAX_PICKLE_BYTES:
        raise CheckpointError(f"{d / '.metadata'}: entry {fqn!r} declares {length} bytes", hint="a damaged checkpoint?")
    try:
        size = f.stat().st_size
        if off + length > size:
            raise CheckpointError(f"{f} is shorter than its metadata says (entry {fqn!r})",
                                  hint="the checkpoint may be truncated")
        with open(f, "rb") as fh:
            fh.seek(off)
            data = fh.read(length)
    except OSError as e:
        raise CheckpointError(f"cannot read {f}: {e.strerror}") from None
    obj = safepickle.load_bytes(data, f"{f} entry {fqn!r}")
    inner = _bytesio_payload(obj)
    if inner is not None:  # Megatron >= 0.19 hands DCP an io.BytesIO of torch.save([common]): one nested level
        obj = safepickle.load_bytes(inner, f"{f} entry {fqn!r} (nested)")
        if _bytesio_payload(obj) is not None:
            raise CheckpointError(f"{f} entry {fqn!r} nests archives more than once")
    return obj


def _bytesio_payload(obj) -> bytes | None:
    if isinstance(obj, safepickle.Record) and obj.qualname in ("_io.BytesIO", "io.BytesIO"):
        st = obj.state
        if isinstance(st, tuple) and st and isinstance(st[0], bytes):
            return st[0]
    return None
