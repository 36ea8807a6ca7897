"""The file channel process's group commit, driven in-process through its request handler."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from proto import batch, messages
from services.channels.file import FileChannel
from services.config.model import AgentConfig, Component
from services.config.schema import CHANNELS
from channel_requests import Burst

SRC = b"src00001"


def open_channel(root: Path) -> FileChannel:
    params = {key: param.default for key, param in CHANNELS["file"].items()}
    params.update(checkpointDir=str(root / "ck"), dataDirs=[str(root / "data")],
                  minimumRequiredSpace=1)
    agent = AgentConfig("a", "a.conf", channels={"ch": Component("channel", "ch", "file", params)})
    return FileChannel(agent, "ch", str(root))


def close(chan: FileChannel) -> None:
    chan.close()
    chan.ctx.destroy(linger=0)


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[FileChannel]:
    chan = open_channel(tmp_path)
    yield chan
    close(chan)


def sent_ops(chan: FileChannel, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the op of every reply the channel sends, and every fsync between them."""
    events: list[str] = []
    real_sync = chan.store.wal.sync
    monkeypatch.setattr(chan, "_send", lambda envelope, frames: events.append(
        messages.parse(frames).OP.name))
    monkeypatch.setattr(chan.store.wal, "sync", lambda: real_sync() and not events.append("sync"))
    return events


def put_request(seq: int) -> list[Any]:
    return messages.Put(src=SRC, seq=seq, ns=[1], sizes=[1], delivered=False, until=0.0,
                        rid=seq, blobs=[batch.encode([b"x"])]).frames(SRC)


def test_puts_of_one_burst_share_one_fsync_and_are_answered_after_it(
        channel: FileChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    events = sent_ops(channel, monkeypatch)
    channel._on_request(Burst([put_request(seq) for seq in range(8)]))
    assert events == ["sync"] + ["PUT_OK"] * 8
    assert channel.counters["LogSyncCount"] == 1


def test_a_commit_is_answered_after_its_record_is_synced(
        channel: FileChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    channel._on_request(Burst([put_request(1)]))
    events = sent_ops(channel, monkeypatch)
    channel._on_request(Burst([messages.Take(max=10, count=1, wait_ms=0, who="a-g", commit=[],
                                             rid=1).frames(b"router01")]))
    txn = next(iter(channel.store.leases))
    channel._on_request(Burst([messages.Commit(txns=[txn], rid=2).frames(b"router01"),
                               messages.Commit(txns=[txn], rid=3).frames(b"router01")]))
    assert events == ["BATCH", "sync", "OK", "OK"]


def test_counters_include_the_file_channels(channel: FileChannel) -> None:
    report = channel.stats()
    for name in ("Open", "Unhealthy", "EventPutErrorCount", "CheckpointWriteErrorCount",
                 "ChannelSize", "ChannelCapacity", "LogFileCount", "RecoveredEventCount"):
        assert name in report
    assert report["Open"] == 1 and report["ChannelCapacity"] == 1000000


def test_stopping_writes_a_checkpoint_the_next_start_recovers_from(tmp_path: Path) -> None:
    chan = open_channel(tmp_path)
    chan._on_request(Burst([put_request(seq) for seq in range(3)]))
    close(chan)
    chan = open_channel(tmp_path)
    assert chan.store.recovered.checkpoint is not None
    assert chan.counters["RecoveredEventCount"] == 3
    close(chan)
