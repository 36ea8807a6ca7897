"""Every internal message between zflume processes, defined once (protocol version 4).

Each message is one ZeroMQ multipart message:

    frame 0    msgpack array [VERSION, op, incarnation, field1, field2, ..., (lens)]: the
               fields in the order of their class below, no names on the wire; `lens` (the
               byte length of each event batch blob) ends it when the message carries blobs
    frame 1    the message's event batch blobs (proto.batch) end to end; absent without blobs.
               Channels and routers pass blobs through untouched; a parsed message's blobs
               are memoryview slices of this frame, not copies.

Positional fields instead of a map: a header is parsed by C code and its fields checked by one
small function per field, which matters because the internal hops carry thousands of messages
a second. One frame for all blobs, not one each: every frame costs a send call and libzmq's
per-part work.

Each class below is one message: constructing it and calling `frames(inc)` is the only way one
is written, `parse(frames)` the only way one is read (it returns an instance of that class,
with the sender's `inc`), so call sites name fields as attributes and never spell an op.
A request's `rid` is set by the client that sends it (services/pirate.py) and a reply's is its
request's, so it is the constructors' last argument; on the wire it is the first field.

`incarnation` is 8 random bytes drawn by the sender when its process starts, so a peer can tell
a restarted process from the one it knew. Requests carry `rid` (a request counter, the first
field of every request and reply) and replies echo it, so a client with several requests in
flight matches each answer. Over a ROUTER socket the envelope (peer identity, empty delimiter)
comes first; `split_envelope` removes it.

One message carries several Flume transactions: what costs is the message, not the event, so
every hop moves up to about a thousand events per message whatever Flume's batch sizes are, and
each transaction inside stays atomic (docs/architecture.md 4). A transaction id (`Txn`) is
(channel incarnation, counter).
"""
from __future__ import annotations

import itertools
import operator
import os
from dataclasses import dataclass, fields
from enum import IntEnum, StrEnum
from typing import Any, Callable, ClassVar, Sequence, TypeVar, Union, cast

import msgpack

from proto.batch import Blob
from proto.errors import MalformedMessage, ProtocolError, UnknownOp, VersionMismatch
from proto.packer import pack

VERSION = 4
MAX_HEADER_BYTES = 64 * 1024
MAX_LIST = 4096  # transactions or blobs in one message: senders put at most about 1000 in one

Txn = tuple[bytes, int]


class Op(IntEnum):
    """The op code, the header's second item."""

    PUT = 1
    PUT_OK = 2
    FULL = 3
    TAKE = 4
    BATCH = 5
    EMPTY = 6
    RENEW = 7
    COMMIT = 8
    ROLLBACK = 9
    OK = 10
    DELIVER = 11
    RESULT = 12
    PING = 13
    PONG = 14
    STATS = 15
    STATS_REPLY = 16
    ERROR = 17


class PeerState(StrEnum):
    """What a PONG says its process is doing."""

    IDLE = "IDLE"
    BUSY = "BUSY"  # a sink delivering, for elapsed_ms
    STOPPING = "STOPPING"  # SIGTERM received


# -- field checks: one per annotation used below; each takes the decoded value ----------------
def _natural_list(value: Any) -> bool:
    """A tuple of ints >= 0 (never bools), checked by C loops rather than a call per item."""
    return type(value) is tuple and len(value) <= MAX_LIST and (
        not value or (set(map(type, value)) == {int} and min(value) >= 0))


def _is_txn(value: Any) -> bool:
    return (type(value) is tuple and len(value) == 2 and type(value[0]) is bytes
            and type(value[1]) is int)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: type(v) is int,
    "float": lambda v: type(v) is float,
    "bool": lambda v: type(v) is bool,
    "bytes": lambda v: type(v) is bytes,
    "str": lambda v: type(v) is str,
    "PeerState": lambda v: v in PeerState.__members__,
    "dict[str, Any]": lambda v: type(v) is dict,
    "Sequence[int]": _natural_list,
    "Sequence[bool]": lambda v: type(v) is tuple and len(v) <= MAX_LIST and (
        set(map(type, v)) <= {bool}),
    "Sequence[Txn]": lambda v: type(v) is tuple and len(v) <= MAX_LIST and all(map(_is_txn, v)),
}


