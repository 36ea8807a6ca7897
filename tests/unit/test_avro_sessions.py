"""Replays of the golden captures of Flume 1.11.0 (NettyAvroRpcClient <-> AvroSource).

Server side: the captured client bytes go into a ServerConnection (whole, split at random, one
byte at a time); each call is answered with the captured result, and the bytes produced must
equal the captured server bytes exactly (same payloads and the same Java buffer layout).
Client side: the captured events go into a ClientConnection fed with the captured server bytes,
recv() by recv() as recorded; the bytes produced must equal the captured client bytes.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from proto.avro import ClientConnection, KnownProtocols, Protocol, ServerConnection, Status
from proto.avro.protocol import FLUME_PROTOCOL
from tests.paths import AVRO_FIXTURES as FIXTURES

NODOC = Protocol.parse((FIXTURES / "AvroSourceProtocol.nodoc.json").read_text())
OK, FAILED = Status.OK, Status.FAILED
SESSION7_ERROR = ("org.apache.avro.AvroRuntimeException: Unknown datum type org.apache.avro."
                  "AvroRuntimeException: org.apache.avro.AvroRuntimeException: peer: injected "
                  "failure on call 2")


@dataclass
class Conn:
    """One captured TCP connection: its files, and what each of its calls carried and got."""
    stem: str                       # e.g. "session4.conn2"
    conn_id: int                    # the "conn" field of chunks.jsonl
    seqs: list[list[int]]           # event seq numbers, per call
    answers: list[Status | str]
    message: str = "appendBatch"


@dataclass
class Session:
    name: str
    conns: list[Conn]
    server_protocol: Protocol = FLUME_PROTOCOL
    deflate: bool = False
    taught: bool = False            # the server learned the client's protocol from another client
    big_bodies: bool = False        # session10: bodies f"{i}:" padded with "x" to 100 bytes


def _one(name: str, seqs: list[list[int]], answers: list, **kwargs) -> Session:
    message = kwargs.pop("message", "appendBatch")
    return Session(name, [Conn(name, 1, seqs, answers, message)], **kwargs)


def _two(name: str, **kwargs) -> Session:
    return Session(name, [Conn(f"{name}.conn1", 1, [[0, 1, 2]], [OK]),
                          Conn(f"{name}.conn2", 2, [[3, 4, 5]], [OK])], **kwargs)


BATCHES = [[0, 1, 2], [3, 4, 5]]
SESSIONS = {s.name: s for s in [
    _one("session1", BATCHES, [OK, OK]),
    _one("session2", BATCHES, [OK, OK], server_protocol=NODOC),
    _one("session3", BATCHES, [OK, OK], server_protocol=NODOC, taught=True),
    _two("session4"),
    _two("session5", server_protocol=NODOC),
    _one("session6", BATCHES, [OK, OK], deflate=True),
    _one("session7", BATCHES, [OK, SESSION7_ERROR]),
    _one("session8", BATCHES, [OK, FAILED]),
    _one("session9", [[0], [1]], [OK, OK], message="append"),
    _one("session10", [list(range(100)), list(range(100, 200))], [OK, OK], big_bodies=True),
]}


def events(session: Session, seqs: list[int]) -> tuple[list[dict[str, str]], list[bytes]]:
    """The events Flume's test client sent; "host" first, as Java's HashMap iterated."""
    headers = [{"host": "peer", "seq": str(i)} for i in seqs]
    if session.big_bodies:
        return headers, [f"{i}:".ljust(100, "x").encode() for i in seqs]
    return headers, [f"event-{i}".encode() for i in seqs]


def read(stem: str, direction: str) -> bytes:
    return (FIXTURES / f"{stem}.{direction}.bin").read_bytes()


def recorded_chunks(session: Session, conn: Conn, direction: str) -> list[bytes]:
    """The connection's bytes in one direction, cut where the proxy's recv() calls cut them."""
    data = read(conn.stem, direction)
    lines = (FIXTURES / f"{session.name}.chunks.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [data[r["offset"]:r["offset"] + r["len"]] for r in records
            if r["conn"] == conn.conn_id and r["dir"] == direction and "len" in r]


def random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 40))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


def known_protocols(session: Session) -> KnownProtocols:
    known = KnownProtocols(session.server_protocol)
    if session.taught:  # session 3: another client (session 2's) sent its text first
        ServerConnection(known).feed(read("session2", "c2s"))
    return known


def serve(session: Session, conn: Conn, known: KnownProtocols,
          chunks: list[bytes]) -> tuple[bytes, list]:
    """Feed a server the client's chunks, answering each call at once; (bytes sent, calls)."""
    server = ServerConnection(known, deflate_level=6 if session.deflate else None)
    answers = iter(conn.answers)
    sent: list[bytes] = []
    calls = []
    for chunk in chunks:
        out, new_calls = server.feed(chunk)
        sent += out
        for call in new_calls:
            calls.append(call)
            sent.append(server.answer(call.serial, next(answers)))
    assert not server.has_partial_frame and not server.pending
    return b"".join(sent), calls


SPLITS = ["whole", "random", "bytewise"]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", list(SESSIONS))
def test_server_replays_capture(name: str, split: str) -> None:
    """When a real Flume client's bytes arrive split anywhere, our server answers byte for byte
    what AvroSource answered, and hands up exactly the events sent (the NONE attempt never)."""
    session = SESSIONS[name]
    known = known_protocols(session)
    rng = random.Random(f"{name}-{split}")
    for conn in session.conns:
        data = read(conn.stem, "c2s")
        chunks = {"whole": [data], "random": random_chunks(data, rng),
                  "bytewise": [data[i:i + 1] for i in range(len(data))]}[split]
        sent, calls = serve(session, conn, known, chunks)
        assert sent == read(conn.stem, "s2c")
        assert [c.message for c in calls] == [conn.message] * len(conn.seqs)
        assert [c.columns() for c in calls] == [events(session, s) for s in conn.seqs]


@pytest.mark.parametrize("name", list(SESSIONS))
def test_client_replays_capture(name: str) -> None:
    """When our client sends the captured events and receives the captured server bytes, it
    writes byte for byte what NettyAvroRpcClient wrote (NONE resend included) and decodes the
    captured results, each under the serial the caller was given."""
    session = SESSIONS[name]
    remote = None  # Java's static cache of server protocols, carried from conn1 to conn2
    for conn in session.conns:
        client = ClientConnection(remote=remote, deflate_level=6 if session.deflate else None)
        calls = [events(session, seqs) for seqs in conn.seqs]
        sent, replies, serials = [], [], []
        for chunk in [b"", *recorded_chunks(session, conn, "s2c")]:
            out, got = client.feed(chunk)
            sent += out
            replies += got
            if calls and client.ready and not client.in_flight:
                headers, bodies = calls.pop(0)
                serial, data = (client.append(headers[0], bodies[0]) if conn.message == "append"
                                else client.append_batch(headers, bodies))
                serials.append(serial)
                sent.append(data)
        sent.append(client.close())
        assert not calls
        assert b"".join(sent) == read(conn.stem, "c2s")
        assert [(r.status or r.error) for r in replies] == conn.answers
        assert [r.serial for r in replies] == serials
        remote = client.remote
    assert remote is not None
    assert remote.md5 == session.server_protocol.md5
