"""Single entries of torch.distributed.checkpoint (DCP) directories, read through ``.metadata``.

Only the entries lrplan needs are read, each a ``torch.save`` payload at a byte range of one file;
no other byte of the checkpoint is touched. The metadata is untrusted: every file it names must be a
plain name inside the directory (no ``..``, no symlink leading out of it).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError
from . import safepickle
from .locate import safe_child


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
    f = safe_child(d, rel, f"{d / '.metadata'} entry {fqn!r}")
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