class Message:
    """What every message has: its sender's incarnation (set by `parse`) and `frames`."""

    OP: ClassVar[Op]
    FIELDS: ClassVar[tuple[str, ...]]  # the wire order: the dataclass fields but blobs, inc
    _values: ClassVar[operator.attrgetter[Any]]
    _checks: ClassVar[tuple[tuple[str, Callable[[Any], bool]], ...]]
    _rid_first: ClassVar[bool]  # its fields start with `rid`, which __init__ takes last
    inc: bytes

    def wire_values(self) -> tuple[Any, ...]:
        values = self._values(self)
        return (values,) if len(self.FIELDS) == 1 else values

    def frames(self, inc: bytes) -> list[bytes]:
        """This message as the frames to send, from a process whose incarnation is `inc`."""
        return [pack([VERSION, self.OP, inc, *self.wire_values()])]


M = TypeVar("M", bound=type[Message])
_BY_OP: dict[int, type[Message]] = {}


def _message(op: Op) -> Callable[[M], M]:
    """Register a message class for `op`: its wire order and checks come from its fields."""
    def register(cls: M) -> M:
        wire = [f for f in fields(cast(Any, cls)) if f.name not in ("blobs", "inc")]
        wire.sort(key=lambda f: f.name != "rid")  # rid first on the wire, last in __init__
        cls.OP = op
        cls.FIELDS = tuple(f.name for f in wire)
        cls._rid_first = cls.FIELDS[0] == "rid"
        cls._values = operator.attrgetter(*cls.FIELDS)
        cls._checks = tuple((f.name, _CHECKS[str(f.type)]) for f in wire)
        _BY_OP[op] = cls
        return cls
    return register


class Carrier(Message):
    """A message with event batch blobs: PUT, BATCH, DELIVER."""

    ns: Sequence[int]
    blobs: Sequence[Blob]

    def frames(self, inc: bytes) -> list[bytes]:
        header = pack([VERSION, self.OP, inc, *self.wire_values(), [len(b) for b in self.blobs]])
        return [header, b"".join(self.blobs)]

    def check_layout(self) -> None:
        """Its per-transaction lists agree and it has a blob per transaction; raises
        MalformedMessage."""
        self._check_lists(("ns", "sizes"))
        if len(self.blobs) != len(self.ns):
            raise MalformedMessage(f"{self.OP.name}: needs {len(self.ns)} batch blob(s), "
                                   f"got {len(self.blobs)}")

    def _check_lists(self, names: tuple[str, ...]) -> None:
        """The per-transaction lists among `names` that this message has are one length, not 0."""
        lists = [getattr(self, name) for name in names if name in self.FIELDS]
        if not lists[0] or any(len(items) != len(lists[0]) for items in lists):
            raise MalformedMessage(f"{self.OP.name}: empty, or its lists differ in length")


class Batched(Carrier):
    """A BATCH or DELIVER: transaction i holds `ns[i]` events in the next `parts[i]` blobs."""

    parts: Sequence[int]

    def check_layout(self) -> None:
        self._check_lists(("txns", "ns", "parts"))
        if len(self.blobs) != sum(self.parts) or 0 in self.parts:
            raise MalformedMessage(f"{self.OP.name}: needs {sum(self.parts)} batch blob(s) "
                                   f"in parts of at least 1, got {len(self.blobs)}")

    def groups(self) -> list[list[Blob]]:
        """The blobs of each transaction, per `parts`."""
        out, at = [], 0
        for count in self.parts:
            out.append(list(self.blobs[at:at + count]))
            at += count
        return out


@_message(Op.PUT)
@dataclass(slots=True)
class Put(Carrier):
    """source -> channel. Blob i is the source's transaction `seq + i` of `ns[i]` events and
    `sizes[i]` body bytes; the channel stores them in order, each all or nothing and each once
    even if retried. `src` is the source's incarnation. With `delivered`, PUT_OK waits until
    every event of the PUT has been committed out of the channel, and FULL says 0 are stored
    (stored is not delivered). `until` (the sender's CLOCK_MONOTONIC; source and channel share
    a host, 0.0 = no limit) bounds how long transactions may wait for room: the channel answers
    FULL by then and stores none of them later, so a source that tells its client FAILED at its
    own deadline (avro, http) never finds them stored after all, to arrive twice once resent."""

    src: bytes
    seq: int
    ns: Sequence[int]
    sizes: Sequence[int]
    delivered: bool
    until: float
    rid: int = 0
    blobs: Sequence[Blob] = ()
    inc: bytes = b""


@_message(Op.PUT_OK)
@dataclass(slots=True)
class PutOk(Message):
    """channel -> source: all `stored` transactions of the PUT starting at `seq` are in."""

    seq: int
    stored: int
    rid: int = 0
    inc: bytes = b""


