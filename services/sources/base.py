"""What every source process shares: interceptors, the channel selector, and PUTs.

A source hands `submit()` one Flume transaction (a batch of bodies); it is encoded once per
route (services/sources/selector.py: replicating, one route, every channel; multiplexing, a part
per set of channels its events' header values pick) and PUT to the channels of its route, with
a sequence number so a retry is stored once. It counts as accepted when every required channel
stored each of its parts. The transactions submitted in one turn of the
loop travel together in one PUT (up to GROUP_EVENTS events), each still stored all or nothing:
per-message costs are paid per thousand events whatever the source's batchSize is. A FULL
answer says how many of a PUT's transactions were stored; the rest are offered again after a
backoff, so nothing read is dropped. At most `WINDOW` PUTs are in flight: `has_room()` turns
false and the source stops reading until a channel answers.

A source that can tell its client "no" (avro) passes `on_failed` and a deadline instead: FULL or
no answer in time calls `on_failed(reason)` once for each transaction not stored, and those
are the client's to send again.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from proto import batch, messages
from services import counters
from services.backoff import Backoff
from services.config.model import AgentConfig
from services.pirate import Client, Pending
from services.process import Process
from services.sources import dedupe
from services.sources.interceptors import chain
from services.sources.selector import Route, make_selector

WINDOW = 4
GROUP_EVENTS = 1000  # events in one PUT before it leaves without waiting for the turn's end
FULL_RETRY_S = (0.1, 2.0)  # first retry after a FULL, cap; doubled per consecutive FULL
PUT_MARGIN_S = 2.0  # beyond the channel's keep-alive before a PUT counts as lost
# A PUT failed back at a deadline must be answered FULL by its channel this much earlier (at
# most a quarter of the deadline), so that the channel's answer, not the source's timer, decides
ANSWER_MARGIN_S = 0.25


@dataclass
class SourceTxn:
    """One Flume put transaction (or one route's part of it): stored all or nothing."""

    route: Route
    blob: bytes
    n: int
    nbytes: int
    on_accepted: Callable[[], None] | None = None
    on_failed: Callable[[str], None] | None = None
    seq: int = 0  # given when its PUT group leaves: a PUT's transactions are numbered in a row


@dataclass
class PutGroup:
    """The transactions of one turn, PUT together; `stored[ch]` of them are in channel ch."""

    txns: list[SourceTxn]
    required: set[str]
    stored: dict[str, int] = field(default_factory=dict)
    settled: int = 0  # txns[:settled] are accepted or failed back
    full_retry: Backoff = field(default_factory=lambda: Backoff(*FULL_RETRY_S))
    rids: dict[str, int] = field(default_factory=dict)  # channel -> request id of its PUT
    until: float = 0.0  # the channels store none of it after this (CLOCK_MONOTONIC), 0: no limit

    @property
    def seq(self) -> int:
        return self.txns[0].seq

    @property
    def fails_back(self) -> bool:
        return self.txns[0].on_failed is not None


class SourceProcess(Process):
    TYPE = "SOURCE"
    EXTRA_COUNTERS: tuple[str, ...] = counters.ANY_SOURCE

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.conf = agent.sources[name]
        self.intercept = chain(self.conf.interceptors)
        self.deduper = dedupe.find(self.conf.interceptors)
        self.selector = make_selector(self.conf)
        self.required = self.selector.possibly_required()
        self.clients: dict[str, Client] = {}
        self.put_timeout: dict[str, float] = {}
        for ch in self.conf.channels:
            self.clients[ch] = Client(self, self.endpoint(ch, "chan"),
                                      functools.partial(self._on_reply, ch), f"channel {ch}")
            keep_alive = float(agent.channels[ch].params["keep-alive"])
            self.put_timeout[ch] = keep_alive + PUT_MARGIN_S
        # Whether a channel answers a PUT once it holds it (Flume) or once its events were
        # committed out of it, i.e. delivered onwards (an avro source's `ack = delivered`).
        self.ack_delivered = False
        # The most events one transaction may hold: the smallest transactionCapacity of its
        # channels, so that a source without a batchSize of its own never puts one too large
        # ever to fit (a channel holds `capacity` >= transactionCapacity).
        self.txn_limit = min((int(agent.channels[ch].params["transactionCapacity"])
                              for ch in self.conf.channels), default=100)
        # Blobs in the form the sinks downstream read (proto/batch.py): Avro when only avro
        # sinks drain this source's channels, so that they relay its batches undecoded.
        drains = [sink.type for sink in agent.sinks.values() if sink.channel in self.conf.channels]
        self.encode_blob = (batch.encode_avro if drains and set(drains) == {"avro"}
                       else batch.encode)
        self.inflight: dict[int, PutGroup] = {}
        self.forming: list[SourceTxn] = []
        self.forming_events = 0
        self.seq = 0

    def has_room(self) -> bool:
        return len(self.inflight) < WINDOW

    def submit(self, bodies: list[bytes], headers: batch.Headers = None,
               on_accepted: Callable[[], None] | None = None,
               on_failed: Callable[[str], None] | None = None, deadline_s: float = 0.0) -> None:
        """PUT one transaction to every channel; `on_accepted` runs once the required ones
        stored it. It leaves with the others of this turn (`deadline_s` is the group's).

        With `on_failed`, a FULL answer or no answer within `deadline_s` fails the transaction
        instead of retrying it.
        """
        if not bodies:
            return
        self.counters["EventReceivedCount"] += len(bodies)
        bodies, headers = self.intercept(bodies, headers)
        if not bodies:  # all filtered out (regex_filter): nothing to wait for
            if on_accepted is not None:
                on_accepted()
            return
        if self.deduper is not None:
            bodies, headers, ids = self.deduper.filter(bodies, headers)
            self.counters["DuplicateDroppedCount"] = self.deduper.dropped
            on_accepted = self._remembering(self.deduper, ids, on_accepted)
            if not bodies:
                on_accepted()
                return
        parts = self.selector.split(bodies, headers)
        if not parts:  # no channel wants these events (multiplexing without a default)
            if on_accepted is not None:
                on_accepted()
            return
        if len(parts) > 1:
            on_accepted, on_failed = _all_parts(len(parts), on_accepted, on_failed)
        self._form([SourceTxn(part.route, self.encode_blob(part.bodies, part.headers),
                              len(part.bodies), sum(map(len, part.bodies)),
                              on_accepted, on_failed) for part in parts], deadline_s)

    def relay_route(self) -> Route | None:
        """Where a batch may go as it came, not decoded (`submit_blob`): the one route of
        every event when no interceptor, dedupe or selector looks at them, else None."""
        if self.conf.interceptors:
            return None
        return self.selector.fixed_route()

    def submit_blob(self, route: Route, blob: bytes, n: int, nbytes: int,
                    on_accepted: Callable[[], None], on_failed: Callable[[str], None],
                    deadline_s: float) -> None:
        """`submit` for a batch already encoded (proto/batch.py), on `relay_route()`."""
        self.counters["EventReceivedCount"] += n
        self._form([SourceTxn(route, blob, n, nbytes, on_accepted, on_failed)], deadline_s)

    def _form(self, txns: list[SourceTxn], deadline_s: float) -> None:
        """Add transactions to this turn's PUT group."""
        if self.forming and (txns[0].on_failed is None) != (self.forming[0].on_failed is None):
            self._send_group(deadline_s)
        if not self.forming:
            self.after(0, lambda: self._send_group(deadline_s))  # at the end of this turn
        self.forming += txns
        self.forming_events += sum(txn.n for txn in txns)
        if self.forming_events >= GROUP_EVENTS:
            self._send_group(deadline_s)

    def submit_chunked(self, bodies: list[bytes], headers: batch.Headers = None) -> None:
        """What a read gave, as transactions of at most `txn_limit` events."""
        for at in range(0, len(bodies), self.txn_limit):
            self.submit(bodies[at:at + self.txn_limit],
                        headers[at:at + self.txn_limit] if headers else None)

    def _send_group(self, deadline_s: float) -> None:
        """PUT what this turn submitted: one group per route, to the channels of its route."""
        if not self.forming:
            return
        by_route: dict[Route, list[SourceTxn]] = {}
        for txn in self.forming:
            by_route.setdefault(txn.route, []).append(txn)
        self.forming, self.forming_events = [], 0
        for route, txns in by_route.items():
            for txn in txns:
                self.seq += 1
                txn.seq = self.seq
            group = PutGroup(txns, set(route.required), {ch: 0 for ch in route.channels})
            self.inflight[group.seq] = group
            if group.fails_back and deadline_s > 0:
                # The client hears FAILED at the deadline and sends the batch again: what a
                # channel still held waiting for room must not be stored after that, or the
                # events would arrive twice (Flume's put either stores or throws).
                group.until = time.monotonic() + deadline_s - min(ANSWER_MARGIN_S,
                                                                  deadline_s / 4)
                self.after(deadline_s, functools.partial(self._deadline_passed, group.seq))
            for ch in route.channels:
                self._put(ch, group)

    @staticmethod
    def _remembering(deduper: dedupe.Deduper, ids: list[str], then: Callable[[], None] | None
                     ) -> Callable[[], None]:
        """`then`, after the deduper learnt that these ids are now in the channel."""
        def accepted() -> None:
            deduper.accepted(ids)
            if then is not None:
                then()
        return accepted

    def _put(self, ch: str, group: PutGroup) -> None:
        if group.seq not in self.inflight:
            return  # settled meanwhile
        rest = group.txns[group.stored[ch]:]
        if not rest:
            return
        group.rids[ch] = self.clients[ch].request(messages.Put(
            src=self.inc, seq=rest[0].seq, ns=[t.n for t in rest], sizes=[t.nbytes for t in rest],
            delivered=self.ack_delivered, until=group.until, blobs=[t.blob for t in rest]),
            self.put_timeout[ch], context=group.seq)

    def _on_reply(self, ch: str, msg: messages.Message, pending: Pending) -> None:
        group = self.inflight.get(pending.context)
        if group is None:
            return
        at = group.stored[ch]
        if (isinstance(msg, (messages.PutOk, messages.Full)) and at < len(group.txns)
                and msg.seq == group.txns[at].seq):
            group.stored[ch] = min(len(group.txns), at + msg.stored)
        if isinstance(msg, messages.Full):
            self._full(ch, group, msg.reason)
        elif not isinstance(msg, messages.PutOk):
            self.counters["ChannelWriteFail"] += 1
            self.log.error("channel %s refused a batch: %s", ch, msg)
            self.after(FULL_RETRY_S[1], lambda: self._put(ch, group))
        self._settle(group)

    def _full(self, ch: str, group: PutGroup, reason: str) -> None:
        """Back off and offer the transactions not stored again; an optional channel is given
        up on; a client that can retry (avro) gets them back."""
        if group.fails_back:
            self._settle(group)
            self._fail(group, reason)
            return
        self.counters["ChannelWriteFail"] += 1
        if ch not in group.required:
            group.stored[ch] = len(group.txns)
            self.log.warning("optional channel %s full; PUT %d skipped there", ch, group.seq)
            return
        delay = group.full_retry.failed()
        if group.full_retry.failures == 1:
            self.log.warning("channel %s: %s; retrying the same batches", ch, reason)
        self.after(delay, lambda: self._put(ch, group))

    def _settle(self, group: PutGroup) -> None:
        """Accept every transaction the required channels all have; finish a group once all
        of its transactions are (optional channels are best effort)."""
        if group.seq not in self.inflight:
            return
        stored = min((group.stored[ch] for ch in group.required), default=len(group.txns))
        while group.settled < stored:
            txn = group.txns[group.settled]
            group.settled += 1
            self.counters["EventAcceptedCount"] += txn.n
            if txn.on_accepted:
                txn.on_accepted()
        if group.settled == len(group.txns):
            self._finish_group(group)

    def _deadline_passed(self, seq: int) -> None:
        """A group's put deadline. The timer names the group by seq only: holding the group
        itself kept every accepted batch's events alive until its deadline (2 s of traffic,
        170-280 MiB in a collector's avro source)."""
        group = self.inflight.get(seq)
        if group is not None:
            self._fail(group, "channel did not answer in time")

    def _fail(self, group: PutGroup, reason: str) -> None:
        """Give the transactions not stored back to the client that sent them (it will retry
        or fail over)."""
        if group.seq not in self.inflight:
            return
        self.counters["ChannelWriteFail"] += 1
        for txn in group.txns[group.settled:]:
            if txn.on_failed:
                txn.on_failed(reason)
        group.settled = len(group.txns)
        self._finish_group(group)

    def _finish_group(self, group: PutGroup) -> None:
        del self.inflight[group.seq]
        for ch, rid in group.rids.items():
            self.clients[ch].forget(rid)
        self.resume()

    def resume(self) -> None:
        """Called when the window has room again: read more input."""

    def drained(self) -> bool:
        return not self.inflight and not self.forming

    def stats(self) -> dict[str, Any]:
        report = super().stats()
        report["InFlightBatchCount"] = len(self.inflight)
        return report


def _all_parts(count: int, on_accepted: Callable[[], None] | None,
               on_failed: Callable[[str], None] | None
               ) -> tuple[Callable[[], None], Callable[[str], None] | None]:
    """Callbacks for the `count` parts of one transaction: accepted once all are, failed
    (once) as soon as one is."""
    left = [count]

    def accepted() -> None:
        left[0] -= 1
        if left[0] == 0 and on_accepted is not None:
            on_accepted()

    def failed(reason: str) -> None:
        if left[0] > 0 and on_failed is not None:
            left[0] = -1
            on_failed(reason)
    return accepted, (failed if on_failed is not None else None)
