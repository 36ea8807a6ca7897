"""The sink-router's state machine in-process, without sleeps: its sockets are real ipc ones in
a temporary run directory, the channel's replies, the sinks' results and heartbeats are fed to
its handlers directly, and its clock is the test's (Process.clock, the one seam for time)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import zmq

from proto import batch, messages
from services.config.load import load_agent
from services.pirate import Pending
from services.router.process import SinkRouter
from fakes import Clock

CHAN = b"channel1"
SINK_INC = {"k1": b"sinkinc1", "k2": b"sinkinc2"}
CONF = """\
a.sources = s
a.channels = c
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.channels = c
a.channels.c.type = memory
a.sinks.k1.type = null
a.sinks.k1.channel = c
a.sinks.k2.type = null
a.sinks.k2.channel = c
a.sinkgroups = g
a.sinkgroups.g.sinks = k1 k2
a.sinkgroups.g.processor.type = failover
a.sinkgroups.g.processor.priority.k1 = 9
a.sinkgroups.g.processor.priority.k2 = 5
a.sinkgroups.g.processor.window = {window}
"""


class Harness:
    """A router `g` with sockets standing in for its channel and its two sinks."""

    def __init__(self, tmp_path: Path, window: int, clock: Clock, extra: str = "") -> None:
        conf = tmp_path / "a.conf"
        conf.write_text(CONF.format(window=window) + extra)
        self.router = SinkRouter(load_agent(str(conf), "a"), "g", str(tmp_path))
        self.router.clock = clock
        self.deliveries: dict[str, zmq.Socket] = {}
        for sink in ("k1", "k2"):
            pull = self.router.ctx.socket(zmq.PULL)
            pull.bind(self.router.endpoint(sink, "deliver"))
            self.deliveries[sink] = pull
            # IMMEDIATE: the router's PUSH takes nothing until this connection is made
            assert self.router.links[sink].push.poll(5000, zmq.POLLOUT)
        self.clock = clock
        self.txn = 0

    def pong(self, sink: str, healthy: bool = True) -> None:
        pong = messages.parse(messages.Pong(
            state=messages.PeerState.IDLE, elapsed_ms=0, healthy=healthy, why="", rid=1
        ).frames(SINK_INC[sink]))
        assert isinstance(pong, messages.Pong)
        self.router._on_pong(sink, pong)

    def batch(self, events: int = 10) -> tuple[bytes, int]:
        """The channel hands over one transaction of `events` events; its txn."""
        self.txn += 1
        txn = (CHAN, self.txn)
        blob = batch.encode([b"%d" % n for n in range(events)])
        msg = messages.parse(messages.Batch(txns=[txn], ns=[events], parts=[1], unknown=[],
                                            rid=1, blobs=[blob]).frames(CHAN))
        self.router.takes += 1
        self.router._on_channel(msg, Pending(1, [], 1.0, 0.0, "TAKE"))
        return txn

    def delivered_to(self, sink: str) -> list[messages.Deliver]:
        """The DELIVER messages waiting at `sink`'s socket."""
        out = []
        while self.deliveries[sink].poll(50):
            msg = messages.parse(self.deliveries[sink].recv_multipart())
            assert isinstance(msg, messages.Deliver)
            out.append(msg)
        return out

    def result(self, deliver: messages.Deliver, ok: bool, reason: str = "") -> None:
        n = len(deliver.ns)
        self.router._result(messages.parse(messages.Result(
            fid=deliver.fid, attempt=deliver.attempt, router=self.router.inc, done=[ok] * n,
            reason=reason, liveness=not ok, malformed=[False] * n).frames(SINK_INC["k1"])))

    def close(self) -> None:
        for pull in self.deliveries.values():
            pull.close(linger=0)
        self.router.close()
        self.router.ctx.destroy(linger=0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(tmp_path: Path, clock: Clock, request: Any) -> Iterator[Harness]:
    made = Harness(tmp_path, getattr(request, "param", 4), clock)
    made.pong("k1")
    made.pong("k2")
    yield made
    made.close()


def test_a_failed_batch_goes_to_the_next_sink_and_its_stale_result_is_ignored(
        harness: Harness) -> None:
    harness.batch()
    [first] = harness.delivered_to("k1")
    harness.result(first, ok=False, reason="collector down")
    [again] = harness.delivered_to("k2")
    assert (again.fid, again.attempt) != (first.fid, first.attempt)
    harness.result(first, ok=True)  # k1's late answer for the flight it already failed
    assert harness.router.counters["BatchDeliveredCount"] == 0
    harness.result(again, ok=True)
    assert harness.router.counters["BatchDeliveredCount"] == 1
    assert harness.router.counters["RerouteCount"] == 1


def test_missed_heartbeats_take_a_sinks_batches_away(harness: Harness) -> None:
    harness.batch()
    harness.batch()
    assert len(harness.delivered_to("k1")) == 2
    for _ in range(harness.router.liveness):
        harness.router._on_miss("k1")
    assert len(harness.delivered_to("k2")) == 2
    assert not harness.router.links["k1"].alive
    assert harness.router.counters["HeartbeatMissCount"] == harness.router.liveness


@pytest.mark.parametrize("harness", [1], indirect=True)
def test_a_full_window_holds_flights_for_the_preferred_sink(harness: Harness) -> None:
    """With a window of one flight, a second flight waits for k1 rather than spill to k2."""
    harness.batch()
    harness.batch()
    [first] = harness.delivered_to("k1")
    assert harness.delivered_to("k2") == [] and len(harness.router.waiting) == 1
    harness.result(first, ok=True)
    assert len(harness.delivered_to("k1")) == 1 and harness.router.waiting == []


def test_a_flight_without_a_result_in_time_is_re_routed(harness: Harness, clock: Clock) -> None:
    harness.batch()
    [first] = harness.delivered_to("k1")
    harness.router._tick()
    assert harness.delivered_to("k2") == []  # not overdue yet
    clock.t += harness.router.links["k1"].timeout_s + 1
    harness.router._tick()
    [again] = harness.delivered_to("k2")
    assert again.ns == first.ns


def received(sock: zmq.Socket) -> list[list[bytes]]:
    """Every message waiting at a test socket (the first within 5 s)."""
    out = []
    while sock.poll(5000 if not out else 50):
        out.append(sock.recv_multipart())
    return out


def test_an_unanswered_request_is_resent_on_a_fresh_socket_and_answered_once(
        harness: Harness, clock: Clock) -> None:
    """The Lazy Pirate: a request the channel never answers is sent again, same request id,
    over a new connection when its deadline passes; its answer is handled once."""
    channel = harness.router.ctx.socket(zmq.ROUTER)
    channel.bind(harness.router.endpoint("c", "chan"))
    harness.router.chan.request(messages.Rollback(txns=[(CHAN, 99)]), 1.0)
    first = received(channel)
    clock.t += 10.0  # past every deadline
    harness.router.chan._check_deadlines()
    again = received(channel)
    assert {frames[0] for frames in again} != {frames[0] for frames in first}  # a new peer
    assert [frames[2:] for frames in again] == [frames[2:] for frames in first]  # same requests
    rollback = messages.parse(again[-1][2:])
    assert isinstance(rollback, messages.Rollback)
    answer = messages.Ok(unknown=[], rid=rollback.rid).frames(CHAN)
    replies: list[messages.Message] = []
    harness.router.chan.on_reply = lambda msg, pending: replies.append(msg)
    for _ in range(2):
        harness.router.chan._dispatch([b"", *answer])
    assert [type(m) for m in replies] == [messages.Ok]
    assert rollback.rid not in harness.router.chan.pending
    channel.close(linger=0)


def test_with_heartbeats_off_batches_flow_at_once_and_failures_come_from_deliveries(
        tmp_path: Path, clock: Clock) -> None:
    """processor.heartbeat.interval = 0 (Flume's behaviour): no PONG is awaited before the
    first flight, and a sink is penalised only when a delivery fails."""
    made = Harness(tmp_path, 4, clock, "a.sinkgroups.g.processor.heartbeat.interval = 0\n")
    try:
        made.batch()
        [first] = made.delivered_to("k1")
        made.result(first, ok=False, reason="collector down")
        assert len(made.delivered_to("k2")) == 1
        assert made.router.counters["HeartbeatMissCount"] == 0
    finally:
        made.close()


def test_transactions_the_channel_no_longer_knows_are_reported(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """A COMMIT answered with `unknown` transactions (their leases expired: the channel gave
    them out again) is said in the log, since those events will arrive twice."""
    ok = messages.parse(messages.Ok(unknown=[(CHAN, 1), (CHAN, 2)], rid=7).frames(CHAN))
    harness.router._on_channel(ok, Pending(7, [], 1.0, 0.0, None))
    assert "no longer knew 2 transaction(s)" in caplog.text


def test_flights_in_the_air_have_their_leases_renewed(harness: Harness) -> None:
    """A delivery that takes longer than a third of the lease (10 s) keeps its lease: the
    router's RENEW names every transaction still in the air, and none other."""
    channel = harness.router.ctx.socket(zmq.ROUTER)
    channel.bind(harness.router.endpoint("c", "chan"))
    in_air = harness.batch()
    done = harness.batch()
    flights = harness.delivered_to("k1")
    harness.result(flights[1], ok=True)
    received(channel)  # what the pongs and the result asked for (TAKE, COMMIT)
    harness.router._renew()
    sent = [messages.parse(frames[2:]) for frames in received(channel)]
    assert [m.txns for m in sent if isinstance(m, messages.Renew)] == [(in_air,)]
    assert done != in_air
    channel.close(linger=0)
