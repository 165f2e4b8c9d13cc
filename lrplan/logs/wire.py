"""The protobuf wire format, read by hand (https://protobuf.dev/programming-guides/encoding/).

TensorBoard's ``Event`` and W&B's ``Record`` are protobuf messages. Decoding the few fields lrplan needs
takes ~60 lines; the generated classes would cost the ``tensorboard`` (150 MB) or ``wandb`` (100 MB)
package and their import time, and the TensorBoard one is also slower (notes: 42 s vs 3-4 s CPU for a
1M-scalar file). Nothing here executes anything: bytes in, numbers and strings out, every length
checked against the buffer.
"""

from __future__ import annotations

import struct

from ..errors import LrplanError

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_D = struct.Struct("<d")
_F = struct.Struct("<f")


class WireError(LrplanError):
    """Bytes that are not a well-formed protobuf message."""


def varint(buf, pos: int, end: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos`` (unsigned, at most 10 bytes)."""
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("a varint runs past its message")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def signed(v: int) -> int:
    """An int64 field's two's-complement value."""
    return v - (1 << 64) if v >= 1 << 63 else v


def zigzag(v: int) -> int:
    """A sint64 field's value."""
    return (v >> 1) ^ -(v & 1)


def fields(buf, start: int, end: int):
    """(field number, wire type, value) for each field of the message in ``buf[start:end]``; the value is
    an int (VARINT), 8 or 4 raw bytes as (start, end) (I64/I32), or (start, end) of a LEN field."""
    pos = start
    while pos < end:
        key, pos = varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if wt == VARINT:
            v, pos = varint(buf, pos, end)
            yield num, wt, v
        elif wt == LEN:
            n, pos = varint(buf, pos, end)
            if pos + n > end:
                raise WireError("a length-delimited field runs past its message")
            yield num, wt, (pos, pos + n)
            pos += n
        elif wt == I64:
            if pos + 8 > end:
                raise WireError("a 64-bit field runs past its message")
            yield num, wt, (pos, pos + 8)
            pos += 8
        elif wt == I32:
            if pos + 4 > end:
                raise WireError("a 32-bit field runs past its message")
            yield num, wt, (pos, pos + 4)
            pos += 4
        else:  # groups (3, 4) are not used by either format
            raise WireError(f"unsupported wire type {wt}")


def double(buf, span) -> float:
    return _D.unpack_from(buf, span[0])[0]


def float32(buf, span) -> float:
    return _F.unpack_from(buf, span[0])[0]


def text(buf, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")
