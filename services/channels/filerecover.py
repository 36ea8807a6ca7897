"""The file channel's checkpoint and its restart recovery.

    checkpoint = MAGIC | crc32 u32 | msgpack {"pos": [file, offset],
                                              "live": [[file, offset, [[first, count], ...]], ...],
                                              "seen": [[src, seq], ...]}

A checkpoint is the live state at one durable log position: which events of which PUT records
are not yet committed, and the recent (source, seq) pairs. It is written to a temporary file,
fsynced, renamed over the old one and the directory fsynced, so a crash leaves the old or the
new one, never half of either. Recovery reads it (or, without one, starts at the oldest log
file), fetches the live PUTs it names, then replays every record after its position. A record
that is torn or fails its checksum is reported with its file and offset and skipped; when
nothing readable follows it (a torn tail), the file is cut there so the records before it
survive and later reads are clean.
"""
from __future__ import annotations

import contextlib
import logging
import mmap
import os
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgpack

from services.channels.filelog import (
    CRC,
    MAGIC,
    MARK,
    PUT,
    SEEN,
    BadRecord,
    Put,
    Ref,
    fsync_dir,
    parse_commit,
    parse_put,
    parse_seen,
    pwrite_all,
    read_record,
)

CHECKPOINT = "checkpoint"
CHECKPOINT_MAGIC = b"ZFLCKP1\n"


@dataclass
class Live:
    """A PUT record with events not yet committed: one flag per event."""

    put: Put
    alive: bytearray


