"""The chaos fleet: a two-tier topology, its fault targets, and the figures of a run.

    logwriter -> app.log -> TAILDIR ┐                         ┌ avro -> c1: avro -> ch -> file_roll
                                    ├> ax: src -> ch -> group ┤
                     (or) seq ──────┘                         └ avro -> c2: avro -> ch -> file_roll

Channels are `file` (checkpointDir / dataDirs under the test's tmp dir) or `memory`, on both
tiers; the group is `failover` (k1 to c1 first) or `load_balance` (round robin, backoff).

Each variant's `random.Random` is seeded from ZFLUME_CHAOS_SEED (printed; `rng_for`), and the
fault driver (tests/chaos/driver.py) strikes the fleet's `Target`s with it. A `Tally` reads the
collectors' files incrementally; a `GapWatch` thread times the longest stretch in which no new
distinct event reached a collector.
"""
from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import threading
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from supervisor.xmlrpc import SupervisorTransport

from tests.integration.harness import Agent, free_ports, wait_for

if TYPE_CHECKING:
    from tests.chaos.driver import Fault

LONG = os.environ.get("ZFLUME_CHAOS") == "long"
BATCH = 100
LOGWRITER = Path(__file__).with_name("logwriter.py")
FIGURES: list[str] = []  # every run's figures, printed again in the terminal summary
WRITERS: list[subprocess.Popen[bytes]] = []  # logwriters, ended by the conftest after each test


DRAWN_SEED = random.SystemRandom().randrange(1 << 31)  # once per run: every variant's base


def base_seed() -> int:
    """ZFLUME_CHAOS_SEED when given (to replay a printed storm), else this run's own."""
    given = os.environ.get("ZFLUME_CHAOS_SEED")
    return int(given) if given else DRAWN_SEED


def rng_for(label: str) -> tuple[random.Random, int]:
    """A generator per variant, reproducible from the printed seed."""
    seed = base_seed()
    return random.Random(f"{seed}:{label}"), seed


def report(line: str) -> None:
    print(f"\n{line}", flush=True)
    FIGURES.append(line)


# -- configuration ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """One variant of the fleet."""

    source: str  # "taildir" | "seq" | "exec" (`tail -F` of the log: it cannot replay)
    channel: str  # "file" | "memory", both tiers
    group: str  # "failover" | "load_balance"
    total: int  # events sent
    rate: int = 0  # taildir: lines written per second
    capacity: int = 200_000  # the agent's channel (a small one paces a seq source)
    source_batch: int = BATCH  # a small one slows a seq source down to a steady stream
    ack: str = "channel"  # the collectors' avro source: answer once stored, or once delivered
    dedupe: bool = False  # the collectors' avro source drops ids it already accepted

    @property
    def label(self) -> str:
        ack = "" if self.ack == "channel" else f"/ack={self.ack}"
        return f"{self.source}/{self.channel}/{self.group}{ack}{'/dedupe' if self.dedupe else ''}"


GROUPS = {
    "failover": ("processor.type = failover", "processor.priority.k1 = 9",
                 "processor.priority.k2 = 7", "processor.maxpenalty = 10000"),
    "load_balance": ("processor.type = load_balance", "processor.backoff = true",
                     "processor.selector = round_robin", "processor.selector.maxTimeOut = 10000"),
}


def keys(prefix: str, *pairs: str) -> str:
    return "".join(f"{prefix}.{pair}\n" for pair in pairs)


def channel_conf(prefix: str, kind: str, work: Path, capacity: int) -> str:
    """A channel that recovers fast: keep-alive 1 s, small log files, frequent checkpoints."""
    text = keys(prefix, f"type = {kind}", f"capacity = {capacity}",
                f"transactionCapacity = {BATCH}", "keep-alive = 1")
    if kind == "file":
        text += keys(prefix, f"checkpointDir = {work}/checkpoint", f"dataDirs = {work}/data",
                     "maxFileSize = 1000000", "checkpointInterval = 500",
                     "minimumRequiredSpace = 1048576")
    return text


