"""The taildir bookkeeping on real files in a temporary directory, with a fake clock: batches,
acknowledged positions, start from a position file, rename and copytruncate rotation, idle."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from services.sources import taildir_file
from services.sources.taildir_file import TailFile
from services.sources.taildir_match import FileGroup
from services.sources.taildir_position import Position
from services.sources.taildir_tailer import Tailer

IDLE_S = 120.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, pattern: str = r"app\.log", batch_size: int = 3,
         **options: Any) -> tuple[Tailer, Clock]:
    clock = Clock()
    group = FileGroup("f", str(tmp_path), re.compile(pattern))
    return Tailer([group], batch_size=batch_size, idle_timeout_s=IDLE_S, clock=clock,
                  **options), clock


def append(path: Path, *lines: str, end: str = "\n") -> None:
    with open(path, "ab") as handle:
        handle.write("".join(line + end for line in lines).encode())


def numbered(start: int, stop: int) -> list[str]:
    return [f"line{i}" for i in range(start, stop)]


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def read_all(tailer: Tailer, accept: bool = True) -> list[str]:
    """Every line the tailer hands out now, each batch acknowledged if `accept`."""
    out: list[str] = []
    while (batch := tailer.next_batch()) is not None:
        tf, lines = batch
        flight = tf.launch(lines)
        if accept:
            flight.accept()
        out += [line.body.decode() for line in lines]
    return out


def pos_of(tailer: Tailer, path: Path) -> int:
    (pos,) = [p.pos for p in tailer.positions() if p.file == str(path)]
    return pos


def test_positions_move_only_over_acknowledged_batches(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *numbered(0, 7))
    tailer, _ = make(tmp_path)
    tailer.start([])
    tf, first = tailer.next_batch()
    assert [line.body for line in first] == [b"line0", b"line1", b"line2"]
    flight = tf.launch(first)
    assert tailer.positions() == [Position(log.stat().st_ino, 0, str(log))]
    assert flight.accept()
    assert pos_of(tailer, log) == 18


def test_acknowledgements_out_of_order_commit_only_the_prefix(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *numbered(0, 9))
    tailer, _ = make(tmp_path)
    tailer.start([])
    flights = []
    while (batch := tailer.next_batch()) is not None:
        flights.append(batch[0].launch(batch[1]))
    flights[1].accept()
    flights[2].accept()
    assert pos_of(tailer, log) == 0
    flights[0].accept()
    assert pos_of(tailer, log) == log.stat().st_size


def test_a_last_line_without_newline_waits_until_it_is_completed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "a", "b")
    append(log, "half", end="")
    tailer, _ = make(tmp_path)
    tailer.start([])
    assert read_all(tailer) == ["a", "b"]
    append(log, "-done", "c")
    tailer.scan()
    assert read_all(tailer) == ["half-done", "c"]
    assert pos_of(tailer, log) == log.stat().st_size


def test_files_are_read_oldest_modification_first(tmp_path: Path) -> None:
    append(tmp_path / "new.log", "new")
    append(tmp_path / "old.log", "old")
    set_mtime(tmp_path / "new.log", 2000)
    set_mtime(tmp_path / "old.log", 1000)
    tailer, _ = make(tmp_path, pattern=r".*\.log")
    tailer.start([])
    assert read_all(tailer) == ["old", "new"]


def test_max_batch_count_gives_the_other_file_a_turn(tmp_path: Path) -> None:
    append(tmp_path / "a.log", *[f"a{i}" for i in range(5)])
    append(tmp_path / "b.log", *[f"b{i}" for i in range(5)])
    set_mtime(tmp_path / "a.log", 1000)
    set_mtime(tmp_path / "b.log", 2000)
    tailer, _ = make(tmp_path, pattern=r".*\.log", batch_size=1, max_batch_count=2)
    tailer.start([])
    assert read_all(tailer) == ["a0", "a1", "b0", "b1", "a2", "a3", "b2", "b3", "a4", "b4"]


def test_start_applies_the_position_of_the_same_inode_and_path(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *numbered(0, 5))
    tailer, _ = make(tmp_path)
    tailer.start([Position(log.stat().st_ino, 12, str(log)),
                  Position(log.stat().st_ino + 10**9, 3, str(tmp_path / "gone.log"))])
    assert read_all(tailer) == ["line2", "line3", "line4"]


def test_skip_to_end_starts_unknown_files_at_their_end_but_new_ones_at_0(tmp_path: Path) -> None:
    known, unknown = tmp_path / "known.log", tmp_path / "unknown.log"
    append(known, *numbered(0, 3))
    append(unknown, "old")
    set_mtime(known, 1000)
    tailer, _ = make(tmp_path, pattern=r".*\.log", skip_to_end=True)
    tailer.start([Position(known.stat().st_ino, 6, str(known))])
    assert read_all(tailer) == ["line1", "line2"]
    append(unknown, "appended")
    append(tmp_path / "later.log", "from the start")
    tailer.scan()
    assert sorted(read_all(tailer)) == ["appended", "from the start"]


def test_a_file_smaller_than_its_position_is_read_from_0(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "short")
    tailer, _ = make(tmp_path)
    tailer.start([Position(log.stat().st_ino, 4096, str(log))])
    assert read_all(tailer) == ["short"]


def test_a_file_renamed_while_stopped_to_a_matching_name_continues(tmp_path: Path) -> None:
    """Flume reads it again from 0; we keep the position if it ends a line there."""
    log = tmp_path / "app-1.log"
    append(log, *numbered(0, 4))
    inode = log.stat().st_ino
    tailer, _ = make(tmp_path, pattern=r"app.*\.log")
    tailer.start([Position(inode, 12, str(tmp_path / "app.log"))])
    assert read_all(tailer) == ["line2", "line3"]
    assert tailer.positions() == [Position(inode, 24, str(log))]


def test_a_renamed_entry_not_ending_a_line_there_is_a_new_file(tmp_path: Path) -> None:
    log = tmp_path / "app-1.log"
    append(log, *numbered(0, 2))
    tailer, _ = make(tmp_path, pattern=r"app.*\.log")
    tailer.start([Position(log.stat().st_ino, 5, str(tmp_path / "app.log"))])
    assert read_all(tailer) == ["line0", "line1"]


def test_a_file_renamed_away_while_stopped_is_finished_then_forgotten(tmp_path: Path) -> None:
    """logrotate ran while the agent was down: the rest of the old file comes first."""
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    append(log, *numbered(0, 4))
    old_inode = log.stat().st_ino
    os.rename(log, rotated)
    append(log, *numbered(4, 6))
    set_mtime(rotated, 1000)
    set_mtime(log, 2000)
    tailer, clock = make(tmp_path)
    tailer.start([Position(old_inode, 12, str(log))])
    assert read_all(tailer) == ["line2", "line3", "line4", "line5"]
    assert {p.inode for p in tailer.positions()} == {old_inode, log.stat().st_ino}
    clock.now += IDLE_S
    tailer.scan()
    assert tailer.positions() == [Position(log.stat().st_ino, log.stat().st_size, str(log))]


def test_rename_rotation_loses_no_line_written_to_the_old_file_after_it(tmp_path: Path) -> None:
    """logrotate renames, the application writes on to its open file until told to reopen."""
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    append(log, *numbered(0, 3))
    tailer, clock = make(tmp_path)
    tailer.start([])
    assert read_all(tailer) == numbered(0, 3)
    os.rename(log, rotated)
    append(rotated, *numbered(3, 5))  # still the application's open file
    append(log, *numbered(5, 7))  # reopened after the rotation
    set_mtime(rotated, 1000)
    set_mtime(log, 2000)
    tailer.scan()
    assert read_all(tailer) == numbered(3, 7)
    assert {p.file for p in tailer.positions()} == {str(log), str(rotated)}
    clock.now += IDLE_S / 2
    append(rotated, "line7")  # a late write keeps the old file alive
    tailer.scan()
    assert read_all(tailer) == ["line7"]
    clock.now += IDLE_S
    tailer.scan()
    assert [p.file for p in tailer.positions()] == [str(log)]


def test_a_rename_to_a_still_matching_name_keeps_the_position(tmp_path: Path) -> None:
    log, rotated = tmp_path / "app.log", tmp_path / "app.log.1"
    append(log, *numbered(0, 3))
    tailer, _ = make(tmp_path, pattern=r"app\.log.*")
    tailer.start([])
    assert read_all(tailer) == numbered(0, 3)
    os.rename(log, rotated)
    append(log, "fresh")
    set_mtime(log, 5000)
    tailer.scan()
    assert read_all(tailer) == ["fresh"]
    assert pos_of(tailer, rotated) == rotated.stat().st_size


def test_a_deleted_file_is_read_to_its_end_then_forgotten(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "a")
    tailer, clock = make(tmp_path)
    tailer.start([])
    assert read_all(tailer) == ["a"]
    append(log, "b", "c")
    os.unlink(log)
    tailer.scan()
    assert read_all(tailer) == ["b", "c"]
    clock.now += IDLE_S
    tailer.scan()
    assert tailer.positions() == []


def test_copytruncate_reads_from_0_and_finishes_the_old_content_from_the_copy(
        tmp_path: Path) -> None:
    """Lines written between our last read and the copy are only in the copy."""
    log, copy = tmp_path / "app.log", tmp_path / "app.log.1"
    append(log, *numbered(0, 3))
    tailer, _ = make(tmp_path)
    tailer.start([])
    assert read_all(tailer) == numbered(0, 3)
    append(log, *numbered(3, 5))
    old_mtime = log.stat().st_mtime_ns // 10**9
    shutil.copyfile(log, copy)
    os.truncate(log, 0)
    append(log, *numbered(5, 7))
    set_mtime(copy, old_mtime + 1)
    set_mtime(log, old_mtime + 2)
    tailer.scan()
    assert read_all(tailer) == numbered(3, 7)
    assert pos_of(tailer, log) == log.stat().st_size
    assert pos_of(tailer, copy) == copy.stat().st_size


def test_copytruncate_without_a_copy_still_sends_what_was_already_read(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *numbered(0, 5))
    append(log, "unfinished", end="")
    tailer, _ = make(tmp_path, batch_size=2)
    tailer.start([])
    tf, lines = tailer.next_batch()  # the whole file is read; three lines wait
    tf.launch(lines).accept()
    os.truncate(log, 0)
    append(log, "after")
    tailer.scan()
    assert read_all(tailer) == ["line2", "line3", "line4", "unfinished", "after"]
    assert tailer.positions() == [Position(log.stat().st_ino, 6, str(log))]


def test_a_file_truncated_and_regrown_past_our_position_is_noticed(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *["aaaa"] * 3)
    tailer, _ = make(tmp_path, batch_size=100)
    tailer.start([])
    assert read_all(tailer) == ["aaaa"] * 3
    with open(log, "wb") as handle:  # truncated, then more than before written at once
        handle.write(b"bbbb\n" * 5)
    tailer.scan()
    assert read_all(tailer) == ["bbbb"] * 5


def test_an_idle_file_sends_its_unfinished_line_closes_and_reopens_on_change(
        tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "a")
    append(log, "no newline yet", end="")
    tailer, clock = make(tmp_path)
    tailer.start([])
    assert read_all(tailer) == ["a"]
    clock.now += IDLE_S
    tailer.scan()
    assert read_all(tailer) == ["no newline yet"]
    (tf,) = tailer.files.values()
    assert isinstance(tf, TailFile) and tf.fd is None
    assert pos_of(tailer, log) == log.stat().st_size
    append(log, "", "b")
    tailer.scan()
    assert tf.fd is not None
    assert read_all(tailer) == ["", "b"]


def test_unacknowledged_lines_are_read_again_after_a_restart(tmp_path: Path) -> None:
    """What a kill -9 leaves: only acknowledged batches are behind the saved position."""
    log = tmp_path / "app.log"
    append(log, *numbered(0, 6))
    tailer, _ = make(tmp_path)
    tailer.start([])
    tf, lines = tailer.next_batch()
    tf.launch(lines).accept()
    tf, lines = tailer.next_batch()
    tf.launch(lines)  # in flight when the process dies
    saved = tailer.positions()
    tailer.close()
    again, _ = make(tmp_path)
    again.start(saved)
    assert read_all(again) == numbered(3, 6)


def test_long_lines_are_truncated_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "x" * 50, "ok")
    tailer, _ = make(tmp_path, max_line_length=10)
    tailer.start([])
    assert read_all(tailer) == ["x" * 10, "ok"]
    assert tailer.tally["TruncatedLineCount"] == 1
    assert pos_of(tailer, log) == 54


def test_a_huge_line_is_read_a_slice_per_call_and_cut(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """However long a line without newline, one call reads at most TAKE_BYTES of it."""
    monkeypatch.setattr(taildir_file, "READ_BYTES", 50)
    monkeypatch.setattr(taildir_file, "TAKE_BYTES", 100)
    log = tmp_path / "app.log"
    append(log, "x" * 1000, "ok")
    tailer, _ = make(tmp_path, max_line_length=10)
    tailer.start([])
    assert tailer.next_batch() is None
    (tf,) = tailer.files.values()
    assert tf.read_pos == 100
    lines: list[str] = []
    for _ in range(10):
        tailer.scan()
        lines += read_all(tailer)
    assert lines == ["x" * 10, "ok"]
