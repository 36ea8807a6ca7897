"""The spooldir source (Flume's SpoolDirectorySource): files dropped in a directory, one event
per line, each file marked done only after the channel acknowledged every line of it.

    a.sources.s.type = spooldir
    a.sources.s.spoolDir = /var/spool/app
    a.sources.s.fileSuffix = .COMPLETED
    a.sources.s.deletePolicy = never
    a.sources.s.batchSize = 100

What a file goes through (docs/flume.md 4.5; which files and how they are marked done in
`spooldir_dir`, lines in `spooldir_reader`, the progress file in `spooldir_progress`):

    listed -> opened, from its progress entry if it has one -> batches of <= batchSize events
      -> submit (base: PUT, FULL -> the same batch again) -> acknowledged: the entry moves
      -> end of file and every batch acknowledged -> unchanged since picked up?
      -> renamed / deleted / recorded in trackerDir -> entry removed -> the next file

Files must be complete when they appear: write them under a name starting with "." (never
read) and rename them in. One file at a time, as in Flume: the next one is opened once the
last one is done. Files are taken in consumeOrder from a listing of the directory, a file
with a progress entry (started before a restart) first; the directory is listed again when
that listing is used up (Flume lists it for every file, which is quadratic in a backlog of
many files), or every pollDelay while there is nothing to read.

Nothing is lost to a crash: a file is marked done only after its last batch was acknowledged,
and the progress file never names a line the channel does not hold. It is written before
the next batch is sent, or at the end of the loop turn, after an acknowledgement moved it
(fsynced every few seconds and at stop), so after a kill -9 the file goes on from its entry
and what is sent twice is at most the batches that were in flight (the base class's window).

Spooling rules (Flume: files are immutable and uniquely named, else the source dies with
"Restart or reconfigure Flume to continue processing"). zflume stops only the offending file
and goes on with the others; the file stays in spoolDir, is logged once at ERROR and counted,
and is tried again when the source restarts (from where it stopped, so its good lines are not
sent twice); renaming it makes it a new file at once (read from its start). The cases:
    modified after being picked up (other size, mtime or inode at its end,
      or shorter than its acknowledged position at a restart)                GenericProcessingFail
    reused name (<name><fileSuffix>, or its tracker marker, already exists)  GenericProcessingFail
    a line that does not decode with decodeErrorPolicy = FAIL                EventReadFail
    cannot be opened or read                                                 EventReadFail
    cannot be renamed / deleted / recorded (read again after a restart)      GenericProcessingFail

Channel full: the base class offers the same batch again, backing off from 50 ms to 2 s
(Flume: 250 ms doubling to maxBackoff; maxBackoff is accepted but the base class's cap rules).
SIGTERM: no more reading; the batches in flight are waited for (a file whose last batch comes
back is still marked done), the progress file is fsynced, the process exits.

Headers per event: fileHeaderKey (absolute path) with fileHeader, basenameHeaderKey (its name)
with basenameHeader, zflume's event id `<origin>-<file>-<line>` (see `spooldir_file`); the
base class then runs the source's interceptors on them.

Counters: Flume's source counters (EventReceived/Accepted, AppendBatchReceived/Accepted,
ChannelWriteFail, EventReadFail, GenericProcessingFail) plus TruncatedLineCount (lines split at
deserializer.maxLineLength), CompletedFileCount and FailedFileCount.
"""
from __future__ import annotations

import collections
import os
from typing import Any

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.eventids import origin
from services.sources.spooldir_dir import Candidate, SpoolDir, SpoolViolation
from services.sources.spooldir_file import HeaderMaker, SpoolFile
from services.sources.spooldir_progress import FILE_NAME, Progress, ProgressBook
from services.sources.spooldir_reader import START, Event, LineReader, check_charset

PROGRESS_SYNC_S = 3.0  # the progress file is fsynced this often if it changed (and at stop)
FILES_PER_TURN = 64  # files opened or finished per loop turn: many empty files cannot stall it


def spool_from(params: dict[str, Any], **kwargs: Any) -> SpoolDir:
    """The spooling directory of a spooldir source's typed params; ValueError names the key."""
    return SpoolDir(params["spoolDir"], suffix=params["fileSuffix"],
                    include=params["includePattern"], ignore=params["ignorePattern"],
                    tracker_dir=params["trackerDir"], tracking=params["trackingPolicy"],
                    delete=params["deletePolicy"], order=params["consumeOrder"],
                    recursive=params["recursiveDirectorySearch"], **kwargs)


class SpoolDirSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.SPOOLDIR_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        p = agent.sources[name].params
        # ValueError for settings we cannot work with, before any socket exists
        self.spool = spool_from(p)
        self.charset = check_charset(p["inputCharset"])
        self.out_charset = check_charset(p["deserializer.outputCharset"], newline_bytes=False)
        super().__init__(agent, name, run_dir)
        self.spool.tally, self.spool.log = self.counters, self.log
        self.policy = p["decodeErrorPolicy"]
        self.batch_size = p["batchSize"]
        self.max_chars = p["deserializer.maxLineLength"]
        self.poll_s = p["pollDelay"] / 1000.0
        self.headers = HeaderMaker(p["fileHeaderKey"] if p["fileHeader"] else None,
                                   p["basenameHeaderKey"] if p["basenameHeader"] else None,
                                   origin(agent.name, name) if p["eventIdHeader"] else None,
                                   p["eventIdHeaderKey"])
        self.book = ProgressBook(os.path.join(self.spool.tracker_dir, FILE_NAME),
                                 self.counters, self.log)
        self.failed: dict[tuple[str, int], str] = {}  # (name, inode) -> why it stopped
        self.current: SpoolFile | None = None
        self.listing: collections.deque[Candidate] = collections.deque()
        self.ready = self.unready_warned = False
        self.pump_due = self.save_due = self.warned_truncation = False
        self.after(0, self._poll)
        self.every(PROGRESS_SYNC_S, lambda: self._save(True))

    # -- the loop -----------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.stopping:
            return
        self._pump()
        self.after(self.poll_s, self._poll)

    def resume(self) -> None:
        self._pump()

    def _pump_soon(self) -> None:
        if not self.pump_due:
            self.pump_due = True
            self.after(0, self._pump)

    def _pump(self) -> None:
        """Send batches while the window has room; finish files whose batches all came back."""
        self.pump_due = False
        files = 0
        while self.has_room():
            cur = self.current
            if cur is None:
                if self.stopping or files >= FILES_PER_TURN:
                    break
                files += 1
                cur = self.current = self._open_next()
                if cur is None:
                    return
            if cur.reader.done:
                if cur.flights:
                    return  # their acknowledgements call resume()
                self._finish(cur)
                continue
            if self.stopping:
                return
            events = self._take(cur)
            if events:
                self._send(cur, events)
            elif not cur.reader.done:
                break  # a long stretch without a line: go on next turn
        busy = self.current is not None and not self.current.reader.done
        if files >= FILES_PER_TURN or (busy and self.has_room() and not self.stopping):
            self._pump_soon()

    def _take(self, cur: SpoolFile) -> list[Event]:
        try:
            return cur.reader.take(self.batch_size)
        except OSError as exc:
            cur.reader.error = f"read failed: {exc}"
            return []

    def _send(self, cur: SpoolFile, events: list[Event]) -> None:
        if self.save_due:
            # Acknowledgements since the last write are saved before the window is refilled,
            # so a kill -9 re-reads at most the batches in flight. (One loop turn may take
            # dozens of acknowledgements; waiting for its end could re-read all of them.)
            self._save(False)
        flight = cur.launch(events)
        self.counters["AppendBatchReceivedCount"] += 1
        if self.counters["TruncatedLineCount"] and not self.warned_truncation:
            self.warned_truncation = True  # once: every further one is only counted
            self.log.warning("lines longer than deserializer.maxLineLength (%d characters) "
                             "are split into several events and counted in "
                             "TruncatedLineCount", self.max_chars)

        def accepted() -> None:
            self.counters["AppendBatchAcceptedCount"] += 1
            flight.done = True
            end = cur.settle()
            if end is not None:
                rel = cur.found.rel
                self.book.entries[rel] = self.book.entries[rel].moved(end)
                self._save_soon()
        self.submit([e.body for e in events], self.headers(cur, events), on_accepted=accepted)

    # -- files --------------------------------------------------------------------------------
    def _open_next(self) -> SpoolFile | None:
        if not self._prepare():
            return None
        while True:
            found = self._next_candidate()
            if found is None:
                return None
            cur = self._open(found)
            if cur is not None:
                return cur

    def _next_candidate(self) -> Candidate | None:
        if not self.listing:
            found = self.spool.listing()
            found.sort(key=lambda c: not self._started(c))  # stable: consumeOrder kept
            self.listing = collections.deque(found)
        while self.listing:
            candidate = self.listing.popleft()
            if (candidate.rel, candidate.inode) not in self.failed:
                return candidate
        return None

    def _started(self, found: Candidate) -> bool:
        """True for a file with a progress entry: begun before a restart, finished first."""
        entry = self.book.entries.get(found.rel)
        return entry is not None and entry.inode == found.inode

    def _open(self, found: Candidate) -> SpoolFile | None:
        try:
            fd = os.open(found.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # taken away since the listing
        except OSError as exc:
            self._give_up(found, f"cannot open it: {exc}", "EventReadFail")
            return None
        st = os.fstat(fd)
        found = found._replace(inode=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns)
        problem = self.spool.reused(found)
        if problem is not None:
            os.close(fd)
            self._give_up(found, problem, "GenericProcessingFail")
            return None
        try:
            entry = self.book.entries[found.rel] = self._entry_for(found)
        except SpoolViolation as exc:
            os.close(fd)
            self._give_up(found, str(exc), "GenericProcessingFail")
            return None
        self._save_soon()
        reader = LineReader(fd, entry.mark, charset=self.charset, policy=self.policy,
                            out_charset=self.out_charset, max_chars=self.max_chars,
                            tally=self.counters)
        self.log.info("Opening file: %s at byte %d (line %d)", found.path, entry.pos,
                      entry.line)
        return SpoolFile(found, fd, reader, entry)

    def _entry_for(self, found: Candidate) -> Progress:
        """Where to start `found`: its progress entry if it is the same file, else 0.
        SpoolViolation if it is shorter than what was acknowledged of it."""
        fresh = Progress(found.rel, found.inode, found.size, found.mtime_ns, *START)
        old = self.book.entries.get(found.rel)
        if old is None:
            return fresh
        if old.inode != found.inode:
            self.log.info("%s is not the file its progress entry was written for (inode %d, "
                          "now %d); reading it from the start", found.path, old.inode,
                          found.inode)
            return fresh
        if old.pos > found.size:
            raise SpoolViolation(f"File has changed size since being read: {found.size} "
                                 f"bytes, less than the {old.pos} acknowledged")
        if old.pos:
            self.log.info("Resuming %s at byte %d (line %d): what follows was not acknowledged "
                          "before the restart", found.path, old.pos, old.line)
        return old

    def _finish(self, cur: SpoolFile) -> None:
        """Every batch of `cur` came back: mark it done, or stop it if it broke the rules."""
        self.current = None
        cur.close()
        found, entry = cur.found, self.book.entries[cur.found.rel]
        if cur.reader.error is not None:
            self._give_up(found, cur.reader.error, "EventReadFail")
            return
        try:
            st = os.stat(found.path)
        except FileNotFoundError:
            self.log.warning("%s was removed before it could be marked done", found.path)
            self._forget(found)
            return
        problem = _changed(entry, st)
        if problem is not None:
            self._give_up(found, problem, "GenericProcessingFail")
            return
        try:
            how = self.spool.finish(found)
        except SpoolViolation as exc:
            self._give_up(found, str(exc), "GenericProcessingFail")
            return
        except OSError as exc:
            self._give_up(found, f"cannot mark it done: {exc}; this will likely cause "
                          "duplicate events", "GenericProcessingFail")
            return
        self.counters["CompletedFileCount"] += 1
        self.log.info("%s: all %d line(s) acknowledged; %s", found.path, entry.line - 1, how)
        self._forget(found)

    def _forget(self, found: Candidate) -> None:
        self.book.entries.pop(found.rel, None)
        self._save_soon()

    def _give_up(self, found: Candidate, reason: str, counter: str) -> None:
        """Stop processing one file; the others go on. Its progress entry is kept."""
        self.counters[counter] += 1
        self.counters["FailedFileCount"] += 1
        self.failed[(found.rel, found.inode)] = reason
        self.log.error("%s: %s. Processing of this file stops; it stays in spoolDir, other "
                       "files go on, and it is tried again when the source restarts",
                       found.path, reason)

    # -- setup and the progress file ----------------------------------------------------------
    def _prepare(self) -> bool:
        """True once the spool directory is there and the progress file was read."""
        if self.ready:
            return True
        try:
            self.spool.prepare()
        except OSError as exc:
            if not self.unready_warned:  # once; looked for again at every poll
                self.log.warning("%s; looking again every %d ms", exc, self.poll_s * 1000)
            self.unready_warned = True
            return False
        self.ready = True
        self.book.load(self.spool.directory)
        self.log.info("Spooling %s (tracker dir %s); %d unfinished file(s) in %s",
                      self.spool.directory, self.spool.tracker_dir, len(self.book.entries),
                      self.book.path)
        return True

    def _save_soon(self) -> None:
        if not self.save_due:
            self.save_due = True  # once per loop turn, however many batches came back
            self.after(0, lambda: self._save(False))

    def _save(self, durable: bool) -> None:
        self.save_due = False
        if self.ready:
            self.book.save(durable)

    # -- stop ---------------------------------------------------------------------------------
    def begin_stop(self) -> None:
        """No more reading; the loop waits for the batches in flight (base drained())."""
        self.log.info("stopping with %d batch(es) in flight", len(self.inflight))

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        self._save(True)
        self.book.close()


def _changed(entry: Progress, st: os.stat_result) -> str | None:
    """Why the file at the end of reading is not the one picked up (Flume's two checks)."""
    if st.st_ino != entry.inode:
        return "File has been replaced since being read"
    if st.st_size != entry.size:
        return f"File has changed size since being read ({entry.size} -> {st.st_size} bytes)"
    if st.st_mtime_ns != entry.mtime_ns:
        return "File has been modified since being read"
    return None
