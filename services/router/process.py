"""The sink-router process: takes batches from the channel and delivers each through one sink.

It owns the sink group's policy (services.router.policy), a window of batches in flight per
sink, and heartbeats to every sink. A batch leaves the channel (COMMIT) only after a sink
answered DELIVERED; a failed batch is offered at once to the next candidate sink; when none is
left it goes back to the channel (ROLLBACK) and the router backs off as Flume's SinkRunner does.
"""
from __future__ import annotations

import functools
import itertools
import random
import signal
from typing import Any

import zmq

from proto import messages
from proto.errors import ProtocolError
from services.backoff import Backoff
from services.config.model import AgentConfig
from services.config.schema import batch_size
from services.pirate import Client, Pending, Pinger
from services.process import NOBLOCK, Process, send_frames, waiting_messages
from services.router import quarantine
from services.router.links import Flight, SinkLink, delivery_timeout_s
from services.router.policy import make_policy

MAX_TAKES_IN_FLIGHT = 2
TAKING = "TAKE"  # the context of a TAKE request, so its reply (or ERROR) counts it answered
# Events and transactions taken and delivered in one message, whatever the batch size (the
# channel also ends a BATCH at its BATCH_BYTES). 10,000 events: 683k events/s at batch 1000
# against 515k with 1,000; the transactions bound keeps the header within proto.messages' limits.
FLIGHT_EVENTS = 10_000
FLIGHT_TXNS = 1000


