"""Two-tier benchmark: exec -> agent -> avro -> collector -> file_roll, and failover gaps.

    python -m bench.two_tier [--events N]

Throughput at the seed's settings (exec batch 20, avro batch-size 100, channels 1000/100) and at
batch-size = transactionCapacity = 1000, with CPU seconds per process; then the longest gap in
arrivals when the active collector is killed (kill -9 of all its processes) and when it is
frozen (SIGSTOP), with lines arriving at a steady rate. Figures only, no assertions.
"""
from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from bench.run import cpu_by_program
from tests.integration.harness import (Agent, collector_conf, free_ports, numbers_command,
                                       wait_for)

LINE = b"x" * 99 + b"\n"
SEED = {"batch": 20, "sink_batch": 100, "capacity": 1000, "txn": 100}
BIG = {"batch": 1000, "sink_batch": 1000, "capacity": 10000, "txn": 1000}


def agent_conf(command: str, base: int, s: dict[str, int]) -> str:
    sinks = "".join(f"""
x.sinks.k{i}.type = avro
x.sinks.k{i}.channel = ch
x.sinks.k{i}.hostname = 127.0.0.1
x.sinks.k{i}.port = {base + i - 1}
x.sinks.k{i}.batch-size = {s['sink_batch']}""" for i in (1, 2))
    return f"""
x.sources = src
x.channels = ch
x.sinks = k1 k2
x.sources.src.type = exec
x.sources.src.command = {command}
x.sources.src.channels = ch
x.sources.src.batchSize = {s['batch']}
x.sources.src.batchTimeout = 100
x.channels.ch.type = memory
x.channels.ch.capacity = {s['capacity']}
x.channels.ch.transactionCapacity = {s['txn']}
{sinks}
x.sinkgroups = g
x.sinkgroups.g.sinks = k1 k2
x.sinkgroups.g.processor.type = failover
x.sinkgroups.g.processor.priority.k1 = 9
x.sinkgroups.g.processor.priority.k2 = 7
"""


def collector(work: Path, name: str, port: int, s: dict[str, int]) -> Agent:
    text = collector_conf(name, port, f"out/{name}", s["capacity"])
    text = text.replace("transactionCapacity = 100", f"transactionCapacity = {s['txn']}")
    text += f"{name}.sinks.k.sink.batchSize = {s['sink_batch']}\n"
    return Agent(work, name, text)


def arrived(work: Path) -> int:
    return sum(p.stat().st_size for d in ("out/c1", "out/c2") if (work / d).exists()
               for p in (work / d).iterdir())


def fleet(work: Path, command: str, s: dict[str, int]) -> list[Agent]:
    base = free_ports(2)
    agents = [collector(work, "c1", base, s), collector(work, "c2", base + 1, s),
              Agent(work, "x", agent_conf(command, base, s))]
    for agent in agents[:2]:
        agent.start()
    agents[2].start(wait=False)
    return agents


def throughput(events: int, s: dict[str, int], label: str) -> None:
    with tempfile.TemporaryDirectory(prefix="zb") as tmp:
        work = Path(tmp)
        (work / "input.txt").write_bytes(LINE * events)
        agents = fleet(work, f"cat {work / 'input.txt'}", s)
        try:
            wait_for(lambda: arrived(work) > 0, 60, "the first event", step=0.002)
            first, started = arrived(work) // len(LINE), time.monotonic()
            cpu0 = {a.name: cpu_by_program(a) for a in agents}
            wait_for(lambda: arrived(work) >= events * len(LINE), 900, "the end", step=0.02)
            elapsed = time.monotonic() - started
            cpu = {f"{a.name}:{k}": v - cpu0[a.name].get(k, 0)
                   for a in agents for k, v in cpu_by_program(a).items()}
        finally:
            for agent in agents:
                agent.stop()
    print(f"{label:<28}: {(events - first) / elapsed:>10,.0f} events/s end to end")
    print("    cpu s: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items())))


def failover_gap(fault: str) -> None:
    """Longest pause in arrivals around a fault of the active collector, at 20,000 lines/s."""
    with tempfile.TemporaryDirectory(prefix="zb") as tmp:
        work = Path(tmp)
        agents = fleet(work, numbers_command(200_000, 20_000), SEED)
        c1 = agents[0]
        try:
            wait_for(lambda: arrived(work) > 20_000, 60, "traffic")
            pids = [c1.pid(n) for n in ("s", "ch", "k-router", "k")]
            last, longest, faulted = arrived(work), 0.0, time.monotonic()
            changed = faulted
            for pid in ([c1.proc.pid] if fault == "kill -9" else []) + pids:
                os.kill(pid, signal.SIGKILL if fault == "kill -9" else signal.SIGSTOP)
            while time.monotonic() - faulted < 6.0:
                now, size = time.monotonic(), arrived(work)
                if size != last:
                    longest, last, changed = max(longest, now - changed), size, now
                time.sleep(0.005)
            if fault == "SIGSTOP":
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
        finally:
            for agent in agents:
                agent.stop()
    print(f"failover gap after {fault:<8}: longest pause in arrivals {longest:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    args = parser.parse_args()
    throughput(args.events, SEED, "seed settings (batch 20/100)")
    throughput(args.events, BIG, "batch 1000")
    failover_gap("kill -9")
    failover_gap("SIGSTOP")


if __name__ == "__main__":
    main()