def collector_conf(name: str, port: int, out: Path, kind: str, work: Path,
                   bind: str = "127.0.0.1", ack: str = "channel", dedupe: bool = False) -> str:
    """avro -> channel -> file_roll, one numbered line per event; with `dedupe`, the avro
    source drops the event ids it already accepted (the agent's TAILDIR and seq set them)."""
    interceptor = ("interceptors = d", "interceptors.d.type = dedupe") if dedupe else ()
    return (keys(name, "sources = s", "channels = ch", "sinks = k")
            + keys(f"{name}.sources.s", "type = avro", f"bind = {bind}", f"port = {port}",
                   "channels = ch", f"ack = {ack}", *interceptor)
            + channel_conf(f"{name}.channels.ch", kind, work / name, 20_000)
            + keys(f"{name}.sinks.k", "type = file_roll", "channel = ch",
                   f"sink.directory = {out}", "sink.rollInterval = 0"))


def source_conf(shape: Shape, work: Path) -> str:
    prefix = "ax.sources.src"
    if shape.source == "seq":
        return keys(prefix, "type = seq", "channels = ch", f"totalEvents = {shape.total}",
                    f"batchSize = {shape.source_batch}")
    if shape.source == "exec":
        return keys(prefix, "type = exec", "channels = ch",
                    f"command = tail -F {work}/logs/app.log", f"batchSize = {BATCH}",
                    "batchTimeout = 200")
    return keys(prefix, "type = TAILDIR", "channels = ch", "filegroups = f1",
                f"filegroups.f1 = {work}/logs/app\\\\.log",
                f"positionFile = {work}/ax/positions.json", f"batchSize = {BATCH}",
                "writePosInterval = 1000", "maxBackoffSleep = 500")


def agent_conf(shape: Shape, work: Path, hosts: tuple[tuple[str, int], tuple[str, int]]) -> str:
    """The agent tier: one source, one channel, avro sinks k1 -> hosts[0], k2 -> hosts[1]."""
    sinks = "".join(keys(f"ax.sinks.{k}", "type = avro", "channel = ch", f"hostname = {host}",
                         f"port = {port}", f"batch-size = {BATCH}")
                    for k, (host, port) in zip(("k1", "k2"), hosts))
    return (keys("ax", "sources = src", "channels = ch", "sinks = k1 k2", "sinkgroups = g")
            + source_conf(shape, work)
            + channel_conf("ax.channels.ch", shape.channel, work / "ax", shape.capacity)
            + sinks + keys("ax.sinkgroups.g", "sinks = k1 k2", *GROUPS[shape.group]))


# -- supervisord, without a supervisorctl process per question --------------------------------

