"""Handshake paths (BOTH, CLIENT, NONE) and call handling, client and server wired in memory."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from proto.avro import (FLUME_PROTOCOL, ClientConnection, HandshakeError, KnownProtocols,
                        MalformedFrame, NotReady, Protocol, AvroProtocolError, Reply, ServerConnection,
                        Status, UnknownSerial)
from proto.avro.calls import read_response, request_head
from proto.avro.framing import FrameDecoder, encode_frame
from proto.avro.handshake import (HandshakeRequest, HandshakeResponse, Match, decode_request,
                                  decode_response, encode_request, encode_response)
from tests.paths import AVRO_FIXTURES as FIXTURES

NODOC = Protocol.parse((FIXTURES / "AvroSourceProtocol.nodoc.json").read_text())
C, S = FLUME_PROTOCOL.md5, NODOC.md5
BATCH = ([{"k": "v"}], [b"body"])


def pump(client: ClientConnection, server: ServerConnection, data: bytes,
         answer: Status | str = Status.OK) -> tuple[list[Reply], int]:
    """Carry `data` to the server and everything that follows both ways; (replies, calls run)."""
    to_server, replies, calls_run = [data], [], 0
    while to_server:
        out, calls = server.feed(to_server.pop(0))
        calls_run += len(calls)
        out += [server.answer(call.serial, answer) for call in calls]
        for chunk in out:
            resend, got = client.feed(chunk)
            to_server += resend
            replies += got
    return replies, calls_run


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    return FrameDecoder().feed(data)


def test_handshake_records_match_the_capture() -> None:
    c2s = (FIXTURES / "session2.c2s.bin").read_bytes()
    request, end = decode_request(c2s[12:60])
    assert (request, end) == (HandshakeRequest(C, None, C, {}), 35)
    assert encode_request(request) == c2s[12:47]
    resend, _ = decode_request(c2s[156:1540])
    assert resend == HandshakeRequest(C, FLUME_PROTOCOL.text, S, {})
    s2c = (FIXTURES / "session2.s2c.bin").read_bytes()
    response, end = decode_response(s2c[12:543])
    assert (response, end) == (HandshakeResponse(Match.NONE, NODOC.text, S, None), 531)
    assert encode_response(response) == s2c[12:543]
    assert encode_response(HandshakeResponse(Match.BOTH)) == b"\x00\x00\x00\x00"


def test_known_protocols_decide_as_javas_responder() -> None:
    known = KnownProtocols(NODOC)
    assert known.answer(HandshakeRequest(S, None, S))[0] == HandshakeResponse(Match.BOTH)
    none = HandshakeResponse(Match.NONE, NODOC.text, S)
    assert known.answer(HandshakeRequest(C, None, C)) == (none, None)
    response, remote = known.answer(HandshakeRequest(C, FLUME_PROTOCOL.text, S))
    assert response == HandshakeResponse(Match.BOTH) and remote is not None and remote.md5 == C
    response, _ = known.answer(HandshakeRequest(C, None, C))
    assert response == HandshakeResponse(Match.CLIENT, NODOC.text, S)


def test_known_protocols_forget_the_oldest_client_beyond_the_limit() -> None:
    known = KnownProtocols()
    hashes = [bytes([i]) * 16 for i in range(100)]
    for client_hash in hashes:
        known.answer(HandshakeRequest(client_hash, FLUME_PROTOCOL.text, C))
    assert known.answer(HandshakeRequest(hashes[0], None, C))[0].match is Match.NONE
    assert known.answer(HandshakeRequest(hashes[-1], None, C))[0].match is Match.BOTH
    assert known.answer(HandshakeRequest(C, None, C))[0].match is Match.BOTH


def test_known_protocols_refuse_a_local_protocol_that_is_not_flumes() -> None:
    doc = json.loads(FLUME_PROTOCOL.text)
    del doc["messages"]["append"]
    with pytest.raises(ValueError):
        KnownProtocols(Protocol.parse(json.dumps(doc)))


def test_none_then_resend_runs_the_call_once_and_teaches_the_client() -> None:
    client, server = ClientConnection(), ServerConnection(KnownProtocols(NODOC))
    serial, data = client.append_batch(*BATCH)
    replies, calls_run = pump(client, server, data)
    assert (replies, calls_run) == ([Reply(serial, Status.OK, None)], 1)
    assert client.established and server.established
    assert client.remote.md5 == S and client.remote.text == NODOC.text
    serial, data = client.append_batch(*BATCH)
    assert len(data) < 100  # no handshake any more
    assert pump(client, server, data) == ([Reply(serial, Status.OK, None)], 1)


def test_a_second_connection_uses_the_learned_hash_without_text() -> None:
    known = KnownProtocols(NODOC)
    first = ClientConnection()
    pump(first, ServerConnection(known), first.append_batch(*BATCH)[1])
    second = ClientConnection(remote=first.remote)
    serial, data = second.append_batch(*BATCH)
    request, _ = decode_request(server_frames(data)[0][1])
    assert request == HandshakeRequest(C, None, S, {})
    assert pump(second, ServerConnection(known), data) == ([Reply(serial, Status.OK, None)], 1)


def test_client_match_runs_the_call_in_the_same_round_trip() -> None:
    known = KnownProtocols(NODOC)
    known.answer(HandshakeRequest(C, FLUME_PROTOCOL.text, S))  # another client taught it C
    client, server = ClientConnection(), ServerConnection(known)
    serial, data = client.append_batch(*BATCH)
    out, calls = server.feed(data)
    assert out == [] and len(calls) == 1
    response = server.answer(calls[0].serial, Status.FAILED)
    assert decode_response(server_frames(response)[0][1])[0].match is Match.CLIENT
    assert client.feed(response) == ([], [Reply(serial, Status.FAILED, None)])
    assert client.established and client.remote.md5 == S


def test_none_twice_is_a_handshake_error() -> None:
    client = ClientConnection()
    client.append_batch(*BATCH)
    none = encode_response(HandshakeResponse(Match.NONE, NODOC.text, S))
    resend, _ = client.feed(encode_frame(1, [none]))
    assert decode_request(server_frames(resend[0])[0][1])[0].client_protocol == FLUME_PROTOCOL.text
    with pytest.raises(HandshakeError):
        client.feed(encode_frame(2, [none]))


@pytest.mark.parametrize("match", [Match.CLIENT, Match.NONE])
def test_client_or_none_without_the_servers_protocol_is_a_handshake_error(match: Match) -> None:
    client = ClientConnection()
    client.append_batch(*BATCH)
    with pytest.raises(HandshakeError):
        client.feed(encode_frame(1, [encode_response(HandshakeResponse(match)), b"\x00\x00\x00"]))


def test_no_second_call_while_the_handshake_is_in_flight() -> None:
    client = ClientConnection()
    client.append_batch(*BATCH)
    assert not client.ready
    with pytest.raises(NotReady):
        client.append_batch(*BATCH)


def test_pipelined_calls_answered_out_of_order_are_matched_by_serial() -> None:
    client, server = ClientConnection(), ServerConnection()
    pump(client, server, client.append_batch(*BATCH)[1])
    serials, sent = zip(*(client.append_batch([{"n": str(i)}], [b"x"]) for i in range(5)))
    _, calls = server.feed(b"".join(sent))
    assert [c.serial for c in calls] == list(serials)
    answers = {c.serial: Status.OK if i % 2 else Status.FAILED for i, c in enumerate(calls)}
    out = b"".join(server.answer(serial, answers[serial]) for serial in reversed(serials))
    _, replies = client.feed(out)
    assert [(r.serial, r.status) for r in replies] == [(s, answers[s]) for s in reversed(serials)]
    assert client.in_flight == 0 and not server.pending


def test_append_and_error_answers_reach_the_client() -> None:
    client, server = ClientConnection(), ServerConnection()
    serial, data = client.append({"a": "b"}, b"one")
    out, calls = server.feed(data)
    assert [(c.message, c.n, c.columns()) for c in calls] == [("append", 1, ([{"a": "b"}], [b"one"]))]
    assert client.feed(server.answer(serial, "boom")) == ([], [Reply(serial, None, "boom")])
    serial, data = client.append({}, b"two")
    _, calls = server.feed(data)
    assert (calls[0].columns(), calls[0].nbytes) == ((None, [b"two"]), 3)


def test_an_empty_batch_is_a_legal_heartbeat() -> None:
    client, server = ClientConnection(), ServerConnection()
    pump(client, server, client.append_batch(*BATCH)[1])
    serial, data = client.append_batch(None, [])
    _, calls = server.feed(data)
    assert (calls[0].columns(), calls[0].n) == ((None, []), 0)
    assert client.feed(server.answer(serial, Status.OK))[1] == [Reply(serial, Status.OK, None)]


def established_server(known: KnownProtocols | None = None) -> ServerConnection:
    server = ServerConnection(known)
    handshake = encode_request(HandshakeRequest(C, None, C, {}))
    out, calls = server.feed(encode_frame(1, [request_head(handshake, "")]))
    assert calls == [] and server_frames(out[0]) == [(1, b"\x00\x00\x00\x00")]
    return server


def answer_of(out: list[bytes]) -> tuple[int, tuple[Status | None, str | None]]:
    ((serial, payload),) = server_frames(b"".join(out))
    return serial, read_response(payload, 0, FLUME_PROTOCOL.status_symbols("append"))


def test_a_ping_is_answered_with_the_handshake_slot_alone() -> None:
    server = established_server()
    out, calls = server.feed(encode_frame(2, [request_head(b"", "")]))
    assert calls == [] and server_frames(out[0]) == [(2, b"")]


def test_an_unknown_message_gets_a_system_error_and_the_connection_lives() -> None:
    server = established_server()
    out, calls = server.feed(encode_frame(2, [request_head(b"", "drop")]))
    assert calls == []
    error = "org.apache.avro.AvroRuntimeException: No such remote message: drop"
    assert answer_of(out) == (2, (None, error))
    _, calls = server.feed(encode_frame(3, [request_head(b"", "appendBatch"), b"\x00"]))
    assert [c.serial for c in calls] == [3]


def test_a_second_handshake_gets_an_error_instead_of_hanging() -> None:
    """A Java server reads the repeated clientHash as a huge metadata map and never answers."""
    server = established_server()
    handshake = encode_request(HandshakeRequest(C, None, C, {}))
    out, calls = server.feed(encode_frame(2, [request_head(handshake, "appendBatch"), b"\x00"]))
    serial, (status, error) = answer_of(out)
    assert calls == [] and serial == 2 and status is None and error is not None


def test_a_garbled_call_gets_a_system_error() -> None:
    server = established_server()
    out, _ = server.feed(encode_frame(2, [request_head(b"", "appendBatch"), b"\x02\x00\x7f"]))
    assert answer_of(out)[1][0] is None


def test_a_client_protocol_that_reads_differently_gets_errors() -> None:
    doc = json.loads(FLUME_PROTOCOL.text)
    doc["types"][1]["fields"].reverse()  # body before headers
    odd = Protocol.parse(json.dumps(doc))
    server = ServerConnection()
    client = ClientConnection(protocol=odd)
    serial, data = client.append_batch(*BATCH)
    replies, calls_run = pump(client, server, data)
    assert calls_run == 0 and replies[0].serial == serial
    assert "does not read as ours" in (replies[0].error or "")


def test_a_first_frame_without_a_handshake_is_a_handshake_error() -> None:
    with pytest.raises(HandshakeError):
        ServerConnection().feed(encode_frame(1, [b"\x00\x16appendBatch"]))


def test_a_serial_reused_while_pending_is_malformed() -> None:
    server = established_server()
    frame = encode_frame(7, [request_head(b"", "appendBatch"), b"\x00"])
    server.feed(frame)
    with pytest.raises(MalformedFrame):
        server.feed(frame)


def test_a_response_to_no_call_is_refused() -> None:
    with pytest.raises(UnknownSerial):
        ClientConnection().feed(encode_frame(9, [b"\x00\x00\x00"]))


def test_serials_wrap_like_javas_atomic_integer() -> None:
    client, server = ClientConnection(), ServerConnection()
    pump(client, server, client.append_batch(*BATCH)[1])
    client._serial = 2**31 - 1
    serial, data = client.append_batch(*BATCH)
    assert serial == -2**31 and server_frames(data)[0][0] == -2**31


def waiting_client() -> ClientConnection:
    client = ClientConnection()
    client.append_batch(*BATCH)  # serial 1, awaiting the handshake response
    return client


def mutated(rng: random.Random, valid: bytes) -> bytes:
    """A prefix of a valid payload with a few bytes changed, or plain random bytes."""
    payload = bytearray(valid[:rng.randint(0, len(valid))] if rng.random() < 0.5
                        else rng.randbytes(rng.randint(0, 80)))
    for _ in range(rng.randint(0, 4) if payload else 0):
        payload[rng.randrange(len(payload))] = rng.randrange(256)
    return bytes(payload)


def captured_payload(name: str, index: int) -> bytes:
    return server_frames((FIXTURES / name).read_bytes())[index][1]


SIDES = {  # how to build the connection, the serial it expects, a payload it would accept
    "new server": (ServerConnection, 5, captured_payload("session2.c2s.bin", 1)),
    "established server": (established_server, 5, captured_payload("session1.c2s.bin", 1)),
    "client": (waiting_client, 1, captured_payload("session3.s2c.bin", 0)),
}


@pytest.mark.parametrize("side", list(SIDES))
def test_random_payloads_raise_only_protocol_errors(side: str) -> None:
    """Whatever a peer sends, a connection copes or raises AvroProtocolError (close the socket)."""
    make, serial, valid = SIDES[side]
    rng = random.Random(side)
    for _ in range(1000):
        try:
            make().feed(encode_frame(serial, [mutated(rng, valid)]))
        except AvroProtocolError:
            pass
