"""File channel throughput: seq -> file channel -> null, beside the memory channel's.

    python -m bench.file_channel [--events N] [--batch B ...]

Prints events/s from the first delivered event to the last, each program's CPU seconds, and
how many group commits (fsyncs) the channel made for how many PUT batches. Figures, not
assertions. The log lives in a temporary directory on the same disk as /tmp.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.run import cpu_by_program, delivered_by_null
from deploy.status import collect
from tests.integration.harness import Agent, wait_for

CONF = """
b.sources = src
b.channels = ch
b.sinks = k
b.sources.src.type = seq
b.sources.src.channels = ch
b.sources.src.totalEvents = {total}
b.sources.src.batchSize = {batch}
b.channels.ch.type = {channel}
b.channels.ch.capacity = {capacity}
b.channels.ch.transactionCapacity = {batch}
b.sinks.k.type = null
b.sinks.k.channel = ch
b.sinks.k.batchSize = {batch}
"""
FILE_KEYS = """
b.channels.ch.checkpointDir = {work}/checkpoint
b.channels.ch.dataDirs = {work}/data
"""


def run(channel: str, batch: int, total: int, work: Path) -> None:
    conf = CONF.format(total=total, batch=batch, channel=channel, capacity=max(10_000, 10 * batch))
    if channel == "file":
        conf += FILE_KEYS.format(work=work)
    agent = Agent(work, "b", conf)
    agent.start(wait=False)
    try:
        wait_for(lambda: delivered_by_null(agent) > 0, 60, "the first event", step=0.002)
        first, started = delivered_by_null(agent), time.monotonic()
        cpu_start = cpu_by_program(agent)
        wait_for(lambda: delivered_by_null(agent) >= total, 600, "the run to finish", step=0.02)
        elapsed = time.monotonic() - started
        cpu_end = cpu_by_program(agent)
        stats = collect(str(agent.run_dir)).get("CHANNEL.ch", {})
    finally:
        agent.stop()
    print(f"{channel:<7} batch {batch:>5}: {(total - first) / elapsed:>10,.0f} events/s "
          f"({total - first:,} events in {elapsed:.2f} s)")
    print("    cpu s: " + ", ".join(f"{name} {cpu_end[name] - cpu_start.get(name, 0):.2f}"
                                    for name in sorted(cpu_end)))
    if channel == "file":
        print(f"    {total // batch:,} PUT batches, {stats.get('LogSyncCount')} fsync groups")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1000])
    args = parser.parse_args()
    for batch in args.batch:
        for channel in ("memory", "file"):
            with tempfile.TemporaryDirectory(prefix="zb") as tmp:
                run(channel, batch, args.events, Path(tmp))


if __name__ == "__main__":
    main()
