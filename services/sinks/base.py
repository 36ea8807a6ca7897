"""What every sink process shares: receive DELIVER, write on a worker thread, answer RESULT.

A DELIVER carries several transactions (each one Flume sink batch); a writer delivers them in
order, or all at once where its target allows (an avro sink pipelines one appendBatch per
transaction), and RESULT says which of them reached the target.

The deliveries are received, written and answered on one worker thread, so that the main loop
keeps answering heartbeats while a slow target holds a batch (PONG says BUSY and for how long).
The worker owns the delivery PULL socket (bound by the main thread before the worker starts, so
the router can connect at once) and its own PUSH socket to the router's results endpoint; a
DELIVER goes from the socket to the writer without crossing threads, which a queue between the
two loops made cost a thread switch per flight. Nothing else crosses threads but a few plain
attributes.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import zmq

from proto import batch, messages
from proto.batch import Blob
from proto.errors import ProtocolError, UnexpectedOp, ZflumeError
from services import counters
from services.config.model import AgentConfig
from services.config.schema import batch_size
from services.process import Process, send_frames, waiting_messages

QUIET_AFTER_STOP_S = 1.0  # on stop: no delivery for this long means the router is done
MAX_JOBS_AT_ONCE = 8  # flights delivered together: the router's window bounds it anyway
WORKER_POLL_MS = 100  # how soon the worker notices the process is closing


class DeliveryFailed(ZflumeError):
    """A batch did not reach the target; `liveness` when the target was unreachable,
    `malformed` when its blobs do not decode (no sink ever will deliver it)."""

    def __init__(self, reason: str, liveness: bool, malformed: bool = False) -> None:
        super().__init__(reason)
        self.liveness = liveness
        self.malformed = malformed


Batch = tuple[batch.Headers, list[bytes]]
Prepared = TypeVar("Prepared")  # one transaction as a sink type's writer takes it


class FlightOutcome(NamedTuple):
    """What a RESULT says of one flight: per transaction delivered / malformed, and why not."""
    done: list[bool]
    reason: str
    liveness: bool
    malformed: list[bool]


class Writer(Protocol[Prepared]):
    """One sink type's delivery to its target."""

    def write_many(self, batches: list[Prepared]) -> list[DeliveryFailed | None]:
        """Deliver each batch; return only once each reached the target or failed, with
        None for a delivered one and its DeliveryFailed otherwise."""

    def probe(self) -> tuple[bool, str]:
        """(healthy, why) of the target as last seen; called on every PING, must not block."""

    def close(self) -> None: ...


class OneByOne:
    """`write_many` for writers that deliver one batch at a time: after a failure the rest are
    not tried (they fail with it), so a target that broke is not hammered."""

    def write(self, headers: batch.Headers, bodies: list[bytes]) -> None:
        raise NotImplementedError

    def write_many(self, batches: list[Batch]) -> list[DeliveryFailed | None]:
        outcomes: list[DeliveryFailed | None] = []
        for headers, bodies in batches:
            if outcomes and outcomes[-1] is not None:
                outcomes.append(outcomes[-1])
                continue
            try:
                self.write(headers, bodies)
                outcomes.append(None)
            except DeliveryFailed as exc:
                outcomes.append(exc)
        return outcomes


