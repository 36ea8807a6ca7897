"""Taildir file groups: config keys, whole-name regex matching, oldest modification first."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from services.sources.taildir_match import FileGroup, Listing, find_inode, groups_from


def params(**prefixed: dict[str, str]) -> dict[str, Any]:
    return {"filegroups": list(prefixed.get("filegroups.*", {})),
            "filegroups.*": prefixed.get("filegroups.*", {}),
            "headers.*": prefixed.get("headers.*", {})}


def touch(path: Path, mtime_s: int, data: bytes = b"x\n") -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
    return path


def test_groups_split_literal_directory_and_file_name_regex(tmp_path: Path) -> None:
    groups = groups_from(params(**{
        "filegroups.*": {"f1": f"{tmp_path}/test1/example.log", "f2": f"{tmp_path}/t2/.*log.*"},
        "headers.*": {"f1.headerKey1": "value1", "f2.headerKey1": "value2",
                      "f2.headerKey2": "value2-2"}}))
    assert [(g.name, g.directory, g.pattern.pattern) for g in groups] == [
        ("f1", f"{tmp_path}/test1", "example.log"), ("f2", f"{tmp_path}/t2", ".*log.*")]
    assert groups[1].headers == {"headerKey1": "value2", "headerKey2": "value2-2"}


def test_a_name_pattern_is_not_normalised_as_a_path(tmp_path: Path) -> None:
    (group,) = groups_from(params(**{"filegroups.*": {"f": f"{tmp_path}/x/../logs/.."}}))
    assert group.directory == f"{tmp_path}/logs" and group.pattern.pattern == ".."


def test_config_mistakes_name_the_key() -> None:
    with pytest.raises(ValueError, match="filegroups.f2 is missing"):
        groups_from({"filegroups": ["f1", "f2"], "filegroups.*": {"f1": "/l/a"},
                     "headers.*": {}})
    with pytest.raises(ValueError, match="filegroups.f1: bad file name pattern"):
        groups_from(params(**{"filegroups.*": {"f1": "/l/a(.log"}}))
    with pytest.raises(ValueError, match="headers.f1 needs"):
        groups_from(params(**{"filegroups.*": {"f1": "/l/a"}, "headers.*": {"f1": "v"}}))


def test_matching_is_on_the_whole_name_and_oldest_first(tmp_path: Path) -> None:
    touch(tmp_path / "b.log", 300)
    touch(tmp_path / "a.log", 200)
    touch(tmp_path / "c.log", 100)
    touch(tmp_path / "a.log.1", 50)
    touch(tmp_path / "xa.log.txt", 50)
    (tmp_path / "d.log").mkdir()
    listing = Listing(FileGroup("f", str(tmp_path), re.compile(r".*\.log")))
    found = listing.matching()
    assert [os.path.basename(f.path) for f in found] == ["c.log", "a.log", "b.log"]
    assert found[0].inode == os.stat(tmp_path / "c.log").st_ino
    assert found[0].size == 2


def test_a_cached_listing_still_sees_new_and_renamed_files(tmp_path: Path) -> None:
    clock = [0.0]
    listing = Listing(FileGroup("f", str(tmp_path), re.compile(r"app\.log")), cache=True,
                      wall=lambda: clock[0])
    assert listing.matching() == []
    touch(tmp_path / "other", 1)
    touch(tmp_path / "app.log", 1)
    clock[0] = 10**10  # long after any directory change: only the mtime check re-lists
    assert [f.path for f in listing.matching()] == [str(tmp_path / "app.log")]
    os.rename(tmp_path / "app.log", tmp_path / "app.log.1")
    os.utime(tmp_path, ns=(2 * 10**9, 2 * 10**9))
    assert listing.matching() == []


def test_a_cached_listing_is_not_relisted_while_the_directory_is_unchanged(tmp_path: Path) -> None:
    touch(tmp_path / "app.log", 1)
    os.utime(tmp_path, ns=(10**9, 10**9))
    listing = Listing(FileGroup("f", str(tmp_path), re.compile(r"app\.log")), wall=lambda: 100.0)
    assert len(listing.matching()) == 1
    listing.names.append("ghost")  # a re-listing would drop it; a cached one keeps looking
    assert len(listing.matching()) == 1
    assert listing.names[-1] == "ghost"


def test_a_missing_directory_matches_nothing_until_it_appears(tmp_path: Path) -> None:
    listing = Listing(FileGroup("f", str(tmp_path / "later"), re.compile(".*")))
    assert listing.matching() == []
    (tmp_path / "later").mkdir()
    touch(tmp_path / "later" / "x", 5)
    assert len(listing.matching()) == 1


def test_find_inode_finds_a_file_under_its_new_name(tmp_path: Path) -> None:
    inode = touch(tmp_path / "app.log", 1).stat().st_ino
    os.rename(tmp_path / "app.log", tmp_path / "app.log.1")
    found = find_inode(str(tmp_path), inode)
    assert found is not None and found.path == str(tmp_path / "app.log.1")
    assert find_inode(str(tmp_path), inode + 10**9) is None
