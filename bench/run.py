"""Agent-core benchmarks: events/s end to end and CPU seconds per process.

    python -m bench.run [--events N]

Runs each pipeline under `zflume agent` at the settings of bench/topology.py (the seed's: exec
batch 20, memory 1000/100, sink batch 100; and batch 1000), waits until every event reached the
sink, and prints throughput and each program's CPU time (from /proc). Figures, not assertions:
targets are in the issue notes.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.topology import SETTINGS, Setting
from deploy.status import collect
from proto import accelerated
from tests.integration.harness import Agent, wait_for

HERE = Path(__file__).resolve().parent
LINE = b"x" * 99 + b"\n"  # 100-byte lines, as the issue specifies


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_program(agent: Agent) -> dict[str, float]:
    """CPU seconds of each component process of the agent, found by its command line."""
    cpu = {}
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            if b"--component" in args and str(agent.run_dir).encode() in args:
                cpu[args[args.index(b"--component") + 1].decode()] = cpu_seconds(int(proc.name))
        except (OSError, ValueError):
            continue  # not a pid directory, or the process just exited
    return cpu


def run(conf: str, s: Setting, total: int, work: Path, progress) -> None:
    """Time from the first delivered event to the last, and the CPU spent in between."""
    text = (HERE / conf).read_text()
    for key, value in (("SOURCE_BATCH", s.batch), ("SINK_BATCH", s.sink_batch), ("TXN", s.txn),
                       ("CAPACITY", s.capacity), ("TOTAL", total),
                       ("INPUT", work / "input.txt")):
        text = text.replace(key, str(value))
    agent = Agent(work, "b", text)
    agent.start(wait=False)  # the pipeline runs before supervisord calls it RUNNING
    try:
        wait_for(lambda: progress(agent) > 0, 60, "the first event", step=0.002)
        first, started, cpu_start = progress(agent), time.monotonic(), cpu_by_program(agent)
        wait_for(lambda: progress(agent) >= total, 600, "the benchmark to finish", step=0.02)
        elapsed = time.monotonic() - started
        cpu_end = cpu_by_program(agent)
    finally:
        agent.stop()
    rate = (total - first) / elapsed
    print(f"{conf:<20} {s.name:>9}: {rate:>10,.0f} events/s ({total - first:,} events in "
          f"{elapsed:.2f} s after the first arrived)")
    print("    cpu s: " + ", ".join(f"{name} {cpu_end[name] - cpu_start.get(name, 0):.2f}"
                                    for name in sorted(cpu_end)))


def delivered_by_null(agent: Agent) -> int:
    if not (agent.run_dir / "k.ctl").exists():
        return 0
    stats = collect(str(agent.run_dir)).get("SINK.k", {})
    return int(stats.get("EventDrainSuccessCount", 0))


def written_by_file_roll(work: Path):
    def progress(agent: Agent) -> int:
        size = sum(p.stat().st_size for d in ("out/k1", "out/k2") if (work / d).exists()
                   for p in (work / d).iterdir())
        return size // len(LINE)
    return progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    print(accelerated.describe())
    for setting in (SETTINGS["seed"], SETTINGS["batch1000"]):
        with tempfile.TemporaryDirectory(prefix="zb") as tmp:
            run("seq_null.conf", setting, 2 * args.events, Path(tmp), delivered_by_null)
        with tempfile.TemporaryDirectory(prefix="zb") as tmp:
            work = Path(tmp)
            (work / "input.txt").write_bytes(LINE * args.events)
            run("exec_file_roll.conf", setting, args.events, work, written_by_file_roll(work))


if __name__ == "__main__":
    main()
