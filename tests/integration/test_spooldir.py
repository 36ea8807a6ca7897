"""spooldir under a real agent (spooldir -> memory -> file_roll): files dropped in the spool
directory are delivered exactly, marked done only after delivery, and survive kill -9."""
from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from services.sources.base import GROUP_EVENTS, WINDOW
from tests.integration.harness import BIN, Agent, duplicates, lines_in, wait_for


def config(spool: Path, batch: int, capacity: int, extra: str = "") -> str:
    return f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = spooldir
a.sources.s.channels = c
a.sources.s.spoolDir = {spool}
a.sources.s.batchSize = {batch}
a.sources.s.pollDelay = 200
a.channels.c.type = memory
a.channels.c.capacity = {capacity}
a.channels.c.transactionCapacity = {batch}
a.sinks.k.type = file_roll
a.sinks.k.channel = c
a.sinks.k.sink.directory = out
a.sinks.k.sink.rollInterval = 0
a.sinks.k.sink.batchSize = {batch}
{extra}
"""


def start(tmp_path: Path, agents: list[Agent], batch: int, capacity: int,
          extra: str = "") -> tuple[Agent, Path]:
    spool = tmp_path / "spool"
    spool.mkdir()
    agent = Agent(tmp_path, "a", config(spool, batch, capacity, extra))
    agents.append(agent)
    agent.start()
    return agent, spool


def drop(spool: Path, name: str, data: bytes) -> None:
    """Write a file under a hidden name (ignored), then rename it in: it appears complete."""
    hidden = spool / f".{name}.tmp"
    hidden.write_bytes(data)
    hidden.rename(spool / name)


def numbered(first: int, count: int) -> bytes:
    return "".join(f"{n}\n" for n in range(first, first + count)).encode()


def source_stats(agent: Agent) -> dict[str, str]:
    result = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                            capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)["SOURCE.s"]


def delivered(tmp_path: Path) -> int:
    out = tmp_path / "out"
    return sum(p.read_bytes().count(b"\n") for p in out.glob("*")) if out.exists() else 0


def everything(tmp_path: Path, total: int) -> list[int]:
    def complete() -> list[int] | None:
        numbers = lines_in(tmp_path / "out")
        return numbers if set(numbers) >= set(range(total)) else None
    return wait_for(complete, 20, f"all {total} lines in the sink's files", step=0.3)


def test_files_are_delivered_exactly_and_renamed_only_after_delivery(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When files are dropped while the sink is stopped and the channel fills up, no file is
    renamed; once the sink runs again every line arrives exactly once and every file is
    renamed to .COMPLETED."""
    agent, spool = start(tmp_path, agents, batch=100, capacity=1000)
    agent.ctl("stop", "a-k")
    for n in range(3):
        drop(spool, f"part-{n}.log", numbered(n * 1500, 1500))
    wait_for(lambda: int(source_stats(agent)["ChannelWriteFail"]) > 0, 15, "a full channel")
    assert sorted(p.name for p in spool.iterdir()) == [".flumespool", "part-0.log",
                                                       "part-1.log", "part-2.log"]
    agent.ctl("start", "a-k")
    numbers = everything(tmp_path, 4500)
    assert sorted(numbers) == list(range(4500))
    wait_for(lambda: len(list(spool.glob("*.COMPLETED"))) == 3, 10, "three completed files")
    stats = source_stats(agent)
    assert (stats["EventAcceptedCount"], stats["CompletedFileCount"]) == ("4500", "3")


def test_kill_9_of_the_source_twice_mid_file_loses_nothing(tmp_path: Path,
                                                           agents: list[Agent]) -> None:
    """When the source is kill -9ed twice while it reads large files, supervisord restarts it,
    each file goes on from its progress entry, every line arrives, and the lines sent twice
    are at most the batches that were in flight at each kill."""
    batch, per_file, files = 10, 50_000, 3
    total = per_file * files
    agent, spool = start(tmp_path, agents, batch=batch, capacity=total + 1000)
    for n in range(files):
        drop(spool, f"big-{n}.log", numbered(n * per_file, per_file))
    for threshold in (30_000, 90_000):
        wait_for(lambda: delivered(tmp_path) > threshold, 20, f"{threshold} lines")
        agent.restarted("s", agent.signal("s", signal.SIGKILL))
    numbers = everything(tmp_path, total)
    extra = duplicates(numbers)
    print(f"kill -9 twice: {len(numbers)} lines delivered for {total}, {extra} duplicated")
    assert set(numbers) == set(range(total))
    # Each kill re-reads at most what was in flight: WINDOW PUTs, each of at most one batch
    # more than GROUP_EVENTS (the batches of one loop turn travel together).
    assert extra <= 2 * WINDOW * (GROUP_EVENTS + batch)
    wait_for(lambda: len(list(spool.glob("*.COMPLETED"))) == files, 10, "completed files")
    progress = spool / ".flumespool" / ".zflume-progress.json"
    wait_for(lambda: json.loads(progress.read_text()) == [], 5, "an empty progress file")


def test_delete_immediate_deletes_delivered_files_and_a_bad_file_stays(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When deletePolicy is immediate, delivered files are deleted; a file with a line that
    is not UTF-8 (decodeErrorPolicy FAIL) stays in the directory, counted, and the files
    beside it are delivered; the source stays up."""
    agent, spool = start(tmp_path, agents, batch=100, capacity=10_000,
                         extra="a.sources.s.deletePolicy = immediate")
    drop(spool, "a.log", numbered(0, 1000))
    drop(spool, "bad.log", numbered(1000, 10) + b"caf\xe9\n" + numbered(1010, 10))
    drop(spool, "b.log", numbered(2000, 1000))
    wait_for(lambda: sorted(p.name for p in spool.iterdir()) == [".flumespool", "bad.log"],
             15, "a.log and b.log deleted")
    numbers = everything(tmp_path, 1010)
    assert sorted(numbers) == [*range(1010), *range(2000, 3000)]
    stats = source_stats(agent)
    assert (stats["EventReadFail"], stats["FailedFileCount"]) == ("1", "1")
    assert agent.running()
