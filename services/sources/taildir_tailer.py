"""The taildir source's bookkeeping, without sockets: which files, from where, which lines next.

`scan()` looks at the directories and at every followed file; `next_batch()` hands out lines;
`positions()` is what the position file says. Files are known by inode, so a rename never
restarts a file, and what happens around a file's life is:

    new matching file          followed from 0 (from its end with skipToEnd, at start only)
    renamed, still matching    followed on under the new name (Flume restarts it at 0)
    renamed away or deleted    "retired": read to its end while it keeps growing (a logger
                               still writing to the old name after logrotate's rename), closed
                               and forgotten once idle for idleTimeout
    shorter than read so far,  truncated (copytruncate): read again from 0; what we had not read
    or the bytes before our    of the old content is looked for in a copy in the same directory
    position changed           (size >= our position, same last 64 bytes before it, modified
                               no earlier than the file was) and read from there, so lines
                               written between our last read and the copy are not lost
    idle for idleTimeout       its unfinished last line is sent as it is (as Flume does), the
                               file is closed, and re-opened when it changes

At start, a position entry is applied when its inode is matched (Flume also wants the same
path; we follow a file renamed while we were down, logrotate style, if the byte before the
position is a newline) or, renamed away, still in the directory of its recorded path (read to
its end, as above). A file smaller than its position starts at 0.
"""
from __future__ import annotations

import collections
import logging
import os
import time
from typing import Callable

from services.sources.taildir_file import Line, TailFile
from services.sources.taildir_match import FileGroup, Found, Listing, find_inode, regular_files
from services.sources.taildir_position import Position

COPY_CANDIDATES = 16  # newest files checked for being a copytruncate copy
Matches = dict[int, tuple[Found, FileGroup]]


