"""The spooldir source's progress file: where each unfinished file resumes after a restart.

    <trackerDir>/.zflume-progress.json
    [{"file":"app-1.log","inode":2496272,"size":8811,"mtime_ns":1700000000123456789,
      "pos":4096,"line":311,"part":0}]

One entry per file picked up and not yet marked done: its name relative to spoolDir, its inode,
size and modification time when first picked up (a file that differs from them when finished
was modified under us), and the acknowledged `Mark` (byte offset, line number, parts of that
line sent). An entry is advanced only over batches every required channel acknowledged and is
removed once the file is renamed, deleted or recorded as done. Entries of files that failed
(a line that does not decode, a reused name) stay, so a restart resumes them where they
stopped instead of sending their good lines again.

Flume keeps the same thing in `.flumespool-main.meta` (an Avro file, one file at a time); ours
is JSON under another name so neither reads the other's. A kill -9 leaves the old or the new
content, never half (see ProgressBook for how).
"""
from __future__ import annotations

import collections
import json
import logging
import os
from typing import Any, NamedTuple

from proto.errors import ZflumeError
from services.sources.jsonlist import load_entries
from services.sources.spooldir_reader import Mark
from services.sources.taildir_position import write

FILE_NAME = ".zflume-progress.json"
PAGE_BYTES = 4096  # an in-place write up to this long is whole or absent after a kill -9
_FIELDS = ("file", "inode", "size", "mtime_ns", "pos", "line", "part")


class Progress(NamedTuple):
    file: str  # relative to spoolDir
    inode: int
    size: int  # when first picked up
    mtime_ns: int
    pos: int
    line: int
    part: int

    @property
    def mark(self) -> Mark:
        return Mark(self.pos, self.line, self.part)

    def moved(self, mark: Mark) -> Progress:
        return self._replace(pos=mark.pos, line=mark.line, part=mark.part)


class ProgressFileError(ZflumeError, ValueError):
    """A progress file that is not a JSON array."""


def dumps(entries: list[Progress]) -> str:
    # ASCII escapes: a file name that is not UTF-8 (bytes kept as lone surrogates) reads back
    return json.dumps([e._asdict() for e in entries], separators=(",", ":"))


def loads(text: str) -> tuple[list[Progress], list[str]]:
    """The entries, and a reason for each one skipped."""
    return load_entries(text, _entry, ProgressFileError)


def _entry(item: object) -> Progress | None:
    if not isinstance(item, dict) or not isinstance(item.get("file"), str):
        return None
    numbers: list[Any] = [item.get(key) for key in _FIELDS[1:]]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        return None
    entry = Progress(item["file"], *numbers)
    return entry if entry.line >= 1 else None


def read(path: str) -> tuple[list[Progress], list[str]]:
    """Entries of the file at `path`; none if it does not exist. Raises ProgressFileError."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return loads(handle.read())
    except FileNotFoundError:
        return [], []


class ProgressBook:
    """The entries of the unfinished files, and the file that keeps them across restarts.

    The file is saved after nearly every acknowledged batch, so the cheap way is used when it
    can be: one `pwrite` over the open file at offset 0, padded with blanks to the length
    written before (JSON allows them), so no truncation is needed. The kernel copies one page
    whole or not at all when the process is killed, so that holds against kill -9; a text
    longer than a page, the first save and every durable save (fsynced, every few seconds and
    at stop) replace the file instead (temp + rename), which also drops the padding. A power
    cut may tear an in-place write: the file then does not load, which is counted and only
    means reading those files again from their start.

    Saving counts a failure in `tally["GenericProcessingFail"]` and logs once per outage;
    reading goes on (a restart would only re-read more).
    """

    def __init__(self, path: str, tally: collections.Counter[str],
                 logger: logging.Logger) -> None:
        self.path = path
        self.tally = tally
        self.log = logger
        self.entries: dict[str, Progress] = {}  # relative name -> entry
        self.last_written = self.last_synced = ""
        self.failing = False
        self.fd: int | None = None  # the file as last replaced, for in-place writes
        self.size = 0  # bytes in it

    def load(self, directory: str) -> None:
        """Read the file; entries whose file is gone (done, removed, replaced) are dropped."""
        try:
            entries, skipped = read(self.path)
        except (OSError, ProgressFileError) as exc:
            self.tally["GenericProcessingFail"] += 1
            self.log.error("Failed loading progress file %s: %s; files start from the "
                           "beginning", self.path, exc)
            return
        for reason in skipped:
            self.log.warning("progress file %s: %s", self.path, reason)
        for entry in entries:
            try:
                inode = os.stat(os.path.join(directory, entry.file)).st_ino
            except OSError:
                inode = -1
            if inode == entry.inode:
                self.entries[entry.file] = entry
            else:
                self.log.info("progress entry for %s dropped: the file is gone", entry.file)

    def save(self, durable: bool) -> None:
        """Write the entries if they changed since the last write (since the last fsync)."""
        text = dumps(sorted(self.entries.values()))
        if text == (self.last_synced if durable else self.last_written):
            return
        try:
            if durable or not self._overwrite(text.encode()):
                self._replace(text, durable)
        except OSError as exc:
            self.tally["GenericProcessingFail"] += 1
            if not self.failing:
                self.log.error("Failed writing progress file %s: %s", self.path, exc)
            self.failing = True
            return
        if self.failing:
            self.failing = False
            self.log.info("progress file %s written again", self.path)
        self.last_written = text
        if durable:
            self.last_synced = text

    def _overwrite(self, data: bytes) -> bool:
        """One pwrite over the open file; False if that cannot be done atomically."""
        data = data.ljust(self.size, b" ")
        if self.fd is None or len(data) > PAGE_BYTES:
            return False
        if os.pwrite(self.fd, data, 0) != len(data):
            return False
        self.size = len(data)
        return True

    def _replace(self, text: str, durable: bool) -> None:
        self.close()
        write(self.path, text, durable)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        self.size = len(text.encode())

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
