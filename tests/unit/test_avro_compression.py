"""Deflate streams: Java's exact bytes, any split, and bounded inflation of hostile input."""
from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

import pytest

from proto.avro import FrameTooLarge, MalformedFrame, ServerConnection, Status
from proto.avro.compression import Compressor, Decompressor
from tests.paths import AVRO_FIXTURES as FIXTURES



def test_session6_is_session1_through_one_sync_flushed_stream_per_direction() -> None:
    """Python's zlib at level 6 writes exactly what Flume's JZlibEncoder(6) wrote."""
    frames = (FIXTURES / "session1.s2c.bin").read_bytes()  # two frames: 27 + 23 bytes
    compressor = Compressor(6)
    compressed = compressor.compress(frames[:27]) + compressor.compress(frames[27:])
    assert compressed == (FIXTURES / "session6.s2c.bin").read_bytes()
    c2s = (FIXTURES / "session6.c2s.bin").read_bytes()
    assert b"".join(Decompressor().feed(c2s)) == (FIXTURES / "session1.c2s.bin").read_bytes()


def test_any_split_of_a_stream_inflates_the_same() -> None:
    rng = random.Random(5)
    compressor = Compressor()
    frames = [rng.randbytes(rng.randint(0, 3000)) * rng.randint(1, 3) for _ in range(20)]
    stream = b"".join(compressor.compress(f) for f in frames) + compressor.finish()
    decompressor = Decompressor(piece_bytes=1000)
    pieces, pos = [], 0
    while pos < len(stream):
        step = rng.randint(1, 300)
        pieces += decompressor.feed(stream[pos:pos + step])
        pos += step
    assert b"".join(pieces) == b"".join(frames)
    assert max(len(p) for p in pieces) <= 1000


def test_each_frame_can_be_decoded_as_soon_as_it_arrives() -> None:
    compressor, decompressor = Compressor(), Decompressor()
    for frame in [b"first", b"second" * 100, b""]:
        assert b"".join(decompressor.feed(compressor.compress(frame))) == frame


def test_a_bomb_is_cut_by_the_frame_limit_counted_after_inflation() -> None:
    """A frame declaring 1 GiB arrives as a few compressed bytes; the decompressed header is
    enough to refuse it, long before a GiB is inflated."""
    bomb = Compressor().compress(struct.pack(">iii", 1, 1, 2**30) + b"\x00" * (8 << 20))
    server = ServerConnection(deflate_level=6, max_frame_bytes=1 << 20)
    assert len(bomb) < 10_000
    with pytest.raises(FrameTooLarge):
        server.feed(bomb)


def test_garbage_and_bytes_after_the_end_are_malformed() -> None:
    with pytest.raises(MalformedFrame):
        list(Decompressor().feed(b"not a zlib stream"))
    ended = zlib.compress(b"frame")
    with pytest.raises(MalformedFrame):
        list(Decompressor().feed(ended + b"more"))


def test_plain_bytes_to_a_deflate_server_are_malformed() -> None:
    with pytest.raises(MalformedFrame):
        ServerConnection(deflate_level=6).feed((FIXTURES / "session1.c2s.bin").read_bytes())


def test_a_closed_client_stream_is_accepted() -> None:
    """A Java client ends its stream (final block + Adler-32) when it closes."""
    server = ServerConnection(deflate_level=6)
    c2s = (FIXTURES / "session6.c2s.bin").read_bytes()
    out, calls = server.feed(c2s)
    assert len(calls) == 2
    assert all(server.answer(c.serial, Status.OK) for c in calls)
    assert out == []
