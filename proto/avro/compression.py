"""`compression-type = deflate`: Netty's ZlibEncoder/ZlibDecoder in front of the framing.

Each direction of a connection is ONE zlib stream (RFC 1950: header 78 9c, Adler-32 at the end),
never reset; every frame written is followed by a sync flush (00 00 ff ff), so the peer can
decode it without waiting for more. A Java client that closes ends its stream properly (final
block + Adler-32); a server never does. Python's zlib at level 6 produces exactly the bytes of
Flume's JZlib (session 6).
"""
from __future__ import annotations

import zlib
from typing import Iterator

from .errors import MalformedFrame

DEFAULT_LEVEL = 6               # compression-level's default; AvroSource always uses 6
INFLATE_PIECE_BYTES = 1 << 20   # inflate at most this much per step, so a bomb is cut in pieces


class Compressor:
    """The outbound stream of one connection."""

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self._stream = zlib.compressobj(level)

    def compress(self, frame: bytes) -> bytes:
        """One frame, sync-flushed."""
        return self._stream.compress(frame) + self._stream.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """The end of the stream (a closing Java client sends it)."""
        return self._stream.flush(zlib.Z_FINISH)


class Decompressor:
    """The inbound stream of one connection; yields plain bytes in bounded pieces.

    Pieces go to a FrameDecoder, whose limits therefore count decompressed bytes.
    """

    def __init__(self, piece_bytes: int = INFLATE_PIECE_BYTES) -> None:
        self._stream = zlib.decompressobj()
        self._piece_bytes = piece_bytes

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            try:
                piece = self._stream.decompress(pending, self._piece_bytes)
            except zlib.error as exc:
                raise MalformedFrame(f"bad deflate stream: {exc}") from exc
            if piece:
                yield piece
            pending = self._stream.unconsumed_tail
            # A full piece may leave output inside zlib even when all input was consumed.
            if not pending and len(piece) < self._piece_bytes:
                break
        if self._stream.unused_data:
            raise MalformedFrame("bytes after the end of the deflate stream")
