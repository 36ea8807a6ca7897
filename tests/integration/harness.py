"""Real agents for integration tests: `zflume agent` in a temporary directory, plus the
supervisorctl and file-reading helpers the tests share."""
from __future__ import annotations

import collections
import glob
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

import pytest

from proto.avro.client import ClientConnection
from proto.avro.protocol import Status
from services.config.schema import processor_defaults
from services.process import ORPHAN_STOP_S, PARENT_CHECK_S
from services.sinks.avro import PROBE_INTERVAL_S, PROBE_TIMEOUT_S
from tests.integration.surprises import Run, regions, size, tracebacks, unasked_exits

BIN = Path(sys.executable).parent
# Every zflume the tests start runs this tree's code even when the venv's editable install
# points at another checkout (a worktree sharing a venv): PYTHONPATH comes before the editable
# finder. Set for the whole test process, so `zflume status`, `zflume render` and a test's own
# supervisord get it too, not only Agent: a status client of the other checkout may not speak
# this tree's protocol.
TREE = Path(__file__).resolve().parents[2]
if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != str(TREE):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(TREE), os.environ.get("PYTHONPATH", "")]))
NUMBERS = Path(__file__).with_name("numbers.py")

# The suite's time limits: each is what the config's defaults allow plus one margin for a busy
# 2-core machine, all times one factor (ZFLUME_TIME_SCALE, default 1) that a slower machine
# raises once instead of each test carrying its own slack.
TIME_SCALE = float(os.environ.get("ZFLUME_TIME_SCALE", "1"))
MARGIN_S = 2.0


def time_limit(seconds: float) -> float:
    """A limit of `seconds` on this machine (times ZFLUME_TIME_SCALE)."""
    return seconds * TIME_SCALE


def frozen_sink_limit_s(processor: str = "failover") -> float:
    """How soon a router moves traffic off a frozen sink: the heartbeats it waits out
    (heartbeat.interval x heartbeat.liveness), plus the margin."""
    params = processor_defaults(processor)
    return time_limit(params["heartbeat.interval"] * params["heartbeat.liveness"] / 1000
                      + MARGIN_S)


def frozen_collector_limit_s(processor: str = "failover") -> float:
    """How soon a router moves traffic off a sink whose collector froze: the avro sink's
    probe (one interval, then its timeout) says unhealthy at the next heartbeat, plus the
    margin."""
    beat_s = processor_defaults(processor)["heartbeat.interval"] / 1000
    return time_limit(PROBE_INTERVAL_S + PROBE_TIMEOUT_S + beat_s + MARGIN_S)


def orphan_limit_s() -> float:
    """How long a component outlives a killed supervisord: its parent check's interval, then
    ORPHAN_STOP_S to stop, plus the margin."""
    return time_limit(PARENT_CHECK_S + ORPHAN_STOP_S + MARGIN_S)



def copy_output(stream: IO[bytes], path: Path) -> None:
    """Append everything an agent prints to its log file, line by line, until it exits."""
    with stream, open(path, "ab", buffering=0) as out:
        for line in stream:
            out.write(line)


