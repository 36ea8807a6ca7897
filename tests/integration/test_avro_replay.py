"""Golden-capture replays against the running avro source and avro sink (docs/architecture.md 5).

Source: a collector agent gets every captured Flume client connection over TCP, in order, whole
and again cut at random byte boundaries; each answer must equal the captured AvroSource answer
payload for payload (matched by serial, decoded by FrameDecoder), in Java's buffer layout too.
How each capture is replayed, and why:

    1, 4, 9, 10  as captured; identical answers.
    6            as captured, to a source with compression-type = deflate; compared inflated.
    8            as captured, to a source whose channel holds 3 events and never drains, so the
                 second batch is refused as the capture's channel commit was: Status FAILED.
    7            as captured; the second answer is OK where the capture has the system error its
                 throwing responder injected (the error text aside, as the issue says).
    2, 3, 5      their server served the protocol without its doc (hash 30da54..), unknown to
                 the client. Ours serves the Flume text whose hash the client guesses, so as
                 captured they are plain first contacts, answered BOTH (asserted separately).
                 Replayed mirrored: the client speaks a protocol our source does not know (the
                 nodoc text; for 5, which began on a fresh server, a same-shape variant not seen
                 before) and the server ours; expected answers are the captured ones with the
                 nodoc text and hash replaced by ours. 3 follows 2 on the same source and is
                 answered CLIENT from what 2 taught it, as in the capture.

Sink: an agent (seq -> memory -> avro sink) delivers to fake_collector.py replaying a capture's
server side. Within the capture the sink's frames must equal NettyAvroRpcClient's: serials,
the whole first buffer (handshake, metadata, message name; after NONE the resend with Flume's
1334-byte text) and the 8192-byte cuts of the events. What legitimately differs:
    - the events: seq numbers with a static host header, not the captured test client's;
    - a second connection per sink, whose empty appendBatch calls are zflume's health probe
      (Flume's AvroSink has none); like Flume's second connection (session 4) it starts anew;
    - after a FAILED or error answer the sink keeps its connection and resends the batch on it
      (serial 3, no handshake); Flume's AvroSink would drop the connection and start a new one.
Session 9 (`append`) has no sink counterpart: AvroSink only ever calls appendBatch.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import socket
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import fastavro
import pytest

from proto.avro.framing import FrameDecoder
from tests.integration.fake_collector import (FIXTURES, STEADY_BUFFERS, Frame, capture,
                                              encode_frame, split_frames)
from tests.integration.harness import BIN, Agent, fail_on_surprises, wait_for
from tests.paths import REPO

DOC = (FIXTURES / "AvroSourceProtocol.json").read_bytes()
NODOC = (FIXTURES / "AvroSourceProtocol.nodoc.json").read_bytes()
# Same length and shape as NODOC, another hash: a client protocol no source has seen yet.
VARIANT = NODOC.replace(b'"org.apache.flume.source.avro"', b'"org.apache.flume.source.avrx"')
C, S = hashlib.md5(DOC).digest(), hashlib.md5(NODOC).digest()
ANSWER_TIMEOUT_S = 5.0
SPLIT_PAUSE_S = 0.002
JAVA_CHUNK = 8192
BIG_BODIES = [f"{i}:".ljust(100, "x").encode() for i in range(200)]  # session 10's events


@functools.cache
def frames_of(stem: str, direction: str, deflate: bool = False) -> list[Frame]:
    frames, rest = split_frames(capture(stem, direction, deflate))
    if rest:
        raise ValueError(f"{stem}.{direction}: {len(rest)} bytes after the last frame")
    return frames


def status(agent: Agent) -> dict[str, dict[str, str]]:
    out = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return json.loads(out)


def counter(agent: Agent, key: str, name: str) -> int:
    return int(status(agent)[key][name])


def bodies_in(directory: Path) -> Counter[bytes]:
    lines: Counter[bytes] = Counter()
    for path in sorted(directory.glob("*")):
        lines.update(line for line in path.read_bytes().split(b"\n") if line)
    return lines


def accepts(port: int) -> bool:
    """True once the port takes connections (supervisord's RUNNING comes before the bind)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports the OS had free just now, all different (the agent must be told its port)."""
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# -- Avro details of the handshake, enough to rewrite hashes and texts ----------------------------
def _long(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    shift = n = 0
    while True:
        byte = buf[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    length = (n >> 1) ^ -(n & 1)
    return buf[pos:pos + length], pos + length


def _optional(value: bytes | None, encode: bool = False) -> bytes:
    """union {null, T}: branch 0, or branch 1 and the value (a string when `encode`)."""
    if value is None:
        return b"\x00"
    return b"\x02" + (_long(len(value)) + value if encode else value)


def mirror_request(head: bytes, hashes: dict[bytes, bytes], client: bytes) -> bytes:
    """A captured first buffer (HandshakeRequest, then metadata and name) with the client's
    hash and text and its guess of the server's hash rewritten."""
    client_hash, pos = head[:16], 17
    text = None
    if head[16] == 2:
        text, pos = _read_string(head, 17)
        if text != DOC:
            raise ValueError("a captured client sent a text other than Flume's")
        text = client
    server_hash = head[pos:pos + 16]
    return (hashes[client_hash] + _optional(text, encode=True) + hashes[server_hash]
            + head[pos + 16:])


def mirror_response(handshake: bytes) -> bytes:
    """A captured HandshakeResponse with the nodoc server's text and hash replaced by ours."""
    match, pos, text = handshake[:1], 2, None
    if handshake[1] == 2:
        text, pos = _read_string(handshake, 2)
        text = {NODOC: DOC}[text]
    server_hash = None
    if handshake[pos] == 2:
        server_hash = {S: C}[handshake[pos + 1:pos + 17]]
        pos += 16
    return match + _optional(text, encode=True) + _optional(server_hash) + handshake[pos + 1:]


def mirrored(stem: str, client: bytes) -> tuple[bytes, list[Frame]]:
    """Client bytes and expected answers of a nodoc capture, roles mirrored (module docstring)."""
    requests, answers = frames_of(stem, "c2s"), frames_of(stem, "s2c")
    hashes = {C: hashlib.md5(client).digest(), S: C}
    carried = {a.serial for a in answers if a.buffers[0]}  # answered a handshake: sent one
    requests = [Frame(r.serial, [mirror_request(r.buffers[0], hashes, client), *r.buffers[1:]])
                if r.serial in carried else r for r in requests]
    answers = [Frame(a.serial, [mirror_response(a.buffers[0]), *a.buffers[1:]])
               if a.buffers[0] else a for a in answers]
    return b"".join(map(encode_frame, requests)), answers


# -- the source ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Replay:
    session: str
    stems: tuple[str, ...]        # the captured connections, replayed in this order
    accepted: list[bytes]         # bodies the calls answered OK put in the channel
    source: str = "main"          # main, deflate (compression-type = deflate) or tiny (session 8)
    client: bytes | None = None   # mirrored: the client's protocol text


SIX = [f"event-{i}".encode() for i in range(6)]
REPLAYS = [
    Replay("session1", ("session1",), SIX),
    Replay("session2", ("session2",), SIX, client=NODOC),
    Replay("session3", ("session3",), SIX, client=NODOC),
    Replay("session4", ("session4.conn1", "session4.conn2"), SIX),
    Replay("session5", ("session5.conn1", "session5.conn2"), SIX, client=VARIANT),
    Replay("session6", ("session6",), SIX, source="deflate"),
    Replay("session7", ("session7",), SIX),
    Replay("session8", ("session8",), SIX[:3], source="tiny"),
    Replay("session9", ("session9",), SIX[:2]),
    Replay("session10", ("session10",), BIG_BODIES),
]
PASSES = {"whole": {"main": "w", "deflate": "wz", "tiny": "w8"},
          "random": {"main": "r", "deflate": "rz", "tiny": "r8"}}


def session7_answers(answers: list[Frame]) -> list[Frame]:
    """Session 7's responder threw on call 2 on purpose; our source has nothing to throw."""
    error = answers[1]
    assert error.buffers[:2] == [b"", b"\x00"] and error.buffers[2][:2] == b"\x01\x00"
    assert b"injected failure on call 2" in error.buffers[2]
    return [answers[0], Frame(error.serial, list(STEADY_BUFFERS))]


def expected_exchange(replay: Replay, stem: str) -> tuple[bytes, list[Frame]]:
    """What to send on one captured connection, and the answers that must come back."""
    deflate = replay.source == "deflate"
    if replay.client is not None:
        return mirrored(stem, replay.client)
    sent = (FIXTURES / f"{stem}.c2s.bin").read_bytes()  # compressed as captured, with deflate
    answers = frames_of(stem, "s2c", deflate)
    if replay.session == "session7":
        answers = session7_answers(answers)
    return sent, answers


def random_cuts(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(8, 24))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


def converse(port: int, chunks: list[bytes], count: int,
             deflate: bool = False) -> tuple[dict[int, bytes], list[Frame]]:
    """Send `chunks`, pausing between them, and read until `count` answers came: their payloads
    by serial (FrameDecoder) and the frames as written (to compare the buffer layout)."""
    inflate = zlib.decompressobj() if deflate else None
    decoder, payloads, plain = FrameDecoder(), {}, b""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S) as sock:
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(SPLIT_PAUSE_S)
            sock.sendall(chunk)
        while len(split_frames(plain)[0]) < count:
            data = sock.recv(65536)
            if not data:
                raise AssertionError(f"the source closed the connection after {plain.hex()}")
            piece = inflate.decompress(data) if inflate else data
            plain += piece
            for serial, payload in decoder.feed(piece):
                assert serial not in payloads, f"two answers to serial {serial}"
                payloads[serial] = payload
    frames, rest = split_frames(plain)
    assert not rest and not decoder.has_partial
    return payloads, frames


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Agent, dict[str, int]]]:
    """Avro sources per pass -> memory -> file_roll; the tiny ones -> 3-event channels whose
    avro sinks point at a port bound but never listening (refused), so nothing drains them."""
    workdir = tmp_path_factory.mktemp("collector")
    names = [n for sources in PASSES.values() for n in sources.values()]
    ports = dict(zip(names, free_ports(len(names))))
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        lines = ["c.sources = " + " ".join(names), "c.channels = ch ch_w8 ch_r8",
                 "c.sinks = out k_w8 k_r8",
                 "c.channels.ch.type = memory", "c.channels.ch.capacity = 10000",
                 "c.channels.ch.transactionCapacity = 1000",
                 "c.sinks.out.type = file_roll", "c.sinks.out.channel = ch",
                 "c.sinks.out.sink.directory = out", "c.sinks.out.sink.rollInterval = 0",
                 "c.sinks.out.sink.batchSize = 1000"]
        for name, port in ports.items():
            tiny = name.endswith("8")
            lines += [f"c.sources.{name}.type = avro", f"c.sources.{name}.bind = 127.0.0.1",
                      f"c.sources.{name}.port = {port}",
                      f"c.sources.{name}.channels = {'ch_' + name if tiny else 'ch'}"]
            if name.endswith("z"):
                lines.append(f"c.sources.{name}.compression-type = deflate")
            if tiny:
                lines += [f"c.channels.ch_{name}.type = memory",
                          f"c.channels.ch_{name}.capacity = 3",
                          f"c.channels.ch_{name}.transactionCapacity = 3",
                          f"c.channels.ch_{name}.keep-alive = 0",  # FULL at once, not in 3 s
                          f"c.sinks.k_{name}.type = avro", f"c.sinks.k_{name}.channel = ch_{name}",
                          f"c.sinks.k_{name}.hostname = 127.0.0.1",
                          f"c.sinks.k_{name}.port = {dead.getsockname()[1]}",
                          f"c.sinks.k_{name}.batch-size = 3"]
        agent = Agent(workdir, "c", "\n".join(lines) + "\n")
        try:
            agent.start()
            wait_for(lambda: all(map(accepts, ports.values())), 10, "the avro sources to listen")
            yield agent, ports
        finally:
            agent.stop()
    fail_on_surprises([agent])


