"""The syslog TCP source: Flume's SyslogTcpSource, one event per `\\n`-ended syslog message.

Messages are parsed as Flume's SyslogUtils does (services/sources/syslog/utils.py): Facility,
Severity, timestamp and host headers, `flume.syslog.status` Invalid or Incomplete (a message
cut at `eventSize`). `clientIPHeader` and `clientHostnameHeader` name headers for the client's
address and name; the name is looked up once per connection, off the main loop, before any of
its bytes are read. Where Flume drops events when the channel is full (counted, logged), zflume
stops reading from every connection until the channel has room, so TCP pushes back on the
senders and nothing they sent is dropped. An unfinished last message of a closed connection is
dropped, as in Flume. With `ssl` (Flume 1.10's keys, services/tls.py) every connection is
syslog over TLS (RFC 5425 framing aside: Flume reads lines there too); a client that fails the
handshake is counted in TlsFailureCount and closed.
"""
from __future__ import annotations

import functools
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.connection_io import decrypt, send_some
from services.sources.ipfilter import reverse_name
from services.sources.listener import Listener
from services.sources.syslog.event import Event
from services.sources.syslog.parser import MultiportDecoder, port_charsets
from services.sources.syslog.utils import SyslogTcpDecoder
from services.tls import Contexts, TlsSession, Wire, one_way_server_context

READ_BYTES = 65536
RESOLVER_THREADS = 2
RESOLVED_POLL_S = 0.01


def client_headers(events: list[Event], ip_header: str, ip: str, name_header: str,
                   name: str) -> tuple[list[bytes], list[dict[str, str]]]:
    """Columns of the events, with the client's headers where they are configured."""
    for event in events:
        if ip_header:
            event.headers[ip_header] = ip
        if name_header:
            event.headers[name_header] = name
    return [event.body for event in events], [event.headers for event in events]


class Decoder(Protocol):
    def feed(self, data: bytes) -> list[Event]: ...


class SyslogConnection:
    def __init__(self, sock: socket.socket, ip: str, decoder: Decoder, wire: Wire | None) -> None:
        self.sock = sock
        self.wire = wire  # TLS, or None: plain TCP
        self.outbox = bytearray()  # TLS's own records (handshake, tickets, alerts)
        self.fd = sock.fileno()
        self.ip = ip
        self.name = ip
        self.decoder = decoder
        self.ready = False  # its client's name is known (or not wanted)
        self.reading = False


class SyslogTcpSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.TLS_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.event_size = p["eventSize"]
        self.keep_fields = p["keepFields"]
        self.ip_header = p["clientIPHeader"]
        self.name_header = p["clientHostnameHeader"]
        self.conns: dict[int, SyslogConnection] = {}
        self.resolving: dict[Future[str], SyslogConnection] = {}
        self.resolver: ThreadPoolExecutor | None = None
        self.tls = Contexts(one_way_server_context, p, self.log) if p["ssl"] else None
        self.listeners = {port: Listener(self, p["host"], port,
                                         functools.partial(self._accept, port))
                          for port in self.ports()}

    def ports(self) -> list[int]:
        return [self.conf.params["port"]]

    def decoder(self, port: int) -> Decoder:
        """What reads one connection accepted on `port`."""
        return SyslogTcpDecoder(self.event_size, self.keep_fields)

    def _accept(self, port: int, fd: int) -> None:
        accepted = self.listeners[port].accept()
        if accepted is None:
            return
        sock, addr = accepted
        sock.setblocking(False)
        wire = Wire(TlsSession(self.tls.current(), server_side=True)) if self.tls else None
        conn = SyslogConnection(sock, addr[0], self.decoder(port), wire)
        self.conns[conn.fd] = conn
        self.counters["OpenConnectionCount"] = len(self.conns)
        if self.name_header:
            self._resolve(conn)
        else:
            conn.ready = True
            self._listen(conn)

    def _resolve(self, conn: SyslogConnection) -> None:
        if self.resolver is None:
            self.resolver = ThreadPoolExecutor(RESOLVER_THREADS, "resolver")
        if not self.resolving:
            self.after(RESOLVED_POLL_S, self._resolved)
        self.resolving[self.resolver.submit(reverse_name, conn.ip)] = conn

    def _resolved(self) -> None:
        for future in [f for f in self.resolving if f.done()]:
            conn = self.resolving.pop(future)
            conn.name = future.result() or conn.ip
            conn.ready = True
            self._listen(conn)
        if self.resolving:
            self.after(RESOLVED_POLL_S, self._resolved)

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        try:
            data = conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.wire is not None:
            plain = decrypt(self, conn.wire, data, conn.ip, conn.outbox)
            if plain is None:
                self._close(conn)
                return
            self._flush(fd)
            data = plain
        events = conn.decoder.feed(data)
        if events:
            bodies, headers = client_headers(events, self.ip_header, conn.ip, self.name_header,
                                             conn.name)
            self.submit_chunked(bodies, headers)
        if not self.has_room():
            for other in self.conns.values():
                self._unlisten(other)

    def _flush(self, fd: int) -> None:
        """TLS's own records out (a syslog source sends nothing else)."""
        conn = self.conns.get(fd)
        if conn is None:
            return
        if send_some(conn.sock, conn.outbox) is None:
            self._close(conn)
            return
        self.on_writable(fd, self._flush if conn.outbox else None)

    def _listen(self, conn: SyslogConnection) -> None:
        if conn.ready and not conn.reading and not self.stopping and self.has_room():
            conn.reading = True
            self.on(conn.fd, self._read)

    def _unlisten(self, conn: SyslogConnection) -> None:
        if conn.reading:
            conn.reading = False
            self.pause_reading(conn.fd)

    def resume(self) -> None:
        for conn in self.conns.values():
            self._listen(conn)

    def _close(self, conn: SyslogConnection) -> None:
        if self.conns.pop(conn.fd, None) is None:
            return
        conn.reading = False
        self.off(conn.fd)
        conn.sock.close()
        self.counters["OpenConnectionCount"] = len(self.conns)

    def begin_stop(self) -> None:
        """Take no new connection and no new message; messages already read are still put."""
        for listener in self.listeners.values():
            listener.close()
        for conn in self.conns.values():
            self._unlisten(conn)

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
        if self.resolver is not None:
            self.resolver.shutdown(wait=False, cancel_futures=True)


class MultiportSyslogTcpSource(SyslogTcpSource):
    """Flume's MultiportSyslogTCPSource: the same on every port of `ports`, parsed as Flume's
    SyslogParser does, each port in its `charset.port.N` (else `charset.default`), the port in
    header `portHeader` when set, and puts of at most `batchSize` events. A line Flume's
    handler would throw on (losing the rest of the read) is an Invalid event instead."""

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        p = agent.sources[name].params
        self.default_charset, self.charsets = port_charsets(
            {"charset.default": p["charset.default"],
             **{f"charset.port.{n}": c for n, c in p["charset.port.*"].items()}})
        self.port_header = p["portHeader"] or None
        self.batch_size = p["batchSize"]
        super().__init__(agent, name, run_dir)
        self.txn_limit = min(self.txn_limit, self.batch_size)

    def ports(self) -> list[int]:
        return self.conf.params["ports"]

    def decoder(self, port: int) -> Decoder:
        return MultiportDecoder(self.event_size, self.charsets.get(port, self.default_charset),
                                self.keep_fields, port=port, port_header=self.port_header,
                                batch_size=self.batch_size)
