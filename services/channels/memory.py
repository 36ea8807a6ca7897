"""The memory channel process: a ROUTER serving PUT / TAKE / RENEW / COMMIT / ROLLBACK.

A PUT that does not fit waits up to `keep-alive` seconds (or its sender's `until`, if sooner)
for room before it is answered FULL, and a TAKE on an empty channel waits up to its `wait_ms`,
so neither side busy-polls. Waiting requests are answered in arrival order. As in Flume, the
contents die with the process.

Subclasses (the file channel) supply their own store through `make_store`, and may hold back
the replies that promise durability (PUT_OK, COMMIT's answer) through `_durable` until
`_flush`, which runs once after each burst of requests: that is where a group commit goes.

A PUT marked `delivered` (an avro source with `ack = delivered`) is answered PUT_OK only once
every one of its events has been taken and committed, i.e. the next hop has them: its sender
keeps them until then, so a kill of this channel loses nothing that was answered
(docs/architecture.md 5, the avro source).
"""
from __future__ import annotations

import functools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import zmq

from proto import messages
from proto.batch import Blob
from proto.errors import ProtocolError, UnexpectedOp
from services.channels.store import MAX_CHUNKS, Lease, MemoryStore
from services.config.model import AgentConfig
from services.process import Process, send_frames, waiting_messages

TAKERS_GONE_S = 2.0  # on stop: nobody has taken for this long, so nobody will
LINGER_AT_CLOSE_MS = 500  # the last replies' time to leave
# A BATCH takes no further transaction once it holds this many bytes (so that a flight of large
# events stays a few ms of copying at each hop: a router asks for up to 10,000 events) or
# MAX_CHUNKS blobs.
BATCH_BYTES = 2 << 20


@dataclass
class WaitingPut:
    envelope: list[Any]
    msg: messages.Put
    deadline: float
    reason: str = ""  # why the store last refused it, for the FULL answer
    stored: int = 0  # transactions stored so far, in order
    undelivered: int = 0  # a `delivered` PUT's stored transactions not yet all committed

    @property
    def key(self) -> tuple[bytes, int]:
        return self.msg.src, self.msg.seq


@dataclass
class WaitingTake:
    envelope: list[Any]
    msg: messages.Take
    deadline: float
    unknown: list[messages.Txn] = field(default_factory=list)  # its commits the store did not know


