"""The spooldir progress file: round trip, bad entries, entries of files that are gone."""
from __future__ import annotations

import collections
import logging
import os
from pathlib import Path

import pytest

from services.sources.spooldir_progress import (Progress, ProgressBook, ProgressFileError,
                                                dumps, loads)

ENTRY = Progress("sub/a.log", 12, 300, 1_700_000_000_123_456_789, 40, 5, 1)


def test_entries_round_trip_including_names_that_are_not_utf8() -> None:
    odd = ENTRY._replace(file="caf\udce9.log")  # the byte 0xE9 kept by surrogateescape
    text = dumps([ENTRY, odd])
    assert text.isascii()
    assert loads(text) == ([ENTRY, odd], [])
    assert '"pos":40,"line":5,"part":1' in text


def test_bad_entries_are_skipped_with_a_reason_and_non_json_is_an_error() -> None:
    entries, skipped = loads('[{"file":"a"}, 3, {"file":"b","inode":1,"size":1,"mtime_ns":1,'
                             '"pos":0,"line":0,"part":0}]')
    assert entries == [] and len(skipped) == 3
    assert loads("") == ([], [])
    with pytest.raises(ProgressFileError):
        loads("{")
    with pytest.raises(ProgressFileError):
        loads("{}")


def test_the_book_drops_entries_of_files_that_are_gone_or_replaced(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.log").write_text("x\n")
    (tmp_path / "b.log").write_text("y\n")
    inode = os.stat(tmp_path / "sub" / "a.log").st_ino
    kept = ENTRY._replace(inode=inode)
    other = ENTRY._replace(file="b.log", inode=inode)  # b.log has another inode now
    gone = ENTRY._replace(file="c.log")
    tally: collections.Counter[str] = collections.Counter()
    book = ProgressBook(str(tmp_path / "t" / "p.json"), tally, logging.getLogger("test"))
    book.entries = {e.file: e for e in (kept, other, gone)}
    book.save(durable=True)
    again = ProgressBook(book.path, tally, logging.getLogger("test"))
    again.load(str(tmp_path))
    assert again.entries == {"sub/a.log": kept}
    assert tally["GenericProcessingFail"] == 0


def test_a_book_that_cannot_be_written_counts_each_failure(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    tally: collections.Counter[str] = collections.Counter()
    book = ProgressBook(str(tmp_path / "blocker" / "p.json"), tally, logging.getLogger("test"))
    book.entries = {ENTRY.file: ENTRY}
    book.save(False)
    book.entries = {}
    book.save(False)
    assert tally["GenericProcessingFail"] == 2


def test_saves_overwrite_in_place_padded_and_durable_saves_compact(tmp_path: Path) -> None:
    tally: collections.Counter[str] = collections.Counter()
    book = ProgressBook(str(tmp_path / "p.json"), tally, logging.getLogger("test"))
    book.entries = {"a": ENTRY, "b": ENTRY._replace(file="b")}
    book.save(False)  # the first save creates the file
    inode = os.stat(book.path).st_ino
    book.entries = {"a": ENTRY}
    book.save(False)
    text = Path(book.path).read_text()
    assert os.stat(book.path).st_ino == inode and text.endswith(" ")
    assert loads(text) == ([ENTRY], [])
    book.save(True)
    assert Path(book.path).read_text() == dumps([ENTRY])
    book.close()
