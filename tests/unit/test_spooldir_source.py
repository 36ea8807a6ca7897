"""The spooldir source process in-process, its channel replaced by a recorder of submits: files
are marked done only after every batch was acknowledged, the progress file follows the
acknowledgements, files that break the spooling rules stop alone, headers and event ids."""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from proto import batch
from services.config.load import check_file, load_agent
from services.sources import spooldir
from services.sources.spooldir import SpoolDirSource

SECOND_NS = 1_000_000_000


@dataclass
class Batch:
    bodies: list[bytes]
    headers: Any
    on_accepted: Callable[[], None]


class Harness:
    """A source whose submits are recorded; `ack(i)` is the channel answering batch i."""

    def __init__(self, tmp_path: Path, run_dir: str, extra: str = "") -> None:
        self.spool = tmp_path / "spool"
        self.spool.mkdir(exist_ok=True)
        conf = tmp_path / "a.conf"
        conf.write_text(f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = spooldir
a.sources.s.channels = c
a.sources.s.spoolDir = {self.spool}
a.sources.s.batchSize = 2
{extra}
a.channels.c.type = memory
a.sinks.k.type = null
a.sinks.k.channel = c
""")
        self.source = SpoolDirSource(load_agent(str(conf), "a"), "s", run_dir)
        self.batches: list[Batch] = []

        def record(bodies: list[bytes], headers: Any = None,
                   on_accepted: Callable[[], None] | None = None, **_: Any) -> None:
            self.batches.append(Batch(bodies, headers, on_accepted or (lambda: None)))
        self.source.submit = record  # type: ignore[method-assign]

    def put(self, name: str, data: bytes, age_s: int = 0) -> Path:
        path = self.spool / name
        path.write_bytes(data)
        mtime = 1_700_000_000 * SECOND_NS - age_s * SECOND_NS
        os.utime(path, ns=(mtime, mtime))
        return path

    def pump(self) -> None:
        self.source._pump()

    def ack(self, *indexes: int) -> None:
        """The channel accepted these batches; the base class then calls resume()."""
        for i in indexes:
            self.batches[i].on_accepted()
            self.source.resume()
        self.source._save(False)  # what the end of the loop turn does

    def ack_all(self) -> None:
        done = 0
        while done < len(self.batches):
            self.ack(done)
            done += 1

    def bodies(self) -> list[bytes]:
        return [body for batch in self.batches for body in batch.bodies]

    def progress(self) -> list[dict[str, Any]]:
        return json.loads((self.spool / ".flumespool" / ".zflume-progress.json").read_text())

    def files(self) -> list[str]:
        return sorted(os.listdir(self.spool))

    def crash(self) -> None:
        """kill -9: nothing more is written."""
        if self.source.current is not None:
            self.source.current.close()
        self.source.ctx.destroy(linger=0)

    def stop(self) -> None:
        self.source.close()
        self.source.ctx.destroy(linger=0)


@pytest.fixture
def run_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="sd", dir="/tmp")  # short: ipc paths are limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make(tmp_path: Path, run_dir: str) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def build(extra: str = "") -> Harness:
        harness = Harness(tmp_path, run_dir, extra)
        made.append(harness)
        return harness
    yield build
    for harness in made:
        if not harness.source.ctx.closed:
            harness.stop()


def test_a_file_is_renamed_only_after_every_batch_was_acknowledged(
        make: Callable[..., Harness]) -> None:
    h = make()
    h.put("a.log", b"1\n2\r\n3\n4\n5")
    h.pump()
    assert [b.bodies for b in h.batches] == [[b"1", b"2"], [b"3", b"4"], [b"5"]]
    h.ack(0, 2)  # out of order: batch 1 is still in the channel's hands
    assert h.files() == [".flumespool", "a.log"]
    assert [(e["pos"], e["line"]) for e in h.progress()] == [(5, 3)]
    h.ack(1)
    assert h.files() == [".flumespool", "a.log.COMPLETED"]
    assert h.progress() == []
    assert h.source.counters["CompletedFileCount"] == 1
    assert h.source.counters["AppendBatchAcceptedCount"] == 3


def test_files_are_read_one_at_a_time_oldest_first(make: Callable[..., Harness]) -> None:
    h = make()
    h.put("new", b"n\n", age_s=1)
    h.put("old", b"o\n", age_s=9)
    h.pump()
    assert h.bodies() == [b"o"]  # "new" waits until "old" is done
    h.ack(0)
    assert h.bodies() == [b"o", b"n"]
    h.ack(1)
    assert h.files() == [".flumespool", "new.COMPLETED", "old.COMPLETED"]


def test_after_a_crash_only_unacknowledged_batches_are_read_again_with_the_same_ids(
        make: Callable[..., Harness]) -> None:
    first = make()
    first.put("a.log", b"".join(b"%d\n" % n for n in range(7)))
    first.pump()
    first.ack(0, 1)
    first.crash()
    second = make()
    second.pump()
    assert second.bodies() == [b"4", b"5", b"6"]
    ids = [hd["eventId"] for b in first.batches for hd in b.headers]
    assert [hd["eventId"] for b in second.batches for hd in b.headers] == ids[4:]
    second.ack_all()
    assert second.files() == [".flumespool", "a.log.COMPLETED"]


def test_a_crash_after_the_last_acknowledgement_renames_without_reading_again(
        make: Callable[..., Harness]) -> None:
    first = make()
    first.put("a.log", b"x\ny\n")
    first.pump()
    first.source.stopping = True  # so that the acknowledgement does not finish the file
    first.ack(0)
    first.crash()
    second = make()
    second.pump()
    assert second.batches == []
    assert second.files() == [".flumespool", "a.log.COMPLETED"]


def test_a_line_that_does_not_decode_stops_its_file_and_the_others_go_on(
        make: Callable[..., Harness]) -> None:
    h = make()
    h.put("bad", b"good\nbad \xff\nnever\n", age_s=2)
    h.put("fine", b"fine\n", age_s=1)
    h.pump()
    assert h.bodies() == [b"good"]
    h.ack(0)
    h.ack(1)
    assert h.bodies() == [b"good", b"fine"]
    assert h.files() == [".flumespool", "bad", "fine.COMPLETED"]
    counters = h.source.counters
    assert (counters["EventReadFail"], counters["FailedFileCount"]) == (1, 1)
    assert [(e["file"], e["line"]) for e in h.progress()] == [("bad", 2)]
    h.pump()  # not tried again while the source runs
    assert len(h.batches) == 2
    h.stop()
    again = make()
    again.pump()
    assert again.batches == [] and again.source.counters["EventReadFail"] == 1


def test_with_replace_the_bad_bytes_become_replacement_characters(
        make: Callable[..., Harness]) -> None:
    h = make("a.sources.s.decodeErrorPolicy = REPLACE")
    h.put("a", b"caf\xe9\n")
    h.pump()
    assert h.bodies() == ["caf\ufffd".encode()]


def test_a_file_modified_after_it_was_picked_up_is_not_marked_done(
        make: Callable[..., Harness]) -> None:
    h = make()
    path = h.put("a", b"1\n", age_s=2)
    h.put("b", b"2\n", age_s=1)
    h.pump()
    with open(path, "ab") as handle:
        handle.write(b"late\n")
    h.ack(0)
    assert h.files() == [".flumespool", "a", "b"]
    assert h.source.counters["GenericProcessingFail"] == 1
    h.ack(1)
    assert h.files() == [".flumespool", "a", "b.COMPLETED"]


def test_a_file_shorter_than_its_acknowledged_position_after_a_restart_is_refused(
        make: Callable[..., Harness]) -> None:
    first = make()
    path = first.put("a", b"1\n2\n3\n")
    first.pump()
    first.ack(0)
    first.crash()
    path.write_bytes(b"1\n")
    second = make()
    second.pump()
    assert second.batches == [] and second.source.counters["GenericProcessingFail"] == 1


def test_a_reused_name_is_refused_before_anything_is_read(make: Callable[..., Harness]) -> None:
    h = make()
    h.put("a", b"old\n")
    h.pump()
    h.ack(0)
    h.put("a", b"same name, other file\n")
    h.pump()
    assert h.bodies() == [b"old"]
    assert h.source.counters["GenericProcessingFail"] == 1
    assert h.files() == [".flumespool", "a", "a.COMPLETED"]


def test_delete_policy_immediate_deletes_after_the_last_acknowledgement(
        make: Callable[..., Harness]) -> None:
    h = make("a.sources.s.deletePolicy = immediate")
    h.put("a", b"1\n2\n3\n")
    h.pump()
    h.ack(0)
    assert h.files() == [".flumespool", "a"]
    h.ack(1)
    assert h.files() == [".flumespool"]


def test_tracker_dir_policy_leaves_the_file_and_a_new_source_skips_it(
        tmp_path: Path, make: Callable[..., Harness]) -> None:
    extra = f"a.sources.s.trackingPolicy = tracker_dir\na.sources.s.trackerDir = {tmp_path}/t"
    h = make(extra)
    h.put("a", b"1\n")
    h.pump()
    h.ack(0)
    assert h.files() == ["a"] and (tmp_path / "t" / "a.COMPLETED").exists()
    h.stop()
    again = make(extra)
    again.pump()
    assert again.batches == []


def test_headers_carry_path_basename_and_an_event_id_per_line_and_part(
        make: Callable[..., Harness]) -> None:
    h = make("a.sources.s.fileHeader = true\na.sources.s.basenameHeader = true\n"
             "a.sources.s.basenameHeaderKey = name\na.sources.s.deserializer.maxLineLength = 3")
    path = h.put("a.log", b"abcd\n")
    h.pump()
    first, second = h.batches[0].headers
    assert first["file"] == str(path) and first["name"] == "a.log"
    origin, key, line = first["eventId"].split("-")
    assert (len(origin), len(key), line) == (8, 12, "1")
    assert second["eventId"] == f"{origin}-{key}-1.1"
    assert h.source.stats()["TruncatedLineCount"] == 1


def test_interceptors_run_on_top_of_the_sources_headers(tmp_path: Path,
                                                        run_dir: str) -> None:
    h = Harness(tmp_path, run_dir, "a.sources.s.interceptors = st\n"
                "a.sources.s.interceptors.st.type = static\n"
                "a.sources.s.interceptors.st.key = eventId\n"  # preserveExisting: kept
                "a.sources.s.interceptors.st.value = clobbered")
    puts: list[bytes] = []
    h.source.submit = functools.partial(SpoolDirSource.submit, h.source)  # the real one
    h.source._put = lambda ch, group: puts.extend(  # type: ignore[method-assign]
        txn.blob for txn in group.txns)
    h.put("a", b"x\n")
    h.pump()
    h.source._send_group(0.0)  # what the end of the loop turn does
    headers, bodies = batch.decode(puts[0])
    assert bodies == [b"x"] and headers is not None
    assert list(headers[0]) == ["eventId"] and headers[0]["eventId"] != "clobbered"
    h.stop()


def test_with_event_ids_off_and_no_header_configured_events_have_none(
        make: Callable[..., Harness]) -> None:
    h = make("a.sources.s.eventIdHeader = false")
    h.put("a", b"x\n")
    h.pump()
    assert h.batches[0].headers is None


def test_acknowledged_progress_is_saved_before_the_window_is_refilled(
        make: Callable[..., Harness]) -> None:
    """So a kill -9 re-reads only batches in flight, however many came back in one turn."""
    h = make()
    h.put("a", b"".join(b"%d\n" % n for n in range(20)))
    acked: set[int] = set()
    h.source.has_room = lambda: len(h.batches) - len(acked) < 4  # type: ignore[method-assign]
    h.pump()
    assert len(h.batches) == 4
    for i in range(3):
        acked.add(i)
        h.batches[i].on_accepted()
        h.source.resume()  # refills the window: the acknowledged lines are saved first
    assert len(h.batches) == 7
    assert [(e["pos"], e["line"]) for e in h.progress()] == [(12, 7)]


def test_empty_files_are_marked_done_without_events_a_few_per_turn(
        make: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spooldir, "FILES_PER_TURN", 2)
    h = make()
    for n in range(3):
        h.put(f"e{n}", b"", age_s=3 - n)
    h.pump()
    assert h.files() == [".flumespool", "e0.COMPLETED", "e1.COMPLETED", "e2"]
    assert h.source.pump_due  # the rest next turn
    h.pump()
    assert h.batches == [] and h.files() == [".flumespool"] + [f"e{n}.COMPLETED"
                                                               for n in range(3)]


def test_a_missing_spool_dir_is_waited_for(tmp_path: Path, run_dir: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(tmp_path, run_dir)
    h.spool.rmdir()
    h.pump()
    h.pump()
    assert sum("looking again" in r.getMessage() for r in caplog.records) == 1
    h.spool.mkdir()
    h.put("a", b"x\n")
    h.pump()
    assert h.bodies() == [b"x"]
    h.stop()


def test_after_stop_no_new_file_is_read_but_the_one_in_flight_is_finished(
        make: Callable[..., Harness]) -> None:
    h = make()
    h.put("a", b"1\n", age_s=2)
    h.put("b", b"2\n", age_s=1)
    h.pump()
    h.source.stopping = True
    h.source.begin_stop()
    h.ack(0)
    assert h.bodies() == [b"1"]
    assert h.files() == [".flumespool", "a.COMPLETED", "b"]
    assert h.source.drained()
    h.stop()
    assert h.progress() == []


def test_an_unreadable_progress_file_is_counted_and_files_start_over(
        make: Callable[..., Harness]) -> None:
    h = make()
    (h.spool / ".flumespool").mkdir()
    (h.spool / ".flumespool" / ".zflume-progress.json").write_text("[{")
    h.put("a", b"x\n")
    h.pump()
    assert h.bodies() == [b"x"] and h.source.counters["GenericProcessingFail"] == 1


@pytest.mark.parametrize(("extra", "message"), [
    ("a.sources.s.includePattern = (", "includePattern"),
    ("a.sources.s.inputCharset = UTF-16", "UTF-16"),
    ("a.sources.s.deserializer.outputCharset = nope", "nope"),
])
def test_settings_the_source_cannot_work_with_stop_it_at_start(
        make: Callable[..., Harness], extra: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(extra)


@pytest.mark.parametrize(("line", "message"), [
    ("a.sources.s.deserializer = AVRO", "deserializer AVRO is not supported yet"),
    ("a.sources.s.deletePolicy = delay", "must be one of never, immediate, not delay"),
    ("a.sources.s.consumeOrder = newest", "must be one of oldest, youngest, random"),
    ("a.sources.s.batchSize = 0", "must be at least 1"),
])
def test_config_errors_are_reported_by_the_checker(tmp_path: Path, line: str,
                                                   message: str) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("a.sources = s\na.channels = c\na.sources.s.type = spooldir\n"
                    "a.sources.s.channels = c\na.sources.s.spoolDir = /tmp\n"
                    f"a.channels.c.type = memory\n{line}\n")
    errors = check_file(str(conf), "a")[0]
    assert [e.message for e in errors if message in e.message]


def test_the_defaults_are_flumes(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("a.sources = s\na.channels = c\na.sources.s.type = "
                    "org.apache.flume.source.SpoolDirectorySource\na.sources.s.channels = c\n"
                    "a.sources.s.spoolDir = /tmp\na.channels.c.type = memory\n")
    params = load_agent(str(conf), "a").sources["s"].params
    assert {k: params[k] for k in ("fileSuffix", "deletePolicy", "trackerDir", "trackingPolicy",
                                   "consumeOrder", "pollDelay", "batchSize", "inputCharset",
                                   "decodeErrorPolicy", "deserializer.maxLineLength")} == {
        "fileSuffix": ".COMPLETED", "deletePolicy": "never", "trackerDir": ".flumespool",
        "trackingPolicy": "rename", "consumeOrder": "oldest", "pollDelay": 500,
        "batchSize": 100, "inputCharset": "UTF-8", "decodeErrorPolicy": "fail",
        "deserializer.maxLineLength": 2048}
