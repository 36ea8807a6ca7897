"""The hot Avro shape, array<AvroFlumeEvent>, encoded from and decoded to columns.

    array  := block* 00          block := count:long item{count}  (count < 0: -count items
                                          preceded by a long byte size; Java writes one block)
    item   := headers:map<string> body:bytes
    map    := (count:long (key:string value:string){count})* 00
    e.g. 1 event {"k": "v"}, body "hi":  02 | 02 02 6b 02 76 00 | 04 68 69 | 00

Columns (docs/architecture.md 4, proto/batch.py): `Headers` is None when no event has one,
else one dict per body. Consecutive events usually share their headers, so the encoder reuses the
previous map's bytes and the decoder recognises the previous map's bytes instead of parsing them
again (each event still gets its own dict). fastavro (protocol.EVENTS_SCHEMA) is the reference in
the tests. Every length and count is checked against the bytes left before use: truncated or garbage
input raises MalformedFrame, in time linear in its size.
"""
from __future__ import annotations

from typing import Callable, Optional

from .binary import LENGTHS, encode_long, read_block_count, read_varint
from .errors import MalformedFrame

# A batch's headers in columns: None when no event has any, else one dict per body.
Headers = Optional[list[dict[str, str]]]

EMPTY = b"\x00"  # empty map, empty array, and the end of every map and array
_SMALL = len(LENGTHS)
_EMPTY_MAP_AND_LENGTH = [EMPTY + length for length in LENGTHS]


def encode_map(headers: dict[str, str]) -> bytes:
    """One map<string> block followed by the end marker (as Java writes it)."""
    if not headers:
        return EMPTY
    parts = [encode_long(len(headers))]
    for key, value in headers.items():
        raw_key, raw_value = key.encode("utf-8"), value.encode("utf-8")
        parts += (encode_long(len(raw_key)), raw_key, encode_long(len(raw_value)), raw_value)
    parts.append(EMPTY)
    return b"".join(parts)


def encode_event(headers: dict[str, str], body: bytes) -> bytes:
    """One AvroFlumeEvent: the parameter of `append`."""
    return encode_map(headers) + encode_long(len(body)) + body


def encode_events(headers: Headers, bodies: list[bytes]) -> bytes:
    """array<AvroFlumeEvent> as one block, the parameter of `appendBatch`."""
    if headers is not None and len(headers) != len(bodies):
        raise ValueError(f"{len(headers)} header maps for {len(bodies)} bodies")
    if not bodies:
        return EMPTY
    parts = [encode_long(len(bodies))]
    append = parts.append
    if headers is None:
        for body in bodies:
            size = len(body)
            append(_EMPTY_MAP_AND_LENGTH[size] if size < _SMALL else EMPTY + encode_long(size))
            append(body)
    else:
        previous: dict | None = None
        encoded = EMPTY
        for event_headers, body in zip(headers, bodies, strict=True):
            if event_headers is not previous and event_headers != previous:
                encoded = encode_map(event_headers)
            previous = event_headers
            size = len(body)
            append(encoded)
            append(LENGTHS[size] if size < _SMALL else encode_long(size))
            append(body)
    append(EMPTY)
    return b"".join(parts)


def decode_events(buf: bytes, pos: int = 0) -> tuple[Headers, list[bytes], int]:
    """array<AvroFlumeEvent> at `pos`: (headers or None, bodies, end position)."""
    try:
        return _decode_events(buf, pos)
    except (IndexError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"bad event array: {exc}") from exc


def _decode_events(buf: bytes, pos: int) -> tuple[Headers, list[bytes], int]:
    """One loop on purpose: a function call per event would cost more than decoding it in
    plain Python (events with a header map, the rarer loop, share `_body_length` with the
    scan). An event without headers (its map is the single byte 00, the usual case) costs no
    dict: the header list exists only once some event has a map."""
    headers: list[dict[str, str]] | None = None
    bodies: list[bytes] = []
    add_body = bodies.append
    previous_raw = EMPTY
    previous: dict[str, str] = {}
    reused = False
    while True:
        count, pos = read_block_count(buf, pos)
        if not count:
            if headers is None:
                return None, bodies, pos
            if reused:  # events sharing a map get a dict each: interceptors set headers in place
                return [event_headers.copy() for event_headers in headers], bodies, pos
            return headers, bodies, pos
        if headers is None:  # no header seen yet: the tight loop, until an event has one
            pos, count = _bodies_without_headers(buf, pos, count, add_body)
        for _ in range(count):
            if not buf[pos]:  # IndexError when truncated
                pos += 1
                if headers is not None:
                    headers.append({})
            else:
                if headers is None:
                    headers = [{} for _ in bodies]
                if previous_raw is not EMPTY and buf.startswith(previous_raw, pos):
                    pos += len(previous_raw)
                    reused = True
                else:
                    start = pos
                    previous, pos = _decode_map(buf, pos)
                    previous_raw = buf[start:pos]
                headers.append(previous)
            length, pos = _body_length(buf, pos)
            add_body(buf[pos:pos + length])
            pos += length


def scan_events(buf: bytes, pos: int = 0) -> tuple[int, int, int, int]:
    """array<AvroFlumeEvent> at `pos`, checked as `decode_events` checks it but not decoded:
    (events, body bytes, where its end marker starts, end position). What relaying the bytes
    as they came needs: the count and size a channel accounts, proof that they decode, and
    where arrays are cut to be joined (the marker, a zero, may be padded: 80 00 is 0 too)."""
    try:
        return _scan_events(buf, pos)
    except (IndexError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"bad event array: {exc}") from exc


