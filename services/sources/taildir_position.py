"""The taildir position file, byte for byte as Flume writes it (docs/flume.md 4.6).

    [{"inode":2496272,"pos":12,"file":"/var/log/test1/example.log"},...]

Flume builds it with `new Gson().toJson(list of ImmutableMap)`: no blanks, the keys in that
order, and Gson's default HTML-safe escaping (`<` `>` `&` `=` `'` as `\\u003c` ...), which `dumps`
copies so a file written here reads the same in Flume and back. A file name that is not UTF-8
(Python keeps its bytes as lone surrogates) is written as `\\udcXX` escapes, which Python reads
back into the same bytes.

The file is replaced atomically (temp file + rename), so a reader, or a restart after kill -9,
sees either the old or the new content, never half of one.
"""
from __future__ import annotations

import json
import os
import re
from typing import NamedTuple, TypeGuard

from proto.errors import ZflumeError
from services.sources.jsonlist import load_entries

# Gson's htmlSafe escapes, plus the two line separators it escapes and lone surrogates.
_GSON_ESCAPED = re.compile("[<>&='\u2028\u2029\ud800-\udfff]")


class Position(NamedTuple):
    """One tracked file: its inode, the acknowledged byte offset, its path when written."""

    inode: int
    pos: int
    file: str


class PositionFileError(ZflumeError, ValueError):
    """A position file that is not a JSON array."""


def dumps(entries: list[Position]) -> str:
    items = [f'{{"inode":{e.inode},"pos":{e.pos},"file":{_gson_string(e.file)}}}'
             for e in entries]
    return "[" + ",".join(items) + "]"


def _gson_string(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)  # same control-char escapes as Gson
    return _GSON_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def loads(text: str) -> tuple[list[Position], list[str]]:
    """The entries, and a reason for each one skipped (Flume fails the whole load instead)."""
    return load_entries(text, _entry, PositionFileError)


def _entry(item: object) -> Position | None:
    if not isinstance(item, dict):
        return None
    inode, pos, path = item.get("inode"), item.get("pos"), item.get("file")
    if not (_whole(inode) and _whole(pos) and isinstance(path, str)) or pos < 0:
        return None
    return Position(inode, pos, path)


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def expand(path: str) -> str:
    """`~` expanded, absolute: where the position file lives."""
    return os.path.abspath(os.path.expanduser(path))


def read(path: str) -> tuple[list[Position], list[str]]:
    """Entries of the file at `path`; none if it does not exist. Raises PositionFileError."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return loads(handle.read())
    except FileNotFoundError:
        return [], []


def write(path: str, text: str, durable: bool) -> None:
    """Replace the file with `text` (temp + rename), creating its parent directories.

    `durable` also fsyncs before the rename: not needed against a killed process (the page
    cache outlives it), only against a power cut.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = path + ".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
