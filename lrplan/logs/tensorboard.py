"""TensorBoard event files (``events.out.tfevents.*``) and run directories, read by hand.

Format (tensorboard 2.21.0): TFRecord framing (``summary/writer/record_writer.py`` l. 32-40),
``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``, little-endian; each
``data`` a serialized ``Event`` (``compat/proto/event.proto``): ``double wall_time = 1``, ``int64 step = 2``
(absent when 0), ``Summary summary = 5`` of ``Value {string tag = 1; float simple_value = 2;
TensorProto tensor = 8; SummaryMetadata metadata = 9}``. torch's ``SummaryWriter.add_scalar`` writes one
Value per Event with ``simple_value`` (float32) by default and a ``TensorProto`` ``float_val`` with the
"scalars" plugin when ``new_style=True`` (torch 2.13 utils/tensorboard/summary.py l. 354-394).

Why by hand and not ``tensorboard``'s ``EventAccumulator``: it keeps only 10,000 scalars per tag unless told
otherwise, puts new-style scalars under ``Tensors()`` instead of ``Scalars()``, verifies both CRCs in pure
Python and decodes every record through protobuf, ~40 s of CPU for a 1M-point file; the package is 150 MB.
Here the framing is walked once and the layouts torch writes are decoded for all records at once with
numpy (benchmarks/bench_logs.py measures both side by side); any other record goes through a small
general decoder (:mod:`.wire`). The data CRC is not checked (a corrupt length is caught by the bounds
checks, a flipped value bit would not be); the first record's length CRC is, to tell an event file from
other bytes. A file that ends inside a record (a run still writing, a copy cut short) is read up to its
last whole record, with a note.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from ..errors import LrplanError
from . import rules, wire
from .series import EXACT, FLOAT32, LogOptions, LogSeries, Precision, build, pick_tag

MAX_FILE_BYTES = 4 * 1024**3  # one event file; larger ones are refused, not half read
MAX_FILES = 10_000
NAME = re.compile(r"events\.out\.tfevents\.(\d+)")
_Q = struct.Struct("<Q")

# TensorProto dtypes (tensorflow/core/framework/types.proto)
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_STRING, DT_INT64, DT_BFLOAT16, DT_HALF = 1, 2, 3, 7, 9, 14, 19
_PRECISION = {DT_FLOAT: FLOAT32, DT_DOUBLE: EXACT, DT_INT32: EXACT, DT_INT64: EXACT,
              DT_HALF: Precision("float16"), DT_BFLOAT16: Precision("bfloat16")}
_RANK = {"exact": 0, "float32": 1, "bfloat16": 3, "float16": 2}


# ---- CRC-32C (Castagnoli), for the first record's length header only --------------------------------

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE: list[int] = []


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C (pywrap_tensorflow.py stub, tensorboard 2.21.0 l. 39-41)."""
    if not _TABLE:
        _TABLE.extend(_crc_table())
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    c ^= 0xFFFFFFFF
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def looks_like_events(head: bytes) -> bool:
    """The first 13 bytes of a file: a TFRecord header whose length CRC holds and an Event that starts
    with its wall_time field."""
    if len(head) < 13:
        return False
    return masked_crc32c(head[:8]) == struct.unpack_from("<I", head, 8)[0] and head[12] == 0x09


# ---- files -------------------------------------------------------------------------------------------

def event_files(path: Path) -> list[Path]:
    """The event files of ``path`` (a file, or a run directory searched to depth 4), oldest writer first:
    by the Unix time in the name, then by name (a resumed run writes a new file, maybe in a new directory)."""
    if path.is_file():
        return [path]
    found = []
    for depth in range(5):
        for p in path.glob("/".join(["*"] * depth + ["*tfevents*"])):
            if p.is_file() and not p.is_symlink():
                found.append(p)
                if len(found) > MAX_FILES:
                    raise LrplanError(f"{path} holds more than {MAX_FILES:,} event files",
                                      hint="point lrplan at one run's directory")
    def key(p: Path):
        m = NAME.search(p.name)
        return (int(m.group(1)) if m else 0, p.name, str(p))

    return sorted(set(found), key=key)


