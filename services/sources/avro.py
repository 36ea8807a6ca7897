"""The avro source: Flume's AvroSource, serving AvroSourceProtocol over Avro's Netty framing.

Every connection is a proto.avro.ServerConnection fed from the main loop. An appendBatch is
answered OK only once every required channel accepted the whole batch (with `ack = delivered`:
once the collector's sinks delivered all of it, so a collector whose memory channel dies loses
nothing its agents were told was taken); FAILED when a channel is full or has not answered
within `put-timeout`, so an upstream agent fails over instead of waiting out its request
timeout. An empty appendBatch (a heartbeat probe) is answered OK only if
every required channel answered a ping within the last two heartbeat intervals. A connection
that sends anything malformed is counted, logged and closed; the others carry on. With
`ipFilter`, a client its rules deny (services/sources/ipfilter.py) is closed before anything
it sent is read, logged with the rule that denied it and counted in DeniedConnectionCount.

Sockets are non-blocking: answers wait in a per-connection outbox flushed when the socket is
writable, a connection whose outbox passes MAX_OUTBOX_BYTES is not read from until it drains,
and one that makes no progress for STALL_S is closed, so a client that never reads its answers
cannot stall anyone else.
"""
from __future__ import annotations

import functools
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from proto import batch
from proto.avro.errors import AvroProtocolError
from proto.avro.handshake import KnownProtocols
from proto.avro.protocol import Status
from proto.avro.server import Call, ServerConnection
from services import counters
from services.config.model import AgentConfig
from services.pirate import Pinger
from services.sources.base import PUT_MARGIN_S, SourceProcess
from services.sources.connection_io import decrypt
from services.sources.ipfilter import IpFilter, parse_rules, reverse_name
from services.sources.listener import Listener
from services.tls import Contexts, TlsSession, Wire, server_context

READ_BYTES = 65536
CHANNEL_PING_S = 0.5
STALL_S = 5.0  # a client that does not read its answers for this long is dropped
MAX_OUTBOX_BYTES = 1 << 20
RESOLVER_THREADS = 2  # reverse lookups for ipFilter name rules, off the main loop
RESOLVED_POLL_S = 0.01


class AvroConnection:
    def __init__(self, sock: socket.socket, peer: str, conn: ServerConnection,
                 wire: Wire | None) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.conn = conn
        self.wire = wire  # TLS (and deflate outside it), or None: the protocol's bytes as they are
        self.open = True
        self.outbox = bytearray()
        self.reading = True
        self.stuck_since = 0.0  # when the outbox last stopped draining; 0 while it is empty
        self.flush_due = False  # replies wait in the outbox for the end of this loop turn

    def queue(self, data: bytes) -> None:
        """Protocol bytes (or b"": TLS's own output) into the outbox, as the wire wants them."""
        self.outbox += self.wire.outgoing(data) if self.wire is not None else data


class AvroSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.AVRO_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.put_timeout_s = p["put-timeout"] / 1000.0
        self.ack_delivered = p["ack"] == "delivered"
        if self.ack_delivered:  # a PUT's answer waits for the delivery: do not retry it sooner
            for ch in self.put_timeout:
                self.put_timeout[ch] = max(self.put_timeout[ch], self.put_timeout_s + PUT_MARGIN_S)
        self.max_connections = p["max-connections"]
        self.max_frame = p["max-frame-bytes"]
        self.deflate = p["compression-level"] if p["compression-type"] == "deflate" else None
        self.tls = Contexts(server_context, p, self.log) if p["ssl"] else None
        # With TLS, Flume 1.11 deflates outside it (on the TLS records), Flume 1.9 inside.
        self.outer_deflate = self.tls is not None and p["compression-tls-order"] == "1.11"
        self.known = KnownProtocols()
        # Nothing looks at the events: they go to the channel as the client encoded them.
        self.relay = self.relay_route()
        self.conns: dict[int, AvroConnection] = {}
        self.channel_seen: dict[str, float] = {}
        for ch in self.required:
            Pinger(self, self.endpoint(self.agent.process_name("channel", ch), "ctl"),
                   CHANNEL_PING_S,
                   functools.partial(self._channel_answered, ch), lambda: None)
        self.ip_filter = IpFilter(parse_rules(p["ipFilterRules"])) if p["ipFilter"] else None
        self.resolving: dict[Future[str], tuple[socket.socket, Any]] = {}
        self.resolver: ThreadPoolExecutor | None = None
        self.listener = Listener(self, p["bind"], p["port"], self._accept, backlog=128)
        self.every(1.0, self._drop_stalled)

    def _channel_answered(self, ch: str, msg: object) -> None:
        self.channel_seen[ch] = time.monotonic()

    def _accept(self, fd: int) -> None:
        accepted = self.listener.accept()
        if accepted is None:
            return
        sock, addr = accepted
        if self.ip_filter is None:
            self._admit(sock, addr)
        elif self.ip_filter.needs_names:
            self._resolve(sock, addr)
        else:
            self._filter(sock, addr, None)

    # -- ipFilter: a denied client is closed before a byte of it is read ----------------------
    def _resolve(self, sock: socket.socket, addr: Any) -> None:
        """A name rule needs the client's name: look it up off the loop, read nothing meanwhile."""
        if self.resolver is None:
            self.resolver = ThreadPoolExecutor(RESOLVER_THREADS, "resolver")
        if not self.resolving:
            self.after(RESOLVED_POLL_S, self._resolved)
        self.resolving[self.resolver.submit(reverse_name, addr[0])] = (sock, addr)

    def _resolved(self) -> None:
        for future in [f for f in self.resolving if f.done()]:
            sock, addr = self.resolving.pop(future)
            self._filter(sock, addr, future.result())
        if self.resolving:
            self.after(RESOLVED_POLL_S, self._resolved)

    def _filter(self, sock: socket.socket, addr: Any, name: str | None) -> None:
        assert self.ip_filter is not None
        if self.ip_filter.accepts(addr[0], name):
            self._admit(sock, addr)
            return
        self.counters["DeniedConnectionCount"] += 1
        self.log.warning("denied %s:%d%s by ipFilter rule %s", addr[0], addr[1],
                         f" ({name})" if name and name != addr[0] else "",
                         self.ip_filter.rule_for(addr[0], name))
        sock.close()

    def _admit(self, sock: socket.socket, addr: Any) -> None:
        if len(self.conns) >= self.max_connections:
            self.counters["RefusedConnectionCount"] += 1
            self.log.warning("refused %s: max-connections %d reached", addr, self.max_connections)
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = ServerConnection(self.known, max_frame_bytes=self.max_frame,
                                deflate_level=None if self.outer_deflate else self.deflate)
        wire = None
        if self.tls is not None:
            wire = Wire(TlsSession(self.tls.current(), server_side=True),
                        self.deflate if self.outer_deflate else None)
        self.conns[sock.fileno()] = AvroConnection(sock, f"{addr[0]}:{addr[1]}", conn, wire)
        self.counters["OpenConnectionCount"] = len(self.conns)
        self.on(sock.fileno(), self._read)

    def _read(self, fd: int) -> None:
        client = self.conns[fd]
        try:
            data = client.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if client.conn.has_partial_frame:
                self._bad(client, "the stream ended inside a frame")
            self._close(client)
            return
        try:
            if client.wire is not None:  # deflate outside TLS may find a malformed stream
                plain = decrypt(self, client.wire, data, client.peer, client.outbox)
                if plain is None:
                    self._close(client)
                    return
                data = plain
            out, calls = client.conn.feed(data)
        except AvroProtocolError as exc:
            self._bad(client, str(exc))
            self._close(client)
            return
        for reason in client.conn.rejected:
            self._bad(client, f"call answered with an error: {reason}")
        client.conn.rejected.clear()
        self._write(client, out)
        for call in calls:
            self._call(client, call)

    def _bad(self, client: AvroConnection, why: str) -> None:
        self.counters["MalformedFrameCount"] += 1
        self.log.warning("bad input from %s: %s", client.peer, why)

    def _call(self, client: AvroConnection, call: Call) -> None:
        if call.message == "append":
            self.counters["AppendReceivedCount"] += 1
        else:
            self.counters["AppendBatchReceivedCount"] += 1
        if call.n == 0:
            alive = self._channels_alive()
            self._answer(client, call.serial, Status.OK if alive else Status.FAILED)
            return
        accepted = functools.partial(self._accepted, client, call)
        failed = functools.partial(self._failed, client, call)
        if self.relay is not None:
            self.submit_blob(self.relay, batch.from_avro(call.events), call.n, call.nbytes,
                             accepted, failed, self.put_timeout_s)
            return
        headers, bodies = call.columns()
        self.submit(bodies, headers, on_accepted=accepted, on_failed=failed,
                    deadline_s=self.put_timeout_s)

    def _accepted(self, client: AvroConnection, call: Call) -> None:
        self.counters["AppendAcceptedCount" if call.message == "append"
                      else "AppendBatchAcceptedCount"] += 1
        self._answer(client, call.serial, Status.OK)

    def _failed(self, client: AvroConnection, call: Call, why: str) -> None:
        self.log.warning("answering FAILED to %s (%d events): %s", client.peer,
                         call.n, why)
        self._answer(client, call.serial, Status.FAILED)

    def _channels_alive(self) -> bool:
        now = time.monotonic()
        return all(now - self.channel_seen.get(ch, 0.0) < 2 * CHANNEL_PING_S
                   for ch in self.required)

    def _answer(self, client: AvroConnection, serial: int, status: Status) -> None:
        """Queue the reply; the replies of one loop turn (a PUT_OK accepts several calls) go
        out in one send, so the sink reads them in one wake-up, not one each."""
        if not client.open:
            return
        client.queue(client.conn.answer(serial, status))
        if not client.flush_due:
            client.flush_due = True
            self.after(0, lambda: self._flush_due(client))

    def _flush_due(self, client: AvroConnection) -> None:
        client.flush_due = False
        if client.open:
            self._flush(client.fd)

    def _write(self, client: AvroConnection, chunks: list[bytes]) -> None:
        for chunk in chunks:
            client.queue(chunk)
        self._flush(client.fd)

    def _flush(self, fd: int) -> None:
        """Send what the socket takes now; watch for writability while anything is left."""
        client = self.conns.get(fd)
        if client is None or not client.outbox:
            return
        try:
            sent = client.sock.send(client.outbox)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self.log.warning("closing %s: %s", client.peer, exc)
            self._close(client)
            return
        del client.outbox[:sent]
        if not client.outbox:
            client.stuck_since = 0.0
        elif sent or not client.stuck_since:
            client.stuck_since = time.monotonic()  # progress (or the first wait) restarts it
        self.on_writable(fd, self._flush if client.outbox else None)
        too_full = len(client.outbox) > MAX_OUTBOX_BYTES
        if too_full and client.reading:
            client.reading = False
            self.pause_reading(fd)
        elif not too_full and not client.reading:
            client.reading = True
            self.on(fd, self._read)

    def _drop_stalled(self) -> None:
        now = time.monotonic()
        for client in list(self.conns.values()):
            if client.outbox and client.stuck_since and now - client.stuck_since > STALL_S:
                self.counters["StalledConnectionCount"] += 1
                self.log.warning("closing %s: it has not read its answers for %.0f s",
                                 client.peer, now - client.stuck_since)
                self._close(client)

    def _close(self, client: AvroConnection) -> None:
        if not client.open:
            return
        client.open = False
        self.off(client.fd)
        self.conns.pop(client.fd, None)
        client.sock.close()
        self.counters["OpenConnectionCount"] = len(self.conns)

    def begin_stop(self) -> None:
        """Accept nothing new; batches already received are put (or failed) before exit."""
        self.listener.close()
        for sock, _ in self.resolving.values():
            sock.close()
        self.resolving.clear()

    def close(self) -> None:
        for client in list(self.conns.values()):
            self._close(client)
        if self.resolver is not None:
            self.resolver.shutdown(wait=False, cancel_futures=True)
