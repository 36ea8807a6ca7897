"""Taildir line cutting: Flume's `\\n` rule, byte offsets, partial lines, truncation, bytes."""
from __future__ import annotations

from services.sources.taildir_file import Line, LineCutter


def bodies(lines: list[Line]) -> list[bytes]:
    return [line.body for line in lines]


def test_lines_end_at_newline_and_a_carriage_return_before_it_is_stripped() -> None:
    cutter = LineCutter()
    assert cutter.feed(b"a\nbb\r\nc\rd\n") == [Line(0, 2, b"a"), Line(2, 6, b"bb"),
                                               Line(6, 10, b"c\rd")]


def test_offsets_continue_from_the_start_position() -> None:
    cutter = LineCutter(start=100)
    assert cutter.feed(b"xy\n\nz\n") == [Line(100, 103, b"xy"), Line(103, 104, b""),
                                         Line(104, 106, b"z")]
    assert cutter.start == 106


def test_a_line_without_newline_waits_for_it_across_reads() -> None:
    cutter = LineCutter()
    assert cutter.feed(b"hel") == []
    assert cutter.pending == 3
    assert cutter.feed(b"lo") == []
    assert cutter.feed(b"\r") == []
    assert cutter.feed(b"\nnext") == [Line(0, 7, b"hello")]
    assert cutter.start == 7 and cutter.pending == 4


def test_flush_gives_the_unfinished_line_as_it_is() -> None:
    cutter = LineCutter(start=10)
    cutter.feed(b"done\nhalf\r")
    assert cutter.flush() == Line(15, 20, b"half")
    assert cutter.flush() is None
    assert cutter.feed(b"more\n") == [Line(20, 25, b"more")]


def test_binary_and_non_utf8_bytes_pass_through_untouched() -> None:
    data = bytes(range(256)).replace(b"\n", b"")
    cutter = LineCutter()
    assert bodies(cutter.feed(data + b"\n" + b"caf\xe9\xff\x00\n")) == [data, b"caf\xe9\xff\x00"]


def test_long_lines_are_cut_to_max_line_length_and_counted() -> None:
    cutter = LineCutter(max_length=4)
    lines = cutter.feed(b"abcdefgh\nabcd\nabcd\r\nxy\n")
    assert bodies(lines) == [b"abcd", b"abcd", b"abcd", b"xy"]
    assert [line.end for line in lines] == [9, 14, 20, 23]
    assert cutter.tally["TruncatedLineCount"] == 1


def test_an_endless_line_keeps_at_most_max_plus_one_bytes_and_its_true_end() -> None:
    cutter = LineCutter(max_length=5)
    for _ in range(1000):
        assert cutter.feed(b"0123456789") == []
    assert sum(map(len, cutter._held)) <= 6
    assert cutter.feed(b"tail\r\nnext\n") == [Line(0, 10006, b"01234"), Line(10006, 10011, b"next")]
    assert cutter.tally["TruncatedLineCount"] == 1


def test_a_line_of_exactly_max_length_with_crlf_is_not_truncated() -> None:
    cutter = LineCutter(max_length=4)
    assert cutter.feed(b"abcd\r") == []
    assert cutter.feed(b"\n") == [Line(0, 6, b"abcd")]
    assert cutter.tally["TruncatedLineCount"] == 0


def test_an_endless_line_flushed_at_idle_is_cut_and_counted() -> None:
    cutter = LineCutter(max_length=3)
    cutter.feed(b"abcdef")
    assert cutter.flush() == Line(0, 6, b"abc")
    assert cutter.tally["TruncatedLineCount"] == 1


def test_without_a_limit_long_lines_stay_whole() -> None:
    line = b"x" * 300_000
    cutter = LineCutter()
    for i in range(0, len(line), 65536):
        assert cutter.feed(line[i:i + 65536]) == []
    assert cutter.feed(b"\n") == [Line(0, 300_001, line)]
    assert cutter.tally["TruncatedLineCount"] == 0
