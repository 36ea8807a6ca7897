"""The file channel's write-ahead log: framed records appended to numbered files.

    file    MAGIC (8 bytes), a SEEN record, then records. Named `log-<id>`, in
            dataDirs[id % len(dataDirs)]; ids only grow: a new file at each roll and each start.
    record  MARK (4 bytes) | crc u32 | length u32 | type u8 | payload        (little endian)
            The crc32 covers length, type and payload, so a torn tail, a flipped byte and a
            flipped length all fail it; MARK lets recovery find the next whole record after a
            damaged one.
    PUT     srclen u32 | src | seq u64 | n u32 | nbytes u64 | blob    (the batch as it arrived)
    COMMIT  (file u32 | offset u64 | first u32 | count u32)*    `count` events from the
            `first`th of the PUT at (file, offset) are gone for good
    SEEN    msgpack [[src, seq], ...]    the recent puts when the file was opened, so dedupe
            outlives the deletion of the files that held them

Takes are not logged: after a crash, leased events are queued again (at-least-once). Appends go
to the page cache; `sync` makes all of them durable with one fdatasync per file touched (the
group commit) and an fsync of each directory that gained or lost a file.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable

import msgpack

from proto.batch import Blob
from proto.errors import ZflumeError

MAGIC = b"ZFLLOG1\n"
MARK = b"\x8eZFR"
CRC = struct.Struct("<I")
LEN_TYPE = struct.Struct("<IB")
HEAD_SIZE = len(MARK) + CRC.size + LEN_TYPE.size
SRC_LEN = struct.Struct("<I")
PUT_META = struct.Struct("<QIQ")
SPAN = struct.Struct("<IQII")
PUT, COMMIT, SEEN = 1, 2, 3
KINDS = frozenset((PUT, COMMIT, SEEN))

Ref = tuple[int, int]  # (log file id, offset of a PUT record): where a batch lives
Span = tuple[int, int, int, int]  # (file id, offset, first event, count)


class BadRecord(ZflumeError):
    """A record that is torn, corrupt or not ours; the reason says which."""


class LogWriteError(ZflumeError):
    """An append that did not happen (disk full, I/O error); the log is left clean."""


@dataclass
class Put:
    src: bytes
    seq: int
    n: int
    nbytes: int
    blob: bytes


# -- records --------------------------------------------------------------------------------
def frame(kind: int, *parts: Blob) -> bytes:
    """One record: the crc is computed over the parts without joining them first."""
    prefix = LEN_TYPE.pack(sum(map(len, parts)), kind)
    crc = zlib.crc32(prefix)
    for part in parts:
        crc = zlib.crc32(part, crc)
    return b"".join([MARK, CRC.pack(crc), prefix, *parts])


def put_record(src: bytes, seq: int, n: int, nbytes: int, blob: Blob) -> bytes:
    return frame(PUT, SRC_LEN.pack(len(src)) + src + PUT_META.pack(seq, n, nbytes), blob)


def commit_record(spans: Iterable[Span]) -> bytes:
    return frame(COMMIT, b"".join(SPAN.pack(*span) for span in spans))


def seen_record(pairs: Iterable[tuple[bytes, int]]) -> bytes:
    return frame(SEEN, msgpack.packb([[src, seq] for src, seq in pairs], use_bin_type=True))


def read_record(f: BinaryIO, end: int) -> tuple[int, bytes]:
    """(type, payload) of the record at the file's position; BadRecord if it is not whole."""
    start = f.tell()
    head = f.read(HEAD_SIZE)
    if len(head) < HEAD_SIZE:
        raise BadRecord(f"truncated header ({len(head)} of {HEAD_SIZE} bytes)")
    if not head.startswith(MARK):
        raise BadRecord("no record starts here")
    (crc,) = CRC.unpack_from(head, len(MARK))
    length, kind = LEN_TYPE.unpack_from(head, HEAD_SIZE - LEN_TYPE.size)
    if start + HEAD_SIZE + length > end:
        raise BadRecord(f"record of {length} bytes runs past the end of the file")
    payload = f.read(length)
    if zlib.crc32(payload, zlib.crc32(head[HEAD_SIZE - LEN_TYPE.size:])) != crc:
        raise BadRecord("checksum mismatch")
    if kind not in KINDS:
        raise BadRecord(f"unknown record type {kind}")
    return kind, payload


def parse_put(payload: bytes) -> Put:
    try:
        (srclen,) = SRC_LEN.unpack_from(payload)
        meta = SRC_LEN.size + srclen
        seq, n, nbytes = PUT_META.unpack_from(payload, meta)
    except struct.error as exc:
        raise BadRecord(f"malformed PUT: {exc}") from exc
    return Put(payload[SRC_LEN.size:meta], seq, n, nbytes, payload[meta + PUT_META.size:])