def accepted_counts(agent: Agent, sources: dict[str, str]) -> dict[str, int]:
    report = status(agent)
    return {role: int(report[f"SOURCE.{name}"]["EventAcceptedCount"])
            for role, name in sources.items()}


@pytest.mark.parametrize("split", list(PASSES))
def test_source_answers_every_capture_as_avrosource_did(
        collector: tuple[Agent, dict[str, int]], split: str) -> None:
    """When every captured client connection is replayed in order to fresh avro sources, whole
    or cut at random byte boundaries with pauses, every answer equals the captured one payload
    for payload and buffer for buffer (with the exceptions of the module docstring), and the
    events of exactly the calls answered OK reach the channel, once each, and the file."""
    agent, ports = collector
    sources = PASSES[split]
    before_counts, before_files = accepted_counts(agent, sources), bodies_in(agent.workdir / "out")
    rng = random.Random(f"zflume-{split}")
    for replay in REPLAYS:
        port = ports[sources[replay.source]]
        for stem in replay.stems:
            sent, answers = expected_exchange(replay, stem)
            chunks = [sent] if split == "whole" else random_cuts(sent, rng)
            payloads, frames = converse(port, chunks, len(answers), replay.source == "deflate")
            assert payloads == {a.serial: a.payload for a in answers}, stem
            assert sorted(frames) == sorted(answers), f"{stem}: Java's buffer layout"
    wanted = Counter()
    for replay in REPLAYS:
        wanted[replay.source] += len(replay.accepted)
    after = accepted_counts(agent, sources)
    assert {role: after[role] - before_counts[role] for role in sources} == wanted
    to_file = Counter(b for r in REPLAYS if r.source != "tiny" for b in r.accepted)
    wait_for(lambda: bodies_in(agent.workdir / "out") - before_files >= to_file, 20,
             "the accepted events in the file_roll output")


