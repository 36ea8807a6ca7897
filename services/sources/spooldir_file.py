"""The spool file being read: batches in flight, the acknowledged mark, and event headers.

Batches may be acknowledged out of order (a FULL answer retries one while the next goes
through), so the acknowledged mark moves only over the longest acknowledged prefix: a restart
never skips an unacknowledged line.

Event id (zflume; docs/architecture.md 7), header `eventIdHeaderKey` unless `eventIdHeader = false`:

    <origin>-<file>-<line>          e.g. 1f0c9a7e-5be2f06a11c3-311
    <origin>-<file>-<line>.<part>   second and later parts of a line split at maxLineLength

origin: `services.sources.eventids.origin` (host, agent, source); file: 12 hex digits
of a hash of the name relative to spoolDir, the inode, size and mtime when first picked up
(kept in the progress file); line: from 1. A file re-read after a crash gives the same ids; a
new file under a reused name, or on a reused inode, gets other ones.
"""
from __future__ import annotations

import collections
import hashlib
import os

from services.sources.spooldir_dir import Candidate
from services.sources.spooldir_progress import Progress
from services.sources.spooldir_reader import Event, LineReader, Mark


class Flight:
    """One batch in the channel(s), ending at `end`."""

    __slots__ = ("end", "done")

    def __init__(self, end: Mark) -> None:
        self.end = end
        self.done = False


class SpoolFile:
    """The file being read: its descriptor, reader and batches in flight."""

    def __init__(self, found: Candidate, fd: int, reader: LineReader, entry: Progress) -> None:
        self.found = found
        self.fd = fd
        self.reader = reader
        self.key = file_key(entry)
        self.flights: collections.deque[Flight] = collections.deque()

    def launch(self, events: list[Event]) -> Flight:
        flight = Flight(events[-1].after)
        self.flights.append(flight)
        return flight

    def settle(self) -> Mark | None:
        """The end of the longest acknowledged prefix of flights, if it moved."""
        end = None
        while self.flights and self.flights[0].done:
            end = self.flights.popleft().end
        return end

    def close(self) -> None:
        os.close(self.fd)


def file_key(entry: Progress) -> str:
    """What the ids of one file share: stable for that file, different for a reused name."""
    text = f"{entry.file}\0{entry.inode}\0{entry.size}\0{entry.mtime_ns}"
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=6).hexdigest()


class HeaderMaker:
    """The header dicts of one batch (fileHeader, basenameHeader, event id); None when none
    is configured. The interceptors run on them in the base class's submit()."""

    def __init__(self, file_key_name: str | None, base_key_name: str | None,
                 origin: str | None, id_key: str) -> None:
        self.file_key = file_key_name
        self.base_key = base_key_name
        self.origin = origin
        self.id_key = id_key

    def __call__(self, spool_file: SpoolFile, events: list[Event]
                 ) -> list[dict[str, str]] | None:
        given = None
        if self.file_key or self.base_key or self.origin:
            path = spool_file.found.path.encode("utf-8", "surrogateescape").decode("utf-8",
                                                                                   "replace")
            fixed = {}
            if self.file_key:
                fixed[self.file_key] = path
            if self.base_key:
                fixed[self.base_key] = os.path.basename(path)
            given = [dict(fixed) for _ in events]
            if self.origin:
                prefix = f"{self.origin}-{spool_file.key}-"
                for headers, event in zip(given, events, strict=True):
                    headers[self.id_key] = (f"{prefix}{event.line}.{event.part}" if event.part
                                            else f"{prefix}{event.line}")
        return given