class SinkRouter(Process):
    TYPE = "SINK_GROUP"

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.group = agent.router(name)
        channel = agent.sinks[self.group.sinks[0]].channel
        chan_params = agent.channels[channel].params
        self.wait_ms = int(float(chan_params["keep-alive"]) * 1000)
        self.chan = Client(self, self.endpoint(channel, "chan"), self._on_channel,
                           f"channel {channel}")
        self.policy = make_policy(self.group.processor, list(self.group.sinks), self.group.params,
                                  self.group.priorities, self.now, random.Random())
        self.links = {sink: self._link(sink) for sink in self.group.sinks}
        self.take_max = min(link.batch_size for link in self.links.values())
        # Several transactions per TAKE and DELIVER, but no more than half the channel, so
        # that the channel refills while a flight is out (half: 233k events/s at the seed's
        # settings against 171k with a quarter, two flights overlapping either way).
        # load_balance takes one at a time, so that its selector shares out Flume batches
        # one by one as Flume's does, and a sink's share never waits behind a large flight.
        per_flight = min(FLIGHT_EVENTS, int(chan_params["capacity"]) // 2)
        self.take_count = (1 if self.group.processor == "load_balance"
                           else max(1, min(FLIGHT_TXNS, per_flight // self.take_max)))
        self.fids = itertools.count(1)
        self.to_commit: list[messages.Txn] = []
        self.waiting: list[Flight] = []  # taken, but the chosen sink's window is full
        self.takes = 0
        self.channel_empty = False
        # SIGUSR1 (a reload restarting this router): stop once the flights in the air landed,
        # leaving the rest in the channel for the next router, instead of draining it first
        self.handing_over = False
        signal.signal(signal.SIGUSR1, self._hand_over)
        # No sink could take a batch: wait as Flume's SinkRunner does (its 1 s and 5 s, here
        # doubling from the first rather than growing by 1 s: 1, 2, 4, 5 s).
        params = self.group.params
        self.no_sink = Backoff(params["backoffSleepIncrement"] / 1000.0,
                               params["maxBackoffSleep"] / 1000.0, self.now)
        results = self.socket(zmq.PULL, bind=self.endpoint(name, "results"))
        self.on(results, self._on_results)
        self._start_heartbeats()
        self.every(float(chan_params["lease-timeout"]) / 3, self._renew)
        self.every(0.1, self._tick)

    def _link(self, sink: str) -> SinkLink:
        conf = self.agent.sinks[sink]
        window = self.group.params["window"]
        push = self.socket(zmq.PUSH)
        push.setsockopt(zmq.IMMEDIATE, 1)  # nothing queues for a sink that is not there
        # The window bounds what is queued; the HWM only has to stay out of its way, or a
        # burst of re-routed batches would read as "sink not connected".
        push.setsockopt(zmq.SNDHWM, 4 * window + 16)
        push.connect(self.endpoint(sink, "deliver"))
        return SinkLink(sink, push, window, batch_size(conf),
                        delivery_timeout_s(conf.type, conf.params))

    def _start_heartbeats(self) -> None:
        interval_ms = self.group.params["heartbeat.interval"]
        self.liveness = self.group.params["heartbeat.liveness"]
        # After this long without a PONG the router re-routes a sink's batches.
        self.abandon_ms = interval_ms * self.liveness
        # Sinks not heard from yet, and until when the router waits for them before it takes:
        # at start-up a sink that answers a few ms after its peer is not a failed one, and
        # routing the first flights to a standby would read as a failover that never was.
        self.unheard: set[str] = set()
        self.unheard_until = self.now() + self.abandon_ms / 1000.0
        if interval_ms <= 0:
            return  # heartbeats off: Flume's behaviour, failures seen only through deliveries
        self.unheard = set(self.links)
        for sink in self.links:
            # Nothing is taken for a sink before it has answered once: a batch sent to a sink
            # that is still starting would only be rolled back.
            self.links[sink].alive = False
            Pinger(self, self.endpoint(self.agent.process_name("sink", sink), "ctl"),
                   interval_ms / 1000.0,
                   functools.partial(self._on_pong, sink), functools.partial(self._on_miss, sink))

    # -- taking ---------------------------------------------------------------------------------
    def _pump(self) -> None:
        """Ask the channel for as many batches as the sinks have room for."""
        if self.no_sink.waiting() or (self.unheard and self.now() < self.unheard_until) or (
                self.stopping and self.handing_over):
            return
        room = sum(max(0, link.window - len(link.flights)) for link in self.links.values()
                   if link.alive) - len(self.waiting)
        # One TAKE more than usual when it carries a COMMIT: the results of a flight
        # then cost one message each way (TAKE with the COMMIT, then BATCH), not four.
        while self.takes < min(room, MAX_TAKES_IN_FLIGHT + bool(self.to_commit)):
            self.takes += 1
            commit, self.to_commit = self.to_commit, []  # COMMIT rides on the next TAKE
            self.chan.request(messages.Take(max=self.take_max, count=self.take_count,
                                            wait_ms=self.wait_ms, who=self.program,
                                            commit=commit),
                              self.wait_ms / 1000.0 + 2.0, context=TAKING)

    def _on_channel(self, msg: messages.Message, pending: Pending) -> None:
        if pending.context == TAKING:
            self.takes -= 1
        if isinstance(msg, messages.Batch):
            self.channel_empty = False
            self.counters["BatchTakenCount"] += len(msg.txns)
            self._route(Flight(next(self.fids), list(msg.txns), list(msg.ns), msg.groups()))
        elif isinstance(msg, messages.Empty):
            self.channel_empty = True
        elif isinstance(msg, messages.Error):
            self.log.error("channel refused a request: %s %s", msg.reason, msg.detail)
        if isinstance(msg, (messages.Batch, messages.Empty, messages.Ok)) and msg.unknown:
            self.log.warning("channel no longer knew %d transaction(s) (lease expired?): their "
                             "events will be delivered again", len(msg.unknown))
        self._pump()

    # -- routing --------------------------------------------------------------------------------
    def _route(self, flight: Flight) -> None:
        """Send a flight to the best candidate sink that has not failed it yet."""
        full = False
        for sink in self.policy.candidates():
            link = self.links[sink]
            if sink in flight.tried or not link.alive:
                continue
            if not link.has_room():
                # Wait for the sink the policy chose rather than spill: failover keeps to the
                # preferred sink, and load_balance keeps its shares even when one sink is the
                # faster (a spill would hand it more than its turn).
                full = True
                break
            if self._send(link, flight):
                return
            # Not connected: the sink process is gone. Count it and try the next candidate.
            self.policy.failed(sink, True)
            flight.tried.add(sink)
            self.counters["RerouteCount"] += 1
        if full:
            self.waiting.append(flight)
        else:
            self._give_back(flight)

    def _send(self, link: SinkLink, flight: Flight) -> bool:
        flight.attempt += 1
        flight.sink = link.name
        flight.sent_at = self.now()
        frames = messages.Deliver(
            fid=flight.fid, attempt=flight.attempt, router=self.inc, ns=flight.ns,
            parts=[len(g) for g in flight.groups], stamp=flight.sent_at,
            max_wait_ms=self.abandon_ms, blobs=[b for g in flight.groups for b in g]
        ).frames(self.inc)
        try:
            send_frames(link.push, frames, NOBLOCK)
        except zmq.Again:
            return False
        link.flights[flight.fid] = flight
        return True

    def _give_back(self, flight: Flight) -> None:
        """No sink can take this flight now: roll it back and back off."""
        self.counters["RollbackCount"] += len(flight.txns)
        self.chan.request(messages.Rollback(txns=flight.txns), 5.0)
        if self.no_sink.waiting():
            return  # the other batches of a round that is already backing off
        pause = self.no_sink.failed()
        self.log.warning("no sink could take a batch of %d events; rolled back, retrying in "
                         "%.0f s", flight.n, pause)

    def _failed(self, sink: str, flight: Flight, liveness: bool, reason: str) -> None:
        self.policy.failed(sink, liveness)
        self.counters["BatchFailedCount"] += 1
        flight.tried.add(sink)
        self.log.warning("sink %s failed a batch (%s); re-routing", sink, reason)
        self.counters["RerouteCount"] += 1
        self._route(flight)

    def _on_results(self, sock: zmq.Socket) -> None:
        for frames in waiting_messages(sock):
            try:
                self._result(messages.parse(frames))
            except ProtocolError as exc:
                self.refused(exc, "results")
        self._pump()
        self._commit()

    def _commit(self) -> None:
        """One COMMIT for what this burst of results delivered and no TAKE carried."""
        if self.to_commit:
            self.chan.request(messages.Commit(txns=self.to_commit), 5.0)
            self.to_commit = []

    def _result(self, msg: messages.Message) -> None:
        if not isinstance(msg, messages.Result) or msg.router != self.inc:
            return
        fid = msg.fid
        flight = next((link.flights[fid] for link in self.links.values() if fid in link.flights),
                      None)
        if flight is None or flight.attempt != msg.attempt or not (
                len(msg.done) == len(msg.malformed) == len(flight.txns)):
            return  # a result for a flight we already re-routed or finished
        link = self.links[flight.sink]
        del link.flights[fid]
        done = msg.done
        delivered = [i for i, ok in enumerate(done) if ok]
        if delivered:
            self.policy.delivered(link.name)
            self.no_sink.succeeded()
            self.counters["BatchDeliveredCount"] += len(delivered)
            self.counters["EventDeliveredCount"] += sum(flight.ns[i] for i in delivered)
            self.to_commit += [flight.txns[i] for i in delivered]
        undeliverable = [i for i, bad in enumerate(msg.malformed) if bad and not done[i]]
        kept = self._quarantine(flight, undeliverable, link.name, msg.reason)
        failed = [i for i, ok in enumerate(done) if not ok and i not in kept]
        if failed:
            self._failed(link.name, flight.subset(next(self.fids), failed), msg.liveness,
                         msg.reason)
        self._release_waiting()

    def _quarantine(self, flight: Flight, indexes: list[int], sink: str, reason: str
                    ) -> set[int]:
        """Move transactions no sink can decode out of the channel, into quarantine files
        (services/router/quarantine.py); the indexes it could keep."""
        kept = set()
        for i in indexes:
            try:
                path = quarantine.keep(self.run_dir, self.name, flight.txns[i], flight.groups[i])
            except OSError as exc:
                self.log.error("cannot quarantine an undecodable batch (%s); it stays in the "
                               "channel", exc)
                continue
            kept.add(i)
            self.to_commit.append(flight.txns[i])
            self.counters["QuarantinedBatchCount"] += 1
            self.counters["QuarantinedEventCount"] += flight.ns[i]
            self.log.error("sink %s cannot decode a batch of %d events (%s): kept in %s and "
                           "removed from the channel", sink, flight.ns[i], reason, path)
        return kept

    def _release_waiting(self) -> None:
        held, self.waiting = self.waiting, []
        for flight in held:
            self._route(flight)

    # -- heartbeats -----------------------------------------------------------------------------
    def _on_pong(self, sink: str, msg: messages.Pong) -> None:
        link = self.links[sink]
        link.misses = 0
        self.unheard.discard(sink)
        if link.incarnation and link.incarnation != msg.inc:
            self.log.warning("sink %s restarted; re-routing its %d batch(es)", sink,
                             len(link.flights))
            self._abandon(link, "sink restarted")
        link.incarnation = msg.inc
        if msg.state == messages.PeerState.STOPPING and not self.stopping:
            self._lost(link, "the sink is stopping")
        elif msg.healthy:
            if not link.alive:
                self.log.info("sink %s is up", sink)
                self.no_sink.cancel()  # a sink came (back): no reason to wait out a backoff
            link.alive = True
            self.policy.heartbeat_ok(sink)
            self._release_waiting()
            self._pump()
        else:
            self._lost(link, f"target unhealthy: {msg.why}")

    def _on_miss(self, sink: str) -> None:
        link = self.links[sink]
        link.misses += 1
        self.counters["HeartbeatMissCount"] += 1
        if link.misses >= self.liveness:
            self._lost(link, f"{link.misses} heartbeats missed")

    def _lost(self, link: SinkLink, why: str) -> None:
        if link.alive:
            self.log.warning("sink %s out of rotation: %s", link.name, why)
        link.alive = False
        self.policy.heartbeat_lost(link.name)
        self._abandon(link, why)

    def _abandon(self, link: SinkLink, why: str) -> None:
        """Take every batch away from a sink that cannot finish it and route it elsewhere."""
        flights, link.flights = list(link.flights.values()), {}
        for flight in flights:
            self._failed(link.name, flight, liveness=True, reason=why)
        self._release_waiting()

    # -- timers ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        t = self.now()
        for link in self.links.values():
            for flight in link.overdue(t):
                del link.flights[flight.fid]
                self._failed(link.name, flight, liveness=True, reason="no result in time")
        self._pump()

    def _renew(self) -> None:
        txns = [txn for flight in self._all_flights() for txn in flight.txns]
        if txns:
            self.chan.request(messages.Renew(txns=txns), 5.0)

    def _all_flights(self) -> list[Flight]:
        return [*self.waiting, *(f for link in self.links.values() for f in link.flights.values())]

    def stats(self) -> dict[str, Any]:
        report = super().stats()
        report.update(self.policy.snapshot())
        report["InFlightBatchCount"] = len(self._all_flights())
        report["LiveSinkCount"] = sum(link.alive for link in self.links.values())
        return report

    def _hand_over(self, signum: int, frame: object) -> None:
        self.handing_over = True

    def drained(self) -> bool:
        """Stop once nothing is in flight and the channel is empty or unreachable (or, handing
        over to the next router, at once)."""
        if self._all_flights():
            return False
        return self.handing_over or self.channel_empty or not self.chan.peer_up or not any(
            link.alive for link in self.links.values())

    def close(self) -> None:
        self._commit()
        txns = [txn for flight in self._all_flights() for txn in flight.txns]
        if txns:
            self.chan.request(messages.Rollback(txns=txns), 1.0)
