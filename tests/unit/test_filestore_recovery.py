"""Restart recovery of the file channel from damaged logs: what is whole survives, the rest is
reported with its file and offset."""
from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from services.channels import filelog
from services.channels.filerecover import runs
from test_filestore import corrupt, drain, numbered, open_store, put

LOG_1 = "data/log-1"


def three_batches(root: Path) -> list[int]:
    """Write batches 0-9, 10-19, 20-29 to log-1 and crash; returns each record's offset."""
    s = open_store(root)
    for seq in range(3):
        put(s, seq, numbered(10 * seq, 10))
    s.sync()
    s.close()
    return record_offsets(root / LOG_1)


def record_offsets(path: Path) -> list[int]:
    data = path.read_bytes()
    f, offsets, offset = io.BytesIO(data), [], len(filelog.MAGIC)
    while offset < len(data):
        f.seek(offset)
        kind, _ = filelog.read_record(f, len(data))
        if kind == filelog.PUT:
            offsets.append(offset)
        offset = f.tell()
    return offsets


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_last_record_is_reported_cut_off_and_the_rest_survives(
        tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    offsets = three_batches(tmp_path)
    path = tmp_path / LOG_1
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-7])
    else:
        corrupt(path, offsets[2] + 30)
    with caplog.at_level(logging.WARNING):
        s = open_store(tmp_path)
    assert s.recovered.reports == [caplog.records[0].getMessage()]
    assert f"log-1: bad record at offset {offsets[2]}" in s.recovered.reports[0]
    assert "the file is cut there" in s.recovered.reports[0]
    assert path.stat().st_size == offsets[2]
    assert drain(s) == numbered(0, 20)
    s.close()
    s = open_store(tmp_path)  # the cut file reads clean now
    assert not s.recovered.reports and s.held == 20
    s.close()


def test_a_flipped_byte_mid_file_loses_only_that_record(tmp_path: Path) -> None:
    offsets = three_batches(tmp_path)
    corrupt(tmp_path / LOG_1, offsets[1] + 30)
    s = open_store(tmp_path)
    assert len(s.recovered.reports) == 1
    assert f"bad record at offset {offsets[1]} (checksum mismatch); skipped" in \
        s.recovered.reports[0]
    assert drain(s) == numbered(0, 10) + numbered(20, 10)
    s.close()


@pytest.mark.parametrize("record", [1, 2])
def test_a_flipped_length_costs_only_its_record(tmp_path: Path, record: int) -> None:
    """The checksum covers the length; the next record is found by its mark."""
    offsets = three_batches(tmp_path)
    corrupt(tmp_path / LOG_1, offsets[record] + filelog.HEAD_SIZE - 4)  # the length's top byte
    s = open_store(tmp_path)
    assert len(s.recovered.reports) == 1
    assert drain(s) == [n for n in numbered(0, 30) if int(n) // 10 != record]
    s.close()


def test_a_log_file_lost_under_a_checkpoint_is_reported_and_its_id_not_reused(
        tmp_path: Path) -> None:
    s = open_store(tmp_path)
    put(s, 1, [b"a"])
    s.sync()
    s.checkpoint()
    s.close()
    (tmp_path / LOG_1).unlink()
    s = open_store(tmp_path)
    assert s.recovered.reports == ["log-1, named by the checkpoint, is missing: 1 events lost"]
    assert s.wal.file_id == 2
    s.close()


def test_appends_after_a_damaged_restart_replay_cleanly(tmp_path: Path) -> None:
    three_batches(tmp_path)
    path = tmp_path / LOG_1
    path.write_bytes(path.read_bytes()[:-1])
    s = open_store(tmp_path)
    put(s, 99, [b"new"])
    s.sync()
    s.close()
    s = open_store(tmp_path)
    assert not s.recovered.reports
    assert drain(s) == numbered(0, 20) + [b"new"]
    s.close()


def test_a_log_file_torn_at_creation_is_reported_and_skipped(tmp_path: Path) -> None:
    three_batches(tmp_path)
    (tmp_path / "data" / "log-2").write_bytes(filelog.MAGIC[:3])
    s = open_store(tmp_path)
    assert s.recovered.reports == [f"{tmp_path}/data/log-2: not a log file or torn at creation "
                                   f"(3 bytes); skipped"]
    assert s.held == 30
    s.close()


def test_records_read_back_as_written() -> None:
    record = filelog.put_record(b"src", 5, 2, 7, b"blob")
    kind, payload = filelog.read_record(io.BytesIO(record), len(record))
    assert kind == filelog.PUT
    assert filelog.parse_put(payload) == filelog.Put(b"src", 5, 2, 7, b"blob")
    spans = [(1, 18, 0, 3), (2, 40, 5, 1)]
    record = filelog.commit_record(spans)
    assert filelog.parse_commit(filelog.read_record(io.BytesIO(record), len(record))[1]) == spans


def test_runs_of_live_events() -> None:
    assert runs(bytearray(b"\x00\x01\x01\x00\x01")) == [(1, 2), (4, 1)]
    assert runs(bytearray(3)) == []
