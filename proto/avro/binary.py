"""Avro binary primitives, bounded for untrusted input.

    long/int  zig-zag, then little-endian base-128 varint (at most 10 bytes)
    string    long length + UTF-8 bytes        bytes  long length + raw bytes
    map       blocks: long count (negative: -count items, then a long byte size), items; 0 ends

Readers take (buffer, position) and return (value, next position); a length is checked against
the bytes present before anything is sliced, so garbage raises MalformedFrame instead of
allocating or reading past the end.
"""
from __future__ import annotations

from .errors import MalformedFrame

MAX_VARINT_BYTES = 10
_SMALL_LENGTHS = 4096  # lengths below this are encoded from a table (the hot path's bodies)


def _encode_zigzag(zigzag: int) -> bytes:
    out = bytearray()
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)
    return bytes(out)


LENGTHS = [_encode_zigzag(n << 1) for n in range(_SMALL_LENGTHS)]


def encode_long(value: int) -> bytes:
    """Zig-zag varint of a signed 64-bit value."""
    if 0 <= value < _SMALL_LENGTHS:
        return LENGTHS[value]
    return _encode_zigzag((value << 1) ^ (value >> 63))


def encode_bytes(data: bytes) -> bytes:
    return encode_long(len(data)) + data


def encode_string(text: str) -> bytes:
    return encode_bytes(text.encode("utf-8"))


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """One raw (still zig-zag encoded) varint; MalformedFrame when truncated or too long."""
    acc = shift = 0
    end = min(len(buf), pos + MAX_VARINT_BYTES)
    while pos < end:
        byte = buf[pos]
        pos += 1
        acc |= (byte & 0x7F) << shift
        if byte < 0x80:
            return acc, pos
        shift += 7
    if end == len(buf):
        raise MalformedFrame("truncated varint")
    raise MalformedFrame("varint longer than 10 bytes")


def read_long(buf: bytes, pos: int) -> tuple[int, int]:
    raw, pos = read_varint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """A string/bytes length that must fit in what is left of `buf`."""
    length, pos = read_long(buf, pos)
    if length < 0 or length > len(buf) - pos:
        raise MalformedFrame(f"length {length} at offset {pos}, {len(buf) - pos} bytes left")
    return length, pos


def read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_length(buf, pos)
    return buf[pos:pos + length], pos + length


def read_string(buf: bytes, pos: int) -> tuple[str, int]:
    raw, pos = read_bytes(buf, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError as exc:
        raise MalformedFrame(f"string before offset {pos} is not UTF-8") from exc


def read_block_count(buf: bytes, pos: int) -> tuple[int, int]:
    """The item count of the next array/map block (0 ends the value), bounded by the bytes left:
    every item on our hot path (an event 00 00, a map entry "" "") takes at least 2 bytes."""
    count, pos = read_long(buf, pos)
    if count < 0:
        count = -count
        size, pos = read_long(buf, pos)
        if size < 0:
            raise MalformedFrame(f"negative block size {size}")
    if count * 2 > len(buf) - pos:
        raise MalformedFrame(f"block of {count} items at offset {pos}, {len(buf) - pos} bytes left")
    return count, pos


def skip_bytes_map(buf: bytes, pos: int) -> int:
    """Step over a map<bytes> (call metadata, which nobody on Flume's side fills)."""
    while True:
        count, pos = read_block_count(buf, pos)
        if count == 0:
            return pos
        for _ in range(count * 2):  # a key, then a value
            length, pos = read_length(buf, pos)
            pos += length
