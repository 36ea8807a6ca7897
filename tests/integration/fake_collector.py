"""A fake Flume collector: replays what Apache Flume's AvroSource answered in the golden captures.

    python fake_collector.py --fd FD --log FILE [--deflate] STEM [STEM ...]

FD is a listening TCP socket inherited from the test (it bound port 0, so no port race). Each
STEM names one captured connection under tests/fixtures/avro ("session2", "session5.conn2").
On a connection's first frame the fake picks the first STEM whose first client frame has the
same first buffer (handshake, call metadata and message name: everything but the events). From
then on the Nth frame received is answered with the Nth server write of that capture, byte for
byte; with --deflate that is the compressed bytes Flume's JZlib wrote. Past the end of the
capture every frame is answered as an established AvroSource answers OK:

    [serial][3][0: ][1: 00][2: 00 00]     empty handshake slot, empty metadata, no error, OK

(compressed, with --deflate, by a raw deflate stream that continues the captured one). A first
frame that matches no STEM gets no answer and the connection is closed.

Every frame received goes to the log as a JSON line, for the test to compare with the capture:

    {"conn": 1, "serial": 1, "buffers": ["86aa...", "06..."], "answer": "session2#0"}
    {"conn": 1, "raw": "789c..."}      the bytes of one recv() as they came off the wire
    {"conn": 1, "nomatch": true}       then the connection is closed

Only the standard library: the oracle must not share code with what it tests.
"""
from __future__ import annotations

import argparse
import json
import selectors
import socket
import struct
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

from tests.paths import AVRO_FIXTURES as FIXTURES

READ_BYTES = 65536
_INT = struct.Struct(">i")
_HEADER = struct.Struct(">ii")
# What AvroSource answers an established connection's successful call (see the docstring).
STEADY_BUFFERS = (b"", b"\x00", b"\x00\x00")


class Frame(NamedTuple):
    serial: int
    buffers: list[bytes]

    @property
    def payload(self) -> bytes:
        return b"".join(self.buffers)


def encode_frame(frame: Frame) -> bytes:
    parts = [_HEADER.pack(frame.serial, len(frame.buffers))]
    for buffer in frame.buffers:
        parts += [_INT.pack(len(buffer)), buffer]
    return b"".join(parts)


def split_frames(data: bytes) -> tuple[list[Frame], bytes]:
    """Every complete frame at the start of `data`, and the bytes left over."""
    frames, pos = [], 0
    while True:
        frame, end = _one_frame(data, pos)
        if frame is None:
            return frames, data[pos:]
        frames.append(frame)
        pos = end


def _one_frame(data: bytes, pos: int) -> tuple[Frame | None, int]:
    if len(data) - pos < _HEADER.size:
        return None, pos
    serial, count = _HEADER.unpack_from(data, pos)
    if count < 0:
        raise ValueError(f"frame {serial}: negative buffer count {count}")
    cursor, buffers = pos + _HEADER.size, []
    for _ in range(count):
        if len(data) - cursor < _INT.size:
            return None, pos
        (length,) = _INT.unpack_from(data, cursor)
        if length < 0:
            raise ValueError(f"frame {serial}: negative buffer length {length}")
        cursor += _INT.size
        if len(data) - cursor < length:
            return None, pos
        buffers.append(data[cursor:cursor + length])
        cursor += length
    return Frame(serial, buffers), cursor


def capture(stem: str, direction: str, deflate: bool) -> bytes:
    """One direction of a captured connection, decompressed when the capture is deflated."""
    data = (FIXTURES / f"{stem}.{direction}.bin").read_bytes()
    return zlib.decompressobj().decompress(data) if deflate else data


def server_writes(stem: str, deflate: bool) -> list[bytes]:
    """The server's writes on a captured connection, as the recording proxy received them."""
    session, _, conn = stem.partition(".conn")
    data = (FIXTURES / f"{stem}.s2c.bin").read_bytes()
    records = [json.loads(line) for line in
               (FIXTURES / f"{session}.chunks.jsonl").read_text().splitlines()]
    writes = [data[r["offset"]:r["offset"] + r["len"]] for r in records
              if r["conn"] == int(conn or 1) and r["dir"] == "s2c" and "len" in r]
    if not deflate:  # each write is one whole frame: check, so a replay answers frame by frame
        for write in writes:
            frames, rest = split_frames(write)
            if len(frames) != 1 or rest:
                raise ValueError(f"{stem}: a server write is not exactly one frame")
    return writes


