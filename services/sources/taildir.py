"""The TAILDIR source: follow files by inode, one event per line, positions in Flume's JSON.

    a.sources.s.type = TAILDIR
    a.sources.s.filegroups = f1
    a.sources.s.filegroups.f1 = /var/log/app/.*\\\\.log
    a.sources.s.headers.f1.service = app
    a.sources.s.positionFile = ~/.flume/taildir_position.json

What a line goes through (docs/flume.md 4.6; file life cycle in `taildir_tailer`):

    read -> batch of <= batchSize lines -> submit (base: PUT, FULL -> same batch again)
         -> every required channel acknowledged -> the file's position moves past the batch
         -> position file rewritten (temp + rename) at the end of that loop turn

So the position file never names a line the channel does not hold, and a kill -9 re-reads only
batches that were in flight (at most the base class's window). The same file is also fsynced
every writePosInterval and at stop, which bounds what a power cut re-reads. SIGTERM stops
reading, waits for the batches in flight to be acknowledged, writes the file and exits; lines
read but not sent are simply read again next time.

Polling, not inotify: each scan stats the matched files; a scan that found nothing new doubles
the wait before the next one, from min(backoffSleepIncrement, 250 ms) up to maxBackoffSleep
(Flume sleeps 1 s growing to 5 s); a scan or an acknowledgement that yields data resets it.

A position file that cannot be read is logged (GenericProcessingFail) and every file starts as
if new, as in Flume; bad entries in it are skipped one by one (Flume gives up on the rest).

Headers per event: the group's `headers.<g>.*`, `fileHeaderKey` (the absolute path, non-UTF-8
bytes replaced) with `fileHeader`, `byteoffset` (offset of the line's first byte) with
`byteOffsetHeader`, and zflume's event id (below); the base class then runs the source's
interceptors over them.

Event id (zflume; docs/architecture.md 7): header `eventIdHeaderKey` (default `eventId`) unless
`eventIdHeader = false`: `<origin>-<inode>-<offset>-<crc32 of the body>`, origin being 8 hex
digits of a hash of host, agent and source name. It is fixed by the input position, so a batch
read again after a crash carries the same ids; the body's checksum tells apart two lines at the
same offset of a file that was truncated in between.
"""
from __future__ import annotations

import socket
import zlib
from typing import Any

from services.backoff import Backoff
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.eventids import origin
from services.sources.taildir_file import Flight, Line, TailFile
from services.sources.taildir_match import FileGroup, groups_from
from services.sources.taildir_position import (
    Position,
    PositionFileError,
    dumps,
    expand,
    read,
    write,
)
from services.sources.taildir_tailer import Tailer

POLL_START_MS = 250  # the first wait after an empty scan, if backoffSleepIncrement is larger
BYTE_OFFSET_HEADER = "byteoffset"


class EventIds:
    """Stable ids from an input position: same origin, inode, offset and body, same id."""

    def __init__(self, host: str, agent: str, source: str) -> None:
        self.prefix = origin(agent, source, host)

    def make(self, inode: int, line: Line) -> str:
        return f"{self.prefix}-{inode}-{line.offset}-{zlib.crc32(line.body):08x}"


class HeaderMaker:
    """The header dicts of one batch, or None when no header is configured at all."""

    def __init__(self, params: dict[str, Any], ids: EventIds | None) -> None:
        self.file_key = params["fileHeaderKey"] if params["fileHeader"] else None
        self.byte_offset = bool(params["byteOffsetHeader"])
        self.ids = ids
        self.id_key = params["eventIdHeaderKey"]

    def __call__(self, tf: TailFile, lines: list[Line]) -> list[dict[str, str]] | None:
        group: FileGroup = tf.group  # type: ignore[assignment]
        if not (group.headers or self.file_key or self.byte_offset or self.ids):
            return None
        path = tf.path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        out = []
        for line in lines:
            headers = dict(group.headers)
            if self.file_key:
                headers[self.file_key] = path
            if self.byte_offset:
                headers[BYTE_OFFSET_HEADER] = str(line.offset)
            if self.ids:
                headers[self.id_key] = self.ids.make(tf.inode, line)
            out.append(headers)
        return out


