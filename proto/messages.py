"""Every internal message between zflume processes, defined once (protocol version 1).

Each message is one ZeroMQ multipart message:

    frame 0        msgpack [VERSION, op, incarnation, fields]   (the header, a few hundred bytes)
    frame 1..n     event batch blobs (proto.batch), passed through untouched by channels and routers

`incarnation` is 8 random bytes drawn by the sender when its process starts, so a peer can tell a
restarted process from the one it knew. Requests carry `rid` (a request counter) and replies echo
it, so a client with several requests in flight matches each answer. Over a ROUTER socket the
envelope (peer identity, empty delimiter) comes first; `split_envelope` removes it.

    op            fields                                     blobs  sent by -> to
    PUT           rid, src, seq, n, nbytes                   1      source -> channel
    PUT_OK        rid, seq                                   0      channel -> source
    FULL          rid, seq, reason                           0      channel -> source (retry later)
    TAKE          rid, max, wait_ms, who                     0      router -> channel (long poll)
    BATCH         rid, txn, n                                1+     channel -> router
    EMPTY         rid                                        0      channel -> router (nothing within wait_ms)
    RENEW         rid, txn                                   0      router -> channel (extend the lease)
    COMMIT        rid, txn                                   0      router -> channel
    ROLLBACK      rid, txn                                   0      router -> channel
    OK            rid, txn                                   0      channel -> router
    UNKNOWN_TXN   rid, txn                                   0      channel -> router (changed nothing)
    DELIVER       txn, attempt, router, n, stamp, max_wait_ms 1+    router -> sink (PUSH)
    RESULT        txn, attempt, router, status, reason,      0      sink -> router (PUSH)
                  liveness
    PING          rid                                        0      anyone -> a process's ctl socket
    PONG          rid, state, txn, elapsed_ms, healthy, why  0      ctl socket -> pinger
    STATS         rid                                        0      `zflume status` -> ctl socket
    STATS_REPLY   rid, type, name, counters                  0      ctl socket -> `zflume status`
    ERROR         rid, reason, detail                        0      any replier, for refused input

A transaction id `txn` is [channel incarnation, counter]; `seq` numbers a source's batches so a
retried PUT is stored once. `src` is the source's incarnation. `who` names the taking router, so
the channel can hand back the leases of that router's previous incarnation at once. `router` is
the router's incarnation, echoed in RESULT so a result meant for a previous router is dropped;
`attempt` counts re-routes of one transaction so a late result from an abandoned sink is too.
`stamp` is the router's CLOCK_MONOTONIC at sending (router and sink share a host): a sink does
not start a delivery older than `max_wait_ms` (0 = no limit), because after that long the
router may have given up on the sink (missed heartbeats, e.g. the sink was SIGSTOPped) and
re-routed the batch; writing it anyway would only duplicate it.
PONG state is IDLE, BUSY (delivering for elapsed_ms) or STOPPING (SIGTERM received).
RESULT status is DELIVERED or FAILED; `liveness` says the failure was the target being
unreachable (refused, reset, timeout) rather than a FAILED answer from it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack

from proto.errors import MalformedMessage, ProtocolError, UnknownOp, VersionMismatch

VERSION = 1
MAX_HEADER_BYTES = 64 * 1024

Txn = tuple[bytes, int]

# op -> (required fields with their types, minimum number of blobs)
_INT = int
_STR = str
_BYTES = bytes
_TXN = "txn"
SCHEMA: dict[str, tuple[dict[str, Any], int]] = {
    "PUT": ({"rid": _INT, "src": _BYTES, "seq": _INT, "n": _INT, "nbytes": _INT}, 1),
    "PUT_OK": ({"rid": _INT, "seq": _INT}, 0),
    "FULL": ({"rid": _INT, "seq": _INT, "reason": _STR}, 0),
    "TAKE": ({"rid": _INT, "max": _INT, "wait_ms": _INT, "who": _STR}, 0),
    "BATCH": ({"rid": _INT, "txn": _TXN, "n": _INT}, 1),
    "EMPTY": ({"rid": _INT}, 0),
    "RENEW": ({"rid": _INT, "txn": _TXN}, 0),
    "COMMIT": ({"rid": _INT, "txn": _TXN}, 0),
    "ROLLBACK": ({"rid": _INT, "txn": _TXN}, 0),
    "OK": ({"rid": _INT, "txn": _TXN}, 0),
    "UNKNOWN_TXN": ({"rid": _INT, "txn": _TXN}, 0),
    "DELIVER": ({"txn": _TXN, "attempt": _INT, "router": _BYTES, "n": _INT, "stamp": float,
                 "max_wait_ms": _INT}, 1),
    "RESULT": ({"txn": _TXN, "attempt": _INT, "router": _BYTES, "status": _STR,
                "reason": _STR, "liveness": bool}, 0),
    "PING": ({"rid": _INT}, 0),
    "PONG": ({"rid": _INT, "state": _STR, "elapsed_ms": _INT, "healthy": bool, "why": _STR}, 0),
    "STATS": ({"rid": _INT}, 0),
    "STATS_REPLY": ({"rid": _INT, "type": _STR, "name": _STR, "counters": dict}, 0),
    "ERROR": ({"rid": _INT, "reason": _STR, "detail": _STR}, 0),
}


def new_incarnation() -> bytes:
    """A process's identity for this run; drawn once at start."""
    return os.urandom(8)


