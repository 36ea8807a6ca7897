"""The file channel's store: the memory store's rules, plus what a restart must give back."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import pytest

import test_store as memory_cases  # tests/unit is on sys.path: it is not a package
from proto import batch
from services.channels import filelog, filestore
from services.channels.filestore import DirectoryError, FileSettings, FileStore

LOG = logging.getLogger("test.filestore")
SRC = b"src00001"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def open_store(root: Path, capacity: int = 100, max_file_size: int = 1 << 20,
               clock: Callable[[], float] | None = None) -> FileStore:
    settings = FileSettings(str(root / "checkpoint"), [str(root / "data")], capacity, 10.0,
                            max_file_size, 1)
    return FileStore(b"chan0001", settings, clock or Clock(), LOG)


def put(s: FileStore, seq: int, bodies: list[bytes], src: bytes = SRC) -> str:
    return s.put(src, seq, batch.encode(bodies), len(bodies), sum(map(len, bodies)))


def numbered(first: int, count: int) -> list[bytes]:
    return [str(i).encode() for i in range(first, first + count)]


def drain(s: FileStore) -> list[bytes]:
    """Every queued body, in queue order (leaving them leased)."""
    lease = s.take("drain", b"drain-01", 1_000_000)
    return batch.merge([c.blob for c in lease.chunks])[1] if lease else []


def log_files(root: Path) -> list[str]:
    return sorted((p.name for p in (root / "data").glob("log-*")), key=lambda n: int(n[4:]))


PARITY = [case for name, case in sorted(vars(memory_cases).items())
          if name.startswith("test_") and name != "test_byte_limit"]  # no byteCapacity in Flume's
                                                                       # file channel


@pytest.mark.parametrize("case", PARITY, ids=lambda case: case.__name__[5:])
def test_the_memory_stores_rules_hold(case: Callable[[], None], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every case of tests/unit/test_store.py, run against a file store."""
    stores: list[FileStore] = []

    def make(capacity: int = 10, byte_limit: int = 0) -> tuple[FileStore, Clock]:
        clock = Clock()
        stores.append(open_store(tmp_path / str(len(stores)), capacity, clock=clock))
        return stores[-1], clock
    monkeypatch.setattr(memory_cases, "store", make)
    case()
    for s in stores:
        s.close()


def test_restart_gives_back_acknowledged_and_leased_events_never_committed_ones(
        tmp_path: Path) -> None:
    s = open_store(tmp_path)
    for seq in range(5):
        assert put(s, seq, numbered(10 * seq, 10)) == ""
    committed = s.take("r", b"router01", 10)
    s.take("r", b"router01", 10)  # leased, never committed
    assert s.commit(committed.txn)
    s.sync()
    s.close()  # as kill -9: no checkpoint
    s = open_store(tmp_path)
    assert s.held == 40 and not s.recovered.reports
    assert drain(s) == numbered(10, 40)
    s.close()


def test_a_partly_committed_split_blob_gives_back_exactly_its_uncommitted_events(
        tmp_path: Path) -> None:
    s = open_store(tmp_path)
    put(s, 1, numbered(0, 6))
    head = s.take("r", b"router01", 2)  # the blob is split: 0 1 | 2 3 4 5
    middle = s.take("r", b"router01", 2)  # 2 3 | 4 5
    assert s.commit(middle.txn)
    assert s.rollback(head.txn)
    s.sync()
    s.close()
    s = open_store(tmp_path)
    assert drain(s) == [b"0", b"1", b"4", b"5"]
    s.close()


