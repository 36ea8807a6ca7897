"""Graceful stop of a whole agent (docs/architecture.md 7): SIGTERM lets a memory channel deliver what
it can within the stop budget, and the log says how many events it could not deliver.

    ax: seq -> memory channel -> avro sink k1 ──> c1: avro -> channel -> file_roll
"""
from __future__ import annotations

import datetime
import os
import re
import signal
import time
from pathlib import Path

import pytest

from deploy.status import collect
from services.sources.base import GROUP_EVENTS, WINDOW
from tests.chaos.fleet import (BATCH, LONG, GapWatch, Programs, Tally, channel_conf,
                               collector_conf, keys, report, settle)
from tests.integration.harness import Agent, free_ports, wait_for

DRAIN_TOTAL = 300_000  # a SIGTERM right after the first arrival finds most of it undelivered
DRAIN_SINK_BATCH = 2  # two events per call: delivery takes seconds however fast the hops are
STUCK_TOTAL = 40_000  # half of it fits in the collector's channel (20,000)
# The record the channel writes as it stops: "stopping with N events undelivered" (any wording
# that puts the count before "undelivered" / "not delivered" is taken).
UNDELIVERED = re.compile(r"channel\.ch: .*?\b(\d+) events? (?:were |was )?(?:left )?"
                         r"(?:undelivered|not delivered)")

pytestmark = pytest.mark.timeout(300 if LONG else 120)


def agent_conf(port: int, total: int, sink_batch: int) -> str:
    return (keys("ax", "sources = src", "channels = ch", "sinks = k1")
            + keys("ax.sources.src", "type = seq", "channels = ch", f"totalEvents = {total}",
                   f"batchSize = {BATCH}")
            + channel_conf("ax.channels.ch", "memory", Path("."), total + 1_000)
            + keys("ax.sinks.k1", "type = avro", "channel = ch", "hostname = 127.0.0.1",
                   f"port = {port}", f"batch-size = {sink_batch}"))


def channel_size(agent: Agent) -> int:
    return int(collect(str(agent.run_dir)).get("CHANNEL.ch", {}).get("ChannelSize", -1))


def start_full(tmp_path: Path, agents: list[Agent], collector_channel: str, total: int,
               sink_batch: int = BATCH) -> tuple[Agent, Agent, Tally]:
    """ax with every event in its memory channel, and c1 (not started) to deliver them to."""
    port = free_ports(1)
    out = tmp_path / "out" / "c1"
    c1 = Agent(tmp_path, "c1", collector_conf("c1", port, out, collector_channel, tmp_path))
    ax = Agent(tmp_path, "ax", agent_conf(port, total, sink_batch))
    agents.extend([ax, c1])
    ax.start()
    wait_for(lambda: channel_size(ax) == total, 30, f"the channel to hold all {total} events")
    return ax, c1, Tally(total, out)


def stopped(agent: Agent) -> float:
    """SIGTERM the whole agent; seconds until it exited."""
    sent = time.monotonic()
    agent.proc.send_signal(signal.SIGTERM)
    agent.proc.wait(60)
    return time.monotonic() - sent


def logged_at(agent: Agent, text: str) -> float:
    """time.time() of the first log record containing `text` (records carry local time)."""
    for line in agent.log.read_text(errors="replace").splitlines():
        if text in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise AssertionError(f"no '{text}' in {agent.log}")


def undelivered(agent: Agent) -> int | None:
    """What the stopped channel says it could not deliver (None: it says nothing)."""
    counts = UNDELIVERED.findall(agent.log.read_text(errors="replace"))
    return int(counts[-1]) if counts else None


