"""Flume's Avro RPC, sans I/O: the gateway between zflume and real Flume agents
(docs/architecture.md 5).

    protocol     AvroSourceProtocol's exact text and hash; protocol shapes; Status
    framing      Netty frames: serial, buffer count, length-prefixed buffers
    handshake    HandshakeRequest/Response (fastavro) and the server's match decision
    calls        request and response payloads around the parameters
    codec        array<AvroFlumeEvent> to and from columns, fast
    compression  one zlib stream per direction, sync-flushed per frame
    server       ServerConnection: bytes -> Call, answers by serial
    client       ClientConnection: batches -> frames, bytes -> Reply
    errors       AvroProtocolError and its subclasses

Nothing here touches a socket or a clock; services/ drives these objects. The hot modules run
compiled when `make accelerated` built them from these sources (proto/accelerated.py).
"""
from ..accelerated import build_path

_compiled = build_path(__name__)
if _compiled:
    __path__.insert(0, _compiled)

from .client import ClientConnection, Reply
from .errors import (
                     AvroProtocolError,
                     FrameTooLarge,
                     HandshakeError,
                     MalformedFrame,
                     NotReady,
                     UnknownMessage,
                     UnknownSerial,
)
from .handshake import KnownProtocols
from .protocol import FLUME_PROTOCOL, Protocol, Status
from .server import Call, ServerConnection

__all__ = [
    "FLUME_PROTOCOL", "Call", "ClientConnection", "FrameTooLarge", "HandshakeError",
    "KnownProtocols", "MalformedFrame", "NotReady", "Protocol", "AvroProtocolError", "Reply",
    "ServerConnection", "Status", "UnknownMessage", "UnknownSerial",
]