def wait_for(check: Callable[[], object], timeout: float, what: str, step: float = 0.1) -> object:
    """Poll `check` until it returns something truthy; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def numbers_command(count: int, rate: float) -> str:
    return f"{sys.executable} -u {NUMBERS} {count} {rate}"


class Agent:
    """One `zflume agent` run in `workdir`, with its config written from `conf`."""

    def __init__(self, workdir: Path, name: str, conf: str, args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.name = name
        self.args = args  # more `zflume agent` options, e.g. ("--collectors", "127.0.0.1:4000:3")
        self.run_dir = workdir / f"run-{name}"
        self.conf = workdir / f"{name}.conf"
        self.conf.write_text(conf)
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.copier: threading.Thread | None = None  # copies a piped output to `log`
        # Each start, for the teardown check (`surprises`), which fails a test on an exit or a
        # traceback it did not cause: where the run's lines begin, and what the test caused.
        self.runs: list[Run] = []

    def program(self, component: str) -> str:
        return f"{self.name}-{component}"

    def run(self) -> "Run":
        """The run faults are declared against: the last one started (or the first, to be)."""
        if not self.runs:
            self.runs.append(Run())
        return self.runs[-1]

    @property
    def faulted(self) -> set[str]:
        """Programs the test killed, froze, stopped or restarted in this run."""
        return self.run().faulted

    def expect_fault(self, *components: str) -> None:
        """Declare components the test faults by itself (os.kill on their pids): their exits,
        restarts and last words are then what it asked for."""
        self.faulted.update(self.program(c) for c in components)

    def allow_faults(self, why: str) -> None:
        """Opt this run of the agent out of the teardown check, saying why: the test faults it
        whole (its supervisord or every process at once) or provokes exits on purpose."""
        self.run().faults_allowed = why

    def begin_run(self) -> None:
        """Note where this start's lines begin in both logs (a subclass's `start` calls it)."""
        if not self.runs or self.runs[-1].started:
            self.runs.append(Run())
        self.runs[-1].begin(size(self.run_dir / "supervisord.log"), size(self.log))

    def start(self, wait: bool = True) -> "Agent":
        """Launch the agent; with `wait`, return once supervisord reports every program up."""
        self.begin_run()
        # Through a pipe: supervisord reopens /dev/stdout for each program, and on a plain file
        # those reopened descriptors would write over each other.
        self.proc = subprocess.Popen(
            [str(BIN / "zflume"), "agent", "-f", str(self.conf), "-n", self.name,
             "--run-dir", str(self.run_dir), *self.args], cwd=self.workdir,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.copier = threading.Thread(target=copy_output, args=(self.proc.stdout, self.log),
                                       daemon=True)
        self.copier.start()
        if wait:
            wait_for(lambda: self.running(), 20, f"{self.name}'s programs to run")
        return self

    def ctl(self, *args: str) -> str:
        """supervisorctl ARGS; the programs it stops, restarts or signals count as faulted."""
        if args[:1] in (("stop",), ("restart",)):
            self.faulted.update(args[1:])
        elif args[:1] == ("signal",):
            self.faulted.update(args[2:])
        result = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.run_dir / "supervisord.conf"), *args],
            capture_output=True, text=True, timeout=30)
        return result.stdout

    def statuses(self) -> dict[str, tuple[str, int]]:
        """program -> (state, pid) from `supervisorctl status`."""
        out = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
                out[parts[0]] = (parts[1], pid)
        return out

    def running(self) -> bool:
        states = self.statuses()
        return bool(states) and all(state == "RUNNING" for state, _ in states.values())

    def pid(self, component: str) -> int:
        return self.statuses()[f"{self.name}-{component}"][1]

    def signal(self, component: str, sig: int) -> int:
        """Signal a component's process once supervisord reports its pid (never pid 0, which
        would signal the test's own process group); it counts as faulted."""
        pid = int(wait_for(lambda: self.pid(component), 30, f"{component} to have a pid"))
        self.expect_fault(component)
        os.kill(pid, sig)
        return pid

    def restarted(self, component: str, old_pid: int) -> int:
        """Wait until supervisord has a new, running process for `component`."""
        def new_pid() -> int:
            state, pid = self.statuses().get(f"{self.name}-{component}", ("", 0))
            return pid if state == "RUNNING" and pid not in (0, old_pid) else 0
        return int(wait_for(new_pid, 30, f"{component} to be restarted"))

    def terminate(self) -> None:
        """SIGTERM the agent if it runs, noting when: its programs' exits from then on are its
        stop (even one logged before supervisord says it got the signal)."""
        if self.runs and self.runs[-1].started and not self.runs[-1].stop_asked:
            self.runs[-1].stop_asked = time.time()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        self.wait_stopped()

    def wait_stopped(self) -> None:
        """Wait for a terminated agent to exit (killed after 40 s) and its output to be copied."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.copier is not None:
            self.copier.join(timeout=10)

    def surprises(self) -> list[str]:
        """Each program that exited under supervisord before the agent was asked to stop, and
        each traceback in its log, that the test did not cause (none in a run it opted out)."""
        runs = [run for run in self.runs if run.started]
        logs = regions(self.log, [run.log_at for run in runs])
        supervisord_logs = regions(self.run_dir / "supervisord.log",
                                   [run.supervisord_at for run in runs])
        found = []
        for run, log, supervisord_log in zip(runs, logs, supervisord_logs, strict=True):
            if run.faults_allowed:
                continue
            for program, line in unasked_exits(supervisord_log, run.stop_asked):
                if not run.expected(program):
                    found.append(f"agent {self.name}: {program} exited under supervisord, "
                                 f"which the test did not cause:\n    {line}")
            for program, block in tracebacks(log):
                if not (program and run.expected(program)):
                    shown = block if len(block) <= 12 else [*block[:8], "...", *block[-3:]]
                    where = program or "a process it cannot name"
                    found.append(f"agent {self.name}: a traceback from {where} in {self.log}:"
                                 + "".join(f"\n    {line}" for line in shown))
        return found


def supervisord_pid(agent: Agent) -> int:
    """The supervisord under a running `zflume agent` (its only child)."""
    assert agent.proc
    children = Path(f"/proc/{agent.proc.pid}/task/{agent.proc.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def stop_all(agents: list[Agent]) -> None:
    """SIGTERM every agent, then wait for each: side by side, as each takes a second or two to
    drain (supervisord notices an exit at its next 1 s tick)."""
    for agent in agents:
        agent.terminate()
    for agent in agents:
        agent.wait_stopped()


def fail_on_surprises(agents: list[Agent]) -> None:
    """Fail the test (at teardown, once every agent stopped) when a component it did not
    fault exited under supervisord or logged a traceback: a restart that heals itself would
    otherwise pass unseen."""
    found = [line for agent in dict.fromkeys(agents) for line in agent.surprises()]
    if found:
        pytest.fail("a component the test did not fault exited or logged a traceback (a test "
                    "declares its own faults with Agent.expect_fault / allow_faults):\n"
                    + "\n".join(found), pytrace=False)


def seq_source(total: int, batch: int) -> str:
    """Agent `a`'s seq source `src` of `total` numbered events into channel `ch`."""
    return f"""
a.sources = src
a.sources.src.type = seq
a.sources.src.channels = ch
a.sources.src.totalEvents = {total}
a.sources.src.batchSize = {batch}
"""


