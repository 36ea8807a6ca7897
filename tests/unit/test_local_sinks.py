"""The local sinks' output: the logger's Flume line format and file_roll's files."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from services.config.schema import SINKS
from services.sinks.local import FileRollWriter, LoggerWriter, format_event


def test_logger_line_is_flumes_event_helper_dump() -> None:
    """The user guide's example, byte for byte: 13 bytes, padding, ASCII column with `.`."""
    assert format_event({}, b"Hello world!\r", 16) == (
        "{ headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21 0D          Hello world!. }")


def test_logger_shows_at_most_max_bytes_and_the_headers_in_order() -> None:
    line = format_event({"host": "h1", "timestamp": "17"}, b"0123456789abcdefXYZ", 16)
    assert line == ("{ headers:{host=h1, timestamp=17} body: 30 31 32 33 34 35 36 37 38 39 "
                    "61 62 63 64 65 66 0123456789abcdef }")


def test_logger_with_a_larger_max_bytes_prints_further_rows_with_their_offset() -> None:
    """commons-io HexDump rows; EventHelper strips only the first offset and the last EOL."""
    body = bytes(range(0x41, 0x41 + 20)) + b"\x00\xff"
    assert format_event({}, body, 21) == (
        "{ headers:{} body: 41 42 43 44 45 46 47 48 49 4A 4B 4C 4D 4E 4F 50 ABCDEFGHIJKLMNOP\n"
        "00000010 51 52 53 54 00 " + "   " * 11 + "QRST. }")


def test_logger_with_an_empty_body_shows_no_dump() -> None:
    assert format_event({"k": "v"}, b"", 16) == "{ headers:{k=v} body: }"


def test_logger_writer_logs_one_info_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.logger.sink")
    writer = LoggerWriter({"maxBytesToLog": 4}, log)
    with caplog.at_level(logging.INFO, logger="test.logger.sink"):
        writer.write([{"a": "1"}, {}], [b"abcdef", b"z"])
    assert [r.getMessage() for r in caplog.records] == [
        "Event: { headers:{a=1} body: 61 62 63 64                                     abcd }",
        "Event: { headers:{} body: 7A                                              z }"]


def roll_params(directory: Path, **overrides: Any) -> dict[str, Any]:
    params = {key: param.default for key, param in SINKS["file_roll"].items()}
    params["sink.directory"] = str(directory)
    params.update(overrides)
    return params


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_file_roll_names_files_prefix_start_millis_index_extension(tmp_path: Path) -> None:
    before = int(time.time() * 1000)
    writer = FileRollWriter(roll_params(tmp_path, **{"sink.pathManager.prefix": "ev-",
                                                     "sink.pathManager.extension": "log"}))
    after = int(time.time() * 1000)
    writer.write(None, [b"a", b"b"])
    writer.close()
    [name] = os.listdir(tmp_path)
    assert name.startswith("ev-") and name.endswith("-1.log")
    assert before <= int(name[len("ev-"):-len("-1.log")]) <= after
    assert (tmp_path / name).read_bytes() == b"a\nb\n"


def test_file_roll_interval_zero_keeps_one_file(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = FileRollWriter(roll_params(tmp_path, **{"sink.rollInterval": 0}), clock)
    for n in range(3):
        writer.write(None, [str(n).encode()])
        clock.now += 3600
    writer.close()
    [name] = os.listdir(tmp_path)
    assert name == f"{writer.start_ms}-1"
    assert (tmp_path / name).read_bytes() == b"0\n1\n2\n"


def test_file_roll_starts_a_new_numbered_file_each_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = FileRollWriter(roll_params(tmp_path, **{"sink.rollInterval": 30}), clock)
    writer.write(None, [b"first"])
    clock.now += 29
    writer.write(None, [b"still first"])
    clock.now += 1
    writer.write(None, [b"second"])
    writer.close()
    assert sorted(os.listdir(tmp_path)) == [f"{writer.start_ms}-1", f"{writer.start_ms}-2"]
    assert (tmp_path / f"{writer.start_ms}-1").read_bytes() == b"first\nstill first\n"
    assert (tmp_path / f"{writer.start_ms}-2").read_bytes() == b"second\n"


def test_file_roll_without_append_newline_writes_bodies_back_to_back(tmp_path: Path) -> None:
    writer = FileRollWriter(roll_params(tmp_path, **{"sink.serializer.appendNewline": False}))
    writer.write(None, [b"ab", b"cd"])
    writer.close()
    assert (tmp_path / f"{writer.start_ms}-1").read_bytes() == b"abcd"


def test_file_roll_write_failure_is_a_delivery_failure_naming_the_file(tmp_path: Path) -> None:
    from services.sinks.base import DeliveryFailed
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    writer = FileRollWriter(roll_params(blocker / "sub"))
    with pytest.raises(DeliveryFailed, match="not-a-dir") as caught:
        writer.write(None, [b"x"])
    assert not caught.value.liveness


def test_file_roll_cuts_off_a_write_that_fails_part_way(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk takes part of a batch and then refuses the rest: the file goes back to the
    lines written before, so the retried batch is neither torn nor written twice."""
    from services.sinks import local
    from services.sinks.base import DeliveryFailed
    writer = FileRollWriter(roll_params(tmp_path, **{"sink.rollInterval": 0}))
    writer.write(None, [b"1", b"2"])
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        if len(data) > 3:
            return real_write(fd, bytes(data[:3]))  # the disk takes 3 bytes, then no more
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "write", full_disk)
    with pytest.raises(DeliveryFailed, match="No space left"):
        writer.write(None, [b"33", b"44"])
    assert (tmp_path / f"{writer.start_ms}-1").read_bytes() == b"1\n2\n"
    monkeypatch.setattr(local.os, "write", real_write)
    writer.write(None, [b"33", b"44"])  # the retry, once there is room again
    writer.close()
    assert (tmp_path / f"{writer.start_ms}-2").read_bytes() == b"33\n44\n"


def test_file_roll_sinks_sharing_a_directory_and_a_start_millisecond_never_share_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies `render --instances` makes of one collector write into the same directory
    and start together: each opens a file of its own, so one cutting off a failed write
    (a full disk) never cuts another's lines."""
    from services.sinks import local
    from services.sinks.base import DeliveryFailed
    first = FileRollWriter(roll_params(tmp_path))
    second = FileRollWriter(roll_params(tmp_path))
    second.start_ms = first.start_ms
    first.write(None, [b"1", b"2"])
    second.write(None, [b"a"])
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local.os, "write", full_disk)
    with pytest.raises(DeliveryFailed):
        second.write(None, [b"b"])
    monkeypatch.setattr(local.os, "write", real_write)
    first.write(None, [b"3"])
    first.close()
    second.close()
    assert (tmp_path / f"{first.start_ms}-1").read_bytes() == b"1\n2\n3\n"
    assert (tmp_path / f"{first.start_ms}-2").read_bytes() == b"a\n"
