"""The avro sink: Flume's AvroSink, a client of a collector's AvroSourceProtocol.

Deliveries go over one connection, used by the sink's worker thread, with every appendBatch of
the flights at hand in flight at once (Avro's framing numbers each call; replies are matched by
serial, and a Flume AvroSource answers a connection's calls in order), so the hop costs one
round trip per several Flume batches, not one per batch; a prober thread keeps a
second connection and sends an empty appendBatch every PROBE_INTERVAL_S (on its first call the
handshake is the probe), so a killed collector is seen within a second and a frozen one within
PROBE_TIMEOUT_S plus a heartbeat, long before the 20 s request timeout a delivery would wait.
A delivery waiting for its replies gives up as soon as the prober fails (by then the router has
re-routed its flights anyway), so after a silent link cut the worker is not still stuck on the
dead connection when the link comes back and the router sends it traffic again; and while the
prober says unhealthy, queued flights fail at once instead of going out to a collector that
may be frozen and would store them all when it thaws.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from typing import Any, Callable

from proto import batch
from proto.avro.client import ClientConnection
from proto.avro.errors import AvroProtocolError
from proto.avro.protocol import Protocol, Status
from proto.batch import Blob
from services.sinks.base import DeliveryFailed, SinkProcess
from services.tls import Contexts, TlsError, TlsSession, Wire, client_context

READ_BYTES = 65536
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 1.0
EMPTY_ARRAY = b"\x00"  # an appendBatch of no events: the probe
WAIT_SLICE_S = 0.25  # a delivery waiting for replies looks at the prober's verdict this often


class AvroCaller:
    """One blocking connection to a collector, for one thread; reconnects on the next call."""

    # The server's protocol per address, learnt by a handshake, shared by both connections.
    remotes: dict[tuple[str, int], Protocol] = {}

    def __init__(self, params: dict[str, Any], counters: Counter, log: logging.Logger) -> None:
        self.address = (params["hostname"], params["port"])
        self.connect_timeout_s = params["connect-timeout"] / 1000.0
        self.request_timeout_s = params["request-timeout"] / 1000.0
        self.deflate = (params["compression-level"] if params["compression-type"] == "deflate"
                        else None)
        self.tls = Contexts(client_context, params, log) if params["ssl"] else None
        # With TLS, Flume 1.11 deflates outside it (on the TLS records), Flume 1.9 inside.
        self.outer_deflate = self.tls is not None and params["compression-tls-order"] == "1.11"
        self.counters = counters
        self.sock: socket.socket | None = None
        self.conn: ClientConnection | None = None
        self.wire: Wire | None = None
        self.opened_at = 0.0

    def call(self, events: bytes, limit_s: float = 0.0) -> None:
        """appendBatch of an encoded event array; returns on OK, raises DeliveryFailed
        otherwise (and drops the link)."""
        outcome = self.call_many([events], limit_s)[0]
        if outcome is not None:
            raise outcome

    def call_many(self, batches: list[bytes], limit_s: float = 0.0,
                  abandon: Callable[[], bool] = lambda: False) -> list[DeliveryFailed | None]:
        """One appendBatch per encoded event array, all in flight at once once the handshake
        is done: None for an OK, else why. A broken link fails exactly the calls it had not
        answered; so does `abandon()` turning true while replies are awaited."""
        outcomes: dict[int, DeliveryFailed | None] = {}
        try:
            sock, conn = self._connect(limit_s)
            if not conn.established:
                self._round_trip(sock, conn, batches[:1], outcomes, limit_s, abandon)
            if len(outcomes) < len(batches):
                self._round_trip(sock, conn, batches[len(outcomes):], outcomes, limit_s, abandon,
                                 len(outcomes))
        except (OSError, AvroProtocolError) as exc:
            self.close()
            lost = DeliveryFailed(f"{self.name()}: {exc or type(exc).__name__}", True)
            return [outcomes.get(i, lost) for i in range(len(batches))]
        return [outcomes[i] for i in range(len(batches))]

    def _connect(self, limit_s: float = 0.0) -> tuple[socket.socket, ClientConnection]:
        """The open connection, or a new one (its TLS handshake within connect-timeout, or
        `limit_s` when shorter: the prober's)."""
        if self.sock is not None and self.conn is not None:
            return self.sock, self.conn
        try:
            sock = socket.create_connection(self.address, timeout=self.connect_timeout_s)
        except OSError:
            self.counters["ConnectionFailedCount"] += 1
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = ClientConnection(remote=self.remotes.get(self.address),
                                deflate_level=None if self.outer_deflate else self.deflate)
        if self.tls is not None:
            try:
                self.wire = self._handshake(sock, limit_s)
            except OSError:
                self.counters["ConnectionFailedCount"] += 1
                sock.close()
                raise
        self.sock, self.conn = sock, conn
        self.opened_at = time.monotonic()
        self.counters["ConnectionCreatedCount"] += 1
        return self.sock, self.conn

    def _handshake(self, sock: socket.socket, limit_s: float) -> Wire:
        """TLS with the collector; TlsError says why it failed."""
        assert self.tls is not None
        wire = Wire(TlsSession(self.tls.current(), server_side=False, hostname=self.address[0]),
                    self.deflate if self.outer_deflate else None)
        timeout = min(self.connect_timeout_s, limit_s) if limit_s else self.connect_timeout_s
        deadline = time.monotonic() + timeout
        while True:
            self._send_all(sock, wire.outgoing(), deadline)
            if wire.session.established:
                return wire
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data = sock.recv(READ_BYTES)
            except socket.timeout:
                raise TlsError("no TLS handshake within connect-timeout") from None
            if not data:
                raise TlsError("the collector closed the connection during the TLS handshake "
                               "(is its avro source ssl = true?)")
            try:
                wire.incoming(data)
            except TlsError as exc:
                if self.deflate is None:
                    raise
                raise TlsError(f"{exc} (with deflate on, both ends must layer it the same way: "
                               "compression-tls-order, Flume 1.11 or 1.9)") from exc

    def _round_trip(self, sock: socket.socket, conn: ClientConnection, batches: list[bytes],
                    outcomes: dict[int, DeliveryFailed | None], limit_s: float,
                    abandon: Callable[[], bool], first_index: int = 0) -> None:
        """Send the calls and read until each is answered, filling `outcomes` by index. The
        first call (handshake) is bounded by connect-timeout, later ones by request-timeout,
        as Flume's client does."""
        timeout = self.request_timeout_s if conn.established else self.connect_timeout_s
        deadline = time.monotonic() + (min(timeout, limit_s) if limit_s else timeout)
        waiting: dict[int, int] = {}
        frames = []
        for index, events in enumerate(batches, first_index):
            serial, data = conn.append_events(events)
            waiting[serial] = index
            frames.append(data)
        self._send_all(sock, self._wire_bytes(b"".join(frames)), deadline)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no answer in time")
            if abandon():
                raise socket.timeout("abandoned: the prober lost the collector meanwhile")
            sock.settimeout(min(left, WAIT_SLICE_S))
            try:
                data = sock.recv(READ_BYTES)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionResetError("collector closed the connection")
            if self.wire is not None:
                data = self.wire.incoming(data)
                self._send_all(sock, self.wire.outgoing(), deadline)  # TLS's own, if any
            out, replies = conn.feed(data)
            for chunk in out:
                self._send_all(sock, self._wire_bytes(chunk), deadline)
            if conn.established:
                self.remotes[self.address] = conn.remote
            for reply in replies:
                if reply.serial not in waiting:
                    continue
                index = waiting.pop(reply.serial)
                if reply.error is not None or reply.status is not Status.OK:
                    why = reply.error or (reply.status.name if reply.status else "nothing")
                    outcomes[index] = DeliveryFailed(f"{self.name()} answered {why}", False)
                else:
                    outcomes[index] = None

    def _wire_bytes(self, data: bytes) -> bytes:
        """Protocol bytes as they go on the socket: through TLS when it is on."""
        return self.wire.outgoing(data) if self.wire is not None else data

    @staticmethod
    def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
        if not data:
            return
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(data)

    def age_s(self) -> float:
        return time.monotonic() - self.opened_at if self.sock is not None else 0.0

    def close(self) -> None:
        if self.sock is None or self.conn is None:
            return
        try:
            self.sock.sendall(self._wire_bytes(self.conn.close()))
        except OSError:
            pass  # the connection is being dropped anyway
        self.sock.close()
        self.sock = None
        self.conn = None
        self.wire = None
        self.counters["ConnectionClosedCount"] += 1

    def name(self) -> str:
        return f"collector {self.address[0]}:{self.address[1]}"


class AvroWriter:
    """Delivers batches over the delivery connection; health comes from the prober."""

    def __init__(self, params: dict[str, Any], counters: Counter, log: logging.Logger) -> None:
        self.caller = AvroCaller(params, counters, log)
        self.log = log
        self.reset_s = float(params["reset-connection-interval"])
        self.prober = AvroCaller(params, Counter(), log)
        self.healthy, self.why = False, "not probed yet"
        self.probe_failures = 0
        threading.Thread(target=self._probe_loop, name="prober", daemon=True).start()

    def write_many(self, batches: list[bytes]) -> list[DeliveryFailed | None]:
        if self.reset_s and self.caller.age_s() >= self.reset_s:
            self.caller.close()  # reset-connection-interval: only ever between flights
        if not self.healthy and self.probe_failures:  # lost (not merely unprobed yet): the
            # router is moving this traffic away, so do not send it
            return [DeliveryFailed(f"not sent: {self.why}", True)] * len(batches)
        failures = self.probe_failures
        return self.caller.call_many(batches,
                                     abandon=lambda: self.probe_failures != failures)

    def probe(self) -> tuple[bool, str]:
        return self.healthy, self.why

    def _probe_loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.prober.call(EMPTY_ARRAY, PROBE_TIMEOUT_S)
                if not self.healthy and self.probe_failures:
                    self.log.info("%s is reachable again", self.prober.name())
                self.healthy, self.why = True, ""
            except DeliveryFailed as exc:
                if self.healthy or not self.probe_failures:  # went down, or never came up
                    self.log.warning("%s", exc)
                self.probe_failures += 1
                self.healthy, self.why = False, str(exc)
            time.sleep(max(0.0, PROBE_INTERVAL_S - (time.monotonic() - started)))

    def close(self) -> None:
        self.caller.close()


class AvroSink(SinkProcess[bytes]):
    def make_writer(self, params: dict[str, Any]) -> AvroWriter:
        return AvroWriter(params, self.counters, self.log)

    def prepare(self, blobs: list[Blob]) -> bytes:
        """The transaction's appendBatch parameter: Avro-form blobs are relayed undecoded."""
        return batch.avro_array(blobs)
