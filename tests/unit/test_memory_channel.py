"""What one BATCH of the memory channel may hold, driven in-process through its request handler:
a router asks for up to 10,000 events, and the channel keeps the message within its byte and
blob bounds whatever the events' size or the sources' batch size."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

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


def put(chan: MemoryChannel, seq: int, bodies: list[bytes]) -> None:
    chan._on_request(Burst([messages.pack(
        "PUT", SRC, [batch.encode(bodies)], rid=seq, src=SRC, seq=seq, ns=[len(bodies)],
        sizes=[sum(map(len, bodies))])]))


def take(chan: MemoryChannel, monkeypatch: pytest.MonkeyPatch, max_n: int,
         count: int) -> messages.Message:
    """The channel's answer to one TAKE, parsed as the router would parse it."""
    sent: list[Any] = []
    monkeypatch.setattr(chan, "_send", lambda envelope, frames: sent.append(frames))
    chan._on_request(Burst([messages.pack("TAKE", b"router01", rid=99, max=max_n, count=count,
                                          wait_ms=0, who="a-g", commit=[])]))
    assert len(sent) == 1
    return messages.unpack(sent[0])


def test_a_batch_of_large_events_ends_once_it_holds_batch_bytes(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"x" * (BATCH_BYTES // 4 + 1)  # four of them pass the bound, three do not
    for seq in range(8):
        put(channel, seq, [body])
    reply = take(channel, monkeypatch, max_n=1, count=8)
    assert reply.op == "BATCH" and reply["ns"] == [1, 1, 1, 1]
    assert take(channel, monkeypatch, max_n=1, count=8)["ns"] == [1, 1, 1, 1]


def test_a_batch_of_many_one_event_puts_stays_within_the_blob_bound(
        channel: MemoryChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    total = MAX_CHUNKS + 300
    for seq in range(total):
        put(channel, seq, [str(seq).encode()])
    first = take(channel, monkeypatch, max_n=1000, count=10)
    assert sum(first["ns"]) == MAX_CHUNKS and len(first.blobs) == MAX_CHUNKS
    rest = take(channel, monkeypatch, max_n=1000, count=10)
    bodies = batch.merge(first.blobs + rest.blobs)[1]
    assert bodies == [str(seq).encode() for seq in range(total)]