def test_sigterm_drains_the_memory_channel_and_says_so(tmp_path: Path,
                                                       agents: list[Agent]) -> None:
    """When an agent whose memory channel holds 300,000 events gets SIGTERM just as its collector
    starts taking them, it delivers every one before it exits, and its log says 0 events were
    left undelivered."""
    ax, c1, tally = start_full(tmp_path, agents, "memory", DRAIN_TOTAL, DRAIN_SINK_BATCH)
    watch = GapWatch(tally, step_s=0.02)
    watch.start()
    c1.start(wait=False)
    wait_for(lambda: tally.poll(), 30, "the first event at the collector", step=0.02)
    took = stopped(ax)
    complete = settle(tally, lambda: DRAIN_TOTAL, 30)
    watch.stop()
    left = undelivered(ax)
    # supervisord passes the SIGTERM on within its 1 s loop: count from the channel's own record
    pending = DRAIN_TOTAL - watch.distinct_at(logged_at(ax, "channel.ch: stop requested"))
    report(f"drain: the channel got SIGTERM with {pending} of {DRAIN_TOTAL} events not yet "
           f"delivered; agent stopped in {took:.1f} s; delivered {tally.distinct}, duplicated "
           f"{tally.duplicated()}, log says undelivered: {left}")
    assert pending > DRAIN_TOTAL // 4, "the channel drained before the SIGTERM: raise the total"
    assert complete and tally.distinct == DRAIN_TOTAL, \
        f"{DRAIN_TOTAL - tally.distinct} events dropped"
    assert left == 0, f"{ax.log} says {left} events undelivered (None: says nothing)"


def test_sigterm_with_no_collector_reports_what_it_could_not_deliver(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When an agent gets SIGTERM while its collector is dead (its file channel holding what it
    accepted, its sink frozen so it accepted only a part), the agent's log names how many
    events it could not deliver, and those plus what the collector delivers once restarted
    cover every event the agent accepted: nothing silently dropped. Counted twice at most:
    what the collector's channel had stored for PUTs it had not answered yet when it was
    killed (a PUT that does not fit waits for room, holding the answer for the part stored)."""
    ax, c1, tally = start_full(tmp_path, agents, "file", STUCK_TOTAL)
    c1.start(wait=False)
    c1.expect_fault("k")
    os.kill(first_pid(c1, "k"), signal.SIGSTOP)  # c1's channel fills up, then it answers FAILED
    wait_for(lambda: channel_size(c1) >= 20_000 - BATCH, 30, "the collector's channel to fill")
    kill_whole(c1)
    took = stopped(ax)
    left = undelivered(ax)
    c1_again = Agent(tmp_path, "c1", c1.conf.read_text())  # its file channel kept what it took
    agents.append(c1_again)
    c1_again.start()
    settle(tally, lambda: STUCK_TOTAL - (left or 0), 30)
    report(f"no collector: agent stopped in {took:.1f} s; log says undelivered: {left}; the "
           f"collector delivered {tally.distinct} after its restart; sum "
           f"{tally.distinct + (left or 0)} of {STUCK_TOTAL} accepted")
    assert left is not None, f"no undelivered count in {ax.log}"
    assert tally.distinct + left >= STUCK_TOTAL, "events neither delivered nor reported"
    assert tally.distinct + left - STUCK_TOTAL <= WINDOW * GROUP_EVENTS


def first_pid(agent: Agent, component: str) -> int:
    """The component's pid as soon as supervisord spawned it."""
    def pid() -> int:
        try:
            return Programs(agent).pids().get(component, 0)
        except OSError:
            return 0  # supervisord is not listening yet
    return int(wait_for(pid, 30, f"{agent.name}'s {component} to start", step=0.02))


def kill_whole(agent: Agent) -> None:
    """kill -9 supervisord first (so nothing is restarted), then every component, then the
    agent command."""
    pids = list(Programs(agent).pids().values())
    supervisord = int((agent.run_dir / "supervisord.pid").read_text())
    agent.allow_faults("killed whole: supervisord, every component and the agent command")
    for pid in [supervisord, *pids, agent.proc.pid]:
        os.kill(pid, signal.SIGKILL)
    agent.proc.wait(10)
    for pid in pids:
        wait_for(lambda p=pid: not os.path.exists(f"/proc/{p}"), 10, f"pid {pid} to end")
