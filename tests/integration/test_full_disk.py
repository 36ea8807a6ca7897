"""Full disks, for real: a file channel and a file_roll sink on a small tmpfs mounted by the test.
A full disk refuses puts (FULL, the reason named) or fails deliveries (FAILED, the reason
named); nothing acknowledged is lost or torn, and both resume once there is room again."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.harness import (Agent, collector_conf, duplicates, free_ports, lines_in,
                                       seq_source, wait_for)

BATCH = 100


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs at tmp_path/disk, unmounted afterwards (mounting needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def log_says(agent: Agent, text: str) -> bool:
    return text in agent.log.read_text(errors="replace")


def test_a_file_channel_on_a_full_disk_refuses_puts_and_resumes_as_it_drains(
        tmp_path: Path, small_disk: Path, agents: list[Agent]) -> None:
    """With its collector not up yet, the file channel fills its 4 MiB disk down to
    minimumRequiredSpace (1 MiB): puts are answered FULL naming the disk, the source holds
    what it read. Once the collector runs, commits free the log files and every number
    arrives."""
    total = 300_000  # about 6 MB of log records: more than the disk holds
    port = free_ports(1)
    conf = seq_source(total, BATCH) + f"""
a.channels = ch
a.channels.ch.type = file
a.channels.ch.checkpointDir = {small_disk}/checkpoint
a.channels.ch.dataDirs = {small_disk}/data
a.channels.ch.capacity = 1000000
a.channels.ch.transactionCapacity = {BATCH}
a.channels.ch.keep-alive = 1
a.channels.ch.maxFileSize = 262144
a.channels.ch.checkpointInterval = 500
a.channels.ch.minimumRequiredSpace = 1048576
a.sinks = k
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
a.sinks.k.batch-size = {BATCH}
"""
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    wait_for(lambda: log_says(agent, "disk space below minimumRequiredSpace"), 60,
             "puts refused for the disk")
    out = tmp_path / "out"
    collector = Agent(tmp_path, "c1", collector_conf("c1", port, str(out), capacity=10_000))
    agents.append(collector)
    collector.start()

    def arrived() -> list[int] | None:
        numbers = lines_in(out) if out.exists() else []
        return numbers if set(numbers) >= set(range(total)) else None
    numbers = wait_for(arrived, 120, f"all {total} events at the collector", step=0.5)
    print(f"\nfile channel on a 4 MiB disk: {total} events delivered, "
          f"{duplicates(numbers)} duplicated")
    assert set(numbers) == set(range(total))


def test_a_file_roll_sink_on_a_full_disk_fails_deliveries_and_resumes_when_space_returns(
        tmp_path: Path, small_disk: Path, agents: list[Agent]) -> None:
    """A file_roll sink whose disk is full fails its deliveries with the disk's error; the
    events stay in the channel. After the disk is enlarged every number is in the files
    exactly once: a batch cut short by the disk was cut off again, not left torn."""
    total = 1_000_000  # about 6.9 MB of lines: more than the disk holds
    conf = seq_source(total, BATCH) + f"""
a.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 1000000
a.channels.ch.transactionCapacity = 1000
a.sinks = k
a.sinks.k.type = file_roll
a.sinks.k.channel = ch
a.sinks.k.sink.directory = {small_disk}/out
a.sinks.k.sink.rollInterval = 0
a.sinks.k.batch-size = 1000
"""
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    wait_for(lambda: log_says(agent, "No space left on device"), 60, "a failed delivery")
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)

    def arrived() -> list[int] | None:
        numbers = lines_in(small_disk / "out")
        return numbers if len(numbers) >= total else None
    numbers = wait_for(arrived, 60, f"all {total} events in the files", step=0.5)
    assert sorted(numbers) == list(range(total))