@_message(Op.FULL)
@dataclass(slots=True)
class Full(Message):
    """channel -> source: only the first `stored` transactions are in, and why not the rest
    (the source retries or fails exactly those)."""

    seq: int
    stored: int
    reason: str
    rid: int = 0
    inc: bytes = b""


@_message(Op.TAKE)
@dataclass(slots=True)
class Take(Message):
    """router -> channel, a long poll for up to `count` transactions of at most `max` events.
    It first commits the transactions in `commit` (the router's COMMIT riding on its next
    TAKE). `who` names the taking router, so the channel hands back the leases of that
    router's previous incarnation at once."""

    max: int
    count: int
    wait_ms: int
    who: str
    commit: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.BATCH)
@dataclass(slots=True)
class Batch(Batched):
    """channel -> router: leased transactions `txns`; `unknown` lists the TAKE's commits the
    channel did not know."""

    txns: Sequence[Txn]
    ns: Sequence[int]
    parts: Sequence[int]
    unknown: Sequence[Txn]
    rid: int = 0
    blobs: Sequence[Blob] = ()
    inc: bytes = b""


@_message(Op.EMPTY)
@dataclass(slots=True)
class Empty(Message):
    """channel -> router: nothing to take within the TAKE's wait."""

    unknown: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.RENEW)
@dataclass(slots=True)
class Renew(Message):
    """router -> channel: extend the leases of transactions still being delivered."""

    txns: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.COMMIT)
@dataclass(slots=True)
class Commit(Message):
    """router -> channel: these transactions were delivered; a repeated COMMIT is known."""

    txns: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.ROLLBACK)
@dataclass(slots=True)
class Rollback(Message):
    """router -> channel: put these transactions back at the head of the queue."""

    txns: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.OK)
@dataclass(slots=True)
class Ok(Message):
    """channel -> router, for RENEW, COMMIT and ROLLBACK: the transactions it did not know."""

    unknown: Sequence[Txn]
    rid: int = 0
    inc: bytes = b""


@_message(Op.DELIVER)
@dataclass(slots=True)
class Deliver(Batched):
    """router -> sink (PUSH): one flight `fid` of the router, in BATCH's ns/parts layout.
    `router` is the router's incarnation and `attempt` counts re-routes, both echoed in RESULT
    so a late result for a previous router or an abandoned attempt is dropped. `stamp` is the
    router's CLOCK_MONOTONIC at sending (router and sink share a host): a sink does not start
    a delivery older than `max_wait_ms` (0 = no limit), since after that long the router may
    have re-routed it (e.g. the sink was SIGSTOPped) and writing it would only duplicate it."""

    fid: int
    attempt: int
    router: bytes
    ns: Sequence[int]
    parts: Sequence[int]
    stamp: float
    max_wait_ms: int
    blobs: Sequence[Blob] = ()
    inc: bytes = b""


@_message(Op.RESULT)
@dataclass(slots=True)
class Result(Message):
    """sink -> router (PUSH): per transaction of a flight whether it was `done` (delivered)
    and whether it is `malformed` (its blobs do not decode, so no sink will ever deliver it).
    `liveness` says a failure was the target being unreachable (refused, reset, timeout)
    rather than a FAILED answer from it."""

    fid: int
    attempt: int
    router: bytes
    done: Sequence[bool]
    reason: str
    liveness: bool
    malformed: Sequence[bool]
    inc: bytes = b""


@_message(Op.PING)
@dataclass(slots=True)
class Ping(Message):
    """anyone -> a ctl socket: the heartbeat."""

    rid: int = 0
    inc: bytes = b""


@_message(Op.PONG)
@dataclass(slots=True)
class Pong(Message):
    """ctl socket -> pinger: what the process does and whether its target is healthy."""

    state: PeerState
    elapsed_ms: int
    healthy: bool
    why: str
    rid: int = 0
    inc: bytes = b""


@_message(Op.STATS)
@dataclass(slots=True)
class Stats(Message):
    """zflume status -> a ctl socket."""

    rid: int = 0
    inc: bytes = b""


@_message(Op.STATS_REPLY)
@dataclass(slots=True)
class StatsReply(Message):
    """ctl socket -> zflume status: the component's type, name and Flume-named counters."""

    type: str
    name: str
    counters: dict[str, Any]
    rid: int = 0
    inc: bytes = b""


