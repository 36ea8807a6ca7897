"""An event batch as it travels between processes: one opaque blob, in one of two forms.

    msgpack form   msgpack([headers, bodies]), columns not rows
                       headers: None when no event has a header, else a list of {str: str}
                       bodies:  list of bytes
    Avro form      C1 + array<AvroFlumeEvent>, the very bytes of an appendBatch parameter

Columns instead of a dict per event keep the per-event Python work of sources and sinks small;
channels and routers never decode a blob (docs/architecture.md 4). The Avro form lets a batch
cross a collector as it arrived: its avro source checks the bytes without decoding them, and an
avro sink joins a transaction's Avro blobs into one appendBatch without decoding them either
(`avro_array`). 0xC1 is the one byte msgpack never writes, so the first byte tells the forms
apart. Only a channel that must hand out fewer events than a stored blob holds calls `split`.
"""
from __future__ import annotations

from typing import Sequence, Union

import msgpack

from proto.avro.codec import Headers, decode_events, encode_events, scan_events
from proto.avro.errors import MalformedFrame
from proto.errors import ZflumeError
from proto.packer import pack

Blob = Union[bytes, memoryview]  # received blobs are views of their message's frame
AVRO_FORM = 0xC1
_AVRO_TAG = bytes([AVRO_FORM])
_ARRAY_END = b"\x00"

# A blob is bounded by the channel's transactionCapacity; these limits keep a hostile or broken
# peer from making the unpacker allocate without bound.
MAX_BLOB_BYTES = 512 * 1024 * 1024


class BatchError(ZflumeError, ValueError):
    """A blob that is neither form, or does not decode."""


def encode(bodies: list[bytes], headers: Headers = None) -> bytes:
    """Pack one batch (msgpack form); `headers` None or one dict per body."""
    if headers is not None and not any(headers):
        headers = None
    return pack([headers, bodies])


def encode_avro(bodies: list[bytes], headers: Headers = None) -> bytes:
    """Pack one batch in the Avro form, for a source whose events only avro sinks take."""
    return _AVRO_TAG + encode_events(headers, bodies)


def from_avro(array: bytes) -> bytes:
    """The Avro-form blob of an event array already checked (codec.scan_events)."""
    return _AVRO_TAG + array


def decode(blob: Blob) -> tuple[Headers, list[bytes]]:
    """Unpack one batch of either form, checking its shape; raises BatchError on anything else."""
    if blob[:1] == _AVRO_TAG:
        return _decode_avro(bytes(blob))
    try:
        value = msgpack.unpackb(blob, raw=False, max_bin_len=MAX_BLOB_BYTES,
                                max_str_len=MAX_BLOB_BYTES, max_array_len=10_000_000,
                                max_map_len=10_000_000)
    except (ValueError, msgpack.UnpackException) as exc:
        raise BatchError(f"undecodable batch: {exc}") from exc
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
        raise BatchError("batch is not [headers, bodies]")
    headers, bodies = value
    if headers is not None and (not isinstance(headers, list) or len(headers) != len(bodies)):
        raise BatchError("batch headers do not match its bodies")
    return headers, bodies


def _decode_avro(blob: bytes) -> tuple[Headers, list[bytes]]:
    try:
        headers, bodies, end = decode_events(blob, 1)
    except MalformedFrame as exc:
        raise BatchError(f"undecodable Avro batch: {exc}") from exc
    if end != len(blob):
        raise BatchError(f"Avro batch has {len(blob) - end} bytes after its events")
    return headers, bodies


def split(blob: Blob, count: int) -> tuple[bytes, bytes]:
    """The first `count` events of a blob and the rest, as two blobs of its form (the slow,
    rare path)."""
    headers, bodies = decode(blob)
    rest = None if headers is None else headers[count:]
    first = None if headers is None else headers[:count]
    if blob[:1] == _AVRO_TAG:
        return encode_avro(bodies[:count], first), encode_avro(bodies[count:], rest)
    return encode(bodies[:count], first), encode(bodies[count:], rest)


def avro_array(blobs: Sequence[Blob]) -> bytes:
    """One transaction's blobs as one appendBatch parameter: Avro-form blobs are checked and
    joined as they are (each without its end marker), msgpack ones encoded."""
    parts = []
    for blob in blobs:
        if blob[:1] == _AVRO_TAG:
            data = bytes(blob)
            try:
                _, _, marker, end = scan_events(data, 1)
            except MalformedFrame as exc:
                raise BatchError(f"undecodable Avro batch: {exc}") from exc
            if end != len(data):
                raise BatchError(f"Avro batch has {len(data) - end} bytes after its events")
            parts.append(data[1:marker])
        else:
            headers, bodies = decode(blob)
            parts.append(encode_events(headers, bodies)[:-1])
    parts.append(_ARRAY_END)
    return b"".join(parts)


def events(headers: Headers, bodies: list[bytes]) -> list[tuple[dict[str, str], bytes]]:
    """Rows for the few consumers that want (headers, body) pairs."""
    if headers is None:
        return [({}, body) for body in bodies]
    return list(zip(headers, bodies, strict=True))


def merge(blobs: Sequence[Blob]) -> tuple[Headers, list[bytes]]:
    """One (headers, bodies) pair for the several blobs of a delivery."""
    if len(blobs) == 1:
        return decode(blobs[0])
    parts = [decode(blob) for blob in blobs]
    bodies = [body for _, part_bodies in parts for body in part_bodies]
    if all(headers is None for headers, _ in parts):
        return None, bodies
    headers = [h for part_headers, part_bodies in parts
               for h in (part_headers or [{}] * len(part_bodies))]
    return headers, bodies
