"""The chaos fault driver: strikes a fleet's targets one fault at a time, from a seeded generator.

It draws from one `random.Random` (fleet.rng_for: seeded from ZFLUME_CHAOS_SEED, printed) a target
(one process of either tier, or a whole collector) and a fault: kill -9 (supervisord restarts
it), SIGSTOP then SIGCONT after a short random time, or `supervisorctl restart`. A run first
strikes every (kind of target, fault) pair once (`covering`), then at random.
"""
from __future__ import annotations

import collections
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.chaos.fleet import LONG, Target
from tests.integration.harness import BIN, Agent

# How long a SIGSTOP lasts: up to well past the heartbeats' 1.5 s, well under the 10 s watchdog.
STOP_S = (0.2, 3.0) if LONG else (0.2, 1.6)


def covering(rng: random.Random, targets: list[Target]) -> list[tuple[Target, str]]:
    """One strike for every (kind of target, fault) pair the targets allow, each on a target of
    that kind drawn at random, in random order: a short storm reaches every process kind with
    every fault it allows, whole collectors included."""
    pairs = sorted({(t.kind, fault) for t in targets for fault in t.faults})
    plan = [(rng.choice([t for t in targets if t.kind == kind and fault in t.faults]), fault)
            for kind, fault in pairs]
    rng.shuffle(plan)
    return plan


@dataclass
class Fault:
    at_s: float
    target: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.at_s:6.1f}s {self.kind:7} {self.target} {self.detail}".rstrip()


@dataclass
class Driver:
    """Strikes `targets` one fault at a time, from `rng`; restarts run in the background."""

    rng: random.Random
    targets: list[Target]
    t0: float = field(default_factory=time.monotonic)
    faults: list[Fault] = field(default_factory=list)
    restarts: list[threading.Thread] = field(default_factory=list)
    restart_s: list[tuple[float, str]] = field(default_factory=list)  # (seconds, target)

    def run(self, count: int, pause_s: tuple[float, float]) -> None:
        """Every (kind, fault) pair once (covering), then random strikes up to `count`."""
        for target, kind in covering(self.rng, self.targets):
            while not self.strike(target, kind):
                time.sleep(0.2)  # still restarting after an earlier fault
            time.sleep(self.rng.uniform(*pause_s))
        while len(self.faults) < count:
            self.strike()
            time.sleep(self.rng.uniform(*pause_s))

    def covered(self) -> set[tuple[str, str]]:
        """The (kind, fault) pairs struck so far."""
        kinds = {t.label: t.kind for t in self.targets}
        return {(kinds[f.target], f.kind) for f in self.faults}

    def strike(self, target: Target | None = None, kind: str = "") -> bool:
        """Strike `target` with `kind` (drawn when not given); False if the target was still
        being restarted after an earlier fault, so nothing was done."""
        target = target or self.rng.choice(self.targets)
        kind = kind or self.rng.choice(target.faults)
        pids = target.programs.pids()
        live = [pids[c] for c in target.components if c in pids]
        if len(live) < len(target.components) and kind != "restart":
            return False
        fault = Fault(time.monotonic() - self.t0, target.label, kind)
        target.programs.agent.expect_fault(*target.components)
        getattr(self, f"_{kind}")(target, live, fault)
        self.faults.append(fault)
        return True

    def _kill(self, target: Target, pids: list[int], fault: Fault) -> None:
        signal_all(pids, signal.SIGKILL)

    def _stop(self, target: Target, pids: list[int], fault: Fault) -> None:
        held_s = self.rng.uniform(*STOP_S)
        fault.detail = f"for {held_s:.1f} s"
        try:
            signal_all(pids, signal.SIGSTOP)
            time.sleep(held_s)
        finally:
            signal_all(pids, signal.SIGCONT)

    def _restart(self, target: Target, pids: list[int], fault: Fault) -> None:
        names = [target.programs.program(c) for c in target.components]
        thread = threading.Thread(target=self._supervisorctl_restart,
                                  args=(target.programs.agent, names, fault), daemon=True)
        thread.start()
        self.restarts.append(thread)

    def _supervisorctl_restart(self, agent: Agent, names: list[str], fault: Fault) -> None:
        started = time.monotonic()
        subprocess.run([str(BIN / "supervisorctl"), "-c", str(agent.run_dir / "supervisord.conf"),
                        "restart", *names], capture_output=True, timeout=90)
        fault.detail = f"took {time.monotonic() - started:.1f} s"
        self.restart_s.append((time.monotonic() - started, fault.target))

    def finish(self) -> None:
        """Wait for the background restarts (a SIGTERMed component may take its stop budget)."""
        for thread in self.restarts:
            thread.join(90)

    def summary(self) -> str:
        kinds = collections.Counter(f.kind for f in self.faults)
        took, target = max(self.restart_s, default=(0.0, "-"))
        return (f"{len(self.faults)} faults ({', '.join(f'{k} {n}' for k, n in kinds.items())});"
                f" slowest supervisorctl restart {took:.1f} s ({target})")


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # it died since supervisord said its pid
            os.kill(pid, sig)