def test_a_retried_put_is_stored_once_across_a_restart(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    put(s, 7, [b"a"])
    s.sync()
    s.close()
    s = open_store(tmp_path)
    assert put(s, 7, [b"a"]) == "" and s.held == 1
    assert put(s, 8, [b"b"]) == "" and s.held == 2
    s.close()


def test_dedupe_outlives_the_deletion_of_the_file_that_held_the_put(tmp_path: Path) -> None:
    """Each new log file starts with the recent (source, seq) pairs."""
    s = open_store(tmp_path, max_file_size=1)  # every record after the first rolls
    put(s, 7, [b"a"])  # log-1
    assert s.commit(s.take("r", b"router01", 10).txn)  # log-2
    put(s, 8, [b"b"])  # log-3
    s.sync()
    assert log_files(tmp_path) == ["log-3"]
    s.close()
    s = open_store(tmp_path)
    assert put(s, 7, [b"a"]) == "" and s.held == 1
    s.close()


def test_log_files_roll_and_go_once_all_their_puts_are_committed_oldest_first(
        tmp_path: Path) -> None:
    s = open_store(tmp_path, max_file_size=1)  # every record after the first rolls
    for seq in range(4):
        put(s, seq, numbered(seq, 1))  # log-1 .. log-4, one PUT each
    s.sync()
    assert log_files(tmp_path) == ["log-1", "log-2", "log-3", "log-4"]
    first, second, third = (s.take("r", b"router01", 1) for _ in range(3))
    assert s.commit(second.txn)
    s.sync()
    assert "log-2" in log_files(tmp_path)  # log-1 still has an event: log-2 waits for it
    assert s.commit(first.txn)
    s.sync()
    assert log_files(tmp_path)[:2] == ["log-3", "log-4"]
    s.rollback(third.txn)
    s.close()
    s = open_store(tmp_path)
    assert drain(s) == [b"2", b"3"]
    s.close()


def test_a_checkpoint_bounds_the_replay_and_later_records_are_replayed(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    for seq in range(3):
        put(s, seq, numbered(10 * seq, 10))
    assert s.commit(s.take("r", b"router01", 10).txn)
    s.sync()
    s.checkpoint()
    put(s, 3, numbered(30, 10))
    assert s.commit(s.take("r", b"router01", 10).txn)
    s.sync()
    s.close()
    # The committed PUT before the checkpoint is not read again: garbage there goes unnoticed.
    corrupt(tmp_path / "data" / "log-1", len(filelog.MAGIC) + 40)
    s = open_store(tmp_path)
    assert s.recovered.checkpoint is not None and not s.recovered.reports
    assert drain(s) == numbered(20, 20)
    s.close()


def test_a_damaged_checkpoint_is_reported_and_every_log_replayed(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    put(s, 1, numbered(0, 3))
    assert s.commit(s.take("r", b"router01", 1).txn)
    put(s, 2, numbered(3, 3))
    s.sync()
    s.checkpoint()
    s.close()
    corrupt(tmp_path / "checkpoint" / "checkpoint", -1)
    s = open_store(tmp_path)
    assert "fails its checksum" in s.recovered.reports[0]
    assert s.recovered.checkpoint is None
    assert drain(s) == numbered(1, 5)
    s.close()


def test_disk_below_minimum_space_answers_full_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path)
    put(s, 1, [b"a"])
    s.sync()
    size = (tmp_path / "data" / "log-1").stat().st_size
    monkeypatch.setattr(filestore, "free_bytes", lambda path: 1000)
    s.settings.min_free = 4096
    reason = put(s, 2, [b"b"])
    assert reason.startswith("disk space below minimumRequiredSpace: 1000 bytes free in ")
    assert (tmp_path / "data" / "log-1").stat().st_size == size and s.held == 1
    monkeypatch.setattr(filestore, "free_bytes", lambda path: 1 << 30)
    assert put(s, 2, [b"b"]) == ""
    s.close()


def test_a_full_disk_mid_record_leaves_no_torn_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path)
    put(s, 1, [b"a"])
    s.sync()
    size = (tmp_path / "data" / "log-1").stat().st_size
    real = os.pwrite

    def half_then_enospc(fd: int, data: memoryview, offset: int) -> int:
        if len(data) > 20:
            return real(fd, data[:len(data) // 2], offset)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(filelog.os, "pwrite", half_then_enospc)
    reason = put(s, 2, numbered(0, 50))
    assert "No space left on device" in reason
    assert s.stats["EventPutErrorCount"] == 50 and s.unhealthy
    assert (tmp_path / "data" / "log-1").stat().st_size == size
    monkeypatch.setattr(filelog.os, "pwrite", real)
    assert put(s, 2, [b"b"]) == "" and not s.unhealthy
    s.sync()
    s.close()
    s = open_store(tmp_path)
    assert drain(s) == [b"a", b"b"] and not s.recovered.reports
    s.close()


def test_a_torn_record_that_cannot_be_cut_moves_appends_to_a_new_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path)
    put(s, 1, [b"a"])
    real = os.pwrite

    def dribble_then_fail(fd: int, data: memoryview, offset: int) -> int:
        if len(data) > 20:
            return real(fd, data[:5], offset)
        raise OSError(28, "No space left on device")

    def cannot_cut(fd: int, size: int) -> None:
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(filelog.os, "pwrite", dribble_then_fail)
    monkeypatch.setattr(filelog.os, "ftruncate", cannot_cut)
    assert "cannot write" in put(s, 2, [b"x"])
    monkeypatch.undo()
    assert put(s, 3, [b"b"]) == ""
    s.sync()
    assert log_files(tmp_path) == ["log-1", "log-2"]
    s.close()
    s = open_store(tmp_path)
    assert drain(s) == [b"a", b"b"]
    assert len(s.recovered.reports) == 1 and "log-1: bad record at offset" in \
        s.recovered.reports[0]
    s.close()


def test_a_failed_commit_write_rolls_the_lease_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path)
    put(s, 1, [b"a"])
    lease = s.take("r", b"router01", 1)

    def fail(record: bytes) -> filelog.Ref:
        raise filelog.LogWriteError("disk on fire")
    monkeypatch.setattr(s.wal, "append", fail)
    assert not s.commit(lease.txn)
    assert s.queued == 1 and not s.leases
    s.close()


def test_many_puts_share_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path)
    s.sync()
    calls: list[int] = []
    monkeypatch.setattr(filelog.os, "fdatasync", calls.append)
    for seq in range(20):
        put(s, seq, [b"x"])
    assert calls == [] and s.sync() and len(calls) == 1
    assert not s.sync() and len(calls) == 1
    s.close()


def test_two_stores_cannot_share_a_directory(tmp_path: Path) -> None:
    s = open_store(tmp_path)
    with pytest.raises(DirectoryError, match="in use by another file channel"):
        open_store(tmp_path)
    s.close()


def test_settings_expand_home_and_apply_flumes_bounds(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = FileSettings.from_params({
        "checkpointDir": "~/ck", "dataDirs": ["~/d1", "~/d2"], "capacity": 5,
        "lease-timeout": 10, "maxFileSize": 1 << 40, "minimumRequiredSpace": 0})
    assert settings.checkpoint_dir == str(tmp_path / "ck")
    assert settings.data_dirs == [str(tmp_path / "d1"), str(tmp_path / "d2")]
    assert settings.max_file_size == filestore.MAX_FILE_SIZE
    assert settings.min_free == filestore.MIN_FREE_FLOOR
    s = FileStore(b"chan0001", settings, Clock(), LOG)
    assert (tmp_path / "d1").stat().st_mode & 0o777 == 0o700
    s.close()


def corrupt(path: Path, offset: int) -> None:
    """Flip one byte (negative offset: from the end)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
