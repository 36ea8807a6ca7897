"""Netty framing: Java's layout, reassembly from any split, and the limits on hostile frames."""
from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from proto.avro import FrameTooLarge, MalformedFrame
from proto.avro.framing import (DEFAULT_MAX_FRAME_BYTES, JAVA_CHUNK_BYTES, FrameDecoder,
                                default_max_buffers, encode_frame, java_chunks)
from tests.paths import AVRO_FIXTURES as FIXTURES



def header(serial: int, count: int) -> bytes:
    return struct.pack(">ii", serial, count)


def length(n: int) -> bytes:
    return struct.pack(">i", n)


def test_session1_frames_as_the_readme_draws_them() -> None:
    c2s = (FIXTURES / "session1.c2s.bin").read_bytes()
    s2c = (FIXTURES / "session1.s2c.bin").read_bytes()
    frames = FrameDecoder().feed(c2s)
    assert [(serial, len(payload)) for serial, payload in frames] == [(1, 128), (2, 93)]
    assert frames[0][1] == c2s[12:60] + c2s[64:144]
    assert FrameDecoder().feed(s2c) == [(1, b"\x00\x00\x00\x00\x00\x00\x00"), (2, b"\x00\x00\x00")]


def test_encode_frame_writes_buffers_as_given_including_empty_ones() -> None:
    s2c = (FIXTURES / "session1.s2c.bin").read_bytes()
    assert encode_frame(2, [b"", b"\x00", b"\x00\x00"]) == s2c[27:]
    assert encode_frame(-5, []) == header(-5, 0)


def test_java_chunks_cut_at_8192_bytes_like_session10() -> None:
    data = bytes(range(256)) * 48  # 12288 bytes
    chunks = java_chunks(data)
    assert [len(c) for c in chunks] == [8192, 4096]
    assert b"".join(chunks) == data
    assert java_chunks(b"") == [b""]
    assert [len(c) for c in java_chunks(b"x" * JAVA_CHUNK_BYTES)] == [JAVA_CHUNK_BYTES]


def test_any_split_reassembles_the_same_frames() -> None:
    rng = random.Random(7)
    frames = [(rng.randint(-2**31, 2**31 - 1),
               [rng.randbytes(rng.choice([0, 1, 5, 100, 9000])) for _ in range(rng.randint(0, 4))])
              for _ in range(30)]
    stream = b"".join(encode_frame(serial, buffers) for serial, buffers in frames)
    expected = [(serial, b"".join(buffers)) for serial, buffers in frames]
    for _ in range(20):
        decoder, got, pos = FrameDecoder(), [], 0
        while pos < len(stream):
            step = rng.choice([1, 2, 3, 7, 64, 5000])
            got += decoder.feed(stream[pos:pos + step])
            pos += step
        assert got == expected
        assert not decoder.has_partial


def test_truncated_frame_waits_and_reports_partial() -> None:
    frame = encode_frame(1, [b"abc", b"def"])
    for cut in range(1, len(frame)):
        decoder = FrameDecoder()
        assert decoder.feed(frame[:cut]) == []
        assert decoder.has_partial
        assert decoder.feed(frame[cut:]) == [(1, b"abcdef")]
        assert not decoder.has_partial


def test_negative_buffer_count_is_malformed() -> None:
    with pytest.raises(MalformedFrame):
        FrameDecoder().feed(header(1, -1))


def test_negative_buffer_length_is_malformed() -> None:
    with pytest.raises(MalformedFrame):
        FrameDecoder().feed(header(1, 2) + length(3) + b"abc" + length(-8))


def test_too_many_buffers_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder(max_frame_bytes=1 << 20, max_buffers=1024)
    assert decoder.feed(header(1, 1024)) == []
    with pytest.raises(FrameTooLarge):
        FrameDecoder(max_frame_bytes=1 << 20, max_buffers=1024).feed(header(1, 1025))
    with pytest.raises(FrameTooLarge):
        FrameDecoder().feed(header(1, 2**31 - 1))


def test_too_many_bytes_is_refused_before_they_arrive() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    assert decoder.feed(header(1, 1) + length(988) + b"x" * 988) == [(1, b"x" * 988)]
    with pytest.raises(FrameTooLarge):
        FrameDecoder(max_frame_bytes=1000).feed(header(1, 1) + length(989))
    with pytest.raises(FrameTooLarge):  # the sum counts, not each buffer
        FrameDecoder(max_frame_bytes=1000).feed(
            header(1, 2) + length(500) + b"x" * 500 + length(500))
    with pytest.raises(FrameTooLarge):
        FrameDecoder().feed(header(1, 1) + length(2**31 - 1))


def test_default_buffer_limit_admits_a_java_client_frame_of_the_byte_limit() -> None:
    """Java cuts a request into 8192-byte buffers: 1024 buffers would cap batches at 8 MiB."""
    needed = DEFAULT_MAX_FRAME_BYTES // JAVA_CHUNK_BYTES + 2
    assert default_max_buffers(DEFAULT_MAX_FRAME_BYTES) >= needed
    assert default_max_buffers(1 << 20) == 1024
    big = b"x" * (9 * 1024 * 1024)
    frame = encode_frame(3, [b"head", *java_chunks(big)])
    assert FrameDecoder().feed(frame) == [(3, b"head" + big)]