def has_events(path: Path) -> bool:
    if path.is_file():
        return "tfevents" in path.name
    return any(p.is_file() for depth in range(4) for p in path.glob("/".join(["*"] * depth + ["*tfevents*"])))


def _read_file(path: Path) -> bytes:
    import os

    from ..fileio import open_regular

    fd = open_regular(path, "TensorBoard event file")
    try:
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise LrplanError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise LrplanError(f"{path} is larger than 4 GiB; lrplan reads event files up to that size")
    return data


# ---- framing -----------------------------------------------------------------------------------------

def frame(data: bytes, path):
    """(data starts, data ends, note) of the records of one file (numpy int64 arrays).

    The walk is sequential by nature (each length says where the next record starts), but runs of
    records of one length are common (a tag logged every step has the same length until its step
    varint grows): where the next ``w`` length fields at the stride of the current record all repeat its
    length, those ``w`` records are taken at once, which is exactly what the one-by-one walk would do."""
    import numpy as np

    n = len(data)
    if n == 0:
        raise LrplanError(f"{path} is empty (a TensorBoard writer that never flushed?)")
    if not looks_like_events(data[:13]):
        raise LrplanError(f"{path} is not a TensorBoard event file (its first record's header does not check)",
                          hint="event files are named events.out.tfevents.*; pass the run directory")
    unpack = _Q.unpack_from
    chunks, single, single_len = [], [], []  # chunks: (starts, length) of runs of one length
    pos, window = 0, 64
    while pos + 12 <= n:
        length = unpack(data, pos)[0]
        stride = length + 16
        if pos + stride > n:
            break
        fit = (n - pos) // stride
        if fit >= 16:
            w = min(fit, window)
            lens = np.ndarray((w,), dtype="<u8", buffer=data, offset=pos, strides=(stride,))  # no copy
            bad = np.flatnonzero(lens != length)
            run = w if bad.size == 0 else int(bad[0])
            if run >= 8:
                if single:
                    chunks.append((np.asarray(single, dtype=np.int64), np.asarray(single_len, dtype=np.int64)))
                    single, single_len = [], []
                chunks.append((pos + 12 + stride * np.arange(run, dtype=np.int64), length))
                pos += run * stride
                window = min(window * 4, 1 << 20) if run == w else 64
                continue
            window = 64
        single.append(pos + 12)
        single_len.append(length)
        pos += stride
    if single:
        chunks.append((np.asarray(single, dtype=np.int64), np.asarray(single_len, dtype=np.int64)))
    starts = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([c[0] + c[1] for c in chunks]) if chunks else np.zeros(0, dtype=np.int64)
    note = None
    if pos != n:
        note = (f"{path} ends inside a record at byte {pos:,} of {n:,} (a run still writing, or a copy cut "
                f"short): read the {starts.size:,} whole records before it")
    return starts, ends, note


# ---- the layouts torch writes, decoded for all records at once -------------------------------------------

