"""The properties reader follows java.util.Properties.load and keeps line numbers and file order."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config.properties import parse_properties, read_properties


def values(text: str) -> dict[str, str]:
    """key -> value of a parsed text."""
    return {k: e.value for k, e in parse_properties(text).entries.items()}


def lines(text: str) -> dict[str, int]:
    """key -> line where its logical line starts."""
    return {k: e.line for k, e in parse_properties(text).entries.items()}


@pytest.mark.parametrize(
    "line",
    [
        "a.b=v",
        "a.b = v",
        "a.b:v",
        "a.b : v",
        "a.b v",
        "a.b \t v",
        "  a.b=v",
        "\ta.b  =  v",
        "\fa.b\f=\fv",
        "a.b = v   ",
    ],
)
def test_separators_and_surrounding_whitespace(line: str) -> None:
    assert values(line) == {"a.b": "v"}


def test_only_one_separator_is_skipped_after_whitespace() -> None:
    assert values("k = = v\nk2 : :v\nk3==v") == {"k": "= v", "k2": ":v", "k3": "=v"}


def test_key_without_value_has_empty_value() -> None:
    assert values("lonely\nalso=\n") == {"lonely": "", "also": ""}


def test_comments_and_blank_lines() -> None:
    text = "# comment\n! bang comment\n   # indented comment\n\n   \nk = v # not a comment\n"
    assert values(text) == {"k": "v # not a comment"}
    assert lines(text) == {"k": 6}


def test_continuation_drops_leading_whitespace_and_keeps_start_line() -> None:
    text = "x = 1\nlist = a \\\n      b \\\n\t c\ny = 2\n"
    assert values(text) == {"x": "1", "list": "a b c", "y": "2"}
    assert lines(text) == {"x": 1, "list": 2, "y": 5}


def test_even_backslashes_do_not_continue() -> None:
    assert values("a = x\\\\\nb = y") == {"a": "x\\", "b": "y"}


def test_continued_line_is_not_a_comment() -> None:
    assert values("a = 1\\\n# still value\n") == {"a": "1# still value"}


def test_comment_line_is_never_continued() -> None:
    assert values("# comment \\\na = 1") == {"a": "1"}


def test_blank_continuation_line_ends_the_logical_line() -> None:
    assert values("a = 1\\\n   \nb = 2") == {"a": "1", "b": "2"}


def test_backslash_at_end_of_file_is_dropped() -> None:
    assert values("a = 1\\") == {"a": "1"}


def test_line_of_only_a_backslash_is_dropped_and_the_next_read_afresh() -> None:
    assert values("\\\n# comment\n\\\n  k = v\n") == {"k": "v"}
    assert lines("\\\n# comment\n\\\n  k = v\n") == {"k": 4}


def test_key_continued_over_lines() -> None:
    assert values("ag\\\n  ent.x = 1") == {"agent.x": "1"}


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings(ending: str) -> None:
    text = ending.join(["a = 1", "# c", "b = 2\\", "  3", "c = 4"])
    assert values(text) == {"a": "1", "b": "23", "c": "4"}
    assert lines(text) == {"a": 1, "b": 3, "c": 5}


def test_escapes_in_values() -> None:
    assert values(r"k = a\tb\nc\rd\fe\\f\qg\u0041\u00e9") == {"k": "a\tb\nc\rd\fe\\fqgA\u00e9"}


def test_surrogate_pair_escapes_make_one_character() -> None:
    assert values(r"k = \ud83d\ude00") == {"k": "\U0001f600"}


def test_escaped_separators_belong_to_the_key() -> None:
    assert values(r"a\=b\:c\ d = v") == {"a=b:c d": "v"}


def test_escaped_leading_space_in_value_is_trimmed_like_flume() -> None:
    assert values(r"k = \  v") == {"k": "v"}


def test_malformed_unicode_escape_is_an_error_with_line() -> None:
    parsed = parse_properties("ok = 1\nbad = \\u12G4\nalso = 2", "f.conf")
    assert [str(e) for e in parsed.errors] == ["f.conf:2: bad: malformed \\uxxxx escape: \\u12G4"]
    assert list(parsed.entries) == ["ok", "also"]


def test_short_unicode_escape_is_an_error() -> None:
    assert parse_properties("k = \\u12").errors[0].message == "malformed \\uxxxx escape: \\u12"


def test_repeated_key_later_wins_and_both_lines_are_kept() -> None:
    parsed = parse_properties("a = 1\nb = 2\na = 3\n")
    assert values("a = 1\nb = 2\na = 3\n") == {"b": "2", "a": "3"}
    ((old, new),) = parsed.repeats
    assert (old.line, old.value, new.line, new.value) == (1, "1", 3, "3")


def test_file_order_is_kept() -> None:
    text = "z = 1\na = 2\nm = 3\n"
    assert list(values(text)) == ["z", "a", "m"]


def test_read_properties_reads_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f.conf"
    path.write_bytes("k = h\u00e9\n".encode())
    assert read_properties(str(path)).entries["k"].value == "h\u00e9"


def test_read_properties_reports_an_unreadable_file(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.conf")
    (error,) = read_properties(path).errors
    assert (error.file, error.line, error.key) == (path, 0, "")
    assert error.message.startswith("cannot read")


def test_read_properties_reports_invalid_utf8_with_line(tmp_path: Path) -> None:
    path = tmp_path / "f.conf"
    path.write_bytes(b"a = 1\nb = \xff\n")
    (error,) = read_properties(str(path)).errors
    assert (error.line, error.message) == (2, "file is not valid UTF-8")