def lines_written(directory: Path) -> int:
    """Lines the file_roll sinks under `directory` wrote so far, cheaply (for polling)."""
    return (sum(p.read_bytes().count(b"\n") for p in directory.glob("*"))
            if directory.exists() else 0)


def lines_in(directory: Path) -> list[int]:
    """Every numbered line written by file_roll sinks under `directory`, in file order. A last
    line without its newline is still being written ("12" of "1234"): not counted, or a loss
    could hide behind it."""
    numbers: list[int] = []
    for path in sorted(glob.glob(str(directory / "*"))):
        with open(path, "rb") as handle:
            data = handle.read()
        whole = data[:data.rfind(b"\n") + 1]
        numbers.extend(int(line) for line in whole.split(b"\n") if line.strip())
    return numbers


def duplicates(*lists: list[int]) -> int:
    counts = collections.Counter(n for numbers in lists for n in numbers)
    return sum(count - 1 for count in counts.values() if count > 1)


def free_ports(count: int) -> int:
    """A base port with `count` consecutive free ports on 127.0.0.1."""
    import random
    import socket
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free ports")


def port_open(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def append_batches(port: int, batches: list[list[int]],
                   headers: Callable[[int], dict[str, str]] = lambda n: {}) -> list[Status]:
    """appendBatch each batch of numbers (bodies b"%d", headers of each number) in turn over one
    connection, as Flume's client does; what each was answered."""
    import socket
    statuses = []
    conn = ClientConnection()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for numbers in batches:
            _, data = conn.append_batch([headers(n) for n in numbers],
                                             [b"%d" % n for n in numbers])
            sock.sendall(data)
            while True:
                out, replies = conn.feed(sock.recv(65536))
                for chunk in out:
                    sock.sendall(chunk)
                if replies:
                    statuses.append(replies[0].status)
                    break
    return statuses


def collector_conf(name: str, port: int, out: str, capacity: int = 1000, txn: int = 100,
                   relay_to: int = 0) -> str:
    """The seed's collector (avro -> memory -> logger) with a file_roll sink into `out` to count
    with, or with `relay_to`, an avro sink forwarding to that port on 127.0.0.1."""
    if relay_to:
        sink = f"""{name}.sinks.k.type = avro
{name}.sinks.k.channel = ch
{name}.sinks.k.hostname = 127.0.0.1
{name}.sinks.k.port = {relay_to}
"""
    else:
        sink = f"""{name}.sinks.k.type = file_roll
{name}.sinks.k.channel = ch
{name}.sinks.k.sink.directory = {out}
{name}.sinks.k.sink.rollInterval = 0
"""
    return f"""
{name}.sources = s
{name}.channels = ch
{name}.sinks = k
{name}.sources.s.type = avro
{name}.sources.s.bind = 127.0.0.1
{name}.sources.s.port = {port}
{name}.sources.s.channels = ch
{name}.channels.ch.type = memory
{name}.channels.ch.capacity = {capacity}
{name}.channels.ch.transactionCapacity = {txn}
{sink}"""
