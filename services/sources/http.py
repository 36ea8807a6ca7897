"""The HTTP source: Flume's HTTPSource (docs/flume.md 4.6b), events POSTed or sent with GET.

HTTP/1.1 is parsed by h11 (sans IO), so every connection is fed from the main loop and none can
block it. One request of a connection is handled at a time: its handler (http_handlers.py)
turns it into one transaction, and the answer is 200 only once every required channel stored
all of it; 503 when a channel is full or has not answered within `put-timeout` (the client
retries; nothing it was told was taken is lost), 400 / 413 / 415 for a request that gives no
events (counted in EventReadFail), 405 for other methods. A request whose body passes
`max-request-bytes` is answered 413 as soon as that is known, without reading the rest, and
the connection closed. A connection silent for `idle-timeout` (Jetty's 30 s) with a request
unfinished or none at all is closed, so slow clients hold nothing for ever. With `ssl` (Flume's
keys, services/tls.py) every connection is HTTPS: TLS sits between the socket and h11, and a
client that fails the handshake is counted in TlsFailureCount and closed.
"""
from __future__ import annotations

import socket
import time

import h11

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.connection_io import decrypt, send_some
from services.sources.http_handlers import BadRequest, Request, make_handler
from services.sources.listener import Listener
from services.tls import Contexts, TlsSession, Wire, server_context

READ_BYTES = 65536
MAX_OUTBOX_BYTES = 1 << 20
REASONS = {200: b"OK", 400: b"Bad Request", 405: b"Method Not Allowed",
           413: b"Payload Too Large", 415: b"Unsupported Media Type",
           503: b"Service Unavailable"}


class HttpConnection:
    def __init__(self, sock: socket.socket, peer: str, wire: Wire | None) -> None:
        self.sock = sock
        self.wire = wire  # TLS, or None: plain HTTP
        self.fd = sock.fileno()
        self.peer = peer
        self.h11 = h11.Connection(h11.SERVER)
        self.request: h11.Request | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.busy = False  # a request is with the channel: nothing more is read meanwhile
        self.open = True
        self.outbox = bytearray()
        self.last_seen = time.monotonic()

    def queue(self, data: bytes) -> None:
        """HTTP bytes (or b"": TLS's own output) into the outbox, as the wire wants them."""
        self.outbox += self.wire.outgoing(data) if self.wire is not None else data


class HttpSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.HTTP_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.handler = make_handler(p["handler"], p["handler.*"])
        self.put_timeout_s = p["put-timeout"] / 1000.0
        self.max_request = p["max-request-bytes"]
        self.max_connections = p["max-connections"]
        self.idle_s = p["idle-timeout"] / 1000.0
        self.tls = Contexts(server_context, p, self.log) if p["ssl"] else None
        self.conns: dict[int, HttpConnection] = {}
        self.listener = Listener(self, p["bind"], p["port"], self._accept, backlog=128)
        self.every(1.0, self._drop_idle)

    def _accept(self, fd: int) -> None:
        accepted = self.listener.accept()
        if accepted is None:
            return
        sock, addr = accepted
        if len(self.conns) >= self.max_connections:
            self.counters["RefusedConnectionCount"] += 1
            self.log.warning("refused %s: max-connections %d reached", addr, self.max_connections)
            sock.close()
            return
        sock.setblocking(False)
        wire = Wire(TlsSession(self.tls.current(), server_side=True)) if self.tls else None
        conn = HttpConnection(sock, f"{addr[0]}:{addr[1]}", wire)
        self.conns[conn.fd] = conn
        self.counters["OpenConnectionCount"] = len(self.conns)
        self.on(conn.fd, self._read)

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        try:
            data = conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.last_seen = time.monotonic()
        if data and conn.wire is not None:
            plain = decrypt(self, conn.wire, data, conn.peer, conn.outbox)
            if plain is None:
                self._close(conn)
                return
            self._flush(fd)
            if not plain and not conn.wire.session.closed:
                return  # the handshake goes on
            data = plain
        conn.h11.receive_data(data)
        self._next_events(conn)

    def _next_events(self, conn: HttpConnection) -> None:
        """Work through what h11 has parsed until it needs more bytes or a request is busy."""
        while conn.open and not conn.busy:
            try:
                event = conn.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(conn, 400, f"malformed HTTP: {exc}")
                return
            if event is h11.NEED_DATA:
                return
            if event is h11.PAUSED:
                if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
                    conn.h11.start_next_cycle()
                    continue
                return
            if isinstance(event, h11.Request):
                self._start(conn, event)
            elif isinstance(event, h11.Data):
                conn.size += len(event.data)
                if conn.size > self.max_request:
                    self._refuse(conn, 413, f"body passes max-request-bytes {self.max_request}")
                    return
                conn.body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete(conn)
            elif isinstance(event, h11.ConnectionClosed):
                self._close(conn)

    def _start(self, conn: HttpConnection, request: h11.Request) -> None:
        conn.request, conn.body, conn.size = request, [], 0
        length = dict(request.headers).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_request:
            self._refuse(conn, 413, f"a body of {int(length)} bytes passes max-request-bytes "
                                    f"{self.max_request}")
        elif request.method not in (b"POST", b"GET"):
            self._refuse(conn, 405, f"method {request.method.decode(errors='replace')}")
        elif conn.h11.client_is_waiting_for_100_continue:
            self._queue(conn, conn.h11.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _complete(self, conn: HttpConnection) -> None:
        """The whole request is in: its events go to the channels as one transaction."""
        assert conn.request is not None
        headers = dict(conn.request.headers)
        request = Request(conn.request.target.decode("latin-1"),
                          headers.get(b"content-type", b"").decode("latin-1"),
                          b"".join(conn.body))
        conn.body, conn.size = [], 0
        self.counters["AppendBatchReceivedCount"] += 1
        try:
            bodies, event_headers = self.handler(request)
        except BadRequest as exc:
            self.counters["EventReadFail"] += 1
            self.log.warning("bad request from %s: %s", conn.peer, exc)
            self._answer(conn, exc.status, str(exc))
            return
        if not bodies:
            self._accepted(conn)
            return
        conn.busy = True
        self.pause_reading(conn.fd)  # a pipelining client waits until this one is answered
        self.submit(bodies, event_headers if any(event_headers) else None,
                    on_accepted=lambda: self._accepted(conn),
                    on_failed=lambda why: self._failed(conn, len(bodies), why),
                    deadline_s=self.put_timeout_s)

    def _accepted(self, conn: HttpConnection) -> None:
        self.counters["AppendBatchAcceptedCount"] += 1
        self._answer(conn, 200, "")

    def _failed(self, conn: HttpConnection, count: int, why: str) -> None:
        self.log.warning("answering 503 to %s (%d events): %s", conn.peer, count, why)
        self._answer(conn, 503, f"Error appending event to channel. Channel might be full: {why}")

    def _answer(self, conn: HttpConnection, status: int, text: str) -> None:
        """The response to the current request; then the next request of the connection."""
        if not conn.open:
            return
        if conn.busy:
            conn.busy = False
            self.on(conn.fd, self._read)
        body = text.encode() + b"\n" if text else b""
        headers = [("Content-Length", str(len(body)))]
        if status == 405:
            headers.append(("Allow", "GET, POST"))
        if body:
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
        try:
            data = conn.h11.send(h11.Response(status_code=status, headers=headers,
                                              reason=REASONS.get(status, b"")))
            data = (data or b"") + (conn.h11.send(h11.Data(data=body)) or b"") if body else data
            data = (data or b"") + (conn.h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            self.log.warning("cannot answer %s: %s", conn.peer, exc)
            self._close(conn)
            return
        self._queue(conn, data)
        if conn.h11.our_state is h11.MUST_CLOSE or conn.h11.their_state is not h11.DONE:
            self._close_after_flush(conn)
        else:  # the next request, at the end of this turn: never a recursion per request
            self.after(0, lambda: self._next_events(conn))

    def _refuse(self, conn: HttpConnection, status: int, why: str) -> None:
        """Answer at once, before the request's body was read, and close the connection."""
        self.counters["EventReadFail"] += 1
        self.log.warning("refused a request from %s (%d): %s", conn.peer, status, why)
        if conn.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self._answer(conn, status, why)
        self._close_after_flush(conn)

    # -- output -----------------------------------------------------------------------------
    def _queue(self, conn: HttpConnection, data: bytes | None) -> None:
        if data:
            conn.queue(data)
            self._flush(conn.fd)

    def _flush(self, fd: int) -> None:
        conn = self.conns.get(fd)
        if conn is None:
            return
        if send_some(conn.sock, conn.outbox) is None:
            self._close(conn)
            return
        if not conn.outbox and not conn.open:
            self._release(conn)
            return
        self.on_writable(fd, self._flush if conn.outbox else None)

    def _close_after_flush(self, conn: HttpConnection) -> None:
        """Read nothing more; close once the answers are out (or at once if there are none)."""
        if conn.open:
            conn.open = False
            self.pause_reading(conn.fd)
        self._flush(conn.fd)

    def _close(self, conn: HttpConnection) -> None:
        conn.open = False
        conn.outbox.clear()
        self._release(conn)

    def _release(self, conn: HttpConnection) -> None:
        if self.conns.pop(conn.fd, None) is None:
            return
        self.off(conn.fd)
        conn.sock.close()
        self.counters["OpenConnectionCount"] = len(self.conns)

    def _drop_idle(self) -> None:
        now = time.monotonic()
        for conn in list(self.conns.values()):
            if not conn.busy and now - conn.last_seen > self.idle_s:
                self.counters["IdleClosedCount"] += 1
                self.log.info("closing %s: nothing for %.0f s", conn.peer, now - conn.last_seen)
                self._close(conn)

    def begin_stop(self) -> None:
        """Accept nothing new; requests already with the channel are still answered."""
        self.listener.close()

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
