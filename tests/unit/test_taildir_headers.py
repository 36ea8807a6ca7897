"""Taildir event headers: group headers, file path, byte offset, stable event ids."""
from __future__ import annotations

import os
import re
from typing import Any

from services.config.schema import SOURCES
from services.sources.taildir import EventIds, HeaderMaker
from services.sources.taildir_file import Line, TailFile
from services.sources.taildir_match import FileGroup

DEFAULTS = {key: param.default for key, param in SOURCES["taildir"].items()}


def tail_file(path: str = "/var/log/app.log", headers: dict[str, str] | None = None) -> TailFile:
    group = FileGroup("f", os.path.dirname(path), re.compile(".*"), headers or {})
    return TailFile(2496272, path, group, 0)


def maker(ids: EventIds | None = None, **params: Any) -> HeaderMaker:
    return HeaderMaker({**DEFAULTS, **params}, ids)


def test_event_ids_depend_only_on_origin_inode_offset_and_body() -> None:
    ids = EventIds("host1", "a1", "r1")
    line = Line(120, 130, b"payload")
    assert ids.make(7, line) == EventIds("host1", "a1", "r1").make(7, Line(120, 999, b"payload"))
    assert re.fullmatch(r"[0-9a-f]{8}-7-120-[0-9a-f]{8}", ids.make(7, line))
    others = {ids.make(8, line), ids.make(7, Line(121, 130, b"payload")),
              ids.make(7, Line(120, 130, b"payloaD")), EventIds("host2", "a1", "r1").make(7, line),
              EventIds("host1", "a1", "r2").make(7, line)}
    assert ids.make(7, line) not in others and len(others) == 5


def test_without_any_header_configured_the_batch_has_none() -> None:
    assert maker()(tail_file(), [Line(0, 2, b"a")]) is None


def test_group_headers_file_path_byte_offset_and_event_id() -> None:
    ids = EventIds("h", "a", "s")
    make = maker(ids, fileHeader=True, fileHeaderKey="path", byteOffsetHeader=True,
                 eventIdHeaderKey="uid")
    lines = [Line(0, 2, b"a"), Line(2, 5, b"bb")]
    headers = make(tail_file(headers={"service": "app"}), lines)
    assert headers == [
        {"service": "app", "path": "/var/log/app.log", "byteoffset": "0",
         "uid": ids.make(2496272, lines[0])},
        {"service": "app", "path": "/var/log/app.log", "byteoffset": "2",
         "uid": ids.make(2496272, lines[1])}]


def test_a_file_name_that_is_not_utf8_gives_a_valid_header() -> None:
    path = os.fsdecode(b"/var/log/caf\xe9.log")
    (headers,) = maker(fileHeader=True)(tail_file(path), [Line(0, 1, b"")])
    assert headers["file"] == "/var/log/caf\ufffd.log"
    headers["file"].encode("utf-8")
