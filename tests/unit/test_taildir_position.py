"""The taildir position file: Flume's JSON, byte for byte, written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.sources.taildir_position import (Position, PositionFileError, dumps, expand, loads,
                                               read, write)

FLUME = ('[{"inode":2496272,"pos":12,"file":"/var/log/test1/example.log"},'
         '{"inode":2496275,"pos":0,"file":"/var/log/test2/log.log"}]')


def test_written_exactly_as_flumes_gson_writes_it() -> None:
    entries = [Position(2496272, 12, "/var/log/test1/example.log"),
               Position(2496275, 0, "/var/log/test2/log.log")]
    assert dumps(entries) == FLUME
    assert dumps([]) == "[]"


def test_flumes_file_reads_back_to_the_same_entries_and_text() -> None:
    entries, skipped = loads(FLUME)
    assert skipped == []
    assert entries == [Position(2496272, 12, "/var/log/test1/example.log"),
                       Position(2496275, 0, "/var/log/test2/log.log")]
    assert dumps(entries) == FLUME


def test_gsons_html_safe_escapes_and_control_characters() -> None:
    text = dumps([Position(1, 2, "/l/a<b>&c='d'\u2028\te\u00e9")])
    assert text == ('[{"inode":1,"pos":2,"file":'
                    '"/l/a\\u003cb\\u003e\\u0026c\\u003d\\u0027d\\u0027\\u2028\\te\u00e9"}]')
    assert loads(text)[0] == [Position(1, 2, "/l/a<b>&c='d'\u2028\te\u00e9")]


def test_a_file_name_that_is_not_utf8_round_trips_to_the_same_bytes(tmp_path: Path) -> None:
    name = os.fsdecode(b"/var/log/caf\xe9.log")
    path = str(tmp_path / "pos.json")
    write(path, dumps([Position(7, 3, name)]), durable=False)
    (entry,), _ = read(path)
    assert os.fsencode(entry.file) == b"/var/log/caf\xe9.log"


def test_bad_entries_are_skipped_with_a_reason_and_good_ones_kept() -> None:
    entries, skipped = loads('[{"inode":1,"pos":5,"file":"/a"},{"inode":2,"file":"/b"},'
                             '{"inode":"3","pos":1,"file":"/c"},{"inode":4,"pos":-1,"file":"/d"},'
                             '7,{"inode":true,"pos":1,"file":"/e"}]')
    assert entries == [Position(1, 5, "/a")]
    assert len(skipped) == 5


def test_an_empty_file_has_no_entries_and_garbage_is_an_error() -> None:
    assert loads("") == ([], [])
    assert loads(" \n") == ([], [])
    with pytest.raises(PositionFileError):
        loads('[{"inode":1')
    with pytest.raises(PositionFileError):
        loads('{"inode":1,"pos":2,"file":"/a"}')


def test_a_missing_file_has_no_entries(tmp_path: Path) -> None:
    assert read(str(tmp_path / "nope.json")) == ([], [])


def test_write_creates_parent_directories_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = str(tmp_path / "a" / "b" / "taildir_position.json")
    write(path, FLUME, durable=True)
    write(path, "[]", durable=False)
    assert Path(path).read_text() == "[]"
    assert os.listdir(tmp_path / "a" / "b") == ["taildir_position.json"]


def test_a_stale_temp_file_from_a_killed_writer_is_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "pos.json"
    Path(str(path) + ".tmp").write_text("half a fi")
    write(str(path), FLUME, durable=False)
    assert path.read_text() == FLUME
    assert not Path(str(path) + ".tmp").exists()


def test_tilde_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand("~/.flume/taildir_position.json") == str(tmp_path / ".flume" /
                                                           "taildir_position.json")
