"""Sink-group processor policies: which sink gets the next batch.

Pure objects over an injected monotonic clock (seconds), so their tests never sleep. The router
drives one per group, exactly as Flume's SinkProcessor.process() drives its sinks:

    for sink in policy.candidates():           # once per batch, best first
        send the batch to sink
        on success: policy.delivered(sink); stop
        on failure: policy.failed(sink, liveness); try the next one
    nothing left: roll the batch back and back off (Flume: EventDeliveryException)

and its heartbeat loop calls heartbeat_ok / heartbeat_lost. Formulas are in milliseconds, as
Flume's, and all use backoff_ms(). Flume names: FailoverSinkProcessor, LoadBalancingSinkProcessor,
OrderSelector (flume-ng-core / flume-ng-sdk).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from services.backoff import exponential
from services.config.schema import PROCESSORS, processor_defaults

Clock = Callable[[], float]  # monotonic seconds

FAILURE_PENALTY_MS = 1000  # base of every backoff: Flume's FAILURE_PENALTY, OrderSelector's 1000
EXP_BACKOFF_COUNTER_LIMIT = 16
CONSIDER_SEQUENTIAL_RANGE_MS = 3_600_000  # one hour since FLUME-2229 (was 2000 ms)


def backoff_ms(n: int, cap_ms: int) -> int:
    """Flume's penalty: 1 s doubled n times, capped (services.backoff, whose cap holds for
    every n where Java's 32-bit shift overflows)."""
    return int(exponential(n, FAILURE_PENALTY_MS, cap_ms))


class Policy(Protocol):
    """What the router calls; see the module docstring for the order of calls."""

    def candidates(self) -> list[str]: ...
    def delivered(self, sink: str) -> None: ...
    def failed(self, sink: str, liveness: bool) -> None: ...
    def heartbeat_ok(self, sink: str) -> None: ...
    def heartbeat_lost(self, sink: str) -> None: ...
    def snapshot(self) -> dict: ...


class _Counters:
    """Per-group counters for snapshot(); a reroute is a batch delivered by a sink that was not
    the first candidate for it (the first one failed)."""

    def __init__(self, processor: str) -> None:
        self._processor = processor
        self._first: str | None = None
        self._counts = {"deliveries": 0, "failures": 0, "reroutes": 0}

    def _offer(self, order: list[str]) -> list[str]:
        self._first = order[0] if order else None
        return order

    def _count_delivery(self, sink: str) -> None:
        self._counts["deliveries"] += 1
        if sink != self._first:
            self._counts["reroutes"] += 1

    def _count_failure(self) -> None:
        self._counts["failures"] += 1

    def _summary(self, sinks: dict[str, dict], **extra: Any) -> dict:
        return {"processor": self._processor, **extra, **self._counts, "sinks": sinks}


class DefaultPolicy(_Counters):
    """One sink, always offered, as Flume's DefaultSinkProcessor: the router backs off itself."""

    def __init__(self, sink: str) -> None:
        super().__init__("default")
        self._sink = sink

    def candidates(self) -> list[str]:
        return self._offer([self._sink])

    def delivered(self, sink: str) -> None:
        self._count_delivery(sink)

    def failed(self, sink: str, liveness: bool) -> None:
        self._count_failure()

    def heartbeat_ok(self, sink: str) -> None:
        """Nothing to restore: the sink never leaves rotation."""

    def heartbeat_lost(self, sink: str) -> None:
        """Nothing to remove: with one sink there is nowhere else to send the batch."""

    def snapshot(self) -> dict:
        return self._summary({self._sink: {"available": True}}, active=self._sink)


@dataclass
class _Penalty:
    """A failed sink's cool-down (Flume's FailedSink)."""

    refresh: float  # clock time after which (strictly) it may be retried
    failures: int  # sequentialFailures
    liveness: bool  # kind of its latest failure: unreachable (True) or answered FAILED


