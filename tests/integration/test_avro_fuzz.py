"""The avro source under hostile connections while a well-behaved Flume-style client delivers.

One agent: avro source (max-frame-bytes 1 MiB, so its buffer limit is the 1024 floor) -> memory
-> file_roll. The good client is proto.avro.ClientConnection over a socket: appendBatch of 100
numbered events, wait for the answer, send the same batch again on FAILED. Bad connections are
opened from a thread pool while it runs; each attack returns what the source did to it.
"""
from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import subprocess
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

import pytest

from proto.avro import ClientConnection, Reply, Status
from proto.avro.framing import FrameDecoder, encode_frame
from tests.integration.fake_collector import FIXTURES
from tests.integration.harness import BIN, Agent, duplicates, fail_on_surprises, lines_in, wait_for

TOTAL = 20_000
BATCH = 100
MAX_FRAME_BYTES = 1 << 20
MAX_BUFFERS = 1024  # proto.avro.framing.MIN_MAX_BUFFERS: the floor, since 1 MiB / 8 KiB < 1024
TIMEOUT_S = 5.0
FLOOD_CALLS = 300_000  # ~7 MB of answers unread: more than any socket buffers hold
FLOOD_WATCH_S = 6.0
STALL_LIMIT_S = 1.0
CALL_HEAD = b"\x00\x16appendBatch"  # empty call metadata, then the message name
EMPTY_BATCH = b"\x00"

# What the source must do to a connection: close it (counted as a malformed frame), answer it.
CLOSED = "closed"
ANSWERED_THEN_CLOSED = "answered, then closed"
SYSTEM_ERROR_THEN_OK = "system error, connection kept"
OK = "ok"


def status(agent: Agent) -> dict[str, str]:
    out = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)["SOURCE.src"]


def malformed(agent: Agent) -> int:
    """MalformedFrameCount (declared, so 0 before the first one)."""
    return int(status(agent).get("MalformedFrameCount", 0))


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Agent, int]]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    agent = Agent(workdir, "z", f"""
z.sources = src
z.channels = ch
z.sinks = out
z.sources.src.type = avro
z.sources.src.bind = 127.0.0.1
z.sources.src.port = {port}
z.sources.src.max-frame-bytes = {MAX_FRAME_BYTES}
z.sources.src.channels = ch
z.channels.ch.type = memory
z.channels.ch.capacity = {TOTAL + 10_000}
z.channels.ch.transactionCapacity = 1000
z.sinks.out.type = file_roll
z.sinks.out.channel = ch
z.sinks.out.sink.directory = out
z.sinks.out.sink.rollInterval = 0
z.sinks.out.sink.batchSize = 1000
""")
    try:
        agent.start()
        wait_for(lambda: accepts(port), 10, "the avro source to listen")
        yield agent, port
    finally:
        agent.stop()
    fail_on_surprises([agent])


def accepts(port: int) -> bool:
    """True once the port takes connections (supervisord's RUNNING comes before the bind)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# -- a well-behaved client ------------------------------------------------------------------------
class GoodClient:
    """One connection, one call at a time, as Flume's NettyAvroRpcClient."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.conn = ClientConnection()
        self.retries = 0

    def call(self, bodies: list[bytes]) -> Status | None:
        serial, data = self.conn.append_batch(None, bodies)
        self.sock.sendall(data)
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("the source closed the good client's connection")
            out, replies = self.conn.feed(data)
            for chunk in out:
                self.sock.sendall(chunk)
            for reply in replies:
                if reply.serial == serial:
                    return reply.status

    def deliver(self, bodies: list[bytes]) -> None:
        while self.call(bodies) is not Status.OK:
            self.retries += 1

    def close(self) -> None:
        self.sock.close()


# -- attacks: each opens its own connection and reports what the source did ----------------------
def handshake_ping() -> tuple[ClientConnection, bytes]:
    """A client and the payload of its first call: handshake + an empty appendBatch."""
    client = ClientConnection()
    _, data = client.append_batch(None, [])
    [(_, payload)] = FrameDecoder().feed(data)
    return client, payload


def buffers_frame(serial: int, payload: bytes, count: int) -> bytes:
    """`payload` cut into `count` buffers: one byte each while it lasts, then empty ones."""
    pieces = [payload[i:i + 1] for i in range(len(payload))]
    return encode_frame(serial, pieces + [b""] * (count - len(pieces)))


def closing(sock: socket.socket) -> str:
    """Read until the source closes; what it sent first decides the verdict."""
    received = b""
    try:
        while data := sock.recv(65536):
            received += data
    except ConnectionResetError:
        pass
    return ANSWERED_THEN_CLOSED if received else CLOSED


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)


def send_then_wait(port: int, data: bytes, half_close: bool = False) -> str:
    with connect(port) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: the verdict is read below
        return closing(sock)


