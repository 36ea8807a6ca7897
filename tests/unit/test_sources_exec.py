"""The exec source's pure parts: its command line, line splitting and batching."""
from __future__ import annotations

import pytest

from services.sources.exec import LineSplitter, Pending, command_args


def test_without_shell_the_command_is_split_on_whitespace() -> None:
    assert command_args("tail  -F\t/var/log/a.log", None) == ["tail", "-F", "/var/log/a.log"]
    assert command_args("tail -F /var/log/a.log", "") == ["tail", "-F", "/var/log/a.log"]


def test_with_shell_the_command_is_one_last_argument() -> None:
    """Flume: the shell is split on whitespace and the whole command appended as is."""
    assert command_args("tail -F a.log | grep -v 'x  y'", "/bin/sh  -c") == [
        "/bin/sh", "-c", "tail -F a.log | grep -v 'x  y'"]


def test_lines_end_at_newline_carriage_return_newline_or_carriage_return() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb\r\nc\rd") == [b"a", b"b", b"c"]
    assert splitter.flush() == [b"d"]


def test_a_partial_line_waits_for_its_end_across_reads() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"hel") == []
    assert splitter.feed(b"lo\nwor") == [b"hello"]
    assert splitter.feed(b"ld\n") == [b"world"]
    assert splitter.flush() == []


def test_carriage_return_newline_split_across_reads_is_one_line_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r") == []
    assert splitter.feed(b"\ntwo\r") == [b"one"]
    assert splitter.feed(b"three\n") == [b"two", b"three"]


def test_empty_lines_are_events() -> None:
    assert LineSplitter().feed(b"\n\nx\n") == [b"", b"", b"x"]


def test_a_last_line_without_newline_is_flushed_at_end_of_stream() -> None:
    splitter = LineSplitter()
    splitter.feed(b"last\r")
    assert splitter.flush() == [b"last"]


def test_long_lines_are_truncated_to_max_line_length_and_counted() -> None:
    splitter = LineSplitter(max_length=4)
    assert splitter.feed(b"abcdefgh\nabcd\nxy\n") == [b"abcd", b"abcd", b"xy"]
    assert splitter.truncated == 1


def test_an_endless_line_is_held_to_max_line_length_and_counted_once() -> None:
    """The unfinished part never grows past the limit, however much arrives."""
    splitter = LineSplitter(max_length=5)
    for _ in range(100):
        assert splitter.feed(b"0123456789") == []
        assert len(splitter.partial) <= 5
    assert splitter.feed(b"tail\nnext\n") == [b"01234", b"next"]
    assert splitter.truncated == 1


def test_an_endless_line_cut_at_end_of_stream_is_counted() -> None:
    splitter = LineSplitter(max_length=3)
    splitter.feed(b"abcdef")
    assert splitter.flush() == [b"abc"]
    assert splitter.truncated == 1


def test_no_limit_keeps_long_lines_whole() -> None:
    line = b"x" * 100_000
    splitter = LineSplitter()
    assert splitter.feed(line + b"\n") == [line]
    assert splitter.truncated == 0


def test_pending_hands_out_batches_oldest_first() -> None:
    pending = Pending(batch_size=3)
    pending.add([b"%d" % n for n in range(8)], now=5.0)
    assert pending.since == 5.0
    assert [pending.take(6.0), pending.take(6.0), pending.take(6.0)] == [
        [b"0", b"1", b"2"], [b"3", b"4", b"5"], [b"6", b"7"]]
    assert len(pending) == 0


def test_pending_age_starts_with_the_first_line_after_a_take() -> None:
    pending = Pending(batch_size=10)
    pending.add([b"a"], now=1.0)
    pending.add([b"b"], now=2.0)
    assert pending.since == 1.0
    pending.take(3.0)
    pending.add([b"c"], now=4.0)
    assert pending.since == 4.0


@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_pending_loses_and_repeats_nothing_over_interleaved_adds(batch_size: int) -> None:
    pending = Pending(batch_size)
    out: list[bytes] = []
    for start in range(0, 1000, 37):
        pending.add([b"%d" % n for n in range(start, min(1000, start + 37))], now=0.0)
        while len(pending) >= batch_size:
            out.extend(pending.take(0.0))
    while len(pending):
        out.extend(pending.take(0.0))
    assert out == [b"%d" % n for n in range(1000)]
