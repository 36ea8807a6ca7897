"""Avro's RPC handshake (org.apache.avro.ipc), as Java's Requestor and Responder run it.

    HandshakeRequest   clientHash: fixed MD5(16) | clientProtocol: union{null, string}
                       serverHash: MD5           | meta: union{null, map<bytes>}
    HandshakeResponse  match: enum{BOTH, CLIENT, NONE} | serverProtocol: union{null, string}
                       serverHash: union{null, MD5}    | meta: union{null, map<bytes>}

    Java client, first call:  86aa..0a65 00 86aa..0a65 02 00   (35 bytes; meta = empty map)
    Java server, BOTH:        00 00 00 00                      (meta = null)
    Java server, CLIENT/NONE: 02|04  02 <len><server protocol text>  02 <16-byte hash>  00

The handshake prefixes requests and responses only until one succeeds (BOTH or CLIENT) on a
connection; on NONE the server answers the handshake alone and does not run the call.
"""
from __future__ import annotations

import enum
import io
from collections import OrderedDict
from dataclasses import dataclass

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.types import Schema

from .errors import HandshakeError
from .protocol import FLUME_PROTOCOL, Protocol

_MD5 = {"type": "fixed", "name": "MD5", "size": 16}
_META = ["null", {"type": "map", "values": "bytes"}]
REQUEST_SCHEMA = parse_schema({
    "type": "record", "name": "HandshakeRequest", "namespace": "org.apache.avro.ipc",
    "fields": [{"name": "clientHash", "type": _MD5},
               {"name": "clientProtocol", "type": ["null", "string"]},
               {"name": "serverHash", "type": "MD5"},
               {"name": "meta", "type": _META}]})
RESPONSE_SCHEMA = parse_schema({
    "type": "record", "name": "HandshakeResponse", "namespace": "org.apache.avro.ipc",
    "fields": [{"name": "match", "type": {"type": "enum", "name": "HandshakeMatch",
                                          "symbols": ["BOTH", "CLIENT", "NONE"]}},
               {"name": "serverProtocol", "type": ["null", "string"]},
               {"name": "serverHash", "type": ["null", _MD5]},
               {"name": "meta", "type": _META}]})
# fastavro raises these on truncated or garbage input.
_DECODE_ERRORS = (EOFError, IndexError, ValueError, OverflowError, TypeError)
MAX_REMEMBERED_CLIENTS = 64


class Match(enum.Enum):
    BOTH = "BOTH"
    CLIENT = "CLIENT"
    NONE = "NONE"


@dataclass(frozen=True)
class HandshakeRequest:
    client_hash: bytes
    client_protocol: str | None
    server_hash: bytes
    meta: dict[str, bytes] | None = None


@dataclass(frozen=True)
class HandshakeResponse:
    match: Match
    server_protocol: str | None = None
    server_hash: bytes | None = None
    meta: dict[str, bytes] | None = None


def encode_request(request: HandshakeRequest) -> bytes:
    return _write(REQUEST_SCHEMA, {
        "clientHash": request.client_hash, "clientProtocol": request.client_protocol,
        "serverHash": request.server_hash, "meta": request.meta})


def encode_response(response: HandshakeResponse) -> bytes:
    return _write(RESPONSE_SCHEMA, {
        "match": response.match.value, "serverProtocol": response.server_protocol,
        "serverHash": response.server_hash, "meta": response.meta})


def decode_request(payload: bytes) -> tuple[HandshakeRequest, int]:
    """The request at the start of a payload, and where the call that follows it starts."""
    record, end = _read(REQUEST_SCHEMA, payload)
    return HandshakeRequest(record["clientHash"], record["clientProtocol"], record["serverHash"],
                            record["meta"]), end


def decode_response(payload: bytes) -> tuple[HandshakeResponse, int]:
    record, end = _read(RESPONSE_SCHEMA, payload)
    return HandshakeResponse(Match(record["match"]), record["serverProtocol"], record["serverHash"],
                             record["meta"]), end


def _write(schema: Schema, record: dict) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, record)
    return out.getvalue()


def _read(schema: Schema, payload: bytes) -> tuple[dict, int]:
    stream = io.BytesIO(payload)
    name = schema["name"] if isinstance(schema, dict) else schema
    try:
        record = schemaless_reader(stream, schema)
    except _DECODE_ERRORS as exc:
        raise HandshakeError(f"undecodable {name}: {exc!r}") from exc
    if not isinstance(record, dict):
        raise HandshakeError(f"undecodable {name}: not a record")
    return record, stream.tell()


class KnownProtocols:
    """A server's side of the handshake, shared by all its connections (Java's Responder).

    Client protocols learned from one connection's clientProtocol text serve every later
    connection (that is how session 3's server answers CLIENT to a client it never saw).
    At most MAX_REMEMBERED_CLIENTS are kept, so clients cannot grow the table without bound.
    """

    def __init__(self, local: Protocol = FLUME_PROTOCOL) -> None:
        if local.requests != FLUME_PROTOCOL.requests:
            raise ValueError(f"{local.name} does not define Flume's append and appendBatch")
        self.local = local
        self._clients: OrderedDict[bytes, Protocol] = OrderedDict({local.md5: local})

    def answer(self, request: HandshakeRequest) -> tuple[HandshakeResponse, Protocol | None]:
        """Responder.handshake: the response, and the client's protocol (None on NONE)."""
        remote = self._clients.get(request.client_hash)
        if remote is None and request.client_protocol is not None:
            remote = Protocol.parse(request.client_protocol, request.client_hash)
            self._remember(remote)
        if remote is None:
            match = Match.NONE
        else:
            match = Match.BOTH if request.server_hash == self.local.md5 else Match.CLIENT
        if match is Match.BOTH:
            return HandshakeResponse(match), remote
        return HandshakeResponse(match, self.local.text, self.local.md5), remote

    def _remember(self, remote: Protocol) -> None:
        self._clients[remote.md5] = remote
        if len(self._clients) > MAX_REMEMBERED_CLIENTS:
            oldest = next(h for h in self._clients if h != self.local.md5)
            del self._clients[oldest]