def garbage(seed: int) -> Callable[[int], str]:
    return lambda port: send_then_wait(port, random.Random(f"garbage-{seed}").randbytes(4096))


def garbage_handshake(port: int) -> str:
    """A well-formed frame whose payload is noise where the HandshakeRequest belongs."""
    noise = random.Random("handshake").randbytes(200)
    return send_then_wait(port, encode_frame(1, [noise]))


def truncated(cut: int) -> Callable[[int], str]:
    """Session 1's first frame cut after `cut` bytes, then EOF from the client."""
    first = (FIXTURES / "session1.c2s.bin").read_bytes()[:144]
    return lambda port: send_then_wait(port, first[:cut], half_close=True)


def truncated_second_frame(port: int) -> str:
    """A good handshake call, then half a call, then EOF: the first is answered, then close."""
    _, payload = handshake_ping()
    second = encode_frame(2, [CALL_HEAD, EMPTY_BATCH])
    return send_then_wait(port, encode_frame(1, [payload]) + second[:len(second) // 2],
                          half_close=True)


def oversized_buffer(port: int) -> str:
    """One buffer declared one byte over max-frame-bytes: refused from its length alone."""
    return send_then_wait(port, struct.pack(">iii", 1, 1, MAX_FRAME_BYTES + 1))


def oversized_frame(port: int) -> str:
    """Buffers of 8 KiB, each legal, adding up to 1.5 MiB."""
    count = MAX_FRAME_BYTES * 3 // 2 // 8192
    return send_then_wait(port, encode_frame(1, [bytes(8192)] * count))


def negative_length(port: int) -> str:
    return send_then_wait(port, struct.pack(">iii", 1, 1, -5))


def too_many_buffers(port: int) -> str:
    _, payload = handshake_ping()
    return send_then_wait(port, buffers_frame(1, payload, MAX_BUFFERS + 1))


def most_buffers(port: int) -> str:
    """Not an attack: exactly the buffer limit is a legal frame, answered OK."""
    client, payload = handshake_ping()
    with connect(port) as sock:
        sock.sendall(buffers_frame(1, payload, MAX_BUFFERS))
        return OK if answer(sock, client).status is Status.OK else "not OK"


def answer(sock: socket.socket, client: ClientConnection) -> Reply:
    while True:
        data = sock.recv(65536)
        if not data:
            raise AssertionError("closed instead of answering")
        _, replies = client.feed(data)
        if replies:
            return replies[0]


def system_error_then_ok(port: int, bad_payload: Callable[[bytes], bytes]) -> str:
    """Handshake, then a bad call (serial 99) that must get a system error on its serial, then
    an empty appendBatch on the same connection that must get OK."""
    client, payload = handshake_ping()
    with connect(port) as sock:
        sock.sendall(encode_frame(1, [payload]))
        if answer(sock, client).status is not Status.OK:
            return "handshake refused"
        sock.sendall(encode_frame(99, [bad_payload(payload)]))
        decoder, frames = FrameDecoder(), []
        while not frames:
            data = sock.recv(65536)
            if not data:
                return CLOSED
            frames = decoder.feed(data)
        [(serial, response)] = frames
        if serial != 99 or response[:3] != b"\x00\x01\x00":  # metadata {}, error, union{string}
            return f"answered {serial}: {response!r}"
        _, ping = client.append_batch(None, [])
        sock.sendall(ping)
        return SYSTEM_ERROR_THEN_OK if answer(sock, client).status is Status.OK else "not OK"


def handshake_resent(port: int) -> str:
    """The first call's bytes again, handshake included, on the established connection."""
    return system_error_then_ok(port, lambda first: first)


def unknown_message(port: int) -> str:
    return system_error_then_ok(port, lambda _: b"\x00\x0aerase" + EMPTY_BATCH)


ATTACKS: dict[str, tuple[Callable[[int], str], str]] = {
    **{f"garbage-{seed}": (garbage(seed), CLOSED) for seed in range(8)},
    "garbage-handshake": (garbage_handshake, CLOSED),
    "oversized-buffer": (oversized_buffer, CLOSED),
    "oversized-frame": (oversized_frame, CLOSED),
    "negative-length": (negative_length, CLOSED),
    "too-many-buffers": (too_many_buffers, CLOSED),
    "truncated-header": (truncated(6), CLOSED),
    "truncated-length": (truncated(10), CLOSED),
    "truncated-handshake": (truncated(30), CLOSED),
    "truncated-events": (truncated(100), CLOSED),
    "truncated-second-frame": (truncated_second_frame, ANSWERED_THEN_CLOSED),
    "handshake-resent": (handshake_resent, SYSTEM_ERROR_THEN_OK),
    "unknown-message": (unknown_message, SYSTEM_ERROR_THEN_OK),
    "most-buffers": (most_buffers, OK),
}
# Closed because the bytes broke the protocol (not because the client ended the stream).
REFUSED = [name for name, (_, verdict) in ATTACKS.items()
           if verdict == CLOSED and not name.startswith("truncated")]


def test_source_survives_attacks_while_a_good_client_delivers(
        collector: tuple[Agent, int]) -> None:
    """When connections throw random bytes, truncated, oversized and over-buffered frames, a
    resent handshake and an unknown message while a good client sends 20,000 numbered events,
    the source process stays the same, each bad connection gets its verdict (closed, or a
    system error on its serial with the connection kept), the refused ones are counted, every
    connection is released, and every good event reaches the file."""
    agent, port = collector
    pid = agent.pid("src")
    before = malformed(agent)
    batches = range(0, TOTAL, BATCH)
    launch_at = {i * len(batches) // len(ATTACKS): name for i, name in enumerate(ATTACKS)}
    verdicts: dict[str, Future[str]] = {}
    good = GoodClient(port)
    with ThreadPoolExecutor(max_workers=4) as pool:
        try:
            for index, start in enumerate(batches):
                if index in launch_at:
                    name = launch_at[index]
                    verdicts[name] = pool.submit(ATTACKS[name][0], port)
                good.deliver([str(n).encode() for n in range(start, start + BATCH)])
        finally:
            good.close()
        got = {name: future.result(timeout=30) for name, future in verdicts.items()}
    assert got == {name: verdict for name, (_, verdict) in ATTACKS.items()}
    assert agent.statuses()["z-src"] == ("RUNNING", pid)
    assert malformed(agent) - before >= len(REFUSED)
    wait_for(lambda: status(agent)["OpenConnectionCount"] == "0", 5, "connections released")

    def every_number() -> list[int] | None:
        numbers = lines_in(agent.workdir / "out")
        return numbers if set(numbers) >= set(range(TOTAL)) else None

    numbers = wait_for(every_number, 30, "every good event in the file")
    assert set(numbers) == set(range(TOTAL))
    assert duplicates(numbers) <= BATCH * good.retries  # only a FAILED batch may come twice


def test_a_frame_cut_short_by_the_client_is_counted(collector: tuple[Agent, int]) -> None:
    """When a client ends its stream in the middle of a frame, the source closes the
    connection and counts it as a malformed frame, as it does for any other broken frame."""
    agent, port = collector
    before = malformed(agent)
    assert truncated(100)(port) == CLOSED
    wait_for(lambda: malformed(agent) - before == 1, 2, "MalformedFrameCount + 1")


def test_calls_answered_with_a_system_error_are_counted(collector: tuple[Agent, int]) -> None:
    """When a client resends its handshake on an established connection, or calls a message
    the protocol lacks, the source answers a system error, keeps the connection, and counts
    each as a malformed frame."""
    agent, port = collector
    before = malformed(agent)
    assert handshake_resent(port) == SYSTEM_ERROR_THEN_OK
    assert unknown_message(port) == SYSTEM_ERROR_THEN_OK
    wait_for(lambda: malformed(agent) - before == 2, 2, "MalformedFrameCount + 2")


def flood(sock: socket.socket) -> None:
    """A handshake, then FLOOD_CALLS empty appendBatch calls, never reading an answer."""
    _, payload = handshake_ping()
    calls = b"".join(encode_frame(serial, [CALL_HEAD, EMPTY_BATCH])
                     for serial in range(2, FLOOD_CALLS + 2))
    try:
        sock.sendall(encode_frame(1, [payload]) + calls)
    except OSError:
        pass  # reset by the source, or shut down by the test


def test_a_client_that_never_reads_its_answers_stalls_no_one(collector: tuple[Agent, int]) -> None:
    """When a client pipelines calls and never reads the answers, the empty appendBatch calls
    of another client are still answered OK, each within a second."""
    agent, port = collector
    good = GoodClient(port)
    slowest, answers = 0.0, Counter()
    with socket.socket() as bad, ThreadPoolExecutor(max_workers=1) as pool:
        bad.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, set early
        bad.connect(("127.0.0.1", port))
        sending = pool.submit(flood, bad)
        deadline = time.monotonic() + FLOOD_WATCH_S
        try:
            while not sending.done() and time.monotonic() < deadline:
                started = time.monotonic()
                answers[good.call([])] += 1
                slowest = max(slowest, time.monotonic() - started)
        finally:
            good.close()
            with contextlib.suppress(OSError):  # already reset by the source
                bad.shutdown(socket.SHUT_RDWR)  # wakes a sendall the source stopped reading
    assert slowest < STALL_LIMIT_S, f"a call waited {slowest:.1f} s; answers {answers}"
    assert set(answers) == {Status.OK}, answers
