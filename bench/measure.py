"""Measurements of a two-tier fleet, the same code for zflume's and for real Flume's.

A fleet (bench/two_tier.py builds zflume's, bench/flume.py Flume's) starts its collectors and
agent, names its processes (label -> pid, a label being `TIER` or `TIER:PROGRAM`) and stops;
its collectors write under topology.out_dir. Everything measured is read from outside the
processes (/proc and the output files), so neither engine reports on itself.
"""
from __future__ import annotations

import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol

from bench.run import cpu_seconds
from bench.topology import COLLECTORS, LINE, SEED, Setting, out_dir

HERE = Path(__file__).resolve().parent
TICKER = HERE / "ticker.py"
Figures = dict[str, object]


class Fleet(Protocol):
    def start(self) -> None: ...
    def processes(self) -> dict[str, int]: ...
    def stop(self) -> None: ...


FleetFactory = Callable[[Path, str, Setting], Fleet]  # (work dir, exec command, setting)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return 0.0


def sample(procs: dict[str, int], read: Callable[[int], float]) -> dict[str, float]:
    """`read(pid)` of every process still alive, by label."""
    values = {}
    for label, pid in procs.items():
        try:
            values[label] = read(pid)
        except (OSError, ValueError):
            continue  # it exited in between
    return values


def with_totals(values: dict[str, float]) -> dict[str, float]:
    """Per-process values plus each tier's sum (`x`, `c1`, ...) and the whole fleet's (`fleet`)."""
    out = dict(values)
    for label, value in values.items():
        tier = label.split(":")[0]
        if tier != label:
            out[tier] = out.get(tier, 0.0) + value
    out["fleet"] = sum(values.values())
    return out


def arrived(work: Path) -> int:
    """Bytes the collectors' file_roll sinks have written so far."""
    return sum(p.stat().st_size for c in COLLECTORS if out_dir(work, c).exists()
               for p in out_dir(work, c).iterdir())


def wait_bytes(work: Path, goal: int, stall: float, step: float) -> None:
    """Poll until `goal` bytes arrived; give up only when nothing arrives for `stall` s."""
    last, moved = -1, time.monotonic()
    while (size := arrived(work)) < goal:
        now = time.monotonic()
        if size != last:
            last, moved = size, now
        elif now - moved > stall:
            raise RuntimeError(f"no progress for {stall:.0f} s at {size // len(LINE):,} events")
        time.sleep(step)


@contextlib.contextmanager
def run_fleet(factory: FleetFactory, prepare: Callable[[Path], str],
              s: Setting) -> Iterator[tuple[Path, Fleet]]:
    """A started fleet in a fresh work dir, whose exec command `prepare(work)` sets up; the
    fleet is stopped and the dir removed however the measurement ends."""
    with tempfile.TemporaryDirectory(prefix="zb") as tmp:
        work = Path(tmp)
        for c in COLLECTORS:
            out_dir(work, c).mkdir(parents=True)
        fleet = factory(work, prepare(work), s)
        try:
            fleet.start()
            yield work, fleet
        finally:
            fleet.stop()


def cat_input(events: int) -> Callable[[Path], str]:
    """An exec command that `cat`s a file of `events` 100-byte lines, written into the work dir."""
    def prepare(work: Path) -> str:
        (work / "input.txt").write_bytes(LINE * events)
        return f"cat {work / 'input.txt'}"
    return prepare


def ticker(rate: float, seconds: float) -> Callable[[Path], str]:
    """An exec command writing timestamped lines at `rate` lines/s for `seconds` (ticker.py)."""
    return lambda work: f"{sys.executable} {TICKER} {rate:g} {seconds:g}"


def throughput(factory: FleetFactory, events: int, s: Setting) -> Figures:
    """Events/s from the first arrival at a collector to the last event, the CPU µs per event
    each process spent in that window, and each process's peak RSS just before the stop."""
    with run_fleet(factory, cat_input(events), s) as (work, fleet):
        wait_bytes(work, 1, stall=120, step=0.002)
        first, started = arrived(work) // len(LINE), time.monotonic()
        procs = fleet.processes()
        cpu0 = sample(procs, cpu_seconds)
        wait_bytes(work, events * len(LINE), stall=60, step=0.02)
        elapsed = time.monotonic() - started
        cpu1, rss = sample(procs, cpu_seconds), sample(procs, peak_rss_mib)
    done = events - first
    cpu_us = {k: (v - cpu0.get(k, 0.0)) * 1e6 / done for k, v in cpu1.items()}
    return {"events_per_s": done / elapsed, "cpu_us_per_event": with_totals(cpu_us),
            "peak_rss_mib": with_totals(rss)}