def _fast(buf, s, e):
    """For records of the layouts ``add_scalar`` writes, (mask, step, tag start, tag length, value):
    ``09 <wall> [10 <step>] 2a L 0a L 0a T <tag> (15 <f32> | 42 08 08 01 2a 04 <f32> [4a L ...])``.
    Every index stays inside the buffer: a record is followed by its 4-byte CRC, and offsets past a
    record's end are clipped (those records fail the end checks anyway)."""
    import numpy as np

    last = buf.size - 1

    def at(idx):
        return buf[np.minimum(idx, last)]

    good = np.zeros(s.size, dtype=bool)
    cand = np.flatnonzero((e - s >= 21) & (buf[s] == 0x09))
    s, e = s[cand], e[cand]
    has_step = at(s + 9) == 0x10
    step = np.zeros(s.size, dtype=np.uint64)
    vlen = np.zeros(s.size, dtype=np.int64)
    cont = has_step
    for j in range(10):
        if not cont.any():
            break
        byte = at(s + 10 + j)
        step[cont] |= (byte[cont] & 0x7F).astype(np.uint64) << np.uint64(7 * j)
        vlen += cont
        cont = cont & (byte >= 0x80)
    ok = ~cont
    p = np.where(has_step, s + 10 + vlen, s + 9)
    del has_step, vlen, cont
    ok &= (at(p) == 0x2A) & (at(p + 2) == 0x0A) & (at(p + 4) == 0x0A)
    ok &= (p + 2 + at(p + 1) == e) & (p + 4 + at(p + 3) == e)
    ok &= (at(p + 1) < 0x80) & (at(p + 3) < 0x80) & (at(p + 5) < 0x80) & (at(p + 5) > 0)
    tl = at(p + 5).astype(np.int64)
    after = p + 6 + tl
    simple = ok & (at(after) == 0x15) & (after + 5 == e)
    rest = np.flatnonzero(ok & ~simple)
    tensor = np.zeros(s.size, dtype=bool)
    if rest.size:
        a, er = after[rest], e[rest]
        tensor[rest] = ((at(a) == 0x42) & (at(a + 1) == 0x08) & (at(a + 2) == 0x08) & (at(a + 3) == 0x01)
                        & (at(a + 4) == 0x2A) & (at(a + 5) == 0x04)
                        & ((a + 10 == er) | ((at(a + 10) == 0x4A) & (a + 12 + at(a + 11) == er))))
    keep = simple | tensor
    vpos = np.where(simple, after + 1, after + 6)[keep]
    values = buf[vpos[:, None] + np.arange(4)].copy().view("<f4").ravel().astype(float)
    good[cand[keep]] = True
    return good, step.view(np.int64)[keep], (p + 6)[keep], tl[keep], values


def _fast_chunked(buf, s, e, chunk: int = 1 << 17):
    """:func:`_fast` over slices of records, so its temporaries stay small (cache-sized, flat memory)."""
    import numpy as np

    if s.size <= chunk:
        return _fast(buf, s, e)
    parts = [_fast(buf, s[i:i + chunk], e[i:i + chunk]) for i in range(0, s.size, chunk)]
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(5))


def _group_tags(buf, tag_start, tag_len):
    """Tag name of every fast record: (names, index of each record's name, -1 for none). Each distinct tag
    is taken from the first record not yet named and compared byte for byte with all the others (files
    hold few tags); past :data:`MAX_TAG_PASSES` tags the rest go to the general decoder."""
    import numpy as np

    names: list[str] = []
    which = np.full(tag_start.size, -1, dtype=np.int64)
    todo = np.arange(tag_start.size)
    for _ in range(MAX_TAG_PASSES):
        if not todo.size:
            break
        first = int(todo[0])
        length = int(tag_len[first])
        rep = buf[tag_start[first]: tag_start[first] + length]
        ts = tag_start[todo]
        same = tag_len[todo] == length
        for j in range(length):
            same &= buf[np.minimum(ts + j, buf.size - 1)] == rep[j]
        which[todo[same]] = len(names)
        names.append(bytes(rep).decode("utf-8", errors="replace"))
        todo = todo[~same]
    return names, which


MAX_TAG_PASSES = 256


# ---- any other record ----------------------------------------------------------------------------------

def _tensor_value(buf, span):
    """(value, precision, text) of a TensorProto holding one number (or one string), else None."""
    dtype, dims, content, vals, strings = 0, [], None, [], []
    for num, wt, v in wire.fields(buf, *span):
        if num == 1 and wt == wire.VARINT:
            dtype = v
        elif num == 2 and wt == wire.LEN:
            for n2, w2, v2 in wire.fields(buf, *v):
                if n2 == 2 and w2 == wire.LEN:
                    size = next((x for n3, w3, x in wire.fields(buf, *v2) if n3 == 1 and w3 == wire.VARINT), 0)
                    dims.append(wire.signed(size))
        elif num == 4 and wt == wire.LEN:
            content = bytes(buf[v[0]:v[1]])
        elif num == 8 and wt == wire.LEN:
            strings.append(bytes(buf[v[0]:v[1]]))
        elif num in (5, 6, 7, 10, 13, 11):
            vals.extend(_numbers(buf, num, wt, v))
    if any(d != 1 for d in dims):
        return None
    if dtype == DT_STRING:
        return (None, None, strings[0].decode("utf-8", errors="replace")) if strings else None
    prec = _PRECISION.get(dtype)
    if prec is None:
        return None
    if content is not None:
        fmt = {DT_FLOAT: "<f", DT_DOUBLE: "<d", DT_INT32: "<i", DT_INT64: "<q", DT_HALF: "<e"}.get(dtype)
        if dtype == DT_BFLOAT16 and len(content) == 2:
            return struct.unpack("<f", b"\x00\x00" + content)[0], prec, None
        if fmt is None or len(content) != struct.calcsize(fmt):
            return None
        return float(struct.unpack(fmt, content)[0]), prec, None
    if len(vals) != 1:
        return None
    v = vals[0]
    if dtype == DT_HALF:
        v = struct.unpack("<e", int(v).to_bytes(2, "little", signed=False))[0]
    elif dtype == DT_BFLOAT16:
        v = struct.unpack("<f", (int(v) << 16).to_bytes(4, "little"))[0]
    return float(v), prec, None