def scan_event(buf: bytes, pos: int = 0) -> tuple[int, int]:
    """One AvroFlumeEvent at `pos`, checked: (body bytes, end position)."""
    try:
        pos = _skip_map(buf, pos, EMPTY)
        length, pos = _body_length(buf, pos)
    except (IndexError, UnicodeDecodeError) as exc:
        raise MalformedFrame(f"bad event: {exc}") from exc
    return length, pos + length


def _scan_events(buf: bytes, pos: int) -> tuple[int, int, int, int]:
    events = nbytes = 0
    previous_raw = EMPTY  # a header map checked already: the next event's is often the same
    while True:
        marker = pos
        count, pos = read_block_count(buf, pos)
        if not count:
            return events, nbytes, marker, pos
        events += count
        for _ in range(count):
            if buf[pos]:  # IndexError when truncated
                start = pos
                pos = _skip_map(buf, pos, previous_raw)
                previous_raw = buf[start:pos]
            else:
                pos += 1
            length, pos = _body_length(buf, pos)
            nbytes += length
            pos += length


def _skip_map(buf: bytes, pos: int, known: bytes) -> int:
    """The end of the map<string> at `pos`, checked (its strings UTF-8) unless its bytes are
    `known`'s, a map checked before."""
    if known is not EMPTY and buf.startswith(known, pos):
        return pos + len(known)
    return _decode_map(buf, pos)[1]


def _body_length(buf: bytes, pos: int) -> tuple[int, int]:
    """A body's length and where the body starts: it must fit in what is left of `buf`."""
    length = buf[pos]  # zig-zag varint, 1 and 2 bytes inline; IndexError when truncated
    if length < 0x80:
        pos += 1
    elif buf[pos + 1] < 0x80:
        length = (length & 0x7F) | buf[pos + 1] << 7
        pos += 2
    else:
        length, pos = read_varint(buf, pos)
    if length & 1 or length >> 1 > len(buf) - pos:
        raise MalformedFrame(f"bad body length at offset {pos}, {len(buf) - pos} bytes left")
    return length >> 1, pos


def _half(zigzag: int) -> int:
    """A zig-zag encoded length as a body length; -1 when it is negative."""
    return -1 if zigzag & 1 else zigzag >> 1


def _two_byte_half(index: int) -> int:
    """A 2-byte zig-zag length, `second << 8 | first`, as a body length: -1 when negative, -2
    when it is not a 2-byte varint (the first byte ends, or the second continues it)."""
    first, second = index & 0xFF, index >> 8
    if first < 0x80 or second >= 0x80:
        return -2
    return _half((first & 0x7F) | second << 7)


# Body lengths by their varint bytes, so the loop below reads one from a list instead of
# masking, shifting and checking its sign per event (15-25 % of that loop).
_HALF_1 = [_half(length) for length in range(0x80)]
_HALF_2 = [_two_byte_half(index) for index in range(1 << 16)]


def _bodies_without_headers(buf: bytes, pos: int, count: int,
                            add_body: Callable[[bytes], None]) -> tuple[int, int]:
    """The usual batch: events with the empty map (00) and bodies under 8 KiB (a 1- or 2-byte
    length). Reads such events until `count` are done or one is not like that; returns the
    position and how many events of the block are left for the general loop, which also
    reports a negative length. A body running past the end leaves `pos` past it, so the next
    read raises IndexError or the check at the end fires: one comparison per batch instead of
    one per event, in the loop that is most of a collector's CPU at big batches."""
    half_1, half_2 = _HALF_1, _HALF_2
    for done in range(count):
        if buf[pos]:  # a header map: IndexError when truncated
            return pos, count - done
        first = buf[pos + 1]
        if first < 0x80:
            length = half_1[first]
            start = pos + 2
        else:
            length = half_2[buf[pos + 2] << 8 | first]
            start = pos + 3
        if length < 0:
            return pos, count - done  # negative, or a longer length: the general loop's
        pos = start + length
        add_body(buf[start:pos])  # past the end: short, and caught below or at the next event
    if pos > len(buf):
        raise MalformedFrame(f"the last body runs {pos - len(buf)} bytes past the end")
    return pos, 0


def _decode_map(buf: bytes, pos: int) -> tuple[dict[str, str], int]:
    """A map<string>; runs once per event when a header varies (a timestamp), hence the inline
    fast path for the usual block count below 64."""
    result: dict[str, str] = {}
    while True:
        count = buf[pos]  # IndexError when truncated; an even byte below 0x80 is a count of byte/2
        if count < 0x80 and not count & 1 and count < len(buf) - pos:
            pos += 1
            count >>= 1
        else:
            count, pos = read_block_count(buf, pos)
        if not count:
            return result, pos
        for _ in range(count):
            key, pos = _string(buf, pos)
            result[key], pos = _string(buf, pos)


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    """binary.read_string with one- and two-byte lengths read inline."""
    length = buf[pos]  # IndexError when truncated
    if length < 0x80:
        pos += 1
    elif buf[pos + 1] < 0x80:
        length = (length & 0x7F) | buf[pos + 1] << 7
        pos += 2
    else:
        length, pos = read_varint(buf, pos)
    if length & 1 or length >> 1 > len(buf) - pos:
        raise MalformedFrame(f"bad string length at offset {pos}, {len(buf) - pos} bytes left")
    end = pos + (length >> 1)
    return buf[pos:end].decode("utf-8"), end
