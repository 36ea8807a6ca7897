"""Stand-ins for in-process tests of the processes' state machines."""
from __future__ import annotations


class Clock:
    """A manual clock for Process.clock: time moves only when a test moves `t`."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
