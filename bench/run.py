"""Agent-core benchmarks: events/s end to end and CPU seconds per process.

    python -m bench.run [--events N]

Runs each pipeline under `zflume agent` at the seed's settings (batch 100) and at batch 1000,
waits until every event reached the sink, and prints throughput and each program's CPU time
(from /proc). Figures, not assertions: targets are in the issue notes.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from deploy.status import collect
from tests.integration.harness import Agent, wait_for

HERE = Path(__file__).resolve().parent
LINE = b"x" * 99 + b"\n"  # 100-byte lines, as the issue specifies


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(conf: str, batch: int, total: int, work: Path, done) -> None:
    text = (HERE / conf).read_text().replace("BATCH", str(batch)).replace("TOTAL", str(total))
    text = text.replace("CAPACITY", str(max(10_000, 10 * batch)))
    text = text.replace("INPUT", str(work / "input.txt"))
    agent = Agent(work, "b", text)
    started = time.monotonic()
    agent.start()
    try:
        wait_for(lambda: done(agent), 600, "the benchmark to finish", step=0.05)
        elapsed = time.monotonic() - started
        cpu = {prog.split(":")[1]: cpu_seconds(pid) for prog, (_, pid) in agent.statuses().items()}
    finally:
        agent.stop()
    print(f"{conf:<20} batch {batch:>5}: {total / elapsed:>10,.0f} events/s "
          f"({total:,} in {elapsed:.2f} s incl. start-up)")
    print("    cpu s: " + ", ".join(f"{name} {secs:.2f}" for name, secs in sorted(cpu.items())))


def delivered_by_null(total: int):
    def done(agent: Agent) -> bool:
        stats = collect(str(agent.run_dir)).get("SINK.k", {})
        return int(stats.get("EventDrainSuccessCount", 0)) >= total
    return done


def written_by_file_roll(work: Path, total: int):
    def done(agent: Agent) -> bool:
        size = sum(p.stat().st_size for d in ("out/k1", "out/k2") if (work / d).exists()
                   for p in (work / d).iterdir())
        return size >= total * len(LINE)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    for batch in (100, 1000):
        with tempfile.TemporaryDirectory(prefix="zb") as tmp:
            run("seq_null.conf", batch, 2 * args.events, Path(tmp),
                delivered_by_null(2 * args.events))
        with tempfile.TemporaryDirectory(prefix="zb") as tmp:
            work = Path(tmp)
            (work / "input.txt").write_bytes(LINE * args.events)
            run("exec_file_roll.conf", batch, args.events, work,
                written_by_file_roll(work, args.events))


if __name__ == "__main__":
    main()