def test_nodoc_sessions_as_captured_are_plain_first_contacts(
        collector: tuple[Agent, dict[str, int]]) -> None:
    """When sessions 2, 3 and 5 are replayed as captured, our source answers BOTH where the
    capture has NONE (2, 5) or CLIENT (3), because their server served the nodoc protocol and
    ours the Flume text whose hash the client guessed; a client that cached the nodoc hash
    (5, conn2) is answered CLIENT with our text and hash, and its call still runs."""
    agent, ports = collector
    port = ports["w"]
    before = counter(agent, "SOURCE.w", "EventAcceptedCount")
    first_contact = frames_of("session1", "s2c")

    session2 = frames_of("session2", "s2c")
    assert session2[0].buffers[0][:1] == b"\x04" and S in session2[0].buffers[0]  # NONE, nodoc
    first_request = encode_frame(frames_of("session2", "c2s")[0])
    assert converse(port, [first_request], 1)[1] == first_contact[:1]

    session3 = frames_of("session3", "s2c")
    assert session3[0].buffers[0][:1] == b"\x02" and S in session3[0].buffers[0]  # CLIENT, nodoc
    sent = (FIXTURES / "session3.c2s.bin").read_bytes()
    assert converse(port, [sent], 2)[1] == first_contact

    request = frames_of("session5.conn2", "c2s")[0]
    assert S in request.buffers[0]  # the client's cached guess of the server's hash
    client = b"\x02" + _optional(DOC, encode=True) + _optional(C) + b"\x00"  # CLIENT, ours
    expected = [Frame(1, [client, *frames_of("session5.conn2", "s2c")[0].buffers[1:]])]
    assert converse(port, [encode_frame(request)], 1)[1] == expected

    assert counter(agent, "SOURCE.w", "EventAcceptedCount") - before == 3 + 6 + 3