class SinkProcess(Process, Generic[Prepared]):
    TYPE = "SINK"
    EXTRA_COUNTERS: tuple[str, ...] = counters.ANY_SINK

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.writer = self.make_writer(agent.sinks[name].params)
        self.batch_size = batch_size(agent.sinks[name])
        self.router = agent.group_of(name).router_name
        self.busy_since = 0.0
        self.last_delivery = time.monotonic()
        self._closing = False
        pull = self.socket(zmq.PULL, bind=self.endpoint(name, "deliver"))  # the worker's alone
        self._worker = threading.Thread(target=self._run_worker, args=(pull,), name="writer",
                                        daemon=True)
        self._worker.start()

    def make_writer(self, params: dict[str, Any]) -> Writer[Prepared]:
        """The sink type's writer; called once the process's log and counters exist."""
        raise NotImplementedError

    def prepare(self, blobs: list[Blob]) -> Prepared:
        """One transaction's blobs as the writer takes them; raises batch.BatchError when
        they do not decode."""
        raise NotImplementedError

    def _receive(self, pull: zmq.Socket) -> list[messages.Deliver]:
        """The DELIVERs among the next MAX_JOBS_AT_ONCE messages; anything else is refused."""
        jobs: list[messages.Deliver] = []
        for frames in waiting_messages(pull, MAX_JOBS_AT_ONCE):
            try:
                msg = messages.parse(frames)
                if not isinstance(msg, messages.Deliver):
                    raise UnexpectedOp(f"{msg.OP.name} on the delivery socket")
            except ProtocolError as exc:
                self.refused(exc, "deliver")
                continue
            self.last_delivery = time.monotonic()
            jobs.append(msg)
        return jobs

    def health(self) -> messages.Pong:
        """STOPPING once SIGTERM arrived: a router that is not stopping itself then moves its
        traffic elsewhere, so a restarted sink goes quiet and exits at once; a router stopping
        with the whole agent keeps draining through it."""
        busy_since = self.busy_since
        state = (messages.PeerState.STOPPING if self.stopping else
                 messages.PeerState.BUSY if busy_since else messages.PeerState.IDLE)
        elapsed = int((time.monotonic() - busy_since) * 1000) if busy_since else 0
        healthy, why = self.writer.probe()
        return messages.Pong(state=state, elapsed_ms=elapsed, healthy=healthy, why=why)

    # -- worker thread ------------------------------------------------------------------------
    def _run_worker(self, pull: zmq.Socket) -> None:
        """A bug in the worker must not leave a sink that answers heartbeats but never writes:
        the process exits and supervisord starts a fresh one."""
        try:
            self._work(pull)
        except Exception:
            self.log.exception("the writer thread failed; exiting for a restart")
            logging.shutdown()
            os._exit(70)

    def _work(self, pull: zmq.Socket) -> None:
        results = self.ctx.socket(zmq.PUSH)
        results.setsockopt(zmq.LINGER, 1000)
        results.connect(self.endpoint(self.router, "results"))
        while not self._closing:
            if not pull.poll(WORKER_POLL_MS):
                continue
            jobs = self._receive(pull)
            if not jobs:
                continue
            self.busy_since = time.monotonic()
            for msg, outcome in zip(jobs, self._deliver_jobs(jobs), strict=True):
                send_frames(results, messages.Result(
                    fid=msg.fid, attempt=msg.attempt, router=msg.router, done=outcome.done,
                    reason=outcome.reason, liveness=outcome.liveness,
                    malformed=outcome.malformed).frames(self.inc))
            self.busy_since = 0.0
        pull.close(linger=0)
        results.close()

    def _deliver_jobs(self, jobs: list[messages.Deliver]) -> list[FlightOutcome]:
        """Deliver the queued flights together (an avro sink pipelines all their calls);
        a flight older than its router waits was re-routed already and is not written."""
        fresh: list[messages.Deliver] = []
        outcomes: list[FlightOutcome | None] = []
        for msg in jobs:
            waited_ms = (self.busy_since - msg.stamp) * 1000
            if msg.max_wait_ms and waited_ms > msg.max_wait_ms:
                self.counters["StaleDeliveryCount"] += 1
                none = [False] * len(msg.ns)
                outcomes.append(FlightOutcome(none, f"stale: waited {waited_ms:.0f} ms", True,
                                              none))
            else:
                fresh.append(msg)
                outcomes.append(None)
        delivered = iter(self._deliver(fresh))
        return [next(delivered) if outcome is None else outcome for outcome in outcomes]

    def _deliver(self, jobs: list[messages.Deliver]) -> list[FlightOutcome]:
        """Write flights' transactions: per flight, what became of each transaction."""
        batches: list[Prepared] = []
        outcomes: list[DeliveryFailed | None] = []
        for msg in jobs:
            for n, blobs in zip(msg.ns, msg.groups(), strict=True):
                self.counters["EventDrainAttemptCount"] += n
                self.counters["BatchCompleteCount" if n >= self.batch_size
                              else "BatchUnderflowCount"] += 1
                try:
                    batches.append(self.prepare(blobs))
                    outcomes.append(None)
                except batch.BatchError as exc:
                    self.log.error("undecodable batch from the router: %s", exc)
                    outcomes.append(DeliveryFailed(f"undecodable: {exc}", liveness=False,
                                                   malformed=True))
        written = iter(self.writer.write_many(batches) if batches else [])
        outcomes = [next(written) if outcome is None else outcome for outcome in outcomes]
        results, at = [], 0
        for msg in jobs:
            ns = msg.ns
            mine, at = outcomes[at:at + len(ns)], at + len(ns)
            reason, liveness = "", False
            for n, outcome in zip(ns, mine, strict=True):
                if outcome is None:
                    self.counters["EventDrainSuccessCount"] += n
                else:
                    self.counters["EventWriteFail"] += n
                    reason, liveness = str(outcome), liveness or outcome.liveness
            results.append(FlightOutcome([outcome is None for outcome in mine], reason, liveness,
                                         [outcome is not None and outcome.malformed
                                          for outcome in mine]))
        return results

    # -- stop ---------------------------------------------------------------------------------
    def drained(self) -> bool:
        quiet = time.monotonic() - self.last_delivery > QUIET_AFTER_STOP_S
        return quiet and not self.busy_since

    def close(self) -> None:
        """Let the worker close its sockets before the context goes (it is in a write only
        when the stop deadline ran out: then it dies with the process)."""
        self._closing = True
        self._worker.join(timeout=2 * WORKER_POLL_MS / 1000)
        self.writer.close()