class MemoryChannel(Process):
    TYPE = "CHANNEL"

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        params = agent.channels[name].params
        self.keep_alive_s = float(params["keep-alive"])
        self.store = self.make_store(params)
        self.counters["ChannelCapacity"] = params["capacity"]
        self.puts: deque[WaitingPut] = deque()
        self.takes: deque[WaitingTake] = deque()
        # `delivered` PUTs: stored in full, by (src, seq), and each stored transaction (by its
        # put order, which splits and rollbacks keep) with the events of it still in the channel
        self.delivering: dict[tuple[bytes, int], WaitingPut] = {}
        self.uncommitted: dict[int, tuple[WaitingPut, int]] = {}
        self.last_take = time.monotonic()
        self.sock = self.socket(zmq.ROUTER, bind=self.endpoint(name, "chan"))
        self.on(self.sock, self._on_request)
        self.every(0.05, self._expire_waiting)
        self.every(0.5, self._expire_leases)

    def make_store(self, params: dict[str, Any]) -> MemoryStore:
        byte_limit = int(params["byteCapacity"] * (100 - params["byteCapacityBufferPercentage"])
                         / 100)
        return MemoryStore(self.inc, params["capacity"], byte_limit,
                           float(params["lease-timeout"]), time.monotonic)

    def _on_request(self, sock: zmq.Socket) -> None:
        for frames in waiting_messages(sock):
            self._handle(frames)
        self._flush()

    def _handle(self, frames: list[Any]) -> None:
        try:
            envelope, body = messages.split_envelope(frames)
        except ProtocolError as exc:
            self.refused(exc, "chan")
            return
        try:
            msg = messages.parse(body)
            if isinstance(msg, messages.Put):
                self._put(envelope, msg)
            elif isinstance(msg, messages.Take):
                self._take(envelope, msg)
            elif isinstance(msg, messages.Commit):
                self._commit_request(envelope, msg)
            elif isinstance(msg, (messages.Rollback, messages.Renew)):
                self._lease_change(envelope, msg)
            else:
                raise UnexpectedOp(f"{msg.OP.name} is not a channel request")
        except ProtocolError as exc:
            self.refused(exc, "chan")
            self._send(envelope, messages.error_reply(self.inc, exc, messages.request_id(body)))

    def _send(self, envelope: list[Any], frames: list[Any]) -> None:
        try:
            send_frames(self.sock, [*envelope, *frames])
        except zmq.ZMQError as exc:  # peer vanished (EHOSTUNREACH never raised without MANDATORY)
            self.log.debug("reply dropped: %s", exc)

    def _durable(self, envelope: list[Any], frames: list[Any]) -> None:
        """Send a reply that promises the change it answers is kept (memory: at once)."""
        self._send(envelope, frames)

    def _flush(self) -> None:
        """End of a burst of requests: nothing to make durable in memory."""

    # -- PUT ----------------------------------------------------------------------------------
    def _put(self, envelope: list[Any], msg: messages.Put) -> None:
        self.counters["EventPutAttemptCount"] += sum(msg.ns)
        key = (msg.src, msg.seq)
        held = self.delivering.get(key) or next((w for w in self.puts if w.key == key), None)
        if held is not None:
            held.envelope = envelope  # a retry over a fresh socket: answer it there
            return
        deadline = time.monotonic() + self.keep_alive_s
        if msg.until:  # its source fails it back then: nothing of it may be stored later
            deadline = min(deadline, msg.until)
        self.puts.append(WaitingPut(envelope, msg, deadline))
        self._admit_puts()

    def _admit_puts(self) -> None:
        """Store waiting PUTs' transactions in arrival order while they fit. One whose `until`
        passed is refused, not stored, even when it fits and its timer has not run yet: room
        came late, or it arrived late (a channel slow to read, a resend of a PUT already
        answered FULL), and its source has failed it back."""
        now = time.monotonic()
        while self.puts:
            waiting = self.puts[0]
            if waiting.msg.until and waiting.msg.until <= now:
                self._refuse(self.puts.popleft(), "its sender's deadline passed")
                continue
            if not self._store_some(waiting):
                break  # still serve the takes that the puts admitted so far have fed
            self.puts.popleft()
            if waiting.undelivered:
                self.delivering[waiting.key] = waiting
            else:
                self._put_ok(waiting)
        self._serve_takes()

    def _put_ok(self, waiting: WaitingPut) -> None:
        msg = waiting.msg
        self._durable(waiting.envelope, messages.PutOk(
            rid=msg.rid, seq=msg.seq, stored=waiting.stored).frames(self.inc))

    def _store_some(self, waiting: WaitingPut) -> bool:
        """Store a PUT's next transactions, each all or nothing; True once all are in."""
        msg = waiting.msg
        on_new = functools.partial(self._deliver_later, waiting) if msg.delivered else None
        waiting.stored, added, waiting.reason = self.store.put_run(
            msg.src, msg.seq, msg.blobs, msg.ns, msg.sizes, waiting.stored, on_new)
        self.counters["EventPutSuccessCount"] += added
        return not waiting.reason

    def _deliver_later(self, waiting: WaitingPut, index: int) -> None:
        """A `delivered` PUT's transaction was stored: its PUT_OK waits for its commit."""
        self.uncommitted[self.store.newest_order()] = (waiting, waiting.msg.ns[index])
        waiting.undelivered += 1

    def _delivered(self, lease: Lease) -> None:
        """A committed lease: answer the `delivered` PUTs whose last events it held."""
        for chunk in lease.chunks:
            entry = self.uncommitted.pop(chunk.order, None)
            if entry is None:
                continue
            waiting, left = entry
            if left > chunk.n:
                self.uncommitted[chunk.order] = (waiting, left - chunk.n)
                continue
            waiting.undelivered -= 1
            key = waiting.key
            if not waiting.undelivered and self.delivering.get(key) is waiting:
                del self.delivering[key]
                self._put_ok(waiting)

    # -- TAKE and transactions ----------------------------------------------------------------
    def _take(self, envelope: list[Any], msg: messages.Take) -> None:
        self.last_take = time.monotonic()
        wait_s = min(max(msg.wait_ms, 0) / 1000.0, 30.0)
        unknown = self._commit(msg.commit)
        self.takes.append(WaitingTake(envelope, msg, time.monotonic() + wait_s, unknown))
        if msg.commit:
            self._admit_puts()  # which serves the takes too
        else:
            self._serve_takes()

    def _serve_takes(self) -> None:
        while self.takes and self.store.queued:
            waiting = self.takes.popleft()
            msg = waiting.msg
            leases: list[Lease] = []
            blobs: list[Blob] = []
            nbytes = 0
            for _ in range(max(1, msg.count)):
                lease = self.store.take(msg.who, msg.inc, max(1, msg.max),
                                        MAX_CHUNKS - len(blobs))
                if lease is None:
                    break
                leases.append(lease)
                taken = [c.blob for c in lease.chunks]
                blobs += taken
                nbytes += sum(map(len, taken))
                if nbytes >= BATCH_BYTES or len(blobs) >= MAX_CHUNKS:
                    break
            if not leases:
                self.takes.appendleft(waiting)
                return
            ns = [lease.n for lease in leases]
            self.counters["EventTakeAttemptCount"] += sum(ns)
            self._send(waiting.envelope, messages.Batch(
                rid=msg.rid, txns=[lease.txn for lease in leases], ns=ns,
                parts=[len(lease.chunks) for lease in leases], unknown=waiting.unknown,
                blobs=blobs).frames(self.inc))

    def _commit_request(self, envelope: list[Any], msg: messages.Commit) -> None:
        unknown = self._commit(msg.txns)
        self._admit_puts()
        self._durable(envelope, messages.Ok(rid=msg.rid, unknown=unknown).frames(self.inc))

    def _lease_change(self, envelope: list[Any],
                      msg: messages.Rollback | messages.Renew) -> None:
        rollback = isinstance(msg, messages.Rollback)
        change = self.store.rollback if rollback else self.store.renew
        unknown = [txn for txn in msg.txns if not change(txn)]
        if rollback:
            self._serve_takes()
        self._send(envelope, messages.Ok(rid=msg.rid, unknown=unknown).frames(self.inc))

    def _commit(self, txns: Sequence[messages.Txn]) -> list[messages.Txn]:
        """Drop these leased batches for good; the ones not known (a repeated COMMIT is)."""
        unknown = []
        for txn in txns:
            lease = self.store.leases.get(txn)
            if not self.store.commit(txn):
                unknown.append(txn)
            elif lease is not None:
                self.counters["EventTakeSuccessCount"] += lease.n
                self._delivered(lease)
        return unknown

    # -- timers -------------------------------------------------------------------------------
    def _expire_waiting(self) -> None:
        now = time.monotonic()
        self._expire_puts(now)
        while self.takes and self.takes[0].deadline <= now:
            self._answer_empty(self.takes.popleft())
        self._flush()

    def _expire_puts(self, now: float) -> None:
        """FULL for every waiting PUT whose deadline passed, wherever it waits: a PUT's `until`
        may come before the keep-alive of one that arrived before it."""
        if not any(waiting.deadline <= now for waiting in self.puts):
            return
        waiting_puts, self.puts = self.puts, deque()
        for waiting in waiting_puts:
            if waiting.deadline > now:
                self.puts.append(waiting)
                continue
            msg, at = waiting.msg, waiting.stored
            self._refuse(waiting, self.store.fits(msg.ns[at], msg.sizes[at]) or waiting.reason
                         or "channel full")

    def _refuse(self, waiting: WaitingPut, reason: str) -> None:
        """FULL: what the PUT stored so far is kept, the rest is not stored."""
        msg, at = waiting.msg, waiting.stored
        if msg.delivered:
            at = 0  # stored is not delivered: the sender fails them all back (and resends)
        # Transactions already stored are promised kept: durable, like PUT_OK.
        self._durable(waiting.envelope, messages.Full(
            rid=msg.rid, seq=msg.seq, stored=at, reason=reason).frames(self.inc))

    def _answer_waiting_takes(self) -> None:
        """At the end of a stop: EMPTY for every TAKE still waiting, so that a router stopping
        too knows the channel is done instead of waiting out its request's deadline (2 s past
        keep-alive). The socket lingers until they are sent."""
        while self.takes:
            self._answer_empty(self.takes.popleft())
        self.sock.close(linger=LINGER_AT_CLOSE_MS)

    def _answer_empty(self, taking: WaitingTake) -> None:
        self._send(taking.envelope, messages.Empty(
            rid=taking.msg.rid, unknown=taking.unknown).frames(self.inc))

    def _expire_leases(self) -> None:
        returned = self.store.expire()
        if returned:
            self.log.warning("%d leased events came back after their lease expired", returned)
            self._serve_takes()

    def stats(self) -> dict[str, Any]:
        held = self.store.held
        self.counters["ChannelSize"] = held
        capacity = self.store.capacity
        report = super().stats()
        report["ChannelFillPercentage"] = held * 100.0 / capacity if capacity else 0.0
        return report

    # -- stop ---------------------------------------------------------------------------------
    def drained(self) -> bool:
        """Serve until empty, or until no taker has asked for TAKERS_GONE_S."""
        if self.store.held == 0:
            return True
        if time.monotonic() - self.last_take > TAKERS_GONE_S and not self.store.leases:
            return True
        return False

    def close(self) -> None:
        """Say how many events the stop leaves undelivered, 0 included: nothing goes silently."""
        self._answer_waiting_takes()
        if self.store.held:
            self.log.error("stopping with %d events undelivered: a memory channel's contents "
                           "die with it", self.store.held)
        else:
            self.log.info("stopping with 0 events undelivered")
