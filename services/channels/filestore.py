"""The file channel's store: the memory channel's queue rules over a write-ahead log.

Every PUT is appended to the log (services.channels.filelog) before it joins the queue, and every
COMMIT before its events are dropped, so the queue can be rebuilt after a crash
(services.channels.filerecover). Appends are not yet durable: the channel calls `sync` once
per burst of requests and only then answers them (group commit). Leases are not logged.

Log files are deleted oldest first, once none of their PUTs has an event left. A COMMIT record
always follows the PUTs it names, so the files that remain replay correctly even without the
checkpoint; the checkpoint only saves reading them from the start.
"""
from __future__ import annotations

import fcntl
import itertools
import logging
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import IO, Any, Callable

from proto import batch
from proto.batch import Blob
from proto.errors import ZflumeError
from services.channels.filelog import (
    LogWriteError,
    LogWriter,
    Put,
    Ref,
    commit_record,
    list_logs,
    put_record,
    seen_record,
)
from services.channels.filerecover import Recovered, recover, runs, write_checkpoint
from services.channels.store import Chunk, MemoryStore, Txn

MAX_FILE_SIZE = 2146435071  # Flume's default and ceiling for maxFileSize
MIN_FREE_FLOOR = 1024 * 1024  # Flume never lets minimumRequiredSpace go below 1 MB
LOCK_FILE = "in_use.lock"  # Flume's name


class DirectoryError(ZflumeError, ValueError):
    """A checkpoint or data directory the channel cannot have (in use, not creatable)."""


@dataclass
class FileSettings:
    checkpoint_dir: str
    data_dirs: list[str]
    capacity: int
    lease_s: float
    max_file_size: int
    min_free: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FileSettings:
        """Flume's keys, `~` expanded, maxFileSize clamped and minimumRequiredSpace floored."""
        return cls(_expand(params["checkpointDir"]), [_expand(d) for d in params["dataDirs"]],
                   int(params["capacity"]), float(params["lease-timeout"]),
                   min(int(params["maxFileSize"]), MAX_FILE_SIZE),
                   max(int(params["minimumRequiredSpace"]), MIN_FREE_FLOOR))


