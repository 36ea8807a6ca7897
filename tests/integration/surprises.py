"""What the agents fixture's teardown check reads: supervisord's log and an agent's log,
per run of the agent, for exits and tracebacks the test did not cause (harness.Agent.surprises).
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

# What the teardown check reads (`Agent.surprises`): supervisord's record of a program that
# ended by itself or by a signal it did not send ("stopped:" is a stop it was asked for), the
# line starting one supervisord and the one saying it was asked to shut down.
EXITED = re.compile(r"^(\S+ \S+) \S+ exited: (\S+) \((.*)\)$")
SUPERVISORD_STARTED = " supervisord started with pid "
SHUTDOWN = " indicating exit request"
TRACEBACK = "Traceback (most recent call last)"
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# A component's records name it: `zflume.AGENT.KIND.NAME:` (services/process.py). A
# `log.exception` writes its record and traceback at once: a traceback right after such a
# record is that component's (one after an INFO line may be another process's, uncaught).
LOGGER = re.compile(r"^\S+ \S+ (?:WARNING|ERROR|CRITICAL) zflume\.([^.\s]+)\.([^.\s]+)\.(\S+?): ")


@dataclass
class Run:
    """One `Agent.start`: where its lines begin in supervisord's log and in the agent's log
    (-1: not started yet), when (time.time()) the harness asked it to stop, and the faults
    the test declared."""

    supervisord_at: int = -1
    log_at: int = -1
    stop_asked: float = 0.0
    faulted: set[str] = field(default_factory=set)  # programs
    faults_allowed: str = ""  # why the test opted the run out of the check, if it did

    @property
    def started(self) -> bool:
        return self.supervisord_at >= 0

    def begin(self, supervisord_at: int, log_at: int) -> None:
        self.supervisord_at, self.log_at = supervisord_at, log_at

    def expected(self, program: str) -> bool:
        """Whether the test faulted `program` (a shared name's program is `NAME.KIND`)."""
        return bool({program, "all"} & self.faulted) or any(
            name.startswith(f"{program}.") for name in self.faulted)


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def read_from(path: Path, offset: int, end: int | None = None) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read() if end is None else handle.read(max(0, end - offset))
    return data.decode(errors="replace")


def regions(path: Path, offsets: list[int]) -> list[str]:
    """The text of `path` from each offset to the next (the last to the end)."""
    ends: list[int | None] = [*offsets[1:], None]
    return [read_from(path, start, end) for start, end in zip(offsets, ends, strict=True)]


def stamp(line: str) -> float:
    """time.time() of a record (local time, as supervisord and the components write it)."""
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def unasked_exits(text: str, stop_asked: float) -> Iterable[tuple[str, str]]:
    """(program, line) of each `exited:` record of one supervisord run (the first in `text`)
    before its shutdown began: at SIGTERM, or when the harness asked (0: never)."""
    started = False
    for line in text.splitlines():
        if SUPERVISORD_STARTED in line:
            if started:
                return  # the next run's: an agent of the same name started after this one
            started = True
        elif SHUTDOWN in line:
            return
        elif match := EXITED.match(line):
            if stop_asked and stamp(line) >= stop_asked - 0.01:
                return
            yield match.group(2), line


def tracebacks(text: str) -> Iterable[tuple[str, list[str]]]:
    """(program or "", lines) of each traceback in an agent's log: its lines run to the next
    record; the record just before it (a `log.exception`) names the component."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if TRACEBACK not in lines[i]:
            i += 1
            continue
        first = i if RECORD.match(lines[i]) else max(i - 1, 0)
        header = lines[first] if RECORD.match(lines[first]) else ""
        end = i + 1
        while end < len(lines) and not RECORD.match(lines[end]):
            end += 1
        named = LOGGER.match(header)
        yield (f"{named.group(1)}-{named.group(3)}" if named else "",
               lines[first if header else i:end])
        i = end