# -- the sink ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SinkReplay:
    stems: tuple[str, ...]        # the fake's scripts, first match wins (fake_collector.py)
    source: str = "seq"           # seq: events 0..5 in batches of 3; big: 0..1999, batches of 1000
    deflate: bool = False
    expect: str = ""              # an answer label some connection must have got, if any
    expect_outcome: str = ""      # an outcome some call carrying events must have got, if any


SINK_REPLAYS = {
    "session1": SinkReplay(("session1",)),
    "session2": SinkReplay(("session2", "session5.conn2"), expect="session2#0"),   # NONE
    "session3": SinkReplay(("session3", "session5.conn2"), expect="session3#0"),   # CLIENT
    "session6": SinkReplay(("session6",), deflate=True),
    "session7": SinkReplay(("session7",), expect_outcome="ERROR"),
    "session8": SinkReplay(("session8",), expect_outcome="FAILED"),
    "session10": SinkReplay(("session10",), source="big"),
}
SINK_EVENTS = {"seq": 6, "big": 2000}
STEADY_HEAD = b"\x00" + _long(len(b"appendBatch")) + b"appendBatch"  # metadata {}, name
EVENTS_SCHEMA = fastavro.parse_schema({"type": "array", "items": {
    "type": "record", "name": "AvroFlumeEvent", "fields": [
        {"name": "headers", "type": {"type": "map", "values": "string"}},
        {"name": "body", "type": "bytes"}]}})