class FailoverPolicy(_Counters):
    """Flume's FailoverSinkProcessor: the live sink with the highest priority takes every batch."""

    def __init__(self, sinks: list[str], priorities: dict[str, int], max_penalty_ms: int,
                 clock: Clock) -> None:
        super().__init__("failover")
        self._ranked = sorted(sinks, key=lambda s: priorities[s], reverse=True)
        self._max_penalty_ms = max_penalty_ms
        self._clock = clock
        self._failed: dict[str, _Penalty] = {}
        self._down: set[str] = set()  # missed heartbeats: out until heartbeat_ok

    def candidates(self) -> list[str]:
        """Expired failed sinks first, earliest refresh first (Flume retries them before the
        active sink so a recovered sink is noticed), then the live ones by priority."""
        now = self._clock()
        expired = [s for s in self._ranked
                   if s in self._failed and self._failed[s].refresh < now and s not in self._down]
        expired.sort(key=lambda s: self._failed[s].refresh)  # stable: ties go by priority
        return self._offer(expired + self._live())

    def delivered(self, sink: str) -> None:
        """A retried failed sink that delivers is live again (and active if it ranks highest)."""
        self._count_delivery(sink)
        self._failed.pop(sink, None)
        self._down.discard(sink)

    def failed(self, sink: str, liveness: bool) -> None:
        self._count_failure()
        current = self._failed.get(sink)
        # A sink demoted from live starts at 1 (first cool-down 2 s, not 1 s, as Flume); each
        # failed retry doubles the wait so a dead sink costs few retries, up to maxpenalty so a
        # recovered one is found again within that bound.
        n = 1 if current is None else current.failures + 1
        refresh = self._clock() + backoff_ms(n, self._max_penalty_ms) / 1000
        self._failed[sink] = _Penalty(refresh, n, liveness)

    def heartbeat_ok(self, sink: str) -> None:
        """Only a liveness penalty ends here: a sink that answered FAILED may accept pings yet
        reject batches, so it waits for its retry with a real batch, or it would flap."""
        self._down.discard(sink)
        current = self._failed.get(sink)
        if current is not None and current.liveness:
            del self._failed[sink]

    def heartbeat_lost(self, sink: str) -> None:
        if sink not in self._failed:
            self.failed(sink, liveness=True)
        self._down.add(sink)

    def snapshot(self) -> dict:
        now = self._clock()
        live = self._live()
        return self._summary({s: self._sink_state(s, now) for s in self._ranked},
                             active=live[0] if live else None)

    def _live(self) -> list[str]:
        return [s for s in self._ranked if s not in self._failed]

    def _sink_state(self, sink: str, now: float) -> dict:
        penalty = self._failed.get(sink)
        return {
            "available": penalty is None or (penalty.refresh < now and sink not in self._down),
            "down": sink in self._down,
            "penalty_remaining_s": max(0.0, penalty.refresh - now) if penalty else 0.0,
            "sequential_failures": penalty.failures if penalty else 0,
            "liveness_failure": penalty.liveness if penalty else False,
        }


@dataclass
class _Backoff:
    """One sink's failure state (OrderSelector.FailureState); -inf means 'never'."""

    last_fail: float = -math.inf
    restore: float = -math.inf  # in rotation iff restore < now (strictly)
    failures: int = 0  # sequentialFails
    liveness: bool = False  # kind of its latest failure


