"""Events of one spool file, Flume's LINE deserializer, resumable from a `Mark`.

    read bytes -> cut at b"\\n" -> decode with inputCharset (decodeErrorPolicy) -> strip one
    "\\r" before the "\\n" -> parts of at most deserializer.maxLineLength characters
    -> each part encoded with deserializer.outputCharset: one event body

Flume's LineDeserializer cuts an over-long line after maxLineLength characters and reads on:
"the remaining characters on the line will appear in a subsequent event" (UG). We do the same,
count every line so split in `tally["TruncatedLineCount"]`, and, unlike Flume, send a line of
exactly maxLineLength characters as one event (Flume adds an empty one after it) and strip
the "\\r" of "\\r\\n" (Flume keeps it: a FIXME in LineDeserializer). A lone "\\r" is data.
The last line needs no newline: a spool file is complete.

A `Mark` (byte offset of a line, its number, parts of it already sent) is where reading
resumes; every event carries the mark just after it, so an acknowledged batch's last event
says where a restart goes on. Offsets are byte offsets, so only charsets that write "\\r" and
"\\n" as those single bytes, and never use those bytes inside a character, are accepted
(UTF-8, ISO-8859-*, GBK, Shift_JIS, ...; not UTF-16/32).

With decodeErrorPolicy FAIL a line that does not decode stops the file: the lines before it
are returned, `error` says where, and nothing more is read (Flume's source dies instead).
REPLACE puts U+FFFD in its place, IGNORE drops the bytes.
"""
from __future__ import annotations

import codecs
import collections
import os
from typing import NamedTuple

READ_BYTES = 64 * 1024
TAKE_BYTES = 8 * 1024 * 1024  # per take(): a file of undecodable bytes cannot stall the loop
POLICIES = {"fail": "strict", "replace": "replace", "ignore": "ignore"}


class Mark(NamedTuple):
    pos: int  # byte offset of the line where reading resumes
    line: int  # its number, from 1
    part: int  # parts of it already sent (0 unless it was longer than maxLineLength)


START = Mark(0, 1, 0)


class Event(NamedTuple):
    line: int
    part: int
    body: bytes
    after: Mark  # where reading resumes once this event is acknowledged


def check_charset(name: str, newline_bytes: bool = True) -> str:
    """The codec name of a charset; ValueError says why not. With `newline_bytes`, also one we
    can read by byte offsets ("\\r\\n" written as those two bytes)."""
    try:
        info = codecs.lookup(name)
    except LookupError as exc:
        raise ValueError(f"unknown charset {name}") from exc
    if newline_bytes and "\r\n".encode(info.name) != b"\r\n":
        raise ValueError(f"charset {name} is not supported: newlines must be the byte 0x0A")
    return info.name


class LineReader:
    """Reads `fd` from `start`; `take(n)` gives up to n events, [] with `eof` at the end."""

    def __init__(self, fd: int, start: Mark = START, *, charset: str = "utf-8",
                 policy: str = "fail", out_charset: str = "utf-8", max_chars: int = 2048,
                 tally: collections.Counter[str] | None = None) -> None:
        self.fd = fd
        self.charset = charset
        self.out_charset = out_charset
        self.max_chars = max_chars
        self.tally = tally if tally is not None else collections.Counter()
        self.decoder = codecs.getincrementaldecoder(charset)(POLICIES[policy])
        self.read_pos = self.line_start = start.pos
        self.line = start.line
        self.skip = start.part  # parts of the first line sent before the restart
        self.part = 0
        self.text = ""  # decoded and not yet sent, of the current line
        self.fed = 0  # bytes of the current line given to the decoder
        self.ready: collections.deque[Event] = collections.deque()
        self.eof = False
        self.error: str | None = None

    @property
    def done(self) -> bool:
        """Nothing more will come: end of file, or a line that did not decode."""
        return not self.ready and (self.eof or self.error is not None)

    def take(self, count: int) -> list[Event]:
        """Up to `count` events; fewer (maybe none) when TAKE_BYTES were read (OSError escapes)."""
        limit = self.read_pos + TAKE_BYTES
        while (len(self.ready) < count and not self.eof and self.error is None
               and self.read_pos < limit):
            data = os.pread(self.fd, READ_BYTES, self.read_pos)
            if not data:
                self._last_line()
                self.eof = True
                break
            self.read_pos += len(data)
            self._feed(data, self.read_pos - len(data))
        return [self.ready.popleft() for _ in range(min(count, len(self.ready)))]

    def _feed(self, data: bytes, base: int) -> None:
        start = 0
        while self.error is None:
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            self._decode(data[start:end], newline >= 0, base + start)
            if newline < 0 or self.error is not None:
                return
            self._end_line(base + newline + 1)
            start = newline + 1

    def _decode(self, raw: bytes, final: bool, at: int) -> None:
        try:
            self.text += self.decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            self.error = (f"line {self.line} (near byte {at + exc.start}) is not valid "
                          f"{self.charset}: {exc.reason}")
            return
        self.fed += len(raw)
        limit = self.max_chars
        # Cut off full parts, but keep a last "\r" until we know whether "\n" follows it.
        while len(self.text) > limit and not (len(self.text) == limit + 1
                                              and self.text.endswith("\r")):
            self._emit(self.text[:limit], None)
            self.text = self.text[limit:]

    def _end_line(self, next_start: int) -> None:
        text = self.text[:-1] if self.text.endswith("\r") else self.text
        self._emit(text, next_start)

    def _last_line(self) -> None:
        """At EOF: a last line without newline is still a line (its "\\r" is data)."""
        self._decode(b"", True, self.read_pos)
        if self.error is None and (self.text or (self.fed and not self.part)):
            self._emit(self.text, self.read_pos)

    def _emit(self, text: str, next_start: int | None) -> None:
        """One part of the current line; `next_start` ends the line there."""
        part = self.part
        self.part += 1
        if next_start is None:
            after = Mark(self.line_start, self.line, self.part)
        else:
            after = Mark(next_start, self.line + 1, 0)
            if part:
                self.tally["TruncatedLineCount"] += 1
        if self.skip:
            self.skip -= 1  # sent and acknowledged before a restart
        else:
            # Java's String.getBytes: characters the output charset lacks become "?"
            self.ready.append(Event(self.line, part, text.encode(self.out_charset, "replace"),
                                    after))
        if next_start is not None:
            self.line_start, self.line, self.part = next_start, self.line + 1, 0
            self.text, self.fed = "", 0
            self.decoder.reset()
