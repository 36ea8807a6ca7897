"""Our avro sink to our avro source: every byte of every event survives, with and without deflate."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.integration.binary_lines import expected_body
from tests.integration.harness import Agent, free_ports, wait_for

COUNT = 100_000
SEED = 7
LINES = Path(__file__).with_name("binary_lines.py")


def collector(port: int, compression: str) -> str:
    return f"""
c.sources = av
c.channels = ch
c.sinks = out
c.sources.av.type = avro
c.sources.av.bind = 127.0.0.1
c.sources.av.port = {port}
c.sources.av.compression-type = {compression}
c.sources.av.channels = ch
c.channels.ch.type = memory
c.channels.ch.capacity = 10000
c.channels.ch.transactionCapacity = 1000
c.sinks.out.type = file_roll
c.sinks.out.channel = ch
c.sinks.out.sink.directory = out
c.sinks.out.sink.rollInterval = 0
c.sinks.out.sink.batchSize = 1000
"""


def agent(port: int, compression: str, source: str) -> str:
    return f"""
a.sources = s
a.channels = ch
a.sinks = k
{source}
a.sources.s.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 10000
a.channels.ch.transactionCapacity = 1000
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
a.sinks.k.batch-size = 1000
a.sinks.k.compression-type = {compression}
a.sinks.k.compression-level = 6
"""


def received(out: Path) -> dict[int, bytes]:
    bodies: dict[int, bytes] = {}
    for path in out.glob("*"):
        for line in path.read_bytes().split(b"\n"):
            if line:
                bodies[int(line.split(b" ", 1)[0])] = line
    return bodies


@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_binary_bodies_arrive_byte_for_byte(tmp_path: Path, agents: list[Agent],
                                            compression: str) -> None:
    """When 100,000 events with arbitrary bytes cross avro sink -> avro source, every body
    arrives intact."""
    port = free_ports(1)
    source = (f"a.sources.s.type = exec\na.sources.s.batchSize = 1000\n"
              f"a.sources.s.command = {sys.executable} {LINES} {COUNT} {SEED}")
    agents.append(Agent(tmp_path, "c", collector(port, compression)).start())
    agents.append(Agent(tmp_path, "a", agent(port, compression, source)).start())
    bodies = wait_for(lambda: (b := received(tmp_path / "out")) and len(b) >= COUNT and b,
                      90, f"{COUNT} events at the collector", step=0.5)
    assert sorted(bodies) == list(range(COUNT))
    wrong = [n for n, body in bodies.items() if body != expected_body(n, SEED)]
    assert not wrong, f"{len(wrong)} bodies changed, e.g. {wrong[:5]}"


def test_non_ascii_headers_arrive_intact(tmp_path: Path, agents: list[Agent]) -> None:
    """When events carry non-ASCII header keys and values, the collector logs them unchanged."""
    port = free_ports(1)
    conf = collector(port, "none").replace("c.sinks.out.type = file_roll", "c.sinks.out.type = logger")
    source = ("a.sources.s.type = seq\na.sources.s.totalEvents = 300\na.sources.s.batchSize = 100\n"
              "a.sources.s.eventIdHeader = false\n"
              "a.sources.s.interceptors = i\na.sources.s.interceptors.i.type = static\n"
              "a.sources.s.interceptors.i.key = clé\na.sources.s.interceptors.i.value = 値 ✓")
    collector_agent = Agent(tmp_path, "c", conf).start()
    agents.append(collector_agent)
    agents.append(Agent(tmp_path, "a", agent(port, "none", source)).start())

    def logged() -> list[str]:
        text = collector_agent.log.read_text(encoding="utf-8", errors="replace")
        return re.findall(r"Event: \{ headers:\{(.*?)\} body:", text)
    headers = wait_for(lambda: len(found := logged()) >= 300 and found, 60, "300 logged events")
    assert set(headers) == {"clé=値 ✓"}
