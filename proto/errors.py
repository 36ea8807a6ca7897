"""zflume's exception root, and the tree for internal messages that arrive on a socket.

    ZflumeError              every exception zflume raises on purpose derives from it (some also
                             from the builtin their callers catch: ValueError, OSError...)
    ProtocolError            a peer sent an internal message we cannot accept; it is refused
    ├── MalformedMessage     not the shape its op requires (or not msgpack at all)
    ├── VersionMismatch      a version field we do not speak
    ├── UnknownOp            an op code we do not know
    └── UnexpectedOp         a valid message this socket does not take

Every rejection carries a `reason` from the fixed set `Reason`, which is what an ERROR reply
sends back, so peers and counters never see free-form text where a code is expected.
"""
from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message was refused: the `reason` of an ERROR reply."""

    MALFORMED = "MALFORMED"
    BAD_VERSION = "BAD_VERSION"
    UNKNOWN_OP = "UNKNOWN_OP"
    UNEXPECTED = "UNEXPECTED"


class ZflumeError(Exception):
    """The root: `except ZflumeError` catches what zflume raises and nothing else."""


class ProtocolError(ZflumeError):
    """Base of every refusal of peer input."""

    reason = Reason.MALFORMED


class MalformedMessage(ProtocolError):
    """Frames that do not decode to the shape their op requires."""

    reason = Reason.MALFORMED


class VersionMismatch(ProtocolError):
    """A message from a peer speaking another version of the internal protocol."""

    reason = Reason.BAD_VERSION


class UnknownOp(ProtocolError):
    """An op name this version does not define."""

    reason = Reason.UNKNOWN_OP


class UnexpectedOp(ProtocolError):
    """A well-formed message that this socket does not take (a PING on a channel's socket)."""

    reason = Reason.UNEXPECTED