@dataclass
class Recovered:
    """What a restart found: live PUTs by position, recent puts, files, and the damage."""

    files: dict[int, str]
    live: dict[Ref, Live] = field(default_factory=dict)
    seen: list[tuple[bytes, int]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    checkpoint: Ref | None = None


# -- checkpoint -----------------------------------------------------------------------------
def write_checkpoint(directory: str, state: dict[str, Any]) -> None:
    """Replace the checkpoint atomically (temp file, fsync, rename, fsync dir); OSError if
    that failed, and then the previous checkpoint is still in place."""
    data = msgpack.packb(state, use_bin_type=True)
    path = os.path.join(directory, CHECKPOINT)
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            pwrite_all(fd, CHECKPOINT_MAGIC + CRC.pack(zlib.crc32(data)) + data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def read_checkpoint(directory: str) -> tuple[dict[str, Any] | None, str]:
    """(state, '') or (None, why not); no checkpoint yet is (None, '')."""
    path = os.path.join(directory, CHECKPOINT)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None, ""
    body = raw[len(CHECKPOINT_MAGIC) + CRC.size:]
    if not raw.startswith(CHECKPOINT_MAGIC) or len(raw) < len(CHECKPOINT_MAGIC) + CRC.size:
        return None, f"{path} is not a checkpoint"
    if CRC.unpack_from(raw, len(CHECKPOINT_MAGIC))[0] != zlib.crc32(body):
        return None, f"{path} fails its checksum"
    try:
        state = msgpack.unpackb(body, raw=False)
        state["pos"] = (int(state["pos"][0]), int(state["pos"][1]))
    except (ValueError, TypeError, KeyError, IndexError, msgpack.UnpackException) as exc:
        return None, f"{path} is malformed: {exc}"
    return state, ""


# -- replay ---------------------------------------------------------------------------------
def recover(files: dict[int, str], checkpoint_dir: str, log: logging.Logger) -> Recovered:
    """The live state after a restart, from the checkpoint and the logs after it."""
    replay = Replay(Recovered(dict(files)), log)
    state, problem = read_checkpoint(checkpoint_dir)
    if problem:
        replay.report(f"{problem}: replaying every log file instead")
    start: Ref = (min(files, default=0), 0)
    if state is not None and replay.load(state):
        start = state["pos"]
        replay.result.checkpoint = start
    replay.scan(start)
    return replay.result


class Replay:
    def __init__(self, result: Recovered, log: logging.Logger) -> None:
        self.result = result
        self.log = log

    def report(self, text: str) -> None:
        self.result.reports.append(text)
        self.log.warning("%s", text)

    def load(self, state: dict[str, Any]) -> bool:
        """Fetch the live PUTs a checkpoint names; False if it is unusable."""
        try:
            entries = [(int(f), int(o), [(int(a), int(b)) for a, b in spans])
                       for f, o, spans in state["live"]]
            seen = [(bytes(src), int(seq)) for src, seq in state["seen"]]
        except (KeyError, TypeError, ValueError) as exc:
            self.report(f"checkpoint is malformed ({exc}): replaying every log file instead")
            return False
        self.result.seen.extend(seen)
        for file_id, offset, spans in entries:
            path = self.result.files.get(file_id)
            if path is None:
                self._check_missing(file_id, spans)
                continue
            put = self._fetch(path, offset)
            if put is not None:
                alive = bytearray(put.n)
                for first, count in spans:
                    _mark(alive, first, count, 1)
                self.result.live[(file_id, offset)] = Live(put, alive)
        return True

    def _check_missing(self, file_id: int, spans: list[tuple[int, int]]) -> None:
        """Files go oldest first, once all their events are committed, and the newest stays:
        a named file missing while an older one (or none at all) is left was lost."""
        files = self.result.files
        if not files or min(files) < file_id:
            self.report(f"log-{file_id}, named by the checkpoint, is missing: "
                        f"{sum(count for _, count in spans)} events lost")

    def _fetch(self, path: str, offset: int) -> Put | None:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                kind, payload = read_record(f, os.fstat(f.fileno()).st_size)
                if kind != PUT:
                    raise BadRecord("checkpoint names a record that is not a PUT")
                return parse_put(payload)
        except (OSError, BadRecord) as exc:
            self.report(f"{path}: live record at offset {offset} unreadable ({exc}); its events "
                        f"are lost")
            return None

    def scan(self, start: Ref) -> None:
        for file_id, path in self.result.files.items():
            if file_id >= start[0]:
                self._scan_file(file_id, path, start[1] if file_id == start[0] else 0)

    def _scan_file(self, file_id: int, path: str, offset: int) -> None:
        with open(path, "r+b") as f:
            end = os.fstat(f.fileno()).st_size
            if offset == 0:
                if f.read(len(MAGIC)) != MAGIC:
                    self.report(f"{path}: not a log file or torn at creation ({end} bytes); "
                                f"skipped")
                    return
                offset = len(MAGIC)
            while offset < end:
                f.seek(offset)
                try:
                    kind, payload = read_record(f, end)
                    self._apply(kind, payload, (file_id, offset))
                    offset = f.tell()
                except BadRecord as exc:
                    offset = self._skip(f, path, offset, end, exc)

    def _skip(self, f: BinaryIO, path: str, offset: int, end: int, exc: BadRecord) -> int:
        """Step over a bad stretch if a whole record follows it, else cut the file there."""
        after = _next_good(f, offset, end)
        if after is not None:
            self.report(f"{path}: bad record at offset {offset} ({exc}); skipped "
                        f"{after - offset} bytes, the records after it are kept")
            return after
        self.report(f"{path}: bad record at offset {offset} ({exc}); the file is cut there "
                    f"({end - offset} bytes dropped), the records before it are kept")
        try:
            f.truncate(offset)
            os.fsync(f.fileno())
        except OSError as cut:
            self.report(f"{path}: cannot cut at offset {offset}: {cut}")
        return end

    def _apply(self, kind: int, payload: bytes, ref: Ref) -> None:
        result = self.result
        if kind == PUT:
            put = parse_put(payload)
            result.live[ref] = Live(put, bytearray(b"\x01") * put.n)
            result.seen.append((put.src, put.seq))
        elif kind == SEEN:
            result.seen.extend(parse_seen(payload))
        else:
            for file_id, offset, first, count in parse_commit(payload):
                live = result.live.get((file_id, offset))
                if live is not None:
                    _mark(live.alive, first, count, 0)
                    if not any(live.alive):
                        del result.live[(file_id, offset)]


def _next_good(f: BinaryIO, offset: int, end: int) -> int | None:
    """Where the first whole record after a bad one starts, found by its MARK, so that even
    a corrupt length field costs only the damaged record."""
    with mmap.mmap(f.fileno(), end, access=mmap.ACCESS_READ) as view:
        at = view.find(MARK, offset + 1)
        while at >= 0:
            f.seek(at)
            try:
                read_record(f, end)
                return at
            except BadRecord:
                at = view.find(MARK, at + 1)
    return None


def _mark(flags: bytearray, first: int, count: int, value: int) -> None:
    """Set one flag per event of a span, clamped to the record: a bad span cannot grow it."""
    first, stop = max(0, first), min(len(flags), first + count)
    flags[first:stop] = bytes([value]) * max(0, stop - first)


def runs(flags: bytearray) -> list[tuple[int, int]]:
    """(first, count) of each stretch of set flags."""
    out = []
    start = flags.find(1)
    while start >= 0:
        stop = flags.find(0, start)
        stop = len(flags) if stop < 0 else stop
        out.append((start, stop - start))
        start = flags.find(1, stop)
    return out
