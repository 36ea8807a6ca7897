"""TAILDIR under a real agent (TAILDIR -> memory -> file_roll) while a logger writes numbered
lines: kill -9 of the source, logrotate's rename and copytruncate, and the position file."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from services.sources.base import WINDOW
from tests.integration.harness import BIN, Agent, duplicates, lines_in, wait_for

TOTAL = 20_000
RATE = 2_500  # lines per second: about 8 s of writing, long enough to fault it twice
BATCH = 100
FLUME_JSON = re.compile(r'\[(\{"inode":\d+,"pos":\d+,"file":"[^"]*"\})'
                        r'(,\{"inode":\d+,"pos":\d+,"file":"[^"]*"\})*\]')


class Logger(threading.Thread):
    """Appends "0\\n", "1\\n", ... to `path` through an O_APPEND descriptor, like a logger;
    `reopen()` makes it open `path` afresh (logrotate's postrotate), `lock` pauses it."""

    def __init__(self, path: Path, total: int = TOTAL, rate: float = RATE) -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.rate = path, total, rate
        self.lock = threading.Lock()
        self.written = 0
        self._reopen = False

    def reopen(self) -> None:
        self._reopen = True

    def run(self) -> None:
        fd = self._open()
        start = time.monotonic()
        while self.written < self.total:
            with self.lock:
                if self._reopen:
                    os.close(fd)
                    fd, self._reopen = self._open(), False
                end = min(self.total, self.written + 50)
                os.write(fd, "".join(f"{n}\n" for n in range(self.written, end)).encode())
                self.written = end
            lag = start + self.written / self.rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
        os.close(fd)

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def config(logs: Path, positions: Path, extra: str = "") -> str:
    return f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = TAILDIR
a.sources.s.channels = c
a.sources.s.filegroups = f1
a.sources.s.filegroups.f1 = {logs}/app\\\\.log
a.sources.s.positionFile = {positions}
a.sources.s.batchSize = {BATCH}
a.sources.s.maxBackoffSleep = 500
a.sources.s.writePosInterval = 1000
a.channels.c.type = memory
a.channels.c.capacity = {TOTAL + 1000}
a.channels.c.transactionCapacity = {BATCH}
a.sinks.k.type = file_roll
a.sinks.k.channel = c
a.sinks.k.sink.directory = out
a.sinks.k.sink.rollInterval = 0
{extra}
"""


def start(tmp_path: Path, agents: list[Agent]) -> tuple[Agent, Logger, Path]:
    logs = tmp_path / "logs"
    logs.mkdir()
    positions = tmp_path / "state" / "taildir" / "positions.json"  # parents made by the source
    logger = Logger(logs / "app.log")
    logger.start()
    agent = Agent(tmp_path, "a", config(logs, positions))
    agents.append(agent)
    agent.start()
    # Rotations only once the source tails app.log: a file renamed before the source first
    # saw it no longer matches the file group, so it is never read (as in Flume). On a loaded
    # machine the agent started after the logger's first 5,000 lines, and a rotation then lost
    # all of them.
    wait_for(lambda: delivered(tmp_path), 60, "the source to tail app.log")
    return agent, logger, positions


def source_stats(agent: Agent) -> dict[str, str]:
    """The source's counters from `zflume status`."""
    result = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                            capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)["SOURCE.s"]


def delivered(tmp_path: Path) -> list[int]:
    return lines_in(tmp_path / "out")


def everything(tmp_path: Path) -> list[int]:
    def complete() -> list[int] | None:
        numbers = delivered(tmp_path)
        return numbers if set(numbers) >= set(range(TOTAL)) else None
    return wait_for(complete, 30, f"all {TOTAL} lines in the sink's files", step=0.5)


def test_kill_9_of_the_source_twice_loses_nothing(tmp_path: Path, agents: list[Agent]) -> None:
    """When the source is kill -9ed twice while a logger writes, supervisord restarts it, every
    line arrives, and the lines read twice are at most the batches that were in flight."""
    agent, logger, positions = start(tmp_path, agents)
    for threshold in (4_000, 11_000):
        wait_for(lambda: len(delivered(tmp_path)) > threshold, 20, f"{threshold} lines")
        agent.restarted("s", agent.signal("s", signal.SIGKILL))
    numbers = everything(tmp_path)
    assert logger.written == TOTAL
    assert set(numbers) == set(range(TOTAL))
    assert duplicates(numbers) <= 2 * WINDOW * BATCH
    assert FLUME_JSON.fullmatch(positions.read_text())


def test_rename_and_copytruncate_rotations_lose_nothing(tmp_path: Path,
                                                        agents: list[Agent]) -> None:
    """When the log is rotated by rename (the logger writes on to the renamed file until it
    reopens) and later by copytruncate, every line arrives once; after SIGTERM the position
    file is Flume's JSON and holds the log's full size."""
    agent, logger, positions = start(tmp_path, agents)
    log = tmp_path / "logs" / "app.log"
    wait_for(lambda: logger.written > 5_000, 20, "5000 lines written")
    os.rename(log, log.with_name("app.log.1"))
    time.sleep(0.3)  # lines written now land in app.log.1 only
    logger.reopen()
    wait_for(lambda: logger.written > 12_000, 20, "12000 lines written")
    with logger.lock:  # logrotate's own copy-then-truncate window is not ours to close
        shutil.copyfile(log, log.with_name("app.log.2"))
        os.truncate(log, 0)
    numbers = everything(tmp_path)
    assert set(numbers) == set(range(TOTAL))
    assert duplicates(numbers) == 0
    agent.stop()
    text = positions.read_text()
    assert FLUME_JSON.fullmatch(text)
    entries = {entry["file"]: entry for entry in json.loads(text)}
    assert list(entries[str(log)]) == ["inode", "pos", "file"]
    assert entries[str(log)]["inode"] == log.stat().st_ino
    assert entries[str(log)]["pos"] == log.stat().st_size


def test_binary_non_utf8_and_overlong_lines_pass_and_are_counted(tmp_path: Path,
                                                                 agents: list[Agent]) -> None:
    """When the log holds binary bytes, non-UTF-8 text and a line longer than maxLineLength,
    they arrive byte for byte (the long one cut to maxLineLength and counted), the source
    stays up and the good lines beside them arrive too."""
    logs = tmp_path / "logs"
    logs.mkdir()
    binary = bytes(b for b in range(256) if b != ord("\n"))
    lines = [b"good 1", binary, b"caf\xe9 \xff\xfe\x00", b"x" * 10_000, b"crlf\r", b"good 2"]
    (logs / "app.log").write_bytes(b"\n".join(lines) + b"\n")
    agent = Agent(tmp_path, "a", config(logs, tmp_path / "positions.json",
                                        "a.sources.s.maxLineLength = 300"))
    agents.append(agent)
    agent.start()
    expected = b"\n".join([*lines[:3], b"x" * 300, b"crlf", b"good 2"]) + b"\n"

    def output() -> bytes:
        return b"".join(path.read_bytes() for path in sorted((tmp_path / "out").glob("*")))
    wait_for(lambda: output() == expected, 15, "the six lines in the sink's file")
    stats = source_stats(agent)
    assert stats["TruncatedLineCount"] == "1"
    assert stats["EventAcceptedCount"] == "6"
    assert agent.running()