@dataclass
class Message:
    """One decoded message; `blobs` are the batch frames as bytes, never decoded here."""

    op: str
    inc: bytes
    fields: dict[str, Any] = field(default_factory=dict)
    blobs: list[Any] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    @property
    def txn(self) -> Txn:
        return self.fields["txn"]


def pack(op: str, inc: bytes, blobs: Sequence[Any] = (), **fields: Any) -> list[Any]:
    """Frames for one message; the only place the header layout is written."""
    if "txn" in fields:
        fields["txn"] = list(fields["txn"])
    header = msgpack.packb([VERSION, op, inc, fields], use_bin_type=True)
    return [header, *blobs]


def unpack(frames: Sequence[Any]) -> Message:
    """Decode and shape-check one message (envelope already removed); raises ProtocolError."""
    if not frames:
        raise MalformedMessage("empty message")
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise MalformedMessage(f"header of {len(raw)} bytes")
    try:
        header = msgpack.unpackb(raw, raw=False, max_bin_len=MAX_HEADER_BYTES,
                                 max_str_len=MAX_HEADER_BYTES, max_array_len=4096,
                                 max_map_len=4096)
    except (ValueError, msgpack.UnpackException) as exc:
        raise MalformedMessage(f"header is not msgpack: {exc}") from exc
    if not isinstance(header, list) or len(header) != 4:
        raise MalformedMessage("header is not [version, op, incarnation, fields]")
    version, op, inc, fields = header
    if version != VERSION:
        raise VersionMismatch(f"version {version!r}, we speak {VERSION}")
    if not isinstance(op, str) or op not in SCHEMA:
        raise UnknownOp(f"unknown op {op!r}")
    if not isinstance(inc, bytes) or not isinstance(fields, dict):
        raise MalformedMessage(f"{op}: bad incarnation or fields")
    _check_fields(op, fields, len(frames) - 1)
    return Message(op, inc, fields, list(frames[1:]))


def _check_fields(op: str, fields: dict[str, Any], blob_count: int) -> None:
    """Refuse a message whose fields or blob count do not match its op's schema."""
    required, min_blobs = SCHEMA[op]
    for key, kind in required.items():
        value = fields.get(key)
        if kind == _TXN:
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes)
                    and isinstance(value[1], int)):
                raise MalformedMessage(f"{op}: {key} is not [incarnation, counter]")
            fields[key] = (value[0], value[1])
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise MalformedMessage(f"{op}: field {key} missing or not {kind.__name__}")
    if blob_count < min_blobs:
        raise MalformedMessage(f"{op}: needs {min_blobs} batch frame(s), got {blob_count}")


def split_envelope(frames: list[Any]) -> tuple[list[Any], list[Any]]:
    """(routing envelope up to and including the empty delimiter, message frames)."""
    for index, frame in enumerate(frames):
        if len(frame) == 0:
            return frames[:index + 1], frames[index + 1:]
    raise MalformedMessage("no envelope delimiter")


def error_reply(inc: bytes, exc: ProtocolError, rid: int = -1) -> list[Any]:
    """The ERROR a replier sends for input it refused."""
    return pack("ERROR", inc, rid=rid, reason=exc.reason, detail=str(exc)[:200])


def request_id(frames: Sequence[Any]) -> int:
    """Best-effort `rid` of a refused message so the ERROR reply still matches its request."""
    try:
        raw = frames[0]
        rid = msgpack.unpackb(raw, raw=False, max_bin_len=MAX_HEADER_BYTES)[3]["rid"]
    except (ValueError, msgpack.UnpackException, LookupError, TypeError):
        return -1
    return rid if isinstance(rid, int) else -1