def median(runs: list[Figures]) -> Figures:
    """The median of each figure over the runs (per label for the per-process ones)."""
    out: Figures = {"events_per_s": statistics.median(r["events_per_s"] for r in runs)}
    for key in ("cpu_us_per_event", "peak_rss_mib"):
        labels = {label for r in runs for label in r[key]}
        out[key] = {label: statistics.median(r[key].get(label, 0.0) for r in runs)
                    for label in sorted(labels)}
    return out


class Tail:
    """New complete lines of the collectors' output files since the last read."""

    def __init__(self, work: Path) -> None:
        self.work, self.offsets, self.partial = work, {}, {}

    def lines(self) -> list[bytes]:
        found = []
        for path in (p for c in COLLECTORS for p in out_dir(self.work, c).iterdir()):
            with open(path, "rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = self.partial.get(path, b"") + handle.read()
                self.offsets[path] = handle.tell()
            *complete, self.partial[path] = data.split(b"\n")
            found.extend(complete)
        return found


def percentiles(latencies_ms: list[float]) -> Figures:
    """p50, p99 and max of the latencies (NaN when none arrived)."""
    ms = sorted(latencies_ms) or [float("nan")]
    return {"p50_ms": ms[len(ms) // 2], "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
            "max_ms": ms[-1]}


def latency(factory: FleetFactory, rate: float, seconds: float, warmup: float) -> Figures:
    """p50/p99 of write -> file_roll latency of ticker lines at `rate` lines/s with the seed
    settings; lines of the first `warmup` s (connections, JIT) are not counted. Output is
    polled every 5 ms, so a line's latency is up to 5 ms late (2.5 ms on average)."""
    total, skip = int(rate * (warmup + seconds)), int(rate * warmup)
    late: dict[int, float] = {}  # line number -> ms from its write to its first sighting
    with run_fleet(factory, ticker(rate, warmup + seconds), SEED) as (work, fleet):
        tail, deadline = Tail(work), time.monotonic() + warmup + seconds + 60
        while len(late) < total - skip and time.monotonic() < deadline:
            time.sleep(0.005)
            lines, now_us = tail.lines(), time.time_ns() // 1000
            for row in (r for r in lines if int(r[17:26]) >= skip):
                late.setdefault(int(row[17:26]), (now_us - int(row[:16])) / 1000)
    return {"rate": rate, "seconds": seconds, "lines": len(late),
            "missing": total - skip - len(late), **percentiles(list(late.values()))}


def longest_pause(work: Path, window: float) -> tuple[float, bool]:
    """The longest time without new output during the next `window` s, and whether arrivals
    resumed after it (if not, the real pause is longer than what the window saw)."""
    start = time.monotonic()
    last, changed, longest, now = arrived(work), start, 0.0, start
    while (now := time.monotonic()) - start < window:
        size = arrived(work)
        if size != last:
            longest, last, changed = max(longest, now - changed), size, now
        time.sleep(0.005)
    return max(longest, now - changed), now - changed < longest


def failover_gap(factory: FleetFactory, fault: str, rate: float, window: float) -> Figures:
    """The longest pause in arrivals after a kill -9 or a SIGSTOP of every process of the active
    collector c1, ticker lines arriving at `rate` lines/s, with the seed settings."""
    with run_fleet(factory, ticker(rate, window + 15), SEED) as (work, fleet):
        wait_bytes(work, int(rate) * len(LINE), stall=120, step=0.01)  # a second of traffic
        pids = [pid for label, pid in fleet.processes().items() if label.split(":")[0] == "c1"]
        for pid in pids:
            os.kill(pid, signal.SIGKILL if fault == "kill -9" else signal.SIGSTOP)
        longest, resumed = longest_pause(work, window)
        for pid in pids if fault == "SIGSTOP" else []:
            os.kill(pid, signal.SIGCONT)
    return {"rate": rate, "window_s": window, "longest_pause_s": longest, "resumed": resumed}
