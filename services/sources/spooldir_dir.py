"""The spooling directory: which files come next, and how a finished file is marked done.

    a.sources.s.spoolDir = /var/spool/app
    a.sources.s.includePattern = ^.*\\.log$
    a.sources.s.ignorePattern = ^$
    a.sources.s.consumeOrder = oldest
    a.sources.s.trackingPolicy = rename
    a.sources.s.fileSuffix = .COMPLETED

A file is a candidate (Flume's ReliableSpoolingFileEventReader) when its name does not start
with "." (hidden files, the default trackerDir `.flumespool`), does not end with fileSuffix,
matches includePattern and does not match ignorePattern (whole-name matches, as Java's
`matches()`), and is a regular file (symlinks followed). With recursiveDirectorySearch the
subdirectories are searched too, except hidden ones and the tracker directory; symlinked
directories are not followed. consumeOrder: `oldest` / `youngest` modification time first,
ties (Flume compares milliseconds) broken by the smaller name; `random` shuffles the listing.

Marking done, only ever called once every line of the file was acknowledged:

    deletePolicy = immediate      the file is deleted (whatever trackingPolicy says)
    trackingPolicy = rename       renamed to <name><fileSuffix>; an existing file of that name
                                  means the name was used twice: SpoolViolation, nothing renamed
    trackingPolicy = tracker_dir  <trackerDir>/<relative name><fileSuffix> is created (so the
                                  spool directory may be read-only); files with one are skipped

The rename is a hard link then an unlink, so it never replaces a file; a source killed
between the two finds both names for one file the next time and just removes the old one.
Flume writes empty tracker markers; ours hold the file's inode, size and mtime, so a new file
under a name already done is reported as a reused name (once), not silently skipped forever.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import random
import re
import stat
from typing import Iterator, NamedTuple

from proto.errors import ZflumeError


class Candidate(NamedTuple):
    """A file in the spool directory as stat saw it."""

    path: str  # absolute
    rel: str  # relative to spoolDir: its name, or sub/dir/name when searching recursively
    inode: int
    size: int
    mtime_ns: int

    @property
    def identity(self) -> tuple[int, int, int]:
        return self.inode, self.size, self.mtime_ns


class SpoolViolation(ZflumeError):
    """A file that breaks the spooling contract (unique names, never modified once placed)."""


def _pattern(key: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"{key}: bad regular expression {text!r}: {exc}") from exc


class SpoolDir:
    def __init__(self, directory: str, *, suffix: str = ".COMPLETED", include: str = "^.*$",
                 ignore: str = "^$", tracker_dir: str = ".flumespool",
                 tracking: str = "rename", delete: str = "never", order: str = "oldest",
                 recursive: bool = False, rng: random.Random | None = None,
                 tally: collections.Counter[str] | None = None,
                 logger: logging.Logger | None = None) -> None:
        if not suffix:
            raise ValueError("fileSuffix must not be empty")
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self.suffix = suffix
        self.include = _pattern("includePattern", include)
        self.ignore = _pattern("ignorePattern", ignore)
        # Flume: a relative trackerDir lives in the spool directory
        self.tracker_dir = os.path.join(self.directory, os.path.expanduser(tracker_dir))
        self.tracking = tracking
        self.delete = delete
        self.order = order
        self.recursive = recursive
        self.rng = rng or random.Random()
        self.tally = tally if tally is not None else collections.Counter()
        self.log = logger or logging.getLogger(__name__)
        self.verified: dict[str, tuple[int, int, int]] = {}  # tracker markers matching a file
        self.reported: set[tuple[str, int]] = set()  # reused names already logged
        self.unlistable: set[str] = set()  # directories warned about

    def prepare(self) -> None:
        """Check the directory and make the tracker directory; OSError says what is wrong."""
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(f"spoolDir {self.directory} does not exist or is not a "
                                    "directory")
        writes = self.delete == "immediate" or self.tracking == "rename"
        if not os.access(self.directory, os.R_OK | os.X_OK | (os.W_OK if writes else 0)):
            raise PermissionError(f"spoolDir {self.directory}: cannot read"
                                  + (" and modify files" if writes else ""))
        os.makedirs(self.tracker_dir, exist_ok=True)
        if not os.path.isdir(self.tracker_dir):
            raise NotADirectoryError(f"trackerDir {self.tracker_dir} is not a directory")

    # -- which files ------------------------------------------------------------------------
    def listing(self) -> list[Candidate]:
        """Every candidate, in consumeOrder."""
        found = list(self._walk(self.directory, ""))
        if self.order == "random":
            self.rng.shuffle(found)
            return found
        found.sort(key=lambda c: c.rel)
        sign = 1 if self.order == "oldest" else -1
        found.sort(key=lambda c: sign * (c.mtime_ns // 1_000_000))  # stable: ties by name
        return found

    def _walk(self, directory: str, prefix: str) -> Iterator[Candidate]:
        try:
            with os.scandir(directory) as scan:
                entries = list(scan)
        except OSError as exc:
            if directory not in self.unlistable:  # once until it can be listed again
                self.unlistable.add(directory)
                self.log.warning("cannot list %s: %s", directory, exc)
            return
        if directory in self.unlistable:
            self.unlistable.discard(directory)
            self.log.info("%s can be listed again", directory)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if self.recursive and not self._is_tracker_dir(entry.path):
                        yield from self._walk(entry.path, f"{prefix}{entry.name}/")
                    continue
                st = os.stat(entry.path)
            except OSError:
                continue  # gone since the listing
            if stat.S_ISREG(st.st_mode) and self._wanted(entry.name):
                found = Candidate(entry.path, prefix + entry.name, st.st_ino, st.st_size,
                                  st.st_mtime_ns)
                if not (self.tracking == "tracker_dir" and self._marked(found)):
                    yield found

    def _wanted(self, name: str) -> bool:
        return (not name.endswith(self.suffix) and self.include.fullmatch(name) is not None
                and self.ignore.fullmatch(name) is None)

    def _is_tracker_dir(self, path: str) -> bool:
        return os.path.realpath(path) == os.path.realpath(self.tracker_dir)

    def marker(self, rel: str) -> str:
        return os.path.join(self.tracker_dir, rel + self.suffix)

    def _marked(self, found: Candidate) -> bool:
        """True if the tracker directory says this name is done (reported if reused)."""
        if self.verified.get(found.rel) == found.identity:
            return True
        try:
            with open(self.marker(found.rel), "rb") as handle:
                recorded = _identity(handle.read())
        except FileNotFoundError:
            return False
        except OSError:
            return True  # it exists: done, as Flume sees it
        if recorded is None or recorded == found.identity:
            self.verified[found.rel] = found.identity
        elif (found.rel, found.inode) not in self.reported:
            self.reported.add((found.rel, found.inode))
            self.tally["GenericProcessingFail"] += 1
            self.log.error("%s: File name has been re-used with different files (%s records "
                           "another file); it is skipped", found.path, self.marker(found.rel))
        return True

    def reused(self, found: Candidate) -> str | None:
        """Why `found` cannot be renamed when done (its done name is taken), else None."""
        if self.delete == "immediate" or self.tracking != "rename":
            return None
        dest = found.path + self.suffix
        if os.path.lexists(dest) and not _same_file(found.path, dest):
            return f"File name has been re-used with different files: {dest} exists"
        return None

    # -- marking done -----------------------------------------------------------------------
    def finish(self, found: Candidate) -> str:
        """Mark a fully acknowledged file done; says how. SpoolViolation or OSError."""
        if self.delete == "immediate":
            try:
                os.unlink(found.path)
            except FileNotFoundError:
                self.log.warning("Unable to delete nonexistent file: %s", found.path)
            return "deleted"
        if self.tracking == "tracker_dir":
            return "recorded in " + self._write_marker(found)
        return "renamed to " + self._rename(found)

    def _rename(self, found: Candidate) -> str:
        dest = found.path + self.suffix
        try:
            os.link(found.path, dest)
        except FileExistsError:
            if not _same_file(found.path, dest):
                raise SpoolViolation(f"File name has been re-used with different files. "
                                     f"Spooling assumptions violated for {dest}") from None
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(dest):
                raise SpoolViolation(f"File name has been re-used with different files. "
                                     f"Spooling assumptions violated for {dest}") from None
            os.rename(found.path, dest)
            return dest
        os.unlink(found.path)
        return dest

    def _write_marker(self, found: Candidate) -> str:
        marker = self.marker(found.rel)
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            raise SpoolViolation(f"File name has been re-used with different files. "
                                 f"Spooling assumptions violated for {marker}") from None
        try:
            inode, size, mtime_ns = found.identity
            os.write(fd, json.dumps({"inode": inode, "size": size,
                                     "mtime_ns": mtime_ns}).encode())
        finally:
            os.close(fd)
        self.verified[found.rel] = found.identity
        return marker


def _identity(data: bytes) -> tuple[int, int, int] | None:
    """The identity a marker records; None for Flume's empty markers or anything else."""
    try:
        value = json.loads(data)
        return int(value["inode"]), int(value["size"]), int(value["mtime_ns"])
    except (ValueError, TypeError, KeyError):
        return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