class Tailer:
    def __init__(self, groups: list[FileGroup], *, skip_to_end: bool = False,
                 idle_timeout_s: float = 120.0, batch_size: int = 100,
                 max_batch_count: int = 2**63 - 1, max_line_length: int = 0,
                 cache: bool = True, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(__name__)
        self.groups = groups
        self.listings = [Listing(group, cache, wall, self.log) for group in groups]
        self.skip_to_end = skip_to_end
        self.idle_timeout_s = idle_timeout_s
        self.batch_size = batch_size
        self.max_batch_count = max_batch_count
        self.max_line_length = max_line_length
        self.clock = clock
        self.tally: collections.Counter[str] = collections.Counter()
        self.files: dict[int, TailFile] = {}
        self.leftovers: list[TailFile] = []  # lines read from files truncated under us
        self.queue: collections.deque[TailFile] = collections.deque()
        self.streak = 0  # consecutive full batches from the head of the queue

    # -- start ------------------------------------------------------------------------------
    def start(self, entries: list[Position]) -> None:
        """Follow every matching file, from its position entry where one applies."""
        now = self.clock()
        known = {entry.inode: entry for entry in entries}
        for found, group in self._matching().values():
            pos = self._start_pos(found, known.pop(found.inode, None))
            self._track(found, group, pos, now)
        for entry in known.values():
            self._adopt_renamed(entry, now)
        self._requeue()

    def _start_pos(self, found: Found, entry: Position | None) -> int:
        fresh = found.size if self.skip_to_end else 0
        if entry is None:
            return fresh
        if entry.pos > found.size:
            self.log.info("%s (inode %d) is smaller than its position %d: truncated while "
                          "stopped; reading from 0", found.path, found.inode, entry.pos)
            return 0
        if entry.file != found.path:
            if not _at_line_start(found.path, entry.pos):
                self.log.info("%s (inode %d) does not look like %s: a new file", found.path,
                              found.inode, entry.file)
                return fresh
            self.log.info("%s was renamed to %s while stopped; continuing at %d", entry.file,
                          found.path, entry.pos)
        return entry.pos

    def _adopt_renamed(self, entry: Position, now: float) -> None:
        """An entry whose inode no longer matches: finish it if it was merely renamed away."""
        directory = os.path.dirname(entry.file)
        group = next((g for g in self.groups if g.directory == directory), None)
        found = find_inode(directory, entry.inode) if group else None
        if (group is None or found is None or found.size < entry.pos
                or not _at_line_start(found.path, entry.pos)):
            self.log.info("Missing file: %s, inode: %d, pos: %d", entry.file, entry.inode,
                          entry.pos)
            return
        self.log.info("%s was renamed to %s while stopped; reading its rest from %d",
                      entry.file, found.path, entry.pos)
        self._track(found, group, entry.pos, now).matched = False

    def _track(self, found: Found, group: FileGroup, pos: int, now: float) -> TailFile:
        tf = TailFile(found.inode, found.path, group, pos, self.max_line_length, self.tally, now)
        self.files[found.inode] = tf
        self.log.info("Opening file: %s, inode: %d, pos: %d", found.path, found.inode, pos)
        self._open(tf)
        tf.size, tf.mtime_ns = found.size, found.mtime_ns
        return tf

    # -- scan -------------------------------------------------------------------------------
    def scan(self) -> None:
        """Notice new, grown, renamed, truncated and idle files; order what has data."""
        now = self.clock()
        matches = self._matching()
        for found, group in matches.values():
            tf = self.files.get(found.inode)
            if tf is None:
                self._track(found, group, 0, now)
                continue
            if tf.path != found.path or not tf.matched:
                self.log.info("%s (inode %d) is now %s", tf.path, tf.inode, found.path)
                tf.path, tf.matched = found.path, True
            self._observe(tf, found.size, found.mtime_ns, now)
        for tf in list(self.files.values()):
            if tf.inode not in matches:
                self._follow_unmatched(tf, now)
        self._close_idle(now)
        self._requeue()

    def _matching(self) -> Matches:
        matches: Matches = {}
        for listing in self.listings:
            for found in listing.matching():
                matches.setdefault(found.inode, (found, listing.group))
        return matches

    def _follow_unmatched(self, tf: TailFile, now: float) -> None:
        if tf.matched:
            tf.matched = False
            found = find_inode(os.path.dirname(tf.path), tf.inode)
            if found is None:
                self.log.info("%s (inode %d) was deleted or moved away; reading what is left "
                              "of it", tf.path, tf.inode)
            else:
                self.log.info("%s (inode %d) was renamed to %s; reading it to its end",
                              tf.path, tf.inode, found.path)
                tf.path = found.path
                if tf.fd is None:
                    self._open(tf)
        if tf.fd is not None:
            try:
                st = os.fstat(tf.fd)
            except OSError as exc:
                self._read_failed(tf, exc)
                return
            self._observe(tf, st.st_size, st.st_mtime_ns, now)

    def _observe(self, tf: TailFile, size: int, mtime_ns: int, now: float) -> None:
        if size == tf.size and mtime_ns == tf.mtime_ns:
            return
        tf.changed_at = now
        if tf.fd is None and not self._open(tf):
            return
        try:
            replaced = size < tf.read_pos or tf.replaced()
        except OSError as exc:
            self._read_failed(tf, exc)
            return
        if replaced:
            self._truncated(tf, size, mtime_ns, now)
        else:
            tf.size, tf.mtime_ns = size, mtime_ns

    def _truncated(self, tf: TailFile, size: int, mtime_ns: int, now: float) -> None:
        """Read the inode again from 0; finish its old content from a copy if there is one."""
        fresh = TailFile(tf.inode, tf.path, tf.group, 0, self.max_line_length, self.tally, now)
        fresh.fd, tf.fd = tf.fd, None
        fresh.size, fresh.mtime_ns, fresh.matched = size, mtime_ns, tf.matched
        copy = self._find_copy(tf)
        self.files[fresh.inode] = fresh
        if copy is None:
            self.log.info("Pos %d is larger than file size! Restarting from pos 0, file: %s, "
                          "inode: %d", tf.read_pos, tf.path, tf.inode)
            tf.abandon()
            self.leftovers.append(tf)
            return
        found, fd = copy
        self.log.info("%s was truncated (copytruncate); reading the rest of its old content "
                      "from %s at %d", tf.path, found.path, tf.read_pos)
        tf.adopt(found.inode, found.path, fd)
        tf.size, tf.mtime_ns, tf.changed_at = found.size, found.mtime_ns, now
        self.files[found.inode] = tf

    def _find_copy(self, tf: TailFile) -> tuple[Found, int] | None:
        """A file in tf's directory holding tf's old bytes up to where we read them."""
        if not tf.mark:
            return None
        start = tf.read_pos - len(tf.mark)
        candidates = [f for f in regular_files(os.path.dirname(tf.path))
                      if f.inode not in self.files and f.size >= tf.read_pos
                      and f.mtime_ns >= tf.mtime_ns]
        candidates.sort(key=lambda f: f.mtime_ns, reverse=True)
        for found in candidates[:COPY_CANDIDATES]:
            try:
                fd = os.open(found.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if (os.fstat(fd).st_ino == found.inode
                        and os.pread(fd, len(tf.mark), start) == tf.mark):
                    return found, fd
            except OSError:
                pass
            os.close(fd)
        return None

    def _close_idle(self, now: float) -> None:
        """Close files unchanged for idleTimeout (their last line sent as it is); forget
        unmatched ones once nothing of them is pending."""
        for tf in list(self.files.values()):
            if (tf.fd is not None and now - tf.changed_at >= self.idle_timeout_s
                    and tf.read_pos >= tf.size and not tf.ready):
                tf.flush()
                tf.close()
                self.log.info("Closed file: %s, inode: %d, pos: %d", tf.path, tf.inode,
                              tf.read_pos)
            if not tf.matched and tf.fd is None and not tf.ready and not tf.flights:
                del self.files[tf.inode]
                self.log.info("Forgot %s (inode %d): read to its end and no longer matched",
                              tf.path, tf.inode)
        self.leftovers = [tf for tf in self.leftovers if tf.ready]

    def _open(self, tf: TailFile) -> bool:
        try:
            tf.open()
        except OSError as exc:
            self._read_failed(tf, exc)
            return False
        if tf.failing:
            tf.failing = False
            self.log.info("%s (inode %d) is readable again", tf.path, tf.inode)
        return True

    def _read_failed(self, tf: TailFile, exc: OSError) -> None:
        """Count every failure, warn once until the file can be opened again."""
        self.tally["EventReadFail"] += 1
        if not tf.failing:
            self.log.warning("cannot read %s (inode %d): %s", tf.path, tf.inode, exc)
        tf.failing = True
        tf.close()

    # -- lines ------------------------------------------------------------------------------
    def _requeue(self) -> None:
        """Files with data, leftovers first, then oldest modification first."""
        wanting = sorted((tf for tf in self.files.values() if tf.has_data()),
                         key=lambda tf: tf.mtime_ns)
        head = self.queue[0] if self.queue else None
        self.queue = collections.deque(self.leftovers + wanting)
        if head is None or not self.queue or self.queue[0] is not head:
            self.streak = 0

    def next_batch(self) -> tuple[TailFile, list[Line]] | None:
        """Up to batchSize lines of one file; a file yields maxBatchCount full batches in a
        row at most before the next file with data gets a turn."""
        while self.queue:
            tf = self.queue[0]
            try:
                lines = tf.take(self.batch_size)
            except OSError as exc:
                self._read_failed(tf, exc)
                lines = []
            if len(lines) < self.batch_size:
                self.queue.popleft()  # read to its end for now
                self.streak = 0
            else:
                self.streak += 1
                if self.streak >= self.max_batch_count:
                    self.queue.rotate(-1)
                    self.streak = 0
            if lines:
                return tf, lines
        return None

    def positions(self) -> list[Position]:
        return [Position(tf.inode, tf.committed, tf.path) for tf in self.files.values()]

    def close(self) -> None:
        for tf in self.files.values():
            tf.close()


def _at_line_start(path: str, pos: int) -> bool:
    """True if `pos` follows a newline: where an acknowledged position of a text file lies."""
    if pos == 0:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(pos - 1)
            return handle.read(1) == b"\n"
    except OSError:
        return False
