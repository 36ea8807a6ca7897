"""The taildir source process in-process, its channel replaced by a recorder of submits: the
position file follows acknowledgements, stop writes it, headers and event ids are set."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from services.config.load import load_agent
from services.sources.taildir import TaildirSource

Submitted = list[tuple[list[bytes], Any, Callable[[], None]]]


@pytest.fixture
def run_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="td", dir="/tmp")  # short: ipc paths are limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_source(tmp_path: Path, run_dir: str, extra: str = "",
                **params: Any) -> tuple[TaildirSource, Submitted]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    conf = tmp_path / "a.conf"
    conf.write_text(f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = TAILDIR
a.sources.s.channels = c
a.sources.s.filegroups = f1
a.sources.s.filegroups.f1 = {tmp_path}/logs/app\\\\.log
a.sources.s.positionFile = {tmp_path}/pos/taildir_position.json
a.sources.s.batchSize = 2
{extra}
a.channels.c.type = memory
a.sinks.k.type = null
a.sinks.k.channel = c
""")
    agent = load_agent(str(conf), "a")
    agent.sources["s"].params.update(params)
    source = TaildirSource(agent, "s", run_dir)
    submitted: Submitted = []

    def record(bodies: list[bytes], headers: Any = None,
               on_accepted: Callable[[], None] | None = None, **_: Any) -> None:
        submitted.append((bodies, headers, on_accepted or (lambda: None)))
    source.submit = record  # type: ignore[method-assign]
    return source, submitted


def positions(tmp_path: Path) -> list[dict[str, Any]]:
    return json.loads((tmp_path / "pos" / "taildir_position.json").read_text())


def finish(source: TaildirSource) -> None:
    source.close()
    source.ctx.destroy(linger=0)


def test_the_position_file_moves_only_when_the_channel_accepted(tmp_path: Path,
                                                                 run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"l0\nl1\nl2\n")
    source, submitted = make_source(tmp_path, run_dir)
    source._poll()
    assert [bodies for bodies, _, _ in submitted] == [[b"l0", b"l1"], [b"l2"]]
    source._turn()
    assert not (tmp_path / "pos" / "taildir_position.json").exists()
    submitted[0][2]()
    source._turn()  # the write coalesced at the end of the loop turn
    assert positions(tmp_path) == [{"inode": log.stat().st_ino, "pos": 6, "file": str(log)}]
    submitted[1][2]()
    source._turn()
    assert positions(tmp_path)[0]["pos"] == 9
    assert source.counters["AppendBatchAcceptedCount"] == 2
    finish(source)


def test_after_stop_nothing_more_is_read_and_the_position_file_is_written(
        tmp_path: Path, run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"a\n")
    source, submitted = make_source(tmp_path, run_dir)
    source._poll()
    submitted[0][2]()
    source.stopping = True
    source.begin_stop()
    log.write_bytes(b"a\nb\n")
    source._poll()
    assert len(submitted) == 1
    finish(source)
    assert positions(tmp_path) == [{"inode": log.stat().st_ino, "pos": 2, "file": str(log)}]


def test_headers_carry_file_offset_group_headers_and_an_event_id(tmp_path: Path,
                                                                   run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"x\n")
    extra = ("a.sources.s.fileHeader = true\na.sources.s.byteOffsetHeader = true\n"
             "a.sources.s.headers.f1.service = app\n")
    source, submitted = make_source(tmp_path, run_dir, extra)
    source._poll()
    (headers,) = submitted[0][1]
    assert headers["service"] == "app" and headers["file"] == str(log)
    assert headers["byteoffset"] == "0"
    assert headers["eventId"].split("-")[1:3] == [str(log.stat().st_ino), "0"]
    finish(source)


def test_with_event_ids_off_and_no_header_configured_events_have_none(
        tmp_path: Path, run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"x\n")
    source, submitted = make_source(tmp_path, run_dir, eventIdHeader=False)
    source._poll()
    assert submitted[0][0] == [b"x"] and submitted[0][1] is None
    finish(source)


def test_an_unreadable_position_file_is_counted_and_files_start_as_new(
        tmp_path: Path, run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"x\n")
    (tmp_path / "pos").mkdir()
    (tmp_path / "pos" / "taildir_position.json").write_text('[{"inode":')
    source, submitted = make_source(tmp_path, run_dir)
    source._poll()
    assert submitted[0][0] == [b"x"]
    assert source.counters["GenericProcessingFail"] == 1
    finish(source)


def test_a_position_file_that_cannot_be_written_is_counted_and_reading_goes_on(
        tmp_path: Path, run_dir: str) -> None:
    log = tmp_path / "logs" / "app.log"
    log.parent.mkdir()
    log.write_bytes(b"a\nb\nc\n")
    (tmp_path / "blocker").write_text("a file where a directory should be")
    source, submitted = make_source(tmp_path, run_dir,
                                    positionFile=str(tmp_path / "blocker" / "pos.json"))
    source._poll()
    for _, _, accepted in submitted:
        accepted()
        source._turn()
    assert [bodies for bodies, _, _ in submitted] == [[b"a", b"b"], [b"c"]]
    assert source.counters["GenericProcessingFail"] == 3  # the load and both writes
    finish(source)