def _numbers(buf, num, wt, v):
    """The values of a repeated numeric field, packed or not."""
    if num == 5:  # float_val
        if wt == wire.I32:
            return [wire.float32(buf, v)]
        return list(struct.unpack_from(f"<{(v[1] - v[0]) // 4}f", buf, v[0])) if wt == wire.LEN else []
    if num == 6:  # double_val
        if wt == wire.I64:
            return [wire.double(buf, v)]
        return list(struct.unpack_from(f"<{(v[1] - v[0]) // 8}d", buf, v[0])) if wt == wire.LEN else []
    if wt == wire.VARINT:
        return [v if num == 13 else wire.signed(v)]
    if wt == wire.LEN:
        out, pos = [], v[0]
        while pos < v[1]:
            x, pos = wire.varint(buf, pos, v[1])
            out.append(x if num == 13 else wire.signed(x))
        return out
    return []


def _slow(buf, s: int, e: int, out: dict, texts: dict, order: int) -> None:
    """Decode one Event generally: every scalar Value lands in ``out[tag]``, text summaries in ``texts``."""
    step, summary = 0, None
    for num, wt, v in wire.fields(buf, s, e):
        if num == 2 and wt == wire.VARINT:
            step = wire.signed(v)
        elif num == 5 and wt == wire.LEN:
            summary = v
    if summary is None:
        return
    for num, wt, v in wire.fields(buf, *summary):
        if num != 1 or wt != wire.LEN:
            continue
        tag, value, prec, text = None, None, None, None
        for n2, w2, v2 in wire.fields(buf, *v):
            if n2 == 1 and w2 == wire.LEN:
                tag = wire.text(buf, v2)
            elif n2 == 2 and w2 == wire.I32:
                value, prec = wire.float32(buf, v2), FLOAT32
            elif n2 == 8 and w2 == wire.LEN:
                got = _tensor_value(buf, v2)
                if got is not None:
                    value, prec, text = got
        if tag is None:
            continue
        if text is not None:
            texts.setdefault(tag, text[:1_000_000])
        elif value is not None:
            out.setdefault(tag, ([], [], [], set()))
            o = out[tag]
            o[0].append(order)
            o[1].append(step)
            o[2].append(value)
            o[3].add(prec.kind)


# ---- reading -------------------------------------------------------------------------------------------