@_message(Op.ERROR)
@dataclass(slots=True)
class Error(Message):
    """replier -> requester, for input it refused: why (a `Reason`) and a short detail."""

    reason: str
    detail: str
    rid: int = 0
    inc: bytes = b""


Request = Union[Put, Take, Renew, Commit, Rollback, Ping, Stats]  # what carries a `rid` to echo


def new_incarnation() -> bytes:
    """A process's identity for this run; drawn once at start."""
    return os.urandom(8)


def parse(frames: Sequence[Any]) -> Message:
    """Decode and shape-check one message (envelope already removed); raises ProtocolError."""
    header = _header(frames)
    version, op, inc = header[0], header[1], header[2]
    if version != VERSION:
        raise VersionMismatch(f"version {version!r}, we speak {VERSION}")
    cls = _BY_OP.get(op) if type(op) is int else None
    if cls is None:
        raise UnknownOp(f"unknown op {op!r}")
    if type(inc) is not bytes:
        raise MalformedMessage(f"{cls.OP.name}: incarnation is not bytes")
    values = header[3:]
    count = len(cls.FIELDS)
    carrier = issubclass(cls, Carrier)
    if len(values) != count + carrier or len(frames) != 1 + carrier:
        raise MalformedMessage(f"{cls.OP.name}: needs {count} field(s)"
                               + (", blob lengths and the blob frame" if carrier else ""))
    for (name, check), value in zip(cls._checks, values, strict=False):
        if not check(value):
            raise MalformedMessage(f"{cls.OP.name}: field {name} missing or of the wrong kind")
    wire = values[:count]
    if cls._rid_first:
        wire = (*wire[1:], wire[0])
    msg: Message
    if issubclass(cls, Carrier):
        msg = cls(*wire, _split_blobs(cls.OP, values[count], frames[1]))  # type: ignore[call-arg]
        msg.check_layout()
    else:
        msg = cls(*wire)
    msg.inc = inc
    return msg


def _header(frames: Sequence[Any]) -> tuple[Any, ...]:
    """Frame 0 decoded to a tuple of at least [version, op, inc]."""
    if not frames:
        raise MalformedMessage("empty message")
    raw = frames[0]
    if len(raw) > MAX_HEADER_BYTES:
        raise MalformedMessage(f"header of {len(raw)} bytes")
    try:
        header = msgpack.unpackb(raw, use_list=False, raw=False, max_bin_len=MAX_HEADER_BYTES,
                                 max_str_len=MAX_HEADER_BYTES, max_array_len=MAX_LIST,
                                 max_map_len=MAX_LIST)
    except (ValueError, msgpack.UnpackException) as exc:
        raise MalformedMessage(f"header is not msgpack: {exc}") from exc
    if type(header) is not tuple or len(header) < 3:
        raise MalformedMessage("header is not [version, op, incarnation, fields...]")
    return header


def _split_blobs(op: Op, lens: Any, data: Any) -> list[Blob]:
    """The blobs of frame 1, cut by the header's `lens` as views, not copies."""
    if not _natural_list(lens):
        raise MalformedMessage(f"{op.name}: blob frame without its lengths")
    if sum(lens) != len(data):
        raise MalformedMessage(
            f"{op.name}: blob lengths add up to {sum(lens)}, frame has {len(data)}")
    view = memoryview(data)
    ends = list(itertools.accumulate(lens))
    return [view[start:end] for start, end in zip([0, *ends], ends, strict=False)]


def split_envelope(frames: list[Any]) -> tuple[list[Any], list[Any]]:
    """(routing envelope up to and including the empty delimiter, message frames)."""
    for index, frame in enumerate(frames):
        if len(frame) == 0:
            return frames[:index + 1], frames[index + 1:]
    raise MalformedMessage("no envelope delimiter")


def error_reply(inc: bytes, exc: ProtocolError, rid: int = -1) -> list[bytes]:
    """The ERROR a replier sends for input it refused."""
    return Error(rid=rid, reason=exc.reason, detail=str(exc)[:200]).frames(inc)


def request_id(frames: Sequence[Any]) -> int:
    """Best-effort `rid` of a refused message (the first field of every request), so the
    ERROR reply still matches its request."""
    try:
        rid = _header(frames)[3]
    except (ProtocolError, IndexError):
        return -1
    return rid if type(rid) is int else -1


def rid_of(msg: Message) -> int:
    """The request id a reply echoes (-1 for the PUSHed DELIVER and RESULT, which have none)."""
    rid = getattr(msg, "rid", -1)
    return rid if type(rid) is int else -1
