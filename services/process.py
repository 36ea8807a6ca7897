"""The one main loop every component process runs.

A component registers socket handlers and timers; the loop polls with a deadline no longer than
the next timer, dispatches, and watches itself: a loop that has not turned for
`WATCHDOG_S` logs an error and exits non-zero so supervisord restarts it. SIGTERM does not kill
the loop: it asks the component to finish (`begin_stop`) and the loop ends once the component
says it is `drained()` or `STOP_BUDGET_S` (under supervisord's stopwaitsecs 30) runs out. A
process whose supervisord died gets SIGTERM from the kernel (PR_SET_PDEATHSIG), or notices it
was re-parented, and stops the same way within `ORPHAN_STOP_S`: nobody would restart or stop it,
and it would hold its ports against the agent started next.

Every process binds a REP `ctl` socket answering PING (liveness and busy state, used by routers
to heartbeat sinks) and STATS (Flume-named counters, used by `zflume status`).
"""
from __future__ import annotations

import gc
import heapq
import itertools
import logging
import math
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator

import zmq
from zmq.backend import Socket as BackendSocket

from proto import messages
from proto.errors import ProtocolError, UnexpectedOp
from services.config.model import AgentConfig
from services.counters import Counters
from services.endpoints import endpoint
from services.parent import orphaned, signal_on_parent_death

WATCHDOG_S = 10.0
STOP_BUDGET_S = 25.0
ORPHAN_STOP_S = 1.5
PARENT_CHECK_S = 0.5  # how often a component checks that supervisord is still its parent
GC_THRESHOLDS = (50_000, 20, 100)  # gc.set_threshold: see Process.run
MAX_POLL_S = 0.1
# Plain ints: pyzmq's flags are an IntFlag, whose `&` runs Python code on every poll event.
WRITABLE = int(zmq.POLLOUT)
READABLE = int(zmq.POLLIN | zmq.POLLERR)
POLLIN = int(zmq.POLLIN)
SNDMORE, NOBLOCK = int(zmq.SNDMORE), int(zmq.NOBLOCK)
EVENTS = int(zmq.EVENTS)

READ_BURST = 64  # messages one handler reads per turn, so that one busy peer starves nobody

Handler = Callable[[Any], None]
KINDS = {"SOURCE": "source", "CHANNEL": "channel", "SINK": "sink", "SINK_GROUP": "router"}


def send_frames(sock: zmq.Socket, frames: list[Any], flags: int = 0) -> None:
    """`sock.send_multipart(frames, flags)` without pyzmq's IntFlag arithmetic, which costs
    microseconds per frame on every message of every hop (zmq.Again only on the first frame:
    the others of a message always follow). Each frame goes straight to the Cython send: the
    Python `Socket.send` in front of it only handles DRAFT routing ids and groups, which we
    never use, and cost 0.9 us of its own per frame."""
    send = BackendSocket.send
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        send(sock, frame, flags | SNDMORE if i < last else flags)


def recv_frames(sock: zmq.Socket, flags: int = 0, first_blob: int = 1 << 30) -> list[Any]:
    """`sock.recv_multipart(flags)`, likewise with plain ints, and reading "more" from each
    received frame: pyzmq's `sock.get(zmq.RCVMORE)` converts the option to an enum first, a
    microsecond per frame. Frames from index `first_blob` on (a message's blob frame, after
    the envelope and header) stay memoryviews of ZeroMQ's own buffer instead of copies:
    copying a 1 MB frame into bytes cost 170 us, a view 12 us; the small envelope and header
    frames are copied, which is cheaper for them."""
    frame = sock.recv(flags, copy=False)
    frames: list[Any] = [frame.bytes]
    while frame.more:
        frame = sock.recv(flags, copy=False)
        frames.append(frame.buffer if len(frames) >= first_blob else frame.bytes)
    return frames


# Where a message's blob frame is, by socket type: after the header and the envelope a ROUTER
# (identity, delimiter) or DEALER (delimiter) adds.
_FIRST_BLOB = {int(zmq.ROUTER): 3, int(zmq.DEALER): 2}


def waiting_messages(sock: zmq.Socket, limit: int = READ_BURST) -> Iterator[list[Any]]:
    """The messages waiting on `sock` now, at most `limit`, without blocking: a handler takes
    a burst per wake-up and answers it together (one flush, one COMMIT for all of it). Asks
    ZMQ_EVENTS before each further read: a read that finds nothing raises zmq.Again, which
    cost twice as much, once per socket per wake-up."""
    first_blob = _FIRST_BLOB.get(int(sock.type), 1)
    for _ in range(limit):
        try:
            yield recv_frames(sock, NOBLOCK, first_blob)
        except zmq.Again:
            return
        if not int(sock.get(EVENTS)) & POLLIN:
            return


