"""What every source process shares: interceptors, the replicating selector, and PUTs.

A source hands `submit()` a batch of bodies; the batch is encoded once and PUT to every channel
of the source, with a sequence number so a retry is stored once. It counts as accepted when every
required channel answered PUT_OK. A FULL answer backs off and re-sends the same batch; nothing
read is dropped. At most `WINDOW` batches are in flight: `has_room()` turns false and the
source stops reading until a channel answers.

A source that can tell its client "no" (avro) passes `on_failed` and a deadline instead: FULL or
no answer in time calls `on_failed(reason)` once and the batch is the client's to send again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from proto import batch, messages
from services.config.model import AgentConfig
from services.pirate import Client, Pending
from services.process import Process
from services.sources import dedupe
from services.sources.interceptors import chain

WINDOW = 4
FULL_BACKOFF_S = (0.05, 2.0)  # first retry after a FULL, cap; doubled per consecutive FULL
PUT_MARGIN_S = 2.0  # beyond the channel's keep-alive before a PUT counts as lost


@dataclass
class InFlight:
    seq: int
    blob: bytes
    n: int
    nbytes: int
    waiting: set[str]
    required: set[str]
    on_accepted: Callable[[], None] | None = None
    on_failed: Callable[[str], None] | None = None
    fulls: int = 0
    rids: dict[str, int] = field(default_factory=dict)  # channel -> request id of its PUT


class SourceProcess(Process):
    TYPE = "SOURCE"

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.conf = agent.sources[name]
        self.headers_for = chain(self.conf.interceptors)
        self.deduper = dedupe.find(self.conf.interceptors)
        optional = set(self.conf.selector.params.get("optional", [])) if self.conf.selector else set()
        self.required = {ch for ch in self.conf.channels if ch not in optional}
        self.clients: dict[str, Client] = {}
        self.put_timeout: dict[str, float] = {}
        for ch in self.conf.channels:
            self.clients[ch] = Client(self, self.endpoint(ch, "chan"),
                                      lambda msg, p, ch=ch: self._on_reply(ch, msg, p),
                                      f"channel {ch}")
            keep_alive = float(agent.channels[ch].params.get("keep-alive", 3))
            self.put_timeout[ch] = keep_alive + PUT_MARGIN_S
        self.inflight: dict[int, InFlight] = {}
        self.seq = 0

    def has_room(self) -> bool:
        return len(self.inflight) < WINDOW

    def submit(self, bodies: list[bytes], headers: batch.Headers = None,
               on_accepted: Callable[[], None] | None = None,
               on_failed: Callable[[str], None] | None = None, deadline_s: float = 0.0) -> None:
        """PUT one batch to every channel; `on_accepted` runs once the required ones took it.

        With `on_failed`, a FULL answer or no answer within `deadline_s` fails the batch
        instead of retrying it.
        """
        if not bodies:
            return
        headers = self.headers_for(len(bodies), headers)
        self.counters["EventReceivedCount"] += len(bodies)
        if self.deduper is not None:
            bodies, headers, ids = self.deduper.filter(bodies, headers)
            self.counters["DuplicateDroppedCount"] = self.deduper.dropped
            on_accepted = self._remembering(ids, on_accepted)
            if not bodies:
                on_accepted()
                return
        self.seq += 1
        flight = InFlight(self.seq, batch.encode(bodies, headers), len(bodies),
                          sum(map(len, bodies)), set(self.clients), set(self.required),
                          on_accepted, on_failed)
        self.inflight[flight.seq] = flight
        if on_failed is not None and deadline_s > 0:
            self.after(deadline_s, lambda: self._fail(flight, "channel did not answer in time"))
        for ch in self.clients:
            self._put(ch, flight)

    def _remembering(self, ids: list[str], then: Callable[[], None] | None
                     ) -> Callable[[], None]:
        """`then`, after the deduper learnt that these ids are now in the channel."""
        def accepted() -> None:
            self.deduper.accepted(ids)
            if then is not None:
                then()
        return accepted

    def _put(self, ch: str, flight: InFlight) -> None:
        if flight.seq not in self.inflight:
            return  # failed back to its client meanwhile
        flight.rids[ch] = self.clients[ch].request("PUT", self.put_timeout[ch], [flight.blob], context=flight.seq,
                                 src=self.inc, seq=flight.seq, n=flight.n, nbytes=flight.nbytes)

    def _on_reply(self, ch: str, msg: messages.Message, pending: Pending) -> None:
        flight = self.inflight.get(pending.context)
        if flight is None:
            return
        if msg.op == "PUT_OK":
            flight.waiting.discard(ch)
            flight.required.discard(ch)
        elif msg.op == "FULL":
            self._full(ch, flight, msg["reason"])
        else:
            self.counters["ChannelWriteFail"] += 1
            self.log.error("channel %s refused a batch: %s", ch, msg.fields)
            self.after(FULL_BACKOFF_S[1], lambda: self._put(ch, flight))
        self._settle(flight)

    def _full(self, ch: str, flight: InFlight, reason: str) -> None:
        """Back off and offer the same batch again; an optional channel is given up on."""
        if flight.on_failed is not None:
            self._fail(flight, reason)
            return
        self.counters["ChannelWriteFail"] += 1
        if ch not in flight.required:
            flight.waiting.discard(ch)
            self.log.warning("optional channel %s full; batch %d skipped there", ch, flight.seq)
            return
        flight.fulls += 1
        delay = min(FULL_BACKOFF_S[1], FULL_BACKOFF_S[0] * 2 ** flight.fulls)
        if flight.fulls == 1:
            self.log.warning("channel %s: %s; retrying the same batch", ch, reason)
        self.after(delay, lambda: self._put(ch, flight))

    def _settle(self, flight: InFlight) -> None:
        """Finish a batch once its required channels have it (optional ones are best effort)."""
        if flight.required:
            return
        if flight.seq not in self.inflight:
            return
        del self.inflight[flight.seq]
        self.counters["EventAcceptedCount"] += flight.n
        if flight.on_accepted:
            flight.on_accepted()
        self.resume()

    def _fail(self, flight: InFlight, reason: str) -> None:
        """Give a batch back to the client that sent it (it will retry or fail over)."""
        if self.inflight.pop(flight.seq, None) is None:
            return
        for ch, rid in flight.rids.items():
            self.clients[ch].forget(rid)
        self.counters["ChannelWriteFail"] += 1
        if flight.on_failed:
            flight.on_failed(reason)
        self.resume()

    def resume(self) -> None:
        """Called when the window has room again: read more input."""

    def drained(self) -> bool:
        return not self.inflight

    def stats(self) -> dict[str, Any]:
        report = super().stats()
        report["InFlightBatchCount"] = len(self.inflight)
        return report
