"""The one backoff every retry loop uses: min(cap, base * 2**n) after n failures in a row.

Users: the sink-group policies (Flume's OrderSelector and FailoverSinkProcessor penalties), a
source's retry of a PUT its channel answered FULL, TAILDIR's wait after empty scans, and a
router's pause when no sink could take a batch. Each keeps its own base and cap (Flume's, where
Flume has them); the formula, the overflow rule and the clock are here once.
"""
from __future__ import annotations

import time
from typing import Callable

MAX_DOUBLINGS = 64  # far past any cap; keeps 2**n a small int however long an outage lasts


def exponential(n: int, base: float, cap: float) -> float:
    """min(cap, base * 2**n). Java's `(1 << n) * base` overflows to 0 or less from n = 22 and
    then retries a long-dead peer at once; here the cap holds for every n (a deliberate
    divergence)."""
    return min(cap, base * 2 ** min(max(n, 0), MAX_DOUBLINGS))


class Backoff:
    """Consecutive failures of one retry loop and the wait they earn, on an injected clock."""

    def __init__(self, base_s: float, cap_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.clock = clock
        self.failures = 0
        self.until = 0.0  # clock time before which the loop should not try again

    def failed(self) -> float:
        """One more failure: the wait before the next try (the base after the first)."""
        wait = exponential(self.failures, self.base_s, self.cap_s)
        self.failures += 1
        self.until = self.clock() + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self.until = 0.0

    def waiting(self) -> bool:
        """True while the wait the last failure earned is not over."""
        return self.clock() < self.until

    def cancel(self) -> None:
        """Try again now (the reason to wait went away), keeping the failure count."""
        self.until = 0.0