class LoadBalancePolicy(_Counters):
    """Flume's LoadBalancingSinkProcessor with its round_robin or random OrderSelector."""

    def __init__(self, sinks: list[str], selector: str, backoff: bool, max_timeout_ms: int,
                 clock: Clock, rng: random.Random) -> None:
        super().__init__("load_balance")
        if selector not in ("round_robin", "random"):
            raise ValueError(f"unknown load_balance selector {selector!r}")
        self._sinks = list(sinks)  # configuration order, as Flume's LinkedHashMap
        self._selector = selector
        self._backoff = backoff
        self._max_timeout_ms = max_timeout_ms
        self._clock = clock
        self._rng = rng
        self._state = {s: _Backoff() for s in sinks}
        self._down: set[str] = set()
        self._next_head = 0

    def candidates(self) -> list[str]:
        """A fresh order over the sinks in rotation on every call; [] when all are out."""
        now = self._clock()
        active = [s for s in self._sinks if self._in_rotation(s, now)]
        if self._selector == "random":
            self._rng.shuffle(active)
            return self._offer(active)
        return self._offer(self._round_robin(active))

    def delivered(self, sink: str) -> None:
        """Counted only: success never resets the failure count, as in Flume."""
        self._count_delivery(sink)

    def failed(self, sink: str, liveness: bool) -> None:
        """Backs the sink off if `backoff` is on; otherwise it stays in rotation (Flume)."""
        self._count_failure()
        if self._backoff:
            self._inform_failure(sink, liveness)

    def heartbeat_ok(self, sink: str) -> None:
        """Ends a liveness backoff at once; a FAILED answer keeps its backoff (no flapping)."""
        self._down.discard(sink)
        state = self._state[sink]
        if state.liveness:
            state.restore = -math.inf

    def heartbeat_lost(self, sink: str) -> None:
        """Out of rotation until heartbeat_ok, whatever `backoff` says."""
        if self._backoff and self._state[sink].restore < self._clock():
            self._inform_failure(sink, liveness=True)
        self._down.add(sink)

    def snapshot(self) -> dict:
        now = self._clock()
        sinks = {s: {
            "available": self._in_rotation(s, now),
            "down": s in self._down,
            "penalty_remaining_s": max(0.0, self._state[s].restore - now),
            "sequential_failures": self._state[s].failures,
            "liveness_failure": self._state[s].liveness,
        } for s in self._sinks}
        return self._summary(sinks, selector=self._selector, backoff=self._backoff)

    def _in_rotation(self, sink: str, now: float) -> bool:
        if sink in self._down:
            return False
        return not self._backoff or self._state[sink].restore < now

    def _inform_failure(self, sink: str, liveness: bool) -> None:
        """OrderSelector.informFailure, in ms as Flume."""
        state = self._state[sink]
        now = self._clock()
        last_backoff_ms = backoff_ms(state.failures, self._max_timeout_ms)
        # A failure within (last backoff + 1 h) of the previous one is the same outage going on
        # (the sink may fail again just after coming back), so the backoff keeps growing, up to
        # 2**16 s; a failure after a longer quiet spell is a fresh outage and starts at 2 s.
        if (now - state.last_fail) * 1000 < last_backoff_ms + CONSIDER_SEQUENTIAL_RANGE_MS:
            state.failures = min(state.failures + 1, EXP_BACKOFF_COUNTER_LIMIT)
        else:
            state.failures = 1
        state.last_fail = now
        state.restore = now + backoff_ms(state.failures, self._max_timeout_ms) / 1000
        state.liveness = liveness

    def _round_robin(self, active: list[str]) -> list[str]:
        """RoundRobinOrderSelector: one head over the active list, advanced on every call even
        when that list shrank or grew (which is what makes Flume's counts come out as they do)."""
        size = len(active)
        if self._next_head >= size:
            self._next_head = 0
        begin = self._next_head
        self._next_head = 0 if begin + 1 == size else begin + 1
        return [active[(begin + i) % size] for i in range(size)]


def make_policy(processor: str, sinks: list[str], params: dict[str, Any],
                priorities: dict[str, int], clock: Clock,
                rng: random.Random | None = None) -> Policy:
    """Build a group's policy from its typed `processor.*` params (prefix stripped); keys left
    out take the schema's defaults."""
    if processor not in PROCESSORS:
        raise ValueError(f"unknown sink processor {processor!r}")
    params = {**processor_defaults(processor), **params}
    if processor == "default":
        return DefaultPolicy(sinks[0])
    if processor == "failover":
        return FailoverPolicy(sinks, priorities, params["maxpenalty"], clock)
    # Flume treats a maxTimeOut of 0 as absent.
    max_timeout = params["selector.maxTimeOut"] or processor_defaults(processor)[
        "selector.maxTimeOut"]
    return LoadBalancePolicy(sinks, str(params["selector"]).lower(), bool(params["backoff"]),
                             max_timeout, clock, rng or random.Random())
