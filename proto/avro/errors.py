"""What can go wrong on an Avro RPC connection.

    AvroProtocolError        the peer broke the wire protocol: close the connection
     +-- MalformedFrame      bytes that do not parse (framing, Avro encoding, deflate stream)
     +-- FrameTooLarge       a frame over the byte or buffer limit
     +-- HandshakeError      a handshake that cannot be decoded or cannot succeed
     +-- UnknownMessage      a call naming a message the protocols do not share
     +-- UnknownSerial       a response to no call in flight
    NotReady                 the caller's mistake, not the peer's: a call before the handshake ended

A server answers UnknownMessage, and MalformedFrame inside a call, with an Avro system error on the
same serial, as Java's Responder does; every other AvroProtocolError means "close the
connection". All derive from proto.errors.ZflumeError.
"""
from __future__ import annotations

from ..errors import ZflumeError


class AvroProtocolError(ZflumeError):
    """The peer broke Avro RPC; the connection cannot continue."""


class MalformedFrame(AvroProtocolError):
    """Bytes that are not a frame, an Avro value or a deflate stream."""


class FrameTooLarge(AvroProtocolError):
    """A frame declaring more bytes or buffers than the configured limits."""


class HandshakeError(AvroProtocolError):
    """A handshake that cannot be decoded, or a peer that refuses ours twice."""


class UnknownMessage(AvroProtocolError):
    """A call to a message the two protocols do not both define (answered, not fatal)."""


class UnknownSerial(AvroProtocolError):
    """A response whose serial matches no call in flight."""


class NotReady(ZflumeError, RuntimeError):
    """A call sent while the connection's first (handshake) call is still in flight."""
