"""Real Apache Flume 1.11.0 running bench/topology.py's configs: the Flume column of two_tier.

The peer is ../shared/peer beside the repo (or $FLUME_PEER): its `bin/flume-ng agent -f CONF
-n NAME` is Apache's own script, which execs one JVM per agent with the peer's JVM options
(-Xms100m -Xmx1g). The configs are the very text zflume runs, so exec batchSize, the channels,
the avro batch-size and file_roll's sink.batchSize (rollInterval 0) are the same on both sides.
Flume is measured exactly as zflume is (bench/measure.py), over the same number of events, so
its JIT warms up within the run as it would in service.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from bench.topology import COLLECTORS, Setting, agent_conf, collector_conf, out_dir
from services.sources.exec import parent_death_signal
from tests.integration.harness import free_ports, port_open, wait_for

PEER = Path(os.environ.get("FLUME_PEER", Path(__file__).resolve().parents[2] / "shared" / "peer"))


def missing() -> str | None:
    """Why the Flume column cannot run on this machine, or None when it can."""
    if not (PEER / "bin" / "flume-ng").exists():
        return f"no Flume peer at {PEER} (set FLUME_PEER to one)"
    done = subprocess.run([str(PEER / "install"), "--quiet"], capture_output=True, text=True)
    if done.returncode:
        return f"the Flume peer at {PEER} does not install: {done.stderr.strip()}"
    return None


class FlumeAgent:
    """One `flume-ng agent` JVM in `work`, its config written from `conf`, its log beside it."""

    def __init__(self, work: Path, name: str, conf: str) -> None:
        self.work, self.name = work, name
        self.conf = work / f"{name}.properties"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The scripts exec each other and then java, so this pid becomes the JVM's; the death
        # signal survives those execs and stops the JVM if the benchmark itself is killed.
        with open(self.work / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(PEER / "bin" / "flume-ng"), "agent", "-f", str(self.conf), "-n", self.name],
                cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=parent_death_signal(signal.SIGTERM))

    def stop(self) -> None:
        """SIGTERM: Flume's shutdown hook stops every component; SIGKILL if it hangs."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FlumeFleet:
    """The two collectors and the agent, one JVM each; processes are labelled by agent."""

    def __init__(self, work: Path, command: str, s: Setting) -> None:
        self.base = free_ports(2)
        self.agents = [FlumeAgent(work, c, collector_conf(c, self.base + i, out_dir(work, c), s))
                       for i, c in enumerate(COLLECTORS)]
        self.agents.append(FlumeAgent(work, "x", agent_conf(command, self.base, s)))

    def start(self) -> None:
        """Collectors first, and the agent only once both listen, so its sinks connect at once."""
        for collector in self.agents[:-1]:
            collector.start()
        for port in (self.base, self.base + 1):
            wait_for(lambda: port_open(port), 120, f"Flume's avro source on port {port}")
        self.agents[-1].start()

    def processes(self) -> dict[str, int]:
        return {a.name: a.proc.pid for a in self.agents if a.proc and a.proc.poll() is None}

    def stop(self) -> None:
        for agent in reversed(self.agents):
            agent.stop()
