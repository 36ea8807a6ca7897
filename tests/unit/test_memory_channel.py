"""The memory channel driven in-process through its request handler: what one BATCH may hold (a
router asks for up to 10,000 events, and the channel keeps the message within its byte and blob
bounds whatever the events' size or the sources' batch size), and when a `delivered` PUT is
answered (only once all its events were committed out of the channel)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from proto import batch, messages
from services.channels.memory import BATCH_BYTES, MemoryChannel
from services.channels.store import MAX_CHUNKS
from services.config.model import AgentConfig, Component
from services.config.schema import CHANNELS
from channel_requests import Burst

SRC = b"src00001"


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[MemoryChannel]:
    params = {key: param.default for key, param in CHANNELS["memory"].items()}
    params.update(capacity=100_000, transactionCapacity=10_000, byteCapacity=0)
    agent = AgentConfig("a", "a.conf",
                        channels={"ch": Component("channel", "ch", "memory", params)})
    chan = MemoryChannel(agent, "ch", str(tmp_path))
    yield chan
    chan.close()
    chan.ctx.destroy(linger=0)


def put(chan: MemoryChannel, seq: int, *groups: list[bytes], delivered: bool = False,
        until: float = 0.0) -> None:
    """One PUT of one transaction per group of bodies, from transaction `seq` on."""
    chan._on_request(Burst([messages.Put(
        src=SRC, seq=seq, ns=[len(bodies) for bodies in groups],
        sizes=[sum(map(len, bodies)) for bodies in groups], delivered=delivered, until=until,
        rid=seq, blobs=[batch.encode(bodies) for bodies in groups]).frames(SRC)]))


def take(chan: MemoryChannel, monkeypatch: pytest.MonkeyPatch, max_n: int,
         count: int) -> messages.Batch:
    """The channel's answer to one TAKE, parsed as the router would parse it."""
    sent: list[Any] = []
    monkeypatch.setattr(chan, "_send", lambda envelope, frames: sent.append(frames))
    chan._on_request(Burst([messages.Take(max=max_n, count=count, wait_ms=0, who="a-g",
                                          commit=[], rid=99).frames(b"router01")]))
    assert len(sent) == 1
    reply = messages.parse(sent[0])
    assert isinstance(reply, messages.Batch)
    return reply


