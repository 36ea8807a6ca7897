"""The file channel under kill -9: what it acknowledged is delivered, whatever happens to it."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from deploy.status import collect
from services.router.process import FLIGHT_EVENTS, MAX_TAKES_IN_FLIGHT
from tests.integration.harness import (Agent, collector_conf, duplicates, free_ports, lines_in,
                                       lines_written, seq_source, time_limit, wait_for)

BATCH = 100


def file_channel(work: Path, capacity: int = 1_000_000) -> str:
    """A file channel that fails over fast: PUTs and TAKEs are retried 3 s after a kill."""
    return f"""
a.channels = ch
a.channels.ch.type = file
a.channels.ch.checkpointDir = {work}/checkpoint
a.channels.ch.dataDirs = {work}/data
a.channels.ch.capacity = {capacity}
a.channels.ch.transactionCapacity = {BATCH}
a.channels.ch.keep-alive = 1
a.channels.ch.maxFileSize = 1000000
a.channels.ch.checkpointInterval = 500
a.channels.ch.minimumRequiredSpace = 1048576
"""


def all_numbers(out: Path, total: int, timeout: float) -> list[int]:
    def complete() -> list[int] | None:
        numbers = lines_in(out)
        return numbers if set(numbers) >= set(range(total)) else None
    try:
        return wait_for(complete, timeout, f"all {total} events in {out}", step=0.5)
    except AssertionError:
        numbers = lines_in(out)
        missing = sorted(set(range(total)) - set(numbers))
        raise AssertionError(f"{len(missing)} of {total} events lost (first {missing[:10]}), "
                             f"{duplicates(numbers)} duplicated") from None


def channel_stats(agent: Agent) -> dict[str, str]:
    return collect(str(agent.run_dir)).get("CHANNEL.ch", {})


def channel_pid(agent: Agent, old_pid: int = 0) -> int:
    """The channel's pid from /proc, at once (supervisorctl shows it only a second after the
    start, when a fast stream may be over); never 0, which os.kill reads as our own group,
    nor `old_pid`, the one just killed."""
    def find() -> int:
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue  # exited meanwhile
            if (b"--component" in args and args[args.index(b"--component") + 1] == b"ch"
                    and str(agent.run_dir).encode() in args and int(proc.name) != old_pid):
                return int(proc.name)
        return 0
    return int(wait_for(find, 30, "the channel process", step=0.01))


def kill_channel(agent: Agent, pid: int) -> None:
    """kill -9 the channel and wait for supervisord's new one."""
    agent.expect_fault("ch")
    os.kill(pid, signal.SIGKILL)
    agent.restarted("ch", pid)


def recovered_counts(agent: Agent) -> list[int]:
    """How many events each start of the channel recovered, from the agent's log."""
    return [int(line.split("recovered ")[1].split()[0])
            for line in agent.log.read_text().splitlines() if "channel.ch: recovered" in line]


