"""What every sink process shares: receive DELIVER, write on a worker thread, answer RESULT.

The writing happens on one worker thread so that the main loop keeps answering heartbeats while
a slow target holds a batch (PONG says BUSY and for how long). The worker owns its own PUSH
socket to the router's results endpoint; nothing else crosses threads but a queue and a few
plain attributes.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Protocol

import zmq

from proto import batch, messages
from proto.errors import ProtocolError
from services.config.model import AgentConfig
from services.config.schema import batch_size
from services.process import Process

QUIET_AFTER_STOP_S = 1.0  # on stop: no delivery for this long means the router is done


class DeliveryFailed(Exception):
    """A batch did not reach the target; `liveness` when the target was unreachable."""

    def __init__(self, reason: str, liveness: bool) -> None:
        super().__init__(reason)
        self.liveness = liveness


class Writer(Protocol):
    """One sink type's delivery to its target."""

    def write(self, headers: batch.Headers, bodies: list[bytes]) -> None:
        """Deliver a batch; return only once it reached the target, else DeliveryFailed."""

    def probe(self) -> tuple[bool, str]:
        """(healthy, why) of the target as last seen; called on every PING, must not block."""

    def close(self) -> None: ...


class SinkProcess(Process):
    TYPE = "SINK"

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.writer = self.make_writer(agent.sinks[name].params)
        self.batch_size = batch_size(agent.sinks[name])
        self.router = agent.group_of(name).router_name
        self.jobs: queue.Queue[messages.Message] = queue.Queue()
        self.busy_since = 0.0
        self.last_delivery = time.monotonic()
        pull = self.socket(zmq.PULL, bind=self.endpoint(name, "deliver"))
        self.on(pull, self._on_deliver)
        self._worker = threading.Thread(target=self._work, name="writer", daemon=True)
        self._worker.start()

    def make_writer(self, params: dict[str, Any]) -> Writer:
        """The sink type's writer; called once the process's log and counters exist."""
        raise NotImplementedError

    def _on_deliver(self, sock: zmq.Socket) -> None:
        for _ in range(64):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = messages.unpack(frames)
            except ProtocolError as exc:
                self.refused(exc, "deliver")
                continue
            if msg.op != "DELIVER":
                self.refused(ProtocolError(f"{msg.op} on the delivery socket"), "deliver")
                continue
            self.last_delivery = time.monotonic()
            self.jobs.put(msg)

    def health(self) -> dict[str, Any]:
        """STOPPING once SIGTERM arrived: a router that is not stopping itself then moves its
        traffic elsewhere, so a restarted sink goes quiet and exits at once; a router stopping
        with the whole agent keeps draining through it."""
        busy_since = self.busy_since
        state = "STOPPING" if self.stopping else "BUSY" if busy_since else "IDLE"
        elapsed = int((time.monotonic() - busy_since) * 1000) if busy_since else 0
        healthy, why = self.writer.probe()
        return {"state": state, "elapsed_ms": elapsed, "healthy": healthy, "why": why}

    # -- worker thread ------------------------------------------------------------------------
    def _work(self) -> None:
        results = self.ctx.socket(zmq.PUSH)
        results.setsockopt(zmq.LINGER, 1000)
        results.connect(self.endpoint(self.router, "results"))
        while True:
            msg = self.jobs.get()
            self.busy_since = time.monotonic()
            waited_ms = (self.busy_since - msg["stamp"]) * 1000
            if msg["max_wait_ms"] and waited_ms > msg["max_wait_ms"]:
                # Frozen or swamped for longer than the router waits: it has re-routed this.
                status, reason, liveness = "FAILED", f"stale: waited {waited_ms:.0f} ms", True
                self.counters["StaleDeliveryCount"] += 1
            else:
                status, reason, liveness = self._deliver(msg)
            self.busy_since = 0.0
            results.send_multipart(messages.pack(
                "RESULT", self.inc, txn=msg.txn, attempt=msg["attempt"], router=msg["router"],
                status=status, reason=reason, liveness=liveness))

    def _deliver(self, msg: messages.Message) -> tuple[str, str, bool]:
        n = msg["n"]
        self.counters["EventDrainAttemptCount"] += n
        self.counters["BatchCompleteCount" if n >= self.batch_size else "BatchUnderflowCount"] += 1
        try:
            headers, bodies = batch.merge(msg.blobs)
            self.writer.write(headers, bodies)
        except batch.BatchError as exc:
            self.counters["EventWriteFail"] += n
            self.log.error("undecodable batch from the router: %s", exc)
            return "FAILED", str(exc), False
        except DeliveryFailed as exc:
            self.counters["EventWriteFail"] += n
            return "FAILED", str(exc), exc.liveness
        self.counters["EventDrainSuccessCount"] += n
        return "DELIVERED", "", False

    # -- stop ---------------------------------------------------------------------------------
    def drained(self) -> bool:
        quiet = time.monotonic() - self.last_delivery > QUIET_AFTER_STOP_S
        return quiet and self.jobs.empty() and not self.busy_since

    def close(self) -> None:
        self.writer.close()
