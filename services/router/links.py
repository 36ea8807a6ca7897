"""The router's view of one sink: its delivery socket, its heartbeat and its batches in flight."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import zmq

from proto.messages import Txn


@dataclass
class Flight:
    """Transactions taken together and delivered together, from TAKE until COMMIT or ROLLBACK.

    `fid` names the flight to its sink; `attempt` grows with every re-route so that a late
    RESULT from a sink the flight was taken away from is recognised as stale; `tried` keeps a
    flight from bouncing between failing sinks. `groups[i]` holds the blobs of `txns[i]`.
    """

    fid: int
    txns: list[Txn]
    ns: list[int]
    groups: list[list[Any]]
    sink: str = ""
    attempt: int = 0
    sent_at: float = 0.0
    tried: set[str] = field(default_factory=set)

    @property
    def n(self) -> int:
        return sum(self.ns)

    def subset(self, fid: int, keep: list[int]) -> Flight:
        """The transactions at indexes `keep`, as a flight of their own."""
        return Flight(fid, [self.txns[i] for i in keep], [self.ns[i] for i in keep],
                      [self.groups[i] for i in keep], self.sink, self.attempt, self.sent_at,
                      set(self.tried))


@dataclass
class SinkLink:
    """Delivery PUSH socket and liveness state of one sink."""

    name: str
    push: zmq.Socket
    window: int
    batch_size: int
    timeout_s: float
    alive: bool = True
    misses: int = 0
    incarnation: bytes = b""
    flights: dict[int, Flight] = field(default_factory=dict)

    def has_room(self) -> bool:
        return len(self.flights) < self.window

    def overdue(self, now: float) -> list[Flight]:
        """Batches the sink has held longer than it could legitimately need."""
        return [f for f in self.flights.values() if now - f.sent_at > self.timeout_s]


def delivery_timeout_s(sink_type: str, params: dict[str, Any]) -> float:
    """How long a sink may hold a batch before the router gives up on it.

    An avro sink may spend connect-timeout then request-timeout on one batch; it answers FAILED
    itself after that, so the router's limit only catches a sink that hangs outright.
    """
    if sink_type == "avro":
        return (params["connect-timeout"] + params["request-timeout"]) / 1000.0 + 5.0
    return 30.0
