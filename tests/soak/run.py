"""The soak: the seed's two-tier failover topology with file channels, for an hour under faults.

    python -m tests.soak.run [--minutes 60] [--rate 20000] [--fault-every 10]

Two fleets of tests/chaos/fleet.py run side by side, alike but for the collectors' `dedupe`
interceptor: agent ax (TAILDIR of a log grown at --rate lines/s -> file channel -> failover of
avro sinks k1, k2) and collectors c1, c2 (avro -> file channel -> file_roll). Every
--fault-every seconds each fleet's driver strikes one process of either tier, or a whole
collector: kill -9, SIGSTOP/SIGCONT, or `supervisorctl restart`. Each fleet spares one part, so
that every process kind also lives the whole hour somewhere: the plain fleet strikes the agent
and collector c1 (c2 is spared), the dedupe fleet both collectors (its agent is spared); between
them every process of both tiers meets every fault. TAILDIR, not the seed's
`exec tail -F`, because only a source that can replay makes "nothing lost" a fair claim after
a kill -9 of the source itself.

Each minute it prints what was written and delivered, and samples every process (components,
supervisord, the launcher): RSS and open descriptors. At the end: lost and duplicated events of
each fleet, and per process its first and last samples and the least-squares slope per minute,
over the longest-lived pid (a process restarted by a fault starts small again) past its first
`WARM_UP_MIN` minutes (buffers, caches and the dedupe window filling up). Exit status 1 if an
event is lost or a process with `FLAT_MIN_SAMPLES` samples past warm-up grew by more than
`RSS_GROWTH_KIB_PER_MIN` or `FD_GROWTH_PER_MIN`.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import mkdtemp

from bench.two_tier import zflume_processes
from tests.chaos.driver import Driver
from tests.chaos.fleet import ALL_FAULTS, Fleet, Shape

RSS_GROWTH_KIB_PER_MIN = 512.0
FD_GROWTH_PER_MIN = 0.5
WARM_UP_MIN = 5  # the first minutes of a process's life are not judged
FLAT_MIN_SAMPLES = 10  # a process must live this many minutes past warm-up to be judged
SETTLE_S = 600.0


class CountTally:
    """Numbered lines in the file_roll outputs, one byte of count per number: an hour at
    20,000 lines/s is 72 million numbers, far too many for a Counter."""

    def __init__(self, total: int, *dirs: Path) -> None:
        self.dirs = dirs
        self.counts = bytearray(total)
        self.offsets: dict[Path, int] = {}
        self.distinct = 0
        self.lines = 0
        self.foreign = 0

    def poll(self) -> int:
        for directory in self.dirs:
            for path in sorted(directory.glob("*")) if directory.exists() else ():
                self._read(path)
        return self.distinct

    def _read(self, path: Path) -> None:
        offset = self.offsets.get(path, 0)
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(64 << 20)
        end = data.rfind(b"\n") + 1
        if not end:
            return
        self.offsets[path] = offset + end
        counts, total = self.counts, len(self.counts)
        for line in data[:end].split(b"\n")[:-1]:
            n = int(line)
            self.lines += 1
            if not 0 <= n < total:
                self.foreign += 1
            elif counts[n] == 0:
                counts[n] = 1
                self.distinct += 1
            elif counts[n] < 255:
                counts[n] += 1

    def duplicated(self) -> int:
        return self.lines - self.distinct - self.foreign

    def missing(self, sent: int, limit: int = 20) -> list[int]:
        out = []
        for n in range(sent):
            if not self.counts[n]:
                out.append(n)
                if len(out) == limit:
                    break
        return out


@dataclass
class Sample:
    minute: float
    pid: int
    rss_kib: int
    fds: int


@dataclass
class Soak:
    """One fleet, its fault driver (a thread) and its samples."""

    label: str
    fleet: Fleet
    driver: Driver
    tally: CountTally
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def sample(self, minute: float) -> None:
        for agent in (self.fleet.ax, self.fleet.c1, self.fleet.c2):
            if agent.proc is None:
                continue
            for name, pid in zflume_processes(agent.proc.pid).items():
                reading = read_process(pid)
                if reading is not None:
                    self.samples.setdefault(f"{agent.name}:{name}", []).append(
                        Sample(minute, pid, *reading))


def read_process(pid: int) -> tuple[int, int] | None:
    """(RSS in KiB, open descriptors), or None if it exited meanwhile."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)
    return rss, fds


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0 for fewer than two points."""
    if len(points) < 2:
        return 0.0
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def longest_lived(samples: list[Sample]) -> list[Sample]:
    pids: dict[int, list[Sample]] = {}
    for s in samples:
        pids.setdefault(s.pid, []).append(s)
    return max(pids.values(), key=len)


def judge(soak: Soak) -> list[str]:
    """Print the per-process table; return what grew."""
    grew = []
    print(f"\n{soak.label}: per process, longest-lived pid (restarts = pids seen - 1)")
    print(f"  {'process':18} {'restarts':>8} {'minutes':>7} {'RSS MiB warm->last':>20} "
          f"{'KiB/min':>8} {'fds warm->last':>16} {'fds/min':>8}")
    for name, samples in sorted(soak.samples.items()):
        whole = longest_lived(samples)
        life = [s for s in whole if s.minute - whole[0].minute >= WARM_UP_MIN] or whole[-1:]
        rss = slope([(s.minute, s.rss_kib) for s in life])
        fds = slope([(s.minute, s.fds) for s in life])
        restarts = len({s.pid for s in samples}) - 1
        print(f"  {name:18} {restarts:8d} {len(whole):7d} "
              f"{life[0].rss_kib / 1024:9.1f} -> {life[-1].rss_kib / 1024:6.1f} {rss:8.1f} "
              f"{life[0].fds:7d} -> {life[-1].fds:5d} {fds:8.2f}")
        if len(life) >= FLAT_MIN_SAMPLES and (rss > RSS_GROWTH_KIB_PER_MIN
                                              or fds > FD_GROWTH_PER_MIN):
            grew.append(f"{soak.label} {name}: {rss:.0f} KiB/min, {fds:.2f} fds/min")
    return grew


def start_soak(work: Path, label: str, dedupe: bool, spared: str, total: int, rate: int,
               agents: list) -> Soak:
    """A fleet whose driver strikes every target but those of agent `spared`."""
    work.mkdir(parents=True)
    fleet = Fleet(work, Shape("taildir", "file", "failover", total, rate, dedupe=dedupe),
                  agents)
    seed = int(os.environ.get("ZFLUME_SOAK_SEED", "20261202"))
    targets = [t for t in fleet.targets(ALL_FAULTS, ALL_FAULTS, ALL_FAULTS)
               if not t.label.startswith(f"{spared}:")]
    soak = Soak(label, fleet, Driver(random.Random(f"{seed}:{label}"), targets),
                CountTally(total, *fleet.out))
    fleet.start()
    return soak


def strike_every(soak: Soak, every_s: float, until: float, stop: threading.Event) -> None:
    while not stop.wait(every_s) and time.monotonic() < until:
        soak.driver.strike()
    soak.driver.finish()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--fault-every", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=None, help="default: a new temp dir")
    args = parser.parse_args()
    work = args.work or Path(mkdtemp(prefix="zflume-soak-"))
    total = int(args.rate * args.minutes * 60)
    print(f"soak: {args.minutes:g} min at {args.rate} lines/s ({total} lines per fleet), a "
          f"fault every {args.fault_every:g} s per fleet, in {work}", flush=True)
    agents: list = []
    stop = threading.Event()
    try:
        soaks = [start_soak(work / label, label, dedupe, spared, total, args.rate, agents)
                 for label, dedupe, spared in (("plain", False, "c2"), ("dedupe", True, "ax"))]
        t0 = time.monotonic()
        until = t0 + args.minutes * 60
        threads = [threading.Thread(target=strike_every, args=(s, args.fault_every, until, stop),
                                    daemon=True) for s in soaks]
        for thread in threads:
            thread.start()
        for soak in soaks:
            soak.sample(0.0)
        next_sample = t0 + 60
        while time.monotonic() < until:
            time.sleep(max(0.0, min(next_sample, until) - time.monotonic()))
            minute = (time.monotonic() - t0) / 60
            for soak in soaks:
                soak.sample(minute)
                soak.tally.poll()
            print(f"{minute:5.1f} min  " + "  |  ".join(
                f"{s.label}: written {s.fleet.sent()}, delivered {s.tally.distinct}, "
                f"dup {s.tally.duplicated()}, faults {len(s.driver.faults)}" for s in soaks),
                flush=True)
            next_sample += 60
        for thread in threads:
            thread.join()
        return finish(soaks)
    finally:
        stop.set()
        for agent in agents:
            agent.stop()


def finish(soaks: list[Soak]) -> int:
    """Wait for every written line, then report; 1 if anything was lost or grew."""
    failed: list[str] = []
    for soak in soaks:
        if soak.fleet.writer is not None:
            soak.fleet.writer.wait(SETTLE_S)
        sent = soak.fleet.sent()
        deadline = time.monotonic() + SETTLE_S
        while soak.tally.poll() < sent and time.monotonic() < deadline:
            time.sleep(1.0)
        time.sleep(5.0)  # late duplicates count too
        soak.tally.poll()
        lost = sent - soak.tally.distinct
        dup = soak.tally.duplicated()
        kinds: dict[str, int] = {}
        for fault in soak.driver.faults:
            kinds[fault.kind] = kinds.get(fault.kind, 0) + 1
        print(f"\n{soak.label}: written {sent}, delivered {soak.tally.distinct}, lost {lost}, "
              f"duplicated {dup} ({dup / max(1, soak.tally.distinct):.3%}), faults "
              f"{len(soak.driver.faults)} {kinds}")
        if lost:
            failed.append(f"{soak.label}: {lost} lost, first {soak.tally.missing(sent)}")
        failed += judge(soak)
    for line in failed:
        print(f"FAILED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
