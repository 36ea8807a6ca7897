"""zflume's exception root, and the tree for internal messages that arrive on a socket.

    ZflumeError              every exception zflume raises on purpose derives from it (some also
                             from the builtin their callers catch: ValueError, OSError...)
    ProtocolError            a peer sent an internal message we cannot accept; it is refused
    ├── MalformedMessage     not the shape its op requires (or not msgpack at all)
    ├── VersionMismatch      a version field we do not speak
    └── UnknownOp            an op name we do not know

Every rejection carries a `reason` from the fixed set in `REASONS`, which is what an ERROR reply
sends back, so peers and counters never see free-form text where a code is expected.
"""
from __future__ import annotations

REASONS = ("MALFORMED", "BAD_VERSION", "UNKNOWN_OP", "UNEXPECTED")


class ZflumeError(Exception):
    """The root: `except ZflumeError` catches what zflume raises and nothing else."""


class ProtocolError(ZflumeError):
    """Base of every refusal of peer input."""

    reason = "MALFORMED"


class MalformedMessage(ProtocolError):
    """Frames that do not decode to the shape their op requires."""

    reason = "MALFORMED"


class VersionMismatch(ProtocolError):
    """A message from a peer speaking another version of the internal protocol."""

    reason = "BAD_VERSION"


class UnknownOp(ProtocolError):
    """An op name this version does not define."""

    reason = "UNKNOWN_OP"
