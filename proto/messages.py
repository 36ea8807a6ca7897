"""Every internal message between zflume processes, defined once (protocol version 2).

Each message is one ZeroMQ multipart message:

    frame 0        msgpack [VERSION, op, incarnation, fields]   (the header, a few hundred bytes)
    frame 1        the message's event batch blobs (proto.batch) end to end, their byte
                   lengths in the header's `lens`; absent when it carries none. Channels and
                   routers pass blobs through untouched.

One frame, not one per blob: every frame costs a send call and libzmq's per-part work, which
at fifty 20-event blobs per PUT was the biggest cost of the sending process.

`incarnation` is 8 random bytes drawn by the sender when its process starts, so a peer can tell a
restarted process from the one it knew. Requests carry `rid` (a request counter) and replies echo
it, so a client with several requests in flight matches each answer. Over a ROUTER socket the
envelope (peer identity, empty delimiter) comes first; `split_envelope` removes it.

One message carries several Flume transactions: what costs is the message, not the event, so
every hop moves up to about a thousand events per message whatever Flume's batch sizes are, and
each transaction inside stays atomic (docs/architecture.md 4).

    op            fields                                     blobs      sent by -> to
    PUT           rid, src, seq, ns, sizes, delivered        len(ns)    source -> channel
    PUT_OK        rid, seq, stored                           0          channel -> source
    FULL          rid, seq, stored, reason                   0          channel -> source
    TAKE          rid, max, count, wait_ms, who, commit      0          router -> channel, long poll
    BATCH         rid, txns, ns, parts, unknown              sum(parts) channel -> router
    EMPTY         rid, unknown                               0          channel -> router
    RENEW         rid, txns                                  0          router -> channel
    COMMIT        rid, txns                                  0          router -> channel
    ROLLBACK      rid, txns                                  0          router -> channel
    OK            rid, unknown                               0          channel -> router
    DELIVER       fid, attempt, router, ns, parts, stamp,    sum(parts) router -> sink (PUSH)
                  max_wait_ms
    RESULT        fid, attempt, router, done, reason,        0          sink -> router (PUSH)
                  liveness, malformed
    PING          rid                                        0          anyone -> ctl socket
    PONG          rid, state, elapsed_ms, healthy, why       0          ctl socket -> pinger
    STATS         rid                                        0          zflume status -> ctl
    STATS_REPLY   rid, type, name, counters                  0          ctl -> zflume status
    ERROR         rid, reason, detail                        0          replier, for refused input

PUT: blob i is the source's transaction `seq + i` of `ns[i]` events and `sizes[i]` body bytes.
The channel stores the transactions in order, each all or nothing and each once even if
retried; PUT_OK says all `stored`; FULL says only the first `stored` are in and why the rest
are not (the source retries or fails exactly those). With `delivered`, PUT_OK waits until every
event of the PUT has been committed out of the channel, and FULL says 0 are stored (stored is
not delivered). `src` is the source's incarnation. TAKE
asks for up to `count` transactions of at most `max` events each; BATCH answers with `txns[i]`
holding `ns[i]` events in the next `parts[i]` blobs. A TAKE first commits the transactions in
its `commit` (the router's COMMIT riding on its next TAKE, one message fewer per flight); BATCH
and EMPTY list those of them the channel did not know in `unknown`. A transaction id is
[channel incarnation, counter]. COMMIT, ROLLBACK and RENEW name several transactions; OK lists
those the channel did not know (a repeated COMMIT is known). `who` names the taking router, so
the channel can hand back the leases of that router's previous incarnation at once.
DELIVER carries one flight of a router (`fid`), its transactions' events in the same
`ns`/`parts` layout; RESULT says per transaction whether it was `done` (delivered), and
whether it was `malformed`: its blobs do not decode, so no sink will ever deliver it. `router` is
the router's incarnation, echoed in RESULT so a result meant for a previous router is dropped;
`attempt` counts re-routes so a late result from an abandoned sink is too.
`stamp` is the router's CLOCK_MONOTONIC at sending (router and sink share a host): a sink does
not start a delivery older than `max_wait_ms` (0 = no limit), because after that long the
router may have given up on the sink (missed heartbeats, e.g. the sink was SIGSTOPped) and
re-routed the batch; writing it anyway would only duplicate it.
PONG state is IDLE, BUSY (delivering for elapsed_ms) or STOPPING (SIGTERM received).
`liveness` says a failure was the target being unreachable (refused, reset, timeout) rather
than a FAILED answer from it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack

from proto.errors import MalformedMessage, ProtocolError, UnknownOp, VersionMismatch

VERSION = 2
MAX_HEADER_BYTES = 64 * 1024

Txn = tuple[bytes, int]

# op -> (required fields with their types, what the blob frames must add up to)
_INT = int
_STR = str
_BYTES = bytes
_TXNS = "txns"
_INTS = "ints"
_BOOLS = "bools"
_NS, _PARTS = "ns", "parts"
SCHEMA: dict[str, tuple[dict[str, Any], str | None]] = {
    "PUT": ({"rid": _INT, "src": _BYTES, "seq": _INT, "ns": _INTS, "sizes": _INTS,
             "delivered": bool}, _NS),
    "PUT_OK": ({"rid": _INT, "seq": _INT, "stored": _INT}, None),
    "FULL": ({"rid": _INT, "seq": _INT, "stored": _INT, "reason": _STR}, None),
    "TAKE": ({"rid": _INT, "max": _INT, "count": _INT, "wait_ms": _INT, "who": _STR,
              "commit": _TXNS}, None),
    "BATCH": ({"rid": _INT, "txns": _TXNS, "ns": _INTS, "parts": _INTS, "unknown": _TXNS},
              _PARTS),
    "EMPTY": ({"rid": _INT, "unknown": _TXNS}, None),
    "RENEW": ({"rid": _INT, "txns": _TXNS}, None),
    "COMMIT": ({"rid": _INT, "txns": _TXNS}, None),
    "ROLLBACK": ({"rid": _INT, "txns": _TXNS}, None),
    "OK": ({"rid": _INT, "unknown": _TXNS}, None),
    "DELIVER": ({"fid": _INT, "attempt": _INT, "router": _BYTES, "ns": _INTS, "parts": _INTS,
                 "stamp": float, "max_wait_ms": _INT}, _PARTS),
    "RESULT": ({"fid": _INT, "attempt": _INT, "router": _BYTES, "done": _BOOLS,
                "reason": _STR, "liveness": bool, "malformed": _BOOLS}, None),
    "PING": ({"rid": _INT}, None),
    "PONG": ({"rid": _INT, "state": _STR, "elapsed_ms": _INT, "healthy": bool, "why": _STR}, None),
    "STATS": ({"rid": _INT}, None),
    "STATS_REPLY": ({"rid": _INT, "type": _STR, "name": _STR, "counters": dict}, None),
    "ERROR": ({"rid": _INT, "reason": _STR, "detail": _STR}, None),
}
MAX_LIST = 4096  # transactions or blobs in one message: senders put at most about 1000 in one


def _is_txn(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], bytes)
            and type(value[1]) is int)


def _naturals(values: list[Any]) -> bool:
    """Every item an int >= 0 (never a bool). Checked by C loops, not a call per item: a PUT
    carries fifty of them in `ns` and again in `sizes`, and this ran on every hop."""
    return not values or (set(map(type, values)) == {int} and min(values) >= 0)


_ITEM_CHECKS: dict[str, Any] = {
    _TXNS: lambda values: all(map(_is_txn, values)),
    _INTS: _naturals,
    _BOOLS: lambda values: set(map(type, values)) <= {bool},
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
    def txns(self) -> list[Txn]:
        return self.fields["txns"]

    def groups(self) -> list[list[Any]]:
        """The blobs of each transaction of a BATCH or DELIVER, per `parts`."""
        out, at = [], 0
        for count in self.fields["parts"]:
            out.append(self.blobs[at:at + count])
            at += count
        return out


def pack(op: str, inc: bytes, blobs: Sequence[bytes] = (), **fields: Any) -> list[Any]:
    """Frames for one message; the only place the header and frame layout are written."""
    for key in ("txns", "unknown", "commit"):
        if key in fields:
            fields[key] = [list(txn) for txn in fields[key]]
    if not blobs:
        return [msgpack.packb([VERSION, op, inc, fields], use_bin_type=True)]
    fields["lens"] = [len(blob) for blob in blobs]
    header = msgpack.packb([VERSION, op, inc, fields], use_bin_type=True)
    return [header, b"".join(blobs)]


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
    blobs = _split_blobs(op, fields, frames)
    _check_fields(op, fields, len(blobs))
    return Message(op, inc, fields, blobs)


def _split_blobs(op: str, fields: dict[str, Any], frames: Sequence[Any]) -> list[bytes]:
    """The blobs of frame 1, cut by the header's `lens`."""
    if len(frames) == 1:
        return []
    lens = fields.get("lens")
    if len(frames) != 2 or not isinstance(lens, list) or len(lens) > MAX_LIST or not _naturals(
            lens):
        raise MalformedMessage(f"{op}: blob frame without its lengths")
    data = frames[1]
    if sum(lens) != len(data):
        raise MalformedMessage(f"{op}: blob lengths add up to {sum(lens)}, frame has {len(data)}")
    blobs, at = [], 0
    for n in lens:
        blobs.append(data[at:at + n])
        at += n
    return blobs


def _check_fields(op: str, fields: dict[str, Any], blob_count: int) -> None:
    """Refuse a message whose fields or blob count do not match its op's schema."""
    required, blobs_from = SCHEMA[op]
    for key, kind in required.items():
        value = fields.get(key)
        if kind in _ITEM_CHECKS:
            if not (isinstance(value, list) and len(value) <= MAX_LIST
                    and _ITEM_CHECKS[kind](value)):
                raise MalformedMessage(f"{op}: {key} is not a list of {kind}")
            if kind == _TXNS:
                fields[key] = [(txn[0], txn[1]) for txn in value]
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise MalformedMessage(f"{op}: field {key} missing or not {kind.__name__}")
    if blobs_from is None:
        return
    lists = [fields[k] for k in ("txns", "ns", "sizes", "parts") if k in required]
    if not lists[0] or any(len(items) != len(lists[0]) for items in lists):
        raise MalformedMessage(f"{op}: empty, or its lists differ in length")
    expected = len(fields["ns"]) if blobs_from == _NS else sum(fields["parts"])
    if blob_count != expected or (blobs_from == _PARTS and 0 in fields["parts"]):
        raise MalformedMessage(f"{op}: needs {expected} batch frame(s), got {blob_count}")


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
