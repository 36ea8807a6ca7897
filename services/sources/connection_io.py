"""What the listening sources (avro, http, syslog TCP) do alike on an accepted connection:
TLS's inbound step, and sending what a connection's outbox holds without ever blocking."""
from __future__ import annotations

import socket

from services.process import Process
from services.tls import TlsError, Wire


def decrypt(proc: Process, wire: Wire, data: bytes, peer: str, outbox: bytearray
            ) -> bytes | None:
    """The plain bytes of what arrived (TLS's own answers added to `outbox`), or None once a
    failed handshake or record (a plaintext client, a refused certificate) is counted in
    TlsFailureCount and logged: the caller then closes the connection."""
    established = wire.session.established
    try:
        plain = wire.incoming(data)
    except TlsError as exc:
        proc.counters["TlsFailureCount"] += 1
        proc.log.warning("TLS with %s failed: %s", peer, exc)
        return None
    if not established and wire.session.established:
        proc.log.info("TLS from %s: %s", peer, wire.session.peer())
    outbox += wire.outgoing()
    return plain


def send_some(sock: socket.socket, outbox: bytearray) -> int | None:
    """Send what the socket takes now and drop it from `outbox`: the bytes sent, or None when
    the connection is broken."""
    if not outbox:
        return 0
    try:
        sent = sock.send(outbox)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError:
        return None
    del outbox[:sent]
    return sent