class Process:
    """Base of sources, channels, sinks and routers: sockets, timers, ctl, stop and watchdog."""

    TYPE = "SOURCE"  # Flume's counter group type
    EXTRA_COUNTERS: tuple[str, ...] = ()  # zflume's own, declared in services/counters.py
    # The one clock of timers, deadlines and penalties: a test sets its own on the instance
    # and drives the handlers without sleeping (the watchdog keeps real time).
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        self.agent = agent
        self.name = name
        self.run_dir = run_dir
        self.process_name = agent.process_name(KINDS[self.TYPE], name)
        self.program = f"{agent.name}-{self.process_name}"
        self.log = component_logger(agent.name, self.TYPE, name)
        self.inc = messages.new_incarnation()
        self.ctx = zmq.Context()
        self.counters = Counters(self.TYPE, self.EXTRA_COUNTERS)
        self.stopping = False
        self._stop_requested = False
        self._parent = os.getppid()
        self._stop_deadline = 0.0
        self._handlers: dict[Any, Handler] = {}
        self._writers: dict[Any, Handler] = {}
        self._poller = zmq.Poller()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._last_turn = time.monotonic()
        ctl = self.socket(zmq.REP, bind=self.endpoint(self.process_name, "ctl"))
        self.on(ctl, self._on_ctl)

    # -- wiring ---------------------------------------------------------------------------
    def endpoint(self, component: str, role: str) -> str:
        return endpoint(self.run_dir, component, role)

    def socket(self, kind: int, bind: str | None = None, connect: str | None = None) -> zmq.Socket:
        """A socket that never blocks the process at exit (LINGER 0)."""
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        if bind:
            sock.bind(bind)
        if connect:
            sock.connect(connect)
        return sock

    def on(self, sock: Any, handler: Handler) -> None:
        """Call `handler(sock)` whenever `sock` (a zmq socket or a file descriptor) is readable."""
        self._handlers[sock] = handler
        self._register(sock)

    def off(self, sock: Any) -> None:
        """Stop watching `sock` altogether."""
        self._handlers.pop(sock, None)
        self._writers.pop(sock, None)
        self._register(sock)

    def pause_reading(self, sock: Any) -> None:
        """Stop reading `sock` (its writer, if any, keeps being called)."""
        self._handlers.pop(sock, None)
        self._register(sock)

    def on_writable(self, fd: int, handler: Handler | None) -> None:
        """Call `handler(fd)` when `fd` can be written to; None stops that. For sockets with
        output waiting, so that no send ever blocks the loop."""
        if handler is None:
            self._writers.pop(fd, None)
        else:
            self._writers[fd] = handler
        self._register(fd)

    def _register(self, sock: Any) -> None:
        flags = (POLLIN if sock in self._handlers else 0) | (
            WRITABLE if sock in self._writers else 0)
        if flags:
            self._poller.register(sock, flags)
        elif sock in self._poller:
            self._poller.unregister(sock)

    def now(self) -> float:
        """The process's clock (`clock`), read at each call."""
        return self.clock()

    def after(self, delay_s: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (self.now() + delay_s, next(self._timer_ids), fn))

    def every(self, interval_s: float, fn: Callable[[], None]) -> None:
        """Run `fn` every `interval_s` seconds from now on."""
        def tick() -> None:
            self.after(interval_s, tick)
            fn()
        self.after(interval_s, tick)

    # -- hooks for components ---------------------------------------------------------------
    def begin_stop(self) -> None:
        """SIGTERM arrived: stop taking new work; the loop runs on until drained()."""

    def drained(self) -> bool:
        """True once nothing held would be lost by exiting now."""
        return True

    def health(self) -> messages.Pong:
        """The PONG for a heartbeat (its rid filled in by the ctl socket): state, elapsed_ms of
        the busy work, and target health."""
        return messages.Pong(state=messages.PeerState.IDLE, elapsed_ms=0, healthy=True, why="")

    def stats(self) -> dict[str, Any]:
        return self.counters.report()

    def close(self) -> None:
        """Release what the component holds before the context is destroyed."""

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self._parent = signal_on_parent_death(signal.SIGTERM)
        self.every(PARENT_CHECK_S, self._check_parent)
        threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()
        # What start-up built (modules, config, sockets) lives as long as the process: frozen,
        # the collector never walks it again. And a young-generation collection every 50,000
        # allocations rather than 700: a batch allocates thousands of short-lived objects, and
        # collecting them that often cost 4-10% of the CPU at Flume's default batch sizes.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.log.info("started (incarnation %s)", self.inc.hex())
        try:
            while not self._finished():
                self._turn()
        finally:
            self.close()
            self.ctx.destroy(linger=0)
        self.log.info("stopped")
        return 0

    def _finished(self) -> bool:
        now = time.monotonic()
        if self._stop_requested and not self.stopping:
            self.stopping = True
            if orphaned(self._parent):
                self._stop_deadline = now + ORPHAN_STOP_S
                self.log.error("supervisord (pid %d) is gone; stopping within %.1f s",
                               self._parent, ORPHAN_STOP_S)
            else:
                self._stop_deadline = now + STOP_BUDGET_S
                self.log.info("stop requested; finishing within %.0f s", STOP_BUDGET_S)
            self.begin_stop()
        if not self.stopping:
            return False
        if now >= self._stop_deadline:
            self.log.warning("stop deadline reached before drained")
            return True
        return self.drained()

    def _turn(self) -> None:
        self._last_turn = time.monotonic()  # the watchdog's: real time, whatever `clock` is
        wait = MAX_POLL_S
        if self._timers:
            wait = min(wait, max(0.0, self._timers[0][0] - self.now()))
        # Rounded up: poll counts whole milliseconds, and a timer due in 0.7 ms polled with 0
        # would spin the loop until it is due (a millisecond of CPU per timer).
        for sock, events in self._poller.poll(math.ceil(wait * 1000)):
            if events & WRITABLE and sock in self._writers:
                self._writers[sock](sock)
            handler = self._handlers.get(sock)
            # A hung-up pipe or socket reports POLLERR alone: its reader sees the EOF.
            if events & READABLE and handler is not None:
                handler(sock)
        now = self.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            fn()

    def _request_stop(self, signum: int, frame: object) -> None:
        self._stop_requested = True

    def _check_parent(self) -> None:
        """Stop within ORPHAN_STOP_S once supervisord is gone, even when its death signal was
        missed (it died before our prctl) or came during a normal stop's longer drain."""
        if not orphaned(self._parent):
            return
        self._stop_requested = True  # _finished takes it from here
        deadline = time.monotonic() + ORPHAN_STOP_S
        if self.stopping and self._stop_deadline > deadline:
            self._stop_deadline = deadline
            self.log.error("supervisord (pid %d) is gone; stopping within %.1f s",
                           self._parent, ORPHAN_STOP_S)

    def _watchdog(self) -> None:
        while True:
            time.sleep(1.0)
            stalled = time.monotonic() - self._last_turn
            if stalled > WATCHDOG_S:
                self.log.error("main loop stalled for %.1f s; exiting for a restart", stalled)
                logging.shutdown()
                os._exit(70)

    # -- ctl socket -------------------------------------------------------------------------
    def _on_ctl(self, sock: zmq.Socket) -> None:
        frames = sock.recv_multipart()
        try:
            msg = messages.parse(frames)
            if isinstance(msg, messages.Ping):
                pong = self.health()
                pong.rid = msg.rid
                sock.send_multipart(pong.frames(self.inc))
            elif isinstance(msg, messages.Stats):
                sock.send_multipart(messages.StatsReply(
                    type=self.TYPE, name=self.name, counters=self.stats(), rid=msg.rid
                ).frames(self.inc))
            else:
                raise UnexpectedOp(f"{msg.OP.name} is not a ctl request")
        except ProtocolError as exc:
            self.refused(exc, "ctl")
            sock.send_multipart(messages.error_reply(self.inc, exc, messages.request_id(frames)))

    def refused(self, exc: ProtocolError, where: str) -> None:
        """Count and log one refused message; the socket and the process carry on."""
        self.counters["MalformedMessageCount"] += 1
        self.log.warning("refused a message on %s: %s", where, exc)


def component_logger(agent: str, kind: str, name: str) -> logging.Logger:
    """`zflume.AGENT.KIND.NAME`: every record says which component of which agent wrote it."""
    return logging.getLogger(f"zflume.{agent}.{kind.lower()}.{name}")


def setup_logging() -> None:
    """Every process logs to stderr; supervisord shows or files it."""
    logging.basicConfig(level=os.environ.get("ZFLUME_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