@dataclass
class Script:
    """One captured connection: its first client buffer and the server's writes, in order."""
    stem: str
    first_head: bytes
    writes: list[bytes]

    @classmethod
    def load(cls, stem: str, deflate: bool) -> Script:
        requests, _ = split_frames(capture(stem, "c2s", deflate))
        writes = server_writes(stem, deflate)
        if len(writes) != len(requests):
            raise ValueError(f"{stem}: {len(requests)} requests but {len(writes)} answers")
        return cls(stem, requests[0].buffers[0], writes)


@dataclass
class Conn:
    """One accepted connection and where it is in its script."""
    number: int
    sock: socket.socket
    deflate: bool
    pending: bytes = b""
    script: Script | None = None
    step: int = 0
    inflate: Any = field(default_factory=zlib.decompressobj)
    tail: Any = None  # the raw deflate stream continuing the captured one

    def plain(self, data: bytes) -> bytes:
        return self.inflate.decompress(data) if self.deflate else data

    def steady(self, serial: int) -> bytes:
        frame = encode_frame(Frame(serial, list(STEADY_BUFFERS)))
        if not self.deflate:
            return frame
        if self.tail is None:
            # The captured stream ends on a sync flush, byte-aligned: raw deflate blocks from a
            # fresh compressor continue it as one valid zlib stream (no header, no checksum yet).
            self.tail = zlib.compressobj(6, zlib.DEFLATED, -15)
        return self.tail.compress(frame) + self.tail.flush(zlib.Z_SYNC_FLUSH)


class FakeCollector:
    def __init__(self, listener: socket.socket, scripts: list[Script], deflate: bool,
                 log: IO[str]) -> None:
        self.listener = listener
        self.scripts = scripts
        self.deflate = deflate
        self.log = log
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ)
        self.accepted = 0

    def run(self) -> None:
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    self._read(key.data)

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.accepted += 1
        self.selector.register(sock, selectors.EVENT_READ, Conn(self.accepted, sock, self.deflate))

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(READ_BYTES)
        except ConnectionError:
            data = b""
        if not data:
            self._close(conn)
            return
        self._record(conn.number, raw=data.hex())
        frames, conn.pending = split_frames(conn.pending + conn.plain(data))
        for frame in frames:
            if not self._answer(conn, frame):
                self._close(conn)
                return

    def _answer(self, conn: Conn, frame: Frame) -> bool:
        if conn.script is None:
            conn.script = next((s for s in self.scripts if s.first_head == frame.buffers[0]), None)
            if conn.script is None:
                self._record(conn.number, nomatch=True, serial=frame.serial,
                             buffers=[b.hex() for b in frame.buffers])
                return False
        script, step = conn.script, conn.step
        conn.step += 1
        if step < len(script.writes):
            answer, reply = f"{script.stem}#{step}", script.writes[step]
        else:
            answer, reply = "steady", conn.steady(frame.serial)
        self._record(conn.number, serial=frame.serial, buffers=[b.hex() for b in frame.buffers],
                     answer=answer)
        try:
            conn.sock.sendall(reply)
        except OSError:
            return False  # the peer went away; it is closed and logged as such
        return True

    def _close(self, conn: Conn) -> None:
        self.selector.unregister(conn.sock)
        conn.sock.close()
        self._record(conn.number, closed=True)

    def _record(self, number: int, **fields: object) -> None:
        self.log.write(json.dumps({"conn": number, **fields}) + "\n")
        self.log.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="an inherited listening socket")
    parser.add_argument("--log", required=True)
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("stems", nargs="+")
    args = parser.parse_args()
    scripts = [Script.load(stem, args.deflate) for stem in args.stems]
    listener = socket.socket(fileno=args.fd)
    with open(args.log, "a", encoding="utf-8") as log:
        FakeCollector(listener, scripts, args.deflate, log).run()


if __name__ == "__main__":
    main()
