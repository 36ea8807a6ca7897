"""An event batch as it travels between processes: one opaque msgpack blob, columns not rows.

    blob = msgpack([headers, bodies])
        headers: None when no event has a header, else a list of {str: str} (one per event)
        bodies:  list of bytes

Columns instead of a dict per event keep the per-event Python work of sources and sinks small;
channels and routers never decode a blob (docs/architecture.md 4). Only a channel that must hand out
fewer events than a stored blob holds calls `split`.
"""
from __future__ import annotations

from typing import Optional, Union

import msgpack

from proto.errors import ZflumeError
from proto.packer import pack

Headers = Optional[list[dict[str, str]]]
Blob = Union[bytes, memoryview]  # received blobs are views of their message's frame

# A blob is bounded by the channel's transactionCapacity; these limits keep a hostile or broken
# peer from making the unpacker allocate without bound.
MAX_BLOB_BYTES = 512 * 1024 * 1024


class BatchError(ZflumeError, ValueError):
    """A blob that is not `[headers-or-nil, [bytes...]]`."""


def encode(bodies: list[bytes], headers: Headers = None) -> bytes:
    """Pack one batch; `headers` None or one dict per body."""
    if headers is not None and not any(headers):
        headers = None
    return pack([headers, bodies])


def decode(blob: Blob) -> tuple[Headers, list[bytes]]:
    """Unpack one batch, checking its shape; raises BatchError on anything else."""
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


def split(blob: Blob, count: int) -> tuple[bytes, bytes]:
    """The first `count` events of a blob and the rest, as two blobs (the slow, rare path)."""
    headers, bodies = decode(blob)
    if headers is None:
        return encode(bodies[:count]), encode(bodies[count:])
    return encode(bodies[:count], headers[:count]), encode(bodies[count:], headers[count:])


def events(headers: Headers, bodies: list[bytes]) -> list[tuple[dict[str, str], bytes]]:
    """Rows for the few consumers that want (headers, body) pairs."""
    if headers is None:
        return [({}, body) for body in bodies]
    return list(zip(headers, bodies, strict=True))


def merge(blobs: list[Blob]) -> tuple[Headers, list[bytes]]:
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