class Scalars:
    """Every scalar series of one or more event files: tag -> (steps, values) in file order."""

    def __init__(self) -> None:
        self.parts: dict[str, list] = {}  # tag -> [(steps array, values array), ...] in file order
        self.kinds: dict[str, set] = {}
        self.texts: dict[str, str] = {}
        self.notes: list[str] = []
        self.records = 0

    def add_file(self, path: Path) -> None:
        import numpy as np

        data = _read_file(path)
        s, e, note = frame(data, path)
        if note:
            self.notes.append(note)
        self.records += int(s.size)
        buf = np.frombuffer(data, dtype=np.uint8)
        good, steps, tag_start, tag_len, values = _fast_chunked(buf, s, e)
        names, which = _group_tags(buf, tag_start, tag_len)
        order_fast = np.flatnonzero(good)
        collided = which < 0
        slow_idx = np.flatnonzero(~good).tolist() + order_fast[collided].tolist()
        slow: dict = {}
        for i in sorted(slow_idx):
            try:
                _slow(data, int(s[i]), int(e[i]), slow, self.texts, i)
            except wire.WireError as err:
                raise LrplanError(f"{path}: record {i + 1:,} (byte {int(s[i]) - 12:,}) is not a valid Event: "
                                  f"{err.message}", hint="the file is damaged; lrplan reads whole, valid records") from None
        for g, name in enumerate(names):
            sel = which == g
            o = order_fast[sel]
            extra = slow.pop(name, None)
            st, va = steps[sel], values[sel]
            kinds = {"float32"}
            if extra is not None:
                o = np.r_[o, np.asarray(extra[0], dtype=np.int64)]
                st = np.r_[st, np.asarray(extra[1], dtype=np.int64)]
                va = np.r_[va, np.asarray(extra[2], dtype=float)]
                kinds |= extra[3]
                srt = np.argsort(o, kind="stable")
                st, va = st[srt], va[srt]
            self._add(name, st, va, kinds)
        for name, (o, st, va, kinds) in slow.items():
            self._add(name, np.asarray(st, dtype=np.int64), np.asarray(va, dtype=float), kinds)

    def _add(self, tag, steps, values, kinds) -> None:
        self.parts.setdefault(tag, []).append((steps, values))
        self.kinds.setdefault(tag, set()).update(kinds)

    def tags(self) -> list[str]:
        return sorted(self.parts)

    def series(self, tag: str):
        import numpy as np

        parts = self.parts[tag]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def precision(self, tag: str) -> Precision:
        worst = max(self.kinds[tag], key=lambda k: _RANK.get(k, 0))
        return {"exact": EXACT, "float32": FLOAT32}.get(worst) or Precision(worst)


def read_scalars(path: Path) -> tuple[Scalars, list[Path]]:
    files = event_files(path)
    if not files:
        raise LrplanError(f"{path} holds no TensorBoard event files (events.out.tfevents.*)")
    sc = Scalars()
    for f in files:
        sc.add_file(f)
    return sc, files


def _hf_facts(texts: dict) -> tuple[bool, str | None, bool]:
    """(is an HF Trainer log, transformers version, DeepSpeed on) from the text summaries HF's
    TensorBoardCallback writes at the start (integrations/integration_utils.py 5.24.0 l. 620-632)."""
    args = _json(texts.get("args/text_summary"))
    config = _json(texts.get("model_config/text_summary"))
    hf = isinstance(args, dict) and "lr_scheduler_type" in args
    version = config.get("transformers_version") if isinstance(config, dict) else None
    ds = bool(args.get("deepspeed")) if isinstance(args, dict) else False
    return hf, version if isinstance(version, str) else None, ds


def _json(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read(path: Path, opts: LogOptions) -> LogSeries:
    sc, files = read_scalars(path)
    tags = sc.tags()
    tag, notes = pick_tag(str(path), tags, opts.tag, what="scalar tag")
    steps, values = sc.series(tag)
    hf, version, ds = _hf_facts(sc.texts)
    hf = hf or (tag == "train/learning_rate" and "train/epoch" in tags and steps.size and steps.min() >= 1)
    if hf:
        offset, rule, more = rules.hf(version, ds, opts)
        framework, field = "hf", "global_step"
    else:
        offset, rule, more, field = 0, rules.GENERIC, [], "step"
        framework = "lightning" if tag.startswith("lr-") else ("megatron" if tag == "learning-rate" else "")
        if framework == "lightning":
            rule = rules.LIGHTNING
        elif framework == "megatron":
            rule, field = rules.MEGATRON, "iteration"
    notes = sc.notes + notes + more
    if len(files) > 1:
        notes.append(f"read {len(files)} event files, oldest first; a step logged again later (a resumed run) "
                     "takes the later value")
    return build("tensorboard", str(path), tag, steps, values, precision=sc.precision(tag), offset=offset,
                 step_field=field, rule=rule, tags=tags, notes=notes, framework=framework, opts=opts)
