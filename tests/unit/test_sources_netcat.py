"""The netcat source's line rule: max-line-length counts characters plus the newline."""
from __future__ import annotations

from services.sources.netcat import split_lines


def test_complete_lines_and_the_unfinished_rest() -> None:
    assert split_lines(b"a\r\nbb\nccc", "utf-8", 10) == (["a\r", "bb"], b"ccc", False)


def test_a_line_of_max_minus_one_characters_fits_and_one_more_does_not() -> None:
    assert split_lines(b"x" * 9 + b"\n", "utf-8", 10) == (["x" * 9], b"", False)
    assert split_lines(b"ok\n" + b"x" * 10 + b"\nafter\n", "utf-8", 10) == (["ok"], b"", True)


def test_an_unfinished_line_that_cannot_fit_any_more_is_too_long() -> None:
    assert split_lines(b"x" * 9, "utf-8", 10) == ([], b"x" * 9, False)
    assert split_lines(b"x" * 10, "utf-8", 10)[2]


def test_the_limit_counts_characters_not_bytes() -> None:
    line = "é" * 9  # 18 bytes of UTF-8
    assert split_lines(line.encode() + b"\n", "utf-8", 10) == ([line], b"", False)


def test_the_socket_encoding_decodes_lines() -> None:
    assert split_lines("é\n".encode("latin-1"), "latin-1", 10) == (["é"], b"", False)