def test_channel_killed_repeatedly_mid_stream_loses_nothing(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When the file channel is kill -9ed four times while batches stream through it (PUTs
    in flight, TAKEs leased, COMMITs unanswered), supervisord restarts it and every number
    arrives; duplicates are only redelivered batches."""
    total, kills = 200_000, 4
    # A small capacity paces the source by the sink, so it still has PUTs waiting at each kill.
    conf = (seq_source(total, BATCH) + file_channel(tmp_path, capacity=5000)
            + f"a.sinks = k\na.sinks.k.type = file_roll\na.sinks.k.channel = ch\n"
              f"a.sinks.k.sink.directory = {tmp_path}/out\na.sinks.k.sink.rollInterval = 0\n")
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start(wait=False)
    agent.expect_fault("ch")
    out, done, pid = tmp_path / "out", 0, 0
    for kill in range(1, kills + 1):
        pid = channel_pid(agent, pid)
        # Kill at evenly spaced points of the stream, which runs at full speed with PUTs in
        # flight; waiting for supervisorctl to call the new channel RUNNING would take a
        # second, in which a fast machine can deliver the whole rest.
        wait_for(lambda at=kill * total // (kills + 1): lines_written(out) >= at, 30,
                 "events to flow again", step=0.005)
        if lines_written(out) >= total:
            break
        os.kill(pid, signal.SIGKILL)
        done += 1
    numbers = all_numbers(out, total, 30)
    dups = duplicates(numbers)
    resent = agent.log.read_text().count("source.src: channel ch did not answer")
    print(f"\nfile channel killed {done} times: {total} events, none lost, {dups} duplicated;"
          f" events recovered at each start: {recovered_counts(agent)}; the source resent "
          f"PUTs in flight after {resent} of the kills")
    assert done == kills, f"the stream ended after {done} kills: raise total"
    assert resent, "no kill caught a PUT in flight"
    # Each kill redelivers at most what the router had leased: its window of flights and the
    # takes in flight, each of up to FLIGHT_EVENTS events.
    leased = (4 + MAX_TAKES_IN_FLIGHT) * FLIGHT_EVENTS  # 4: the default sink-group window
    assert dups <= kills * leased, f"{dups} duplicates after {kills} kills"


def test_events_held_when_the_channel_dies_are_recovered_and_delivered(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When the file channel holds every event (its collector is not up yet) and is kill -9ed,
    the restarted channel recovers all of them, and they are delivered once the collector
    appears. A memory channel would have lost them all."""
    total = 20_000
    port = free_ports(1)
    conf = (seq_source(total, BATCH) + file_channel(tmp_path)
            + f"a.sinks = k\na.sinks.k.type = avro\na.sinks.k.channel = ch\n"
              f"a.sinks.k.hostname = 127.0.0.1\na.sinks.k.port = {port}\n")
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    wait_for(lambda: channel_stats(agent).get("ChannelSize") == str(total), 30,
             "the channel to hold every event")
    kill_channel(agent, channel_pid(agent))
    stats = wait_for(lambda: channel_stats(agent), 10, "the restarted channel's counters")
    assert stats["RecoveredEventCount"] == str(total), stats
    collector = Agent(tmp_path, "c", collector_conf("c", port, str(tmp_path / "out"), 20_000))
    agents.append(collector)
    started = time.monotonic()
    collector.start(wait=False)
    numbers = all_numbers(tmp_path / "out", total, 40)
    print(f"\n{total} events recovered after kill -9 and delivered "
          f"{time.monotonic() - started:.1f} s after the collector started; "
          f"{duplicates(numbers)} duplicated")


def test_sigterm_of_the_agent_keeps_what_it_could_not_deliver(tmp_path: Path,
                                                               agents: list[Agent]) -> None:
    """When the agent is stopped with SIGTERM while its collector is down, it stops at once
    (not after the 25 s stop budget), its file channel says how many events it kept on disk,
    and the agent started again delivers exactly those once the collector is up."""
    total = 5_000
    port = free_ports(1)
    sink = (f"a.sinks = k\na.sinks.k.type = avro\na.sinks.k.channel = ch\n"
            f"a.sinks.k.hostname = 127.0.0.1\na.sinks.k.port = {port}\n")
    agent = Agent(tmp_path, "a", seq_source(total, BATCH) + file_channel(tmp_path) + sink)
    agents.append(agent)
    agent.start()
    wait_for(lambda: channel_stats(agent).get("ChannelSize") == str(total), 30,
             "the channel to hold every event")
    stopping = time.monotonic()
    agent.stop()
    took = time.monotonic() - stopping
    assert agent.proc is not None and agent.proc.returncode == 0
    assert f"stopped with {total} events kept on disk" in agent.log.read_text()
    assert took < time_limit(10.0), f"the stop took {took:.1f} s"
    again = Agent(tmp_path, "a", seq_source(0, BATCH) + file_channel(tmp_path) + sink)
    agents.append(again)
    again.start()
    collector = Agent(tmp_path, "c", collector_conf("c", port, str(tmp_path / "out"), 20_000))
    agents.append(collector)
    collector.start(wait=False)
    numbers = all_numbers(tmp_path / "out", total, 40)
    assert sorted(numbers) == list(range(total))  # none lost, none twice: nothing was in flight
