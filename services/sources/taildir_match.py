"""Which files a taildir source follows: file groups and their directory listings.

    a.sources.s.filegroups = f1 f2
    a.sources.s.filegroups.f1 = /var/log/test1/example.log
    a.sources.s.filegroups.f2 = /var/log/test2/.*log.*
    a.sources.s.headers.f1.headerKey1 = value1

A group's directory is literal; its file name part is a regular expression that must match the
whole name (Java's `matches()`). Matches are ordered oldest modification time first, so a rotated
file is finished before its successor. A directory that does not exist yet is warned about once
and looked for again at every scan (Flume refuses to start the source instead).
"""
from __future__ import annotations

import logging
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

# Directory mtimes are wall-clock and may be as coarse as a second: a listing taken within this
# long of the directory's last change may have missed a second change in the same tick.
COARSE_MTIME_S = 1.0


@dataclass(frozen=True)
class FileGroup:
    name: str
    directory: str
    pattern: re.Pattern[str]
    headers: dict[str, str] = field(default_factory=dict)


class Found(NamedTuple):
    """A matching regular file as stat saw it (symlinks followed, as Flume does)."""

    path: str
    inode: int
    size: int
    mtime_ns: int


def groups_from(params: dict[str, Any]) -> list[FileGroup]:
    """The groups of a taildir source's typed params; ValueError names the bad key."""
    paths: dict[str, str] = params.get("filegroups.*", {})
    headers: dict[str, dict[str, str]] = {}
    for key, value in params.get("headers.*", {}).items():
        group, _, name = key.partition(".")
        if not name:
            raise ValueError(f"headers.{key} needs a group and a header name")
        headers.setdefault(group, {})[name] = value
    groups = []
    for name in params["filegroups"]:
        if name not in paths:
            raise ValueError(f"filegroups.{name} is missing")
        directory, pattern = os.path.split(paths[name])
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"filegroups.{name}: bad file name pattern: {exc}") from exc
        groups.append(FileGroup(name, os.path.abspath(os.path.expanduser(directory)), regex,
                                headers.get(name, {})))
    return groups


class Listing:
    """One group's matching names, re-listed only when its directory changed (with `cache`)."""

    def __init__(self, group: FileGroup, cache: bool = True,
                 wall: Callable[[], float] = time.time,
                 logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(__name__)
        self.group = group
        self.cache = cache
        self.wall = wall
        self.names: list[str] = []
        self.dir_mtime_ns = -1
        self.listed_at = 0.0
        self.missing = False

    def matching(self) -> list[Found]:
        """The group's matching files, oldest mtime first; [] while the directory is missing."""
        try:
            dir_mtime_ns = os.stat(self.group.directory).st_mtime_ns
            if self._stale(dir_mtime_ns):
                self.listed_at = self.wall()
                self.names = [n for n in os.listdir(self.group.directory)
                              if self.group.pattern.fullmatch(n)]
                self.dir_mtime_ns = dir_mtime_ns
        except OSError as exc:
            if not self.missing:
                self.log.warning("file group %s: cannot list %s: %s", self.group.name,
                                 self.group.directory, exc)
            self.missing = True
            return []
        if self.missing:
            self.log.info("file group %s: %s is readable again", self.group.name,
                          self.group.directory)
            self.missing = False
        found = [f for f in map(self._stat, self.names) if f is not None]
        return sorted(found, key=lambda f: (f.mtime_ns, f.path))

    def _stale(self, dir_mtime_ns: int) -> bool:
        if not self.cache or dir_mtime_ns != self.dir_mtime_ns:
            return True
        return self.listed_at - dir_mtime_ns / 1e9 < COARSE_MTIME_S

    def _stat(self, name: str) -> Found | None:
        path = os.path.join(self.group.directory, name)
        try:
            st = os.stat(path)
        except OSError:
            return None  # gone since the listing
        if not stat.S_ISREG(st.st_mode):
            return None
        return Found(path, st.st_ino, st.st_size, st.st_mtime_ns)


def find_inode(directory: str, inode: int) -> Found | None:
    """The regular file in `directory` with `inode`, under whatever name it has now."""
    for found in regular_files(directory):
        if found.inode == inode:
            return found
    return None


def regular_files(directory: str) -> list[Found]:
    """Every regular file in `directory`, matching or not (for renamed and copied files)."""
    out = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    out.append(Found(entry.path, st.st_ino, st.st_size, st.st_mtime_ns))
    except OSError:
        return []
    return out