class Programs:
    """An agent's programs through supervisord's XML-RPC socket (what supervisorctl uses)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.url = f"unix://{agent.run_dir / 'supervisor.sock'}"

    def infos(self) -> list[dict]:
        """supervisor.getAllProcessInfo over a connection of its own (closed at once)."""
        transport = SupervisorTransport(None, None, self.url)
        with xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport) as proxy:
            return proxy.supervisor.getAllProcessInfo()

    def running(self) -> bool:
        """Every program RUNNING (False while supervisord is not up yet)."""
        try:
            infos = self.infos()
        except OSError:
            return False
        return bool(infos) and all(info["statename"] == "RUNNING" for info in infos)

    def pids(self) -> dict[str, int]:
        """component -> pid of every program that has a live process."""
        prefix = f"{self.agent.name}-"
        return {info["name"][len(prefix):]: info["pid"] for info in self.infos()
                if info["pid"] and info["statename"] in ("RUNNING", "STARTING", "STOPPING")}

    def program(self, component: str) -> str:
        return f"{self.agent.name}-{component}"


# -- counting what arrived -------------------------------------------------------------------

class Tally:
    """Numbered lines in the file_roll outputs under `dirs`, read incrementally.

    Only complete lines count: a file_roll sink killed inside a write() may leave a partial last
    line, and its successor writes a new file, so that tail never completes (`partial`)."""

    def __init__(self, total: int, *dirs: Path) -> None:
        self.total = total
        self.dirs = dirs
        self.offsets: dict[Path, int] = {}
        self.counts: collections.Counter[int] = collections.Counter()
        self.per_dir = dict.fromkeys(dirs, 0)
        self.distinct = 0  # distinct numbers in range(total)
        self.lock = threading.Lock()

    def poll(self) -> int:
        with self.lock:
            for directory in self.dirs:
                for path in sorted(directory.glob("*")) if directory.exists() else ():
                    self._read(directory, path)
            return self.distinct

    def _read(self, directory: Path, path: Path) -> None:
        offset = self.offsets.get(path, 0)
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
        end = data.rfind(b"\n") + 1
        if not end:
            return
        self.offsets[path] = offset + end
        numbers = [int(line) for line in data[:end].split(b"\n")[:-1]]
        self.per_dir[directory] += len(numbers)
        for n in numbers:
            if n not in self.counts and 0 <= n < self.total:
                self.distinct += 1
            self.counts[n] += 1

    def count(self, directory: Path) -> int:
        self.poll()
        return self.per_dir[directory]

    def duplicated(self) -> int:
        return sum(c - 1 for c in self.counts.values() if c > 1)

    def missing(self) -> list[int]:
        return [n for n in range(self.total) if n not in self.counts]

    def foreign(self) -> list[int]:
        return [n for n in self.counts if not 0 <= n < self.total]

    def partial(self) -> int:
        """Bytes of incomplete last lines left behind by killed sinks."""
        return sum(p.stat().st_size - self.offsets.get(p, 0)
                   for d in self.dirs if d.exists() for p in d.glob("*"))


class GapWatch(threading.Thread):
    """Polls a Tally; the longest time between two arrivals of new distinct events."""

    def __init__(self, tally: Tally, step_s: float = 0.05) -> None:
        super().__init__(daemon=True, name="gapwatch")
        self.tally, self.step_s = tally, step_s
        self.t0 = time.monotonic()
        self.longest_s, self.longest_at_s = 0.0, 0.0
        self.last_n, self.last_at = 0, 0.0
        self.first_at = 0.0
        self.history: list[tuple[float, int]] = []  # (time.time(), distinct) at each growth
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            n, now = self.tally.poll(), time.monotonic()
            if n > self.last_n:
                self.history.append((time.time(), n))
                if not self.last_n:
                    self.first_at = now
                if self.last_n and now - self.last_at > self.longest_s:
                    self.longest_s, self.longest_at_s = now - self.last_at, self.last_at - self.t0
                self.last_n, self.last_at = n, now
            self.done.wait(self.step_s)

    def stop(self) -> None:
        self.done.set()
        self.join(5)

    def distinct_at(self, wall: float) -> int:
        """Distinct events seen at wall-clock time `wall` (a log record's timestamp)."""
        return max((n for t, n in self.history if t <= wall), default=0)

    def span_s(self) -> float:
        """From the first to the last new distinct event."""
        return self.last_at - self.first_at


# -- the fleet ---------------------------------------------------------------------------------

class Fleet:
    """ax and collectors c1, c2 on 127.0.0.1, in `work`; every agent goes into `agents` so the
    fixture stops it whatever happens."""

    def __init__(self, work: Path, shape: Shape, agents: list[Agent]) -> None:
        self.work, self.shape = work, shape
        (work / "logs").mkdir(exist_ok=True)
        base = free_ports(2)
        self.out = (work / "out" / "c1", work / "out" / "c2")
        self.c1 = Agent(work, "c1", collector_conf("c1", base, self.out[0], shape.channel, work,
                                                   ack=shape.ack, dedupe=shape.dedupe))
        self.c2 = Agent(work, "c2", collector_conf("c2", base + 1, self.out[1], shape.channel,
                                                   work, ack=shape.ack, dedupe=shape.dedupe))
        self.ax = Agent(work, "ax", agent_conf(shape, work, (("127.0.0.1", base),
                                                             ("127.0.0.1", base + 1))))
        agents.extend([self.c1, self.c2, self.ax])
        self.tally = Tally(shape.total, *self.out)
        self.writer: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        start_all([self.c1, self.c2, self.ax])
        if self.shape.source in ("taildir", "exec"):
            self.writer = start_writer(self.work / "logs" / "app.log", self.shape.total,
                                       self.shape.rate)

    def targets(self, channel_faults: tuple[str, ...], source_faults: tuple[str, ...],
                collector_faults: tuple[str, ...],
                collector_channel_faults: tuple[str, ...] | None = None) -> list[Target]:
        """Every process of both tiers and each whole collector, with the faults allowed (the
        collectors' channels: `channel_faults` unless told otherwise)."""
        ax = Programs(self.ax)
        out = [Target("ax:src", ax, ("src",), source_faults),
               Target("ax:ch", ax, ("ch",), channel_faults)]
        out += [Target(f"ax:{c}", ax, (c,), ALL_FAULTS) for c in ("g", "k1", "k2")]
        for agent in (self.c1, self.c2):
            programs = Programs(agent)
            out.append(Target(f"{agent.name}:ch", programs, ("ch",),
                              channel_faults if collector_channel_faults is None
                              else collector_channel_faults))
            out += [Target(f"{agent.name}:{c}", programs, (c,), ALL_FAULTS)
                    for c in ("s", "k-router", "k")]
            out.append(Target(f"{agent.name}:*", programs, ("s", "ch", "k-router", "k"),
                              collector_faults))
            if "kill" not in collector_faults:
                out.append(Target(f"{agent.name}:*-ch", programs, ("s", "k-router", "k"),
                                  ("kill",)))
        return [t for t in out if t.faults]

    def sent(self) -> int:
        """Lines the writer wrote (taildir) or the seq source's total."""
        if self.writer is None:
            return self.shape.total
        path = self.work / "logs" / "app.log"
        return path.read_bytes().count(b"\n") if path.exists() else 0


def start_all(agents: list[Agent]) -> None:
    """Start the agents side by side; return once every program of each runs."""
    for agent in agents:
        agent.start(wait=False)
    for agent in agents:
        wait_for(Programs(agent).running, 30, f"{agent.name}'s programs to run", step=0.1)


def start_writer(path: Path, total: int, rate: int) -> subprocess.Popen[bytes]:
    writer = subprocess.Popen([sys.executable, str(LOGWRITER), str(path), str(total), str(rate)])
    WRITERS.append(writer)
    return writer


# -- faults ------------------------------------------------------------------------------------

ALL_FAULTS = ("kill", "stop", "restart")


@dataclass
class Target:
    label: str
    programs: Programs
    components: tuple[str, ...]
    faults: tuple[str, ...]

    @property
    def kind(self) -> str:
        """What is struck: source, channel, router, sink, or a whole collector."""
        if len(self.components) > 1:
            return "collector"
        name = self.components[0]
        return {"src": "source", "s": "source", "ch": "channel", "g": "router",
                "k-router": "router"}.get(name, "sink")


# -- a run's figures ---------------------------------------------------------------------------

@dataclass
class Figures:
    label: str
    seed: int | None  # None: nothing random in the run
    sent: int
    delivered: int
    duplicated: int
    faults: int
    longest_gap_s: float
    longest_gap_at_s: float
    span_s: float
    elapsed_s: float
    notes: str = ""

    @property
    def lost(self) -> int:
        return self.sent - self.delivered

    def line(self) -> str:
        rate = self.duplicated / self.delivered if self.delivered else 0.0
        seed = f" seed {self.seed}" if self.seed is not None else ""
        notes = f"; {self.notes}" if self.notes else ""
        return (f"chaos {self.label}{seed}: sent {self.sent}, delivered "
                f"{self.delivered}, lost {self.lost}, duplicated {self.duplicated} ({rate:.2%}),"
                f" faults {self.faults}, longest delivery gap {self.longest_gap_s:.2f} s "
                f"(ending at {self.longest_gap_at_s + self.longest_gap_s:.1f} s), delivered over"
                f" {self.span_s:.1f} s, run {self.elapsed_s:.0f} s{notes}")


def settle(tally: Tally, expected: Callable[[], int], timeout_s: float) -> bool:
    """Wait until every expected event arrived (False on timeout), then until nothing more has
    arrived for a second, so late duplicates are counted too."""
    try:
        wait_for(lambda: tally.poll() >= expected(), timeout_s, "every event", step=0.25)
    except AssertionError:
        return False
    lines = -1
    while lines != sum(tally.counts.values()):
        lines = sum(tally.counts.values())
        time.sleep(1.0)
        tally.poll()
    return True


def failure_report(tally: Tally, faults: list[Fault], *agents: Agent) -> str:
    missing = tally.missing()
    errors = [line for agent in agents for line in agent.log.read_text(errors="replace")
              .splitlines() if " ERROR " in line][-15:]
    return (f"{len(missing)} events lost (first {missing[:20]}); foreign numbers "
            f"{tally.foreign()[:10]}; partial bytes {tally.partial()}\nfaults:\n  "
            + "\n  ".join(map(str, faults)) + "\nlast errors:\n  " + "\n  ".join(errors))
