"""Spooldir lines: Flume's LINE deserializer, marks to resume from, long lines, charsets and
decodeErrorPolicy."""
from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import pytest

from services.sources import spooldir_reader
from services.sources.spooldir_reader import START, Event, LineReader, Mark, check_charset


def reader(tmp_path: Path, data: bytes, start: Mark = START, **kwargs: Any) -> LineReader:
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    return LineReader(fd, start, **kwargs)


def everything(r: LineReader, count: int = 1000) -> list[Event]:
    events: list[Event] = []
    while not r.done:
        events.extend(r.take(count))
    os.close(r.fd)
    return events


def bodies(events: list[Event]) -> list[bytes]:
    return [e.body for e in events]


def test_lines_end_at_newline_crlf_is_stripped_and_a_lone_cr_is_data(tmp_path: Path) -> None:
    events = everything(reader(tmp_path, b"a\nbb\r\nc\rd\n\nlast"))
    assert bodies(events) == [b"a", b"bb", b"c\rd", b"", b"last"]
    assert [e.line for e in events] == [1, 2, 3, 4, 5]
    assert [e.after for e in events] == [Mark(2, 2, 0), Mark(6, 3, 0), Mark(10, 4, 0),
                                         Mark(11, 5, 0), Mark(15, 6, 0)]


def test_an_empty_file_has_no_events_and_is_done(tmp_path: Path) -> None:
    r = reader(tmp_path, b"")
    assert r.take(10) == [] and r.done


def test_take_gives_at_most_count_and_carries_on(tmp_path: Path) -> None:
    r = reader(tmp_path, b"1\n2\n3\n")
    assert bodies(r.take(2)) == [b"1", b"2"]
    assert bodies(r.take(2)) == [b"3"]
    assert r.done


def test_reading_resumes_at_a_mark(tmp_path: Path) -> None:
    events = everything(reader(tmp_path, b"a\nbb\nc\n", Mark(2, 2, 0)))
    assert [(e.line, e.body) for e in events] == [(2, b"bb"), (3, b"c")]


def test_long_lines_are_split_into_parts_and_counted(tmp_path: Path) -> None:
    tally: collections.Counter[str] = collections.Counter()
    events = everything(reader(tmp_path, b"abcdefg\nxyz\nabcdef\n", max_chars=3, tally=tally))
    assert bodies(events) == [b"abc", b"def", b"g", b"xyz", b"abc", b"def"]
    assert [(e.line, e.part) for e in events] == [(1, 0), (1, 1), (1, 2), (2, 0), (3, 0),
                                                  (3, 1)]
    assert events[0].after == Mark(0, 1, 1) and events[2].after == Mark(8, 2, 0)
    assert tally["TruncatedLineCount"] == 2  # "xyz" fits exactly: one event, not split


def test_a_line_of_exactly_max_length_before_crlf_is_one_event(tmp_path: Path) -> None:
    events = everything(reader(tmp_path, b"abc\r\nde\r", max_chars=3))
    assert bodies(events) == [b"abc", b"de\r"]  # at EOF without "\n" the "\r" is data


def test_a_split_line_resumes_after_its_acknowledged_parts(tmp_path: Path) -> None:
    events = everything(reader(tmp_path, b"abcdefg\nh\n", Mark(0, 1, 2), max_chars=3))
    assert [(e.line, e.part, e.body) for e in events] == [(1, 2, b"g"), (2, 0, b"h")]


def test_an_endless_line_is_read_in_bounded_steps(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spooldir_reader, "READ_BYTES", 4)
    monkeypatch.setattr(spooldir_reader, "TAKE_BYTES", 8)
    r = reader(tmp_path, b"\xff" * 20 + b"\nok\n", policy="ignore")
    assert r.take(5) == [] and not r.done  # 8 bytes of nothing: come back later
    assert bodies(everything(r)) == [b"", b"ok"]


def test_a_character_cut_by_a_read_boundary_is_decoded_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spooldir_reader, "READ_BYTES", 3)
    text = "héllo wörld €\n"
    assert bodies(everything(reader(tmp_path, text.encode()))) == [text[:-1].encode()]


def test_fail_stops_at_the_bad_line_after_the_good_ones(tmp_path: Path) -> None:
    r = reader(tmp_path, b"good\nbad \xff\nnever\n")
    events = r.take(10)
    assert bodies(events) == [b"good"] and events[0].after == Mark(5, 2, 0)
    assert r.done and r.error is not None and "line 2" in r.error and "byte 9" in r.error
    assert r.take(10) == []


def test_a_character_cut_by_the_end_of_the_file_fails(tmp_path: Path) -> None:
    r = reader(tmp_path, b"ok\n\xe2\x82")
    assert bodies(r.take(10)) == [b"ok"] and r.error is not None


def test_replace_and_ignore(tmp_path: Path) -> None:
    data = b"caf\xe9\n\xff\xfeok\n"
    assert bodies(everything(reader(tmp_path, data, policy="replace"))) == [
        "caf\ufffd".encode(), "\ufffd\ufffdok".encode()]
    assert bodies(everything(reader(tmp_path, data, policy="ignore"))) == [b"caf", b"ok"]


def test_input_is_decoded_and_bodies_encoded_with_the_output_charset(tmp_path: Path) -> None:
    data = "café €\n".encode("cp1252")
    events = everything(reader(tmp_path, data, charset=check_charset("windows-1252")))
    assert bodies(events) == ["café €".encode()]
    events = everything(reader(tmp_path, b"caf\xe9 \x80\n", charset="cp1252",
                               out_charset="latin-1"))
    assert bodies(events) == [b"caf\xe9 ?"]  # "€" is not in Latin-1: Java writes "?"


@pytest.mark.parametrize("name", ["UTF-8", "ISO-8859-1", "US-ASCII", "GBK", "Shift_JIS"])
def test_charsets_with_one_byte_newlines_are_accepted(name: str) -> None:
    check_charset(name)


@pytest.mark.parametrize(("name", "why"), [("UTF-16", "not supported"), ("utf-32-le",
                                                                         "not supported"),
                                           ("klingon", "unknown charset")])
def test_other_charsets_are_refused(name: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_charset(name)
