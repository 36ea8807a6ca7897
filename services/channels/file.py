"""The file channel process: the memory channel's protocol over a durable store.

    a1.channels.c1.type = file
    a1.channels.c1.checkpointDir = ~/.flume/file-channel/checkpoint
    a1.channels.c1.dataDirs = /disk1/flume/data,/disk2/flume/data
    a1.channels.c1.minimumRequiredSpace = 524288000

A PUT_OK, or the OK of a COMMIT, leaves only once the record it answers is on disk: such
replies wait until the end of the burst of requests being served, when one fsync covers every
record the burst wrote (group commit). A failed fsync ends the process and supervisord restarts
it: after one the kernel may have dropped the pages it could not write, so the only truth left
is what recovery reads back (the lesson of PostgreSQL's "fsyncgate").

Where this differs from Flume's FileChannel: takes are leased as in the memory channel, not
logged (a crash queues leased events again); capacity counts leased events; below
minimumRequiredSpace only puts stop, because takes and commits are what frees the disk. Queued
events are kept in memory too (the log is read back only at a restart), so, unlike Flume's,
this channel needs RAM for what it holds.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from services import counters
from services.channels.filestore import FileSettings, FileStore
from services.channels.memory import MemoryChannel
from services.config.model import AgentConfig

EXIT_SYNC_FAILED = 74  # EX_IOERR
STOP_GRACE_S = 2.0  # on stop, how long routers get to commit what they hold


class FileChannel(MemoryChannel):
    EXTRA_COUNTERS = counters.FILE_CHANNEL

    store: FileStore

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        self.replies: list[tuple[list[Any], list[Any]]] = []  # held until their records sync
        super().__init__(agent, name, run_dir)
        params = agent.channels[name].params
        self.checkpoint_on_close = bool(params["checkpointOnClose"])
        self.checkpoint_failing = False
        self.stop_started = 0.0
        self.every(params["checkpointInterval"] / 1000.0, self._checkpoint)
        self._report_recovery()

    def make_store(self, params: dict[str, Any]) -> FileStore:
        return FileStore(self.inc, FileSettings.from_params(params), time.monotonic, self.log)

    def _report_recovery(self) -> None:
        recovered = self.store.recovered
        where = ("from the checkpoint at log-%d offset %d" % recovered.checkpoint
                 if recovered.checkpoint else "by replaying every log file")
        self.log.info("recovered %d events %s; %d problem(s) reported", self.store.held, where,
                      len(recovered.reports))
        self.counters.update({"Open": 1, "Unhealthy": 0, "CheckpointWriteErrorCount": 0,
                              "LogSyncCount": 0, "RecoveredEventCount": self.store.held,
                              "CorruptRecordCount": len(recovered.reports)})

    # -- group commit ---------------------------------------------------------------------------
    def _durable(self, envelope: list[Any], frames: list[Any]) -> None:
        self.replies.append((envelope, frames))

    def _flush(self) -> None:
        """One fsync for everything this burst wrote, then the replies it made durable."""
        try:
            synced = self.store.sync()
        except OSError as exc:
            self.log.critical("fsync of the log failed (%s): exiting without answering %d "
                              "request(s); the restarted channel recovers what is on disk",
                              exc, len(self.replies))
            logging.shutdown()
            os._exit(EXIT_SYNC_FAILED)
        if synced:
            self.counters["LogSyncCount"] += 1
        replies, self.replies = self.replies, []
        for envelope, frames in replies:
            self._send(envelope, frames)

    def _checkpoint(self) -> None:
        if self.store.wal.position() == self.store.checkpointed:
            return
        self._flush()
        try:
            self.store.checkpoint()
        except OSError as exc:
            self.counters["CheckpointWriteErrorCount"] += 1
            if not self.checkpoint_failing:
                self.log.warning("checkpoint not written (%s); the previous one still holds, "
                                 "restarts replay more", exc)
            self.checkpoint_failing = True
            return
        self.checkpoint_failing = False

    # -- stop -----------------------------------------------------------------------------------
    def _serve_takes(self) -> None:
        if not self.stopping:  # stopping: what is queued stays on disk for the next start
            super()._serve_takes()

    def begin_stop(self) -> None:
        self.stop_started = time.monotonic()

    def drained(self) -> bool:
        """Everything is on disk; give routers a moment to commit what they hold."""
        return not self.store.leases or time.monotonic() - self.stop_started > STOP_GRACE_S

    def close(self) -> None:
        self._flush()
        self._answer_waiting_takes()
        if self.checkpoint_on_close:
            self._checkpoint()
        self.store.close()
        self.log.info("stopped with %d events kept on disk", self.store.held)

    def stats(self) -> dict[str, Any]:
        for key, value in self.store.stats.items():
            self.counters[key] = value
        self.counters["Unhealthy"] = int(bool(self.store.unhealthy))
        self.counters["LogFileCount"] = len(self.store.wal.files)
        return super().stats()
