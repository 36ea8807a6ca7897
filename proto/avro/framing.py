"""Avro's Netty transport framing (NettyTransportCodec), both directions.

One frame ("data pack") per request or response, no magic, no total length:

    +----------+----------+----------+-----------+-----+----------+-----------+
    | serial   | count    | len[0]   | bytes[0]  | ... | len[n-1] | bytes[n-1]|
    | int32 BE | int32 BE | int32 BE | len[0] B  |     | int32 BE |           |
    +----------+----------+----------+-----------+-----+----------+-----------+

The payload is bytes[0] + ... + bytes[n-1]; buffer boundaries mean nothing (a string may straddle
two buffers, a buffer may be empty). Java cuts its output into 8192-byte buffers
(ByteBufferOutputStream), so a Java client sends about one buffer per 8 KiB: a buffer limit must
grow with the byte limit, or it silently caps real Flume batches (1024 buffers = 8 MiB).
"""
from __future__ import annotations

import struct
from typing import Sequence

from .errors import FrameTooLarge, MalformedFrame

JAVA_CHUNK_BYTES = 8192
DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024
MIN_MAX_BUFFERS = 1024
_HEADER = struct.Struct(">ii")
_LENGTH = struct.Struct(">i")
_SERIAL = _LENGTH  # a frame starts with its serial

Buffer = bytes | memoryview


def default_max_buffers(max_frame_bytes: int) -> int:
    """Enough buffers for a frame of `max_frame_bytes` cut the Java way, and never below 1024."""
    return max(MIN_MAX_BUFFERS, max_frame_bytes // JAVA_CHUNK_BYTES + 2)


def java_chunks(data: bytes) -> list[Buffer]:
    """Cut one encoded section as Java's ByteBufferOutputStream does: 8192-byte buffers, and one
    empty buffer for empty data (Java's empty handshake slot)."""
    if len(data) <= JAVA_CHUNK_BYTES:
        return [data]
    view = memoryview(data)
    return [view[i:i + JAVA_CHUNK_BYTES] for i in range(0, len(data), JAVA_CHUNK_BYTES)]


def encode_frame(serial: int, buffers: Sequence[Buffer]) -> bytes:
    """One frame; `buffers` are written as given (see java_chunks)."""
    parts: list[Buffer] = [_HEADER.pack(serial, len(buffers))]
    for buffer in buffers:
        parts.append(_LENGTH.pack(len(buffer)))
        parts.append(buffer)
    return b"".join(parts)


def with_serial(serial: int, frame: bytes) -> bytes:
    """`frame` renumbered as the answer to call `serial`."""
    return _SERIAL.pack(serial) + frame[_SERIAL.size:]


class FrameDecoder:
    """Reassembles frames from chunks split anywhere; yields (serial, payload)."""

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 max_buffers: int | None = None) -> None:
        self.max_frame_bytes = max_frame_bytes
        if max_buffers is None:
            max_buffers = default_max_buffers(max_frame_bytes)
        self.max_buffers = max_buffers
        self._buf = bytearray()
        self._start = 0      # offset of the current frame in _buf
        self._reset_frame()

    @property
    def has_partial(self) -> bool:
        """True when bytes of an unfinished frame are buffered (EOF now would cut a frame)."""
        return len(self._buf) > self._start

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add bytes; return every frame they complete, in order."""
        self._buf += data
        frames = []
        while (frame := self._next_frame()) is not None:
            frames.append(frame)
        del self._buf[:self._start]
        self._start = 0
        return frames

    def _reset_frame(self) -> None:
        self._serial: int | None = None
        self._left = 0       # buffers whose length header is not read yet
        self._cursor = 0     # bytes of the current frame scanned so far (headers included)
        self._spans: list[tuple[int, int]] = []

    def _next_frame(self) -> tuple[int, bytes] | None:
        if not (self._scan_header() and self._scan_buffers()):
            return None
        base, serial = self._start, self._serial
        assert serial is not None  # _scan_header read it
        with memoryview(self._buf) as view:
            payload = b"".join([view[base + s:base + e] for s, e in self._spans])
        frame = (serial, payload)
        self._start += self._cursor
        self._reset_frame()
        return frame

    def _scan_header(self) -> bool:
        if self._serial is not None:
            return True
        if len(self._buf) - self._start < _HEADER.size:
            return False
        serial, count = _HEADER.unpack_from(self._buf, self._start)
        if count < 0:
            raise MalformedFrame(f"frame {serial}: negative buffer count {count}")
        if count > self.max_buffers:
            raise FrameTooLarge(f"frame {serial}: {count} buffers, limit {self.max_buffers}")
        self._serial, self._left, self._cursor = serial, count, _HEADER.size
        return True

    def _scan_buffers(self) -> bool:
        """Read the length headers present; True once the whole frame is buffered."""
        available = len(self._buf) - self._start
        while self._left:
            if available - self._cursor < _LENGTH.size:
                return False
            (length,) = _LENGTH.unpack_from(self._buf, self._start + self._cursor)
            if length < 0:
                raise MalformedFrame(f"frame {self._serial}: negative buffer length {length}")
            begin = self._cursor + _LENGTH.size
            if begin + length > self.max_frame_bytes:
                raise FrameTooLarge(f"frame {self._serial}: over {self.max_frame_bytes} bytes")
            self._spans.append((begin, begin + length))
            self._cursor = begin + length
            self._left -= 1
        return available >= self._cursor