class TaildirSource(SourceProcess):
    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.tailer = Tailer(groups_from(p), skip_to_end=p["skipToEnd"],
                             idle_timeout_s=p["idleTimeout"] / 1000.0,
                             batch_size=p["batchSize"], max_batch_count=p["maxBatchCount"],
                             max_line_length=p["maxLineLength"],
                             cache=p["cachePatternMatching"], logger=self.log)
        ids = (EventIds(socket.gethostname(), agent.name, name)
               if p["eventIdHeader"] else None)
        self.headers = HeaderMaker(p, ids)
        self.position_file = expand(p["positionFile"])
        self.last_written = self.last_synced = ""
        self.write_failing = False
        self.write_due = False
        self.poll_min_s = min(p["backoffSleepIncrement"], POLL_START_MS) / 1000.0
        self.poll_max_s = max(p["maxBackoffSleep"] / 1000.0, self.poll_min_s)
        self.empty_scans = Backoff(self.poll_min_s, self.poll_max_s)
        self.progress = False
        self.warned_truncation = False
        self.tailer.start(self._load_positions())
        self.after(0, self._poll)
        self.every(p["writePosInterval"] / 1000.0, lambda: self._write_positions(True))

    def _load_positions(self) -> list[Position]:
        try:
            entries, skipped = read(self.position_file)
        except (OSError, PositionFileError) as exc:
            self.counters["GenericProcessingFail"] += 1
            self.log.error("Failed loading positionFile: %s: %s", self.position_file, exc)
            return []
        for reason in skipped:
            self.log.warning("positionFile %s: %s", self.position_file, reason)
        self.log.info("Updating position from position file: %s (%d entries)",
                      self.position_file, len(entries))
        return entries

    # -- reading ----------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.stopping:
            return
        self.tailer.scan()
        self.progress = self.progress or bool(self.tailer.queue)  # data waits: keep polling
        self._pump()
        if self.progress:
            self.empty_scans.succeeded()
            wait = self.poll_min_s
        else:  # the first empty scan waits the base, each further one doubles it
            wait = self.empty_scans.failed()
        self.progress = False
        self.after(wait, self._poll)

    def _pump(self) -> None:
        """Send batches while the window has room (base: at most WINDOW in flight)."""
        while self.has_room() and not self.stopping:
            batch = self.tailer.next_batch()
            if batch is None:
                return
            self._send(*batch)

    def _send(self, tf: TailFile, lines: list[Line]) -> None:
        flight = tf.launch(lines)
        self.progress = True
        self.counters["AppendBatchReceivedCount"] += 1
        if self.tailer.tally["TruncatedLineCount"] and not self.warned_truncation:
            self.warned_truncation = True  # once: every further one is only counted
            self.log.warning("lines longer than maxLineLength (%d bytes) are cut to it and "
                             "counted in TruncatedLineCount", self.tailer.max_line_length)
        self.submit([line.body for line in lines], self.headers(tf, lines),
                    on_accepted=lambda: self._accepted(flight))

    def _accepted(self, flight: Flight) -> None:
        self.counters["AppendBatchAcceptedCount"] += 1
        if flight.accept() and not self.write_due:
            self.write_due = True  # once per loop turn, however many batches were acknowledged
            self.after(0, lambda: self._write_positions(False))

    def resume(self) -> None:
        self._pump()

    # -- positions --------------------------------------------------------------------------
    def _write_positions(self, durable: bool) -> None:
        self.write_due = False
        text = dumps(self.tailer.positions())
        if text == (self.last_synced if durable else self.last_written):
            return
        try:
            write(self.position_file, text, durable)
        except OSError as exc:
            self.counters["GenericProcessingFail"] += 1
            if not self.write_failing:  # one error per outage, every failure counted
                self.log.error("Failed writing positionFile %s: %s", self.position_file, exc)
            self.write_failing = True
            return
        if self.write_failing:
            self.write_failing = False
            self.log.info("positionFile %s written again", self.position_file)
        self.last_written = text
        if durable:
            self.last_synced = text

    # -- stop -------------------------------------------------------------------------------
    def begin_stop(self) -> None:
        """No more reading; the loop waits for the batches in flight (base drained())."""
        self.log.info("stopping with %d batch(es) in flight", len(self.inflight))

    def stats(self) -> dict[str, object]:
        report = super().stats()
        report["EventReadFail"] = self.tailer.tally["EventReadFail"]
        report["TruncatedLineCount"] = self.tailer.tally["TruncatedLineCount"]
        report["TrackedFileCount"] = len(self.tailer.files)
        return report

    def close(self) -> None:
        self._write_positions(True)
        self.tailer.close()
        if self.tailer.tally["TruncatedLineCount"]:
            self.log.warning("%d lines were truncated to maxLineLength",
                             self.tailer.tally["TruncatedLineCount"])
