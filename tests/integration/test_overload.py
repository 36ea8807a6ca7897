"""Overload: collectors whose channels stay full, then drain. Nothing spins, nothing is lost.

    agent x: exec (numbered lines) -> memory -> failover k1 -> c1, k2 -> c2
    c1, c2:  avro -> memory -> avro sink -> d, which is not running at first
    d:       avro -> memory -> file_roll

With d down every channel fills: the collectors answer FAILED, the agent fails over from c1 to
c2 and, with both refusing, rolls back and backs off; its exec source stops reading. While
that lasts every process of the three agents must wait, not poll: under 5% of a core each.
Once d starts, the collectors drain into it and every event arrives. And a batch a full
collector answered FAILED is not stored after all: its client sends it again.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from proto.avro.protocol import Status
from tests.integration.harness import (Agent, append_batches, collector_conf, free_ports,
                                       lines_in, numbers_command, port_open, wait_for)

TOTAL = 6_000  # twice what the three channels hold, so the source is held back too
CAPACITY = 1000
IDLE_CPU_SHARE = 0.05  # the bound for a process waiting on back-pressure
MEASURE_S = 8.0
TICKS = os.sysconf("SC_CLK_TCK")


def agent_conf(port1: int, port2: int) -> str:
    return f"""
x.sources = s
x.channels = ch
x.sinks = k1 k2
x.sources.s.type = exec
x.sources.s.command = {numbers_command(TOTAL, 5000)}
x.sources.s.channels = ch
x.sources.s.batchSize = 100
x.channels.ch.type = memory
x.channels.ch.capacity = {CAPACITY}
x.channels.ch.transactionCapacity = 100
x.sinks.k1.type = avro
x.sinks.k1.channel = ch
x.sinks.k1.hostname = 127.0.0.1
x.sinks.k1.port = {port1}
x.sinks.k2.type = avro
x.sinks.k2.channel = ch
x.sinks.k2.hostname = 127.0.0.1
x.sinks.k2.port = {port2}
x.sinkgroups = g
x.sinkgroups.g.sinks = k1 k2
x.sinkgroups.g.processor.type = failover
x.sinkgroups.g.processor.priority.k1 = 9
x.sinkgroups.g.processor.priority.k2 = 7
"""


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """utime + stime of each process so far."""
    out = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def test_full_collectors_are_waited_on_without_spinning_and_lose_nothing(
        tmp_path: Path, agents: list[Agent]) -> None:
    base = free_ports(3)
    d = Agent(tmp_path, "d", collector_conf("d", base + 2, "out/d"))
    c1 = Agent(tmp_path, "c1", collector_conf("c1", base, "", CAPACITY, relay_to=base + 2))
    c2 = Agent(tmp_path, "c2", collector_conf("c2", base + 1, "", CAPACITY, relay_to=base + 2))
    x = Agent(tmp_path, "x", agent_conf(base, base + 1))
    agents.extend([c1, c2, x, d])
    for agent in (c1, c2, x):
        agent.start()

    # Both collectors fill and refuse; the agent has been failed over to c2 and given up.
    wait_for(lambda: "answering FAILED" in c1.log.read_text()
             and "answering FAILED" in c2.log.read_text(), 60, "both collectors to refuse")
    wait_for(lambda: "no sink could take a batch" in x.log.read_text(), 30,
             "the agent to roll back and back off")

    pids = {program: pid for agent in (c1, c2, x)
            for program, (_, pid) in agent.statuses().items()}
    assert len(pids) == 13 and all(pids.values())  # 4 + 4 + 5 components
    before, started = cpu_seconds(pids), time.monotonic()
    time.sleep(MEASURE_S)
    after, elapsed = cpu_seconds(pids), time.monotonic() - started
    shares = {name: (after[name] - before[name]) / elapsed for name in pids}
    busy = {name: round(share, 3) for name, share in shares.items() if share >= IDLE_CPU_SHARE}
    assert not busy, f"processes spinning on back-pressure (share of a core): {busy}"

    d.start()
    got = wait_for(lambda: (lambda n: n if set(n) >= set(range(TOTAL)) else None)(
        lines_in(tmp_path / "out/d")), 120, "every event at d once it runs", step=0.5)
    assert set(got) == set(range(TOTAL))


def test_a_batch_answered_failed_by_a_full_collector_is_not_stored_later(
        tmp_path: Path, agents: list[Agent]) -> None:
    """A collector's avro source answers FAILED at its put-timeout (2 s) while its channel is
    full, and the client sends the batch again (Flume's does). Its channel held that PUT up to
    keep-alive (3 s by default, 30 s here) waiting for room and stored it once room came, so
    those events arrived twice; now it answers FULL before the source's deadline and stores
    nothing of it later."""
    base = free_ports(2)
    c = Agent(tmp_path, "c", collector_conf("c", base, "", capacity=100, relay_to=base + 1)
              + "c.channels.ch.keep-alive = 30\n")
    d = Agent(tmp_path, "d", collector_conf("d", base + 1, "out"))
    agents.extend([c, d])
    c.start()
    wait_for(lambda: port_open(base), 20, "the collector's avro source")
    assert append_batches(base, [list(range(100))]) == [Status.OK]  # its channel is full now
    assert append_batches(base, [list(range(100, 150))]) == [Status.FAILED]
    d.start()
    out = tmp_path / "out"
    wait_for(lambda: len(lines_in(out)) >= 100, 60, "the stored batch to reach d")
    time.sleep(3)  # the refused batch would follow it within this, had it been stored
    assert sorted(lines_in(out)) == list(range(100))
