"""One followed file: its lines with their byte offsets, and the acknowledged position.

Three offsets per file, always `committed <= (start of the next unsent line) <= read_pos`:

    committed   every line before it was acknowledged by the channel(s): the position file's pos
    read_pos    the next byte to read; lines read and not yet sent wait in `ready`

A batch in the channel is a `Flight` ending at its last line's end. Flights may be acknowledged
out of order (a FULL answer retries one batch while the next goes through), so `committed`
moves only over the longest acknowledged prefix: a restart never skips an unacknowledged line.
"""
from __future__ import annotations

import collections
import os
from typing import NamedTuple

READ_BYTES = 64 * 1024
TAKE_BYTES = 8 * 1024 * 1024
MARK_BYTES = 64  # the bytes before read_pos we remember, to notice a file replaced in place


class Line(NamedTuple):
    offset: int  # of the line's first byte
    end: int  # offset just past its newline: where the next line starts
    body: bytes


class LineCutter:
    """Cuts bytes read from offset `start` into lines at `\\n`, a `\\r` before it stripped.

    A lone `\\r` is data (Flume's TailFile). An unfinished last line is held until its newline
    arrives, or `flush` gives it up. With `max_length` > 0 a longer line is cut to that many
    bytes and counted in `tally["TruncatedLineCount"]`; of an unfinished line only
    `max_length + 1` bytes are kept (one for a possible `\\r`), so an endless line cannot
    exhaust memory. Bodies are bytes as read: binary and non-UTF-8 data pass through.
    """

    def __init__(self, start: int = 0, max_length: int = 0,
                 tally: collections.Counter[str] | None = None) -> None:
        self.start = start  # offset of the unfinished line
        self.max_length = max_length
        self.tally = tally if tally is not None else collections.Counter()
        self._held: list[bytes] = []  # kept bytes of the unfinished line
        self._kept = 0
        self._length = 0  # its full length so far
        self._cut = False  # bytes of it were dropped

    def feed(self, data: bytes) -> list[Line]:
        parts = data.split(b"\n")
        rest = parts.pop()
        lines = []
        for part in parts:
            raw = b"".join(self._held) + part if self._held else part
            end = self.start + self._length + len(part) + 1
            lines.append(Line(self.start, end, self._body(raw, self._cut)))
            self._reset(end)
        self._grow(rest)
        return lines

    def flush(self) -> Line | None:
        """The unfinished line as it is (a file gone idle), or None."""
        if not self._length:
            return None
        end = self.start + self._length
        line = Line(self.start, end, self._body(b"".join(self._held), self._cut))
        self._reset(end)
        return line

    @property
    def pending(self) -> int:
        """Bytes of the unfinished line."""
        return self._length

    def _body(self, raw: bytes, cut: bool) -> bytes:
        if raw.endswith(b"\r") and not cut:  # when cut, the end is dropped anyway
            raw = raw[:-1]
        if self.max_length and (cut or len(raw) > self.max_length):
            self.tally["TruncatedLineCount"] += 1
            return raw[:self.max_length]
        return raw

    def _grow(self, data: bytes) -> None:
        if not data:
            return
        self._length += len(data)
        if self.max_length and self._kept + len(data) > self.max_length + 1:
            data = data[:self.max_length + 1 - self._kept]
            self._cut = True
        if data:
            self._held.append(data)
            self._kept += len(data)

    def _reset(self, start: int) -> None:
        self.start = start
        self._held, self._kept, self._length, self._cut = [], 0, 0, False


class Flight:
    """One batch in the channel(s); `owner` is None once its file was reset under it."""

    __slots__ = ("end", "done", "owner")

    def __init__(self, end: int, owner: TailFile) -> None:
        self.end = end
        self.done = False
        self.owner: TailFile | None = owner

    def accept(self) -> bool:
        """Mark it acknowledged; True if its file's committed position moved."""
        self.done = True
        return self.owner is not None and self.owner.settle()


class TailFile:
    """A file followed by inode; `path` is its name when last seen (it may be renamed)."""

    def __init__(self, inode: int, path: str, group: object, pos: int, max_length: int = 0,
                 tally: collections.Counter[str] | None = None, now: float = 0.0) -> None:
        self.inode = inode
        self.path = path
        self.group = group
        self.max_length = max_length
        self.tally = tally if tally is not None else collections.Counter()
        self.fd: int | None = None
        self.matched = True  # False once renamed away, deleted, or a copy being finished
        self.failing = False  # the last open or read failed (warned about once)
        self.size = -1  # as last seen by stat
        self.mtime_ns = -1
        self.changed_at = now  # monotonic time of the last change seen
        self.flights: collections.deque[Flight] = collections.deque()
        self.committed = self.read_pos = pos
        self.cutter = LineCutter(pos, max_length, self.tally)
        self.ready: collections.deque[Line] = collections.deque()
        self.mark = b""

    # -- the file ---------------------------------------------------------------------------
    def open(self) -> None:
        """Open our path; OSError if it is not our inode any more."""
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        if os.fstat(fd).st_ino != self.inode:
            os.close(fd)
            raise FileNotFoundError(f"{self.path} is no longer inode {self.inode}")
        self.close()
        self.fd = fd

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def replaced(self) -> bool:
        """True if the bytes just before read_pos changed: truncated, then rewritten past it."""
        if self.fd is None or not self.mark:
            return False
        start = self.read_pos - len(self.mark)
        return os.pread(self.fd, len(self.mark), start) != self.mark

    def has_data(self) -> bool:
        return bool(self.ready) or (self.fd is not None and self.size > self.read_pos)

    # -- lines ------------------------------------------------------------------------------
    def take(self, count: int) -> list[Line]:
        """Up to `count` complete lines, reading at most TAKE_BYTES more of the file, so a
        huge file without newlines cannot stall the main loop (OSError escapes)."""
        limit = self.read_pos + TAKE_BYTES
        while len(self.ready) < count and self.fd is not None and self.read_pos < limit:
            data = os.pread(self.fd, READ_BYTES, self.read_pos)
            if not data:
                break
            self.read_pos += len(data)
            self.size = max(self.size, self.read_pos)
            self.mark = (self.mark + data[-MARK_BYTES:])[-MARK_BYTES:]
            self.ready.extend(self.cutter.feed(data))
        return [self.ready.popleft() for _ in range(min(count, len(self.ready)))]

    def flush(self) -> None:
        """Give up waiting for the unfinished line's newline: it becomes a line (Flume, idle)."""
        line = self.cutter.flush()
        if line is not None:
            self.ready.append(line)

    def launch(self, lines: list[Line]) -> Flight:
        flight = Flight(lines[-1].end, self)
        self.flights.append(flight)
        return flight

    def settle(self) -> bool:
        moved = False
        while self.flights and self.flights[0].done:
            self.committed = self.flights.popleft().end
            moved = True
        return moved

    def adopt(self, inode: int, path: str, fd: int) -> None:
        """Become the follower of another inode holding our bytes (a copytruncate copy)."""
        self.close()
        self.fd, self.inode, self.path = fd, inode, path
        self.matched = False

    def abandon(self) -> None:
        """Our inode now holds other bytes and no copy of ours was found: send what was read,
        the unfinished line included, and stop moving any position."""
        self.flush()
        self.close()
        for flight in self.flights:
            flight.owner = None
        self.flights.clear()