def replies(chan: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> list[messages.Message]:
    """Every reply the channel sends from now on, parsed, in order."""
    sent: list[messages.Message] = []
    monkeypatch.setattr(chan, "_send", lambda envelope, frames: sent.append(
        messages.parse(frames)))
    return sent


def txn_op(chan: MemoryChannel, op: type[messages.Commit | messages.Rollback | messages.Renew],
           txns: Sequence[messages.Txn]) -> None:
    chan._on_request(Burst([op(txns=txns, rid=98).frames(b"router01")]))


def test_a_batch_of_large_events_ends_once_it_holds_batch_bytes(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"x" * (BATCH_BYTES // 4 + 1)  # four of them pass the bound, three do not
    for seq in range(8):
        put(channel, seq, [body])
    reply = take(channel, monkeypatch, max_n=1, count=8)
    assert reply.OP.name == "BATCH" and reply.ns == (1, 1, 1, 1)
    assert take(channel, monkeypatch, max_n=1, count=8).ns == (1, 1, 1, 1)


def test_a_batch_of_many_one_event_puts_stays_within_the_blob_bound(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    total = MAX_CHUNKS + 300
    for seq in range(total):
        put(channel, seq, [str(seq).encode()])
    first = take(channel, monkeypatch, max_n=1000, count=10)
    assert sum(first.ns) == MAX_CHUNKS and len(first.blobs) == MAX_CHUNKS
    rest = take(channel, monkeypatch, max_n=1000, count=10)
    bodies = batch.merge(first.blobs + rest.blobs)[1]
    assert bodies == [str(seq).encode() for seq in range(total)]


def test_a_delivered_put_is_answered_once_its_last_event_is_committed(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    put(channel, 1, [b"a", b"b", b"c"], [b"d"], delivered=True)
    put(channel, 3, [b"e"])  # Flume's answer: at once
    first = take(channel, monkeypatch, max_n=2, count=1)  # a, b of the first transaction
    sent = replies(channel, monkeypatch)
    assert sent == []
    txn_op(channel, messages.Rollback, first.txns)  # back in the channel: still not delivered
    assert [m.OP.name for m in sent] == ["OK"]
    again = take(channel, monkeypatch, max_n=2, count=1)
    rest = take(channel, monkeypatch, max_n=1, count=10)  # c, d and e, one each
    sent = replies(channel, monkeypatch)
    txn_op(channel, messages.Commit, again.txns + rest.txns[:1])  # a, b, c; not d
    assert [m.OP.name for m in sent] == ["OK"]
    txn_op(channel, messages.Commit, rest.txns[1:2])
    assert [(m.OP.name, getattr(m, "seq", None), getattr(m, "stored", None)) for m in sent] == [
        ("OK", None, None), ("PUT_OK", 1, 2), ("OK", None, None)]


def test_a_plain_put_is_answered_when_stored(channel: MemoryChannel,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sent = replies(channel, monkeypatch)
    put(channel, 1, [b"a"])
    assert [(m.OP.name, m.stored) for m in sent] == [("PUT_OK", 1)]


def test_a_delivered_put_sent_again_is_answered_once_delivered(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    put(channel, 1, [b"a"], delivered=True)
    sent = replies(channel, monkeypatch)
    put(channel, 1, [b"a"], delivered=True)  # the source's retry: stored once, not answered
    assert sent == [] and channel.store.held == 1
    batch_of = take(channel, monkeypatch, max_n=10, count=1)
    sent = replies(channel, monkeypatch)
    txn_op(channel, messages.Commit, batch_of.txns)
    assert [m.OP.name for m in sent] == ["PUT_OK", "OK"]


def test_a_delivered_put_that_does_not_fit_is_answered_full_with_none_stored(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    channel.store.capacity = 2
    channel.keep_alive_s = 0.0
    put(channel, 1, [b"a", b"b"], [b"c"], delivered=True)  # the first fits, the second not
    sent = replies(channel, monkeypatch)
    channel._expire_waiting()
    assert [(m.OP.name, m.stored) for m in sent] == [("FULL", 0)]
    assert channel.store.held == 2  # kept, and delivered later: a duplicate of the resend
    batch_of = take(channel, monkeypatch, max_n=10, count=1)
    sent = replies(channel, monkeypatch)
    txn_op(channel, messages.Commit, batch_of.txns)
    assert [m.OP.name for m in sent] == ["OK"]  # nobody waits for that PUT any more


def test_a_put_past_its_until_is_refused_though_room_came_before_the_timer(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    """An avro source answers FAILED at its put-timeout and its client sends the batch again:
    stored after that, it would arrive twice. So a PUT whose `until` passed is answered FULL
    even when room comes (a commit) before the channel's expiry timer ran."""
    channel.store.capacity = 2
    put(channel, 1, [b"a", b"b"])  # the channel is full
    held = take(channel, monkeypatch, max_n=10, count=1)
    sent = replies(channel, monkeypatch)
    put(channel, 2, [b"c"], until=time.monotonic() + 0.05)
    put(channel, 3, [b"d"])  # bounded by the channel's keep-alive only
    assert sent == []
    time.sleep(0.1)  # nothing runs the channel's timers here
    txn_op(channel, messages.Commit, held.txns)
    assert [(m.OP.name, getattr(m, "seq", None), getattr(m, "stored", None)) for m in sent] == [
        ("FULL", 2, 0), ("PUT_OK", 3, 1), ("OK", None, None)]
    assert batch.merge(take(channel, monkeypatch, max_n=10, count=1).blobs)[1] == [b"d"]


def test_a_put_past_its_until_behind_a_waiting_put_is_refused_not_stored(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deadlines are not in arrival order: an avro source's PUT (until) may wait behind an exec
    source's (keep-alive only). Room coming after its until must not store it behind the
    other one."""
    channel.store.capacity = 2
    put(channel, 1, [b"a", b"b"])
    held = take(channel, monkeypatch, max_n=10, count=1)
    sent = replies(channel, monkeypatch)
    put(channel, 2, [b"c"])  # waits up to keep-alive
    put(channel, 3, [b"d"], until=time.monotonic() + 0.05)  # behind it
    time.sleep(0.1)
    channel._expire_waiting()
    assert [(m.OP.name, m.seq, m.stored) for m in sent] == [("FULL", 3, 0)]
    txn_op(channel, messages.Commit, held.txns)
    assert batch.merge(take(channel, monkeypatch, max_n=10, count=1).blobs)[1] == [b"c"]


def test_a_put_arriving_after_its_until_is_refused_though_it_fits(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel slow to read (or a resend of a PUT already answered FULL) must not store what
    its source has already failed back to its client."""
    sent = replies(channel, monkeypatch)
    put(channel, 1, [b"a"], until=time.monotonic() - 0.01)
    put(channel, 2, [b"b"], until=time.monotonic() + 5)
    assert [(m.OP.name, m.seq, m.stored) for m in sent] == [("FULL", 1, 0), ("PUT_OK", 2, 1)]
    assert channel.store.held == 1