def outcome(answer: Frame) -> str:
    """What a captured answer told the client: NONE (the call was not run), OK, FAILED, ERROR."""
    if len(answer.buffers) == 1:
        return "NONE"
    result = answer.buffers[-1]  # error flag, then a Status index or a union{string}
    if result[:1] == b"\x01":
        return "ERROR"
    return {b"\x00\x00": "OK", b"\x00\x02": "FAILED"}[result]


def java_cuts(size: int) -> list[int]:
    return [JAVA_CHUNK] * (size // JAVA_CHUNK) + ([size % JAVA_CHUNK] if size % JAVA_CHUNK else [])


def decode_events(params: bytes) -> list[tuple[dict[str, str], bytes]]:
    stream = io.BytesIO(params)
    events = fastavro.schemaless_reader(stream, EVENTS_SCHEMA)
    assert stream.tell() == len(params), "bytes after the events"
    return [(e["headers"], e["body"]) for e in events]


@dataclass
class SinkCall:
    frame: Frame
    answer: str                   # the fake's label: "session2#0" or "steady"
    outcome: str
    events: list[tuple[dict[str, str], bytes]]


def read_fake_log(path: Path) -> dict[int, list[dict]]:
    records: dict[int, list[dict]] = {}
    text = path.read_text() if path.exists() else ""
    for line in text.splitlines(keepends=True):
        if line.endswith("\n"):  # the fake may be writing the last one
            record = json.loads(line)
            records.setdefault(record["conn"], []).append(record)
    return records


def sink_calls(records: list[dict], deflate: bool) -> list[SinkCall]:
    """One connection's calls, each checked against the capture frame its answer replayed."""
    unmatched = [r for r in records if r.get("nomatch")]
    assert not unmatched, f"a first frame matched no capture: {unmatched}"
    calls = []
    for record in (r for r in records if "serial" in r):
        frame = Frame(record["serial"], [bytes.fromhex(b) for b in record["buffers"]])
        head, result = STEADY_HEAD, "OK"
        if record["answer"] != "steady":
            stem, step = record["answer"].split("#")
            head = frames_of(stem, "c2s", deflate)[int(step)].buffers[0]
            result = outcome(frames_of(stem, "s2c", deflate)[int(step)])
        assert frame.buffers[0] == head, f"{record['answer']}: first buffer differs"
        params = frame.payload[len(head):]
        assert [len(b) for b in frame.buffers[1:]] == java_cuts(len(params)), record["answer"]
        calls.append(SinkCall(frame, record["answer"], result, decode_events(params)))
    assert [c.frame.serial for c in calls] == list(range(1, len(calls) + 1))
    return calls


def delivered(calls: list[SinkCall]) -> list[bytes]:
    return [body for call in calls if call.outcome == "OK" for _, body in call.events]


@pytest.fixture(scope="module")
def forwarder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One fake collector per session (a subprocess on a socket the test bound), and one agent
    with an avro sink to each: seq sources -> a memory channel per sink -> avro sink."""
    workdir = tmp_path_factory.mktemp("forwarder")
    fakes, logs = [], {}
    sinks = {name: f"k{name.removeprefix('session')}" for name in SINK_REPLAYS}
    seq = [f"c_{sinks[n]}" for n, r in SINK_REPLAYS.items() if r.source == "seq"]
    big = [f"c_{sinks[n]}" for n, r in SINK_REPLAYS.items() if r.source == "big"]
    lines = ["f.sources = seq big", "f.channels = " + " ".join(seq + big),
             "f.sinks = " + " ".join(sinks.values()),
             "f.sources.seq.type = seq", "f.sources.seq.totalEvents = 6",
             "f.sources.seq.batchSize = 3", "f.sources.seq.channels = " + " ".join(seq),
             "f.sources.big.type = seq", "f.sources.big.totalEvents = 2000",
             "f.sources.big.batchSize = 1000", "f.sources.big.channels = " + " ".join(big)]
    for source in ("seq", "big"):
        lines += [f"f.sources.{source}.eventIdHeader = false",  # the capture's headers only
                  f"f.sources.{source}.interceptors = host",
                  f"f.sources.{source}.interceptors.host.type = static",
                  f"f.sources.{source}.interceptors.host.key = host",
                  f"f.sources.{source}.interceptors.host.value = peer"]
    try:
        for name, replay in SINK_REPLAYS.items():
            sink, batch = sinks[name], 1000 if replay.source == "big" else 3
            with socket.create_server(("127.0.0.1", 0)) as listener:
                logs[name] = workdir / f"fake-{name}.jsonl"
                args = [sys.executable, "-m", "tests.integration.fake_collector",
                        "--fd", str(listener.fileno()), "--log", str(logs[name]),
                        *(["--deflate"] if replay.deflate else []), *replay.stems]
                fakes.append(subprocess.Popen(args, pass_fds=[listener.fileno()], cwd=REPO))
                port = listener.getsockname()[1]
            lines += [f"f.channels.c_{sink}.type = memory",
                      f"f.channels.c_{sink}.capacity = {max(100, 2 * batch)}",
                      f"f.channels.c_{sink}.transactionCapacity = {max(100, batch)}",
                      f"f.sinks.{sink}.type = avro", f"f.sinks.{sink}.channel = c_{sink}",
                      f"f.sinks.{sink}.hostname = 127.0.0.1", f"f.sinks.{sink}.port = {port}",
                      f"f.sinks.{sink}.batch-size = {batch}"]
            if replay.deflate:
                lines.append(f"f.sinks.{sink}.compression-type = deflate")
        agent = Agent(workdir, "f", "\n".join(lines) + "\n")
        try:
            agent.start()
            assert all(fake.poll() is None for fake in fakes), "a fake collector died"
            yield logs
        finally:
            agent.stop()
    finally:
        for fake in fakes:
            fake.terminate()
            fake.wait(timeout=10)
    fail_on_surprises([agent])


@pytest.mark.parametrize("session", list(SINK_REPLAYS))
def test_sink_writes_what_flumes_client_wrote(forwarder: dict[str, Path], session: str) -> None:
    """When the running avro sink delivers to a fake collector replaying a capture's server
    side, each of its frames within the capture equals NettyAvroRpcClient's but for the events
    (module docstring), later frames are plain calls, and every event arrives exactly once
    among the calls answered OK, headers intact."""
    replay = SINK_REPLAYS[session]
    expected = sorted(str(i).encode() for i in range(SINK_EVENTS[replay.source]))

    def conns() -> dict[int, list[SinkCall]]:
        """Calls per connection that made one (a connection may have sent nothing whole yet)."""
        calls = {n: sink_calls(records, replay.deflate)
                 for n, records in read_fake_log(forwarder[session]).items()}
        return {n: conn_calls for n, conn_calls in calls.items() if conn_calls}

    wait_for(lambda: sorted(b for calls in conns().values() for b in delivered(calls))
             == expected, 30, f"{session}: every event delivered")
    records, calls = read_fake_log(forwarder[session]), conns()
    assert len(calls) >= 2, "the delivery connection and the probe's"
    for n, conn_calls in calls.items():
        first = conn_calls[0]
        assert first.answer.endswith("#0"), "a fresh handshake on every connection (session 4)"
        if session == "session1":
            assert first.frame.buffers[0] == frames_of("session4.conn2", "c2s")[0].buffers[0]
        for call, following in zip(conn_calls, conn_calls[1:]):
            if call.outcome == "NONE":  # the same call again, under the next serial
                assert following.frame.buffers[1:] == call.frame.buffers[1:]
        if replay.deflate:
            raw = next(r["raw"] for r in records[n] if "raw" in r)
            assert raw.startswith("789c"), "one zlib stream per connection"
    every = [call for conn_calls in calls.values() for call in conn_calls]
    assert all(headers == {"host": "peer"} for call in every for headers, _ in call.events)
    if replay.expect:
        assert replay.expect in {call.answer for call in every}
    if replay.expect_outcome:
        assert any(call.events and call.outcome == replay.expect_outcome for call in every)
    if replay.source == "big":
        assert any(len(call.frame.buffers) > 2 for call in every), "events cut at 8192 bytes"
