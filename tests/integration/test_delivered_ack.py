"""An avro source's `ack`: with Flume's `channel`, what a collector's memory channel holds dies
with it; with `delivered`, the agent keeps every batch until the collector's sink wrote it, so
a collector channel's kill -9 loses nothing."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.integration.harness import (Agent, collector_conf, free_ports, lines_in, lines_written,
                                       seq_source, wait_for)

TOTAL = 20_000
HELD = 5_000  # the collector channel's capacity: full while its sink is frozen


def quiet(out: Path, for_s: float = 3.0) -> bool:
    """True once the collector's files have not grown for `for_s` seconds."""
    before = lines_written(out)
    time.sleep(for_s)
    return lines_written(out) == before


@pytest.mark.parametrize("ack", ["channel", "delivered"])
def test_a_collector_memory_channel_killed_while_full(tmp_path: Path, agents: list[Agent],
                                                       ack: str) -> None:
    """The collector's file_roll sink is frozen until its memory channel is full, then the
    channel is kill -9ed and the sink thawed. With `ack = channel` the channel's events were
    already answered, and are lost as in Flume; with `ack = delivered` they were not, and the
    agent sends them again: every number arrives."""
    port = free_ports(1)
    out = tmp_path / "out"
    collector = Agent(tmp_path, "c1", collector_conf("c1", port, str(out), capacity=HELD)
                      + f"c1.sources.s.ack = {ack}\n")
    agents.append(collector)
    collector.start()
    collector.signal("k", signal.SIGSTOP)
    agent = Agent(tmp_path, "a", seq_source(TOTAL, 100) + f"""
a.channels = ch
a.sinks = k
a.channels.ch.type = memory
a.channels.ch.capacity = {TOTAL}
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
""")
    agents.append(agent)
    agent.start()
    time.sleep(3)  # the collector channel fills up
    old = collector.signal("ch", signal.SIGKILL)
    collector.restarted("ch", old)
    collector.signal("k", signal.SIGCONT)
    if ack == "delivered":
        wait_for(lambda: lines_written(out) >= TOTAL and len(set(lines_in(out))) == TOTAL, 90,
                 "every number at the collector", step=0.5)
        return
    wait_for(lambda: lines_written(out) > 0 and quiet(out), 90, "the collector to go quiet")
    lost = TOTAL - len(set(lines_in(out)) & set(range(TOTAL)))
    print(f"\nack = channel: {lost} events lost with the collector's channel")
    assert lost >= HELD // 2, f"only {lost} events lost: was the channel full when killed?"
