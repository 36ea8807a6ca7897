"""The spooling directory: which files are candidates, in which order, and marking them done."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from services.sources.spooldir_dir import SpoolDir, SpoolViolation

SECOND_NS = 1_000_000_000


def spool(tmp_path: Path, **kwargs: Any) -> SpoolDir:
    directory = SpoolDir(str(tmp_path / "spool"), **kwargs)
    os.makedirs(directory.directory, exist_ok=True)
    directory.prepare()
    return directory


def put(tmp_path: Path, rel: str, age_s: int = 0, data: bytes = b"x\n") -> Path:
    path = tmp_path / "spool" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    mtime = 1_700_000_000 * SECOND_NS - age_s * SECOND_NS
    os.utime(path, ns=(mtime, mtime))
    return path


def names(directory: SpoolDir) -> list[str]:
    return [found.rel for found in directory.listing()]


def test_hidden_completed_ignored_and_not_included_files_are_not_candidates(
        tmp_path: Path) -> None:
    d = spool(tmp_path, include=r"^.*\.log$", ignore=r"^skip.*$")
    for rel in ("a.log", ".hidden.log", "b.log.COMPLETED", "skip-me.log", "c.txt", "sub/d.log"):
        put(tmp_path, rel)
    assert names(d) == ["a.log"]  # the tracker dir .flumespool and sub/ are not searched


def test_patterns_match_the_whole_name(tmp_path: Path) -> None:
    d = spool(tmp_path, include=r"log|b.*", ignore=r"b")
    for rel in ("log", "xlog", "b", "bb"):
        put(tmp_path, rel)
    assert names(d) == ["bb", "log"]  # "xlog" is not all "log"; "bb" is more than "b"


def test_a_bad_pattern_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="includePattern"):
        SpoolDir(str(tmp_path), include="(")


def test_recursive_search_skips_hidden_directories_and_the_tracker_dir(tmp_path: Path) -> None:
    tracker = tmp_path / "spool" / "track"
    d = spool(tmp_path, recursive=True, tracker_dir=str(tracker))
    for rel in ("a", "sub/b", "sub/deeper/c", ".hid/d", "track/e"):
        put(tmp_path, rel)
    assert sorted(names(d)) == ["a", "sub/b", "sub/deeper/c"]


@pytest.mark.parametrize(("order", "expected"), [("oldest", ["old", "mid-a", "mid-b", "new"]),
                                                 ("youngest", ["new", "mid-a", "mid-b", "old"])])
def test_consume_order_with_ties_broken_by_name(tmp_path: Path, order: str,
                                                expected: list[str]) -> None:
    d = spool(tmp_path, order=order)
    put(tmp_path, "new", 0)
    put(tmp_path, "mid-b", 5)
    put(tmp_path, "mid-a", 5)
    put(tmp_path, "old", 9)
    assert names(d) == expected


def test_random_order_has_every_file(tmp_path: Path) -> None:
    d = spool(tmp_path, order="random", rng=random.Random(7))
    for n in range(20):
        put(tmp_path, f"f{n:02}", n)
    listed = names(d)
    assert sorted(listed) == [f"f{n:02}" for n in range(20)]
    assert listed != sorted(listed, key=lambda rel: -int(rel[1:]))  # not simply oldest first


def test_rename_marks_done_and_a_taken_name_is_a_violation(tmp_path: Path) -> None:
    d = spool(tmp_path)
    path = put(tmp_path, "a")
    (found,) = d.listing()
    assert d.reused(found) is None
    assert d.finish(found) == f"renamed to {path}.COMPLETED"
    assert not path.exists() and Path(f"{path}.COMPLETED").read_bytes() == b"x\n"
    assert names(d) == []
    put(tmp_path, "a", data=b"other\n")
    (again,) = d.listing()
    assert "re-used" in str(d.reused(again))
    with pytest.raises(SpoolViolation, match="re-used"):
        d.finish(again)
    assert path.read_bytes() == b"other\n"  # nothing replaced


def test_a_rename_cut_short_by_a_crash_is_finished(tmp_path: Path) -> None:
    d = spool(tmp_path)
    path = put(tmp_path, "a")
    os.link(path, f"{path}.COMPLETED")  # killed between link and unlink
    (found,) = d.listing()
    assert d.reused(found) is None
    d.finish(found)
    assert not path.exists() and Path(f"{path}.COMPLETED").exists()


def test_delete_immediate_deletes_and_a_missing_file_is_only_warned(tmp_path: Path) -> None:
    d = spool(tmp_path, delete="immediate", tracking="tracker_dir")
    path = put(tmp_path, "a")
    (found,) = d.listing()
    assert d.finish(found) == "deleted"
    assert not path.exists() and os.listdir(d.tracker_dir) == []
    assert d.finish(found) == "deleted"


def test_tracker_dir_records_done_files_and_leaves_them_in_place(tmp_path: Path) -> None:
    d = spool(tmp_path, tracking="tracker_dir", recursive=True)
    put(tmp_path, "a")
    put(tmp_path, "sub/b")
    for found in d.listing():
        d.finish(found)
    assert sorted(os.listdir(tmp_path / "spool")) == [".flumespool", "a", "sub"]
    assert (tmp_path / "spool" / ".flumespool" / "sub" / "b.COMPLETED").exists()
    assert names(d) == []
    assert names(spool(tmp_path, tracking="tracker_dir", recursive=True)) == []  # from disk


def test_tracker_dir_reports_a_reused_name_once_and_skips_it(tmp_path: Path) -> None:
    d = spool(tmp_path, tracking="tracker_dir")
    path = put(tmp_path, "a")
    (found,) = d.listing()
    d.finish(found)
    path.unlink()
    put(tmp_path, "a", data=b"a new file\n")
    assert names(d) == [] and names(d) == []
    assert d.tally["GenericProcessingFail"] == 1
    with pytest.raises(SpoolViolation):
        d.finish(found)


def test_flumes_empty_markers_count_as_done(tmp_path: Path) -> None:
    d = spool(tmp_path, tracking="tracker_dir")
    put(tmp_path, "a")
    Path(d.marker("a")).write_bytes(b"")
    assert names(d) == [] and d.tally["GenericProcessingFail"] == 0


def test_prepare_needs_the_directory_and_write_access_only_when_it_writes(
        tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SpoolDir(str(tmp_path / "missing")).prepare()
    (tmp_path / "ro").mkdir()
    SpoolDir(str(tmp_path / "ro"), tracker_dir=str(tmp_path / "t")).prepare()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        if os.access(tmp_path / "ro", os.W_OK):
            pytest.skip("running as root: every directory is writable")
        with pytest.raises(PermissionError):
            SpoolDir(str(tmp_path / "ro"), tracker_dir=str(tmp_path / "t")).prepare()
        SpoolDir(str(tmp_path / "ro"), tracker_dir=str(tmp_path / "t"),
                 tracking="tracker_dir").prepare()
    finally:
        os.chmod(tmp_path / "ro", 0o755)
