"""W&B offline runs: the ``run-<id>.wandb`` transaction log that ``wandb.init(mode="offline")`` writes.

Format (wandb 0.31.0; checked against the fixture runs in tests/logs/): a 7-byte header ``":W&B"``, uint16le
magic ``0xBEE1``, uint8 version 0 (wandb ``core/pkg/leveldb/record.go`` l. 115-123), then LevelDB's log
format: 32 KiB blocks, chunks ``uint32le crc | uint16le length | uint8 type (1 full, 2 first, 3 middle,
4 last) | payload`` that never cross a block, zero padding when fewer than 7 bytes are left; wandb-core
writes CRC-32 (IEEE) over type byte and payload (``core/internal/transactionlog/writer.go`` l. 45), i.e.
``zlib.crc32``. Each record is a protobuf ``Record`` (``wandb/proto/wandb_internal.proto``): ``history = 2``
holds ``HistoryRecord {repeated HistoryItem item = 1; HistoryStep step = 2}``, ``HistoryItem {string key = 1;
repeated string nested_key = 2; sint64 integer = 5; double number = 6; string value_json = 16}``;
``config = 5`` holds ``ConfigRecord {repeated ConfigItem update = 1}``.

Why by hand: the SDK has no reader since wandb 0.30 (``sdk/internal/datastore.py`` was removed with the
legacy sync code, wandb PR #12687) and its generated classes need the whole ``wandb`` import (~1.2 s, 100 MB).

Steps: HF's WandbCallback logs ``train/global_step`` in every row and W&B's own ``_step`` is a row counter
(integration_utils.py 5.24.0 l. 881-900), so an HF run is keyed on ``train/global_step`` (rule of
:mod:`.rules`); Lightning's WandbLogger adds ``trainer/global_step``; Megatron passes ``step=iteration``, so
there ``_step`` is the iteration.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from ..errors import LrplanError
from ..fileio import open_regular
from . import rules, wire
from .series import EXACT, LogOptions, LogSeries, build, pick_tag

MAGIC = b":W&B" + struct.pack("<H", 0xBEE1)
BLOCK = 32768
MAX_BYTES = 16 * 1024**3
STEP_KEYS = ("train/global_step", "trainer/global_step", "_step")


def looks_like_wandb(head: bytes) -> bool:
    return head[:6] == MAGIC


def run_files(path: Path) -> list[Path]:
    """``run-*.wandb`` files of a file, an ``offline-run-*`` directory, or a ``wandb/`` directory, oldest first
    (the directory names start with the run's start time)."""
    if path.is_file():
        return [path]
    found = [p for depth in range(4) for p in path.glob("/".join(["*"] * depth + ["*.wandb"]))
             if p.is_file() and "latest-run" not in p.parts]
    return sorted(set(found), key=lambda p: (p.parent.name, p.name))


def chosen(path: Path, notes: list[str]) -> Path:
    """The run file to read: a directory with several runs (every ``wandb.init`` is a run of its own, a
    resumed training too) reads the latest, and says so."""
    files = run_files(path)
    if len(files) > 1:
        notes.append(f"{len(files)} W&B runs under {path}: read {files[-1].parent.name}, the latest; pass another "
                     "run's directory to read it")
    return files[-1]


def records(path: Path):
    """The payload of every record of one ``.wandb`` file, CRC-checked, reassembled from its chunks."""
    fd = open_regular(path, "W&B run file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LrplanError(f"{path} is larger than 16 GiB")
    if not looks_like_wandb(data[:7]):
        raise LrplanError(f"{path} is not a W&B run file (no ':W&B' header)")
    if data[6] != 0:
        raise LrplanError(f"{path} is a W&B run file of version {data[6]}; lrplan reads version 0")
    pos, n, parts = 7, len(data), []
    while pos < n:
        left = BLOCK - pos % BLOCK
        if left < 7:
            pos += left
            continue
        if pos + 7 > n:
            break
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if kind == 0 and length == 0:  # zero padding (preallocated or the tail of a block)
            pos += left
            continue
        end = pos + 7 + length
        if end > n or length > left - 7:
            yield ("truncated", pos)
            return
        payload = data[pos + 7:end]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise LrplanError(f"{path}: the record chunk at byte {pos:,} fails its checksum (a damaged file)")
        pos = end
        if kind == 1:
            yield payload
        elif kind == 2:
            parts = [payload]
        elif kind == 3 and parts:
            parts.append(payload)
        elif kind == 4 and parts:
            parts.append(payload)
            yield b"".join(parts)
            parts = []
        else:
            raise LrplanError(f"{path}: chunk type {kind} at byte {pos:,} is out of place (a damaged file)")


def _history(buf: bytes, span) -> dict:
    row: dict = {}
    for num, wt, v in wire.fields(buf, *span):
        if num == 1 and wt == wire.LEN:
            key, nested, value = "", [], None
            for n2, w2, v2 in wire.fields(buf, *v):
                if n2 == 1 and w2 == wire.LEN:
                    key = wire.text(buf, v2)
                elif n2 == 2 and w2 == wire.LEN:
                    nested.append(wire.text(buf, v2))
                elif n2 == 5 and w2 == wire.VARINT:
                    value = float(wire.zigzag(v2))
                elif n2 == 6 and w2 == wire.I64:
                    value = wire.double(buf, v2)
                elif n2 == 16 and w2 == wire.LEN and value is None:
                    value = _json_number(wire.text(buf, v2))
            name = "/".join(nested) if nested and not key else key
            if value is not None and name:
                row[name] = value
        elif num == 2 and wt == wire.LEN:
            for n2, w2, v2 in wire.fields(buf, *v):
                if n2 == 1 and w2 == wire.VARINT:
                    row.setdefault("_step", float(wire.signed(v2)))
    return row


def _json_number(text: str):
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _config(buf: bytes, span, out: dict) -> None:
    for num, wt, v in wire.fields(buf, *span):
        if num != 1 or wt != wire.LEN:
            continue
        key, value = "", None
        for n2, w2, v2 in wire.fields(buf, *v):
            if n2 == 1 and w2 == wire.LEN:
                key = wire.text(buf, v2)
            elif n2 == 16 and w2 == wire.LEN:
                value = wire.text(buf, v2)
        if key in ("transformers_version", "deepspeed", "lr_scheduler_type", "_wandb"):
            try:
                out[key] = json.loads(value) if value is not None else None
            except ValueError:
                out[key] = value


def read_rows(path: Path) -> tuple[list[dict], dict, list[str]]:
    rows, config, notes = [], {}, []
    for f in [chosen(path, notes)]:
        for rec in records(f):
            if isinstance(rec, tuple):
                notes.append(f"{f} ends inside a record at byte {rec[1]:,} (a run still writing?): read the records "
                             "before it")
                break
            try:
                for num, wt, v in wire.fields(rec, 0, len(rec)):
                    if num == 2 and wt == wire.LEN:
                        rows.append(_history(rec, v))
                    elif num == 5 and wt == wire.LEN:
                        _config(rec, v, config)
            except wire.WireError as e:
                raise LrplanError(f"{f}: a record is not a valid W&B Record ({e.message})") from None
    return rows, config, notes


def read(path: Path, opts: LogOptions) -> LogSeries:
    files = run_files(path)
    if not files:
        raise LrplanError(f"{path} holds no W&B run file (run-*.wandb)",
                          hint="pass the offline-run-* directory or its run-*.wandb")
    rows, config, notes = read_rows(path)
    keys = list(dict.fromkeys(k for r in rows for k in r if not k.startswith("_") and k not in STEP_KEYS))
    tag, more = pick_tag(str(path), keys, opts.tag, what="history key")
    notes += more
    step_key = next((k for k in STEP_KEYS if any(k in r for r in rows if tag in r)), "_step")
    pts = [(int(r[step_key]), r[tag]) for r in rows if tag in r and step_key in r]
    hf = step_key == "train/global_step" or "lr_scheduler_type" in config
    if hf:
        offset, rule, extra = rules.hf(config.get("transformers_version"), bool(config.get("deepspeed")), opts)
        notes += extra
        framework = "hf"
    elif step_key == "trainer/global_step" or tag.startswith("lr-"):
        offset, rule, framework = 0, rules.LIGHTNING, "lightning"
    elif tag == "learning-rate":
        offset, rule, framework = 0, rules.MEGATRON, "megatron"
    else:
        offset, rule, framework = 0, rules.GENERIC, ""
    return build("wandb", str(path), tag, [p[0] for p in pts], [p[1] for p in pts], precision=EXACT,
                 offset=offset, step_field=step_key, rule=rule, tags=keys, notes=notes, framework=framework,
                 opts=opts)

