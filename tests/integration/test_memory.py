"""Memory follows what is in flight, not the traffic of the last seconds."""
from __future__ import annotations

from pathlib import Path

from tests.integration.harness import (Agent, collector_conf, free_ports, lines_written,
                                       seq_source, wait_for)

TOTAL = 1_000_000
BATCH = 1000


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_a_collectors_avro_source_keeps_no_answered_batch_alive(
        tmp_path: Path, agents: list[Agent]) -> None:
    """A collector's avro source that has passed 1,000,000 events on peaks well under 100 MiB:
    what it holds is the calls in flight. (While its put-timeout timers held every accepted
    PUT group, it kept 2 s of traffic alive and peaked at 176-280 MiB.)"""
    port = free_ports(1)
    out = tmp_path / "out"
    collector = Agent(tmp_path, "c1", collector_conf("c1", port, str(out), capacity=100_000,
                                                     txn=BATCH))
    agents.append(collector)
    collector.start()
    agent = Agent(tmp_path, "a", seq_source(TOTAL, BATCH) + f"""
a.channels = ch
a.sinks = k
a.channels.ch.type = memory
a.channels.ch.capacity = 100000
a.channels.ch.transactionCapacity = {BATCH}
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
a.sinks.k.batch-size = {BATCH}
""")
    agents.append(agent)
    agent.start()
    wait_for(lambda: lines_written(out) >= TOTAL, 120, f"{TOTAL} events at the collector",
             step=0.5)
    peak = peak_rss_mib(collector.pid("s"))
    print(f"\ncollector avro source after {TOTAL} events: peak RSS {peak:.0f} MiB")
    assert peak < 100, f"the avro source peaked at {peak:.0f} MiB"