def _expand(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def free_bytes(path: str) -> int:
    """Space an unprivileged writer may still use on the file system of `path`."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def lock_dirs(paths: list[str]) -> list[IO[str]]:
    """Create (0700) and hold each directory, so two channels can never share one."""
    handles: list[IO[str]] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in paths):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            handle = open(os.path.join(path, LOCK_FILE), "a+")
        except OSError as exc:
            raise DirectoryError(f"cannot use {path}: {exc}") from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip()
            for held in [handle, *handles]:
                held.close()
            raise DirectoryError(f"{path} is in use by another file channel (pid {holder or '?'}):"
                                 f" each file channel needs its own checkpointDir and dataDirs"
                                 ) from exc
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        handles.append(handle)
    return handles


def sub_blob(put: Put, first: int, count: int) -> bytes:
    """Events first..first+count-1 of a PUT's batch (the whole blob when that is all of it)."""
    blob = put.blob
    if first:
        blob = batch.split(blob, first)[1]
    if count < put.n - first:
        blob = batch.split(blob, count)[0]
    return blob


class FileStore(MemoryStore):
    """Queue + leases + dedupe of one file channel, backed by its log and checkpoint."""

    def __init__(self, inc: bytes, settings: FileSettings, clock: Callable[[], float],
                 log: logging.Logger) -> None:
        super().__init__(inc, settings.capacity, 0, settings.lease_s, clock)
        self.settings = settings
        self.log = log
        self._locks = lock_dirs([settings.checkpoint_dir, *settings.data_dirs])
        self.live: dict[Ref, int] = {}  # PUT record -> its events not yet committed
        self.file_records: Counter[int] = Counter()  # log file -> its PUTs with events left
        self.stats: Counter[str] = Counter(EventPutErrorCount=0)
        self.unhealthy = ""  # why the last put could not be written, until one is
        self.recovered = recover(list_logs(settings.data_dirs), settings.checkpoint_dir, log)
        self._load(self.recovered)
        checkpoint_file = self.recovered.checkpoint[0] if self.recovered.checkpoint else 0
        last_id = max([checkpoint_file, *self.recovered.files])
        self.wal = LogWriter(settings.data_dirs, self.recovered.files, last_id,
                             settings.max_file_size, lambda: seen_record(self.recent_puts()), log)
        self.checkpointed: Ref | None = self.recovered.checkpoint
        self.sync()

    def _load(self, recovered: Recovered) -> None:
        """Queue the recovered events in log order, each live stretch as one chunk."""
        for src, seq in recovered.seen:
            self.remember_put(src, seq)
        for ref, live in sorted(recovered.live.items()):
            put = live.put
            for first, count in runs(live.alive):
                try:
                    blob = sub_blob(put, first, count)
                except batch.BatchError as exc:
                    recovered.reports.append(f"log file {ref[0]} offset {ref[1]}: {exc}")
                    self.log.warning("log file %d offset %d: %s", ref[0], ref[1], exc)
                    continue
                self._track(ref, count)
                self.add(Chunk(blob, count, put.nbytes * count // put.n, ref, first),
                         put.src, put.seq)

    # -- the store rules, with the log ----------------------------------------------------------
    def fits(self, n: int, nbytes: int) -> str:
        """Capacity as the memory store, then the free space left on the log's disk."""
        reason = super().fits(n, nbytes)
        if reason:
            return reason
        directory = self.wal.directory
        free = free_bytes(directory)
        if free - nbytes < self.settings.min_free:
            return (f"disk space below minimumRequiredSpace: {free} bytes free in {directory}, "
                    f"{self.settings.min_free} required")
        return ""

    def _keep(self, src: bytes, seq: int, blob: Blob, n: int, nbytes: int) -> str:
        """Write the PUT record before queueing; a write error refuses the put with its reason."""
        try:
            ref = self.wal.append(put_record(src, seq, n, nbytes, blob))
        except LogWriteError as exc:
            self.stats["EventPutErrorCount"] += n
            if not self.unhealthy:
                self.log.error("puts refused: %s", exc)
            self.unhealthy = str(exc)
            return str(exc)
        if self.unhealthy:
            self.log.info("puts written again")
            self.unhealthy = ""
        self._track(ref, n)
        self.add(Chunk(blob, n, nbytes, ref, 0), src, seq)
        return ""

    def commit(self, txn: Txn) -> bool:
        """Log which events leave, then drop them; a failed write rolls the lease back."""
        lease = self.leases.get(txn)
        if lease is None:
            return super().commit(txn)
        spans = [(*chunk.origin, chunk.first, chunk.n) for chunk in lease.chunks
                 if chunk.origin is not None]
        try:
            self.wal.append(commit_record(spans))
        except LogWriteError as exc:
            self.log.error("commit of transaction %d not written (%s): its events go back to "
                           "the queue", txn[1], exc)
            self.rollback(txn)
            return False
        super().commit(txn)
        for file_id, offset, _, count in spans:
            self._consume((file_id, offset), count)
        return True

    def _track(self, ref: Ref, count: int) -> None:
        if ref not in self.live:
            self.file_records[ref[0]] += 1
        self.live[ref] = self.live.get(ref, 0) + count

    def _consume(self, ref: Ref, count: int) -> None:
        left = self.live[ref] - count
        if left:
            self.live[ref] = left
            return
        del self.live[ref]
        self.file_records[ref[0]] -= 1
        if not self.file_records[ref[0]]:
            del self.file_records[ref[0]]

    # -- durability -----------------------------------------------------------------------------
    def sync(self) -> bool:
        """Make every appended record durable (OSError: the caller must not go on), then delete
        the log files no longer needed. Returns whether anything was written since last time."""
        if not self.wal.sync():
            return False
        for file_id in list(self.wal.files):
            if file_id == self.wal.file_id or self.file_records.get(file_id):
                break
            if not self.wal.delete(file_id):
                break
        return True

    def checkpoint(self) -> None:
        """Write the live state at the log's position; call right after `sync`. OSError if the
        checkpoint could not be written (the previous one stays valid)."""
        spans: defaultdict[Ref, list[list[int]]] = defaultdict(list)
        leased = (lease.chunks for lease in self.leases.values())
        for chunk in itertools.chain(self.queue, *leased):
            if chunk.origin is not None:
                spans[chunk.origin].append([chunk.first, chunk.n])
        position = self.wal.position()
        write_checkpoint(self.settings.checkpoint_dir, {
            "pos": list(position),
            "live": [[f, o, sorted(s)] for (f, o), s in sorted(spans.items())],
            "seen": [[src, seq] for src, seq in self.recent_puts()]})
        self.checkpointed = position

    def close(self) -> None:
        self.wal.close()
        for handle in self._locks:
            handle.close()