def parse_commit(payload: bytes) -> list[Span]:
    if len(payload) % SPAN.size:
        raise BadRecord(f"malformed COMMIT of {len(payload)} bytes")
    return list(SPAN.iter_unpack(payload))


def parse_seen(payload: bytes) -> list[tuple[bytes, int]]:
    try:
        pairs = msgpack.unpackb(payload, raw=False)
        return [(bytes(src), int(seq)) for src, seq in pairs]
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadRecord(f"malformed SEEN: {exc}") from exc


# -- files ----------------------------------------------------------------------------------
def log_path(dirs: list[str], file_id: int) -> str:
    return os.path.join(dirs[file_id % len(dirs)], f"log-{file_id}")


def list_logs(dirs: list[str]) -> dict[int, str]:
    """Every log file in the data dirs by id, wherever an earlier dataDirs order put it."""
    found = {}
    for directory in dirs:
        for name in os.listdir(directory):
            number = name[4:]
            if name.startswith("log-") and number.isdigit():
                found[int(number)] = os.path.join(directory, name)
    return dict(sorted(found.items()))


def fsync_dir(path: str) -> None:
    """Make a directory's entries (a new, renamed or deleted file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite may write less than asked (a full disk fills up mid-record); finish or raise."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if not written:
            raise OSError(errno.EIO, "write made no progress")
        view, offset = view[written:], offset + written


class LogWriter:
    """Appends records to the newest log file, rolls at max_file_size, syncs in groups."""

    def __init__(self, dirs: list[str], files: dict[int, str], last_id: int, max_file_size: int,
                 header: Callable[[], bytes], log: logging.Logger) -> None:
        self.dirs = dirs
        self.files = files  # every log file on disk by id, the replayed ones included
        self.max_file_size = max_file_size
        self._header = header  # the records that open each file (SEEN)
        self._log = log
        self._rolled: list[int] = []  # fds of files rolled away from, still to be synced
        self._dirty_dirs: set[str] = set()
        self.fd = -1
        self.file_id = last_id  # the new file gets the next id: never one used before
        self.offset = self._first_record = 0
        self.dirty = False
        self.broken = False  # a torn record could not be cut: the next record needs a new file
        self._roll()

    def position(self) -> Ref:
        return self.file_id, self.offset

    @property
    def directory(self) -> str:
        """Where the next record goes, so where free space matters."""
        return os.path.dirname(self.files[self.file_id])

    def append(self, record: bytes) -> Ref:
        """Write one record; LogWriteError leaves no partial record behind to break replay."""
        too_big = self.offset + len(record) > self.max_file_size
        if self.broken or (too_big and self.offset > self._first_record):
            self._roll()
        start = self.offset
        try:
            pwrite_all(self.fd, record, start)
        except OSError as exc:
            self._cut(start)
            raise LogWriteError(f"cannot write to {self.files[self.file_id]}: {exc}") from exc
        self.offset += len(record)
        self.dirty = True
        return self.file_id, start

    def _cut(self, start: int) -> None:
        try:
            os.ftruncate(self.fd, start)
        except OSError as exc:
            self._log.error("cannot cut a torn record in %s at %d (%s); continuing in a new "
                            "file, recovery will cut it", self.files[self.file_id], start, exc)
            self.broken = True

    def _roll(self) -> None:
        """Open the next file; on failure the current one stays (LogWriteError)."""
        file_id = self.file_id + 1
        path = log_path(self.dirs, file_id)
        head = MAGIC + self._header()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise LogWriteError(f"cannot create {path}: {exc}") from exc
        try:
            pwrite_all(fd, head, 0)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise LogWriteError(f"cannot write to {path}: {exc}") from exc
        if self.fd >= 0:
            self._rolled.append(self.fd)
        self.fd, self.file_id, self.offset = fd, file_id, len(head)
        self._first_record, self.files[file_id] = len(head), path
        self._dirty_dirs.add(os.path.dirname(path))
        self.dirty, self.broken = True, False

    def sync(self) -> bool:
        """Make every record appended so far durable; OSError here is fatal to the caller.
        Returns whether there was anything to sync."""
        if not (self.dirty or self._rolled or self._dirty_dirs):
            return False
        for fd in self._rolled:
            os.fdatasync(fd)
            os.close(fd)
        self._rolled.clear()
        if self.dirty:
            os.fdatasync(self.fd)
            self.dirty = False
        for path in sorted(self._dirty_dirs):
            fsync_dir(path)
        self._dirty_dirs.clear()
        return True

    def delete(self, file_id: int) -> bool:
        """Remove a log file none of whose events is needed any more; False if that failed."""
        path = self.files[file_id]
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._log.warning("cannot delete log file %s: %s", path, exc)
            return False
        del self.files[file_id]
        self._dirty_dirs.add(os.path.dirname(path))
        return True

    def close(self) -> None:
        for fd in [*self._rolled, self.fd]:
            if fd >= 0:
                os.close(fd)
        self._rolled.clear()
        self.fd = -1
